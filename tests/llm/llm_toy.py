"""Small real parts shared by the LLM tests: a tiny character LM, a policy, trajectories."""

from __future__ import annotations

import torch

from pipezero.envs.math_reasoning import Problem
from pipezero.model.lm import CharLMConfig, CharTokenizer, CharTransformerLM
from pipezero.policy.llm.critic import ValueHead
from pipezero.policy.llm.policy import LLMPolicy
from pipezero.policy.llm.rollout import Trajectory

TINY = CharLMConfig(d_model=32, n_layer=2, n_head=2, d_ff=64, max_len=256)


def tiny_lm(seed: int = 0, lora: bool = True, randomize_lora: bool = False) -> CharTransformerLM:
    """A 2-layer character LM; with ``randomize_lora`` the adapter is non-zero (so it
    changes the output)."""
    torch.manual_seed(seed)
    lm = CharTransformerLM(CharTokenizer(), TINY)
    if lora:
        lm.add_lora(r=4, alpha=8.0)
        if randomize_lora:
            with torch.no_grad():
                for p in lm.adapter_parameters():
                    p.normal_(0.0, 0.3)
    return lm


def tiny_policy(seed: int = 0, critic: bool = True, max_new_tokens: int = 6) -> LLMPolicy:
    lm = tiny_lm(seed)
    head = ValueHead(lm.hidden_size, (16,)) if critic else None
    return LLMPolicy(lm, head, max_new_tokens=max_new_tokens, seed=seed)


def problem(question: str = "From 2: +3.", answer: str = "5") -> Problem:
    return Problem(question, answer, ("2+3=5",), uid="toy")


def trajectory(
    policy: LLMPolicy,
    steps: list[str],
    group_id: int = 0,
    done: bool = True,
    correct: bool | None = True,
) -> Trajectory:
    """A trajectory whose actions are the given lines, with the log-probabilities the policy
    gives their tokens now (as if it had sampled them: what the trainers' ratios start from)."""
    tok = policy.tokenizer
    state = "Q: From 2: +3.\n"
    traj = Trajectory(problem(), group_id, policy.initial_context(state))
    for line in steps:
        traj.states.append(state)
        traj.steps.append(line)
        traj.action_ids.append(tok.encode(line))
        state += line
    ids = torch.tensor([traj.context + [i for a in traj.action_ids for i in a]])
    with torch.no_grad():
        logits = policy.lm(ids.to(policy.device)).logits[0, :-1].float() / policy.temperature
    logp = torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None].to(logits.device))[:, 0]
    start = len(traj.context) - 1
    for a in traj.action_ids:
        traj.logprobs.append(logp[start : start + len(a)].tolist())
        start += len(a)
    traj.done, traj.correct = done, correct if done else None
    traj.reason = "answer" if done else None
    return traj
