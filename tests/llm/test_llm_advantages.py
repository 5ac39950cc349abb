"""GAE, the TPPO token recursion and GRPO normalisation against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from pipezero.policy.llm.advantages import (
    gae,
    grpo_advantages,
    grpo_step_advantages,
    right_align,
    tppo_advantages,
    whiten,
)

G, LAM = 0.9, 0.5


def test_gae_matches_hand_computed_values_across_an_episode_boundary() -> None:
    # One environment, 4 steps; the first episode ends at t=1, the second is cut at t=3.
    r = torch.tensor([1.0, 2.0, 0.5, 1.0])
    v = torch.tensor([0.5, 1.0, 0.2, 0.4])
    d = torch.tensor([False, True, False, False])
    last = torch.tensor(3.0)
    # t=3: delta = 1 + 0.9*3 - 0.4 = 3.3;                     A3 = 3.3
    # t=2: delta = 0.5 + 0.9*0.4 - 0.2 = 0.66;                A2 = 0.66 + 0.45*3.3 = 2.145
    # t=1: done -> delta = 2 - 1 = 1;                          A1 = 1 (no carry from t=2)
    # t=0: delta = 1 + 0.9*1 - 0.5 = 1.4;                      A0 = 1.4 + 0.45*1 = 1.85
    adv, ret = gae(r[:, None], v[:, None], d[:, None], last[None], G, LAM)
    expected = torch.tensor([1.85, 1.0, 2.145, 3.3])
    torch.testing.assert_close(adv[:, 0], expected)
    torch.testing.assert_close(ret[:, 0], expected + v)


def test_gae_ignores_the_bootstrap_when_the_last_step_ends_the_episode() -> None:
    r, v = torch.tensor([[1.0]]), torch.tensor([[0.25]])
    adv, _ = gae(r, v, torch.tensor([[True]]), torch.tensor([100.0]), G, LAM)
    assert adv.item() == pytest.approx(0.75)


def test_gae_is_independent_per_column_and_checks_shapes() -> None:
    r = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v = torch.zeros(2, 2)
    d = torch.tensor([[False, False], [True, True]])
    adv, _ = gae(r, v, d, torch.zeros(2), G, LAM)
    torch.testing.assert_close(adv, torch.tensor([[1.0, 0.45], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="values has shape"):
        gae(r, v[:1], d, torch.zeros(2), G, LAM)


def test_tppo_lambda_decays_inside_a_step_and_gamma_only_between_steps() -> None:
    # Two steps of 2 and 1 tokens; step rewards 1 (on token 1) and 2 (on token 2, terminal).
    r = torch.tensor([0.0, 1.0, 2.0])
    v = torch.tensor([0.1, 0.2, 0.3])
    end = torch.tensor([False, True, True])
    done = torch.tensor([False, False, True])
    # token 2 (last of step 2, terminal): A2 = 2 - 0.3 = 1.7
    # token 1 (last of step 1): delta = 1 + 0.9*0.3 - 0.2 = 1.07; A1 = 1.07 + 0.9*0.5*1.7 = 1.835
    # token 0 (inside step 1, gamma = 1): delta = 0.2 - 0.1 = 0.1; A0 = 0.1 + 0.5*1.835 = 1.0175
    adv, ret = tppo_advantages(
        r[:, None], v[:, None], end[:, None], done[:, None], torch.zeros(1), G, LAM
    )
    torch.testing.assert_close(adv[:, 0], torch.tensor([1.0175, 1.835, 1.7]))
    torch.testing.assert_close(ret[:, 0], adv[:, 0] + v)


def test_tppo_with_one_token_steps_is_step_level_gae() -> None:
    r = torch.tensor([[0.3], [1.0], [0.5]])
    v = torch.tensor([[0.2], [0.4], [0.1]])
    done = torch.tensor([[False], [False], [False]])
    last = torch.tensor([0.7])
    a1, _ = tppo_advantages(r, v, torch.ones_like(done), done, last, G, LAM)
    a2, _ = gae(r, v, done, last, G, LAM)
    torch.testing.assert_close(a1, a2)


def test_tppo_rejects_an_episode_ending_inside_a_step() -> None:
    x = torch.zeros(2, 1)
    with pytest.raises(ValueError, match="last token of a step"):
        tppo_advantages(
            x, x, torch.tensor([[False], [True]]), torch.tensor([[True], [False]]), x[0], G, LAM
        )


def test_grpo_grouped_normalises_within_each_prompt_and_batch_across_all() -> None:
    scores = torch.tensor([1.0, 0.0, 10.0, 12.0, 3.0, 3.0])
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    grouped = grpo_advantages(scores, groups, "grouped")
    # each two-sample group becomes (+1, -1) whatever its scale; a tied group gets 0
    torch.testing.assert_close(
        grouped, torch.tensor([1.0, -1.0, -1.0, 1.0, 0.0, 0.0]), atol=1e-5, rtol=0
    )
    batch = grpo_advantages(scores, groups, "batch")
    mean, std = scores.mean(), scores.std(unbiased=False)
    torch.testing.assert_close(batch, (scores - mean) / (std + 1e-6))
    # batch-wide: the low-scoring group's better sample still gets a negative advantage
    assert batch[0] < 0 < grouped[0]


def test_grpo_groups_need_not_be_contiguous_and_mode_is_checked() -> None:
    scores = torch.tensor([2.0, 5.0, 4.0, 1.0])
    groups = torch.tensor([7, 3, 7, 3])
    torch.testing.assert_close(
        grpo_advantages(scores, groups), torch.tensor([-1.0, 1.0, 1.0, -1.0]), atol=1e-5, rtol=0
    )
    with pytest.raises(ValueError, match="grouped"):
        grpo_advantages(scores, groups, "global")


def test_grpo_step_credit_sums_normalised_step_rewards_from_each_step_on() -> None:
    # group 0: steps rewards [1, 0] and [0]; mean 1/3, std sqrt(2)/3 -> normalised
    # [sqrt(2), -1/sqrt(2)] and [-1/sqrt(2)]; group 1 (one tied trajectory) -> zeros.
    rewards = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.5, 0.5]])
    mask = torch.tensor([[True, True], [True, False], [True, True]])
    adv = grpo_step_advantages(rewards, mask, torch.tensor([0, 0, 1]))
    r2 = 2**0.5
    want = torch.tensor([[r2 - 1 / r2, -1 / r2], [-1 / r2, 0.0], [0.0, 0.0]])
    torch.testing.assert_close(adv, want, atol=1e-5, rtol=0)
    batch = grpo_step_advantages(rewards, mask, torch.tensor([0, 0, 1]), "batch")
    assert batch[2, 0] > 0  # across the batch the 0.5 steps are above the mean


def test_right_align_pads_before_each_row_and_whiten_uses_the_mask() -> None:
    aligned = right_align([torch.tensor([1.0, 2.0]), torch.tensor([3.0])], fill=-1.0)
    torch.testing.assert_close(aligned, torch.tensor([[1.0, -1.0], [2.0, 3.0]]))
    x = torch.tensor([1.0, 3.0, 100.0])
    w = whiten(x, torch.tensor([True, True, False]))
    torch.testing.assert_close(w, torch.tensor([-1.0, 1.0, 0.0]))
