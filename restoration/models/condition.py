"""What a quality-aware network is told of its input's compression: one place for the training
data, the runtime call and the app, so the three agree.

A strength is a number from 1 (heaviest) to 100 (lightest): the quality knob of JPEG, WebP and
AVIF as it is, and JPEG 2000's compression ratio on a log scale (``jpeg2000_strength``). The
vector is ``(strength / 100, strength known, one-hot codec...)``: the first networks (no
``codecs``) take only the first two, for JPEG; those trained with ``codecs`` also take which
codec made the file, when it is known (a JPEG or WebP file says so; a PNG does not).
"""

from __future__ import annotations

import math

import numpy as np

CODECS = ("jpeg", "webp", "avif", "jpeg2000")  # the lossy codecs a codec-aware network knows
# JPEG 2000 ratio -> strength: 4:1 is 100 (near lossless), 256:1 is 0; 12:1 -> 74, 32:1 -> 50, 192:1 -> 7.
J2K_LIGHTEST, J2K_HEAVIEST = 4.0, 256.0
# Shares of training patches told less than everything (training.data.compression_condition, the
# GPU sprint): (neither: a PNG of a decoded file; the codec alone: a WebP file whose quality nobody
# knows; the strength alone: a user's override on a PNG).
TRAINING_MIX = (0.1, 0.1, 0.05)


def jpeg2000_strength(rate: float) -> float:
    """JPEG 2000's compression ratio on the 1-100 strength scale of the quality knobs."""
    fraction = 1.0 - math.log(max(rate, J2K_LIGHTEST) / J2K_LIGHTEST) / math.log(J2K_HEAVIEST / J2K_LIGHTEST)
    return float(min(100.0, max(1.0, 100.0 * fraction)))


def strength_of(codec: str, params: dict) -> float | None:
    """The strength of a codec's settings (None for a codec or setting without one, such as bpp)."""
    if codec == "jpeg2000" and "rate" in params:
        return jpeg2000_strength(float(params["rate"]))
    if codec in CODECS and "quality" in params:
        return float(params["quality"])
    return None


def vector(strength: float | None, codec: str | None, codecs: tuple[str, ...] = ()) -> np.ndarray:
    """The network's input: (strength / 100, known) and, for a codec-aware network (``codecs``),
    the codec one-hot (all zero when it is unknown). A first-generation network (no ``codecs``)
    was trained on JPEG strengths only: another codec's strength is withheld from it (it runs blind)."""
    if not codecs and codec not in (None, "jpeg"):
        strength = None
    head = [0.0, 0.0] if strength is None else [float(strength) / 100.0, 1.0]
    return np.array(head + [float(codec == name) for name in codecs], np.float32)
