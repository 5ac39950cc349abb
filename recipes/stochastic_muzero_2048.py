"""Stochastic MuZero on 2048 (pipezero/Game2048-v0): afterstates, 32 chance codes, 25 sims.

    python recipes/stochastic_muzero_2048.py --seed 0 --exp-dir runs/smz_2048 --max-wall-s 1800
    python recipes/stochastic_muzero_2048.py --mode async --max-wall-s 1800  # both CPU cores
    python recipes/stochastic_muzero_2048.py --set policy.num_simulations=100
    python recipes/stochastic_muzero_2048.py --resume runs/smz_2048

The run stops after ``--max-env-step`` environment steps or ``--max-wall-s`` seconds. The
score of a 2048 game is its undiscounted return (the sum of merged tiles), so the evaluation
returns are scores. The last line printed is ``RESULT {json}`` (``benchmarks/game2048.py``
reads it).
"""

from __future__ import annotations

import time

import torch
from easydict import EasyDict
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
from pipezero.middleware.time_limit import time_limit

from pipezero.checkpoint import resume
from pipezero.data import ReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.envs.game2048 import ENV_ID, symmetries
from pipezero.framework import Event, Task, TrainContext
from pipezero.model.stochastic import StochasticMuZeroMLP
from pipezero.policy.stochastic_muzero import StochasticMuZeroPolicy
from pipezero.policy.stochastic_muzero_config import stochastic_muzero_config
from pipezero.recipe import (
    acting_policy,
    build_config,
    engine_options,
    recipe_parser,
    result_line,
    seed_everything,
)

# 2048 settings on top of pipezero/policy/stochastic_muzero_config.py.
GAME2048 = {
    "exp_dir": "runs/stochastic_muzero_2048",
    "max_env_step": 1_000_000,
    "env": {"env_id": ENV_ID, "collector_env_num": 8, "evaluator_env_num": 8},
    "policy": {
        "model": {
            "latent_dim": 128,
            "hidden_dim": 256,
            "support_size": 60,  # values up to ~3e3 (they stay near 100 with discount 0.9)
            "reward_support_size": 30,  # one move merges at most a few hundred points
            "chance_space_size": 32,  # 16 cells x {2, 4}
            # Row / column encoders: a move slides whole lines. (Neighbouring-pair features,
            # pair_channels=32, learned the rewards no faster beside them and cost 20% more.)
            "line_channels": 64,
            "afterstate_reward": True,  # a move's merges are known before the tile spawns
        },
        # With the true 2048 model, 100 simulations score ~4.6k and 25 ~2.1k; but within 30
        # minutes the learned model's deeper steps mislead the search (a 30-minute checkpoint
        # scored 1.9k with 12-25 simulations, 1.7k with 50 and 1.6k with 100), so 25.
        "num_simulations": 25,
        # A short horizon (10 moves) keeps the value targets small and quick to learn; with
        # 0.99 the noisy early values swamped the rewards in the search.
        "discount_factor": 0.9,
        # Sample moves at T = 0.5 throughout: 2048's spawns explore for us, and play close to
        # the greedy evaluation reaches the bigger tiles the evaluation will see.
        "manual_temperature_decay": False,
        "fixed_temperature_value": 0.5,
        "td_steps": 10,
        # 3 unroll steps (not 5) and the stored search values as bootstrap (no target-network
        # inference per update) make updates cheaper; the learner, the bottleneck, makes ~1.5x
        # the updates in 30 minutes and scores higher (docs/performance.md).
        "num_unroll_steps": 3,
        "value_bootstrap": "search",
        "game_segment_length": 100,
        "collect_env_steps": 8,
        "batch_size": 128,
        # With --mode async the learner has a core to itself and the collector, on the other,
        # keeps up with half the data per update that sync mode used (0.25): more games.
        "replay_ratio": 0.125,
        # A random rotation or reflection of each sampled board: 8x the positions per game.
        "use_augmentation": True,
        "replay_buffer_size": 50_000,
        "learning_rate": 3e-3,
        # Cosine decay to 3e-4 over 36k updates (fitted to 30 minutes with 5 unroll steps; the
        # rest of the ~57k updates now run at 3e-4): at a constant 3e-3 the scores stopped
        # rising after ~15 minutes.
        "lr_schedule": "cosine",
        "lr_decay_iters": 36_000,
        "lr_final_ratio": 0.1,
        # The reward of a move is what the search plans with; at the default weight (1) it is
        # learned slowly beside the other losses (see docs/stochastic_muzero.md).
        "reward_loss_weight": 8.0,
        "target_update_freq": 200,
        "eval_freq": 1000,
        "n_evaluator_episode": 8,
        "stop_value": None,
    },
}


def make_policy(cfg: EasyDict, seed: int) -> StochasticMuZeroPolicy:
    """The 2048 model and policy of a built config (also used to load checkpoints)."""
    p = cfg.policy
    model = StochasticMuZeroMLP((16, 4, 4), 4, **p.model)
    return StochasticMuZeroPolicy(p, model, seed=seed, symmetries=symmetries())


def main(argv: list[str] | None = None) -> TrainContext:
    parser = recipe_parser(__doc__)
    parser.add_argument(
        "--max-wall-s", type=float, default=None, help="wall-clock budget in seconds"
    )
    args = parser.parse_args(argv)
    cfg = build_config(stochastic_muzero_config, GAME2048, args, parser)
    seed_everything(cfg.seed)
    torch.set_num_threads(1)

    collect_envs = BatchEnv.make(cfg.env.env_id, cfg.env.collector_env_num, seed=cfg.seed)
    eval_envs = BatchEnv.make(cfg.env.env_id, cfg.env.evaluator_env_num, seed=cfg.seed + 10_000)
    p = cfg.policy
    policy = make_policy(cfg, cfg.seed)
    buffer = ReplayBuffer.from_config(p, seed=cfg.seed)
    ctx = TrainContext()
    if args.resume:
        resume(args.resume, ctx, policy, buffer)

    task = Task(ctx, **engine_options(args, p))  # --mode async: backend, weight store
    task.use(interval_eval(p, acting_policy(policy, args, cfg.seed), eval_envs))
    task.use(env_collect(p, acting_policy(policy, args, cfg.seed), collect_envs))
    task.use(data_push(buffer, p.priority_eps, p.new_data_priority))
    task.use(calc_update_count(p))
    task.use(offpolicy_learn(p, policy, buffer))
    task.use(ckpt_saver(cfg.exp_dir, policy, buffer, save_freq=2000))
    task.use(tb_logger(cfg.exp_dir))
    task.use(progress_bar(cfg.max_env_step))
    task.use(termination(max_env_step=cfg.max_env_step))
    if args.max_wall_s is not None:
        task.use(time_limit(args.max_wall_s))

    start, history = time.perf_counter(), []
    task.on(Event.EVAL_DONE, lambda c, r: history.append(r | {"unix_time": time.time()}))
    ctx = task.run(mode=args.mode)
    print(
        result_line(
            ctx, algorithm="stochastic_muzero", seed=cfg.seed, start=start, eval_history=history
        )
    )
    return ctx


if __name__ == "__main__":
    main()
