"""Bjøntegaard delta: how many bytes one codec (or codec + restoration) saves at equal quality.

The ``bjontegaard`` package does the interpolation and integration (Akima by default, as its
authors recommend; "pchip" is the JCT-VC spreadsheet's). Here: the points are cleaned first
(sorted, and a point that costs more bits for no better quality than a cheaper one is dropped,
since log-rate must be a function of quality), no overlap gives no number instead of a warning,
and the mean saving is also given in bytes per image, from the same interpolated curves.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from restoration.core.errors import UserInputError
from restoration.metrics import METRICS

METHODS = ("akima", "pchip", "cubic")
# The one sign convention of every BD table (``BDResult``), said once wherever one is shown.
SIGNS = (
    "negative BD-rate and bytes: the test's files are smaller at equal quality; "
    "positive BD-quality: the test is better at equal rate"
)


@dataclass(frozen=True)
class BDResult:
    """One sign convention: ``rate_percent`` and ``bytes_change`` negative when the test's files
    are smaller at equal quality, ``quality_delta`` positive when the test is better at equal rate."""

    rate_percent: float  # mean rate change of test vs anchor at equal quality (negative: test is smaller)
    quality_delta: float  # mean quality change at equal rate (BD-PSNR for PSNR)
    bytes_saved: float | None  # mean bytes per image the test saves at equal quality (rates in bytes)
    overlap: float  # share of the two curves' joint quality range where both are defined
    anchor_bytes: float | None = None  # the anchor's mean bytes per image over the overlap (rates in bytes)

    @property
    def bytes_change(self) -> float | None:
        """The BD-rate in bytes per image: the anchor's mean bytes over the overlap times the rate
        change, so it always has the BD-rate's sign (``bytes_saved`` averages bytes, not log-rate:
        where the curves cross it can disagree, the many small files weighing less than the few
        large ones)."""
        return None if self.anchor_bytes is None else self.anchor_bytes * self.rate_percent / 100


def monotone(points) -> list[tuple[float, float]]:
    """(rate, quality) pairs sorted by rate, keeping only those that raise the quality."""
    clean = sorted(
        (float(r), float(q))
        for r, q in points
        if r is not None and q is not None and math.isfinite(r) and math.isfinite(q) and r > 0
    )
    kept: list[tuple[float, float]] = []
    for rate, quality in clean:
        if kept and rate == kept[-1][0]:
            if quality > kept[-1][1]:
                kept[-1] = (rate, quality)
            continue
        if not kept or quality > kept[-1][1]:
            kept.append((rate, quality))
    return kept


def bd(anchor, test, method: str = "akima", rates_in_bytes: bool = True) -> BDResult | None:
    """BD-rate and BD-quality of ``test`` against ``anchor``, each a list of (rate, quality);
    None when either curve has fewer than two usable points or the quality ranges do not overlap."""
    import bjontegaard

    if method not in METHODS:
        raise UserInputError(f"unknown BD interpolation {method!r}; choose from {', '.join(METHODS)}")
    a, t = monotone(anchor), monotone(test)
    if len(a) < 2 or len(t) < 2:
        return None
    (ra, qa), (rt, qt) = (np.array(c).T for c in (a, t))
    low, high = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    if not high > low:
        return None
    overlap = (high - low) / (max(qa.max(), qt.max()) - min(qa.min(), qt.min()))
    with warnings.catch_warnings():  # the overlap is reported in the result instead
        warnings.filterwarnings("ignore", message="Insufficient curve overlap")
        rate, f_anchor, f_test = bjontegaard.bd_rate(
            ra, qa, rt, qt, method, require_matching_points=False, interpolators=True, min_overlap=0
        )
        quality = bjontegaard.bd_psnr(ra, qa, rt, qt, method, require_matching_points=False, min_overlap=0)
    saved = anchor_bytes = None
    if rates_in_bytes:
        grid = np.linspace(low, high, 1025)
        saved = float(np.trapezoid(10.0 ** f_anchor(grid) - 10.0 ** f_test(grid), grid) / (high - low))
        anchor_bytes = float(np.trapezoid(10.0 ** f_anchor(grid), grid) / (high - low))
    return BDResult(float(rate), float(quality), saved, float(overlap), anchor_bytes)


def bd_on(metric: str, anchor, test, method: str = "akima", rates_in_bytes: bool = True) -> BDResult | None:
    """``bd`` on any metric of the table: a lower-is-better one (FLIP, LPIPS) is negated first, so
    the BD-rate keeps its meaning (negative = fewer bytes at equal quality) and a positive
    quality delta always means better."""
    sign = -1.0 if METRICS[metric].lower_better else 1.0
    orient = lambda points: [(r, None if q is None else sign * q) for r, q in points]
    return bd(orient(anchor), orient(test), method, rates_in_bytes)
