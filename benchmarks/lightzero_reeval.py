"""Re-evaluate a LightZero 0.2.0 CartPole run's checkpoint on fresh episodes (anchor side).

Run with the LightZero anchor venv's python (``../shared/anchors/setup_lightzero.sh``), not
pipezero's, from the root directory (LightZero writes under ``"./" + exp_name``);
``benchmarks/cartpole_vs_lightzero.py`` calls it:

    cd / && $LZ_VENV/bin/python PATH/benchmarks/lightzero_reeval.py --exp-dir RUN --seed 20000

It plays ``RUN/ckpt/ckpt_best.pth.tar`` (LightZero saves it at each new best evaluation, so
after a stop at the target it holds the stopping evaluation's weights) with LightZero's own
evaluator and its preset's configuration, one CPU thread, on ``--episodes`` environments at
once, each seeded once (``seed + i``) and played for one episode: LightZero's evaluator reseeds
an environment to the same seed on every reset, so fewer environments than episodes would
replay the same starts. Prints one JSON line: the mean, std, min and max return.
"""

import argparse
import json
import os
import tempfile

import numpy as np
import torch

torch.set_num_threads(1)
ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--exp-dir", required=True, help="the LightZero run directory")
ap.add_argument("--algo", choices=["muzero", "efficientzero"], default="muzero")
ap.add_argument("--ckpt", default="ckpt_best.pth.tar", help="a file under RUN/ckpt")
ap.add_argument("--episodes", type=int, default=32)
ap.add_argument("--seed", type=int, default=20_000)
a = ap.parse_args()
if a.algo == "muzero":
    from zoo.classic_control.cartpole.config.cartpole_muzero_config import (
        create_config,
        main_config,
    )
else:
    from zoo.classic_control.cartpole.config.cartpole_efficientzero_config import (
        create_config,
        main_config,
    )
from lzero.entry import eval_muzero  # noqa: E402 (after torch's thread setting)

ckpt = os.path.join(os.path.abspath(a.exp_dir), "ckpt", a.ckpt)
if not os.path.isfile(ckpt):
    raise SystemExit(f"lightzero_reeval: no checkpoint {ckpt}; pass --ckpt (a file in RUN/ckpt)")
main_config.policy.cuda = False
main_config.env.stop_value = float("inf")  # play every episode; no early stop
main_config.env.evaluator_env_num = a.episodes
main_config.env.n_evaluator_episode = a.episodes
main_config.policy.evaluator_env_num = a.episodes
create_config.env_manager.type = "base"
# LightZero logs (and saves the played weights) under "./" + exp_name: run from "/" so that this
# absolute path is where they go, removed at the end. It must not exist yet: LightZero writes
# beside an existing exp_name under a time-stamped name instead.
with tempfile.TemporaryDirectory(prefix="lz_reeval_") as scratch:
    main_config.exp_name = os.path.join(scratch, "run")
    _, returns = eval_muzero([main_config, create_config], seed=a.seed, model_path=ckpt)
returns = np.asarray(returns, dtype=float).reshape(-1)
print(
    json.dumps(
        {
            "system": "lightzero-0.2.0",
            "ckpt": ckpt,
            "seed": a.seed,
            "num_episodes": int(returns.size),
            "return_mean": float(returns.mean()),
            "return_std": float(returns.std()),
            "return_min": float(returns.min()),
            "return_max": float(returns.max()),
        }
    )
)
