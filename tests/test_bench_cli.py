"""CLI contract of `bench` and `report`: summary on stdout, files written, rows reused; user
errors exit 2 with one 'error:' line."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import skimage.data
from PIL import Image

from restoration import cli


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("Crops")
    Image.fromarray(skimage.data.astronaut()[100:276, 150:326]).save(folder / "astro.png")
    Image.fromarray(skimage.data.coffee()[50:226, 200:376]).save(folder / "coffee.png")
    return folder


def run_cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TORCH_HOME": str(cwd / "torch-home"), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "restoration", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_bench_writes_db_csv_report_and_reuses_rows(crops, tmp_path, capsys):
    db = tmp_path / "b.sqlite"
    args = [
        "bench",
        str(crops),
        "--codecs",
        "jpeg,png",
        "--qualities",
        "20,60",
        "--models",
        "bilateral",
        "--db",
        str(db),
        "--workers",
        "1",
    ]
    assert cli.main(args + ["--csv", str(tmp_path / "rows.csv"), "--report", str(tmp_path / "r.html"), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["rows"], first["computed"], first["reused"]) == (2 * (2 + 2 + 1), 10, 0)
    with open(first["csv"]) as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["image"], r["dataset"]) for r in rows} == {("astro", crops.name), ("coffee", crops.name)}
    assert sorted({r["model"] for r in rows}) == ["", "bilateral"]
    assert "<script src=" not in Path(first["report"]).read_text()

    assert cli.main(args) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("run 2: 10 rows, 0 computed, 10 reused")

    assert (
        cli.main(
            [
                "report",
                "--db",
                str(db),
                "--run",
                "1",
                "2",
                "--out",
                str(tmp_path / "both.html"),
                "--json",
                str(tmp_path / "both.json"),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines() == [
        f"html: {tmp_path / 'both.html'}",
        f"json: {tmp_path / 'both.json'}",
    ]
    body = json.loads((tmp_path / "both.json").read_text())
    assert [r["id"] for r in body["runs"]] == [1, 2] and len(body["rows"]) == 20


@pytest.mark.slow
def test_bench_end_to_end_with_progress(crops, tmp_path):
    done = run_cli(
        "bench",
        crops / "astro.png",
        "--codecs",
        "webp",
        "--bpp",
        "0.5,1",
        "--sr-scale",
        "2",
        "--db",
        "x.sqlite",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("run 1: 3 rows, 3 computed, 0 reused")
    assert "task" in done.stderr  # tqdm's bar
    report = run_cli("report", "--db", "x.sqlite", "--out", "out/r.html", "--csv", "out/r.csv", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "out" / "r.html").stat().st_size > 100_000  # plotly.js inlined
    with open(tmp_path / "out" / "r.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["setting"] for r in rows) == ["<=0.5 bpp", "<=1 bpp", "x2"]
    assert all(float(r["bpp"]) <= float(r["target_bpp"]) for r in rows if r["kind"] == "codec")


@pytest.mark.parametrize(
    "args, message",
    [
        (["bench", "{crops}", "--codecs", "nosuch"], "unknown codec 'nosuch'"),
        (["bench", "{crops}", "--qualities", "10", "--bpp", "0.5"], "not allowed with argument"),
        (["bench", "--codecs", "jpeg"], "no images"),
        (["bench", "{crops}", "--models", "nosuch"], "unknown model 'nosuch'"),
        (["bench", "{crops}", "--sr-models", "lanczos-x2"], "need a scale"),
        (["bench", "{crops}", "--executor", "spark://h:1"], "unknown executor"),
        (["report", "--db", "missing.sqlite", "--out", "r.html"], "no such database"),
    ],
)
def test_user_errors_exit_2_with_one_line(crops, tmp_path, args, message):
    done = run_cli(*[a.format(crops=crops) for a in args], cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr


def test_report_of_an_unknown_run(crops, tmp_path, capsys):
    db = tmp_path / "b.sqlite"
    assert cli.main(["bench", str(crops / "astro.png"), "--codecs", "png", "--db", str(db), "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["report", "--db", str(db), "--run", "9", "--out", str(tmp_path / "r.html")]) == 2
    assert capsys.readouterr().err.strip() == f"error: no run 9 in {db.name}"  # the file, never a server's folders
