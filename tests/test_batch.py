"""The batch action: many files or a zip in, one job, a zip of results with a CSV out; a bad file
is a row saying why while the others go on; the CLI and the pipeline give the same answer."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from restoration import degrade
from restoration.core.errors import UserInputError
from restoration.lab import batch as lab_batch
from restoration.pipelines import batch


@pytest.fixture()
def inputs(tmp_path, astro128, chelsea):
    """Two JPEGs and a zip holding a PNG, a broken 'PNG', a text file and a formula-named JPEG."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.ascontiguousarray(astro128)).save(folder / "astro.jpg", quality=90)
    Image.fromarray(np.ascontiguousarray(chelsea[:96, :128])).save(folder / "cat.jpg", quality=90)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(astro128[:64, :96])).save(buffer, format="PNG")
    with zipfile.ZipFile(folder / "more.zip", "w") as archive:
        archive.writestr("face.png", buffer.getvalue())
        archive.writestr("broken.png", b"not an image")
        archive.writestr("notes.txt", "hello")
    return folder


def rows_of(csv_text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(csv_text)))


def test_convert_at_a_setting_and_a_bad_member_named(inputs):
    run = batch.run(
        [inputs / "astro.jpg", inputs / "cat.jpg", inputs / "more.zip"], "convert", '{"codec": "webp", "quality": 60}'
    )
    by_file = {row["file"]: row for row in run.rows}
    assert {name for name, row in by_file.items() if row["status"] == "ok"} == {
        "astro.jpg",
        "cat.jpg",
        "more.zip:face.png",
    }
    assert by_file["more.zip:broken.png"]["status"] == "error"
    assert "not a recognised image format" in by_file["more.zip:broken.png"]["error"]
    assert by_file["more.zip:notes.txt"]["status"] == "skipped"
    assert set(run.files) == {"astro.webp", "cat.webp", "face.webp"}
    for row in run.done:
        assert row["output_bytes"] == len(run.files[row["output"]]) and row["setting"] == "quality=60"
    assert "3 of 5 files" in run.summary() and "2 not processed" in run.summary()


def test_equal_quality_convert_says_how_much_smaller(inputs, tmp_path):
    run = batch.run(
        [inputs / "astro.jpg", inputs / "cat.jpg"], "convert", {"codec": "avif", "target_quality": "psnr=34"}
    )
    assert all(row["target_met"] and row["psnr"] >= 34 for row in run.done)
    total_in = sum(row["input_bytes"] for row in run.done)
    total_out = sum(row["output_bytes"] for row in run.done)
    change = round(100 * (1 - total_out / total_in))
    word = "smaller" if change >= 0 else "larger"
    assert f"{abs(change)} % {word} than your JPEG" in run.summary() and "PSNR" in run.summary()
    archive, csv_path = lab_batch.write(run, tmp_path)
    with zipfile.ZipFile(archive) as handle:
        assert sorted(handle.namelist()) == ["astro.avif", "cat.avif", "results.csv"]
        assert rows_of(handle.read("results.csv").decode()) == rows_of(csv_path.read_text())


def test_restore_and_upscale_write_the_chosen_format(inputs):
    run = batch.run([inputs / "astro.jpg"], "restore", '{"model": "auto", "format": "webp"}')
    (row,) = run.done
    assert row["output"] == "astro.webp" and "JPEG q90" in row["note"]
    run = batch.run([inputs / "more.zip"], "upscale", {"scale": 2, "model": "bicubic-x2", "restore": "none"})
    (row,) = run.done
    image = Image.open(io.BytesIO(run.files[row["output"]]))
    assert image.format == "PNG" and image.size == (192, 128)


@pytest.mark.parametrize(
    "job, settings, message",
    [
        ("resize", "{}", "unknown batch job"),
        ("convert", "{", "not valid JSON"),
        ("convert", "[" * 100_000 + "]" * 100_000, "at most"),
        ("convert", "[" * 1500 + "]" * 1500, "nested deeper"),
        ("convert", '{"quality": 50}', "need a codec"),
        ("convert", '{"codec": "avif", "quality": "high"}', "quality"),
        ("convert", '{"codec": "avif", "target_quality": "ssim"}', "METRIC=NUMBER"),
        ("restore", '{"model": "bicubic-x4"}', "upscaler"),
        ("restore", '{"colour": 1}', "take"),
        ("upscale", '{"scale": 3}', "scale"),
        ("upscale", '{"format": "gif:q=2"}', "output format"),
    ],
    ids=lambda value: value if len(str(value)) < 40 else f"{len(value)} characters",
)
def test_bad_settings_get_one_message_before_any_file_is_read(inputs, job, settings, message):
    with pytest.raises(UserInputError, match=message):
        batch.run([inputs / "astro.jpg"], job, settings)


@pytest.mark.parametrize(
    "settings", [{"codec": "png", "target_bpp": 1}, {"codec": "webp", "lossless": True, "target_bytes": 900}]
)
def test_a_lossless_codec_given_a_size_runs_lossless_with_a_note(inputs, settings):
    """As the compare action: the codec runs at its settings and every row and the summary say so."""
    run = batch.run([inputs / "astro.jpg", inputs / "more.zip"], "convert", settings)
    assert len(run.done) == 2
    for row in run.done:
        assert row["setting"] == "lossless" and "target_met" not in row
        assert "is lossless here: it ran at its settings, not within the size target" in row["note"]
    (csv_row, *_) = [r for r in rows_of(run.csv_text()) if r["status"] == "ok"]
    assert "is lossless here" in csv_row["note"]
    assert "is lossless here" in run.summary() and run.summary().startswith("2 of 4 files")


def test_csv_cells_never_start_a_formula(tmp_path, astro128):
    path = tmp_path / "=HYPERLINK(1).png"
    Image.fromarray(np.ascontiguousarray(astro128)).save(path)
    run = batch.run([path], "convert", '{"codec": "jpeg", "quality": 50}')
    (row,) = rows_of(run.csv_text())
    assert row["file"] == "'=HYPERLINK(1).png"


def test_cli_batch_matches_the_pipeline(inputs, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "restoration",
            "batch",
            str(inputs / "astro.jpg"),
            str(inputs / "more.zip"),
            "--job",
            "convert",
            "--settings",
            '{"codec": "jpeg", "quality": 40}',
            "--zip",
            str(tmp_path / "out.zip"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    direct = batch.run([inputs / "astro.jpg", inputs / "more.zip"], "convert", '{"codec": "jpeg", "quality": 40}')
    assert [(r["file"], r["status"], r.get("output_bytes")) for r in lines[:-1]] == [
        (r["file"], r["status"], r.get("output_bytes")) for r in direct.rows
    ]
    assert lines[-1]["summary"].startswith("2 of 4 files")
    with zipfile.ZipFile(tmp_path / "out.zip") as handle:
        assert sorted(handle.namelist()) == ["astro.jpg", "face.jpg", "results.csv"]


def test_degraded_files_of_a_chain_batch_back(tmp_path, astro128):
    """A batch reads what the lab writes: a WebP from a degrade chain restores by auto."""
    result = degrade.apply(np.ascontiguousarray(astro128), degrade.parse_chain("webp:q=20"))
    path = tmp_path / "x.webp"
    path.write_bytes(result.data)
    run = batch.run([path], "restore", "")
    (row,) = run.done
    assert "WebP" in row["note"] and row["input_format"] == "WebP"
