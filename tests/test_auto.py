"""Auto restore and the clean-first step before upscaling: what the image holds decides which
models run, in which order, and the note says so; the same at the CLI and in the pipeline."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from restoration import degrade
from restoration import metrics as metriclib
from restoration.core.errors import UserInputError
from restoration.models import auto, restorers
from restoration.pipelines import restore as restorelib
from restoration.pipelines import sr


def degraded(image, chain: str) -> degrade.Degraded:
    return degrade.apply(np.ascontiguousarray(image), degrade.parse_chain(chain))


@pytest.mark.parametrize(
    "chain, tasks",
    [
        ("jpeg:q=10, noise:15", ["denoise", "jpeg"]),  # noise on top of a JPEG: denoise first
        ("noise:25", ["denoise"]),
        ("jpeg:q=30", ["jpeg"]),
        ("blur:2", ["combined"]),
    ],
)
def test_plan_follows_what_the_pixels_hold(astro128, chain, tasks):
    result = degraded(astro128, chain)
    plan = restorers.analyse(result.image)
    assert [step.task for step in plan.steps] == tasks
    assert "→" in plan.note()


def test_a_clean_image_is_returned_unchanged_and_told(astro128):
    result = restorers.restore(np.ascontiguousarray(astro128), auto.AUTO)
    assert np.array_equal(result.image, astro128)
    assert "returned unchanged" in result.options["note"]


def test_a_jpeg_file_is_restored_as_the_jpeg_default_restores_it(astro128):
    """A plain JPEG file: auto runs the artifact model told the file's quality, exactly as the jpeg
    task's default does (no worse, by construction)."""
    result = degraded(astro128, "jpeg:q=10")
    by_auto = restorelib.restore_one(result.image, auto.AUTO, data=result.data)
    default = restorelib.restore_one(result.image, restorers.default_for("jpeg").id, data=result.data)
    assert np.array_equal(by_auto.image, default.image)
    assert "JPEG q10" in by_auto.extra["note"]
    assert by_auto.extra["plan"] == [{"model": default.model, "codec": "jpeg", "strength": 10.0}]


def test_noise_on_a_jpeg_gains_more_with_auto_than_with_the_artifact_model(astro128):
    result = degraded(astro128, "jpeg:q=10, noise:15")
    clean = np.ascontiguousarray(astro128)

    def gain(model):
        out = restorelib.restore_one(result.image, model, data=result.data).image
        return metriclib.psnr(metriclib.Sample(clean, out)) - metriclib.psnr(metriclib.Sample(clean, result.image))

    assert gain(auto.AUTO) > gain(restorers.default_for("jpeg").id) + 0.5


def test_auto_is_never_a_task_default():
    for task in ("jpeg", "denoise", "combined"):
        assert restorers.default_for(task).id != auto.AUTO


@pytest.mark.slow
def test_cli_restore_without_a_task_runs_auto(tmp_path, astro128):
    result = degraded(astro128, "jpeg:q=10, noise:15")
    source = tmp_path / "noisy.png"
    source.write_bytes(result.data)
    Image.fromarray(np.ascontiguousarray(astro128)).save(tmp_path / "clean.png")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "restoration",
            "restore",
            str(source),
            "--ref",
            str(tmp_path / "clean.png"),
            "--out-dir",
            str(tmp_path / "out"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout.splitlines()[-1])
    assert row["model"] == "auto" and row["task"] == "auto"
    assert row["note"].startswith("noise") and "then remove the artifacts" in row["note"]
    assert [step["model"] for step in row["plan"]] == [
        restorers.default_for("denoise").id,
        restorers.default_for("jpeg").id,
    ]
    assert row["psnr_gain"] > 2
    assert (tmp_path / "out" / "noisy_auto.png").is_file()


def test_clean_first_before_upscaling(astro128):
    small = np.ascontiguousarray(astro128[:64, :64])
    result = degraded(small, "jpeg:q=30")
    cleaned = sr.clean_first(result.image, auto.AUTO, result.data)
    assert cleaned.model == auto.AUTO and "JPEG q30" in cleaned.note
    assert not np.array_equal(cleaned.image, result.image)
    untouched = sr.clean_first(result.image, sr.NO_RESTORE, result.data)
    assert untouched.model is None and untouched.image is result.image
    upscaled = sr.run(result.image, "bicubic-x2", 2, cleaned=cleaned)
    assert upscaled.row()["restored_first_by"] == auto.AUTO


def test_clean_first_never_deblurs(astro128):
    """A small image's softness is the upscaler's job: auto before upscaling leaves blur alone."""
    result = degraded(astro128, "blur:2")
    cleaned = sr.clean_first(result.image, auto.AUTO, result.data)
    assert cleaned.model is None and np.array_equal(cleaned.image, result.image)


def test_clean_first_refuses_an_upscaler(astro128):
    with pytest.raises(UserInputError, match="upscaler"):
        sr.clean_first(np.ascontiguousarray(astro128), "bicubic-x4")


@pytest.mark.slow
def test_cli_upscale_cleans_a_jpeg_first(tmp_path, astro128):
    result = degraded(np.ascontiguousarray(astro128[:64, :64]), "jpeg:q=30")
    source = tmp_path / "small.jpg"
    source.write_bytes(result.data)
    rows = {}
    for choice in ("auto", "none"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "restoration",
                "upscale",
                str(source),
                "--scale",
                "2",
                "--model",
                "bicubic-x2",
                "--restore",
                choice,
                "--out",
                str(tmp_path / f"{choice}.png"),
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        rows[choice] = json.loads(done.stdout.splitlines()[-1])
    assert rows["auto"]["restored_first_by"] == "auto" and "JPEG q30" in rows["auto"]["note"]
    assert "restored_first_by" not in rows["none"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "restoration",
            "upscale",
            str(source),
            "--scale",
            "2",
            "--restore",
            "bicubic-x4",
            "--out",
            str(tmp_path / "x.png"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "upscaler" in done.stderr
