"""Quality, rate and time metrics in one flat table (pyiqa-style).

Each ``Metric`` knows its direction (``lower_better``), its range and how to compute itself from
a ``Sample`` (reference, distorted, and optionally the encoded size and timings). A metric that
cannot be computed for a sample returns ``None``: shown as unavailable, never a made-up number.

Conventions (those of the published tables, and of scikit-image):
- PSNR over all RGB values with peak 255; PSNR-Y on BT.601 luma (16-235, as MATLAB rgb2ycbcr).
- SSIM: Gaussian window sigma 1.5 (11 taps), K1=0.01, K2=0.03, population covariance, mean over
  the valid region and the three channels; equals ``skimage.metrics.structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
  channel_axis=2)``.
- MS-SSIM (Wang et al. 2003): the same window at 5 scales, 2x2 average pooling (odd sizes drop
  the last row/column), the published weights; per channel, then averaged. Needs images of at
  least 176 px (11 x 2**4) on the short side, so the coarsest scale still holds a window.
- Both run in bands of rows (``metrics.ssim``): each band filtered with the window's reach of rows
  around it, the per-channel sums added up, so the value is the whole image's and the working set a
  band's (MS-SSIM also holds its coarser scales, a third of one float32 copy of the image).
Filtering uses OpenCV (float32, SIMD); that is what makes these ~10x faster than scikit-image.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from restoration.metrics.perceptual import ColorVideoVDP, Flip, Ssimulacra2
from restoration.metrics.ssim import (  # noqa: F401
    MS_SSIM_MIN_SIDE,
    MS_WEIGHTS,
    PEAK,
    RADIUS,
    ReferenceStats,
    band_rows,
    pooled,
    ssim_components,
)

_LUMA_WEIGHTS = np.array([65.481, 128.553, 24.966])
_LUMA_ROW = (_LUMA_WEIGHTS / 255.0).astype(np.float32)[None, :]


def luma_bt601(image: np.ndarray) -> np.ndarray:
    """Y of YCbCr, BT.601 studio range (16-235), float64, from uint8 RGB."""
    return 16.0 + image.astype(np.float64) @ (_LUMA_WEIGHTS / 255.0)


def psnr_from_mse(mse: float, peak: float = PEAK) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


@dataclass
class Sample:
    """What metrics see: reference and distorted uint8 RGB, and what encoding cost."""

    reference: np.ndarray
    distorted: np.ndarray
    nbytes: int | None = None
    encode_s: float | None = None
    decode_s: float | None = None
    shave: int = 0  # border pixels ignored by fidelity metrics (SR convention)
    reference_stats: ReferenceStats | None = None  # shared across a sweep of one (shaved) reference
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.reference.shape != self.distorted.shape:
            raise ValueError(f"shape mismatch: {self.reference.shape} vs {self.distorted.shape}")

    @property
    def pixels(self) -> int:
        return self.reference.shape[0] * self.reference.shape[1]

    @cached_property
    def pair(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.shave
        ref, dist = self.reference, self.distorted
        if s:
            ref, dist = ref[s:-s, s:-s], dist[s:-s, s:-s]
        return ref, dist

    def differences(self):
        """The reference minus the distorted image as int32, one band of rows at a time (about
        ``BAND_PIXELS`` pixels: 12 bytes a pixel of one band instead of the whole image's)."""
        ref, dist = self.pair
        rows = band_rows(ref.shape[1])
        for top in range(0, ref.shape[0], rows):
            yield ref[top : top + rows].astype(np.int32) - dist[top : top + rows].astype(np.int32)

    @cached_property
    def stats(self) -> ReferenceStats:
        ref = self.pair[0]
        if self.reference_stats is None:
            return ReferenceStats(ref)
        if self.reference_stats.shape != ref.shape:
            raise ValueError(f"reference stats for {self.reference_stats.shape}, image is {ref.shape}")
        return self.reference_stats

    @cached_property
    def full_scale_ssim(self) -> tuple[np.ndarray, np.ndarray]:
        """(ssim, cs) per channel at full resolution: plain SSIM, and MS-SSIM's first scale."""
        return ssim_components(self.stats.plane(0), self.pair[1])

    @cached_property
    def ssim_scales(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(ssim, cs) per channel at each of MS-SSIM's scales. The distorted image's pooled planes
        are built here and dropped scale by scale; the reference's are the shared ``stats``'."""
        scales = [self.full_scale_ssim]
        distorted = self.pair[1]
        for index in range(1, len(MS_WEIGHTS)):
            distorted = pooled(distorted)
            scales.append(ssim_components(self.stats.plane(index), distorted))
        return scales


def psnr(sample: Sample) -> float:
    squares = sum(int(np.einsum("ijk,ijk->", d, d, dtype=np.int64)) for d in sample.differences())
    return psnr_from_mse(squares / sample.pair[0].size)


def psnr_y(sample: Sample) -> float:
    # Luma is linear in RGB, so the luma difference is the weighted RGB difference (the +16
    # offsets cancel): one float64 matrix-vector product instead of two colour conversions.
    # float32 per pixel (relative error ~1e-7), float64 accumulation in cv2.norm.
    squares = sum(
        cv2.norm(cv2.transform(d.astype(np.float32), _LUMA_ROW), cv2.NORM_L2SQR) for d in sample.differences()
    )
    return psnr_from_mse(squares / (sample.pair[0].shape[0] * sample.pair[0].shape[1]))


def ssim(sample: Sample) -> float | None:
    if min(sample.pair[0].shape[:2]) < 2 * RADIUS + 1:
        return None
    return float(sample.full_scale_ssim[0].mean())


def ssim_plane(reference: np.ndarray, distorted: np.ndarray) -> float | None:
    """SSIM of two single planes on the 0-255 scale (e.g. luma): the same window, constants and
    valid region as ``ssim``, one channel instead of three."""
    if min(reference.shape[:2]) < 2 * RADIUS + 1:
        return None
    return float(ssim_components(reference, distorted)[0][0])


def ssim_y(sample: Sample) -> float | None:
    """SSIM on BT.601 luma, as super-resolution tables report it (with ``shave`` borders off).
    Not in ``METRICS``: codec rows keep their RGB SSIM, and SR code asks for this by name."""
    ref, dist = sample.pair
    return ssim_plane(luma_bt601(ref), luma_bt601(dist))


def ms_ssim(sample: Sample) -> float | None:
    scales = sample.ssim_scales if min(sample.pair[0].shape[:2]) >= MS_SSIM_MIN_SIDE else None
    if not scales:
        return None
    # Contrast-structure at the first four scales, full SSIM at the coarsest; clamp at 0 so a
    # negative term cannot flip the sign of the product.
    terms = np.stack([cs for _, cs in scales[:-1]] + [scales[-1][0]])
    per_channel = np.prod(np.maximum(terms, 0.0) ** MS_WEIGHTS[:, None], axis=0)
    return float(per_channel.mean())


def bpp(sample: Sample) -> float | None:
    return None if sample.nbytes is None else 8.0 * sample.nbytes / sample.pixels


def ratio(sample: Sample) -> float | None:
    return None if not sample.nbytes else sample.reference.size / sample.nbytes


def encode_ms(sample: Sample) -> float | None:
    return None if sample.encode_s is None else 1000.0 * sample.encode_s


def decode_ms(sample: Sample) -> float | None:
    return None if sample.decode_s is None else 1000.0 * sample.decode_s


class LPIPSMetric:
    """LPIPS (AlexNet) via the ``lpips`` package, only when its backbone is already cached.

    Offline, torchvision cannot download the AlexNet weights, so the metric reports itself
    unavailable instead of failing or guessing.
    """

    backbone_file = "alexnet-owt-7be5be79.pth"

    def __init__(self):
        self._model = None

    def backbone_path(self) -> Path:
        # torch.hub.get_dir()'s rule, without importing torch (seconds) just to find a file.
        cache = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
        torch_home = os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))
        return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints" / self.backbone_file

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("lpips") is None:
            return "the lpips package is not installed"
        if not self.backbone_path().is_file():
            return f"AlexNet weights not in the local cache ({self.backbone_path()})"
        return None

    def __call__(self, sample: Sample) -> float | None:
        if self.unavailable_reason():
            return None
        import torch

        if self._model is None:
            import lpips

            self._model = lpips.LPIPS(net="alex", verbose=False).eval()
        ref, dist = sample.pair
        to_tensor = lambda a: torch.from_numpy(a.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
        with torch.inference_mode():
            return float(self._model(to_tensor(ref), to_tensor(dist)).item())


@dataclass(frozen=True)
class Metric:
    """One metric and everything the lab shows or records about it: tables, charts, BD tables and
    the benchmark's provenance read these fields, never a list of their own."""

    name: str
    label: str
    unit: str
    lower_better: bool
    low: float
    high: float
    compute: Callable[[Sample], float | None]
    kind: str  # "fidelity" (reference vs distorted), "rate" or "time"
    short: str = ""  # a table column's header, with its unit ("PSNR dB")
    on_demand: bool = False  # slow: computed when asked for (a checkbox, --perceptual), never by default
    headline: bool = False  # among a result table's first columns; the others are a click away on the page
    # A report's rate-distortion figures and BD tables use it by default (any fidelity metric can be
    # asked for: ``bdrate.bd_on`` orients a lower-is-better one).
    bd: bool = False
    chart_label: str = ""  # a chart's axis or panel title ("PSNR (dB)"); default: the label and unit
    packages: tuple[str, ...] = ()  # distributions whose versions can change its values (provenance)

    def __post_init__(self):
        if not self.chart_label:
            object.__setattr__(self, "chart_label", f"{self.label} ({self.unit})" if self.unit else self.label)

    def unavailable_reason(self) -> str | None:
        check = getattr(self.compute, "unavailable_reason", None)
        return check() if check else None

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "unit": self.unit,
            "lower_better": self.lower_better,
            "range": [self.low, self.high],
            "kind": self.kind,
            "unavailable": self.unavailable_reason(),
            "on_demand": self.on_demand,
            "bd": self.bd,
            "chart_label": self.chart_label,
        }


_ARRAYS = ("numpy", "opencv-python-headless")  # the fidelity metrics' arithmetic (float32 filters in OpenCV)

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "psnr",
            "PSNR (RGB)",
            "dB",
            False,
            0.0,
            math.inf,
            psnr,
            "fidelity",
            "PSNR dB",
            headline=True,
            bd=True,
            chart_label="PSNR (dB)",
            packages=("numpy",),
        ),
        Metric(
            "psnr_y",
            "PSNR (Y, BT.601)",
            "dB",
            False,
            0.0,
            math.inf,
            psnr_y,
            "fidelity",
            "PSNR-Y dB",
            chart_label="PSNR-Y (dB)",
            packages=_ARRAYS,
        ),
        Metric(
            "ssim", "SSIM", "", False, -1.0, 1.0, ssim, "fidelity", "SSIM", headline=True, bd=True, packages=_ARRAYS
        ),
        Metric("ms_ssim", "MS-SSIM", "", False, 0.0, 1.0, ms_ssim, "fidelity", "MS-SSIM", bd=True, packages=_ARRAYS),
        Metric(
            "lpips",
            "LPIPS (AlexNet)",
            "",
            True,
            0.0,
            1.0,
            LPIPSMetric(),
            "fidelity",
            "LPIPS",
            chart_label="LPIPS",
            packages=("lpips", "torch"),
        ),
        Metric(
            "ssimulacra2",
            "SSIMULACRA 2",
            "",
            False,
            -math.inf,
            100.0,
            Ssimulacra2(),
            "fidelity",
            "SSIMU2",
            on_demand=True,
            headline=True,
            bd=True,
            packages=("ssimulacra2",),
        ),
        Metric(
            "flip",
            "FLIP (LDR, 67 ppd)",
            "",
            True,
            0.0,
            1.0,
            Flip(),
            "fidelity",
            "FLIP",
            on_demand=True,
            bd=True,
            chart_label="FLIP",
            packages=("flip-evaluator",),
        ),
        Metric(
            "cvvdp",
            "ColorVideoVDP (standard 4K display)",
            "JOD",
            False,
            -math.inf,
            10.0,
            ColorVideoVDP(),
            "fidelity",
            "CVVDP JOD",
            on_demand=True,
            bd=True,
            chart_label="ColorVideoVDP (JOD)",
            packages=("cvvdp", "torch"),
        ),
        Metric("bpp", "Bits per pixel", "bpp", True, 0.0, math.inf, bpp, "rate", "bpp", headline=True),
        Metric(
            "ratio",
            "Compression ratio",
            "x",
            False,
            0.0,
            math.inf,
            ratio,
            "rate",
            "ratio",
            chart_label="Compression ratio",
        ),
        Metric("encode_ms", "Encode time", "ms", True, 0.0, math.inf, encode_ms, "time", "encode ms"),
        Metric("decode_ms", "Decode time", "ms", True, 0.0, math.inf, decode_ms, "time", "decode ms"),
    )
}

