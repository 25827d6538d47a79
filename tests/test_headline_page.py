"""bench/headline.py on a small stored run: the page names the command, the run, every codec in
the BD-rate tables and the restoring model's gain at each target, and the chart is written."""

import subprocess
import sys
from pathlib import Path

import pytest
import skimage.data
from PIL import Image

from restoration import cli

pytestmark = pytest.mark.slow  # the full suite (CI) runs it; the fast tier leaves it out

ROOT = Path(__file__).resolve().parent.parent


def test_headline_page_from_a_stored_run(tmp_path):
    folder = tmp_path / "crops"
    folder.mkdir()
    Image.fromarray(skimage.data.astronaut()[100:228, 150:278]).save(folder / "astro.png")
    Image.fromarray(skimage.data.coffee()[50:178, 200:328]).save(folder / "coffee.png")
    db = tmp_path / "run.sqlite"
    assert (
        cli.main(
            [
                "bench",
                str(folder),
                "--codecs",
                "jpeg,webp,png",
                "--bpp",
                "0.5,1,2",
                "--models",
                "bilateral",
                "--db",
                str(db),
            ]
        )
        == 0
    )
    out, png = tmp_path / "headline.md", tmp_path / "rd.png"
    done = subprocess.run(
        [
            sys.executable,
            "bench/headline.py",
            "--db",
            str(db),
            "--out",
            str(out),
            "--png",
            str(png),
            "--command",
            "the bench command",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "Made with `the bench command`" in page and "2 images, codecs jpeg, webp, png" in page
    assert "restored by `bilateral`" in page and "| 1 | " in page  # the run-time table lists run 1
    assert "| WebP | " in page  # BD-rate against the JPEG anchor
    gains = [line for line in page.splitlines() if line.startswith("| JPEG | ") and line.count("|") == 5]
    assert len(gains) == 1 and all(cell.strip()[0] in "+-—" for cell in gains[0].split("|")[2:-1])
    assert png.stat().st_size > 10_000
