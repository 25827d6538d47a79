"""Metrics: agreement with scikit-image and pytorch_msssim, edge cases, the registry, speed."""

from __future__ import annotations

import json
import math
import time

import cv2
import numpy as np
import pytest
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from restoration import codecs, metrics
from restoration.metrics import METRICS, Sample


def sk_ssim_reference(a, b) -> float:
    return sk_ssim(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)


def sk_psnr_y(a, b) -> float:
    return sk_psnr(rgb2ycbcr(a)[..., 0], rgb2ycbcr(b)[..., 0], data_range=255)


def torch_ms_ssim(a, b) -> float:
    torch = pytest.importorskip("torch")
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    as_tensor = lambda x: torch.from_numpy(x.astype(np.float64)).permute(2, 0, 1)[None].contiguous()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convolutions: one thread is ~40x faster on a busy 2-core box
    try:
        return float(pytorch_msssim.ms_ssim(as_tensor(a), as_tensor(b), data_range=255, size_average=True))
    finally:
        torch.set_num_threads(threads)


def distort(image: np.ndarray, kind: str) -> np.ndarray:
    if kind.startswith("jpeg"):
        jpeg = codecs.get("jpeg")
        return jpeg.decode(jpeg.encode(image, quality=int(kind[4:])))
    if kind == "noise":
        rng = np.random.default_rng(7)
        return np.clip(np.rint(image + rng.normal(0, 12, image.shape)), 0, 255).astype(np.uint8)
    if kind == "blur":
        return cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), 2.0)
    raise ValueError(kind)


DISTORTIONS = ["jpeg10", "jpeg50", "noise", "blur"]


@pytest.fixture(scope="module", params=["astro256", "chelsea_even", "chelsea"])
def reference(request, astro256, chelsea):
    if request.param == "chelsea_even":
        return np.ascontiguousarray(chelsea[:288, :432])  # even at every MS-SSIM scale
    return chelsea if request.param == "chelsea" else astro256


@pytest.mark.parametrize("kind", DISTORTIONS)
def test_psnr_and_ssim_match_scikit_image(reference, kind):
    distorted = distort(reference, kind)
    sample = Sample(reference, distorted)
    assert metrics.psnr(sample) == pytest.approx(sk_psnr(reference, distorted, data_range=255), abs=1e-6)
    assert metrics.psnr_y(sample) == pytest.approx(sk_psnr_y(reference, distorted), abs=1e-6)
    assert metrics.ssim(sample) == pytest.approx(sk_ssim_reference(reference, distorted), abs=1e-5)
    # A real distortion: not the identity, not garbage.
    assert 15.0 < metrics.psnr(sample) < 45.0
    assert 0.2 < metrics.ssim(sample) < 0.999


@pytest.mark.parametrize(
    "which,kind", [("astro256", k) for k in DISTORTIONS] + [("chelsea_even", "jpeg10"), ("chelsea_even", "noise")]
)
def test_ms_ssim_matches_pytorch_msssim(which, kind, astro256, chelsea):
    # Even sizes at every scale: pytorch_msssim pads odd sizes when pooling, we drop the last row/column.
    reference = astro256 if which == "astro256" else np.ascontiguousarray(chelsea[:288, :432])
    distorted = distort(reference, kind)
    ours = metrics.ms_ssim(Sample(reference, distorted))
    assert ours is not None
    assert ours == pytest.approx(torch_ms_ssim(reference, distorted), abs=1e-4)
    assert 0.5 < ours < 1.0


def test_metrics_are_symmetric(astro256):
    distorted = distort(astro256, "jpeg10")
    forward, backward = Sample(astro256, distorted), Sample(distorted, astro256)
    for name in ("psnr", "psnr_y", "ssim", "ms_ssim"):
        assert METRICS[name].compute(forward) == pytest.approx(METRICS[name].compute(backward), abs=1e-6)


def test_more_distortion_scores_worse(astro256):
    rng = np.random.default_rng(3)
    scores = []
    for sigma in (2, 8, 25):
        noisy = np.clip(np.rint(astro256 + rng.normal(0, sigma, astro256.shape)), 0, 255).astype(np.uint8)
        sample = Sample(astro256, noisy)
        scores.append((metrics.psnr(sample), metrics.psnr_y(sample), metrics.ssim(sample), metrics.ms_ssim(sample)))
    for column in zip(*scores):
        assert column[0] > column[1] > column[2], scores


def test_identical_images(astro256):
    sample = Sample(astro256, astro256.copy())
    assert metrics.psnr(sample) == math.inf
    assert metrics.psnr_y(sample) == math.inf
    assert metrics.ssim(sample) == pytest.approx(1.0, abs=1e-6)
    assert metrics.ms_ssim(sample) == pytest.approx(1.0, abs=1e-6)


def test_known_psnr_value():
    a = np.zeros((20, 30, 3), np.uint8)
    b = a.copy()
    b[..., 0] = 3  # MSE = 9 / 3 = 3 over all values
    assert metrics.psnr(Sample(a, b)) == pytest.approx(10 * math.log10(255**2 / 3.0), abs=1e-12)
    assert metrics.psnr_from_mse(0) == math.inf


