"""The one recipe shape (issue 17), checked on every shipped recipe file: a docstring, a
``CONFIG``, a ``build``, at most 60 lines unless the docstring says why, and a duplicate-code
scan of ``recipes/`` that keeps copied code out.

The scan works like pylint's ``duplicate-code`` check: after dropping blank lines, comments,
docstrings and imports, a *copied block* is a run of at least ``MIN_BLOCK`` consecutive lines
that appears, line for line, in another recipe. At most ``MAX_COPIED_SHARE`` of all recipe
lines may lie in such blocks. Single lines that happen to match across recipes (the two-line
``if __name__ == "__main__":`` guard each script needs, one ``task.use(...)`` step, a config
value) are not copies and are not counted (issue 17's line count,
``../shared/tools/recipe_overlap.py``, counts them; see docs/architecture.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipezero.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
FILES = sorted(p for p in RECIPES.glob("*.py") if p.name != "__init__.py")
MIN_BLOCK = 4  # pylint's min-similarity-lines default
MAX_COPIED_SHARE = 0.15  # issue 17
MAX_LINES = 60


def code_lines(source: str) -> list[str]:
    """The stripped lines of ``source`` the scan compares: no blanks, comments, docstrings or
    imports."""
    tree = ast.parse(source)
    dropped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                dropped.update(range(first.lineno, first.end_lineno + 1))
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            dropped.update(range(node.lineno, node.end_lineno + 1))
    lines = []
    for number, line in enumerate(source.splitlines(), 1):
        text = line.strip()
        if text and not text.startswith("#") and number not in dropped:
            lines.append(text)
    return lines


def copied_lines(files: dict[str, list[str]], min_block: int = MIN_BLOCK) -> dict[str, set[int]]:
    """Per file, the indices of its lines that lie in a block of ``min_block`` consecutive
    lines found in another file."""
    windows: dict[tuple[str, ...], set[str]] = {}
    for name, lines in files.items():
        for i in range(len(lines) - min_block + 1):
            windows.setdefault(tuple(lines[i : i + min_block]), set()).add(name)
    copied: dict[str, set[int]] = {name: set() for name in files}
    for name, lines in files.items():
        for i in range(len(lines) - min_block + 1):
            if len(windows[tuple(lines[i : i + min_block])]) > 1:
                copied[name].update(range(i, i + min_block))
    return copied


def test_the_scan_finds_a_copied_block_and_ignores_single_matching_lines():
    chain = ["task.use(a(p))", "task.use(b(p))", "task.use(c(p))", "return task"]
    files = {
        "x": ["CONFIG = 1", *chain, "main(x)"],
        "y": ["CONFIG = 2", *chain, "main(y)"],
        "z": ["CONFIG = 3", "task.use(a(p))", "other = 1", "return task", "main(__file__)"],
    }
    copied = copied_lines(files)
    assert copied == {"x": {1, 2, 3, 4}, "y": {1, 2, 3, 4}, "z": set()}
    source = '"""Doc."""\nimport os\n\n# a comment\nCONFIG = {}  # kept\n'
    assert code_lines(source) == ["CONFIG = {}  # kept"]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_recipe_has_the_shape(path):
    source = path.read_text()
    doc = ast.get_docstring(ast.parse(source))
    assert doc, f"{path.name}: no module docstring (the one-line description `pipezero list` shows)"
    module = load_recipe(path.stem)  # the installed pipezero.recipes.<name>
    assert isinstance(getattr(module, "CONFIG", None), dict), f"{path.name}: no CONFIG mapping"
    assert callable(getattr(module, "build", None)), f"{path.name}: no build(run) -> Task"
    length = len(source.splitlines())
    assert length <= MAX_LINES or f"Over {MAX_LINES} lines" in doc, (
        f"{path.name} has {length} lines: split it, or say in its docstring why "
        f"('Over {MAX_LINES} lines as ...')"
    )


def test_recipes_copy_at_most_15_percent_of_their_lines():
    files = {p.name: code_lines(p.read_text()) for p in FILES}
    copied = copied_lines(files)
    total = sum(len(lines) for lines in files.values())
    share = sum(len(c) for c in copied.values()) / total
    blocks = {name: sorted(c) for name, c in copied.items() if c}
    assert share <= MAX_COPIED_SHARE, (
        f"{share:.1%} of the {total} recipe lines lie in blocks of >= {MIN_BLOCK} lines copied "
        f"from another recipe ({blocks}); import a sibling's build or move the shared part "
        "into pipezero/recipe/"
    )
