"""Hostile or careless use: inputs through one door, decoders limited to the listed
formats, work per request capped."""

from __future__ import annotations

import base64
import io

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from restoration.core import image as imagelib
from restoration.core.errors import UserInputError
from restoration.lab import codecs as lab
from restoration.pipelines import evaluate
from ui.common import data_url_file


def test_decoders_are_limited_to_the_listed_formats():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(UserInputError, match="not a recognised image format"):
        imagelib.load(eps, name="x.eps")
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PCX")  # Pillow reads PCX, the lab does not list it
    with pytest.raises(UserInputError, match="accepted: PNG, JPEG"):
        imagelib.load(buffer.getvalue(), name="x.pcx")


def png_data_url(array: np.ndarray) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), buffer.getvalue()


def test_a_data_url_reaches_our_loader_byte_for_byte(noise64, monkeypatch):
    url, data = png_data_url(noise64)
    path = data_url_file(url)
    assert open(path, "rb").read() == data
    assert np.array_equal(imagelib.load(path), noise64)  # lossless: no re-encoding on the way
    monkeypatch.setenv("RESTORATION_MAX_UPLOAD_MB", "0.001")
    with pytest.raises(gr.Error, match="upload limit"):
        data_url_file(url)
    monkeypatch.delenv("RESTORATION_MAX_UPLOAD_MB")
    with pytest.raises(gr.Error, match="not valid base64"):
        data_url_file("data:image/png;base64,%%%")


def test_sweeps_are_capped_per_request_and_settings_deduplicated(astro128):
    with pytest.raises(UserInputError, match="at most 64 in one request"):
        lab.sweep(astro128, ["jpeg"], list(range(1, 100)))
    plan = evaluate.sweep_plan(["jpeg", "jpg"], [50, 50, 50.0, 70])
    assert [p.params["quality"] for p in plan] == [50, 70]
    assert len(evaluate.sweep_plan(["jpeg"], list(range(1, 100)))) == 99  # the CLI's bench has no cap


@pytest.mark.parametrize(
    "target, message",
    [
        ({"bpp": float("inf")}, "finite number"),
        ({"bpp": 1e308}, "beyond any image file"),
        ({"bytes": True}, "finite number"),
        ({"bpp": 0}, "must be positive"),
    ],
)
def test_absurd_size_targets_are_one_message(target, message):
    from restoration.codecs import Target

    with pytest.raises(UserInputError, match=message):
        Target(**target)


def test_json_true_is_not_a_quality():
    from restoration import codecs

    with pytest.raises(UserInputError, match="True is not a valid int"):
        codecs.get("jpeg").resolve({"quality": True})


def test_heavy_handlers_share_one_concurrency_group():
    import app

    demo = app.build()
    heavy = {fn.api_name for fn in demo.fns.values() if fn.concurrency_id == "heavy"}
    assert heavy == {"compare", "sweep", "compress", "degrade", "restore", "upscale", "batch", "bench", "panel_pair"}
    assert {fn.concurrency_limit for fn in demo.fns.values() if fn.concurrency_id == "heavy"} == {2}


def test_every_run_that_shows_results_clears_them_when_it_fails():
    """A failed run would leave the last run's results on screen under Gradio's error badges, as
    if they were its own: each such event has a failure handler that clears its outputs (all of
    them: a picker left with the old choices would point at images that are gone)."""
    import app

    demo = app.build()
    fns = demo.fns
    cleared = {fns[fn.trigger_after].api_name: fn for fn in fns.values() if fn.trigger_only_on_failure}
    assert set(cleared) == {"compare", "sweep", "restore", "upscale", "batch", "bench", "panel_pair"}
    for name, handler in cleared.items():
        run = next(fn for fn in fns.values() if fn.api_name == name)
        outs, shown = {c._id for c in handler.outputs}, {c._id for c in run.outputs}
        assert outs and outs <= shown and handler.api_visibility == "private", name
        if name != "bench":  # the stored-run list keeps its runs: they are still stored
            assert outs == shown, name


def test_a_zip_of_large_images_is_refused_from_the_headers(tmp_path, monkeypatch):
    """30 forty-megapixel PNGs of 1.5 KB each: refused before any is decoded."""
    import zipfile

    from restoration.benchmark import inputs

    buffer = io.BytesIO()
    Image.new("L", (8000, 5000)).save(buffer, "PNG", optimize=True)
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for i in range(30):
            out.writestr(f"{i:02d}.png", buffer.getvalue())
    assert archive.stat().st_size < 1_000_000
    monkeypatch.setattr(imagelib, "load", lambda *a, **k: pytest.fail("decoded before the budget check"))
    with pytest.raises(UserInputError, match="more than 200,000,000 pixels in all"):
        inputs.collect([archive])


def test_the_labs_temporary_folders_are_removed_when_old(tmp_path, monkeypatch):
    import os
    import time

    from restoration.core import scratch

    monkeypatch.setenv("RESTORATION_TMP", str(tmp_path / "lab-tmp"))
    old = scratch.folder("restored-")
    (old / "x.png").write_bytes(b"x")
    past = time.time() - 7200
    os.utime(old, (past, past))
    fresh = scratch.folder("degraded-")  # a new request cleans first
    assert not old.exists() and fresh.exists()
    assert fresh.parent == tmp_path / "lab-tmp"


@pytest.mark.slow
def test_reports_hide_the_host_unless_the_operator_shows_it(tmp_path, monkeypatch, astro128):
    import platform

    from restoration.benchmark import inputs, report, runner

    db = tmp_path / "r.sqlite"
    runner.bench([inputs.make("a", "set", astro128)], runner.BenchConfig(("jpeg",), (50,)), db, workers=1)
    machine = report.build(db).runs[0]["provenance"]["machine"]
    assert "node" not in machine and "system" not in machine and machine["cpus"]
    html = report.write_html(report.build(db), tmp_path / "r.html").read_text()
    assert (
        platform.platform() not in html and f'"node": "{platform.node()}"' not in html
    )  # (the host name "vm" is also a substring of plotly.js)
    monkeypatch.setenv("RESTORATION_SHOW_HOST", "1")
    assert report.build(db).runs[0]["provenance"]["machine"]["node"] == platform.node()
