"""BD-rate on known cases, dashboard figures and tables, the report files, and the blind panel."""

from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import pytest
import skimage.data

from restoration.benchmark import charts, dashboards, panel, report, runner
from restoration.benchmark import inputs as bench_inputs
from restoration.benchmark.store import Store
from restoration.core.errors import UserInputError
from restoration.metrics import bdrate

RATES = [100.0, 200.0, 400.0, 800.0, 1600.0]
PSNR = [30.0, 33.0, 36.0, 38.5, 41.0]


@pytest.mark.parametrize("method", bdrate.METHODS)
def test_bd_rate_of_a_curve_shifted_in_rate_is_exact(method):
    """The same quality at 80 % of the rate everywhere: -20 % whatever the interpolation."""
    result = bdrate.bd(list(zip(RATES, PSNR)), [(0.8 * r, q) for r, q in zip(RATES, PSNR)], method)
    assert result.rate_percent == pytest.approx(-20.0, abs=1e-9)
    assert result.overlap == pytest.approx(1.0)
    back = bdrate.bd([(0.8 * r, q) for r, q in zip(RATES, PSNR)], list(zip(RATES, PSNR)), method)
    assert back.rate_percent == pytest.approx(25.0, abs=1e-9)  # 1 / 0.8 - 1


def test_bd_rate_and_bd_psnr_when_log_rate_is_linear_in_quality():
    """PSNR = 10 log10(rate): 1 dB more at every rate is 10^(-1/10) - 1 = -20.57 % rate, +1 dB BD-PSNR."""
    rates = np.array([1000.0, 2000.0, 4000.0, 8000.0])
    result = bdrate.bd(list(zip(rates, 10 * np.log10(rates))), list(zip(rates, 10 * np.log10(rates) + 1)))
    assert result.rate_percent == pytest.approx(100 * (10**-0.1 - 1), abs=1e-9)
    assert result.quality_delta == pytest.approx(1.0, abs=1e-9)
    # Bytes saved: the mean over the overlap of R(q) - R(q) / 10^0.1 (rates in bytes).
    grid = np.linspace(31.0, 10 * np.log10(8000.0), 100001)
    expected = np.mean(10 ** (grid / 10) * (1 - 10**-0.1))
    assert result.bytes_saved == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("factor", [0.7, 1.4])
def test_bd_rate_bytes_and_quality_agree_on_one_sign_convention(factor):
    """Issue 37: a row read "BD-rate -1.33 %, bytes saved -2056" under "negative: test is smaller".
    A test codec clearly smaller (0.7x the bytes) or clearly larger (1.4x) at every quality: BD-rate
    and bytes per image have the same sign (negative: smaller), BD-quality the other (positive:
    better), in the table as in the result."""
    anchor = list(zip(RATES, PSNR))
    test = [(factor * r, q) for r, q in anchor]
    result = bdrate.bd(anchor, test)
    smaller = factor < 1
    assert (result.rate_percent < 0) == (result.bytes_change < 0) == (result.quality_delta > 0) == smaller
    assert result.rate_percent == pytest.approx(100 * (factor - 1), abs=1e-9)
    rows = [
        _row(codec, f"q{i}", scale * r / 1000, q)
        for codec, scale in (("jpeg", 1.0), ("webp", factor))
        for i, (r, q) in enumerate(anchor)
    ]
    (row,) = dashboards.bd_table(dashboards.curves(rows), ("psnr",))
    rate, quality, change = row[4], row[5], row[6]
    assert (rate < 0) == (change < 0) == (quality > 0) == smaller


