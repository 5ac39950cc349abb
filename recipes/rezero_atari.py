"""ReZero on Atari (Pong by default): conv/residual MuZero, frame-store replay buffer and
whole-buffer backward-view reanalysis.

    python recipes/rezero_atari.py --seed 0 --exp-dir runs/rezero_pong
    python recipes/rezero_atari.py --env-id ALE/Breakout-v5
    python recipes/rezero_atari.py --smoke          # a minute-long end-to-end check
    python recipes/rezero_atari.py --resume runs/rezero_pong

Environments: ale-py with gymnasium's AtariPreprocessing and FrameStackObservation
(``pip install "pipezero[atari]"``), sticky actions p=0.25, minimal action set, 4 stacked
96x96 grey frames; the collector's episodes end at a lost life and its rewards are clipped,
evaluation plays whole games with raw scores. The replay buffer keeps every frame once
(``FrameReplayBuffer``). The chain: interval_eval, env_collect, data_push, buffer_reanalyze,
calc_update_count, offpolicy_learn, ckpt_saver, termination. The last line printed is
``RESULT {json}`` with the counters, speeds and the buffer's memory per transition.

Training Atari to a score needs a GPU (the 100k-step budget is hours of search on one);
``--smoke`` shrinks everything so the whole loop runs in about a minute on a CPU.
"""

from __future__ import annotations

import time

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
from pipezero.model import MuZeroConv
from pipezero.policy.rezero import ReZeroPolicy
from pipezero.policy.rezero_config import rezero_atari_config
from pipezero.recipe import build_config, recipe_parser, result_line, seed_everything

#: ``--smoke``: everything shrunk so collect, reanalyse, train, evaluate and checkpoint all
#: run within about a minute on two CPU cores (used by tests/atari).
SMOKE = {
    "max_env_step": 480,
    "env": {"collector_env_num": 4, "evaluator_env_num": 1, "max_episode_frames": 240},
    "policy": {
        "model": {"num_channels": 8, "support_size": 10, "reward_support_size": 5},
        "num_simulations": 4,
        "game_segment_length": 20,
        "collect_env_steps": 20,
        "td_steps": 3,
        "num_unroll_steps": 2,
        "batch_size": 16,
        "replay_ratio": 0.05,
        "min_buffer_transitions": 80,
        "optim_type": "Adam",
        "learning_rate": 1e-3,
        "eval_freq": 4,
        "n_evaluator_episode": 1,
        "reanalyze_batch_size": 4,
        "buffer_reanalyze_freq": 1.0,
    },
}


def env_options(env_cfg: dict, collector: bool) -> dict:
    """Keyword arguments of ``make_atari_env`` from the ``env`` section; life loss and
    reward clipping only for the collector."""
    keys = (
        "screen_size",
        "frame_stack",
        "frame_skip",
        "noop_max",
        "sticky_action_prob",
        "full_action_space",
        "max_episode_frames",
    )
    opts = {k: env_cfg[k] for k in keys}
    opts["episode_life"] = bool(env_cfg.episode_life) and collector
    opts["clip_rewards"] = bool(env_cfg.clip_rewards) and collector
    return opts


def time_totals(totals: dict[str, float]) -> Middleware:
    """Sum the seconds each middleware spent over the run into ``totals`` (for the speeds
    in the result line)."""

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
    cfg = build_config(rezero_atari_config, SMOKE if args.smoke else {}, args, parser)
    if args.env_id:
        cfg.env.env_id = args.env_id
    seed_everything(cfg.seed)
    torch.set_num_threads(1 if args.smoke else torch.get_num_threads())

    collect_envs = BatchEnv.make(
        cfg.env.env_id, cfg.env.collector_env_num, seed=cfg.seed, **env_options(cfg.env, True)
    )
    eval_envs = BatchEnv.make(
        cfg.env.env_id,
        cfg.env.evaluator_env_num,
        seed=cfg.seed + 10_000,
        **env_options(cfg.env, False),
    )
    p = cfg.policy
    model = MuZeroConv(collect_envs.observation_shape, collect_envs.action_space_size, **p.model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    policy = ReZeroPolicy(p, model, seed=cfg.seed, device=device)
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
    seconds = {name: round(s, 3) for name, s in totals.items()}
    print(
        result_line(
            ctx,
            algorithm="rezero",
            seed=cfg.seed,
            start=start,
            env_id=cfg.env.env_id,
            device=device,
            reanalyzed_states=ctx.reanalyzed_states,
            reanalyze_state_evaluations=ctx.reanalyze_state_evaluations,
            reanalyze_s=ctx.reanalyze_seconds,
            middleware_seconds=seconds,
            env_steps_per_s=ctx.env_step / max(totals.get("env_collect", 0.0), 1e-9),
            train_steps_per_s=ctx.train_iter / max(totals.get("offpolicy_learn", 0.0), 1e-9),
            buffer_memory=buffer.memory_report(),
            eval_history=history,
        )
    )
    return ctx


if __name__ == "__main__":
    main()
