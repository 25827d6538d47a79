"""The server's limits on work in flight: one memory budget shared by every running request, and a
time limit per request.

A request (``with request():``, which the app wraps around every handler) claims the bytes its
work is predicted to need at its peak (``claim``, with a ``memory.Need``: the upload's decoding
from its header, then the job's steps by the memory model). Requests are admitted in arrival
order while the predicted peaks of those running fit the budget (default: a third of this
machine's memory, ``RESTORATION_MEMORY_BUDGET``); a claim that must wait says what it waits for, and
one larger than the budget alone is refused at once, naming its own need. Between steps (models,
codec settings) a request calls ``check``, which stops it with a clear message once it ran past
its time limit. Outside a request (the CLI, the library) nothing is limited.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import itertools
import os
import re
import threading
import time
from dataclasses import dataclass

from restoration.core import memory
from restoration.core.errors import UserInputError
from restoration.core.memory import Need, size_text


def machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def parse_size(text: str) -> int:
    """'12G', '12 GB', '800M', '12000000000' -> bytes."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r}")
    return int(float(match[1]) * 1024 ** ("KMGT".find(match[2].upper()) + 1) if match[2] else float(match[1]))


def memory_limit() -> int:
    configured = os.environ.get("RESTORATION_MEMORY_BUDGET")
    return parse_size(configured) if configured else machine_memory() // 3


def time_limit_s() -> float:
    return float(os.environ.get("RESTORATION_REQUEST_LIMIT_S", 900))


def wait_limit_s() -> float:
    return float(os.environ.get("RESTORATION_BUDGET_WAIT_S", 300))


class MemoryBudget:
    """A weighted semaphore over bytes that admits in arrival order: a claim waits while an earlier
    one waits, or while the running requests hold too much for it."""

    def __init__(self):
        self.used = 0
        self._changed = threading.Condition()
        self._queue: collections.deque[int] = collections.deque()
        self._tickets = itertools.count()

    def acquire(self, need: Need, limit: int, wait_s: float, on_wait=None, topping_up: bool = False) -> None:
        if need.bytes > limit:
            raise UserInputError(
                f"{need.what} needs ~{size_text(need.bytes)} of memory; the server allows "
                f"{size_text(limit)} (RESTORATION_MEMORY_BUDGET): use a smaller image, fewer "
                "models or metrics, or run it with the command-line tool"
            )
        with self._changed:
            ticket = next(self._tickets)
            self._queue.append(ticket)

            def admitted() -> bool:  # a request adding to its own claim does not queue behind newcomers
                return (topping_up or self._queue[0] == ticket) and self.used + need.bytes <= limit

            try:
                if not admitted() and on_wait is not None:
                    on_wait(self.used, limit, need)  # say what it waits for
                if not self._changed.wait_for(admitted, timeout=wait_s):
                    raise UserInputError(
                        f"the server is busy: running requests hold {size_text(self.used)} of its "
                        f"{size_text(limit)} and {need.what} needs {size_text(need.bytes)}; "
                        f"waited {wait_s:.0f} s: try again in a minute"
                    )
                self.used += need.bytes
            finally:
                self._queue.remove(ticket)
                self._changed.notify_all()

    def release(self, nbytes: int) -> None:
        with self._changed:
            self.used -= nbytes
            self._changed.notify_all()


BUDGET = MemoryBudget()


@dataclass
class Request:
    deadline: float
    limit_s: float
    claimed: int = 0
    on_wait: object = None  # called with (bytes in use, limit, the Need) when a claim has to wait
    cancelled: object = None  # () -> bool: whether the caller cancelled it (the app asks Gradio's queue)
    covered: bool = False  # inside ``covered``: the claims are counted already


_current: contextvars.ContextVar[Request | None] = contextvars.ContextVar("restoration_request", default=None)


@contextlib.contextmanager
def request(on_wait=None, cancelled=None):
    """One request's limits: its claims are released when it ends, however it ends. ``on_wait``
    (bytes in use, limit, the Need) tells the person why the request waits, when one of its claims must;
    ``cancelled`` (no arguments) says whether its caller cancelled it, for ``check``."""
    limit = time_limit_s()
    current = Request(time.monotonic() + limit, limit, on_wait=on_wait, cancelled=cancelled)
    token = _current.set(current)
    try:
        yield current
    finally:
        _current.reset(token)
        if current.claimed:
            # The request's arrays are freed by now; glibc would keep much of them in its heap, and
            # the server's resident memory would creep up request after request beyond what the
            # budget counts: hand them back before the next request is admitted to their bytes.
            # (A request that claimed nothing, a page's estimate, made nothing worth trimming.)
            memory.release_freed()
            BUDGET.release(current.claimed)


@contextlib.contextmanager
def covered():
    """Claims made inside are counted already by one the caller made for them: a batch claims its
    largest item once and runs its items one at a time through the actions, which claim their own
    (held to the request's end, they would add up item after item)."""
    current = _current.get()
    if current is None or current.covered:
        yield
        return
    current.covered = True
    try:
        yield
    finally:
        current.covered = False


def claim(need: Need) -> None:
    """Hold ``need.bytes`` of the budget until the request ends (no-op outside a request, and
    inside ``covered``)."""
    current = _current.get()
    if current is None or current.covered or need.bytes <= 0:
        return
    BUDGET.acquire(need, memory_limit(), wait_limit_s(), current.on_wait, topping_up=current.claimed > 0)
    current.claimed += need.bytes


def check() -> None:
    """Between steps (and every few seconds inside long ones: an encode, a zip member, a search):
    stop a request that ran past its time limit or was cancelled (no-op outside a request)."""
    current = _current.get()
    if current is None:
        return
    if time.monotonic() > current.deadline:
        raise UserInputError(
            f"this request ran past its {current.limit_s:.0f} s limit (RESTORATION_REQUEST_LIMIT_S) "
            "and was stopped; run bigger work with the command-line tool (`restoration bench`)"
        )
    if current.cancelled is not None and current.cancelled():
        raise UserInputError("the request was cancelled")


def active() -> bool:
    """Whether this code runs inside a request (the app), where ``check`` can stop it."""
    return _current.get() is not None
