"""TRL's ``GRPOTrainer`` beside pipezero's GRPO: the same tiny Hugging Face model and warm
start, the same problems, group size, rewards and update budget (RL CPU seconds of one core).
Prints JSON. ``trl`` is optional and not a dependency of pipezero (``pip install trl``).

    # pipezero's GRPO (and the warm start it caches in WORK):
    python benchmarks/llm_math.py --seeds 0 --variants grpo --rl-minutes 5 --sft-steps 800 \\
        --jobs 1 --work-dir WORK --set model.kind=hf_tiny
    # TRL's GRPO from that warm start, with the same settings:
    python benchmarks/llm_trl_grpo.py --work-dir WORK --seed 0 --rl-minutes 5 \\
        --set model.kind=hf_tiny

What is the same: the model object (``grpo_math``'s config with the ``--set`` overrides, the
LoRA adapter on q/v, loaded with ``WORK/warm_start_seed{seed}.pt``), 16 prompts x 8 samples per
generation batch cut into 4 optimizer steps of 32 completions, one pass, Adam at
``learn.policy_lr`` with the gradient norm clipped to ``learn.max_grad_norm``, clip range
``learn.clip_ratio``, the entropy bonus ``learn.entropy_coef``, the policy loss averaged over
the tokens, no KL penalty (``beta=0``), group-normalised advantages, sampling at
``collect.temperature`` with no top-k / top-p, and the reward: every completion is replayed
line by line through the step environment (``MathStepEnv``: the episode ends at the answer
line or after ``env.max_steps`` lines) and scored with ``score_rollout`` and the recipe's PRM
and reward weights; TRL's scalar is the episode's summed reward. Held-out accuracy is
``evaluate_accuracy`` (greedy, step by step) before and after, as in ``llm_math.py``.

What differs, by construction of the two libraries: TRL generates a completion in one go (up
to ``--max-completion-length`` tokens or end-of-sequence) and gives all its tokens one
advantage (trajectory credit); pipezero's recipe generates line by line and gives step credit
(``learn.grpo_credit=step``); pipezero also skips a minibatch whose approximate KL exceeds
``learn.target_kl``. The budget counts the process's CPU time from
the first TRL step on (generation, reward, update; one torch thread); the held-out
evaluations are outside it, as in ``llm_math.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--work-dir", type=Path, required=True, help="llm_math.py's --work-dir")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--rl-minutes", type=float, default=5.0)
parser.add_argument("--max-completion-length", type=int, default=96)
parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")


def main() -> None:
    args = parser.parse_args()
    try:
        from datasets import Dataset
        from transformers import TrainerCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as exc:
        sys.exit(f"this benchmark needs TRL ({exc}); install it with `pip install trl`")
    from pipezero.recipes.grpo_math import CONFIG

    from pipezero.config import merge_config, parse_set_overrides
    from pipezero.envs.math_reasoning import MathStepEnv, ProblemSampler
    from pipezero.policy.llm.evaluation import evaluate_accuracy
    from pipezero.policy.llm.factory import build_parts
    from pipezero.policy.llm.rewards import score_rollout
    from pipezero.policy.llm.rollout import Rollout, Trajectory

    torch.set_num_threads(1)
    warm_start = args.work_dir / f"warm_start_seed{args.seed}.pt"
    if not warm_start.is_file():
        sys.exit(f"no warm start at {warm_start}: run benchmarks/llm_math.py --work-dir first")
    cfg = merge_config(CONFIG, {**parse_set_overrides(args.set), "seed": args.seed})
    parts = build_parts(cfg)
    lm = parts.policy.lm
    lm.load_state_dict(torch.load(warm_start, map_location="cpu", weights_only=True))
    ev = cfg.eval

    def held_out() -> dict[str, float]:
        return evaluate_accuracy(
            parts.policy, parts.eval_problems, parts.prompt, cfg.env.max_steps, ev.batch_size
        )

    before = held_out()
    collect, learn = cfg.collect, cfg.learn
    per_batch = collect.num_prompts * collect.group_size
    steps_per_generation = max(1, per_batch // learn.minibatch_size)
    # the same training stream as the recipe: held-out questions excluded, seeded
    exclude = {p.question for p in parts.eval_problems}
    sampler = ProblemSampler(parts.worker.envs.sampler.source, seed=args.seed + 4, exclude=exclude)
    problems = [sampler.next()[0] for _ in range(20000)]
    bos = lm.tokenizer.hf.bos_token or ""
    dataset = Dataset.from_list(
        [{"prompt": bos + parts.prompt.render_state(p), "index": i} for i, p in enumerate(problems)]
    )

    def reward(completions: list[str], index: list[int], **_: Any) -> list[float]:
        """Replay each completion line by line through the step environment and sum the
        recipe's step rewards."""
        trajectories = []
        for text, i in zip(completions, index, strict=True):
            env = MathStepEnv(parts.prompt, cfg.env.max_steps)
            state = env.reset(problems[i])
            traj = Trajectory(problems[i], 0, [])
            for line in text.splitlines(keepends=True):
                traj.states.append(state)
                traj.steps.append(line)
                result = env.step(line)
                state = result.state
                if result.done:
                    traj.done, traj.correct, traj.reason = True, result.correct, result.reason
                    break
            if not traj.steps:  # nothing generated: an empty, unanswered step
                traj.states.append(state)
                traj.steps.append("")
            traj.done = True
            trajectories.append(traj)
        scored = score_rollout(Rollout(trajectories, 0), parts.prm, parts.reward)
        return [float(r.sum()) for r in scored.rewards]

    clock: dict[str, float] = {}

    class Budget(TrainerCallback):
        def on_step_begin(self, *_: Any, **__: Any) -> None:
            clock.setdefault("start", time.process_time())

        def on_step_end(self, _args: Any, state: Any, control: Any, **__: Any) -> None:
            clock["rl_s"] = time.process_time() - clock["start"]
            clock["steps"] = state.global_step
            if clock["rl_s"] >= 60 * args.rl_minutes:
                control.should_training_stop = True

    config = GRPOConfig(
        output_dir=str(args.work_dir / f"trl_grpo_seed{args.seed}"),
        use_cpu=True,
        seed=args.seed,
        per_device_train_batch_size=learn.minibatch_size,
        steps_per_generation=steps_per_generation,
        num_generations=collect.group_size,
        num_iterations=learn.update_epochs,
        max_completion_length=args.max_completion_length,
        temperature=collect.temperature,
        top_k=0,
        top_p=1.0,
        learning_rate=learn.policy_lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=learn.max_grad_norm,
        epsilon=learn.clip_ratio,
        beta=0.0,
        entropy_coef=learn.entropy_coef,
        loss_type="dapo",  # token mean over the batch, as pipezero's masked mean
        scale_rewards="group",
        max_steps=10**6,
        logging_steps=steps_per_generation * 10,
        save_strategy="no",
        report_to=[],
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    trainer = GRPOTrainer(
        model=lm.model,
        reward_funcs=reward,
        args=config,
        train_dataset=dataset,
        processing_class=lm.tokenizer.hf,
        callbacks=[Budget()],
    )
    wall = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - wall
    after = held_out()
    steps = int(clock["steps"])
    episodes = -(-steps // steps_per_generation) * per_batch
    result = {
        "command": " ".join(sys.argv),
        "library": "trl",
        "seed": args.seed,
        "warm_start_accuracy": before["accuracy"],
        "final_accuracy": after["accuracy"],
        "gain": after["accuracy"] - before["accuracy"],
        "rl_seconds": clock["rl_s"],
        "wall_seconds": wall,
        "optimizer_steps": steps,
        "episodes": episodes,
        "episodes_per_rl_second": episodes / clock["rl_s"],
        "log": [h for h in trainer.state.log_history if "reward" in h][-3:],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
