"""How much compute a network takes: GFLOP per output megapixel, counted by
``torch.utils.flop_counter`` (one multiply-add is 2 FLOPs) on a small input built from the
manifest entry's architecture, so it needs no weights. Time estimates and ``restoration models``
read it; ``bench/flops.py`` prints it at the sizes the docs quote."""

from __future__ import annotations

import functools

from restoration.core import manifest as manifestlib
from restoration.models import architectures

PROBE = 128  # input side counted (a multiple of every network's size multiple)


@functools.cache
def gflop_per_mp(weights: str) -> float | None:
    """GFLOP per output megapixel of an own network (by its manifest key), or None when it has no
    manifest architecture."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    entry = manifestlib.section("own").get(weights)
    if entry is None or entry.get("architecture") not in architectures.ARCHITECTURES:
        return None
    net = architectures.build(entry["architecture"], entry["arch_config"]).eval()
    scale = entry.get("scale", 1)
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        net(torch.rand(1, 3, PROBE, PROBE))
    return counter.get_total_flops() / 1e9 / ((PROBE * scale) ** 2 / 1e6)
