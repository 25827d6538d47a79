"""bench/kodak_codecs.py end to end on two small images: the report's tables name every codec,
our pipeline writes the same bytes as raw Pillow, and the averaged curves rise with quality."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_sweep_report_and_summary(tmp_path):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:96]
    for k in range(2):
        base = np.stack([(x * 2 + k * 40) % 256, (y * 3) % 256, (x + y) % 256], -1)
        noisy = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(tmp_path / f"im{k}.png")
    out, jsonl = tmp_path / "report.md", tmp_path / "rows.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "bench/kodak_codecs.py",
            "--data",
            str(tmp_path),
            "--codecs",
            "png,jpeg,webp",
            "--out",
            str(out),
            "--jsonl",
            str(jsonl),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = out.read_text()
    assert "--data" in report and "2 images (96x64)" in report and "38 settings per image" in report
    for label in ("PNG", "JPEG", "WebP"):
        assert report.count(f"| {label} |") >= 2  # the rate table and the time table
    *rows, summary = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(rows) == 2 * 38 and summary["kind"] == "summary" and summary["images"] == 2
    assert summary["byte_mismatches"] == 0
    jpeg = summary["curves"]["jpeg"]
    assert len(jpeg) == 21 and all(p["images"] == 2 for p in jpeg)
    assert jpeg[0]["bpp"] < jpeg[-1]["bpp"] and jpeg[0]["psnr"] + 5 < jpeg[-1]["psnr"]
