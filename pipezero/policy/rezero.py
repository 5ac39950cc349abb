"""ReZero policy (Xuan et al., 2024): MuZero whose stored targets are refreshed by
whole-buffer, backward-view reanalysis.

Learning is MuZero's (:class:`~pipezero.policy.muzero.MuZeroPolicy`). What ReZero adds:

- :meth:`ReZeroPolicy.reanalyze_segments`, the :class:`SegmentReanalyzer` contract used by the
  ``buffer_reanalyze`` middleware: the stored segments are searched again with the target
  network, last position first, reusing each successor's searched root value for the action
  actually taken (``reuse_search``), so fewer states are evaluated per reanalysed position;
- optionally, collection with the pure policy network (``collect_with_pure_policy``): no
  search while acting; the stored visit distributions are the network's policy until the
  reanalysis replaces them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from easydict import EasyDict

from pipezero.data.game_segment import GameSegment
from pipezero.policy.base import ActResult
from pipezero.policy.muzero import MuZeroPolicy
from pipezero.policy.rezero_config import REZERO_CONFIG
from pipezero.policy.rezero_reanalyze import ReanalyzeResult, reanalyze_windows
from pipezero.policy.temperature import sample_actions, visit_count_temperature


class ReZeroPolicy(MuZeroPolicy):
    """MuZero acting and learning plus backward-view segment reanalysis.

    Arguments as :class:`MuZeroPolicy`; ``cfg`` takes the keys of
    :mod:`pipezero.policy.rezero_config`.
    """

    #: The model section is left open (``{}``): the recipe builds the model from it, so an
    #: MLP (CartPole) and a conv network (Atari) config are both accepted.
    default_config: Mapping[str, Any] = EasyDict(REZERO_CONFIG["policy"] | {"model": {}})

    def reanalyze_segments(self, segments: Sequence[GameSegment]) -> ReanalyzeResult:
        """New visit distributions and root values of every transition position of
        ``segments`` (searched by the target network without exploration noise, with
        backward-view reuse when ``cfg.reuse_search``)."""
        with self.precision.autocast():
            return reanalyze_windows(
                segments,
                self.target_model,
                self.reanalyze_search,
                reuse=bool(self.cfg.reuse_search),
                device=self.device,
            )

    def collect(
        self, obs: np.ndarray, action_mask: np.ndarray, to_play: np.ndarray, env_step: int
    ) -> ActResult:
        """Act for collection: with search (MuZero), or from the network's policy alone when
        ``cfg.collect_with_pure_policy`` (the stored ``visit_policy`` is then that policy)."""
        if not bool(self.cfg.collect_with_pure_policy):
            return super().collect(obs, action_mask, to_play, env_step)
        model = self.acting_model
        model.eval()
        legal = np.asarray(action_mask, dtype=bool)
        with torch.inference_mode(), self.precision.autocast():
            out = model.initial_inference(self.observation_tensor(obs))
            logits = out.policy_logits.float().cpu()
            logits = logits.masked_fill(~torch.as_tensor(legal), float("-inf"))
            probs = torch.softmax(logits, dim=1).numpy()
        temperature = visit_count_temperature(
            env_step,
            manual_temperature_decay=bool(self.cfg.manual_temperature_decay),
            fixed_temperature_value=float(self.cfg.fixed_temperature_value),
            threshold_env_steps_for_final_temperature=int(
                self.cfg.threshold_env_steps_for_final_temperature
            ),
        )
        action = sample_actions(probs, temperature, self.rng, legal)
        value = out.value.float().cpu().numpy()
        return ActResult(
            action=action,
            visit_policy=probs.astype(np.float32),
            root_value=value,
            predicted_value=value,
        )
