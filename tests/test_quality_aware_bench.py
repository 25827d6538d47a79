"""bench/quality_aware.py end to end on two small images: every run is a column, the told model
improves a q10 JPEG, and ``--reuse`` keeps an earlier run's columns instead of running them again."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def run_bench(tmp_path, *extra):
    out, jsonl = tmp_path / "report.md", tmp_path / "rows.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "bench/quality_aware.py",
            "--data",
            str(tmp_path / "images"),
            "--qualities",
            "10",
            "--other",
            "",
            "--out",
            str(out),
            "--jsonl",
            str(jsonl),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return out.read_text(), [json.loads(line) for line in jsonl.read_text().splitlines()]


@pytest.mark.slow
def test_columns_gain_and_reuse(tmp_path):
    (tmp_path / "images").mkdir()
    y, x = np.mgrid[0:96, 0:128]
    for k in range(2):  # smooth shading with sharp edges: what JPEG at q10 blocks and rings
        im = np.stack([(x * 2 + k * 40) % 256, 64 + (y > 40 + k * 8) * 128, (x + y) % 256], -1).astype(np.uint8)
        Image.fromarray(im).save(tmp_path / "images" / f"im{k}.png")
    report, rows = run_bench(tmp_path, "--self-ensemble")
    assert "on images" in report and "(2 images;" in report
    for label in ("codecs told", "codecs file", "codecs blind", "codecs told +SE"):
        assert f" `{label}` |" in report
    (row,) = rows
    assert row["what"] == "jpeg q10" and row["codecs told"] > row["input"] + 0.5
    assert abs(row["codecs told +SE"] - row["codecs told"]) < 1.0
    _, rows_again = run_bench(tmp_path, "--self-ensemble", "--reuse", str(tmp_path / "rows.jsonl"))
    assert rows_again[-1] == row  # every column taken from the earlier run, none measured again
