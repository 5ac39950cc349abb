"""PolicyStateMixin: the checkpoint layout AlphaZero and MuZero wrote before sharing it, and a
round trip that restores the weights, the optimizer and every random generator."""

from __future__ import annotations

import pytest
import torch

from pipezero.envs.board import make_game
from pipezero.model import MuZeroMLP
from pipezero.model.alphazero_net import AlphaZeroNet
from pipezero.policy import MuZeroPolicy
from pipezero.policy.alphazero import AlphaZeroPolicy
from pipezero.policy.policy_state import PolicyStateMixin

COMMON = {"model", "optimizer", "lr_scheduler", "train_iter", "rng", "search_rng"}


def alphazero(share_acting_model: bool = True, seed: int = 0) -> AlphaZeroPolicy:
    game = make_game("tictactoe")
    net = AlphaZeroNet(game.observation_shape, game.num_actions, num_channels=8, num_res_blocks=1)
    cfg = {"model": {"num_channels": 8, "num_res_blocks": 1}, "num_simulations": 4}
    return AlphaZeroPolicy(
        cfg, net, symmetries=game.symmetries(), seed=seed, share_acting_model=share_acting_model
    )


def muzero(share_acting_model: bool = True, seed: int = 0) -> MuZeroPolicy:
    model = MuZeroMLP((4,), 2, latent_dim=8, hidden_dim=8)
    cfg = {"model": {"latent_dim": 8, "hidden_dim": 8}, "num_simulations": 4}
    return MuZeroPolicy(cfg, model, seed=seed, share_acting_model=share_acting_model)


def test_checkpoint_layout_is_unchanged() -> None:
    az, mz = alphazero(), muzero()
    assert isinstance(az, PolicyStateMixin) and isinstance(mz, PolicyStateMixin)
    assert set(az.state_dict()) == COMMON | {"config"}
    assert set(az.state_dict()["search_rng"]) == {"collect_search", "eval_search"}
    assert set(mz.state_dict()) == COMMON | {"target_model"}
    assert set(mz.state_dict()["search_rng"]) == {
        "collect_search",
        "eval_search",
        "reanalyze_search",
    }
    assert set(alphazero(share_acting_model=False).state_dict()) == COMMON | {
        "config",
        "acting_model",
    }


@pytest.mark.parametrize("build", [alphazero, muzero])
def test_round_trip_restores_weights_counters_and_generators(build) -> None:
    source, target = build(share_acting_model=False, seed=1), build(share_acting_model=False)
    with torch.no_grad():
        for p in source.model.parameters():
            p.add_(1.0)
    source.train_iter = 7
    source.rng.random(3)
    source.eval_search.rng.random(5)
    target.load_state_dict(source.state_dict())
    for a, b in zip(source.model.parameters(), target.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert target.train_iter == 7
    assert target.rng.random() == source.rng.random()
    assert target.eval_search.rng.random() == source.eval_search.rng.random()
    # the acting model is saved on its own (it lags the learner model until set_weights)
    acting = zip(source.acting_model.parameters(), target.acting_model.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in acting)
    assert not torch.equal(next(target.acting_model.parameters()), next(target.model.parameters()))


def test_weights_are_published_copies_and_own_weights_are_a_no_op() -> None:
    policy = alphazero()
    weights = policy.get_weights()
    key = next(iter(weights))
    weights[key].fill_(3.0)  # a copy: the model is untouched
    assert not torch.equal(policy.model.state_dict()[key], weights[key])
    policy.set_weights(weights)  # its own last published weights: nothing is loaded
    assert not torch.equal(policy.model.state_dict()[key], weights[key])
    other = alphazero()
    other.set_weights(weights)
    assert torch.equal(other.model.state_dict()[key], weights[key])


def test_a_state_of_another_kind_of_policy_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match=r"no \['target_model'\] entries"):
        muzero().load_state_dict(alphazero().state_dict())
