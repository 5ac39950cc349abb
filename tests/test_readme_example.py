"""The pipeline example in README.md builds a valid chain and runs with real small parts."""

import re
from pathlib import Path

from pipezero.data import ReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.model import MuZeroMLP
from pipezero.policy import MuZeroPolicy, muzero_config

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (example,) = [b for b in blocks if "def build(" in b]
    return example


def test_readme_pipeline_example_runs(tmp_path):
    namespace: dict = {}
    exec(compile(readme_example(), str(README), "exec"), namespace)
    cfg = muzero_config(
        {
            "exp_dir": str(tmp_path),
            "max_env_step": 64,
            "env": {"env_id": "CartPole-v1", "collector_env_num": 2, "evaluator_env_num": 1},
            "policy": {
                "num_simulations": 2,
                "batch_size": 4,
                "collect_env_steps": 32,
                "n_evaluator_episode": 1,
                "model": {"latent_dim": 8, "hidden_dim": 8, "support_size": 5},
            },
        }
    )
    collect_envs = BatchEnv.make(cfg.env.env_id, 2, seed=0)
    eval_envs = BatchEnv.make(cfg.env.env_id, 1, seed=1)
    model = MuZeroMLP(
        collect_envs.observation_shape, collect_envs.action_space_size, **cfg.policy.model
    )
    policy = MuZeroPolicy(cfg.policy, model, seed=0)
    p = cfg.policy
    buffer = ReplayBuffer(p.replay_buffer_size, p.num_unroll_steps, p.td_steps, seed=0)
    task = namespace["build"](cfg, policy, buffer, collect_envs, eval_envs)
    ctx = task.run()
    assert ctx.finish_reason.startswith("max_env_step reached")
    assert ctx.env_step >= 64
    assert (tmp_path / "ckpt" / "final.pt").is_file()
