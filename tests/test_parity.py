"""One request, every door, one answer: each user action (compare codecs, sweep, degrade, restore,
upscale, batch) run through the CLI and through the lab function its tab calls gives the same
files and the same numbers (times aside). Both call the one action in ``restoration.pipelines``."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_cli
from PIL import Image

from restoration import metrics as metriclib
from restoration.core import image as imagelib
from restoration.lab import batch as lab_batch
from restoration.lab import codecs as lab_codecs
from restoration.lab import restore as lab_restore
from restoration.lab import sr as lab_sr

TIMES = {name for name, metric in metriclib.METRICS.items() if metric.kind == "time"} | {"seconds"}
DOOR_KEYS = {"image", "file", "task", "from_hr", "reference", "jpeg_quality", "warnings"}  # what only the CLI adds


def measured(row: dict) -> dict:
    """A row without what differs by door or by run: times, the CLI's own keys."""
    return {k: v for k, v in row.items() if k not in TIMES | DOOR_KEYS and not k.endswith("_seconds")}


def cli_rows(capsys, *args) -> list[dict]:
    code, out, err = run_cli(capsys, *args, "--json")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture()
def photo(tmp_path, astro128) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.ascontiguousarray(astro128)).save(path)
    return path


@pytest.fixture()
def jpeg_photo(tmp_path, astro128) -> Path:
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.ascontiguousarray(astro128[:64, :64])).save(path, quality=30)
    return path


# -- compare codecs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "codec, cli_args, mode, value, params",
    [
        ("jpeg", ["--quality", "50"], "settings", None, {"quality": 50}),
        ("webp", ["--target-bpp", "0.5"], "bpp", 0.5, {}),
        ("png", ["--target-bpp", "0.5"], "bpp", 0.5, {}),  # lossless: runs as it is, with a note
        ("jpeg", ["--target-quality", "psnr=30"], "quality:psnr", 30, {}),
    ],
)
def test_compare_codecs(capsys, tmp_path, photo, codec, cli_args, mode, value, params):
    (cli,) = cli_rows(capsys, "compress", photo, "--codec", codec, *cli_args, "--out-dir", tmp_path / "cli")
    image = imagelib.load(photo)
    target = lab_codecs.target_from_ui(mode, value)
    (tab,) = lab_codecs.compare(image, {codec: params}, target)
    assert measured(cli) == measured(tab.row())
    assert Path(cli["file"]).read_bytes() == tab.data
    if codec == "png":  # the same note at both doors, and in the tab's status line
        assert "lossless" in cli["note"] and "target_met" not in cli
        line = lab_codecs.status_line(image, [tab], target)
        assert cli["note"][1:] in line and "held to it" not in line  # no codec was held to the size


def test_compress_endpoint_answers_as_the_cli(capsys, tmp_path, photo):
    """The /compress endpoint (one codec, a size in bytes) is the same request as ``compress``."""
    (cli,) = cli_rows(capsys, "compress", photo, "--codec", "avif", "--target-bytes", "1500", "--out-dir", tmp_path)
    path, decoded, row = lab_codecs.compress_one(str(photo), "avif", "{}", None, 1500)
    assert measured(cli) == measured(row)
    assert Path(cli["file"]).read_bytes() == Path(path).read_bytes()


def test_sweep(capsys, photo):
    cli = cli_rows(capsys, "sweep", photo, "--codecs", "jpeg,webp,png", "--qualities", "20,80")
    tab = lab_codecs.sweep(imagelib.load(photo), ["jpeg", "webp", "png"], [20, 80], metric="psnr")
    assert [measured(row) for row in cli] == [measured(row) for row in tab]


def test_a_sweep_with_qualities_and_sizes_is_refused_at_both_doors(capsys, photo):
    code, _, err = run_cli(capsys, "sweep", photo, "--codecs", "jpeg", "--qualities", "50", "--target-bpps", "1")
    assert code == 2 and "not both" in err
    with pytest.raises(Exception, match="not both"):
        lab_codecs.sweep(imagelib.load(photo), ["jpeg"], [50], [1.0])


# -- degrade ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cli_args, form",
    [
        (["--chain", "noise:10, jpeg:q=30"], {"kind": "chain", "chain": "noise:10, jpeg:q=30"}),
        (["--noise", "25"], {"kind": "noise", "sigma": 25}),
        (["--codec", "webp", "--target-bpp", "0.8"], {"kind": "codec", "codec": "webp", "bpp": 0.8}),
        (["--downscale", "2"], {"kind": "downscale", "factor": 2}),
    ],
)
def test_degrade(capsys, tmp_path, photo, cli_args, form):
    code, out, err = run_cli(capsys, "degrade", photo, *cli_args, "--out-dir", tmp_path / "cli")
    assert code == 0, err
    cli = json.loads(out)
    fields = {"codec": "jpeg", "quality": 50, "bpp": 0, "sigma": 0, "blur": 0, "factor": 2, "chain": "", **form}
    chain = lab_restore.make_degradation(**fields)
    shown, own = lab_restore.degrade_to_file(imagelib.load(photo), chain, tmp_path)
    assert chain.text() == cli["chain"] and chain.describe() == cli["degradation"]
    assert Path(own or shown).read_bytes() == Path(cli["file"]).read_bytes()


