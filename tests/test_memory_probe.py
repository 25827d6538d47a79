"""The server's memory and disk under a stranger's requests (scaled down to run in a minute):
admission by predicted bytes (the memory model), refusal naming the request's own need, eviction
of the oldest outputs under the disk quota, and reports of the same runs written once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from restoration.core import budget, memory, scratch
from ui import codecs_tab
from ui import common as ui_common


@pytest.fixture()
def photo_png(tmp_path, astro):
    path = tmp_path / "photo.png"
    Image.fromarray(np.ascontiguousarray(astro)).save(path)  # 512x512
    return path


def compare_need(pixels: int, perceptual: bool) -> int:
    from restoration import metrics
    from restoration.pipelines import compare as lab

    names = metrics.names(on_demand=perceptual)
    return memory.need("x", pixels, [("codec", "jpeg"), *lab.metric_steps(names)], kept=2).bytes


def test_every_codec_and_metric_of_the_registries_is_measured():
    from restoration import codecs, metrics

    missing = [
        f"codec:{name}"
        for name, c in codecs.CODECS.items()
        if c.unavailable_reason() is None and not memory.measured("codec", name)
    ]
    missing += [
        f"metric:{name}" for name in metrics.names("fidelity", on_demand=True) if not memory.measured("metric", name)
    ]
    assert not missing, f"run python bench/memory_model.py --only ...: {missing}"


# The heavy steps work in bands of rows (metrics.perceptual, metrics.ssim) or tiles
# (codecs.learned): their measured bytes per pixel stay under a third of what they took on the whole
# image (SSIMULACRA 2 523, ColorVideoVDP 607, FLIP 153, SSIM and MS-SSIM 105.6 each, PSNR 25.1, the
# learned codecs 196 and 358), and their fixed part is about one band's or tile's working set.
# Measured (bench/memory_model.py, at 2 and 8 MP): 14, 7, 2, 0.2, 7.8, 1.0, 10 and 94 bytes a pixel
# and 122, 208, 46, 25, 13, 1, 168 and 61 MiB (MS-SSIM's bytes a pixel are its pooled coarser
# scales), so the metrics' predicted peaks at 40 MP (the largest upload) are 0.67, 0.49, 0.12, 0.03,
# 0.33 and 0.04 GB (were 21, 24, 6, 4.2, 4.2 and 1.0 GB), the codecs' at 16 MP (the most they code)
# 0.33 and 1.57 GB (were 3.3 and 5.7 GB).
BANDED_BOUNDS = {
    ("metric", "ssimulacra2"): 523 / 3,
    ("metric", "cvvdp"): 607 / 3,
    ("metric", "flip"): 153 / 3,
    ("metric", "ssim"): 105.6 / 3,
    ("metric", "ms_ssim"): 105.6 / 3,
    ("metric", "psnr"): 25.1 / 3,
    ("codec", "neural"): 196 / 3,
    ("codec", "neural-hp"): 358 / 3,
}


@pytest.mark.parametrize("kind, name", BANDED_BOUNDS)
def test_a_heavy_steps_bytes_per_pixel_stay_bounded(kind, name):
    cost = memory.table()[kind][name]
    measure = f"python bench/memory_model.py --only {kind}:{name}"
    assert cost["per_pixel"] <= BANDED_BOUNDS[(kind, name)], measure
    assert cost["fixed"] <= 256 * 2**20, measure
    largest = 16_000_000 if kind == "codec" else 40_000_000
    assert memory.step_bytes(kind, name, largest) < 2.5e9


def test_a_comparison_is_admitted_by_its_predicted_bytes(monkeypatch, photo_png):
    """Between the cheap comparison's need and the perceptual one's: the first runs, the second is
    refused at once, naming what it needs, the budget and what to turn off."""
    pixels = 512 * 512
    cheap, heavy = compare_need(pixels, False), compare_need(pixels, True)
    assert heavy > 1.5 * cheap  # the perceptual metrics cost most of the bytes
    monkeypatch.setenv("RESTORATION_MEMORY_BUDGET", str((cheap + heavy) // 2 + 50 * 2**20))
    compare = codecs_tab.make_compare([("jpeg", "quality")])
    table, *_ = compare(str(photo_png), ["jpeg"], "settings", None, False, 50, progress=lambda *a, **k: None)
    assert table["data"]
    start = time.monotonic()
    with pytest.raises(
        gr.Error,
        match=r"this comparison of 1 codec\(s\) at 0.3 MP with the perceptual metrics "
        r"needs ~.* of memory; the server allows .*: use a smaller image",
    ):
        compare(str(photo_png), ["jpeg"], "settings", None, True, 50, progress=lambda *a, **k: None)
    assert time.monotonic() - start < 5 and budget.BUDGET.used == 0


@pytest.mark.slow
def test_a_request_waits_for_the_bytes_held_and_starts_when_they_are_freed(monkeypatch, photo_png):
    pixels = 512 * 512
    cheap = compare_need(pixels, False)
    monkeypatch.setenv("RESTORATION_MEMORY_BUDGET", str(2 * cheap))
    monkeypatch.setenv("RESTORATION_BUDGET_WAIT_S", "20")
    release, holding = threading.Event(), threading.Event()

    def holder():
        with budget.request():
            budget.claim(memory.Need(int(1.5 * cheap), "a running request"))
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait(5)
    threading.Timer(1.0, release.set).start()
    compare = codecs_tab.make_compare([("jpeg", "quality")])
    start = time.monotonic()
    table, *_ = compare(str(photo_png), ["jpeg"], "settings", None, False, 50, progress=lambda *a, **k: None)
    waited = time.monotonic() - start
    thread.join()
    assert table["data"] and 0.8 < waited < 15 and budget.BUDGET.used == 0


def test_the_disk_quota_evicts_the_oldest_outputs(monkeypatch):
    monkeypatch.setenv("RESTORATION_TMP_QUOTA", "250000")
    made = []
    for _ in range(6):
        folder = scratch.folder("probe-")
        (folder / "result.bin").write_bytes(b"\0" * 100_000)
        made.append(folder)
        time.sleep(0.02)
    scratch.enforce_quota()
    kept = [f for f in made if f.exists()]
    assert kept == made[-len(kept) :] and 1 <= len(kept) <= 2  # the newest survive
    assert sum(p.stat().st_size for p in scratch.root().rglob("*") if p.is_file()) <= 250_000


def test_the_same_report_is_written_once(tmp_path):
    from restoration.lab import dashboards as bench_lab

    first = bench_lab.report([])[1]
    mtimes = {kind: path.stat().st_mtime_ns for kind, path in first.items()}
    time.sleep(0.05)
    second = bench_lab.report([])[1]
    assert {k: str(v) for k, v in first.items()} == {k: str(v) for k, v in second.items()}
    assert {kind: path.stat().st_mtime_ns for kind, path in second.items()} == mtimes


def test_a_sessions_shown_images_are_kept_on_disk_not_in_its_memory(photo_png):
    """What a session holds between runs (the compare view's images) is files under the scratch
    quota, not arrays outside the memory budget; once they are cleared the view says so."""
    compare = codecs_tab.make_compare([("jpeg", "quality")])
    _, _, _, views, left, right, shown, _ = compare(
        str(photo_png), ["jpeg"], "settings", None, False, 50, progress=lambda *a, **k: None
    )
    assert views and all(isinstance(path, str) and path.endswith(".npy") for path in views.values())
    assert all(scratch.root() in Path(path).parents for path in views.values())
    assert shown["w"] == 512 and ui_common.compare_view(views, left["value"], right["value"])["h"] == 512
    for path in views.values():
        Path(path).unlink()
    with pytest.raises(gr.Error, match="cleared from the server's temporary space"):
        ui_common.compare_view(views, left["value"], right["value"])


def test_a_run_keeps_at_most_a_quarter_of_the_temp_quota_for_its_shown_images(monkeypatch):
    from restoration.lab import common

    image = np.zeros((100, 100, 3), np.uint8)  # 30 kB each
    monkeypatch.setenv("RESTORATION_TMP_QUOTA", str(4 * 100_000))  # a quarter: room for three
    kept = common.keep_views({f"view {n}": image for n in range(5)})
    assert list(kept) == ["view 0", "view 1", "view 2"]  # in order: the images before their maps
    assert np.array_equal(common.view(kept, "view 2"), image)


def test_the_first_pair_shown_is_one_that_was_kept():
    from restoration.lab import common

    kept = {"original": "a.npy", "jpeg": "b.npy", "webp": "c.npy"}
    assert common.kept_pair(kept, "original", "webp") == ("original", "webp")
    assert common.kept_pair(kept, "original", "avif (not kept)") == ("original", "jpeg")
    assert common.kept_pair({"original": "a.npy"}, None, None) == ("original", "original")
    assert common.kept_pair({}, "original", "jpeg") == (None, None)