def test_bd_bytes_keep_the_rates_sign_where_the_curves_cross():
    """Curves that cross: smaller files at the many low rates, larger at the few high ones. The
    mean of bytes (``bytes_saved``) then says "larger" while the BD-rate says "smaller"; the table's
    bytes per image (``bytes_change``) is the BD-rate in bytes, so it never contradicts it."""
    anchor = list(zip(RATES, PSNR))
    test = [(r * f, q) for (r, q), f in zip(anchor, (0.5, 0.6, 0.8, 1.1, 1.3))]
    result = bdrate.bd(anchor, test)
    assert result.rate_percent < 0 and result.bytes_saved < 0  # the contradiction the issue saw
    assert result.bytes_change < 0


def test_bd_cleans_points_and_refuses_what_it_cannot_measure():
    # A costlier point with lower quality (JPEG XL's low-rate mode) is dropped; order does not matter.
    assert bdrate.monotone([(300, 31), (100, 30), (200, 29), (0, 10), (400, math.inf)]) == [(100, 30), (300, 31)]
    assert bdrate.bd([(1, 1), (2, 2)], [(3, 5), (4, 6)]) is None  # no quality overlap
    assert bdrate.bd([(1, 1)], [(1, 1), (2, 2)]) is None
    with pytest.raises(UserInputError, match="unknown BD interpolation"):
        bdrate.bd(list(zip(RATES, PSNR)), list(zip(RATES, PSNR)), "spline")


def _row(codec, setting, bpp, psnr, model=None, image="a", dataset="set"):
    return {
        "kind": "restore" if model else "codec",
        "codec": codec,
        "setting": setting,
        "bpp": bpp,
        "bytes": bpp * 1000,
        "psnr": psnr,
        "psnr_y": psnr + 1,
        "ssim": psnr / 50,
        "ms_ssim": psnr / 45,
        "ratio": 24 / bpp,
        "encode_ms": 2.0,
        "decode_ms": 1.0,
        "restore_ms": 30.0 if model else None,
        "model": model,
        "scale": None,
        "image": image,
        "dataset": dataset,
    }


@pytest.fixture
def rows():
    rows = []
    for image, offset in (("a", 0.0), ("b", 2.0)):
        for q, (bpp, psnr) in enumerate(zip([0.25, 0.5, 1.0, 2.0], [28.0, 31.0, 34.0, 37.0])):
            rows.append(_row("jpeg", f"quality={q}", bpp, psnr + offset, image=image))
            rows.append(_row("jpeg", f"quality={q}", bpp, psnr + offset + 1, "deeprecnet", image=image))
            rows.append(_row("webp", f"quality={q}", 0.8 * bpp, psnr + offset, image=image))
        rows.append(
            {
                **_row("png", "lossless", 13.0, 0.0, image=image),
                "psnr": "inf",
                "psnr_y": "inf",
                "ssim": 1.0,
                "ms_ssim": 1.0,
            }
        )
    return rows


def test_curves_average_per_setting_and_skip_lossless(rows):
    curves = dashboards.curves(rows)
    assert [(c.codec, c.model) for c in curves] == [("jpeg", None), ("jpeg", "deeprecnet"), ("webp", None)]
    first = curves[0].points[0]
    assert (first["bpp"], first["psnr"], first["images"]) == (0.25, 29.0, 2)  # mean of 28 and 30


def test_bd_table_codecs_against_jpeg_and_restoration_against_its_codec(rows):
    table = dashboards.bd_table(dashboards.curves(rows), ("psnr",))
    by_test = {row[2]: row for row in table}
    assert set(by_test) == {"WebP", "JPEG + deeprecnet"} and all(row[1] == "JPEG" for row in table)
    assert by_test["WebP"][4] == pytest.approx(-20.0, abs=0.01)  # same PSNR at 0.8x the bytes
    assert by_test["JPEG + deeprecnet"][4] < 0 and by_test["JPEG + deeprecnet"][6] < 0  # smaller: both negative
    assert by_test["JPEG + deeprecnet"][5] == pytest.approx(1.0, abs=1e-3)  # +1 dB at equal rate


