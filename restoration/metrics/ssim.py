"""The SSIM machinery: the Gaussian window, the SSIM and contrast-structure (cs) terms computed one
band of rows at a time, and the 2x2 pooling of MS-SSIM.

Memory: SSIM's terms are local moments (the window reaches ``RADIUS`` pixels) averaged over the
valid region, the pixels at least ``RADIUS`` from every border. So each band of valid rows is
filtered with ``RADIUS`` rows of the image above and below it, which gives exactly the whole
image's moments there (the border's reflection only ever reaches rows and columns outside the valid
region), and the bands' per-channel sums of the SSIM and cs maps (float64) add up to the whole
image's, divided by the valid pixel count at the end. The working set is 8 float32 planes of one
band (about ``BAND_PIXELS`` pixels, ``band_rows``) instead of ~9 of the image; MS-SSIM also holds
the 2x2-pooled planes of the coarser scales (a quarter of the pixels, then a sixteenth...), pooled
band by band from the uint8 image, and filters each scale in bands the same way. The reference's
moments are recomputed with each distorted version; a sweep shares only the reference's pooled
planes (``ReferenceStats``). Measured (bench/memory_model.py, 2 and 8 MP): SSIM 0.2 bytes a pixel
and 25 MiB, MS-SSIM 7.8 bytes a pixel and 13 MiB (whole images took 105.6 bytes a pixel); a band
stays in the CPU's caches, so at 12 MP they run ~1.4x faster than on whole planes. Bands and whole
image agree to rounding of the float64 sums (``tests/test_banded_metrics.py``)."""

from __future__ import annotations

import cv2
import numpy as np

RADIUS = 5
SIGMA = 1.5
_K1, _K2 = 0.01, 0.03
PEAK = 255.0
MS_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
# halve floors odd sizes, so the coarsest of the 5 scales keeps 11 px only from 11 * 2**4 on.
MS_SSIM_MIN_SIDE = (2 * RADIUS + 1) * 2 ** (len(MS_WEIGHTS) - 1)
BAND_PIXELS = 2**18  # the valid pixels of one band: its working set is ~100 bytes a pixel times this
MIN_BAND_ROWS = 32  # a very wide image still gets bands this tall, so the margins stay a small share


def gaussian_kernel() -> np.ndarray:
    x = np.arange(-RADIUS, RADIUS + 1, dtype=np.float64)
    g = np.exp(-(x * x) / (2 * SIGMA * SIGMA))
    return (g / g.sum()).astype(np.float32)


KERNEL = gaussian_kernel()


