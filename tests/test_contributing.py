"""CONTRIBUTING.md stays true: it names every module in its package's block, each "Add a ..."
recipe lists the files it touches (and they exist), and what a recipe says suffices does: a metric
added to the table alone reaches every list, each tab has its module in the app-facing layer, and
each of our networks has the notebook that trains it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_cli

import ui
from restoration import metrics as metriclib
from restoration.benchmark import dashboards, provenance
from restoration.lab import codecs as codecs_tab
from restoration.models import restorers
from restoration.pipelines import evaluate

ROOT = Path(__file__).resolve().parent.parent
TEXT = (ROOT / "CONTRIBUTING.md").read_text()
PACKAGES = [ROOT / "ui", ROOT / "bench", *(p for p in (ROOT / "restoration").iterdir() if (p / "__init__.py").exists())]


def tree_blocks() -> dict[str, str]:
    """The "Where things are" tree, as each folder's text: from its line ("  core/  ...") to the
    next folder's line at the same or a shallower depth."""
    section = TEXT.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    blocks, current = {}, None
    for line in section.splitlines():
        match = re.match(r"^ {4}( *)([a-z_]+)/\s", line + " ")
        if match:
            current = match.group(2)
            blocks[current] = ""
        if current:
            blocks[current] += line + "\n"
    return blocks


def test_every_module_is_named_in_its_package_block():
    blocks = tree_blocks()
    missing = []
    for package in PACKAGES:
        block = blocks.get(package.name, "")
        for module in sorted(package.glob("*.py")):
            if module.name != "__init__.py" and not re.search(rf"\b{re.escape(module.name)}\b", block):
                missing.append(str(module.relative_to(ROOT)))
    assert not missing, f"CONTRIBUTING.md does not name: {missing}"


def test_the_tree_parser_finds_the_packages():
    blocks = tree_blocks()
    assert {"core", "codecs", "metrics", "models", "pipelines", "lab", "ui", "bench"} <= set(blocks)
    assert "reader.py" in blocks["codecs"] and "reader.py" not in blocks["core"]


def recipes() -> dict[str, tuple[int, list[str]]]:
    """Each "## Add a ..." section's stated file count and the paths it lists."""
    found = {}
    for section in TEXT.split("\n## ")[1:]:
        title, body = section.split("\n", 1)
        if title.startswith("Add a"):
            count = re.search(r"^Files: (\d+)$", body, re.M)
            paths = re.findall(r"^- `([^`]+)`", body, re.M)
            found[title] = (int(count.group(1)) if count else -1, paths)
    return found


def test_each_recipe_lists_as_many_existing_files_as_it_says():
    found = recipes()
    assert set(found) == {"Add a codec", "Add a restorer", "Add a metric", "Add a tab"}
    for title, (count, paths) in found.items():
        assert count == len(paths), f"{title}: says {count} files, lists {len(paths)}"
        for path in paths:
            pattern = re.sub(r"<[a-z]+>", "*", path)
            assert list(ROOT.glob(pattern)), f"{title}: {path} matches no file"


@pytest.fixture
def toy_metric(monkeypatch):
    """A metric added the way the recipe says: one entry in the table."""

    def mean_difference(sample) -> float:
        return float(np.abs(sample.reference.astype(np.int16) - sample.distorted).mean())

    metric = metriclib.Metric(
        "toy_diff", "Toy mean difference", "levels", True, 0.0, 255.0, mean_difference, "fidelity", "toy lv",
        bd=True, packages=("toy-metric-lib",),
    )  # fmt: skip
    monkeypatch.setitem(metriclib.METRICS, metric.name, metric)
    return metric


def test_a_metric_in_the_table_reaches_every_list(toy_metric, capsys, astro128):
    code, out, _ = run_cli(capsys, "metrics", "--json")
    assert code == 0 and toy_metric.name in [json.loads(line)["name"] for line in out.splitlines()]
    assert "toy lv" in codecs_tab.table_headers()
    result = evaluate.compress(astro128, "jpeg", {"quality": 30})
    assert result.metrics[toy_metric.name] > 0
    assert toy_metric.name in metriclib.bd_names()
    rows = [
        {"codec": codec, "setting": f"q={bpp}", "bpp": bpp, "psnr": 30 + bpp, toy_metric.name: 9 - bpp}
        for codec in ("jpeg", "webp")
        for bpp in (0.5, 1.0, 1.5, 2.0)
    ]
    assert toy_metric.name in dashboards.bd_metrics(dashboards.curves(rows))
    assert "toy-metric-lib" in provenance.distributions()


def test_each_tab_has_its_module_in_the_app_facing_layer():
    journeys = (ROOT / "tests" / "test_browser_tabs.py").read_text()
    for title, build in ui.TABS:
        name = build.__module__.removeprefix("ui.").removesuffix("_tab")
        assert (ROOT / "restoration" / "lab" / f"{name}.py").exists(), f"{title}: no restoration/lab/{name}.py"
        assert title in journeys, f"{title}: no browser journey"


def test_each_of_our_networks_has_its_training_notebook():
    notebooks = "".join(p.read_text() for p in (ROOT / "notebooks").glob("*.ipynb"))
    for key in restorers.OWN:
        assert f'model_id=\\"{key}\\"' in notebooks or f"model_id='{key}'" in notebooks, key