def test_bd_table_says_why_a_row_has_no_bd_rate(rows):
    """MS-SSIM is not measured on images under its minimum size: the row says so, not blanks."""
    for row in rows:
        row["ms_ssim"] = None
    table = dashboards.bd_table(dashboards.curves(rows), ("psnr", "ms_ssim"))
    measured = [row for row in table if row[3] == "psnr"]
    assert measured and all(row[4] is not None and row[8] == "4/4" for row in measured)
    missing = [row for row in table if row[3] == "ms_ssim"]
    assert missing and all(row[4:8] == [None] * 4 for row in missing)
    assert all(row[8] == "0/0: no BD-rate, ms_ssim not measured on these images" for row in missing)


def test_bd_metrics_and_figures_follow_the_metric_table(rows, monkeypatch):
    """The BD table and the rate-distortion figures cover the metrics the table marks for BD-rate:
    those computed by default always, an on-demand one (a perceptual benchmark's) when measured."""
    from dataclasses import replace

    from restoration import metrics as metriclib

    on_demand = next(m for m in metriclib.METRICS.values() if m.on_demand and m.kind == "fidelity")
    monkeypatch.setitem(metriclib.METRICS, on_demand.name, replace(on_demand, bd=True))
    default = [m.name for m in metriclib.METRICS.values() if m.bd and not m.on_demand]
    assert dashboards.bd_metrics(dashboards.curves(rows)) == default
    measured = [{**row, on_demand.name: row["ssim"]} for row in rows]
    curves = dashboards.curves(measured)
    expected = [m.name for m in metriclib.METRICS.values() if m.bd and (not m.on_demand or m.name == on_demand.name)]
    assert dashboards.bd_metrics(curves) == expected
    assert on_demand.name in {row[3] for row in dashboards.bd_table(curves)}
    assert charts.rd_figure(measured, on_demand.name).layout.yaxis.title.text == on_demand.chart_label


def test_a_sweeps_rows_make_the_same_curves_and_bars():
    """The Codecs tab's sweep rows (no kind, data set or setting) draw through the same figures."""
    swept = [
        {"codec": "jpeg", "params": {"quality": q}, "bpp": b, "bytes": b * 100, "psnr": p, "ssim": p / 50}
        for q, b, p in ((20, 0.5, 30.0), (60, 1.0, 34.0))
    ]
    (curve,) = dashboards.curves(swept)
    assert [p["setting"] for p in curve.points] == ["quality=20", "quality=60"] and curve.model is None
    assert len(charts.rd_figure(swept, "psnr").data[0].x) == 2
    bars = charts.bars_figure(swept)
    assert [a.text for a in bars.layout.annotations][:3] == ["Size (KiB)", "Compression ratio", "PSNR (dB)"]


def test_figures_and_method_table(rows):
    figure = charts.rd_figure(rows, "psnr")
    assert [t.name for t in figure.data] == ["JPEG", "JPEG + deeprecnet", "WebP"]
    assert figure.data[1].line.dash == "dash" and figure.data[0].line.dash == "solid"
    formats = charts.bars_figure(rows, per_format=True)
    assert list(formats.data[0].x) == ["JPEG", "WebP", "PNG"]  # compression ratio bars
    psnr_bars = formats.data[2]
    assert psnr_bars.y[2] is None and psnr_bars.text[2] == "lossless"
    heat = charts.heatmap_figure(rows)
    assert list(heat.data[0].y) == ["JPEG", "WebP", "PNG"] and heat.data[0].text[2][0] == "lossless"
    table = {row[1]: row for row in dashboards.method_table(rows)}
    time_ms = dashboards.METHOD_HEADERS.index("time ms")  # columns follow the metric table
    assert table["JPEG"][2] == 8 and table["JPEG"][3] == pytest.approx(33.5) and table["JPEG"][time_ms] == 3.0
    assert table["JPEG + deeprecnet"][time_ms] == 33.0 and table["PNG"][3] == "inf"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "bench.sqlite"
    images = [bench_inputs.make("astro", "crops", skimage.data.astronaut()[100:292, 150:342])]
    config = runner.BenchConfig(("jpeg", "webp", "png"), qualities=(10, 30, 60, 90), models=("bilateral",), sr_scale=2)
    result = runner.bench(images, config, db, workers=1)
    return db, result


