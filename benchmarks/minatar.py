"""MinAtar benchmark: our MCTS recipes vs stable-baselines3 DQN and PPO at the same env-step budget.

    python benchmarks/minatar.py                                   # 5 games x 2 seeds, 100k steps
    python benchmarks/minatar.py --games MinAtar/Breakout-v1 --seeds 0 --env-steps 3000 \\
        --eval-episodes 4                                          # a smoke check (~minutes)
    python benchmarks/minatar.py --plot benchmarks/minatar_curves --markdown /tmp/minatar.md

For every game (``--games``, default the five ``MinAtar/<Game>-v1``, minimal action sets) and
seed (``--seeds``), each agent gets ``--env-steps`` environment steps (default 100,000, the
Atari-100k convention), one after the other (timed runs should not share the CPU):

- **ours** (``--algos``, default ``muzero efficientzero``): ``recipes/<algo>_minatar.py
  --env-id GAME --seed S --max-env-step N --exp-dir DIR`` in a subprocess (``--set`` is passed
  on); its ``RESULT`` line's evaluation history is the learning curve; then its *final*
  checkpoint plays ``--eval-episodes`` fresh-seed episodes (``pipezero eval --ckpt final``,
  seed = S + 20,000, episodes the run never saw).
- **SB3 DQN and PPO** (``pip install stable-baselines3``; not a dependency of pipezero) with the
  MinAtar paper's network (:class:`MinAtarCNN`: one 16-channel 3x3 convolution, stride 1, no
  padding, ReLU, flatten, a 128-unit fully connected layer with ReLU; linear heads on top), on
  the same environment (``make_minatar_env``: sticky actions 0.1, difficulty ramping, the
  10,000-step cap) and budget, with ``torch.set_num_threads(--torch-threads)`` (default 1, the
  recipes' own setting). Their learning curve is the training episodes' returns (Monitor),
  averaged in 20 bins of env steps. Their final evaluation plays the same fresh seeds
  (environment ``reset(seed=S + 20,000 + i)`` for episode ``i``) with the greedy/deterministic
  action.

  - **DQN**: the MinAtar paper's settings (Young & Tian 2019, ``examples/dqn.py`` of the MinAtar
    repository): replay buffer 100,000, batch 32, one update per env step, target network
    update every 1,000 steps, discount 0.99, centred RMSProp (lr 2.5e-4, alpha 0.95, eps 0.01),
    Huber loss, replay start 5,000 steps, epsilon 1.0 -> 0.1 linearly. The paper decays epsilon
    over its first 100k frames of a 5M-frame run; at a 100k budget that would explore for the
    whole run, so here it decays over the first 10% of the budget (replay start is capped at
    10% of the budget too, for small smoke budgets).
  - **PPO**: the rl-baselines3-zoo / CleanRL Atari settings: 8 environments, n_steps 128
    (1,024 transitions per rollout), 4 epochs of minibatch 256, lr 2.5e-4 decaying linearly to
    0, clip 0.1, GAE lambda 0.95, discount 0.99, entropy 0.01, value coefficient 0.5, gradient
    norm 0.5; policy and value share :class:`MinAtarCNN`. PPO finishes its last rollout, so it
    may take up to 1,023 steps more than the budget (the JSON reports the steps taken; our
    recipes likewise stop at the first collection past the budget).

- **random**: the uniform-random policy on the same ``--eval-episodes`` fresh seeds (the floor).

``--results DIR`` keeps every finished run as its own JSON file
(``<game>_s<seed>_<agent>_<steps>.json``, with the commit and the command that made it) and
skips runs already there, so the suite can be filled over several invocations (one game or seed
at a time) and the report is rebuilt from the stored runs; ``--rerun`` replaces them.

Prints one JSON object: per game, seed and agent the final mean and std of the return over the
evaluation episodes, env steps, wall seconds (training + final evaluation) and the curve; per
game and agent the median over seeds, and per game the ratio of each of our algorithms'
median to the better baseline median (the issue-18 target is >= 2). ``--plot DIR`` writes one
learning-curve PNG per game (matplotlib, when installed); ``--markdown FILE`` writes the results
table (for docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipezero.recipe.benchmarking import git_commit
from pipezero.recipe.run import FRESH_SEED_OFFSET  # imports no `minatar` (see sys.path below)

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `minatar` package: take the folder off.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
GAMES = [f"MinAtar/{g}-v1" for g in ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")]
OURS = ("muzero", "efficientzero", "gumbel_muzero", "rezero", "unizero")
BASELINES = ("dqn", "ppo")
CURVE_BINS = 20


# --------------------------------------------------------------------------- ours
def run_ours(
    algo: str,
    env_id: str,
    seed: int,
    env_steps: int,
    episodes: int,
    overrides: list[str],
    work_dir: Path,
) -> dict[str, Any]:
    """Train ``recipes/<algo>_minatar.py`` in a subprocess, then evaluate its final checkpoint.

    The training run's ``RESULT`` line is kept as ``RUN_DIR/result.json``: a run directory that
    holds it and ``final.pt`` (a run whose evaluation failed) is evaluated again, not retrained;
    one with checkpoints but no result (a run that was stopped) continues from its newest
    intact checkpoint (``--resume``: counters, weights and replay buffer).
    """
    from pipezero.checkpoint import latest_checkpoint
    from pipezero.recipe import read_result  # after the module took its folder off sys.path

    run_dir = (work_dir / f"{algo}_{env_id.split('/')[-1]}_s{seed}").resolve()
    kept = run_dir / "result.json"
    start = time.time()
    if kept.is_file() and (run_dir / "ckpt" / "final.pt").is_file():
        result = json.loads(kept.read_text())
        print(f"[minatar] {run_dir.name}: trained before, evaluating again", file=sys.stderr)
    else:
        cmd = [sys.executable, str(ROOT / "recipes" / f"{algo}_minatar.py"), "--env-id", env_id]
        cmd += ["--seed", str(seed), "--max-env-step", str(env_steps), "--exp-dir", str(run_dir)]
        if latest_checkpoint(run_dir) is not None:
            print(f"[minatar] {run_dir.name}: stopped before, resuming", file=sys.stderr)
            cmd += ["--resume", str(run_dir)]
        for item in overrides:
            cmd += ["--set", item]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        parsed = read_result(proc.stdout)
        if proc.returncode != 0 or parsed is None:
            raise RuntimeError(
                f"{algo} {env_id} seed {seed} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                f"stderr tail:\n{proc.stderr[-3000:]}"
            )
        result = parsed
        kept.write_text(json.dumps(result))
    train_s = time.time() - start
    eval_cmd = [sys.executable, "-m", "pipezero.cli", "eval", str(run_dir), "--ckpt", "final"]
    eval_cmd += ["--episodes", str(episodes), "--seed", str(seed + FRESH_SEED_OFFSET)]
    # Not from this checkout's root: there `-m pipezero.cli` would import the source tree's
    # `pipezero/`, which lacks the recipes an installed (non-editable) pipezero ships.
    ev = subprocess.run(eval_cmd, capture_output=True, text=True, cwd=run_dir)
    if ev.returncode != 0:
        raise RuntimeError(
            f"eval failed: {' '.join(eval_cmd)}\n{ev.stderr[-3000:]}\n"
            f"The trained run is kept in {run_dir}: pass --work-dir {run_dir.parent} to "
            "evaluate it again without retraining."
        )
    final = json.loads(ev.stdout.strip().splitlines()[-1])
    return {
        "final_mean": float(final["return_mean"]),
        "final_std": float(final["return_std"]),
        "episodes": int(final.get("num_episodes", episodes)),
        "env_steps": int(result["env_step"]),
        "train_iter": int(result["train_iter"]),
        "train_wall_s": round(train_s, 1),
        "wall_s": round(time.time() - start, 1),
        "curve_source": "evaluations (recipe eval history)",
        "curve": [[int(p["env_step"]), round(p["return_mean"], 3)] for p in result["eval_history"]],
    }


# --------------------------------------------------------------------------- baselines
def _sb3():
    try:
        import stable_baselines3
    except ImportError:
        raise SystemExit(
            "the DQN/PPO baselines need stable-baselines3: pip install stable-baselines3 "
            "(or run only our algorithms with --baselines)"
        ) from None
    return stable_baselines3


def minatar_cnn_class():
    """:class:`MinAtarCNN` (built lazily: stable-baselines3 is imported only when used)."""
    import torch
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class MinAtarCNN(BaseFeaturesExtractor):
        """The MinAtar paper's network body: conv 16x3x3 (stride 1) + ReLU + flatten + FC 128."""

        def __init__(self, observation_space, features_dim: int = 128) -> None:
            super().__init__(observation_space, features_dim)
            c, h, w = observation_space.shape
            self.body = torch.nn.Sequential(
                torch.nn.Conv2d(c, 16, kernel_size=3, stride=1),
                torch.nn.ReLU(),
                torch.nn.Flatten(),
                torch.nn.Linear(16 * (h - 2) * (w - 2), features_dim),
                torch.nn.ReLU(),
            )

        def forward(self, observations):
            return self.body(observations.float())

    return MinAtarCNN


