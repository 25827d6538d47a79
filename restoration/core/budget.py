"""The server's limits on work in flight: one pixel budget shared by every running request, and a
time limit per request.

A request (``with request():``, which the app wraps around every handler) claims the pixels of
what it decodes (``claim``); a claim waits while the running requests hold the budget and is
refused at once if it alone is larger. Between steps (models, codec settings) a request calls
``check``, which stops it with a clear message once it ran past its time limit. Outside a request
(the CLI, the library) nothing is limited. Peak memory measured for the heaviest job (a 40 MP
image through every codec) was ~150 bytes a pixel, so the default 60 MP budget keeps the running
jobs near 9 GB on a 16 GB Space.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
import time
from dataclasses import dataclass

from restoration.core.errors import UserInputError


def pixel_limit() -> int:
    return int(os.environ.get("RESTORATION_PIXEL_BUDGET", 60_000_000))


def time_limit_s() -> float:
    return float(os.environ.get("RESTORATION_REQUEST_LIMIT_S", 900))


def wait_limit_s() -> float:
    return float(os.environ.get("RESTORATION_BUDGET_WAIT_S", 300))


class PixelBudget:
    """A weighted semaphore over pixels."""

    def __init__(self):
        self.used = 0
        self._changed = threading.Condition()

    def acquire(self, pixels: int, limit: int, wait_s: float, on_wait=None) -> None:
        if pixels > limit:
            raise UserInputError(f"this request needs {pixels / 1e6:.0f} MP at once, more than the server's "
                                 f"budget of {limit / 1e6:.0f} MP (RESTORATION_PIXEL_BUDGET); use a smaller image "
                                 "or run it with the command-line tool")
        with self._changed:
            if self.used + pixels > limit and on_wait is not None:
                on_wait(self.used, limit)  # say why this request waits
            if not self._changed.wait_for(lambda: self.used + pixels <= limit, timeout=wait_s):
                raise UserInputError(f"the server is busy: other requests hold {self.used / 1e6:.0f} of its "
                                     f"{limit / 1e6:.0f} MP for {wait_s:.0f} s; try again in a minute")
            self.used += pixels

    def release(self, pixels: int) -> None:
        with self._changed:
            self.used -= pixels
            self._changed.notify_all()


BUDGET = PixelBudget()


@dataclass
class Request:
    deadline: float
    limit_s: float
    claimed: int = 0
    on_wait: object = None  # called with (pixels in use, limit) when a claim has to wait


_current: contextvars.ContextVar[Request | None] = contextvars.ContextVar("restoration_request", default=None)


@contextlib.contextmanager
def request(on_wait=None):
    """One request's limits: its claims are released when it ends, however it ends. ``on_wait``
    (pixels in use, limit) tells the person why the request waits, when one of its claims must."""
    limit = time_limit_s()
    current = Request(time.monotonic() + limit, limit, on_wait=on_wait)
    token = _current.set(current)
    try:
        yield current
    finally:
        _current.reset(token)
        if current.claimed:
            BUDGET.release(current.claimed)


def claim(pixels: int) -> None:
    """Hold ``pixels`` of the budget until the request ends (no-op outside a request)."""
    current = _current.get()
    if current is None or pixels <= 0:
        return
    BUDGET.acquire(int(pixels), pixel_limit(), wait_limit_s(), current.on_wait)
    current.claimed += int(pixels)


def check() -> None:
    """Between steps: stop a request that ran past its time limit (no-op outside a request)."""
    current = _current.get()
    if current is not None and time.monotonic() > current.deadline:
        raise UserInputError(f"this request ran past its {current.limit_s:.0f} s limit (RESTORATION_REQUEST_LIMIT_S) "
                             "and was stopped; run bigger work with the command-line tool (`restoration bench`)")
