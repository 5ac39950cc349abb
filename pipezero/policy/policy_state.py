"""Weights and resumable state of a search policy, written once for AlphaZero and MuZero.

:class:`PolicyStateMixin` implements the weight and checkpoint half of
:class:`~pipezero.policy.base.PolicyProtocol` (``get_weights``, ``set_weights``,
``state_dict``, ``load_state_dict``) for any policy that keeps the usual attributes:

- ``model`` (the learner network), ``acting_model`` and ``share_acting_model``;
- ``optimizer``, ``lr_scheduler``, ``train_iter`` and ``rng`` (a NumPy ``Generator``);
- one attribute per name in :attr:`~PolicyStateMixin.search_names`, each with an ``rng``;
- one ``nn.Module`` per name in :attr:`~PolicyStateMixin.extra_models` (``target_model``).

The checkpoint layout (``{"model", <extra models>, "optimizer", "lr_scheduler",
"train_iter", "rng", "search_rng": {name: state}, ["acting_model"], ["amp_scaler"]}``) is the
one both policies wrote before this mixin existed; subclasses add entries by extending the
dict. Every tensor in it is on the CPU (:func:`to_cpu`), whatever the policy's device, so a
run trained on a GPU resumes or evaluates on a CPU and the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn


class PolicyStateMixin:
    """``get_weights`` / ``set_weights`` / ``state_dict`` / ``load_state_dict`` over the
    attributes listed in the module doc."""

    #: Attributes holding a search whose random generator (``.rng``) is checkpointed.
    search_names: tuple[str, ...] = ("collect_search", "eval_search")
    #: Extra ``nn.Module`` attributes saved beside ``model`` under their own names.
    extra_models: tuple[str, ...] = ()
    model: nn.Module
    acting_model: nn.Module
    share_acting_model: bool
    optimizer: torch.optim.Optimizer
    lr_scheduler: Any
    train_iter: int
    rng: np.random.Generator
    #: The weights this policy's own :meth:`get_weights` returned last (see :meth:`set_weights`).
    _published: dict[str, torch.Tensor] | None = None

    def get_weights(self) -> dict[str, torch.Tensor]:
        """A detached CPU copy of the learner model's state dict."""
        weights = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        self._published = weights
        return weights

    def set_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Load weights into the acting model.

        When the acting model is the learner model (``share_acting_model=True``, sync mode),
        weights that this policy's own :meth:`get_weights` produced last are already in it:
        the call is a no-op. Other weights are loaded (into the learner model too, then).
        """
        if self.share_acting_model and weights is self._published:
            return
        self.acting_model.load_state_dict(weights)

    def state_dict(self) -> dict[str, Any]:
        """Models, optimizer, LR schedule, update counter and the policy's own random
        generators (action sampling, search noise); the process-wide torch / NumPy
        generators are the checkpoint's business."""
        state: dict[str, Any] = {"model": self.model.state_dict()}
        for name in self.extra_models:
            state[name] = getattr(self, name).state_dict()
        state |= {
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "train_iter": self.train_iter,
            "rng": self.rng.bit_generator.state,
            "search_rng": {
                name: getattr(self, name).rng.bit_generator.state for name in self.search_names
            },
        }
        if not self.share_acting_model:
            state["acting_model"] = self.acting_model.state_dict()
        precision = getattr(self, "precision", None)
        if precision is not None and precision.scaling:
            state["amp_scaler"] = precision.state_dict()
        return to_cpu(state)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`.

        Raises:
            KeyError: an entry is missing, naming it (e.g. a checkpoint of another algorithm).
        """
        missing = [k for k in ("model", *self.extra_models, "optimizer") if k not in state]
        if missing:
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: the state has no {missing} entries "
                f"(it has {sorted(state)}); was it saved by another kind of policy?"
            )
        self.model.load_state_dict(state["model"])
        for name in self.extra_models:
            getattr(self, name).load_state_dict(state[name])
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.train_iter = int(state["train_iter"])
        self.rng.bit_generator.state = state["rng"]
        for name, rng_state in state["search_rng"].items():
            getattr(self, name).rng.bit_generator.state = rng_state
        if not self.share_acting_model:
            self.acting_model.load_state_dict(state.get("acting_model", state["model"]))
        precision = getattr(self, "precision", None)
        if precision is not None:
            precision.load_state_dict(state.get("amp_scaler", {}))


def to_cpu(state: Any) -> Any:
    """``state`` with every tensor (in nested dicts, lists and tuples) on the CPU, so a
    checkpoint written on an accelerator loads on any machine; CPU tensors are not copied.
    Loading puts them back: ``nn.Module.load_state_dict`` copies into the live parameters
    and ``Optimizer.load_state_dict`` moves its state to the parameters' device."""
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {k: to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(to_cpu(v) for v in state)
    return state
