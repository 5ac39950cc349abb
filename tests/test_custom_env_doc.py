"""The example of docs/custom_env.md runs as written and its agent learns the corridor."""

import re
from pathlib import Path

import gymnasium as gym

DOC = Path(__file__).resolve().parents[1] / "docs" / "custom_env.md"


def test_custom_environment_example_learns(tmp_path, monkeypatch, capsys):
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
                  if "gym.register" in b]  # fmt: skip
    assert len(example.strip().splitlines()) <= 30
    monkeypatch.chdir(tmp_path)  # the run directory goes under runs/ here
    namespace: dict = {}
    try:
        exec(compile(example, str(DOC), "exec"), namespace)
    finally:
        gym.registry.pop("Corridor-v0", None)
    ctx = namespace["ctx"]
    assert ctx.finish_reason == "stop_value reached", ctx.finish_reason
    assert ctx.best_eval_return >= 0.9
    assert list((tmp_path / "runs" / "muzero_cartpole").glob("*/config.json"))
