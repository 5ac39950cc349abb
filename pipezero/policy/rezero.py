"""ReZero policy (Xuan et al., 2024): MuZero whose stored targets are refreshed by
whole-buffer, backward-view reanalysis.

Learning is MuZero's (:class:`~pipezero.policy.muzero.MuZeroPolicy`). What ReZero adds:

- :meth:`ReZeroPolicy.reanalyze_segments`, the :class:`SegmentReanalyzer` contract used by the
  ``buffer_reanalyze`` middleware: the stored segments are searched again with the target
  network, last position first, reusing each successor's searched root value for the action
  actually taken (``reuse_search``), so fewer states are evaluated per reanalysed position;
- with collection by the pure policy network (``collect_with_pure_policy``, a key of every
  MuZero-family policy, :meth:`~pipezero.policy.muzero.MuZeroPolicy.pure_policy_collect`),
  ``buffer_reanalyze`` replaces the network's policy stored in each new segment by searched
  targets in the step that collected it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from easydict import EasyDict

from pipezero.data.game_segment import GameSegment
from pipezero.policy.muzero import MuZeroPolicy
from pipezero.policy.rezero_config import REZERO_CONFIG
from pipezero.policy.rezero_reanalyze import ReanalyzeResult, reanalyze_windows


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