# -- restore ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["median", "auto"])
def test_restore(capsys, tmp_path, jpeg_photo, astro128, model):
    reference = tmp_path / "clean.png"
    Image.fromarray(np.ascontiguousarray(astro128[:64, :64])).save(reference)
    out = tmp_path / "cli.png"
    (cli,) = cli_rows(capsys, "restore", jpeg_photo, "--model", model, "--ref", reference, "--out", out)
    run, views = lab_restore.restore(str(jpeg_photo), str(reference), [model], None)
    (tab,) = run.results
    assert measured(cli) == measured(tab.row())
    assert cli["jpeg_quality"] == run.jpeg_quality == 30
    assert np.array_equal(imagelib.load(out), views[model])


# -- upscale ----------------------------------------------------------------------------------------


def test_upscale_from_the_high_resolution_original(capsys, tmp_path, photo):
    out = tmp_path / "cli.png"
    (cli,) = cli_rows(capsys, "upscale", photo, "--scale", "2", "--model", "nearest-x2", "--from-hr", "--out", out)
    run, views = lab_sr.upscale(str(photo), 2, ["nearest-x2"], True)
    (tab,) = run.results
    assert measured(cli) == measured(tab.row()) and "psnr_y" in cli and "bicubic_psnr_y" in cli
    assert np.array_equal(imagelib.load(out), views["nearest-x2"])


@pytest.mark.parametrize("options", [{}, {"outscale": 1.5}])
def test_upscale_cleans_a_low_resolution_jpeg_first(capsys, tmp_path, jpeg_photo, options):
    out = tmp_path / "cli.png"
    extra = [f"--{k}" if v is True else f"--{k}={v}" for k, v in options.items()]
    (cli,) = cli_rows(capsys, "upscale", jpeg_photo, "--scale", "2", "--model", "bicubic-x2", *extra, "--out", out)
    run, views = lab_sr.upscale(str(jpeg_photo), 2, ["bicubic-x2"], False, restore="auto", **options)
    (tab,) = run.results
    assert measured(cli) == measured(tab.row()) and cli["restored_first_by"] == "auto"
    assert np.array_equal(imagelib.load(out), views["bicubic-x2"])


# -- batch ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "job, settings",
    [
        ("convert", {"codec": "webp", "target_quality": "psnr=32"}),
        ("convert", {"codec": "png", "target_bpp": 0.5}),  # lossless: runs as it is, with a note
        ("restore", {"model": "median", "format": "webp"}),
        ("upscale", {"scale": 2, "model": "bicubic-x2", "restore": "none"}),
    ],
)
def test_batch(capsys, tmp_path, photo, jpeg_photo, job, settings):
    text = json.dumps(settings)
    cli = cli_rows(capsys, "batch", photo, jpeg_photo, "--job", job, "--settings", text, "--out-dir", tmp_path / "cli")
    summary, table, archive, _ = lab_batch.run_batch([str(photo), str(jpeg_photo)], job, text)
    *rows, last = cli
    untimed = [re.sub(r" in [\d.]+ s\.", ".", text) for text in (last["summary"], summary)]
    assert untimed[0] == untimed[1] and untimed[0].startswith("2 of 2 files")
    with zipfile.ZipFile(archive) as files:
        for row in rows:
            assert (tmp_path / "cli" / row["output"]).read_bytes() == files.read(row["output"])
        tab_rows = list(csv.DictReader(io.StringIO(files.read("results.csv").decode())))
    assert [r["output"] for r in tab_rows] == [r["output"] for r in rows]
    assert [row[3] for row in table["data"]] == [r["output_bytes"] for r in rows]
    cli_csv = list(csv.DictReader(io.StringIO((tmp_path / "cli" / "results.csv").read_text())))
    assert [measured(r) for r in cli_csv] == [measured(r) for r in tab_rows]
    if settings.get("codec") == "png":  # the same note in every row, the page's table and the summary
        assert all("PNG is lossless here" in r["note"] for r in rows) and "target_met" not in rows[0]
        assert [row[-1] for row in table["data"]] == [r["note"] for r in rows]
        assert "PNG is lossless here" in summary
