"""How long each model (or codec, by its name: encode + decode) took in this process: its latest
runs, each as (seconds, input pixels), so that an estimate (``lab.cost``) can correct its
model of the work by what the runs really took. Self-ensemble runs are kept apart (8x the work).
Calibration runs (``unrecorded``) are not runs."""

from __future__ import annotations

import contextlib
import statistics
import threading
from collections import defaultdict, deque

KEEP = 5  # the latest runs per model; their median is the correction
_lock = threading.Lock()
_seen: dict[tuple[str, bool], deque] = defaultdict(lambda: deque(maxlen=KEEP))
_quiet = threading.local()


def record(model_id: str, seconds: float, pixels: int, self_ensemble: bool = False) -> None:
    if pixels > 0 and seconds > 0 and not getattr(_quiet, "on", False):
        with _lock:
            _seen[(model_id, bool(self_ensemble))].append((seconds, pixels))


def runs(model_id: str, self_ensemble: bool = False) -> list[tuple[float, int]]:
    """This process's latest runs of the model: (seconds, input pixels), oldest first."""
    with _lock:
        return list(_seen.get((model_id, bool(self_ensemble)), ()))


def seconds_per_mp(model_id: str, self_ensemble: bool = False) -> float | None:
    """The median seconds per input megapixel of this process's latest runs, or None before the
    model's first run here."""
    rates = [seconds / (pixels / 1e6) for seconds, pixels in runs(model_id, self_ensemble)]
    return statistics.median(rates) if rates else None


@contextlib.contextmanager
def unrecorded():
    """Runs in this block (a calibration on a small crop) are not recorded as this thread's runs."""
    before = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = before
