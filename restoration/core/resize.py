"""Image resizing that reproduces MATLAB's ``imresize``, the resize every published SR table uses.

Published super-resolution numbers (Set5, Set14, ...) make the low-resolution input with MATLAB
``imresize(hr, 1/s, 'bicubic')`` and compare with the HR image. OpenCV's and Pillow's bicubic
differ from it (no antialiasing in OpenCV, another kernel and fixed-point weights in Pillow), by
up to a few tenths of a dB, so the protocol needs MATLAB's exact arithmetic:

- a kernel per method: cubic (Keys, a = -0.5), triangle (bilinear), box (nearest), Lanczos-3;
- when downscaling, the kernel is stretched by 1/scale (antialiasing);
- output pixel x (1-based) samples input position u = x/scale + 0.5*(1 - 1/scale);
- borders are padded symmetrically (edge pixel repeated), weights normalised to sum 1;
- one dimension at a time, rows first when both scales are equal; for uint8 input each pass is
  rounded back to uint8 (MATLAB's resize passes keep the input class), half away from zero.

Each pass is a sparse (out x in) matrix applied in float64, so large images stay cheap.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse

from restoration.core.errors import UserInputError

METHODS = ("nearest", "bilinear", "bicubic", "lanczos")


def _cubic(x: np.ndarray) -> np.ndarray:
    # Keys' cubic convolution with a = -0.5, exactly as written in MATLAB's imresize.m.
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


def _triangle(x: np.ndarray) -> np.ndarray:
    return (x + 1) * ((x >= -1) & (x < 0)) + (1 - x) * ((x >= 0) & (x <= 1))


def _box(x: np.ndarray) -> np.ndarray:
    return ((x >= -0.5) & (x < 0.5)).astype(np.float64)


def _lanczos3(x: np.ndarray) -> np.ndarray:
    # MATLAB's lanczos3: sin(pi x) sin(pi x / 3) / (pi^2 x^2 / 3), 1 at 0, 0 beyond |x| = 3.
    safe = np.where(x == 0, 1.0, x)
    value = 3 * np.sin(np.pi * safe) * np.sin(np.pi * safe / 3) / (np.pi * np.pi * safe * safe)
    return np.where(x == 0, 1.0, value) * (np.abs(x) < 3)


_KERNELS = {"nearest": (_box, 1.0), "bilinear": (_triangle, 2.0), "bicubic": (_cubic, 4.0), "lanczos": (_lanczos3, 6.0)}


def contributions(
    in_length: int, out_length: int, scale: float, method: str = "bicubic", antialiasing: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's ``contributions``: (weights, 0-based input indices), both (out_length, taps)."""
    kernel, width = _KERNELS[method]
    if scale < 1 and antialiasing:
        # Stretch the kernel over 1/scale input pixels: a low-pass filter before subsampling.
        h = lambda x: scale * kernel(scale * x)  # noqa: E731
        width = width / scale
    else:
        h = kernel
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    ind = left[:, None] + np.arange(taps)[None, :]
    weights = h(u[:, None] - ind)
    weights /= weights.sum(axis=1, keepdims=True)
    # Symmetric padding: index sequence 1..n, n..1 repeated (MATLAB's aux vector), 0-based here.
    aux = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    ind = aux[np.mod(ind.astype(np.int64) - 1, aux.size)]
    keep = np.any(weights != 0, axis=0)  # MATLAB drops tap columns that are zero everywhere
    return weights[:, keep], ind[:, keep]


def _matrix(in_length: int, out_length: int, scale: float, method: str, antialiasing: bool):
    weights, ind = contributions(in_length, out_length, scale, method, antialiasing)
    rows = np.repeat(np.arange(out_length), weights.shape[1])
    # Duplicate (row, col) pairs at the borders add up, as in MATLAB's weighted sum.
    return sparse.csr_matrix((weights.ravel(), (rows, ind.ravel())), shape=(out_length, in_length))


def _round_uint8(x: np.ndarray) -> np.ndarray:
    # MATLAB converts double to uint8 by saturating and rounding half away from zero.
    return np.floor(np.clip(x, 0, 255) + 0.5).astype(np.uint8)


def _resize_rows(x: np.ndarray, out_length: int, scale: float, method: str, antialiasing: bool) -> np.ndarray:
    """Resize axis 0 of an (H, ...) float64 array."""
    matrix = _matrix(x.shape[0], out_length, scale, method, antialiasing)
    flat = x.reshape(x.shape[0], -1)
    return np.asarray(matrix @ flat).reshape((out_length,) + x.shape[1:])