# What super-resolution tables report, by the field's protocol (on BT.601 luma, ``shave`` borders
# off). Not in ``METRICS``: codec rows keep their RGB SSIM; the SR pages read their columns here.
SR_METRICS: dict[str, Metric] = {
    "psnr_y": METRICS["psnr_y"],
    "ssim_y": Metric(
        "ssim_y", "SSIM (Y, BT.601)", "", False, -1.0, 1.0, ssim_y, "fidelity", "SSIM (Y)", packages=_ARRAYS
    ),
}


def names(*kinds: str, available_only: bool = True, on_demand: bool = False) -> list[str]:
    """Metric names in table order, of the given kinds ("fidelity", "rate", "time"; none: all),
    leaving out those that cannot be computed here unless ``available_only`` is False, and the
    slow on-demand ones unless ``on_demand``."""
    return [
        m.name
        for m in METRICS.values()
        if (not kinds or m.kind in kinds)
        and not (available_only and m.unavailable_reason())
        and (on_demand or not m.on_demand)
    ]


def bd_names() -> list[str]:
    """The metrics a report's rate-distortion figures and BD tables use by default, in table order."""
    return [m.name for m in METRICS.values() if m.bd]


def packages() -> tuple[str, ...]:
    """The distributions whose versions decide some metric's values, sorted."""
    return tuple(sorted({p for m in METRICS.values() for p in m.packages}))


def shown(value: float) -> float:
    """A metric's value as a table shows it: 4 decimals under 10, 2 from 10 up. A target is judged
    on this value too, so "met" never stands beside a number that reads short of it (79.996 shows
    as 80 and meets SSIMULACRA 2 >= 80)."""
    return round(value, 4 if abs(value) < 10 else 2)


def header(name: str) -> str:
    """A column header from the table (or ``SR_METRICS``): "PSNR dB", "SSIM"."""
    metric = METRICS[name] if name in METRICS else SR_METRICS[name]
    return metric.short or (f"{metric.label} ({metric.unit})" if metric.unit else metric.label)


def measure(sample: Sample, names=None) -> dict[str, float | None]:
    """Compute the named metrics (default: all) for one sample."""
    chosen = METRICS.values() if names is None else [METRICS[n] for n in names]
    return {m.name: m.compute(sample) for m in chosen}
