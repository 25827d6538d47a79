"""Seconds per input megapixel each model (or codec, by its name: encode + decode) took in this
process (its latest runs), so a tab can say how long a run will take before it starts.
Self-ensemble runs are kept apart (8x the work)."""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict, deque

KEEP = 5  # the latest runs per model; the median of these is the estimate
_lock = threading.Lock()
_seen: dict[tuple[str, bool], deque] = defaultdict(lambda: deque(maxlen=KEEP))


def record(model_id: str, seconds: float, pixels: int, self_ensemble: bool = False) -> None:
    if pixels > 0 and seconds > 0:
        with _lock:
            _seen[(model_id, bool(self_ensemble))].append(seconds / (pixels / 1e6))


def seconds_per_mp(model_id: str, self_ensemble: bool = False) -> float | None:
    """The median of this process's latest runs, or None before the model's first run here."""
    with _lock:
        runs = list(_seen.get((model_id, bool(self_ensemble)), ()))
    return statistics.median(runs) if runs else None
