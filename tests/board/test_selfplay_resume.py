"""selfplay_collect's run state: games in progress continue after a checkpoint round trip."""

from __future__ import annotations

import io

import numpy as np
import torch
from board_toy import ScriptedPolicy
from pipezero.middleware.selfplay_collect import selfplay_collect

from pipezero.checkpoint.plain import decode_numpy, encode_numpy
from pipezero.envs.board import game_factory
from pipezero.framework import Task, TrainContext, run_step

X_WINS = [0, 3, 1, 4, 2]  # X: top row


def collector(script: list[int], steps: int, **kwargs):
    mw = selfplay_collect(
        {"collect_env_steps": steps},
        ScriptedPolicy([script]),
        game_factory("tictactoe"),
        1,
        **kwargs,
    )
    task = Task(TrainContext()).use(mw)
    return mw, task


def through_a_checkpoint(state: dict) -> dict:
    """The state as resume reads it: encoded, saved, loaded with weights_only, decoded."""
    data = io.BytesIO()
    torch.save(encode_numpy(state), data)
    data.seek(0)
    return decode_numpy(torch.load(data, weights_only=True))


def test_a_game_in_progress_continues_after_resume():
    first, task = collector(X_WINS[:2], steps=2)
    ctx = TrainContext()
    run_step([first], ctx)
    assert ctx.new_segments == []  # two moves in: the game goes on
    saved = through_a_checkpoint(task.state_providers.state_dict())

    second, task2 = collector(X_WINS[2:], steps=3)
    task2.state_providers.load_state_dict(saved)
    ctx2 = TrainContext()
    run_step([second], ctx2)
    (segment,) = ctx2.new_segments
    assert segment.length == 5 and segment.terminated
    assert segment.actions[:5].tolist() == X_WINS and segment.rewards[:5].tolist() == [
        0,
        0,
        0,
        0,
        1,
    ]


def test_games_that_cannot_continue_are_closed_as_truncated():
    first, task = collector([0, 3], steps=2)
    run_step([first], TrainContext())
    saved = through_a_checkpoint(task.state_providers.state_dict())
    saved["selfplay_collect"]["games"] = None  # as for a game that is not plain data
    second, task2 = collector([4], steps=1)
    task2.state_providers.load_state_dict(saved)
    ctx = TrainContext()
    run_step([second], ctx)
    closed = [s for s in ctx.new_segments if not s.terminated]
    assert len(closed) == 1 and closed[0].length == 2 and closed[0].episode_ended
    assert np.array_equal(closed[0].obs[2], saved["selfplay_collect"]["observation"][0])
    assert ctx.env_step == 1 and ctx.new_segments == closed  # the fresh game goes on
