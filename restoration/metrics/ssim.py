"""The SSIM machinery: the Gaussian window, a reference's local moments (computed once and reused
for every distorted version of it), the SSIM terms and the 2x2 pooling of MS-SSIM."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

RADIUS = 5
SIGMA = 1.5
_K1, _K2 = 0.01, 0.03
PEAK = 255.0
MS_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
# halve floors odd sizes, so the coarsest of the 5 scales keeps 11 px only from 11 * 2**4 on.
MS_SSIM_MIN_SIDE = (2 * RADIUS + 1) * 2 ** (len(MS_WEIGHTS) - 1)


def gaussian_kernel() -> np.ndarray:
    x = np.arange(-RADIUS, RADIUS + 1, dtype=np.float64)
    g = np.exp(-(x * x) / (2 * SIGMA * SIGMA))
    return (g / g.sum()).astype(np.float32)


KERNEL = gaussian_kernel()


def blur(plane: np.ndarray) -> np.ndarray:
    """Gaussian filter; only pixels ``RADIUS`` or more from the border are used (``valid``)."""
    return cv2.sepFilter2D(plane, cv2.CV_32F, KERNEL, KERNEL, borderType=cv2.BORDER_REFLECT)


def valid(plane: np.ndarray) -> np.ndarray:
    return plane[RADIUS:-RADIUS, RADIUS:-RADIUS]


@dataclass(frozen=True)
class ReferenceMoments:
    """The reference's side of SSIM at one scale: the plane, its local mean, mean squared and
    variance. A sweep compares one reference with many decodings, so it computes these once."""

    x: np.ndarray
    mu: np.ndarray
    mu_sq: np.ndarray
    var: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> "ReferenceMoments":
        mu = blur(x)
        mu_sq = mu * mu
        return cls(x, mu, mu_sq, blur(x * x) - mu_sq)


class ReferenceStats:
    """Reference moments at each MS-SSIM scale, computed on first use and shareable between
    Samples of the same reference (``Sample(reference_stats=...)``)."""

    def __init__(self, reference: np.ndarray):
        self.shape = reference.shape
        self._plane = reference.astype(np.float32)
        self._scales: list[ReferenceMoments] = []

    def scale(self, index: int) -> ReferenceMoments:
        while len(self._scales) <= index:
            x = self._plane if not self._scales else halve(self._scales[-1].x)
            self._scales.append(ReferenceMoments.of(x))
        return self._scales[index]


def ssim_components(ref: ReferenceMoments, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean SSIM and mean contrast-structure (cs) for float32 HxWxC in [0, 255]."""
    c1 = (_K1 * PEAK) ** 2
    c2 = (_K2 * PEAK) ** 2
    # Whole contiguous planes, updated in place (border pixels too: cheaper than strided views
    # and fresh temporaries); only the valid region is averaged, as scikit-image does.
    mu_y = blur(y)
    e_yy, e_xy = blur(y * y), blur(ref.x * y)
    mu_xy = ref.mu * mu_y
    mu_y *= mu_y  # now mu_y^2
    e_xy -= mu_xy  # sigma_xy
    e_xy *= 2
    e_xy += c2  # cs numerator
    e_yy -= mu_y  # sigma_y^2
    e_yy += ref.var
    e_yy += c2  # cs denominator: sigma_x^2 + sigma_y^2 + c2
    cs = np.divide(e_xy, e_yy, out=e_xy)
    mu_xy *= 2
    mu_xy += c1
    mu_y += ref.mu_sq
    mu_y += c1
    mu_xy /= mu_y  # luminance term
    ssim_map = np.multiply(mu_xy, cs, out=mu_xy)
    return channel_means(valid(ssim_map)), channel_means(valid(cs))


def channel_means(plane: np.ndarray) -> np.ndarray:
    # cv2.mean accumulates in float64 and is ~40x faster than numpy's mean over axes (0, 1).
    channels = plane.shape[2] if plane.ndim == 3 else 1
    return np.array(cv2.mean(plane)[:channels])


def halve(x: np.ndarray) -> np.ndarray:
    """2x2 average pooling; an odd last row/column is dropped. INTER_AREA at exactly 1/2 is
    the 2x2 mean, and much faster than strided numpy slices."""
    h, w = x.shape[0] // 2, x.shape[1] // 2
    return cv2.resize(x[: 2 * h, : 2 * w], (w, h), interpolation=cv2.INTER_AREA)
