"""Perceptual metrics codec engineers use, computed on demand (they cost ~10x the fidelity
metrics): SSIMULACRA 2 (the ``ssimulacra2`` package, the JPEG XL and AVIF communities' score:
100 = identical, ~90 visually lossless, ~70 high quality, ~50 medium, below 30 poor) and NVIDIA's
FLIP (``flip-evaluator``, LDR-FLIP: the mean of a per-pixel perceived-difference map, 0 = none,
1 = most; viewing condition 67 pixels per degree, the package's default: a 0.7 m viewing distance
from a 0.7 m wide 3840-pixel monitor), whose map a person can look at; and ColorVideoVDP
(``cvvdp``, Mantiuk et al. 2024) in JOD (just-objectionable differences: 10 = identical, each unit
less = one more in four observers prefers the reference), for its "standard_4k" display model (a
30-inch 4K SDR monitor, 200 cd/m2, in an office) shipped with the package: runs offline.

Memory: each runs over bands of rows (about ``BAND_PIXELS`` pixels each), so its working set is
one band's, not the whole image's (the packages hold dozens of float copies of the image: 520-610
bytes a pixel). Each metric is a pooled mean over the pixels of one or more scales of per-pixel
maps computed by local filters, so a band computed with its neighbours' rows (the filters' reach)
gives exactly the rows the whole image gives, and the band sums add up to the whole image's mean:

- FLIP: the package on each band with ``FLIP_MARGIN`` rows above and below (its filters reach 12
  rows at 67 pixels per degree); the map's core rows are kept, and the coloured map is the plain
  one through FLIP's magma colours (``magma``).
- SSIMULACRA 2: the package's steps (XYB, blur, the SSIM and edge maps, 2x2 downsampling in linear
  RGB) at each of its six scales, one band at a time with ``SSIMULACRA2_MARGIN`` rows (its blur
  reaches 5); the next scale's linear image (a quarter of the pixels) is held whole.
- ColorVideoVDP: its Laplacian pyramid level by level: each level's next Gaussian level is reduced
  band by band and held whole (a quarter of the pixels), then the level's contrast, masking and
  pooled differences band by band with ``CVVDP_MARGIN`` rows (its masking blur reaches 6); the
  coarsest level (1/256 of the sides) is computed whole. An image of one band runs the package as is.

Banded and whole agree (``tests/test_banded_metrics.py``, 768x517 in bands of 34 or 48 rows):
SSIMULACRA 2 to 1e-13, ColorVideoVDP to its float32 rounding (the same JOD there); FLIP's map is
the package's to the bit and its mean the map's mean in float64 (the package's own sums in
float32: 5e-5 apart, relatively).
Each band checks the request (``core.budget.check``), so a cancel or the time limit stops a long
metric within a band."""

from __future__ import annotations

import functools
import importlib.util

import cv2
import numpy as np

from restoration.core import budget, memory, worker

BAND_PIXELS = 2**18  # the pixels of one band: its working set is the metric's bytes a pixel times this
MIN_BAND_ROWS = 32  # a very wide image still gets bands this tall, so the margins stay a small share
FLIP_MARGIN = 24
SSIMULACRA2_MARGIN = 6
CVVDP_MARGIN = 8


