"""battle_eval: play the agent against scripted opponents every ``eval_freq`` train iterations."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from pipezero.envs.board import MatchResult, Player, play_match
from pipezero.framework import Event, Middleware, Task, TrainContext, WeightSubscriber, middleware

__all__ = ["battle_eval"]

logger = logging.getLogger(__name__)


class _Battles:
    def __init__(
        self,
        cfg: Mapping[str, Any],
        policy: Any,
        agent: Player,
        make_game: Callable[[], Any],
        opponents: Mapping[str, Player],
    ) -> None:
        freq, games = cfg["eval_freq"], cfg["n_evaluator_episode"]
        for name, value in (("eval_freq", freq), ("n_evaluator_episode", games)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"battle_eval: cfg.{name} must be an int >= 1, got {value!r}")
        if not opponents:
            raise ValueError(
                "battle_eval: give at least one opponent, e.g. {'random': RandomPlayer()}"
            )
        stop = cfg.get("stop_opponent")
        if stop is not None and stop not in opponents:
            raise ValueError(
                f"battle_eval: cfg.stop_opponent={stop!r} is not among the opponents "
                f"{sorted(opponents)}; name one of them or set it to None"
            )
        self.eval_freq = freq
        self.num_games = games
        self.sides = cfg.get("eval_sides", "both")
        self.stop_opponent = stop
        self.stop_win_rate = float(cfg.get("stop_win_rate", 0.0))
        self.stop_loss_rate = float(cfg.get("stop_loss_rate", 0.0))
        self.policy = policy
        self.agent = agent
        self.make_game = make_game
        self.opponents = dict(opponents)
        self.task: Task | None = None
        self.weights: WeightSubscriber | None = None

    def setup(self, task: Task) -> None:
        self.task = task
        self.weights = task.weights.subscribe(f"battle_eval-{id(self):x}")

    def step(self, ctx: TrainContext) -> None:
        if ctx.last_eval_iter >= 0 and ctx.train_iter - ctx.last_eval_iter < self.eval_freq:
            return
        if self.weights is not None and (got := self.weights.pull()) is not None:
            self.policy.set_weights(got[1])
        matches: dict[str, MatchResult] = {
            name: play_match(
                self.make_game,
                self.agent,
                opponent,
                self.num_games,
                opponent_name=name,
                sides=self.sides,
            )
            for name, opponent in self.opponents.items()
        }
        result: dict[str, Any] = {
            "return_mean": sum(m.score for m in matches.values()) / len(matches),
            "train_iter": float(ctx.train_iter),
            "env_step": float(ctx.env_step),
        }
        for name, match in matches.items():
            result[f"vs_{name}"] = match.to_dict()
            logger.info("eval at train_iter %d: %s", ctx.train_iter, match)
        ctx.eval_result = result
        ctx.last_eval_iter = ctx.train_iter
        ctx.best_eval_return = max(ctx.best_eval_return, result["return_mean"])
        if self.task is not None:
            self.task.emit(Event.EVAL_DONE, ctx, result)
        if self.stop_opponent is not None and self._target_met(matches[self.stop_opponent]):
            if self.task is None:
                raise RuntimeError("battle_eval needs its task to stop; add it with task.use")
            rates = matches[self.stop_opponent].total.rates()
            self.task.finish(
                f"target reached vs {self.stop_opponent}: win rate {rates['win_rate']:.2f}, "
                f"loss rate {rates['loss_rate']:.2f}"
            )

    def _target_met(self, match: MatchResult) -> bool:
        rates = match.total.rates()
        return rates["win_rate"] >= self.stop_win_rate and rates["loss_rate"] <= self.stop_loss_rate


def battle_eval(
    cfg: Mapping[str, Any],
    policy: Any,
    agent: Player,
    make_game: Callable[[], Any],
    opponents: Mapping[str, Player],
) -> Middleware:
    """Play matches against each opponent at ``train_iter`` 0 and every ``cfg.eval_freq``
    train iterations.

    Each match is ``cfg.n_evaluator_episode`` games (``cfg.eval_sides``: ``"both"`` plays
    half of them as first player, or ``"first"`` / ``"second"``), all games advancing
    together so a batched agent searches them at once. Before playing, the newest weights
    published in ``task.weights`` are loaded with ``policy.set_weights``.

    Writes ``ctx.eval_result``::

        {"return_mean": mean over opponents of (wins - losses) / games,
         "train_iter": ..., "env_step": ...,
         "vs_<name>": {"games", "wins", "draws", "losses", "win_rate", "draw_rate",
                       "loss_rate", "score", "as_first": {...}, "as_second": {...}}, ...}

    updates ``ctx.best_eval_return`` and ``ctx.last_eval_iter`` and emits
    ``Event.EVAL_DONE``. With ``cfg.stop_opponent`` set, the task finishes once the results
    against it reach ``win_rate >= cfg.stop_win_rate`` and ``loss_rate <= cfg.stop_loss_rate``.

    Args:
        cfg: the policy section: ``eval_freq``, ``n_evaluator_episode``, ``eval_sides``,
            ``stop_opponent``, ``stop_win_rate``, ``stop_loss_rate``.
        policy: receives the published weights (``set_weights``).
        agent: the player evaluated, e.g. ``AlphaZeroPlayer(policy)``.
        make_game: builds a fresh game.
        opponents: name -> player, e.g. ``{"random": RandomPlayer(0), "rule_bot": RuleBot(0)}``.
    """
    battles = _Battles(cfg, policy, agent, make_game, opponents)
    return middleware(
        battles.step,
        name="battle_eval",
        role="evaluator",
        reads=("train_iter", "last_eval_iter"),
        writes=("eval_result", "best_eval_return", "last_eval_iter"),
        setup=battles.setup,
        acts_with=policy,
    )
