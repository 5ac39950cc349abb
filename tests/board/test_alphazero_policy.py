"""AlphaZeroPolicy: search-based acting, augmentation, learning from outcomes, state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from board_toy import ScriptedPolicy, tiny_alphazero
from pipezero.middleware.selfplay_collect import selfplay_collect

from pipezero.data import ReplayBuffer
from pipezero.envs.board import make_game
from pipezero.framework import TrainContext, run_step
from pipezero.model.alphazero_net import AlphaZeroNet
from pipezero.policy.alphazero import AlphaZeroPolicy, outcome_buffer_settings
from pipezero.policy.board_player import AlphaZeroPlayer


def scripted_buffer(td_steps: int = 9) -> ReplayBuffer:
    """A buffer holding two scripted games: X wins on the top row, and a draw."""
    games = [[0, 3, 1, 4, 2], [0, 1, 2, 4, 3, 5, 7, 6, 8]]
    buffer = ReplayBuffer(100, seed=0, **(outcome_buffer_settings(9) | {"td_steps": td_steps}))
    for script in games:
        ctx = TrainContext()
        policy = ScriptedPolicy([script])
        mw = selfplay_collect({"collect_env_steps": len(script)}, policy, make_game_tictactoe, 1)
        run_step([mw], ctx)
        (segment,) = ctx.new_segments
        buffer.push(segment)
    return buffer


def make_game_tictactoe():
    return make_game("tictactoe")


def test_augmentation_moves_stones_and_policy_together() -> None:
    policy = tiny_alphazero()
    game = make_game("tictactoe")
    game.step(0)
    game.step(5)  # O on the middle right
    obs = torch.as_tensor(np.stack([game.observation()] * 8))
    target = torch.zeros(8, 9)
    target[:, 2] = 1.0  # the policy's favourite move: top right
    policy.rng = np.random.default_rng(0)
    new_obs, new_target = policy.augment(obs, target)
    seen = set()
    for b in range(8):
        board = new_obs[b, 0] - new_obs[b, 1]  # mover's stones +1, opponent's -1
        favourite = int(new_target[b].argmax())
        # the favourite stays a corner and keeps its distance to the two stones
        assert favourite in (0, 2, 6, 8) and new_target[b].sum() == 1
        r, c = divmod(favourite, 3)
        x_cell = int((board == 1).nonzero()[0][0] * 3 + (board == 1).nonzero()[0][1])
        o_cell = int((board == -1).nonzero()[0][0] * 3 + (board == -1).nonzero()[0][1])
        dist = [abs(r - cell // 3) + abs(c - cell % 3) for cell in (x_cell, o_cell)]
        assert dist == [2, 1]  # top-right corner: 2 from top-left, 1 from middle-right
        seen.add((favourite, x_cell, o_cell))
    assert len(seen) > 1
    assert torch.equal(new_obs[:, 2], obs[:, 2])


def test_learning_fits_visit_targets_and_signed_outcomes() -> None:
    torch.manual_seed(0)
    policy = tiny_alphazero(use_augmentation=False, batch_size=14)
    buffer = scripted_buffer()
    first = None
    for _ in range(100):
        result = policy.learn(buffer.sample(14))
        first = first if first is not None else result.info
    assert result.info["value_loss"] < 0.2 * first["value_loss"]
    assert result.info["policy_loss"] < 0.5 * first["policy_loss"]
    assert result.priorities is not None and result.priorities.shape == (14,)
    assert policy.train_iter == 100
    game = make_game("tictactoe")
    for move in (0, 3, 1, 4):
        game.step(move)
    policy.model.eval()
    with torch.no_grad():
        logits, value = policy.model(torch.as_tensor(game.observation())[None])
    assert int(logits.argmax()) == 2 and float(value) > 0.5  # X to move and win


def test_learning_rejects_a_buffer_that_would_bootstrap() -> None:
    policy = tiny_alphazero()
    with pytest.raises(
        ValueError, match=r"td_steps is shorter than a game.*outcome_buffer_settings"
    ):
        policy.learn(scripted_buffer(td_steps=2).sample(8))
    with pytest.raises(ValueError, match="use_augmentation=True needs symmetries"):
        AlphaZeroPolicy({}, AlphaZeroNet((3, 3, 3), 9))


def test_acting_searches_real_states_and_finds_wins() -> None:
    policy = tiny_alphazero(num_simulations=40, eval_num_simulations=60, temperature_moves=0)
    games = [make_game("tictactoe") for _ in range(3)]
    for move in (0, 3, 1, 4):  # game 0: X wins at 2
        games[0].step(move)
    for move in (0, 4, 8, 2):  # game 2: X must block at 6
        games[2].step(move)
    act = policy.evaluate_games(games)
    assert act.action.shape == (3,) and act.visit_policy.shape == (3, 9)
    assert act.action[0] == 2 and act.action[2] == 6
    assert act.predicted_value.shape == (3,) and np.allclose(act.visit_policy.sum(1), 1)
    collected = policy.collect_games(games)  # temperature_moves=0: greedy after noise
    visits = collected.visit_policy
    assert (collected.action == visits.argmax(1)).all()
    assert AlphaZeroPlayer(policy).act(games[0]) == 2
    assert games[0].num_moves == 4, "searching must not modify the games"


def test_state_dict_round_trip_and_weights() -> None:
    policy = tiny_alphazero()
    policy.learn(scripted_buffer().sample(8))
    state = policy.state_dict()
    assert state["config"]["num_simulations"] == 16 and isinstance(state["config"], dict)
    other = tiny_alphazero(learning_rate=5e-3)
    other.load_state_dict(state)
    obs = torch.zeros(2, 3, 3, 3)
    policy.model.eval()
    other.model.eval()
    assert torch.equal(policy.model(obs)[0], other.model(obs)[0])
    assert other.train_iter == 1
    weights = policy.get_weights()
    policy.set_weights(weights)  # own weights, shared acting model: a no-op
    third = tiny_alphazero()
    third.set_weights(weights)
    third.model.eval()
    assert torch.equal(third.model(obs)[1], policy.model(obs)[1])


@pytest.mark.parametrize("game_name", ["connect4", "tictactoe"])
def test_symmetry_averaged_evaluation_treats_mirrored_positions_alike(game_name) -> None:
    torch.manual_seed(0)
    policy = tiny_alphazero(game_name, eval_average_symmetries=True)
    policy.model.eval()
    game = make_game(game_name)
    moves = [3, 2, 2] if game_name == "connect4" else [0, 4, 1]
    mirror = [6 - a for a in moves] if game_name == "connect4" else [2, 4, 1]
    original, flipped = game.copy(), game.copy()
    for a, b in zip(moves, mirror, strict=True):
        original.step(a)
        flipped.step(b)
    obs = torch.as_tensor(np.stack([original.observation(), flipped.observation()]))
    policy._root_value = None
    log_probs, value = policy._evaluate_symmetric(obs)
    assert torch.allclose(value[0], value[1], atol=1e-5)
    reflect = np.arange(game.num_actions)
    reflect = reflect[::-1] if game_name == "connect4" else reflect.reshape(3, 3)[:, ::-1].ravel()
    assert torch.allclose(log_probs[0], log_probs[1][reflect.copy()], atol=1e-5)
    assert torch.allclose(log_probs.exp().sum(1), torch.ones(2), atol=1e-5)
    # without averaging the same network generally tells the two positions apart
    plain_logits, _ = policy.model(obs)
    assert not torch.allclose(plain_logits[0], plain_logits[1][reflect.copy()], atol=1e-5)
    # the evaluation search plays the mirrored move in the mirrored position
    result = policy.evaluate_games([original, flipped])
    assert result.action[1] == reflect[result.action[0]]


def test_symmetry_averaging_needs_the_symmetries() -> None:
    game = make_game("connect4")
    net = AlphaZeroNet(game.observation_shape, game.num_actions, num_channels=4)
    cfg = {"use_augmentation": False, "eval_average_symmetries": True}
    with pytest.raises(ValueError, match="eval_average_symmetries=True needs symmetries"):
        AlphaZeroPolicy(cfg, net)
