"""Pieces shared by the search drivers: input conversion, root noise, node-state buffers.

Inputs given once per search (roots, masks, players) may be torch tensors or NumPy arrays and
are converted here; arrays exchanged once per simulation are NumPy views of torch tensors, so
the C++ core reads the network outputs in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pipezero.mcts._mcts_core import Forest
from pipezero.mcts.config import MCTSConfig
from pipezero.mcts.result import SearchResult
from pipezero.model.protocol import NetworkOutput

ArrayLike = torch.Tensor | np.ndarray


def to_numpy(x: ArrayLike | Sequence[Any], name: str) -> np.ndarray:
    """A NumPy view (or array) of a tensor, array or sequence, for per-search inputs."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"argument {name!r} must be a tensor or an array, got {type(x).__name__}"
        ) from err


def root_shape(root: NetworkOutput) -> tuple[int, int]:
    """``(B, A)`` of a root network output, after checking that its tensors agree on ``B >= 1``.

    Raises:
        TypeError: ``policy_logits`` or ``latent`` is not a tensor.
        ValueError: the logits are not ``[B, A]``, the batch is empty, or ``latent`` has another
            batch size.
    """
    logits, latent = root.policy_logits, root.latent
    for name, t in (("policy_logits", logits), ("latent", latent)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"root.{name} must be a torch.Tensor, got {type(t).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"root.policy_logits must be a floating-point tensor, got {logits.dtype}")
    if logits.dim() != 2:
        raise ValueError(f"root.policy_logits must have shape [B, A], got {list(logits.shape)}")
    batch, num_actions = logits.shape
    if batch == 0 or num_actions == 0:
        raise ValueError(
            f"root.policy_logits has shape {list(logits.shape)}: an empty batch (or action space) "
            "has nothing to search; pass at least one root with at least one action"
        )
    if latent.dim() == 0 or latent.shape[0] != batch:
        raise ValueError(
            f"root.latent must have the batch size B = {batch} of root.policy_logits in its first "
            f"dimension, got shape {list(latent.shape)}"
        )
    return batch, num_actions


def check_leaf_latent(latent: torch.Tensor, m: int) -> None:
    """The model must return one latent per pending leaf (checked once per simulation)."""
    if latent.dim() == 0 or latent.shape[0] != m:
        raise ValueError(
            f"recurrent_inference returned a latent of shape {list(latent.shape)} for M = {m} "
            f"leaves; it must return [M, *L]"
        )


def core_latent(latent: torch.Tensor, m: int) -> np.ndarray:
    """The ``[M, *S]`` latents a model returned, as the float32 C-order NumPy view the forest's
    latent store copies from (a copy only when the model returned another dtype or layout)."""
    check_leaf_latent(latent, m)
    if latent.dtype is not torch.float32 or not latent.is_cpu:
        latent = latent.to(device="cpu", dtype=torch.float32)
    if not latent.is_contiguous():
        latent = latent.contiguous()
    if latent.requires_grad:  # a model called outside the driver's inference_mode
        latent = latent.detach()
    return latent.numpy()


def require_method(obj: Any, method: str, what: str) -> None:
    """Constructor check: ``obj.method`` must be callable (fail at construction, not mid-search)."""
    if not callable(getattr(obj, method, None)):
        raise TypeError(f"{what} must have a callable {method}(), got {type(obj).__name__}")


def float32_array(x: ArrayLike, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Contiguous float32 array of the given shape (converts the dtype, checks the shape)."""
    arr = to_numpy(x, name)
    if arr.shape != shape:
        raise ValueError(f"argument {name!r} must have shape {list(shape)}, got {list(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"argument {name!r} must hold real numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def legal_mask_array(mask: ArrayLike | None, batch: int, num_actions: int) -> np.ndarray:
    """``[B, A]`` bool mask; ``None`` means every action is legal."""
    if mask is None:
        return np.ones((batch, num_actions), dtype=np.bool_)
    arr = to_numpy(mask, "legal_mask")
    if arr.dtype != np.bool_:
        raise ValueError(
            f"argument 'legal_mask' must be a bool tensor/array of shape [B, A] = "
            f"[{batch}, {num_actions}], got dtype {arr.dtype}; use mask.bool() or mask == 1"
        )
    if arr.shape != (batch, num_actions):
        raise ValueError(
            f"argument 'legal_mask' must have shape [B, A] = [{batch}, {num_actions}], "
            f"got {list(arr.shape)}"
        )
    return np.ascontiguousarray(arr)


def to_play_array(to_play: ArrayLike | None, batch: int) -> np.ndarray:
    """``[B]`` int32 players (-1 single-player, 1 or 2); ``None`` means single-player."""
    if to_play is None:
        return np.full(batch, -1, dtype=np.int32)
    arr = to_numpy(to_play, "to_play")
    if arr.shape != (batch,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"argument 'to_play' must be an integer tensor/array of shape [B] = [{batch}], "
            f"got {arr.dtype} of shape {list(arr.shape)}"
        )
    return np.ascontiguousarray(arr, dtype=np.int32)


def f32(t: torch.Tensor) -> np.ndarray:
    """Zero-copy float32 NumPy view of a CPU tensor (copies only to fix dtype, device, layout)."""
    if t.dtype is not torch.float32 or not t.is_cpu:
        t = t.to(device="cpu", dtype=torch.float32)
    if not t.is_contiguous():
        t = t.contiguous()
    return t.numpy()


def f32_rows(t: torch.Tensor) -> np.ndarray:
    """Float32 NumPy view of an ``[M, A]`` tensor; rows may be spaced apart (a column slice of
    a fused output head is passed to the core without a copy)."""
    if t.dtype is not torch.float32 or not t.is_cpu:
        t = t.to(device="cpu", dtype=torch.float32)
    if t.dim() == 2 and (t.stride(1) != 1 or t.stride(0) < t.shape[1]):
        t = t.contiguous()
    return t.numpy()


def leaf_arrays(
    out: NetworkOutput, m: int, with_latent: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """``(policy_logits [M, A], value [M], reward [M], latent [M, *S] or None)`` of one network
    call as the NumPy arrays ``Forest.step`` reads (once per simulation).

    CPU tensors outside autograd are handed over as NumPy views, unchecked: ``Forest.step``
    checks every array's dtype, shape and layout before it changes anything, and
    :func:`~pipezero.mcts.loop.run_simulations` converts them (:func:`conform_leaf_arrays`)
    only when the core refuses them. Tensors on an accelerator or that need their gradient
    are brought to the host as float32 here (:func:`host_outputs`, :func:`core_latent`).
    """
    try:
        logits, value, reward = out.policy_logits.numpy(), out.value.numpy(), out.reward.numpy()
        return logits, value, reward, out.latent.numpy() if with_latent else None
    except (TypeError, RuntimeError):  # not on the CPU, needs its gradient, or bf16
        pass
    tensors = host_outputs(out.policy_logits, out.value, out.reward)
    latent = core_latent(out.latent, m) if with_latent else None
    return f32_rows(tensors[0]), f32(tensors[1]), f32(tensors[2]), latent


def conform_leaf_arrays(
    m: int,
    logits: np.ndarray,
    value: np.ndarray,
    reward: np.ndarray,
    latent: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The leaf outputs in the layout ``Forest.step`` reads in place: float32, the logits' columns
    and the value, reward and latent contiguous (a copy of each array that is not). Used when the
    core refused the arrays a model returned (another dtype, a transposed or strided tensor);
    a latent that is not one per leaf is reported here, naming the model's output."""
    if latent is not None and (latent.ndim == 0 or latent.shape[0] != m):
        raise ValueError(
            f"recurrent_inference returned a latent of shape {list(latent.shape)} for M = {m} "
            f"leaves; it must return [M, *L]"
        )
    if logits.dtype != np.float32 or logits.ndim != 2 or logits.strides[1] != 4:
        logits = np.ascontiguousarray(logits, dtype=np.float32)
    value = np.ascontiguousarray(value, dtype=np.float32)
    reward = np.ascontiguousarray(reward, dtype=np.float32)
    if latent is not None:
        latent = np.ascontiguousarray(latent, dtype=np.float32)
    return logits, value, reward, latent


def host_outputs(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``[M, *]`` network outputs on the host as float32, in **one** device-to-host copy.

    A search on an accelerator needs the policy logits, values and rewards of every batched
    network call on the host; copying them one by one would wait for the device once per
    tensor. CPU tensors are returned unchanged. Each tensor is ``[M]`` or ``[M, C]``.
    """
    for t in tensors:
        if not t.is_cpu:
            break
    else:
        return tensors
    cols = [t.reshape(t.shape[0], -1).float() for t in tensors]
    packed = torch.cat(cols, dim=1).cpu()
    out, start = [], 0
    for t, c in zip(tensors, cols, strict=True):
        part = packed[:, start : start + c.shape[1]]
        out.append(part.reshape(t.shape))
        start += c.shape[1]
    return tuple(out)


def dirichlet_noise(rng: np.random.Generator, alpha: float, legal: np.ndarray) -> np.ndarray:
    """``[B, A]`` float32 Dirichlet(alpha) samples over the legal actions of each row.

    Drawn as normalised Gamma(alpha) variables, vectorised over the batch; illegal actions
    get 0.
    """
    gamma = rng.standard_gamma(alpha, size=legal.shape)
    gamma *= legal
    total = gamma.sum(axis=1, keepdims=True)
    if (total > 0).all():  # the usual case, in place: a search draws this once per call
        gamma /= total
        return gamma.astype(np.float32)
    uniform = legal / np.maximum(legal.sum(axis=1, keepdims=True), 1)
    noise = np.where(total > 0, gamma / np.where(total > 0, total, 1.0), uniform)
    return np.ascontiguousarray(noise, dtype=np.float32)


def root_noise_array(
    config: MCTSConfig,
    rng: np.random.Generator,
    root_noise: ArrayLike | None,
    add_exploration_noise: bool,
    legal: np.ndarray,
) -> np.ndarray | None:
    """The ``[B, W]`` root noise of a search over the ``[B, W]`` slots of ``legal``.

    ``root_noise`` when given (checked against that shape), else a fresh
    Dirichlet(``root_dirichlet_alpha``) sample over the legal slots when
    ``add_exploration_noise`` and ``root_noise_weight > 0``, else None (no noise).
    """
    if root_noise is not None:
        return float32_array(root_noise, "root_noise", legal.shape)
    if add_exploration_noise and config.root_noise_weight > 0:
        return dirichlet_noise(rng, config.root_dirichlet_alpha, legal)
    return None


def make_forest(
    config: MCTSConfig,
    batch: int,
    num_actions: int,
    selection: str,
    value_prefix: bool,
    stochastic: bool = False,
) -> Forest:
    """A C++ forest for ``batch`` trees of ``config.num_simulations + 1`` nodes."""
    return Forest(
        batch,
        config.num_simulations,
        num_actions,
        selection=selection,
        pb_c_base=config.pb_c_base,
        pb_c_init=config.pb_c_init,
        discount=config.discount_factor,
        value_delta_max=config.value_delta_max,
        value_prefix=value_prefix,
        lstm_horizon_len=config.lstm_horizon_len,
        max_num_considered_actions=config.max_num_considered_actions,
        maxvisit_init=config.maxvisit_init,
        value_scale=config.value_scale,
        stochastic=stochastic,
        seed=config.seed,
    )


class EvalViews:
    """Torch views of a forest's pending-leaf buffers (made once per forest, never copied).

    The five ``[B]`` buffers, valid in ``[0, M)`` after ``simulate()`` returned ``M``:
    ``parent`` flat node index ``b * N + n``, ``action`` child slot ``a``, ``action_flat``
    ``(b * N + n) * A + a``, ``node`` flat index of the node to create, ``keep_hidden`` 0.0
    where the parent restarts the value prefix (its LSTM state must be zeroed), else 1.0.
    """

    def __init__(self, forest: Forest) -> None:
        self.batch = forest.batch_size
        self.full = tuple(
            torch.from_numpy(buf)
            for buf in (
                forest.eval_parent,
                forest.eval_action,
                forest.eval_action_flat,
                forest.eval_node,
                forest.eval_keep_hidden,
            )
        )

    def pending(self, m: int, device: torch.device | None = None) -> tuple[torch.Tensor, ...]:
        """``(parent, action, action_flat, node, keep_hidden)`` of the ``m`` pending leaves."""
        views = self.full if m == self.batch else tuple(v[:m] for v in self.full)
        if device is not None:
            views = tuple(v.to(device) for v in views)
        return views


class NodeStore:
    """Preallocated ``[B * N, *S]`` tensor holding one state per tree node (latents, actions).

    Row ``b * N + n`` belongs to node ``n`` of tree ``b``; reallocated only when the batch,
    the state shape, dtype or device change.
    """

    def __init__(self) -> None:
        self.flat: torch.Tensor | None = None

    def prepare(self, rows: int, like: torch.Tensor) -> torch.Tensor:
        """Make sure the buffer has ``rows`` rows shaped like ``like[0]``; return it."""
        shape = (rows, *like.shape[1:])
        buf = self.flat
        if (
            buf is None
            or buf.shape != shape
            or buf.dtype != like.dtype
            or buf.device != like.device
        ):
            self.flat = buf = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf


class HiddenStore:
    """Per-node recurrent state (EfficientZero LSTM ``(h, c)``), each ``[layers, B * N, H]``."""

    def __init__(self) -> None:
        self.bufs: list[torch.Tensor] = []
        self.is_tuple = False

    def write_roots(self, hidden: Any, batch: int, nodes: int) -> bool:
        """Store the roots' hidden state (``[layers, B, H]`` tensors); False when there is none."""
        if hidden is None:
            self.bufs = []
            return False
        self.is_tuple = isinstance(hidden, (tuple, list))
        parts = list(hidden) if self.is_tuple else [hidden]
        bufs = []
        for i, h in enumerate(parts):
            if h.dim() != 3 or h.shape[1] != batch:
                raise ValueError(
                    f"root hidden state {i} must have shape [layers, B={batch}, H], "
                    f"got {list(h.shape)}"
                )
            buf = torch.empty(
                (h.shape[0], batch * nodes, h.shape[2]), dtype=h.dtype, device=h.device
            )
            buf.view(h.shape[0], batch, nodes, h.shape[2])[:, :, 0].copy_(h)
            bufs.append(buf)
        self.bufs = bufs
        return True

    def gather(self, parents: torch.Tensor, keep: torch.Tensor) -> Any:
        """Hidden states of the parents, zeroed where ``keep`` is 0 (value-prefix reset)."""
        scale = keep.view(1, -1, 1)
        parts = [buf.index_select(1, parents).mul_(scale) for buf in self.bufs]
        return tuple(parts) if self.is_tuple else parts[0]

    def scatter(self, nodes: torch.Tensor, hidden: Any) -> None:
        """Store the new nodes' hidden states."""
        parts = list(hidden) if self.is_tuple else [hidden]
        for buf, h in zip(self.bufs, parts, strict=True):
            buf.index_copy_(1, nodes, h)


def root_result(
    forest: Forest, calls: int, leaves: int, num_actions: int | None = None
) -> SearchResult:
    """Visit counts, values and the visit-count policy target of the roots, over the first
    ``num_actions`` child slots (default: all; Stochastic MuZero reports its ``A`` actions of
    ``W = max(A, C)`` slots)."""
    visits_np, q_np = forest.root_visit_counts(), forest.root_q_values()
    if num_actions is not None and num_actions < forest.num_actions:
        visits_np = visits_np[:, :num_actions].copy()
        q_np = q_np[:, :num_actions].copy()
    # in NumPy: on a few dozen numbers its calls cost a fraction of torch's kernel launches
    total = np.maximum(visits_np.sum(axis=1, keepdims=True), 1).astype(np.float32)
    return SearchResult(
        visit_counts=torch.from_numpy(visits_np.astype(np.int64)),
        root_value=torch.from_numpy(forest.root_values()),
        policy_target=torch.from_numpy(visits_np.astype(np.float32) / total),
        q_values=torch.from_numpy(q_np),
        num_network_calls=calls,
        num_leaf_evaluations=leaves,
    )


def improved_policy(
    logits: np.ndarray,
    legal: np.ndarray,
    visits: np.ndarray,
    q_values: np.ndarray,
    raw_value: np.ndarray,
    config: MCTSConfig,
) -> np.ndarray:
    """Gumbel MuZero's completed-Q improved policy of ``B`` searched roots, ``[B, A]`` float32.

    ``pi' = softmax(logits + sigma(completed Q))`` over the legal actions, where ``logits`` is
    the network's root prior (``[B, A]``, before any root noise), the completed Q of a
    visited child is its Q (``q_values``, the root's point of view) and that of an unvisited
    one the mixed value ``(v + sum N * sum_visited(pi q) / sum_visited(pi)) / (1 + sum N)``
    (``v = raw_value``, the network's value of the root), rescaled to ``[0, 1]`` over the
    legal actions, and ``sigma = (maxvisit_init + max N) * value_scale * rescaled Q``. The
    same transform as the C++ Gumbel search's (``Forest.improved_policy``), here in NumPy so
    that a PUCT search can give it with the prior its noise did not touch.
    """
    legal = legal.astype(bool)
    prior = _masked_softmax(logits.astype(np.float64), legal)
    n = visits.astype(np.float64)
    visited = legal & (n > 0)
    q = np.where(visited, q_values.astype(np.float64), 0.0)
    p = np.where(visited, np.maximum(prior, 1e-30), 0.0)
    total = n.sum(axis=1)
    weighted = (p * q).sum(axis=1) / np.maximum(p.sum(axis=1), 1e-30)
    v = raw_value.astype(np.float64)
    mixed = np.where(total > 0, (v + total * weighted) / (1.0 + total), v)
    completed = np.where(visited, q, mixed[:, None])
    lo = np.where(legal, completed, np.inf).min(axis=1, keepdims=True)
    hi = np.where(legal, completed, -np.inf).max(axis=1, keepdims=True)
    scale = (config.maxvisit_init + n.max(axis=1, keepdims=True)) * config.value_scale
    sigma = (completed - lo) * scale / np.maximum(hi - lo, 1e-8)
    return _masked_softmax(np.log(np.maximum(prior, 1e-30)) + sigma, legal).astype(np.float32)


def _masked_softmax(scores: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``scores [B, A]`` over the ``legal`` entries (0 elsewhere)."""
    z = np.where(legal, scores, -np.inf)
    z -= z.max(axis=1, keepdims=True)
    out = np.exp(z)
    return out / out.sum(axis=1, keepdims=True)
