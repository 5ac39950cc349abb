"""UniZero policy (Pu et al., 2024): search through a transformer world model, learn by
teacher forcing over whole segments of the trajectory.

Acting: every collector environment keeps a KV cache of its own recent tokens (latent of each
real observation, action taken). ``collect`` feeds the previous action and the new
observation's latent through that cache, so the root of each search sees the environment's
history (up to ``model.context_length`` tokens), then searches with
:class:`~pipezero.mcts.MuZeroSearch`; inside the tree every node carries its own KV window and
one simulation costs one batched ``recurrent_inference`` (two tokens). ``env_collect`` calls
:meth:`UniZeroPolicy.reset_caches` when an episode ends and after every collect, which clears
the caches. ``evaluate`` searches from the current observation alone (no per-environment
history: the evaluator does not report episode boundaries to the policy).

Learning, for a batch of ``B`` positions with ``K = num_unroll_steps``:

1. targets: as MuZero (n-step values bootstrapped by the target world model, stored or
   reanalysed search policies, rewards, masks);
2. teacher forcing: the encoder maps the ``K + 1`` real observations to latents, and one
   transformer pass over ``z_0, a_0, ..., a_{K-1}, z_K`` predicts policy and value at every
   latent token, reward and next latent at every action token;
3. loss per row: the mean over positions of policy CE, ``value_loss_weight`` x value CE,
   ``reward_loss_weight`` x reward CE and ``latent_loss_weight`` x the squared error between
   the predicted next latent and the target world model's latent of the real next observation
   (masked after the episode's end);
4. clip, step, soft-update the target world model (``target_update_theta``), priorities
   ``|predicted root value - value target| + priority_eps``.

Buffer reanalysis (``buffer_reanalyze`` middleware): :meth:`UniZeroPolicy.reanalyze_segments`
searches every stored position again with the target world model, walking each segment
forwards so that every root sees the real history before it, as when collecting.

The class reuses :class:`~pipezero.policy.muzero.MuZeroPolicy` for what does not depend on the
model's structure (search configuration, target computation, the update around the losses in
``learn``, acting results, weights and checkpoints) and sets up the same attributes in its own
constructor; teacher forcing replaces MuZero's unroll through the
:meth:`~pipezero.policy.muzero.MuZeroPolicy.forward_losses` hook.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from pipezero.config import merge_config
from pipezero.data.game_segment import GameSegment
from pipezero.data.segment_targets import num_search_positions
from pipezero.data.transfer import DeviceBatch
from pipezero.mcts import MuZeroSearch
from pipezero.model.unizero import KVWindow, SequenceOutput
from pipezero.policy.base import ActResult
from pipezero.policy.losses import soft_cross_entropy, support_cross_entropy
from pipezero.policy.muzero import MuZeroPolicy
from pipezero.policy.precision import Precision
from pipezero.policy.rezero_reanalyze import ReanalyzeResult
from pipezero.policy.schedules import flush_denormals, make_lr_scheduler, make_optimizer
from pipezero.policy.targets import UnrollTargets
from pipezero.policy.temperature import sample_actions
from pipezero.policy.unizero_config import UNIZERO_CONFIG


class UniZeroPolicy(MuZeroPolicy):
    """UniZero acting, learning and buffer reanalysis behind
    :class:`~pipezero.policy.base.PolicyProtocol`.

    Args:
        cfg: the ``policy`` section (see :mod:`pipezero.policy.unizero_config`); missing keys
            take the defaults, unknown keys are rejected.
        model: a :class:`~pipezero.model.unizero.UniZeroModel`.
        seed: seeds action sampling and search noise.
        share_acting_model: act with the learner model (sync mode); ``False`` keeps an acting
            copy refreshed by :meth:`set_weights`.
        device: where the model lives.
    """

    default_config: Mapping[str, Any] = UNIZERO_CONFIG["policy"]

    def __init__(
        self,
        cfg: Mapping[str, Any],
        model: nn.Module,
        *,
        seed: int = 0,
        share_acting_model: bool = True,
        device: torch.device | str = "cpu",
    ) -> None:
        self.cfg = merge_config(self.default_config, cfg)
        for name in ("forward_sequence", "initial_inference_with_context", "unpack_state"):
            if not hasattr(model, name):
                raise TypeError(
                    f"UniZeroPolicy needs a transformer world model such as UniZeroModel; "
                    f"{type(model).__name__} has no {name!r}"
                )
        if self.cfg.target_update_type != "soft":
            raise ValueError(
                "UniZero keeps its target world model by soft updates: set "
                f"target_update_type='soft' (got {self.cfg.target_update_type!r})"
            )
        self.device = torch.device(device)
        self.precision = Precision(self.cfg.amp, self.device)
        self.model = model.to(self.device)
        self.target_model = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.share_acting_model = share_acting_model
        self.acting_model = (
            self.model
            if share_acting_model
            else copy.deepcopy(self.model).eval().requires_grad_(False)
        )
        flush_denormals()  # weight-decayed weights turn denormal and slow the CPU
        self.optimizer = make_optimizer(self.model.parameters(), self.cfg)
        self.lr_scheduler = make_lr_scheduler(self.optimizer, self.cfg)
        self.train_iter = 0
        self.rng = np.random.default_rng(seed)
        mcts = self.mcts_config(seed)
        self.collect_search = MuZeroSearch(self.acting_model, mcts)
        self.eval_search = MuZeroSearch(self.acting_model, self.eval_mcts_config(seed))
        self.reanalyze_search = MuZeroSearch(self.target_model, mcts.replace(seed=seed + 2))
        self._published: dict[str, torch.Tensor] | None = None
        # Per collector environment: KV window after its last root latent, action taken since.
        self._contexts: KVWindow | None = None
        self._last_action: torch.Tensor | None = None

    @property
    def needs_unroll_obs(self) -> bool:
        """Always: teacher forcing encodes the observation of every unroll position."""
        return True

    # -- acting ----------------------------------------------------------------------------

    def reset_caches(self, env_ids: Sequence[int] | np.ndarray | None = None) -> None:
        """Forget collector history: of every environment (``None``), or of ``env_ids``
        whose episodes just ended (their next observation starts a new token stream)."""
        if env_ids is None or self._last_action is None:
            self._contexts = None
            self._last_action = None
            return
        ids = torch.as_tensor(np.asarray(env_ids, dtype=np.int64), device=self.device)
        self._last_action[ids] = -1

    def collect(
        self, obs: np.ndarray, action_mask: np.ndarray, to_play: np.ndarray, env_step: int
    ) -> ActResult:
        """Search with root noise from each environment's cached history (``obs [N, *O]``,
        ``action_mask [N, A]``, ``to_play [N]``) and sample actions at the temperature of
        ``env_step``. Row ``i`` must be environment ``i`` on every call. With
        ``cfg.collect_with_pure_policy`` no search: the action comes from the policy head
        (:meth:`~MuZeroPolicy.pure_policy_result`), the caches advance the same way."""
        model = self.acting_model
        model.eval()
        x = self.observation_tensor(obs)
        window, prev = self._contexts, self._last_action
        if window is not None and window.batch_size != x.shape[0]:
            window = prev = None  # a different set of environments: start every stream
        with torch.inference_mode(), self.precision.autocast():
            root = model.initial_inference_with_context(x, window, prev)
            pure = bool(self.cfg.get("collect_with_pure_policy", False))
            result = None if pure else self.collect_search.search(root, action_mask, to_play)
        if result is None:
            act = self.pure_policy_result(root, action_mask, env_step)
        else:
            legal = np.asarray(action_mask, bool)
            visits = result.visit_counts.numpy()
            action = sample_actions(visits, self.collect_temperature(env_step), self.rng, legal)
            act = self._act_result(action, result, root.value)
        self._contexts = model.unpack_state(root.latent)[0]
        self._last_action = torch.as_tensor(act.action, dtype=torch.long, device=self.device)
        return act

    # -- learning --------------------------------------------------------------------------

    def forward_losses(
        self, batch: DeviceBatch, targets: UnrollTargets
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Teacher forcing instead of MuZero's unroll (:meth:`MuZeroPolicy.learn` does the
        rest): the :meth:`sequence_losses` of ``batch`` and the value logits ``[B, 2S + 1]``
        at each row's first position. ``batch`` comes from
        ``ReplayBuffer.sample(..., with_unroll_obs=True)``; see the module doc."""
        out, goal = self.teacher_forcing(batch)
        return self.sequence_losses(out, goal, targets, batch), out.value_logits[:, 0]

    def _unroll_observations(self, batch: DeviceBatch) -> torch.Tensor:
        """``[B, K + 1, *O]`` float32 observations of every unroll position."""
        tensors = batch.tensors
        if tensors.num_unroll_steps > 0 and tensors.unroll_obs is None:
            raise ValueError(
                "UniZero's teacher forcing needs the observations of every unroll position; "
                "sample the batch with ReplayBuffer.sample(..., with_unroll_obs=True)"
            )
        obs = tensors.obs.float()[:, None]
        if tensors.num_unroll_steps > 0:
            obs = torch.cat([obs, tensors.unroll_obs.float()], dim=1)
        return obs

    def teacher_forcing(self, batch: DeviceBatch) -> tuple[SequenceOutput, torch.Tensor]:
        """The learner model's predictions along the batch's real observations and actions,
        and the next-latent targets ``[B, K, D]``: the target world model's latents of the
        observations ``o_1 .. o_K`` (no gradient)."""
        obs = self._unroll_observations(batch)
        b, k1 = obs.shape[:2]
        latents = self.model.encode(obs.flatten(0, 1)).view(b, k1, -1)
        actions = batch.tensors.actions.long()
        with torch.no_grad():
            goal = self.target_model.encode(obs[:, 1:].flatten(0, 1)).view(b, k1 - 1, -1)
        return self.model.forward_sequence(latents, actions), goal

    def sequence_losses(
        self,
        out: SequenceOutput,
        goal: torch.Tensor,
        targets: UnrollTargets,
        batch: DeviceBatch,
    ) -> dict[str, torch.Tensor]:
        """Per-row losses ``[B]`` (``policy_loss``, ``value_loss``, ``reward_loss``,
        ``latent_loss``, each averaged over the positions) and their weighted sum
        ``per_sample``; ``goal`` are the next-latent targets of :meth:`teacher_forcing`."""
        c = self.cfg
        k1 = out.value_logits.shape[1]
        k = k1 - 1
        model = self.model
        value_ce = support_cross_entropy(out.value_logits, targets.value, model.value_support)
        policy_ce = soft_cross_entropy(out.policy_logits, targets.policy)
        result = {
            "policy_loss": (policy_ce * targets.policy_mask).sum(1) / k1,
            "value_loss": (value_ce * targets.value_mask).sum(1) / k1,
        }
        zero = value_ce.new_zeros(value_ce.shape[0])
        result["reward_loss"] = zero
        result["latent_loss"] = zero
        if k > 0:
            reward_ce = support_cross_entropy(
                out.reward_logits, targets.reward, model.reward_support
            )
            result["reward_loss"] = (reward_ce * targets.reward_mask).sum(1) / k
            mask = batch.tensors.unroll_obs_mask.float()
            error = (out.next_latents.float() - goal.float()).pow(2).mean(-1)
            result["latent_loss"] = (error * mask).sum(1) / k
        result["per_sample"] = (
            float(c.policy_loss_weight) * result["policy_loss"]
            + float(c.value_loss_weight) * result["value_loss"]
            + float(c.reward_loss_weight) * result["reward_loss"]
            + float(c.latent_loss_weight) * result["latent_loss"]
        )
        return result

    # -- buffer reanalysis -----------------------------------------------------------------

    @torch.inference_mode()
    def reanalyze_segments(self, segments: Sequence[GameSegment]) -> ReanalyzeResult:
        """Search every transition position (real and padding) of ``segments`` again with the
        target world model.

        Segments are walked forwards together, one position per batched search; the root at
        position ``t`` continues the token stream of ``t - 1`` (its KV window and the stored
        action), so roots see the real history inside the segment as when collecting. Roots
        get exploration noise, as in the in-batch reanalysis. Implements
        :class:`~pipezero.policy.rezero_reanalyze.SegmentReanalyzer` for
        ``buffer_reanalyze``; the segments are not modified.
        """
        if not segments:
            return ReanalyzeResult([], [])
        model, search = self.target_model, self.reanalyze_search
        steps = np.array([num_search_positions(s) for s in segments], dtype=np.int64)
        a = segments[0].action_space_size
        visits = [np.zeros((int(t), a), dtype=np.float32) for t in steps]
        values = [np.zeros(int(t), dtype=np.float32) for t in steps]
        window: KVWindow | None = None
        prev: torch.Tensor | None = None
        last_rows = np.arange(len(segments))
        calls = evaluations = 0
        for j in range(int(steps.max())):
            rows = np.flatnonzero(steps > j)  # segments that still have position j
            at = [segments[b] for b in rows.tolist()]
            obs = self.observation_tensor(np.stack([seg.obs[j] for seg in at]))
            if window is not None and prev is not None and len(rows) != len(last_rows):
                keep = torch.as_tensor(np.searchsorted(last_rows, rows), device=self.device)
                window, prev = window.index(keep), prev.index_select(0, keep)
            last_rows = rows
            with self.precision.autocast():
                root = model.initial_inference_with_context(obs, window, prev)
            legal = np.stack([seg.action_masks[j] for seg in at])
            to_play = np.array([seg.to_play[j] for seg in at], dtype=np.int64)
            with self.precision.autocast():
                result = search.search(root, legal, to_play, add_exploration_noise=True)
            policy, root_value = result.policy_target.numpy(), result.root_value.numpy()
            for i, b in enumerate(rows.tolist()):
                visits[b][j] = policy[i]
                values[b][j] = root_value[i]
            window = model.unpack_state(root.latent)[0]
            prev = torch.as_tensor(
                np.array([seg.actions[j] for seg in at], dtype=np.int64), device=self.device
            )
            calls += 1 + result.num_network_calls
            evaluations += len(rows) + result.num_leaf_evaluations
        return ReanalyzeResult(
            child_visits=visits,
            root_values=values,
            num_states=int(steps.sum()),
            num_network_calls=calls,
            num_state_evaluations=evaluations,
        )
