from __future__ import annotations

import math

import numpy as np
import pytest
from pipezero.middleware.interval_eval import evaluate_episodes, interval_eval
from policy_toy import tiny_policy

from pipezero.envs import BatchEnv
from pipezero.framework import Event, Task, TrainContext, middleware
from pipezero.policy import ActResult


class Constant:
    """Stub policy pushing the cart one way: CartPole ends in about 10 steps."""

    def evaluate(self, obs, action_mask, to_play):
        n = len(obs)
        return ActResult(np.ones(n, np.int64), np.zeros((n, 2)), np.zeros(n), np.zeros(n))

    def set_weights(self, weights):
        pass


def train(increment: int):
    def fn(ctx):
        ctx.train_iter += increment

    return middleware(fn, name="train", role="learner", writes=("train_iter",))


def test_evaluates_at_zero_then_every_eval_freq():
    envs = BatchEnv.make("CartPole-v1", 2, seed=0)
    cfg = {"eval_freq": 5, "n_evaluator_episode": 3, "stop_value": None}
    task = Task(TrainContext())
    task.use(interval_eval(cfg, Constant(), envs))
    task.use(train(2))
    results = []
    task.on(Event.EVAL_DONE, lambda ctx, r: results.append(r))
    ctx = task.run(max_steps=7)  # train_iter before each step: 0, 2, 4, 6, 8, 10, 12
    assert [r["train_iter"] for r in results] == [0, 6, 12]
    r = results[-1]
    assert r["num_episodes"] == 3
    assert r["return_min"] <= r["return_mean"] <= r["return_max"] < 30
    assert r["episode_length_mean"] == r["return_mean"]  # CartPole: reward 1 per step
    assert ctx.best_eval_return == max(x["return_mean"] for x in results)
    assert ctx.last_eval_iter == 12


def test_episodes_are_spread_over_the_environments():
    returns, lengths = evaluate_episodes(Constant(), BatchEnv.make("CartPole-v1", 3, seed=1), 7)
    assert returns.shape == lengths.shape == (7,)


def test_stop_value_finishes_the_task_with_a_real_policy():
    policy = tiny_policy("muzero")
    cfg = dict(policy.cfg, stop_value=1.0, n_evaluator_episode=2)
    task = Task(TrainContext())
    task.use(interval_eval(cfg, policy, BatchEnv.make("CartPole-v1", 2, seed=0)))
    ctx = task.run(max_steps=5)
    assert ctx.finish_reason == "stop_value reached"
    assert ctx.task_step == 1
    assert ctx.eval_result is None  # per-step field, renewed after the step
    assert math.isfinite(ctx.best_eval_return) and ctx.best_eval_return >= 1.0


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="eval_freq"):
        interval_eval({"eval_freq": 0, "n_evaluator_episode": 1}, Constant(), None)


class FirstLegal:
    """Plays the first legal move of each board."""

    def evaluate(self, obs, action_mask, to_play):
        n, a = action_mask.shape
        act = np.argmax(action_mask, axis=1).astype(np.int64)
        return ActResult(act, np.zeros((n, a)), np.zeros(n), np.zeros(n))


def test_environments_done_with_their_share_only_play_legal_moves():
    from pipezero.envs import GymAdapter
    from pipezero.envs.board.gym_env import BoardGameGymEnv

    # 3 episodes on 2 boards: board 1 finishes its share first and keeps stepping while
    # board 0 plays its second game; filling cell 0 again would be an illegal move (error)
    envs = BatchEnv([GymAdapter(BoardGameGymEnv("tictactoe"), seed=i) for i in range(2)])
    returns, lengths = evaluate_episodes(FirstLegal(), envs, 3)
    assert returns.shape == lengths.shape == (3,)
    assert (lengths >= 5).all()  # a self-play TicTacToe game lasts at least 5 moves
