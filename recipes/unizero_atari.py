"""UniZero on Atari (Pong by default): conv encoder, transformer world model with KV-cached
search, segment collection, frame-store replay buffer and periodic buffer reanalysis.

    python recipes/unizero_atari.py --seed 0 --exp-dir runs/unizero_pong
    python recipes/unizero_atari.py --env-id ALE/Breakout-v5
    python recipes/unizero_atari.py --smoke          # a minute-long end-to-end check
    python recipes/unizero_atari.py --resume runs/unizero_pong

Environments: ale-py with gymnasium's AtariPreprocessing and FrameStackObservation
(``pip install "pipezero[atari]"``), sticky actions p=0.25, minimal action set, 4 stacked
96x96 grey frames; the collector's episodes end at a lost life and its rewards are clipped,
evaluation plays whole games with raw scores. The replay buffer keeps every frame once
(``FrameReplayBuffer``). The chain: interval_eval, env_collect (``num_segments`` per call),
data_push, buffer_reanalyze, calc_update_count, offpolicy_learn, ckpt_saver, termination. The
last line printed is ``RESULT {json}`` with the counters, speeds and the buffer's memory.

Training Atari to a score needs a GPU; ``--smoke`` shrinks everything so the whole loop
(collect, reanalyse, train, evaluate, checkpoint) runs in about a minute on a CPU.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch
from pipezero.middleware import (
    calc_update_count,
    ckpt_saver,
    data_push,
    env_collect,
    interval_eval,
    offpolicy_learn,
    progress_bar,
    tb_logger,
    termination,
)
from pipezero.middleware.buffer_reanalyze import ReanalyzeContext, buffer_reanalyze

from pipezero.checkpoint import resume
from pipezero.data.frame_store import FrameReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.framework import Event, Middleware, Task, middleware
from pipezero.model.unizero import UniZeroModel
from pipezero.policy.unizero import UniZeroPolicy
from pipezero.policy.unizero_config import unizero_atari_config
from pipezero.recipe import build_config, recipe_parser, result_line, seed_everything

#: ``--smoke``: everything shrunk so that every part of the loop runs within about a minute on
#: two CPU cores (tests/unizero runs it).
SMOKE: dict[str, Any] = {
    "max_env_step": 320,
    "env": {"collector_env_num": 4, "evaluator_env_num": 1, "max_episode_frames": 240},
    "policy": {
        "model": {
            "latent_dim": 32,
            "num_layers": 1,
            "num_heads": 2,
            "context_length": 6,
            "support_size": 10,
            "reward_support_size": 5,
            "head_hidden_dim": 32,
            "num_channels": 8,
        },
        "num_simulations": 4,
        "game_segment_length": 20,
        "num_segments": 4,
        "td_steps": 3,
        "num_unroll_steps": 2,
        "batch_size": 16,
        "replay_ratio": 0.05,
        "min_buffer_transitions": 80,
        "learning_rate": 1e-3,
        "eval_freq": 4,
        "n_evaluator_episode": 1,
        "buffer_reanalyze_freq": 1.0,
        "reanalyze_batch_size": 4,
    },
}

_ENV_KEYS = (
    "screen_size",
    "frame_stack",
    "frame_skip",
    "noop_max",
    "sticky_action_prob",
    "full_action_space",
    "max_episode_frames",
)


def make_envs(cfg: Mapping[str, Any], collector: bool) -> BatchEnv:
    """The collector (life loss ends an episode, clipped rewards) or evaluator environments."""
    env = cfg["env"]
    opts = {k: env[k] for k in _ENV_KEYS}
    opts["episode_life"] = bool(env["episode_life"]) and collector
    opts["clip_rewards"] = bool(env["clip_rewards"]) and collector
    num = env["collector_env_num"] if collector else env["evaluator_env_num"]
    seed = cfg["seed"] if collector else cfg["seed"] + 10_000
    return BatchEnv.make(env["env_id"], num, seed=seed, **opts)


def time_totals(totals: dict[str, float]) -> Middleware:
    """Sum the seconds each middleware spent over the run into ``totals``."""

    def add(ctx: ReanalyzeContext):
        yield
        for name, seconds in ctx.timings.items():
            totals[name] = totals.get(name, 0.0) + seconds

    return middleware(add, name="time_totals", reads=("timings",))


def main(argv: list[str] | None = None) -> ReanalyzeContext:
    parser = recipe_parser(__doc__)
    parser.add_argument("--env-id", default=None, help="any ALE id, e.g. ALE/Breakout-v5")
    parser.add_argument("--smoke", action="store_true", help="tiny settings, about a minute")
    args = parser.parse_args(argv)
    cfg = build_config(unizero_atari_config, SMOKE if args.smoke else {}, args, parser)
    if args.env_id:
        cfg.env.env_id = args.env_id
    seed_everything(cfg.seed)
    torch.set_num_threads(1 if args.smoke else torch.get_num_threads())

    collect_envs, eval_envs = make_envs(cfg, True), make_envs(cfg, False)
    p = cfg.policy
    model = UniZeroModel(collect_envs.observation_shape, collect_envs.action_space_size, **p.model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    policy = UniZeroPolicy(p, model, seed=cfg.seed, device=device)
    buffer = FrameReplayBuffer.from_config(p, seed=cfg.seed)
    ctx = ReanalyzeContext()
    if args.resume:
        resume(args.resume, ctx, policy, buffer)
        buffer.compact()  # a saved buffer holds whole stacks: keep each frame once again

    task = Task(ctx)
    task.use(interval_eval(p, policy, eval_envs))
    task.use(env_collect(p, policy, collect_envs))
    task.use(data_push(buffer, p.priority_eps, p.new_data_priority))
    task.use(buffer_reanalyze(p, policy, buffer))
    task.use(calc_update_count(p))
    task.use(offpolicy_learn(p, policy, buffer))
    task.use(ckpt_saver(cfg.exp_dir, policy, buffer, save_freq=10_000, save_buffer=True))
    task.use(tb_logger(cfg.exp_dir))
    task.use(progress_bar(cfg.max_env_step))
    task.use(termination(max_env_step=cfg.max_env_step))
    totals: dict[str, float] = {}
    task.use(time_totals(totals))

    start, history = time.perf_counter(), []
    task.on(Event.EVAL_DONE, lambda c, r: history.append(r | {"unix_time": time.time()}))
    ctx = task.run(mode=args.mode)
    print(
        result_line(
            ctx,
            algorithm="unizero",
            seed=cfg.seed,
            start=start,
            env_id=cfg.env.env_id,
            device=device,
            reanalyzed_states=ctx.reanalyzed_states,
            middleware_seconds={name: round(s, 3) for name, s in totals.items()},
            env_steps_per_s=ctx.env_step / max(totals.get("env_collect", 0.0), 1e-9),
            train_steps_per_s=ctx.train_iter / max(totals.get("offpolicy_learn", 0.0), 1e-9),
            buffer_memory=buffer.memory_report(),
            eval_history=history,
        )
    )
    return ctx


if __name__ == "__main__":
    main()