def test_psnr_y_uses_bt601_studio_luma():
    grey = np.full((4, 4, 3), 128, np.uint8)
    assert metrics.luma_bt601(np.zeros((1, 1, 3), np.uint8))[0, 0] == pytest.approx(16.0)
    assert metrics.luma_bt601(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(235.0, abs=1e-9)
    assert metrics.luma_bt601(grey) == pytest.approx(rgb2ycbcr(grey)[..., 0])


def test_ms_ssim_none_below_the_minimum_size(astro):
    side = metrics.MS_SSIM_MIN_SIDE
    small = np.ascontiguousarray(astro[: side - 1, :300])
    assert metrics.ms_ssim(Sample(small, distort(small, "blur"))) is None
    assert metrics.ssim(Sample(small, distort(small, "blur"))) is not None
    for size in (176, 177, 200):  # every scale keeps a valid 11x11 window
        crop = np.ascontiguousarray(astro[:size, :size])
        value = metrics.ms_ssim(Sample(crop, distort(crop, "blur")))
        assert value is not None and 0.9 < value < 1.0


@pytest.mark.parametrize("size", [161, 170, 175])
def test_ms_ssim_below_the_minimum_is_unavailable_not_zero(astro, size):
    crop = np.ascontiguousarray(astro[:size, :size])
    value = metrics.ms_ssim(Sample(crop, distort(crop, "blur")))
    # Either a real MS-SSIM (blur sigma 2 scores ~0.98) or "unavailable"; never a made-up 0.0.
    assert value is None or 0.9 < value < 1.0


def test_ssim_none_for_tiny_images():
    tiny = np.zeros((10, 40, 3), np.uint8)
    sample = Sample(tiny, tiny)
    assert metrics.ssim(sample) is None
    assert metrics.ms_ssim(sample) is None
    assert metrics.psnr(sample) == math.inf


def test_shave_ignores_the_border(astro128):
    distorted = astro128.copy()
    distorted[:4] = 0
    distorted[:, -4:] = 255
    assert metrics.psnr(Sample(astro128, distorted)) < 30
    assert metrics.psnr(Sample(astro128, distorted, shave=4)) == math.inf


def test_shape_mismatch_is_refused(astro128):
    with pytest.raises(ValueError, match="shape mismatch"):
        Sample(astro128, astro128[:-1])


def test_rate_and_time_metrics(astro128):
    sample = Sample(astro128, astro128, nbytes=2048, encode_s=0.004, decode_s=0.002)
    values = metrics.measure(sample, ["bpp", "ratio", "encode_ms", "decode_ms"])
    assert values == pytest.approx(
        {"bpp": 8 * 2048 / (128 * 128), "ratio": 128 * 128 * 3 / 2048, "encode_ms": 4.0, "decode_ms": 2.0}
    )
    bare = metrics.measure(Sample(astro128, astro128), ["bpp", "ratio", "encode_ms", "decode_ms"])
    assert bare == {"bpp": None, "ratio": None, "encode_ms": None, "decode_ms": None}


def test_registry_entries_are_well_formed():
    expected = {"psnr", "psnr_y", "ssim", "ms_ssim", "lpips", "bpp", "ratio", "encode_ms", "decode_ms"}
    assert expected <= set(METRICS)
    for name, metric in METRICS.items():
        assert metric.name == name
        assert isinstance(metric.lower_better, bool)
        assert metric.low < metric.high
        assert metric.kind in {"fidelity", "rate", "time"}
        spec = metric.describe()
        assert spec["lower_better"] is metric.lower_better
        assert spec["range"][0] < spec["range"][1]
        json.dumps(spec)
    assert METRICS["psnr"].lower_better is False and METRICS["bpp"].lower_better is True
    assert METRICS["lpips"].lower_better is True


def test_lpips_unavailable_without_cached_backbone(monkeypatch, tmp_path, astro128):
    pytest.importorskip("lpips")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    lpips_metric = METRICS["lpips"]
    reason = lpips_metric.unavailable_reason()
    assert reason is not None and "cache" in reason
    assert str(tmp_path) in reason  # says where it looked
    sample = Sample(astro128, distort(astro128, "blur"))
    assert lpips_metric.compute(sample) is None
    assert metrics.measure(sample, ["lpips", "psnr"])["lpips"] is None
    assert lpips_metric.describe()["unavailable"] == reason
    from restoration.pipelines import evaluate

    assert "lpips" not in evaluate.default_metric_names()
    assert {"psnr", "ssim", "ms_ssim", "bpp"} <= set(evaluate.default_metric_names())


def test_faster_than_scikit_image(astro):
    """Not a timing threshold on its own: a ratio against scikit-image on the same machine."""
    reference = astro
    distorted = distort(astro, "jpeg50")

    def ours():
        sample = Sample(reference, distorted)
        return metrics.psnr(sample), metrics.ssim(sample)

    def theirs():
        return sk_psnr(reference, distorted, data_range=255), sk_ssim_reference(reference, distorted)

    def best_of(fn, runs=3):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
        return min(times), result

    ours_s, ours_values = best_of(ours)
    theirs_s, theirs_values = best_of(theirs)
    assert ours_values == pytest.approx(theirs_values, abs=1e-5)
    assert theirs_s >= 2.0 * ours_s, f"ours {ours_s * 1e3:.1f} ms vs scikit-image {theirs_s * 1e3:.1f} ms"


def test_ssimulacra2_is_on_demand_100_for_identical_and_falls_with_quality(astro256):
    from restoration import codecs as codeclib
    from restoration import metrics as metriclib

    assert "ssimulacra2" not in metriclib.names() and "ssimulacra2" in metriclib.names(on_demand=True)
    score = metriclib.METRICS["ssimulacra2"].compute
    assert score(metriclib.Sample(astro256, astro256)) == pytest.approx(100.0)
    jpeg = codeclib.get("jpeg")
    scores = [score(metriclib.Sample(astro256, jpeg.decode(jpeg.encode(astro256, quality=q)))) for q in (10, 40, 90)]
    assert scores[0] < scores[1] < scores[2] < 100.0


@pytest.mark.slow
def test_flip_is_on_demand_0_for_identical_and_rises_as_quality_falls(astro256):
    """NVIDIA's LDR-FLIP: the mean of its error map; the map itself is what the compare view shows."""
    from restoration import codecs as codeclib
    from restoration import metrics as metriclib
    from restoration.metrics import perceptual

    metric = metriclib.METRICS["flip"]
    assert "flip" not in metriclib.names() and "flip" in metriclib.names(on_demand=True)
    assert metric.lower_better and (metric.low, metric.high) == (0.0, 1.0)
    assert metric.compute(metriclib.Sample(astro256, astro256)) == 0.0
    jpeg = codeclib.get("jpeg")
    decoded = {q: jpeg.decode(jpeg.encode(astro256, quality=q)) for q in (10, 40, 90)}
    errors = [metric.compute(metriclib.Sample(astro256, decoded[q])) for q in (10, 40, 90)]
    assert errors[0] > errors[1] > errors[2] > 0.0
    heat, mean = perceptual.flip_map(astro256, decoded[10])
    assert heat.shape == astro256.shape and heat.dtype == np.uint8 and mean == pytest.approx(errors[0])
    assert heat.astype(float).mean() > perceptual.flip_map(astro256, decoded[90])[0].astype(float).mean()


def test_colorvideovdp_is_on_demand_10_jod_for_identical_and_falls_with_quality(astro256):
    """ColorVideoVDP runs offline on the display model its package ships ("standard_4k")."""
    from restoration import codecs as codeclib
    from restoration import metrics as metriclib

    metric = metriclib.METRICS["cvvdp"]
    assert metric.unit == "JOD" and not metric.lower_better and metric.unavailable_reason() is None
    assert "cvvdp" not in metriclib.names() and "cvvdp" in metriclib.names(on_demand=True)
    assert metric.compute(metriclib.Sample(astro256, astro256)) == pytest.approx(10.0, abs=1e-3)
    jpeg = codeclib.get("jpeg")
    jods = [
        metric.compute(metriclib.Sample(astro256, jpeg.decode(jpeg.encode(astro256, quality=q)))) for q in (10, 40, 90)
    ]
    assert jods[0] < jods[1] < jods[2] < 10.0


def test_bd_rate_on_a_lower_is_better_metric_keeps_its_meaning():
    """The same curves as FLIP-like errors (lower better) and as their negatives give one answer."""
    from restoration.metrics import bdrate

    anchor = [(0.5, 0.20), (1.0, 0.12), (2.0, 0.07), (4.0, 0.04)]
    better = [(r * 0.8, q) for r, q in anchor]  # the same errors at 20 % fewer bits
    result = bdrate.bd_on("flip", anchor, better, rates_in_bytes=False)
    assert result.rate_percent == pytest.approx(-20.0, abs=0.5) and result.quality_delta > 0
    plain = bdrate.bd([(r, -q) for r, q in anchor], [(r, -q) for r, q in better], rates_in_bytes=False)
    assert result.rate_percent == pytest.approx(plain.rate_percent)


def test_the_metric_table_declares_charts_bd_and_packages():
    """What figures, BD tables and the benchmark's provenance read from the table, not from a list
    of their own."""
    assert metrics.bd_names() == ["psnr", "ssim", "ms_ssim", "ssimulacra2", "flip", "cvvdp"]  # RD figures, BD tables
    assert all(METRICS[name].kind == "fidelity" for name in metrics.bd_names())
    assert METRICS["psnr"].chart_label == "PSNR (dB)" and METRICS["ssim"].chart_label == "SSIM"
    assert (
        METRICS["encode_ms"].chart_label == "Encode time (ms)" and METRICS["ratio"].chart_label == "Compression ratio"
    )
    assert all(m.chart_label for m in METRICS.values())
    assert all(m.packages for m in METRICS.values() if m.kind == "fidelity")
    assert {"lpips", "ssimulacra2", "flip-evaluator", "cvvdp", "opencv-python-headless"} <= set(metrics.packages())
    spec = METRICS["ms_ssim"].describe()
    assert spec["bd"] is True and spec["chart_label"] == "MS-SSIM"
