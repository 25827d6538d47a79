"""The perceptual metrics computed in bands of rows give the packages' whole-image values (the
bands' margins cover the filters' reach, the band sums add up to the whole image's means), hold
far less memory, and stop between bands when the request is cancelled."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from restoration import codecs
from restoration.core import budget
from restoration.core.errors import UserInputError
from restoration.metrics import perceptual

ROWS = 34  # far below the default band: many bands, each with margins above and below


@pytest.fixture(scope="module")
def pair(astro):
    """517x768 (odd height: the last band and the pyramids' odd edges) and its JPEG at quality 30."""
    wide = np.concatenate([astro, astro[:, :256][:, ::-1]], 1)
    reference = np.ascontiguousarray(np.concatenate([wide, wide[::-1]], 0)[:517])
    jpeg = codecs.get("jpeg")
    return reference, jpeg.decode(jpeg.encode(reference, quality=30))


def _png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=0)
    buffer.seek(0)
    return buffer


@pytest.mark.slow
def test_ssimulacra2_in_bands_is_the_packages_score(pair):
    pytest.importorskip("ssimulacra2")
    from ssimulacra2 import compute_ssimulacra2

    whole = compute_ssimulacra2(_png(pair[0]), _png(pair[1]))
    assert 20 < whole < 90
    for rows in (ROWS, 100, None):
        assert perceptual.ssimulacra2(*pair, rows=rows) == pytest.approx(whole, abs=1e-9)


@pytest.mark.slow
def test_flip_in_bands_is_the_packages_map(pair):
    pytest.importorskip("flip_evaluator")
    import flip_evaluator

    reference, distorted = (a.astype(np.float32) / 255 for a in pair)
    plain, package_mean, _ = flip_evaluator.evaluate(reference, distorted, "LDR", applyMagma=False)
    coloured, _, _ = flip_evaluator.evaluate(reference, distorted, "LDR", applyMagma=True)
    error, mean = perceptual.flip_bands(*pair, False, True, ROWS)
    heat, heat_mean = perceptual.flip_bands(*pair, True, True, ROWS)
    assert np.array_equal(error, plain)
    assert np.array_equal(heat, np.clip(coloured * 255 + 0.5, 0, 255).astype(np.uint8))
    assert mean == heat_mean == pytest.approx(plain.astype(np.float64).mean(), rel=1e-12)
    assert mean == pytest.approx(package_mean, rel=1e-4)  # the package sums in float32
    assert perceptual.flip_bands(*pair, False, False, ROWS) == (None, mean)


@pytest.mark.slow
def test_colorvideovdp_in_bands_is_the_packages_jod(pair):
    pytest.importorskip("pycvvdp")
    metric = perceptual._cvvdp("standard_4k")
    jod, _ = metric.predict(pair[1], pair[0], dim_order="HWC")
    assert 5 < float(jod) < 10
    assert perceptual.cvvdp(metric, *pair, rows=48) == pytest.approx(float(jod), abs=1e-4)


def test_bands_hold_a_fraction_of_the_whole_images_memory(pair):
    """SSIMULACRA 2 (numpy: tracemalloc sees its arrays) on the whole image as the package runs
    it, and in bands of about a fifth of its rows."""
    pytest.importorskip("ssimulacra2")
    from ssimulacra2 import compute_ssimulacra2

    def peak(fn):
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    whole = peak(lambda: compute_ssimulacra2(_png(pair[0]), _png(pair[1])))
    banded = peak(lambda: perceptual.ssimulacra2(*pair, rows=100))
    pixels = pair[0].shape[0] * pair[0].shape[1]
    assert whole > 300 * pixels and banded < whole / 3


def test_a_cancelled_request_stops_between_bands(pair, monkeypatch):
    pytest.importorskip("ssimulacra2")
    checks = []
    monkeypatch.setattr(budget, "check", lambda: checks.append(1))
    perceptual.ssimulacra2(*pair, rows=ROWS)
    assert len(checks) > 517 // ROWS  # at least once a band
    monkeypatch.undo()
    with budget.request(cancelled=lambda: True), pytest.raises(UserInputError, match="cancelled"):
        perceptual.ssimulacra2(*pair, rows=ROWS)
