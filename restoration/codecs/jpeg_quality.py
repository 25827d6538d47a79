"""Estimate the IJG quality setting a JPEG was saved with, from its quantisation tables.

libjpeg scales the standard (Annex K) tables by a quality factor; we rebuild the scaled luma
table for every quality 1..100 and pick the closest one. Files from other encoders (custom
tables) still get the nearest IJG-equivalent quality, flagged by a larger ``mismatch``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

# ITU-T T.81 Annex K luminance table, row-major (the order Pillow's ``quantization`` uses).
_STANDARD_LUMA = np.array(
    [
        16,
        11,
        10,
        16,
        24,
        40,
        51,
        61,
        12,
        12,
        14,
        19,
        26,
        58,
        60,
        55,
        14,
        13,
        16,
        24,
        40,
        57,
        69,
        56,
        14,
        17,
        22,
        29,
        51,
        87,
        80,
        62,
        18,
        22,
        37,
        56,
        68,
        109,
        103,
        77,
        24,
        35,
        55,
        64,
        81,
        104,
        113,
        92,
        49,
        64,
        78,
        87,
        103,
        121,
        120,
        101,
        72,
        92,
        95,
        98,
        112,
        100,
        103,
        99,
    ],
    dtype=np.float64,
)


def ijg_table(quality: int, base: np.ndarray = _STANDARD_LUMA) -> np.ndarray:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality  # integer, as libjpeg
    return np.clip(np.floor((base * scale + 50) / 100), 1, 255)


_TABLES = np.stack([ijg_table(q) for q in range(1, 101)])


@dataclass(frozen=True)
class QualityEstimate:
    quality: int
    mismatch: float  # mean absolute difference to the IJG table at that quality

    @property
    def exact(self) -> bool:
        return self.mismatch == 0.0


def estimate_from_tables(tables: dict) -> QualityEstimate | None:
    if not tables or 0 not in tables:
        return None
    luma = np.asarray(tables[0], dtype=np.float64)
    if luma.size != 64:
        return None
    errors = np.abs(_TABLES - luma).mean(axis=1)
    best = int(np.argmin(errors))
    return QualityEstimate(quality=best + 1, mismatch=float(errors[best]))


def estimate(data: bytes) -> QualityEstimate | None:
    """Quality of JPEG bytes, or None if the bytes are not a JPEG."""
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as pil:
            return estimate_from_tables(getattr(pil, "quantization", None))
    except Exception:  # not a JPEG: no estimate, which callers show as "n/a"
        return None