def test_report_files_are_self_contained(stored, tmp_path):
    db, result = stored
    built = report.build(db, [str(result.run_id)])
    assert (
        built.summary()["rows"] == result.rows == 4 + 4 + 4 + 4 + 1 + 1
    )  # jpeg, +bilateral, webp, +bilateral, png, sr
    assert {row[2] for row in built.bd} == {"WebP", "JPEG + bilateral", "WebP + bilateral"}
    assert {row[3] for row in built.bd} == {"psnr", "ssim", "ms_ssim"}
    files = report.write_all(built, tmp_path, "r")
    page = files["html"].read_text()
    assert page.count("Plotly.newPlot") == 5 and "bicubic-x2 (x2)" in page
    assert not re.search(r"<script[^>]+src=", page) and "<link" not in page  # nothing fetched to open it
    with open(files["csv"]) as handle:
        lines = list(csv.DictReader(handle))
    assert len(lines) == result.rows and {"bpp", "psnr", "model_sha256", "restore_ms"} <= set(lines[0])
    body = json.loads(files["json"].read_text())
    assert body["runs"][0]["provenance"]["library_digest"] and len(body["rows"]) == result.rows


def test_report_picks_the_latest_run_and_refuses_unknown_ones(stored):
    db, result = stored
    assert report.build(db).summary()["runs"] == [result.run_id]
    with pytest.raises(UserInputError, match="no run 77"):
        report.build(db, [77])
    with pytest.raises(UserInputError, match="not a run id"):
        report.build(db, ["latest"])


def test_blind_panel_hides_names_and_counts_votes(tmp_path):
    db = tmp_path / "panel.sqlite"
    image = skimage.data.astronaut()
    pair = panel.make_pair(image, "restoration", ["bilateral", "gaussian"], db, quality=10, seed=1)
    assert pair.a.shape == pair.b.shape == pair.input.shape == (256, 256, 3)
    assert not hasattr(pair, "model_a")  # the names stay in the database
    panel.vote(pair.id, pair.token, "A", db=db)
    with pytest.raises(UserInputError, match="has its vote already"):  # one vote per pair
        panel.vote(pair.id, pair.token, "B", db=db)
    again = panel.make_pair(image, "restoration", ["bilateral", "gaussian"], db, quality=10, seed=1)
    panel.vote(again.id, again.token, "same", score_a=4, score_b=2, db=db)
    sr_pair = panel.make_pair(image, "super-resolution", ["bicubic-x2", "nearest-x2"], db, scale=2, crop=64, seed=3)
    assert sr_pair.a.shape == (64, 64, 3) and sr_pair.input.shape == (32, 32, 3)
    panel.vote(sr_pair.id, sr_pair.token, score_b=5, db=db)
    assert panel.scores(db) == []  # hidden until enough votes are in
    table = {(row[0], row[1]): row for row in panel.scores(db, min_votes=3)}
    with Store(db) as store:
        first, second = store.pair(pair.id), store.pair(sr_pair.id)
    winner, loser = first["model_a"], first["model_b"]  # "A" won the first vote (same seed: same order)
    assert table[("restoration", winner)][2:7] == [2, 1, 1, 0, 0.75]
    assert table[("restoration", loser)][2:7] == [2, 0, 1, 1, 0.25]
    assert table[("restoration", winner)][7:] == [1, 4.0] and table[("restoration", loser)][7:] == [1, 2.0]
    scored = table[("super-resolution", second["model_b"])]
    assert scored[2] == 0 and scored[6] is None and scored[7:] == [1, 5.0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"preference": "C"}, "preference must be"),
        ({"score_a": 6}, "1 to 5"),
        ({}, "preference or a score"),
    ],
)
def test_panel_vote_errors(tmp_path, kwargs, message):
    with pytest.raises(UserInputError, match=message):
        panel.vote(1, panel.pair_token(1), db=tmp_path / "p.sqlite", **kwargs)


