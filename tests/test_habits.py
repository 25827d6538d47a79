"""Habits the tree keeps: imports at module level, the formatter's layout, the linter's rules."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OWN = ("restoration", "ui")
MAX_FUNCTION_LEVEL_OWN_IMPORTS = 15  # each breaks a real import cycle or defers a heavy load


def tree_files() -> list[Path]:
    return sorted([ROOT / "app.py", *(p for top in OWN for p in (ROOT / top).rglob("*.py"))])


def own_function_level_imports(paths: list[Path]) -> list[str]:
    """Every import of our own modules inside a function or class, as "path:line module"."""
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom):
                    names = [("." * inner.level) + (inner.module or "")]
                elif isinstance(inner, ast.Import):
                    names = [alias.name for alias in inner.names]
                else:
                    continue
                for name in names:
                    if name.startswith(".") or name.split(".")[0] in OWN:
                        found.append(f"{path.name}:{inner.lineno} {name}")
    return sorted(set(found))


def test_own_modules_are_imported_at_module_level():
    found = own_function_level_imports(tree_files())
    assert len(found) <= MAX_FUNCTION_LEVEL_OWN_IMPORTS, "\n".join(found)


def test_counter_sees_function_level_imports_only(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import numpy\nfrom restoration.core import image\n\n\n"
        "def f():\n    import torch\n    from restoration.codecs import reader\n    from . import sibling\n"
    )
    assert own_function_level_imports([module]) == ["m.py:7 restoration.codecs", "m.py:8 ."]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is installed by requirements.txt")
@pytest.mark.parametrize("command", [["ruff", "check", "--quiet", "."], ["ruff", "format", "--check", "--quiet", "."]])
def test_ruff(command):
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