def make_baseline(name: str, env_id: str, seed: int, env_steps: int):
    """An SB3 DQN or PPO model (module docstring settings) on ``env_id``."""
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.env_util import make_vec_env

    from pipezero.envs.minatar import make_minatar_env

    policy_kwargs: dict[str, Any] = {
        "features_extractor_class": minatar_cnn_class(),
        "net_arch": [],
    }
    if name == "dqn":
        env = make_vec_env(lambda: make_minatar_env(env_id), n_envs=1, seed=seed)
        policy_kwargs["optimizer_class"] = torch.optim.RMSprop
        policy_kwargs["optimizer_kwargs"] = {"alpha": 0.95, "eps": 0.01, "centered": True}
        return DQN(
            "MlpPolicy",
            env,
            learning_rate=2.5e-4,
            buffer_size=100_000,
            learning_starts=min(5_000, env_steps // 10),
            batch_size=32,
            gamma=0.99,
            train_freq=1,
            gradient_steps=1,
            target_update_interval=1_000,
            exploration_fraction=0.1,
            exploration_initial_eps=1.0,
            exploration_final_eps=0.1,
            policy_kwargs=policy_kwargs,
            seed=seed,
            device="cpu",
        )
    env = make_vec_env(lambda: make_minatar_env(env_id), n_envs=8, seed=seed)
    return PPO(
        "MlpPolicy",
        env,
        learning_rate=lambda progress: 2.5e-4 * progress,
        n_steps=128,
        batch_size=256,
        n_epochs=4,
        gamma=0.99,
        gae_lambda=0.95,
        clip_range=0.1,
        ent_coef=0.01,
        vf_coef=0.5,
        max_grad_norm=0.5,
        policy_kwargs=policy_kwargs,
        seed=seed,
        device="cpu",
    )


def binned_curve(episodes: list[tuple[int, float]], env_steps: int) -> list[list[float]]:
    """Training-episode returns averaged in :data:`CURVE_BINS` bins of env steps (the bin's end)."""
    width = max(1, -(-env_steps // CURVE_BINS))
    bins: dict[int, list[float]] = {}
    for step, ret in episodes:
        bins.setdefault(min((step - 1) // width, CURVE_BINS - 1), []).append(ret)
    return [
        [min((b + 1) * width, env_steps), round(float(np.mean(v)), 3)]
        for b, v in sorted(bins.items())
    ]


def play(env_id: str, act, episodes: int, seed: int) -> np.ndarray:
    """Returns of ``episodes`` episodes, episode ``i`` from ``reset(seed=seed + i)``."""
    from pipezero.envs.minatar import make_minatar_env

    env = make_minatar_env(env_id)
    returns = np.zeros(episodes)
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            returns[i] += float(reward)
            done = terminated or truncated
    env.close()
    return returns


def run_baseline(
    name: str, env_id: str, seed: int, env_steps: int, episodes: int
) -> dict[str, Any]:
    """Train SB3 ``name`` for ``env_steps`` steps, then play the fresh-seed episodes."""
    _sb3()
    from stable_baselines3.common.callbacks import BaseCallback

    seen: list[tuple[int, float]] = []

    class Returns(BaseCallback):
        def _on_step(self) -> bool:
            for k, info in enumerate(self.locals.get("infos", [])):
                if "episode" in info:  # Monitor: the finished episode's return
                    seen.append(
                        (
                            self.num_timesteps - len(self.locals["infos"]) + k + 1,
                            float(info["episode"]["r"]),
                        )
                    )
            return True

    start = time.time()
    model = make_baseline(name, env_id, seed, env_steps)
    model.learn(total_timesteps=env_steps, callback=Returns())
    train_s = time.time() - start
    returns = play(
        env_id,
        lambda obs: int(model.predict(obs, deterministic=True)[0]),
        episodes,
        seed + FRESH_SEED_OFFSET,
    )
    return {
        "final_mean": float(returns.mean()),
        "final_std": float(returns.std()),
        "episodes": episodes,
        "env_steps": int(model.num_timesteps),
        "train_wall_s": round(train_s, 1),
        "wall_s": round(time.time() - start, 1),
        "curve_source": "training episodes (Monitor), binned",
        "curve": binned_curve(seen, env_steps),
    }


def run_random(env_id: str, seed: int, episodes: int) -> dict[str, Any]:
    """The uniform-random policy on the fresh-seed episodes."""
    from pipezero.envs.minatar import make_minatar_env

    n = int(make_minatar_env(env_id).action_space.n)
    rng = np.random.default_rng(seed)
    start = time.time()
    returns = play(env_id, lambda obs: int(rng.integers(n)), episodes, seed + FRESH_SEED_OFFSET)
    return {
        "final_mean": float(returns.mean()),
        "final_std": float(returns.std()),
        "episodes": episodes,
        "env_steps": 0,
        "wall_s": round(time.time() - start, 1),
        "curve_source": None,
        "curve": [],
    }


# --------------------------------------------------------------------------- report
def run_file_name(game: str, seed: int, agent: str, env_steps: int) -> str:
    """Where ``--results`` keeps one run: ``Breakout_s0_muzero_100000.json``."""
    return f"{game.split('/')[-1].split('-')[0]}_s{seed}_{agent}_{env_steps}.json"


def summarise(runs: list[dict[str, Any]], games: list[str], ours: list[str]) -> dict[str, Any]:
    """Per game: each agent's median final mean over seeds, and ours / the better baseline."""
    out: dict[str, Any] = {}
    for game in games:
        agents = sorted({r["agent"] for r in runs if r["game"] == game})
        medians = {
            a: statistics.median(
                r["final_mean"] for r in runs if r["game"] == game and r["agent"] == a
            )
            for a in agents
        }
        base = [medians[b] for b in BASELINES if b in medians]
        best = max(base) if base else None
        ratios = {
            a: (round(medians[a] / best, 3) if best is not None and best > 0 else None)
            for a in ours
            if a in medians
        }
        out[game] = {
            "median_final_mean": {a: round(m, 3) for a, m in medians.items()},
            "best_baseline": best,
            "ratio_to_best_baseline": ratios,
        }
    return out


def markdown(report: dict[str, Any]) -> str:
    """The results table: per game and agent, median and per-seed final returns."""
    agents: list[str] = list(dict.fromkeys(r["agent"] for r in report["runs"]))
    lines = [
        f"MinAtar (`-v1`, sticky actions 0.1), {report['env_steps']:,} env steps per run, "
        f"final evaluation on {report['eval_episodes']} fresh-seed episodes; seeds "
        f"{report['seeds']}; `{report['command']}`",
        "",
        "| game | agent | median return | per seed (mean ± std) | env steps | wall s | "
        "ratio to best baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for game, summ in report["per_game"].items():
        for agent in agents:
            mine = [r for r in report["runs"] if r["game"] == game and r["agent"] == agent]
            if not mine:
                continue
            seeds = ", ".join(f"{r['final_mean']:.2f} ± {r['final_std']:.2f}" for r in mine)
            ratio = summ["ratio_to_best_baseline"].get(agent)
            lines.append(
                f"| {game.split('/')[-1]} | {agent} | {summ['median_final_mean'][agent]:.2f} | "
                f"{seeds} | {max(r['env_steps'] for r in mine):,} | "
                f"{statistics.median(r['wall_s'] for r in mine):.0f} | "
                f"{'' if ratio is None else f'{ratio:.2f}'} |"
            )
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], out_dir: Path) -> list[str]:
    """One PNG per game: each agent's curve per seed, random as a dashed line."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for game in report["per_game"]:
        fig, ax = plt.subplots(figsize=(7, 4))
        for run in (r for r in report["runs"] if r["game"] == game):
            if run["agent"] == "random":
                ax.axhline(
                    run["final_mean"],
                    color="grey",
                    linestyle="--",
                    linewidth=1,
                    label=f"random (seed {run['seed']})",
                )
            elif run["curve"]:
                xs, ys = zip(*run["curve"], strict=True)
                (line,) = ax.plot(xs, ys, marker=".", label=f"{run['agent']} seed {run['seed']}")
            if run["agent"] != "random":  # the final evaluation, at the run's last env step
                ax.plot(
                    [run["env_steps"]],
                    [run["final_mean"]],
                    marker="x",
                    markersize=9,
                    color=line.get_color() if run["curve"] else None,
                )
        ax.set_title(
            f"{game}: ours = evaluations, SB3 = training episodes, x = final eval", fontsize=9
        )
        ax.set_xlabel("env steps")
        ax.set_ylabel("return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"minatar_{game.split('/')[-1].split('-')[0].lower()}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))
    return written


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", default=GAMES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--env-steps", type=int, default=100_000)
    parser.add_argument("--eval-episodes", type=int, default=32)
    parser.add_argument("--algos", nargs="*", choices=OURS, default=["muzero", "efficientzero"])
    parser.add_argument("--baselines", nargs="*", choices=BASELINES, default=list(BASELINES))
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="passed to our recipes"
    )
    parser.add_argument("--torch-threads", type=int, default=1, help="for the SB3 baselines")
    parser.add_argument(
        "--results", type=Path, default=None, metavar="DIR", help="keep and reuse finished runs"
    )
    parser.add_argument("--rerun", action="store_true", help="with --results: replace stored runs")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="run directories of ours (default: RESULTS/runs with --results, else temporary)",
    )
    parser.add_argument("--plot", type=Path, default=None, metavar="DIR")
    parser.add_argument("--markdown", type=Path, default=None, metavar="FILE")
    args = parser.parse_args(argv)
    if args.baselines:
        _sb3()
    import torch

    torch.set_num_threads(args.torch_threads)

    runs: list[dict[str, Any]] = []
    begin = time.time()
    command = "python benchmarks/minatar.py " + " ".join(sys.argv[1:] if argv is None else argv)
    commit = git_commit(ROOT)  # the code this invocation loaded, whatever the tree becomes later
    with tempfile.TemporaryDirectory(prefix="pipezero-minatar-") as tmp:
        work_dir = args.work_dir or (args.results / "runs" if args.results else Path(tmp))
        for game in args.games:
            for seed in args.seeds:
                agents = [(a, "ours") for a in args.algos] + [(b, "sb3") for b in args.baselines]
                for agent, kind in [*agents, ("random", "reference")]:
                    stored = None
                    if args.results is not None:
                        stored = args.results / run_file_name(game, seed, agent, args.env_steps)
                        if stored.exists() and not args.rerun:
                            runs.append(json.loads(stored.read_text()))
                            print(
                                f"{game} seed {seed} {agent}: stored in {stored}", file=sys.stderr
                            )
                            continue
                    if kind == "ours":
                        res = run_ours(
                            agent,
                            game,
                            seed,
                            args.env_steps,
                            args.eval_episodes,
                            args.set,
                            work_dir,
                        )
                    elif kind == "sb3":
                        res = run_baseline(agent, game, seed, args.env_steps, args.eval_episodes)
                    else:
                        res = run_random(game, seed, args.eval_episodes)
                    run = {"game": game, "seed": seed, "agent": agent, "kind": kind} | res
                    if stored is not None:
                        stored.parent.mkdir(parents=True, exist_ok=True)
                        provenance = {"commit": commit, "command": command}
                        stored.write_text(json.dumps(run | provenance, indent=1) + "\n")
                    runs.append(run)
                    print(
                        f"{game} seed {seed} {agent}: {res['final_mean']:.2f} ± "
                        f"{res['final_std']:.2f} ({res['wall_s']:.0f} s)",
                        file=sys.stderr,
                    )
    report: dict[str, Any] = {
        "command": command,
        "env_steps": args.env_steps,
        "eval_episodes": args.eval_episodes,
        "seeds": args.seeds,
        "overrides": args.set,
        "cpu_count": os.cpu_count(),
        "total_wall_s": None,
        "runs": runs,
        "per_game": summarise(runs, args.games, args.algos),
    }
    report["total_wall_s"] = round(time.time() - begin, 1)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(report))
        report["markdown"] = str(args.markdown)
    if args.plot is not None:
        report["plots"] = plot(report, args.plot)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
