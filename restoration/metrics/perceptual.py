"""Perceptual metrics codec engineers use, computed on demand (they cost ~10x the fidelity
metrics): SSIMULACRA 2 (the ``ssimulacra2`` package, the JPEG XL and AVIF communities' score:
100 = identical, ~90 visually lossless, ~70 high quality, ~50 medium, below 30 poor) and NVIDIA's
FLIP (``flip-evaluator``, LDR-FLIP: the mean of a per-pixel perceived-difference map, 0 = none,
1 = most; viewing condition 67 pixels per degree, the package's default: a 0.7 m viewing distance
from a 0.7 m wide 3840-pixel monitor), whose map a person can look at; and ColorVideoVDP
(``cvvdp``, Mantiuk et al. 2024) in JOD (just-objectionable differences: 10 = identical, each unit
less = one more in four observers prefers the reference), for its "standard_4k" display model (a
30-inch 4K SDR monitor, 200 cd/m2, in an office) shipped with the package: runs offline."""

from __future__ import annotations

import functools
import importlib.util
import io

from PIL import Image

from restoration.core import budget, worker


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
        from ssimulacra2 import compute_ssimulacra2

        if min(reference.shape[:2]) < 8:
            return None  # below its coarsest scale

        def png(array):  # the package reads images as files; uncompressed PNG in memory is exact
            buffer = io.BytesIO()
            Image.fromarray(array).save(buffer, format="PNG", compress_level=0)
            buffer.seek(0)
            return buffer

        return float(compute_ssimulacra2(png(reference), png(distorted)))


class Flip(PackageMetric):
    """LDR-FLIP's mean error (lower is better), on sRGB inputs in [0, 1]."""

    module, package = "flip_evaluator", "flip-evaluator"

    def score(self, reference, distorted) -> float:
        return float(flip_map(reference, distorted, colour=False)[1])


def flip_map(reference, distorted, colour: bool = True):
    """(FLIP's error map, its mean): with ``colour`` the map as uint8 RGB in the magma colour map
    the FLIP paper shows (black = no perceived difference), else as float. In a request (the app)
    it is computed in a worker process (``core.worker``): flip_evaluator holds Python's GIL for
    its whole computation (3.4 s at 3 MP here), which froze every other request and the server's
    event loop (a tiny /compress took 8.9 s beside a 6 MP comparison), and a cancel could not
    stop it."""
    if budget.active():
        return worker.call(_flip_map, reference, distorted, colour)
    return _flip_map(reference, distorted, colour)


def _flip_map(reference, distorted, colour: bool):
    import flip_evaluator
    import numpy as np

    error, mean, _ = flip_evaluator.evaluate(
        reference.astype(np.float32) / 255, distorted.astype(np.float32) / 255, "LDR", applyMagma=colour
    )
    return (np.clip(error * 255 + 0.5, 0, 255).astype(np.uint8) if colour else error), mean


class ColorVideoVDP(PackageMetric):
    """ColorVideoVDP's quality in JOD for a still image pair (higher is better, 10 = identical)."""

    module, package = "pycvvdp", "cvvdp"
    display = "standard_4k"

    def score(self, reference, distorted) -> float:
        jod, _ = _cvvdp(self.display).predict(distorted, reference, dim_order="HWC")
        return float(jod)


@functools.lru_cache(maxsize=2)
def _cvvdp(display: str):
    import pycvvdp
    import torch

    return pycvvdp.cvvdp(display_name=display, device=torch.device("cpu"))
