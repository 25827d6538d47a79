"""The package's layout rules: the import contracts hold, and the light layers load
without torch, so the CLI's codec commands and the metrics start fast."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed")
def test_import_contracts_hold():
    proc = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "0 broken" in proc.stdout


def test_light_layers_load_without_torch():
    code = (
        "import sys\n"
        "import restoration.codecs, restoration.metrics, restoration.core.image, restoration.degrade\n"
        "import restoration.codecs.jpeg_quality, restoration.metrics.bdrate\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'gradio') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_package_has_no_gradio_import():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "restoration").rglob("*.py")
        if "import gradio" in p.read_text() or "from gradio" in p.read_text()
    ]
    assert offenders == []


def test_no_import_cycle_between_modules():
    """No module reaches itself through imports (function-level ones included), so no import
    has to hide inside a function or at the bottom of a file to break a cycle."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("restoration")
    modules = set(graph.modules)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in modules}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        path.append(module)
        for target in edges[module]:
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path)
        path.pop()
        state[module] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module, [])
    assert cycles == []