def imresize(
    image: np.ndarray,
    scale: float,
    method: str = "bicubic",
    antialiasing: bool | None = None,
    round_between: bool = True,
) -> np.ndarray:
    """``imresize(image, scale, method)`` as MATLAB computes it.

    ``image``: HxW or HxWxC, uint8 (result uint8) or float (result float64, unrounded). Output
    size is ``ceil(size * scale)``. Antialiasing defaults to MATLAB's: on, except for nearest.
    ``round_between``: round uint8 input back to uint8 between the two passes, as MATLAB does.
    """
    if antialiasing is None:
        antialiasing = method != "nearest"
    if method not in _KERNELS:
        raise UserInputError(f"unknown interpolation {method!r}; choose from {', '.join(METHODS)}")
    if not scale > 0:
        raise UserInputError(f"the scale must be positive, got {scale}")
    image = np.asarray(image)
    is_uint8 = image.dtype == np.uint8
    if not is_uint8 and not np.issubdtype(image.dtype, np.floating):
        raise UserInputError(f"imresize takes uint8 or float images, not {image.dtype}")
    h, w = image.shape[:2]
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    if out_h < 1 or out_w < 1:
        raise UserInputError(f"a {w}x{h} image is too small to resize by {scale:g}")
    result = image.astype(np.float64)
    # Both scales are equal here, so MATLAB's order is rows (dim 1) first, then columns.
    result = _resize_rows(result, out_h, scale, method, antialiasing)
    if is_uint8 and round_between:
        result = _round_uint8(result)
    result = _resize_rows(np.swapaxes(result, 0, 1).astype(np.float64), out_w, scale, method, antialiasing)
    result = np.ascontiguousarray(np.swapaxes(result, 0, 1))
    return _round_uint8(result) if is_uint8 else result


def _check_factor(factor) -> int:
    if isinstance(factor, bool) or int(factor) != factor or not 1 <= int(factor) <= 16:
        raise UserInputError(f"the scale factor must be an integer from 1 to 16, got {factor}")
    return int(factor)


def upscale(image: np.ndarray, factor: int, method: str = "bicubic") -> np.ndarray:
    """Enlarge by an integer factor with MATLAB's interpolation."""
    return imresize(image, float(_check_factor(factor)), method)


TILE_MARGIN = 8  # input pixels around a tile: more than any kernel reaches (Lanczos-3: 3)


def upscale_tiled(image: np.ndarray, factor: int, method: str = "bicubic", tile: int = 512) -> np.ndarray:
    """``upscale`` computed tile by tile into one output array: exactly the same pixels, because
    each tile is resized with ``TILE_MARGIN`` input pixels around it, so its own border padding
    only reaches output pixels that are cropped away. Memory: the output plus one tile."""
    factor = _check_factor(factor)
    h, w = image.shape[:2]
    if h <= tile and w <= tile:
        return upscale(image, factor, method)
    dtype = np.uint8 if image.dtype == np.uint8 else np.float64
    out = np.empty((h * factor, w * factor) + image.shape[2:], dtype)
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            top, left = max(0, y - TILE_MARGIN), max(0, x - TILE_MARGIN)
            part = upscale(image[top : y + tile + TILE_MARGIN, left : x + tile + TILE_MARGIN], factor, method)
            rows, cols = min(tile, h - y) * factor, min(tile, w - x) * factor
            dy, dx = (y - top) * factor, (x - left) * factor
            out[y * factor : y * factor + rows, x * factor : x * factor + cols] = part[dy : dy + rows, dx : dx + cols]
    return out


def downscale(image: np.ndarray, factor: int, method: str = "bicubic") -> np.ndarray:
    """Shrink by an integer factor with MATLAB's antialiased interpolation. The size must be a
    multiple of the factor (see ``sr.crop_to_multiple``), else MATLAB's ceil rounding applies."""
    return imresize(image, 1.0 / _check_factor(factor), method)


def nearest(image: np.ndarray, factor: int) -> np.ndarray:
    return upscale(image, factor, "nearest")


def bilinear(image: np.ndarray, factor: int) -> np.ndarray:
    return upscale(image, factor, "bilinear")


def bicubic(image: np.ndarray, factor: int) -> np.ndarray:
    return upscale(image, factor, "bicubic")


def lanczos(image: np.ndarray, factor: int) -> np.ndarray:
    return upscale(image, factor, "lanczos")