def band_rows(width: int) -> int:
    """Rows of one band of an image ``width`` pixels wide: about ``BAND_PIXELS`` pixels, an even
    count (a band then starts on a 2x2 block at every scale that halves it)."""
    rows = max(MIN_BAND_ROWS, BAND_PIXELS // max(1, width))
    return rows + rows % 2


def bands(height: int, rows: int) -> list[tuple[int, int]]:
    """[start, stop) of each band of ``rows`` rows (the last may be shorter) covering ``height``."""
    return [(start, min(height, start + rows)) for start in range(0, height, rows)]


class PackageMetric:
    """A metric computed by an optional package: unavailable (and None) when it is not installed;
    a subclass names the module and the pip package and scores a (reference, distorted) pair."""

    module = package = ""

    def unavailable_reason(self) -> str | None:
        return None if importlib.util.find_spec(self.module) else f"the {self.package} package is not installed"

    def __call__(self, sample) -> float | None:
        return None if self.unavailable_reason() else self.score(*sample.pair)

    def score(self, reference, distorted) -> float | None:
        raise NotImplementedError


class Ssimulacra2(PackageMetric):
    module = package = "ssimulacra2"

    def score(self, reference, distorted) -> float | None:
        if min(reference.shape[:2]) < 8:
            return None  # below its coarsest scale
        return ssimulacra2(reference, distorted)


def ssimulacra2(reference: np.ndarray, distorted: np.ndarray, rows: int | None = None) -> float:
    """SSIMULACRA 2 of two uint8 RGB images as the package's ``compute_ssimulacra2`` computes it
    from their files, one band of ``rows`` rows at a time (default: ``band_rows``)."""
    from ssimulacra2 import ssimulacra2 as s2

    pooled = s2.Msssim()
    height, width = reference.shape[:2]
    images = (reference, distorted)  # uint8 at the first scale, then linear RGB float64
    for scale in range(s2.kNumScales):
        if height < 8 or width < 8:
            break
        step = band_rows(width) if rows is None else rows + rows % 2  # a band starts on a 2x2 block
        last = scale == s2.kNumScales - 1
        half = None if last else [np.empty(((height + 1) // 2, (width + 1) // 2, 3)) for _ in images]
        # 6 SSIM then 12 edge statistics (s2.ssim_map, s2.edge_diff_map): the even ones are means,
        # the odd ones 4-norms; summed here as totals of the values and of their 4th powers.
        totals = np.zeros(18)
        for start, stop in bands(height, step):
            budget.check()
            memory.release_freed()
            low, high = max(0, start - SSIMULACRA2_MARGIN), min(height, stop + SSIMULACRA2_MARGIN)
            linear = [s2.srgb_to_linear(image[low:high]) if scale == 0 else image[low:high] for image in images]
            # the package's XYB planes are transposed (columns first): the band's rows are their axis 1
            xyb = [s2.make_positive_xyb(s2.linear_rgb_to_xyb(plane)) for plane in linear]
            core = slice(start - low, stop - low)
            sigma11, sigma22, sigma12 = (
                s2.blur_image(product)[:, core] for product in (xyb[0] * xyb[0], xyb[1] * xyb[1], xyb[0] * xyb[1])
            )
            mu1, mu2 = (s2.blur_image(plane)[:, core] for plane in xyb)
            values = np.concatenate(
                [
                    s2.ssim_map(mu1, mu2, sigma11, sigma22, sigma12),
                    s2.edge_diff_map(xyb[0][:, core], mu1, xyb[1][:, core], mu2),
                ]
            )
            values[1::2] **= 4
            totals += values * ((stop - start) * width)
            if half is not None:
                for plane, target in zip(linear, half):
                    target[start // 2 : (stop + 1) // 2] = s2.downsample(plane[core], 2, 2)
        averages = totals / (height * width)
        averages[1::2] **= 0.25
        scale_data = s2.MsssimScale()
        scale_data.avg_ssim, scale_data.avg_edgediff = averages[:6], averages[6:]
        pooled.scales.append(scale_data)
        if half is not None:
            images, (height, width) = half, half[0].shape[:2]
    return float(pooled.score())


class Flip(PackageMetric):
    """LDR-FLIP's mean error (lower is better), on sRGB inputs in [0, 1]."""

    module, package = "flip_evaluator", "flip-evaluator"

    def score(self, reference, distorted) -> float:
        return float(_stoppable(flip_bands, reference, distorted, False, False)[1])


def flip_map(reference, distorted, colour: bool = True):
    """(FLIP's error map, its mean): with ``colour`` the map as uint8 RGB in the magma colour map
    the FLIP paper shows (black = no perceived difference), else as float. In a request (the app)
    it is computed in a worker process (``core.worker``): flip_evaluator holds Python's GIL for
    its whole computation (3.4 s at 3 MP here), which froze every other request and the server's
    event loop (a tiny /compress took 8.9 s beside a 6 MP comparison), and a cancel could not
    stop it."""
    return _stoppable(flip_bands, reference, distorted, colour, True)


def _stoppable(fn, *args):
    """``fn(*args)`` in a worker process inside a request (which a cancel kills), else here."""
    return worker.call(fn, *args) if budget.active() else fn(*args)


def flip_bands(reference, distorted, colour: bool, keep_map: bool, rows: int | None = None):
    """(the map or None, the mean) of FLIP, one band of ``rows`` rows at a time (default:
    ``band_rows``) with ``FLIP_MARGIN`` rows of context; the map only with ``keep_map``, in the
    magma colour map with ``colour``."""
    import flip_evaluator

    height, width = reference.shape[:2]
    error_map, total = None, 0.0
    for start, stop in bands(height, rows or band_rows(width)):
        budget.check()
        memory.release_freed()
        low, high = max(0, start - FLIP_MARGIN), min(height, stop + FLIP_MARGIN)
        error, _, _ = flip_evaluator.evaluate(
            reference[low:high].astype(np.float32) / 255,
            distorted[low:high].astype(np.float32) / 255,
            "LDR",
            applyMagma=False,
            computeMeanError=False,
        )
        error = error[start - low : stop - low]
        total += float(error.sum(dtype=np.float64))
        if keep_map:
            shown = magma(error) if colour else error
            if error_map is None:
                error_map = np.empty((height, width, shown.shape[2]), shown.dtype)
            error_map[start:stop] = shown
    return error_map, total / (height * width)


def magma(error: np.ndarray) -> np.ndarray:
    """FLIP's error (H x W x 1, float32) as uint8 RGB in the magma colour map, the colours
    ``flip_evaluator.evaluate(..., applyMagma=True)`` gives: its 256 entries (OpenCV's are the
    same), indexed by the error rounded to 1/255 as FLIP rounds it."""
    index = np.clip(np.floor(error[..., 0] * np.float32(255) + np.float32(0.5)), 0, 255).astype(np.intp)
    return magma_table()[index]


@functools.cache
def magma_table() -> np.ndarray:
    return np.ascontiguousarray(cv2.applyColorMap(np.arange(256, dtype=np.uint8)[None], cv2.COLORMAP_MAGMA)[0, :, ::-1])


class ColorVideoVDP(PackageMetric):
    """ColorVideoVDP's quality in JOD for a still image pair (higher is better, 10 = identical)."""

    module, package = "pycvvdp", "cvvdp"
    display = "standard_4k"

    def score(self, reference, distorted) -> float:
        return cvvdp(_cvvdp(self.display), reference, distorted)


@functools.lru_cache(maxsize=2)
def _cvvdp(display: str):
    import pycvvdp
    import torch

    return pycvvdp.cvvdp(display_name=display, device=torch.device("cpu"))


def cvvdp(metric, reference: np.ndarray, distorted: np.ndarray, rows: int | None = None) -> float:
    """ColorVideoVDP's JOD of a uint8 RGB pair as ``metric.predict`` computes it, its pyramid
    levels one band of ``rows`` rows at a time (default: ``band_rows`` of each level's width).
    An image of one band, or a configuration other than the shipped one (Weber contrast against
    the next Gaussian level), runs the package as is."""
    import torch

    height, width = reference.shape[:2]
    if height <= (rows or band_rows(width)) or metric.contrast != "weber_g1" or metric.do_heatmap:
        jod, _ = metric.predict(distorted, reference, dim_order="HWC")
        return float(jod)
    with torch.no_grad():
        return _cvvdp_banded(metric, reference, distorted, rows)


def _cvvdp_banded(metric, reference, distorted, rows) -> float:
    import torch
    from pycvvdp.cvvdp_metric import safe_pow
    from pycvvdp.lpyr_dec import weber_contrast_pyr
    from pycvvdp.video_source import video_source_array

    height, width = reference.shape[:2]
    pyramid = weber_contrast_pyr(width, height, metric.pix_per_deg, metric.device, contrast=metric.contrast)
    levels = pyramid.get_band_count()
    frequencies = np.array(pyramid.get_freqs(), dtype=np.float64)
    frequencies[-1] = 0.1  # the baseband's, as process_block_of_frames sets it

    def image_rows(start: int, stop: int):
        """Rows of the first Gaussian level: test and reference in DKL, interleaved as the package does."""
        source = video_source_array(
            distorted[start:stop],
            reference[start:stop],
            0,
            dim_order="HWC",
            display_photometry=metric.display_photometry,
        )
        planes = torch.zeros((1, 6, 1, stop - start, width), device=metric.device)
        planes[:, 0::2] = source.get_test_frame(0, device=metric.device, colorspace="DKLd65")
        planes[:, 1::2] = source.get_reference_frame(0, device=metric.device, colorspace="DKLd65")
        return planes

    pooled = torch.zeros((1, 3, 1, levels), device=metric.device)
    rows_of, level_height, level_width = image_rows, height, width
    for level in range(levels - 1):
        step = rows or band_rows(level_width)
        below = _reduced(pyramid, rows_of, level_height, level_width, step)
        totals = torch.zeros(3, dtype=torch.float64)
        for start, stop in bands(level_height, step):
            budget.check()
            memory.release_freed()
            low, high = max(0, start - CVVDP_MARGIN), min(level_height, stop + CVVDP_MARGIN)
            gaussian = rows_of(low, high)
            expanded = _expanded(pyramid, below, low, high, level_height, level_width)
            background = torch.clamp(expanded[:, 0:2], min=0.01)
            contrast = _weber(gaussian - expanded, background) * (1.0 if level == 0 else 2.0)  # lpyr.get_band
            differences = _differences(metric, contrast, torch.log10(background), frequencies[level], False)
            core = differences[..., start - low : stop - low, :]
            totals += safe_pow(core, metric.beta).sum(dim=(-2, -1)).double().flatten()
        pooled[0, :, 0, level] = safe_pow(totals / (level_height * level_width), 1 / metric.beta).float()
        rows_of = lambda start, stop, below=below: below[..., start:stop, :].contiguous()
        level_height, level_width = below.shape[-2:]
    baseband = rows_of(0, level_height)
    background = torch.mean(torch.clamp(baseband[:, 0:2], min=0.01), dim=[-1, -2], keepdim=True)
    differences = _differences(metric, _weber(baseband, background), torch.log10(background), frequencies[-1], True)
    pooled[0, :, 0, -1] = metric.lp_norm(differences, metric.beta, dim=(-2, -1), normalize=True, keepdim=False)[0, :, 0]
    return float(metric.do_pooling_and_jods(pooled))


def _reduced(pyramid, rows_of, height: int, width: int, step: int):
    """The next Gaussian level of the level whose rows ``rows_of`` gives, reduced band by band and
    held whole (a quarter of its pixels)."""
    import torch

    out = None
    for start, stop in bands(-(-height // 2), max(1, step // 2)):
        budget.check()
        memory.release_freed()
        low, high = max(0, 2 * start - 4), min(height, 2 * stop + 4)
        if high < height and (high - low) % 2 != height % 2:
            high += 1  # the package's last-column edge follows the level's row count's parity
        reduced = pyramid.gausspyr_reduce(rows_of(low, high))
        if out is None:
            out = torch.empty((*reduced.shape[:-2], -(-height // 2), reduced.shape[-1]), device=reduced.device)
        out[..., start:stop, :] = reduced[..., start - low // 2 : stop - low // 2, :]
    return out


def _expanded(pyramid, below, low: int, high: int, height: int, width: int):
    """Rows [low, high) of ``pyramid.gausspyr_expand(below, [height, width])``, from the rows of
    ``below`` they reach (two beyond, so the band's own edge rows are outside [low, high))."""
    first, last = max(0, low // 2 - 2), min(below.shape[-2], (high + 1) // 2 + 2)
    size = height - 2 * first if last == below.shape[-2] else 2 * (last - first)
    expanded = pyramid.gausspyr_expand(below[..., first:last, :].contiguous(), [size, width])
    return expanded[..., low - 2 * first : high - 2 * first, :]


def _weber(layer, background):
    """weber_contrast_pyr's contrast: each image's band over its own background, clamped at 1000."""
    import torch

    contrast = torch.empty_like(layer)
    contrast[:, 0::2] = torch.clamp(layer[:, 0::2] / background[:, 0:1], max=1000.0)
    contrast[:, 1::2] = torch.clamp(layer[:, 1::2] / background[:, 1:2], max=1000.0)
    return contrast


def _differences(metric, contrast, log_background, frequency: float, baseband: bool):
    """process_block_of_frames for one band of one level: the sensitivity of each channel
    (sustained Y, RG, YV) at the reference's background, then the masked differences."""
    import torch

    test, reference = contrast[:, 0::2], contrast[:, 1::2]
    sensitivity = torch.empty(test.shape, device=contrast.device)
    gain = 10.0 ** (metric.sensitivity_correction / 20.0)
    for channel in range(3):
        sensitivity[:, channel : channel + 1] = (
            metric.csf.sensitivity(frequency, metric.omega[0], log_background[:, 1:2], channel, metric.csf_sigma) * gain
        )
    if baseband:
        return torch.abs(test - reference) * sensitivity
    return metric.apply_masking_model(test, reference, sensitivity)
