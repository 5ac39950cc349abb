"""The engine stays RL-agnostic, and the runnable example of docs/middleware.md runs."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pipezero.framework

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORK = Path(pipezero.framework.__file__).parent


def test_framework_imports_no_torch_and_no_other_pipezero_package() -> None:
    for path in FRAMEWORK.glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                assert node.level <= 1, f"{path.name} imports outside the framework"
                names = [module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(("torch", "numpy")), f"{path.name} imports {name}"
                if name.startswith("pipezero"):
                    assert name.startswith("pipezero.framework"), f"{path.name} imports {name}"


def test_importing_the_framework_does_not_load_torch() -> None:
    code = "import sys, pipezero.framework; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _doc_example() -> str:
    text = (ROOT / "docs" / "middleware.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    runnable = [b for b in blocks if "def main(mode" in b]
    assert len(runnable) == 1, "docs/middleware.md should hold one complete script"
    return runnable[0]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_doc_example_runs(mode: str, tmp_path: Path) -> None:
    script = tmp_path / "toy_mean.py"
    script.write_text(_doc_example())
    out = subprocess.run(
        [sys.executable, str(script), mode], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert re.search(rf"^{mode}: converged after \d+ updates", out.stdout, flags=re.M), out.stdout
    assert "saved {'reason': 'converged'" in out.stdout
