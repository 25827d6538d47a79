"""The metrics computed in bands of rows give the whole-image values (the bands' margins cover the
filters' reach, the band sums add up to the whole image's means), hold far less memory, and stop
between bands when the request is cancelled: the perceptual metrics against their packages, SSIM
and MS-SSIM against the same formulas on whole float32 planes."""

from __future__ import annotations

import importlib
import io
import tracemalloc

import cv2
import numpy as np
import pytest
from PIL import Image

from restoration import codecs, metrics
from restoration.core import budget
from restoration.core.errors import UserInputError
from restoration.metrics import perceptual

# The module, not metrics.ssim (the metric's function of the same name).
ssimlib = importlib.import_module("restoration.metrics.ssim")

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


def traced_peak(fn) -> int:
    """The peak of the bytes numpy and Python allocated while ``fn`` ran (tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_bands_hold_a_fraction_of_the_whole_images_memory(pair):
    """SSIMULACRA 2 (numpy: tracemalloc sees its arrays) on the whole image as the package runs
    it, and in bands of about a fifth of its rows."""
    pytest.importorskip("ssimulacra2")
    from ssimulacra2 import compute_ssimulacra2

    whole = traced_peak(lambda: compute_ssimulacra2(_png(pair[0]), _png(pair[1])))
    banded = traced_peak(lambda: perceptual.ssimulacra2(*pair, rows=100))
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


# SSIM and MS-SSIM: the whole-image computation they replaced, float32 planes throughout.


def valid(plane: np.ndarray) -> np.ndarray:
    return plane[ssimlib.RADIUS : -ssimlib.RADIUS, ssimlib.RADIUS : -ssimlib.RADIUS]


def channel_means(plane: np.ndarray) -> np.ndarray:
    channels = plane.shape[2] if plane.ndim == 3 else 1
    return np.array(cv2.mean(plane)[:channels])  # float64 accumulation


def halve(x: np.ndarray) -> np.ndarray:
    """2x2 average pooling of the whole plane; an odd last row/column is dropped."""
    h, w = x.shape[0] // 2, x.shape[1] // 2
    return cv2.resize(x[: 2 * h, : 2 * w], (w, h), interpolation=cv2.INTER_AREA)


def whole_ssim(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (SSIM, cs) from whole-image moments, averaged over the valid region."""
    x, y = x.astype(np.float32), y.astype(np.float32)
    blur = ssimlib.blur
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov = blur(x * x) - mu_x * mu_x, blur(y * y) - mu_y * mu_y, blur(x * y) - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1) * cs
    return channel_means(valid(ssim_map)), channel_means(valid(cs))