def test_a_vote_needs_its_pairs_token_and_votes_are_rate_limited(tmp_path, monkeypatch):
    db = tmp_path / "p.sqlite"
    image = skimage.data.astronaut()
    pairs = [
        panel.make_pair(image, "restoration", ["bilateral", "gaussian"], db, quality=10, crop=32, seed=i)
        for i in range(3)
    ]
    for token in (None, "", panel.pair_token(pairs[1].id), "f" * 32):
        with pytest.raises(UserInputError, match="token"):
            panel.vote(pairs[0].id, token, "A", db=db)
    monkeypatch.setattr(panel, "VOTES_PER_MINUTE", 2)
    monkeypatch.setattr(panel, "_RECENT", type(panel._RECENT)())
    panel.vote(pairs[0].id, pairs[0].token, "A", db=db)
    panel.vote(pairs[1].id, pairs[1].token, "B", db=db)
    with pytest.raises(UserInputError, match="too many votes"):
        panel.vote(pairs[2].id, pairs[2].token, "A", db=db)


def test_panel_needs_two_fitting_models(tmp_path):
    image = skimage.data.astronaut()
    with pytest.raises(UserInputError, match="at least two"):
        panel.make_pair(image, "restoration", ["bilateral"], tmp_path / "p.sqlite")
    with pytest.raises(UserInputError, match="super-resolution task"):
        panel.make_pair(image, "restoration", ["bilateral", "bicubic-x4"], tmp_path / "p.sqlite")
    with pytest.raises(UserInputError, match="no panel pair 5"):
        panel.vote(5, panel.pair_token(5), "A", db=tmp_path / "p.sqlite")


def test_a_fresh_database_shows_the_shipped_example_run(tmp_path):
    """The Dashboards tab opens on charts in a fresh clone: the example run until the user has one."""
    from restoration.lab import dashboards as lab_bench

    empty = tmp_path / "fresh.sqlite"
    built, files = lab_bench.report([], db=empty)
    assert lab_bench.dashboard_source(empty)[1] and "example run" in lab_bench.source_note(empty)
    assert built.summary()["rows"] > 100 and len(built.figures["rd_psnr"].data) >= 5
    assert not empty.exists()  # nothing written for the user; the package file is read from a copy
    assert lab_bench.EXAMPLE_DB.stat().st_size < 1_000_000


@pytest.mark.slow
def test_a_benchmark_is_estimated_before_it_runs(tmp_path, write_image, astro256):
    from restoration.lab import common
    from restoration.lab import dashboards as lab_bench

    image = write_image(astro256, "a.png")
    few = lab_bench.bench_estimate([str(image)], False, ["jpeg"], "50", "", [], 0, [], db=tmp_path / "none.sqlite")
    many = lab_bench.bench_estimate(
        [str(image)],
        False,
        ["jpeg", "webp"],
        "20,40,60",
        "",
        ["deeprecnet-qa-codecs"],
        0,
        [],
        db=tmp_path / "none.sqlite",
    )
    assert few.startswith("1 tasks on 1 image(s) (0.066 MP)")
    assert many.startswith("12 tasks on 1 image(s)")  # 2 codecs x 3 qualities, each also restored
    import re

    seconds = [float(re.search(r"about ([\d.]+) s here", text)[1]) for text in (few, many)]
    assert seconds[1] > seconds[0] > 0
    assert [common.duration(s) for s in (0.0342, 2.46, 12.3, 95)] == ["0.034 s", "2.5 s", "12 s", "1.6 min"]
    assert "Add images" in lab_bench.bench_estimate([], False, ["jpeg"], "", "", [], 0, [])
