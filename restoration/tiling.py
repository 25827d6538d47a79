"""Tiled inference with overlap and smooth blending, so large images run in bounded memory
without visible seams. Padding to the network's size multiple happens here, once."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad (N, C, H, W) on the bottom/right to a multiple; returns the original size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def _blend_window(size_h: int, size_w: int, overlap: int) -> torch.Tensor:
    """Weights that ramp linearly over ``overlap`` pixels at each edge (never zero)."""
    def ramp(n):
        r = torch.ones(n)
        if overlap > 0:
            edge = torch.linspace(1.0 / (overlap + 1), 1.0, overlap + 1)[:-1]
            k = min(overlap, n // 2)
            r[:k] = edge[:k]
            r[n - k:] = edge[:k].flip(0)
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
    n, c, h, w = x.shape
    if h <= tile and w <= tile:
        padded, (h0, w0) = pad_to_multiple(x, multiple)
        return fn(padded)[..., : h0 * scale, : w0 * scale]
    # Tile origins on the network's size-multiple grid, so every tile downsamples in phase
    # with the whole image.
    tile = max(multiple, tile // multiple * multiple)
    stride = max(multiple, (tile - overlap) // multiple * multiple)
    overlap = tile - stride
    out = torch.zeros(n, c, h * scale, w * scale)
    weight = torch.zeros(1, 1, h * scale, w * scale)
    ys = _starts(h, tile, stride)
    xs = _starts(w, tile, stride)
    for y in ys:
        for x0 in xs:
            patch = x[..., y:y + tile, x0:x0 + tile]
            padded, (ph, pw) = pad_to_multiple(patch, multiple)
            result = fn(padded)[..., : ph * scale, : pw * scale].float()
            window = _blend_window(ph * scale, pw * scale, overlap * scale)
            out[..., y * scale:(y + ph) * scale, x0 * scale:(x0 + pw) * scale] += result * window
            weight[..., y * scale:(y + ph) * scale, x0 * scale:(x0 + pw) * scale] += window
    return out / weight


def _starts(length: int, tile: int, stride: int) -> list[int]:
    """Origins every ``stride`` until a tile reaches the end (the last one may be shorter)."""
    starts = [0]
    while starts[-1] + tile < length:
        starts.append(starts[-1] + stride)
    return starts
