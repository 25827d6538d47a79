"""Perceptual metrics codec engineers use, computed on demand (they cost ~10x the fidelity
metrics): SSIMULACRA 2 (the ``ssimulacra2`` package, the JPEG XL and AVIF communities' score:
100 = identical, ~90 visually lossless, ~70 high quality, ~50 medium, below 30 poor)."""

from __future__ import annotations

import importlib.util
import io

from PIL import Image


class Ssimulacra2:
    def unavailable_reason(self) -> str | None:
        return None if importlib.util.find_spec("ssimulacra2") else "the ssimulacra2 package is not installed"

    def __call__(self, sample) -> float | None:
        if self.unavailable_reason():
            return None
        from ssimulacra2 import compute_ssimulacra2

        reference, distorted = sample.pair
        if min(reference.shape[:2]) < 8:
            return None  # below its coarsest scale

        def png(array):  # the package reads images as files; uncompressed PNG in memory is exact
            buffer = io.BytesIO()
            Image.fromarray(array).save(buffer, format="PNG", compress_level=0)
            buffer.seek(0)
            return buffer

        return float(compute_ssimulacra2(png(reference), png(distorted)))
