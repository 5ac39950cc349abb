"""The shipped recipes: finding, loading and describing them."""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

#: The package the recipes are shipped in (``recipes/`` in the repository).
RECIPES_PACKAGE = "pipezero.recipes"


def recipes_dir() -> Path:
    """The directory the recipes are installed in."""
    spec = importlib.util.find_spec(RECIPES_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{RECIPES_PACKAGE} is not installed; reinstall pipezero")
    return Path(next(iter(spec.submodule_search_locations)))


def recipe_names() -> list[str]:
    """The names of the shipped recipes, sorted."""
    return sorted(p.stem for p in recipes_dir().glob("*.py") if not p.name.startswith("_"))


def load_recipe(name_or_path: str | Path) -> ModuleType:
    """A recipe module by name (``muzero_cartpole``) or by the path of a ``.py`` file (a
    shipped recipe's path imports it by name; any other file is loaded as it is).

    Raises:
        ValueError: no such recipe (the closest names are suggested).
    """
    text = str(name_or_path)
    if text.endswith(".py"):
        path = Path(text).resolve()
        if path.parent == recipes_dir().resolve():
            text = path.stem
        else:
            if not path.is_file():
                raise ValueError(f"recipe file {path} does not exist")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
            return _checked(module)
    names = recipe_names()
    if text not in names:
        close = difflib.get_close_matches(text, names, n=3, cutoff=0.4)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"unknown recipe {text!r}{hint} (`pipezero list` shows them all)")
    return _checked(importlib.import_module(f"{RECIPES_PACKAGE}.{text}"))


def _checked(module: ModuleType) -> ModuleType:
    missing = [a for a in ("CONFIG", "build") if not hasattr(module, a)]
    if missing:
        raise ValueError(
            f"{module.__name__} is not a recipe: it lacks {', '.join(missing)} (a recipe "
            f"defines CONFIG and build(run) -> Task; see docs/middleware.md)"
        )
    return module


def recipe_name(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def algorithm_of(module: ModuleType) -> str:
    """The recipe's ``ALGORITHM``, by default its name without the environment part
    (``gumbel_muzero_cartpole`` -> ``gumbel_muzero``)."""
    return getattr(module, "ALGORITHM", recipe_name(module).rsplit("_", 1)[0])


def describe(name: str) -> str:
    """The first line of a shipped recipe's docstring (read without importing it)."""
    doc = ast.get_docstring(ast.parse((recipes_dir() / f"{name}.py").read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