def whole_ms_ssim(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x.astype(np.float32), y.astype(np.float32)
    terms = []
    for scale in range(len(ssimlib.MS_WEIGHTS)):
        if scale:
            x, y = halve(x), halve(y)
        ssim, cs = whole_ssim(x, y)
        terms.append(ssim if scale == len(ssimlib.MS_WEIGHTS) - 1 else cs)
    return float(np.prod(np.maximum(np.stack(terms), 0.0) ** ssimlib.MS_WEIGHTS[:, None], axis=0).mean())


@pytest.fixture(scope="module")
def tall(astro):
    """700x530 (odd at MS-SSIM's scales 0, 1, 3 and 4) and a noisy, blurred version of it."""
    reference = np.concatenate([astro, astro[::-1]], 0)[:700]
    reference = np.ascontiguousarray(np.concatenate([reference, reference[:, ::-1]], 1)[:, :530])
    noise = np.random.default_rng(3).integers(-24, 25, reference.shape)
    distorted = cv2.GaussianBlur(np.clip(reference + noise, 0, 255).astype(np.uint8), (0, 0), 1.2)
    return reference, distorted


# 690 valid rows: bands of 1 row, 2 equal bands ending at the last valid row, a 1-row last band,
# one band that is the whole image, and more rows than the image has.
@pytest.mark.parametrize("rows", [1, 40, 57, 345, 689, 690, 2000])
def test_ssim_in_bands_is_the_whole_images(tall, rows):
    whole = whole_ssim(*tall)
    banded = ssimlib.ssim_components(*tall, rows=rows)
    for got, expected in zip(banded, whole):
        assert got.shape == (3,)
        assert np.abs(got - expected).max() < 1e-6
    luma = [metrics.luma_bt601(image) for image in tall]  # one float64 plane
    plane = ssimlib.ssim_components(*luma, rows=rows)[0]
    assert plane.shape == (1,) and abs(plane[0] - whole_ssim(*luma)[0][0]) < 1e-6


@pytest.mark.parametrize("rows", [2, 41, 64, None])
def test_pooling_in_bands_is_halve(tall, rows):
    """Bit for bit: uint8 in (converted a band at a time) and float32 in, odd sides dropped."""
    reference = tall[0]
    half = ssimlib.pooled(reference, rows)
    assert half.dtype == np.float32 and half.shape == (350, 265, 3)
    assert np.array_equal(half, halve(reference.astype(np.float32)))
    assert np.array_equal(ssimlib.pooled(half, rows), halve(half))


def test_ms_ssim_in_bands_is_the_whole_images(tall, monkeypatch):
    whole_ssim_value, whole_ms = float(whole_ssim(*tall)[0].mean()), whole_ms_ssim(*tall)
    assert 0.3 < whole_ssim_value < whole_ms < 0.99
    for band_pixels in (530 * 9, 530 * 64, 2**18):  # bands of 10 and 64 rows; the whole image
        monkeypatch.setattr(ssimlib, "BAND_PIXELS", band_pixels)
        monkeypatch.setattr(ssimlib, "MIN_BAND_ROWS", 2)
        sample = metrics.Sample(*tall)
        assert abs(metrics.ms_ssim(sample) - whole_ms) < 1e-6
        assert abs(metrics.ssim(sample) - whole_ssim_value) < 1e-6
    shaved = metrics.Sample(*tall, shave=4)
    assert abs(metrics.ms_ssim(shaved) - whole_ms_ssim(*(image[4:-4, 4:-4] for image in tall))) < 1e-6


def test_psnr_in_bands_is_the_whole_images(tall, monkeypatch):
    reference, distorted = tall
    difference = reference.astype(np.int64) - distorted.astype(np.int64)
    whole = metrics.psnr_from_mse(float((difference**2).mean()))
    luma = metrics.luma_bt601(reference) - metrics.luma_bt601(distorted)
    whole_y = metrics.psnr_from_mse(float((luma**2).mean()))
    for band_pixels in (530 * 9, 2**18):  # bands of 10 rows (a short last one); one band
        monkeypatch.setattr(ssimlib, "BAND_PIXELS", band_pixels)
        monkeypatch.setattr(ssimlib, "MIN_BAND_ROWS", 2)
        sample = metrics.Sample(reference, distorted)
        assert metrics.psnr(sample) == whole  # integer sums: exact
        assert abs(metrics.psnr_y(sample) - whole_y) < 1e-5


def test_a_sweep_shares_only_the_references_pooled_planes(tall):
    reference, distorted = tall
    stats = metrics.ReferenceStats(reference)
    versions = [distorted, reference, cv2.GaussianBlur(reference, (0, 0), 3.0)]
    shared = [
        metrics.measure(metrics.Sample(reference, v, reference_stats=stats), ["ssim", "ms_ssim"]) for v in versions
    ]
    alone = [metrics.measure(metrics.Sample(reference, v), ["ssim", "ms_ssim"]) for v in versions]
    assert shared == alone and shared[1] == {"ssim": pytest.approx(1.0), "ms_ssim": pytest.approx(1.0)}
    assert stats.plane(0) is reference  # not a float32 copy
    held = sum(stats.plane(scale).nbytes for scale in range(1, len(ssimlib.MS_WEIGHTS)))
    assert held < reference.size * 4 / 3  # a third of one float32 copy
    with pytest.raises(ValueError, match="reference stats"):
        metrics.ms_ssim(metrics.Sample(reference[:-2], distorted[:-2], reference_stats=stats))


def test_ssim_in_bands_holds_a_fraction_of_the_whole_images_memory(tall, monkeypatch):
    """numpy's arrays (tracemalloc sees them; OpenCV writes into them) in bands of 20 rows: the
    whole-image computation held ~9 float32 copies of the image, the bands hold the pooled scales."""
    monkeypatch.setattr(ssimlib, "BAND_PIXELS", 530 * 20)

    pixels = tall[0].shape[0] * tall[0].shape[1]
    whole = traced_peak(lambda: whole_ms_ssim(*tall))
    assert whole > 80 * pixels
    for name in ("ssim", "ms_ssim"):
        assert traced_peak(lambda name=name: metrics.measure(metrics.Sample(*tall), [name])) < 12 * pixels
