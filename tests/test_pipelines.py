"""One function per job (issue 18): the degrade chain and its real bytes, the restore job's
reference check and partial results, provenance keys that follow the weights, and the metric
table's columns everywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from restoration import codecs as codeclib
from restoration import degrade
from restoration import metrics as metriclib
from restoration.core.errors import UserInputError
from restoration.pipelines import restore as restorelib

from conftest import codec_params  # noqa: E402

LOSSY = [name for name, codec in codeclib.CODECS.items() if codec.knob is not None]


def test_a_chain_reads_back_from_its_own_text():
    chain = degrade.parse_chain("downscale:2 -> jpeg:q=30, noise:sigma=5;seed=3, blur:0.8")
    assert [type(s).__name__ for s in chain.steps] == ["Downscale", "Compress", "Noise", "Blur"]
    assert degrade.parse_chain(chain.text()) == chain
    assert chain.label() == "downscale ×2 → JPEG quality=30 → noise σ=5 → blur σ=0.8"


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("sharpen:3", "unknown kind 'sharpen'"), ("png:3", "lossless"),
    ("jpeg", "give quality"), ("noise:abc", "not a number"), ("noise:inf", "not a finite number"),
    ("jpeg:q=500", "outside [1, 100]"), ("jpeg:flavour=3", "no parameter 'flavour'"),
])
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
    return subprocess.run([sys.executable, "-m", "restoration", *map(str, args)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)


def test_cli_degrade_writes_jpeg_bytes_that_restore_reads(tmp_path, write_image, astro256):
    clean = write_image(astro256, "clean.png")
    proc = run_cli(tmp_path, "degrade", clean, "--codec", "jpeg", "--quality", "10", "--out", "q10.jpg")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "q10.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    wrong = run_cli(tmp_path, "degrade", clean, "--chain", "webp:q=20", "--out", "x.jpg")
    assert wrong.returncode == 2 and "name the output x.webp" in wrong.stderr
    proc = run_cli(tmp_path, "restore", "q10.jpg", "--task", "jpeg", "--model", "bilateral", "--ref", clean,
                   "--out", "r.png", "--json")
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
    from restoration.bench import runner
    from restoration.bench.inputs import BenchImage
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
    from restoration.bench import charts
    from restoration.models import restorers

    colours = [charts.colour(name) for name in [*codeclib.CODECS, *restorers.REGISTRY]]
    assert all(c.startswith("#") for c in colours)
    assert len(set(colours[:len(codeclib.CODECS)])) == len(codeclib.CODECS)


def test_the_learned_codec_in_the_compare_path(astro128):
    from restoration.bench import charts
    from restoration.pipelines import lab

    results = lab.compare(astro128, {"neural": {"quality": 2}, "jpeg": {"quality": 50}}, None)
    figure = charts.bars_figure([r.row() for r in results])
    assert len(figure.data) == 6
    assert lab.table_rows(results)[0][1] == "Learned v1 (ours) quality=2"


def test_the_bar_chart_says_why_a_lossless_psnr_has_no_bar(astro128):
    from restoration.bench import charts
    from restoration.pipelines import lab

    rows = [r.row() for r in lab.compare(astro128, {"jpeg": {"quality": 50}, "png": {}}, None)]
    figure = charts.bars_figure(rows)
    titles = [a.text for a in figure.layout.annotations]
    assert titles[2] == "PSNR (dB) · lossless: ∞, no bar" and titles[0] == "Size (KiB)"
    assert figure.data[2].y[1] is None and figure.data[2].y[0] > 30
    assert [a.text for a in charts.bars_figure(rows[:1]).layout.annotations][2] == "PSNR (dB)"


def test_every_metric_has_its_column_in_rows_csv_and_dashboards(tmp_path, astro128):
    from restoration.bench import dashboards, report
    from restoration.pipelines import evaluate, lab

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
    from restoration.pipelines import lab

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
    from restoration.pipelines import evaluate, lab

    plain = lab.table(lab.compare(astro128, {"jpeg": {"quality": 50}}, None))
    assert "SSIMU2" not in plain["headers"] and "target" not in plain["headers"]
    assert plain["headers"][:4] == ["codec", "setting", "KiB", "PSNR dB"]
    assert all(len(row) == len(plain["headers"]) for row in plain["data"])
    targeted = lab.table(lab.compare(astro128, {"jpeg": {}}, evaluate.Target(bpp=1.0)))
    assert targeted["headers"][-1] == "target" and targeted["data"][0][-1] == "met"


def test_run_estimate_uses_this_servers_timings_then_names_untimed_models(tmp_path, astro128, monkeypatch):
    import collections

    from PIL import Image

    from restoration.bench import lab as lab_bench
    from restoration.models import restorers, timing

    monkeypatch.setattr(timing, "_seen", collections.defaultdict(lambda: collections.deque(maxlen=timing.KEEP)))
    path = tmp_path / "in.png"
    Image.fromarray(astro128).save(path)
    empty = tmp_path / "none.sqlite"  # no stored runs: the shipped example's timings would be used
    before = lab_bench.run_estimate(str(path), ["median"], db=empty)
    restorers.restore(astro128, "median")
    after = lab_bench.run_estimate(str(path), ["median", "nosuch-model"], db=empty)
    assert "Estimate for 128×128: about" in after and "not yet timed here: nosuch-model" in after
    assert before == "Estimate: not yet timed here: median (timed on first run)."
    assert timing.seconds_per_mp("median") > 0 and timing.seconds_per_mp("median", self_ensemble=True) is None
    assert lab_bench.run_estimate(None, ["median"]) == "" and lab_bench.run_estimate(str(path), []) == ""


def test_codec_estimate_counts_the_size_search_and_names_untimed_codecs(tmp_path, astro128, monkeypatch):
    from collections import defaultdict, deque

    from PIL import Image

    from restoration.models import timing

    monkeypatch.setattr(timing, "_seen", defaultdict(lambda: deque(maxlen=timing.KEEP)))  # nothing timed here yet

    from restoration import codecs
    from restoration.bench import lab as lab_bench

    path = tmp_path / "in.png"
    Image.fromarray(np.zeros((2000, 2000, 3), np.uint8)).save(path)  # 4 MP: seconds, not tenths
    plain = lab_bench.codec_estimate(str(path), ["jpeg", "webp"], False, False)
    searched = lab_bench.codec_estimate(str(path), ["jpeg", "webp"], True, False)
    seconds = lambda text: float(text.split("about ")[1].split(" s")[0])
    assert plain.startswith("Estimate for 2000×2000: about") and seconds(searched) > 3 * seconds(plain) > 0
    assert codecs.get("jpeg").size_search_steps() == 8  # quality 1..100: a bisection of 8 encodes
    assert "not yet timed: HEIC" in lab_bench.codec_estimate(str(path), ["heic"], False, False)


def test_codec_estimate_uses_this_servers_last_comparison(tmp_path, astro128, monkeypatch):
    """A codec no stored run has timed is timed by its first comparison here (as a model by its
    first run): the tab's estimate after a run names a time, not "not yet timed"."""
    from collections import defaultdict, deque

    from PIL import Image

    from restoration.bench import lab as lab_bench
    from restoration.models import timing
    from restoration.pipelines import lab

    monkeypatch.setattr(timing, "_seen", defaultdict(lambda: deque(maxlen=timing.KEEP)))  # a fresh server
    path = tmp_path / "in.png"
    Image.fromarray(astro128).save(path)
    assert lab_bench.codec_estimate(str(path), ["heic"], False, False).endswith("(not yet timed: HEIC).")
    lab.compare(astro128, {"heic": {}}, lab.target_from_ui("bpp", 0.5))  # a size search: not its timing
    assert timing.seconds_per_mp("heic") is None
    lab.compare(astro128, {"heic": {}}, None)
    after = lab_bench.codec_estimate(str(path), ["heic"], False, False)
    assert "not yet timed" not in after and timing.seconds_per_mp("heic") > 0
