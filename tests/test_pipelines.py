"""One function per job: the degrade chain and its real bytes, the restore job's
reference check and partial results, provenance keys that follow the weights, and the metric
table's columns everywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import codec_params  # noqa: E402

from restoration import codecs as codeclib
from restoration import degrade
from restoration import metrics as metriclib
from restoration.core.errors import UserInputError
from restoration.pipelines import restore as restorelib

LOSSY = [name for name, codec in codeclib.CODECS.items() if codec.knob is not None]


def test_a_chain_reads_back_from_its_own_text():
    chain = degrade.parse_chain("downscale:2 -> jpeg:q=30, noise:sigma=5;seed=3, blur:0.8")
    assert [type(s).__name__ for s in chain.steps] == ["Downscale", "Compress", "Noise", "Blur"]
    assert degrade.parse_chain(chain.text()) == chain
    assert chain.label() == "downscale ×2 → JPEG quality=30 → noise σ=5 → blur σ=0.8"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("sharpen:3", "unknown kind 'sharpen'"),
        ("png:3", "lossless"),
        ("jpeg", "give quality"),
        ("noise:abc", "not a number"),
        ("noise:inf", "not a finite number"),
        ("jpeg:q=500", "outside [1, 100]"),
        ("jpeg:flavour=3", "no parameter 'flavour'"),
    ],
)
def test_a_bad_chain_is_one_message(text, message):
    with pytest.raises(UserInputError, match=re.escape(message)):
        degrade.parse_chain(text)


@pytest.mark.parametrize("codec", codec_params(LOSSY))
def test_degrade_writes_the_codecs_real_bytes(codec, astro128):
    knob = codeclib.get(codec).knob
    value = knob.sweep[len(knob.sweep) // 2]
    result = degrade.apply(astro128, degrade.parse_chain(f"noise:3, {codec}:q={value}"))
    assert codeclib.sniff(result.data).pillow_format == codeclib.get(codec).pillow_format  # jpegli writes a JPEG
    assert result.extension == codeclib.get(codec).extension
    assert np.array_equal(codeclib.get(codec).decode(result.data), result.image)


def test_a_chain_ending_in_noise_is_a_png(astro128):
    result = degrade.apply(astro128, degrade.parse_chain("jpeg:q=20, noise:10"))
    assert result.data[:8] == b"\x89PNG\r\n\x1a\n" and result.extension == ".png"


def run_cli(tmp_path, *args):
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch-home")}
    return subprocess.run(
        [sys.executable, "-m", "restoration", *map(str, args)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.slow
def test_cli_degrade_writes_jpeg_bytes_that_restore_reads(tmp_path, write_image, astro256):
    clean = write_image(astro256, "clean.png")
    proc = run_cli(tmp_path, "degrade", clean, "--codec", "jpeg", "--quality", "10", "--out", "q10.jpg")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "q10.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    wrong = run_cli(tmp_path, "degrade", clean, "--chain", "webp:q=20", "--out", "x.jpg")
    assert wrong.returncode == 2 and "name the output x.webp" in wrong.stderr
    proc = run_cli(
        tmp_path,
        "restore",
        "q10.jpg",
        "--task",
        "jpeg",
        "--model",
        "bilateral",
        "--ref",
        clean,
        "--out",
        "r.png",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["jpeg_quality"] == 10


def test_reference_of_another_size_is_refused_and_another_picture_flagged(astro128, astro256):
    with pytest.raises(UserInputError, match="the reference is 256x256 but the result is 128x128"):
        restorelib.check_reference(astro256, astro128)
    assert restorelib.check_reference(astro128, astro128) == []
    other = np.ascontiguousarray(np.rot90(astro128, 2))
    warnings = restorelib.check_reference(other, astro128)
    assert len(warnings) == 1 and "another picture" in warnings[0]
    jpeg = codeclib.get("jpeg")
    assert restorelib.check_reference(astro128, jpeg.decode(jpeg.encode(astro128, quality=5))) == []


def test_one_unavailable_model_does_not_lose_the_others(astro128):
    run = restorelib.restore_image(astro128, ["bilateral", "no-such-model", "gaussian"], astro128)
    assert [r.model for r in run.results] == ["bilateral", "gaussian"]
    assert "unknown model 'no-such-model'" in run.failures["no-such-model"]


def test_the_quality_hint_comes_from_the_file(astro128):
    data = codeclib.get("jpeg").encode(astro128, quality=37)
    assert restorelib.quality_hint(data) == 37
    assert restorelib.quality_hint(codeclib.get("png").encode(astro128)) is None


def test_benchmark_keys_follow_the_learned_codecs_and_dictionaries_weights(monkeypatch):
    from restoration.benchmark import runner
    from restoration.benchmark.inputs import BenchImage
    from restoration.models import restorers

    image = BenchImage("a", "set", "hash-a", np.zeros((8, 8, 3), np.uint8))
    config = runner.BenchConfig(codecs=("neural", "jpeg"), qualities=(3,))
    before = {t.config["codec"]: t.keys() for t in runner.plan([image], config)}
    learned = type(codeclib.get("neural"))
    monkeypatch.setattr(learned, "weights_sha256", lambda self: "retrained")
    after = {t.config["codec"]: t.keys() for t in runner.plan([image], config)}
    assert before["neural"] != after["neural"] and before["jpeg"] == after["jpeg"]
    spec = restorers.get("sparse-sr-x4")
    assert spec.sha256() is not None and spec.sha256() == spec.digest()


def test_every_registered_codec_and_model_has_a_chart_colour():
    from restoration.benchmark import charts
    from restoration.models import restorers

    colours = [charts.colour(name) for name in [*codeclib.CODECS, *restorers.REGISTRY]]
    assert all(c.startswith("#") for c in colours)
    assert len(set(colours[: len(codeclib.CODECS)])) == len(codeclib.CODECS)


def test_the_learned_codec_in_the_compare_path(astro128):
    from restoration.benchmark import charts
    from restoration.lab import codecs as lab

    results = lab.compare(astro128, {"neural": {"quality": 2}, "jpeg": {"quality": 50}}, None)
    figure = charts.bars_figure([r.row() for r in results])
    assert len(figure.data) == 6
    assert lab.table_rows(results)[0][1] == "Learned v1 (ours) quality=2"


def test_the_bar_chart_says_why_a_lossless_psnr_has_no_bar(astro128):
    from restoration.benchmark import charts
    from restoration.lab import codecs as lab

    rows = [r.row() for r in lab.compare(astro128, {"jpeg": {"quality": 50}, "png": {}}, None)]
    figure = charts.bars_figure(rows)
    titles = [a.text for a in figure.layout.annotations]
    assert titles[2] == "PSNR (dB) · lossless: ∞, no bar" and titles[0] == "Size (KiB)"
    assert figure.data[2].y[1] is None and figure.data[2].y[0] > 30
    assert [a.text for a in charts.bars_figure(rows[:1]).layout.annotations][2] == "PSNR (dB)"


def test_every_metric_has_its_column_in_rows_csv_and_dashboards(tmp_path, astro128):
    from restoration.benchmark import dashboards, report
    from restoration.lab import codecs as lab
    from restoration.pipelines import evaluate

    row = evaluate.compress(astro128, "jpeg", {"quality": 50}).row()
    headers = lab.table_headers()
    for name, metric in metriclib.METRICS.items():
        assert name in row, name
        assert name in report.CSV_COLUMNS, name
        assert dashboards.METRIC_LABELS[name] == metriclib.header(name)
        if metric.unavailable_reason() is None:
            assert metriclib.header(name) in headers, name
        if metric.kind == "fidelity":
            assert metriclib.header(name) in dashboards.METHOD_HEADERS, name


def test_error_maps_show_where_a_result_differs(astro128):
    from restoration.lab import common as lab

    noisy = degrade.Noise(20, seed=1)(astro128)
    same = lab.error_map(astro128, astro128)
    heat = lab.error_map(astro128, noisy)
    assert same.shape == heat.shape == astro128.shape and same.dtype == np.uint8
    assert heat.astype(float).mean() > same.astype(float).mean() + 20
    views = lab.with_error_maps({"Reference": astro128, "noisy": noisy}, "Reference", ["noisy"])
    assert list(views) == ["Reference", "noisy", "|error| noisy", "FLIP noisy"]  # FLIP: perceived difference
    assert views["FLIP noisy"].shape == astro128.shape
    plain = lab.with_error_maps({"Reference": astro128, "noisy": noisy}, "Reference", ["noisy"], flip=False)
    assert list(plain) == ["Reference", "noisy", "|error| noisy"]


def test_compare_table_leaves_out_columns_empty_in_every_row(astro128):
    from restoration.lab import codecs as lab
    from restoration.pipelines import evaluate

    plain = lab.table(lab.compare(astro128, {"jpeg": {"quality": 50}}, None))
    assert "SSIMU2" not in plain["headers"] and "target" not in plain["headers"]
    assert plain["headers"][:4] == ["codec", "setting", "KiB", "PSNR dB"]
    assert all(len(row) == len(plain["headers"]) for row in plain["data"])
    targeted = lab.table(lab.compare(astro128, {"jpeg": {}}, evaluate.Target(bpp=1.0)))
    assert targeted["headers"][-1] == "target" and targeted["data"][0][-1] == "met"


def fresh_timing(monkeypatch):
    """A server that has run nothing yet (the machine's calibrations are kept: they are not runs)."""
    from collections import defaultdict, deque

    from restoration.models import timing

    monkeypatch.setattr(timing, "_seen", defaultdict(lambda: deque(maxlen=timing.KEEP)))


def seconds_of(text: str) -> float:
    value, unit = text.split("about ")[1].split(" ")[:2]
    return float(value) * (60 if unit.startswith("min") else 1)


@pytest.mark.slow
def test_every_ready_model_is_estimated_before_its_first_run(tmp_path, astro128, monkeypatch):
    """Issue 37: the default upscaler was "not yet timed" and counted as zero. Now every ready model
    has a time from a model of its work (an own network: its GFLOP over this machine's measured
    throughput; any other: itself on two small crops), before any run; a model that cannot run
    here is named, not counted."""
    from PIL import Image

    from restoration.lab import cost
    from restoration.lab import restore as lab_restore
    from restoration.lab import sr as lab_sr
    from restoration.models import restorers

    fresh_timing(monkeypatch)
    for spec in restorers.REGISTRY.values():
        if spec.status() == "ready" and spec.source not in ("auto", "hub"):
            assert cost.model_seconds(spec.id, 768 * 512) > 0, spec.id
    path = tmp_path / "in.png"
    Image.fromarray(astro128).save(path)
    text = lab_restore.restore_estimate(str(path), ["median", "nosuch-model"])
    assert text.startswith("Estimate for 128×128: about") and "not counted: nosuch-model: not on this machine" in text
    assert lab_restore.restore_estimate(None, ["median"]) == "" and lab_restore.restore_estimate(str(path), []) == ""
    # An x4 upscale of 768x512 is seconds here, not "about 0.019 s" (what the issue saw).
    big = tmp_path / "big.png"
    Image.new("RGB", (768, 512)).save(big)
    assert seconds_of(lab_sr.upscale_estimate(str(big), 4, ["bicubic-x4", "subpixel-ca-sr-x4"])) > 1


def test_auto_is_estimated_as_the_models_its_plan_runs(tmp_path, astro256, monkeypatch):
    """Auto's estimate is its analysis plus the models its plan for this very file runs: nothing
    for a clean PNG, the artifact network for a JPEG at quality 10."""
    from PIL import Image

    from restoration.lab import restore as lab_restore
    from restoration.models import restorers

    fresh_timing(monkeypatch)
    clean, coded = tmp_path / "clean.png", tmp_path / "coded.jpg"
    Image.fromarray(astro256).save(clean)
    Image.fromarray(astro256).save(coded, quality=10)
    plain = lab_restore.restore_work(str(clean), ["auto"])[1]
    jpeg = lab_restore.restore_work(str(coded), ["auto"])[1]
    artifacts = restorers.default_for("jpeg").id
    assert artifacts not in plain.parts and jpeg.parts[artifacts] > 0 and "analyse" in plain.parts
    assert jpeg.seconds > plain.seconds


def test_a_run_refines_its_models_estimate(tmp_path, astro128, monkeypatch):
    """Every run refines the estimate: after a run that took twice what was predicted, the next
    estimate of that model is twice the prediction (the median ratio of its latest runs)."""
    from restoration.lab import cost
    from restoration.models import timing

    fresh_timing(monkeypatch)
    predicted = cost.model_seconds("median", 128 * 128)
    timing.record("median", 2 * predicted, 128 * 128)
    assert cost.model_seconds("median", 128 * 128) == pytest.approx(2 * predicted)
    assert cost.model_seconds("median", 128 * 128, self_ensemble=True) == pytest.approx(2 * predicted)  # no ensemble


@pytest.mark.slow
def test_codec_estimate_counts_the_search_and_its_metric(tmp_path, monkeypatch):
    """A size target counts its bisection of encodes; an equal-quality search its steps, each an
    encode, a decode and the metrics with the searched one (SSIMULACRA 2, the slow part); every
    codec is timed on this machine, none "not yet timed"."""
    from PIL import Image

    from restoration import codecs
    from restoration.lab import codecs as lab_codecs

    fresh_timing(monkeypatch)
    path = tmp_path / "in.png"
    Image.fromarray(np.zeros((512, 768, 3), np.uint8)).save(path)
    names = ["jpeg", "webp"]
    plain, size = (lab_codecs.compare_work(str(path), names, mode)[1] for mode in ("settings", "bpp"))
    quality = lab_codecs.compare_work(str(path), names, "quality:ssimulacra2")[1]
    assert size.seconds > plain.seconds + 0.5 * (size.parts["jpeg"] - plain.parts["jpeg"]) > plain.seconds
    assert codecs.get("jpeg").size_search_steps() == 8  # quality 1..100: a bisection of 8 encodes
    assert quality.parts["jpeg"] > 8 * cost_of_metric("ssimulacra2", 768 * 512)
    assert "not" not in lab_codecs.compare_estimate(str(path), ["heic", "neural-hp"], "settings", False)


def test_an_estimate_over_the_request_limit_says_so_before_the_run(tmp_path, monkeypatch):
    """A person learns before pressing the button that the server would stop the request, and what
    to choose instead; under the limit the estimate says nothing of it."""
    from PIL import Image

    from restoration.lab import codecs as lab_codecs

    path = tmp_path / "in.png"
    Image.fromarray(np.zeros((512, 768, 3), np.uint8)).save(path)
    work = lab_codecs.compare_work(str(path), ["jpeg"], "settings", True)[1]
    assert "over the" not in lab_codecs.compare_estimate(str(path), ["jpeg"], "settings", True)
    monkeypatch.setenv("RESTORATION_REQUEST_LIMIT_S", str(work.seconds / 2))
    said = lab_codecs.compare_estimate(str(path), ["jpeg"], "settings", True)
    assert "this server allows a request, so it would be stopped" in said and "command-line tool" in said


def cost_of_metric(name: str, pixels: int) -> float:
    from restoration.lab import cost

    return cost.metric_rate(name).at(pixels)


def test_codec_estimate_is_refined_by_a_comparison_not_by_a_search(tmp_path, astro128, monkeypatch):
    """A comparison at the codec's settings records its encode + decode (the next estimate follows
    it); a size search's timing is of its last encode alone and is not recorded."""
    from restoration.lab import codecs as lab
    from restoration.models import timing

    fresh_timing(monkeypatch)
    lab.compare(astro128, {"heic": {}}, lab.target_from_ui("bpp", 0.5))
    assert timing.seconds_per_mp("heic") is None
    lab.compare(astro128, {"heic": {}}, None)
    assert timing.seconds_per_mp("heic") > 0