def blur(plane: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Gaussian filter; only pixels ``RADIUS`` or more from the border are used (the valid region)."""
    return cv2.sepFilter2D(plane, cv2.CV_32F, KERNEL, KERNEL, dst=out, borderType=cv2.BORDER_REFLECT)


def band_rows(width: int) -> int:
    """Rows of one band of an image ``width`` pixels wide: about ``BAND_PIXELS`` pixels, an even
    count (a band then starts on a 2x2 block of the next scale)."""
    rows = max(MIN_BAND_ROWS, BAND_PIXELS // max(1, width))
    return rows + rows % 2


class ReferenceStats:
    """What Samples of one reference share (``Sample(reference_stats=...)``, a sweep): the reference
    and its 2x2-pooled float32 planes at MS-SSIM's coarser scales, built on first use (together a
    third of one float32 copy of the image). Its local moments are not kept (whole, the plane and
    its 3 moments are 48 bytes a pixel at full scale): each distorted image's bands recompute them,
    which costs less time than reading them back from memory would."""

    def __init__(self, reference: np.ndarray):
        self.shape = reference.shape
        self._planes = [reference]

    def plane(self, index: int) -> np.ndarray:
        """The reference at MS-SSIM scale ``index`` (0: as given)."""
        while len(self._planes) <= index:
            self._planes.append(pooled(self._planes[-1]))
        return self._planes[index]


def ssim_components(x: np.ndarray, y: np.ndarray, rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean SSIM and mean contrast-structure (cs) of reference ``x`` and distorted ``y``
    (HxWxC or HxW, any real dtype, on the 0-255 scale), over the valid region, ``rows`` valid rows
    at a time (default: ``band_rows``)."""
    c1 = (_K1 * PEAK) ** 2
    c2 = (_K2 * PEAK) ** 2
    height, width = x.shape[:2]
    channels = x.shape[2] if x.ndim == 3 else 1
    step = band_rows(width) if rows is None else max(1, rows)
    span = min(height, step + 2 * RADIUS)
    convert = [not _float32_rows(plane) for plane in (x, y)]
    buffers = iter(np.empty((6 + sum(convert), span, *x.shape[1:]), np.float32))
    into = [next(buffers) if c else None for c in convert]
    mu_x, mu_y, e_xx, e_yy, e_xy, t = buffers
    sums = np.zeros((2, 4))
    for start in range(RADIUS, height - RADIUS, step):
        stop = min(height - RADIUS, start + step)
        # The band's valid rows and the window's reach above and below them (inside the image).
        n = stop - start + 2 * RADIUS
        bx, by = (_rows(p, start - RADIUS, stop + RADIUS, b) for p, b in zip((x, y), into))
        blur(bx, mu_x[:n]), blur(by, mu_y[:n])
        # Each product is blurred before the next one overwrites t.
        blur(np.multiply(bx, bx, out=t[:n]), e_xx[:n])
        blur(np.multiply(by, by, out=t[:n]), e_yy[:n])
        blur(np.multiply(bx, by, out=t[:n]), e_xy[:n])
        # The terms on the band's valid rows only, whole rows (contiguous), in place.
        core = slice(RADIUS, n - RADIUS)
        mx, my, sxx, syy, sxy, mu_xy = (p[core] for p in (mu_x, mu_y, e_xx, e_yy, e_xy, t))
        np.multiply(mx, my, out=mu_xy)
        mx *= mx  # now mu_x^2
        sxx -= mx  # sigma_x^2
        my *= my  # now mu_y^2
        sxy -= mu_xy  # sigma_xy
        sxy *= 2
        sxy += c2  # cs numerator
        syy -= my  # sigma_y^2
        syy += sxx
        syy += c2  # cs denominator: sigma_x^2 + sigma_y^2 + c2
        cs = np.divide(sxy, syy, out=sxy)
        mu_xy *= 2
        mu_xy += c1
        my += mx
        my += c1
        mu_xy /= my  # luminance term
        ssim_map = np.multiply(mu_xy, cs, out=mu_xy)
        # cv2 sums in float64: the bands' sums add up to the whole region's up to rounding.
        cols = slice(RADIUS, width - RADIUS)
        sums[0] += cv2.sumElems(ssim_map[:, cols])
        sums[1] += cv2.sumElems(cs[:, cols])
    count = (height - 2 * RADIUS) * (width - 2 * RADIUS)
    return sums[0, :channels] / count, sums[1, :channels] / count


def _float32_rows(plane: np.ndarray) -> bool:
    """Whether ``plane``'s bands of rows can go to OpenCV as they are (float32, contiguous rows)."""
    return plane.dtype == np.float32 and plane.flags.c_contiguous


def _rows(plane: np.ndarray, low: int, high: int, buffer: np.ndarray | None) -> np.ndarray:
    """Rows [low, high) of ``plane`` as contiguous float32: a view, or converted into ``buffer``."""
    if buffer is None:
        return plane[low:high]
    band = buffer[: high - low]
    np.copyto(band, plane[low:high], casting="unsafe")
    return band


def pooled(x: np.ndarray, rows: int | None = None) -> np.ndarray:
    """2x2 average pooling of ``x`` as float32 (any real dtype in; an odd last row or column is
    dropped; INTER_AREA at exactly 1/2 is the 2x2 mean), built ``rows`` rows of ``x`` at a time
    (default: ``band_rows``; even, so each band is whole 2x2 blocks): a uint8 image is converted
    one band at a time, never whole."""
    h, w = x.shape[0] // 2, x.shape[1] // 2
    out = np.empty((h, w, *x.shape[2:]), np.float32)
    step = band_rows(x.shape[1]) if rows is None else rows + rows % 2
    convert = not _float32_rows(x)
    buffer = np.empty((min(step, 2 * h), *x.shape[1:]), np.float32) if convert else None
    for start in range(0, 2 * h, step):
        stop = min(2 * h, start + step)
        band = _rows(x, start, stop, buffer)
        cv2.resize(
            band[:, : 2 * w], (w, (stop - start) // 2), dst=out[start // 2 : stop // 2], interpolation=cv2.INTER_AREA
        )
    return out
