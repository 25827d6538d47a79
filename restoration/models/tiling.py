"""Tiled inference with overlap and smooth blending, so large images run in bounded memory
without visible seams. Padding to the network's size multiple happens here, once. torch loads
on the first call, so the registry and the runtime import this module without it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    import torch


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad (N, C, H, W) on the bottom/right to a multiple; returns the original size."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def _blend_window(size_h: int, size_w: int, overlap: int) -> torch.Tensor:
    """Weights that ramp linearly over ``overlap`` pixels at each edge (never zero)."""
    import torch

    def ramp(n):
        r = torch.ones(n)
        if overlap > 0:
            edge = torch.linspace(1.0 / (overlap + 1), 1.0, overlap + 1)[:-1]
            k = min(overlap, n // 2)
            r[:k] = edge[:k]
            r[n - k :] = edge[:k].flip(0)
        return r

    return ramp(size_h)[:, None] * ramp(size_w)[None, :]


def run_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    scale: int = 1,
    multiple: int = 1,
    tile: int = 512,
    overlap: int = 32,
) -> torch.Tensor:
    """Apply ``fn`` (N, C, h, w) -> (N, C, h*scale, w*scale) over tiles of ``x`` and blend.

    Images no larger than one tile run in one piece. Tiles are multiples of ``multiple`` and
    overlap by ``overlap`` input pixels; outputs are weighted by linear ramps in the overlaps.
    """
    import torch

    n, c, h, w = x.shape
    if h <= tile and w <= tile:
        padded, (h0, w0) = pad_to_multiple(x, multiple)
        return fn(padded)[..., : h0 * scale, : w0 * scale]
    tile, stride, overlap = _grid(tile, overlap, multiple)
    out = torch.zeros(n, c, h * scale, w * scale)
    weight = torch.zeros(1, 1, h * scale, w * scale)
    ys = _starts(h, tile, stride)
    xs = _starts(w, tile, stride)
    for y in ys:
        for x0 in xs:
            weighted, window = _weighted_tile(fn, x[..., y : y + tile, x0 : x0 + tile], scale, multiple, overlap)
            rows, cols = window.shape
            out[..., y * scale : y * scale + rows, x0 * scale : x0 * scale + cols] += weighted
            weight[..., y * scale : y * scale + rows, x0 * scale : x0 * scale + cols] += window
    return out / weight


def run_tiled_uint8(
    fn: Callable[[torch.Tensor], torch.Tensor],
    image: np.ndarray,
    scale: int = 1,
    multiple: int = 1,
    tile: int = 512,
    overlap: int = 32,
) -> np.ndarray:
    """``run_tiled`` from a canonical uint8 HxWx3 image straight to the uint8 result: the same
    pixels as rounding ``run_tiled``'s output (``image.from_float``), in bounded memory. Tiles
    become float one at a time, and output rows are blended, rounded and stored as soon as no
    later tile reaches them, so beyond the uint8 input and output only one band of tiles (tile x
    scale output rows, full width) is held in float32."""
    import torch

    h, w = image.shape[:2]
    if h <= tile and w <= tile:
        return _to_uint8(run_tiled(fn, _to_float_tensor(image), scale, multiple, tile, overlap))
    tile, stride, overlap = _grid(tile, overlap, multiple)
    out = np.empty((h * scale, w * scale, image.shape[2]), np.uint8)
    band = torch.zeros(1, image.shape[2], tile * scale, w * scale)
    weight = torch.zeros(1, 1, tile * scale, w * scale)
    ys = _starts(h, tile, stride)
    for i, y in enumerate(ys):
        for x0 in _starts(w, tile, stride):
            patch = _to_float_tensor(image[y : y + tile, x0 : x0 + tile])
            weighted, window = _weighted_tile(fn, patch, scale, multiple, overlap)
            rows, cols = window.shape
            band[..., :rows, x0 * scale : x0 * scale + cols] += weighted
            weight[..., :rows, x0 * scale : x0 * scale + cols] += window
        done = ((ys[i + 1] if i + 1 < len(ys) else h) - y) * scale  # rows no later tile reaches
        out[y * scale : y * scale + done] = _to_uint8(band[..., :done, :] / weight[..., :done, :])
        band, weight = band.roll(-done, dims=2), weight.roll(-done, dims=2)
        band[..., -done:, :] = 0
        weight[..., -done:, :] = 0
    return out


def _weighted_tile(fn, patch: torch.Tensor, scale: int, multiple: int, overlap: int):
    """One tile through ``fn`` (padded to ``multiple``, cropped back): (output x blend window,
    window), both at the output scale, ready to be added into the blend accumulators."""
    padded, (ph, pw) = pad_to_multiple(patch, multiple)
    result = fn(padded)[..., : ph * scale, : pw * scale].float()
    window = _blend_window(ph * scale, pw * scale, overlap * scale)
    return result * window, window


def _to_float_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 HxWxC -> float32 (1, C, H, W) in [0, 1], as ``image.to_float`` computes it."""
    import torch

    # astype copies, so a read-only input (an array over a decoder's buffer) is fine
    return torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None].div_(255.0)


def _to_uint8(y: torch.Tensor) -> np.ndarray:
    """float (1, C, H, W) -> uint8 HxWxC, rounded as ``image.from_float`` rounds."""
    import torch

    return y[0].clamp(0, 1).mul_(255.0).round_().to(torch.uint8).permute(1, 2, 0).numpy()


def _grid(tile: int, overlap: int, multiple: int) -> tuple[int, int, int]:
    """(tile, stride, overlap) on the network's size-multiple grid, so that every tile
    downsamples in phase with the whole image."""
    tile = max(multiple, tile // multiple * multiple)
    stride = max(multiple, (tile - overlap) // multiple * multiple)
    return tile, stride, tile - stride


def _starts(length: int, tile: int, stride: int) -> list[int]:
    """Origins every ``stride`` until a tile reaches the end (the last one may be shorter)."""
    starts = [0]
    while starts[-1] + tile < length:
        starts.append(starts[-1] + stride)
    return starts
