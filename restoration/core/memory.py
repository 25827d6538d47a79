"""The memory model: how many bytes a request's steps need at their peak, from the bytes per pixel
(and a fixed part) each step was measured to take on this machine (``bench/memory_model.py``
writes ``memory_model.json`` beside this module).

A step is a kind and a name: ``decode`` (reading an upload), ``codec`` (one encode and decode at
its defaults), ``metric`` (one metric on one pair), ``model`` (one restorer, tiled as the app runs
it). A step that was never measured costs ``UNMEASURED`` (more than any measured one), so a new
codec or model is admitted conservatively until the script is run again. The steps that work in
bands of rows or tiles (the perceptual metrics, the learned codecs) cost mostly their fixed part,
one band's working set; ``release_freed`` keeps the freed bands from piling up in the heap.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).with_name("memory_model.json")
UNMEASURED = {"per_pixel": 1000.0, "fixed": 2**30}
PIXEL_BYTES = 3  # a canonical RGB image held by the request (its input, each result it shows)


@functools.cache
def table() -> dict:
    return json.loads(TABLE.read_text()) if TABLE.is_file() else {}


def step_bytes(kind: str, name: str, pixels: int) -> int:
    """One step's working set at ``pixels`` (beyond the images the request holds)."""
    cost = table().get(kind, {}).get(name, UNMEASURED)
    return int(cost["per_pixel"] * pixels + cost["fixed"])


def measured(kind: str, name: str) -> bool:
    return name in table().get(kind, {})


@dataclass(frozen=True)
class Need:
    """A request's predicted peak: ``bytes``, and what it is, as a person reads it."""

    bytes: int
    what: str


def need(
    what: str, pixels: int, sequential: list[tuple[str, str]] = (), alongside: list[tuple[str, str]] = (), kept: int = 0
) -> Need:
    """The peak of a job on an image of ``pixels``: the image and the ``kept`` results it shows
    (3 bytes a pixel each), plus the heaviest of its ``sequential`` steps (codecs, models, metrics
    one after another) and the heaviest of the steps that run ``alongside`` them (a sweep measures
    one setting while it encodes the next)."""
    held = PIXEL_BYTES * pixels * (1 + kept)
    heaviest = max((step_bytes(kind, name, pixels) for kind, name in sequential), default=0)
    beside = max((step_bytes(kind, name, pixels) for kind, name in alongside), default=0)
    return Need(held + heaviest + beside, what)


def size_text(nbytes: float) -> str:
    """'14 GB', '730 MB'."""
    return (
        f"{nbytes / 1e9:.0f} GB"
        if nbytes >= 9.5e9
        else f"{nbytes / 1e9:.1f} GB"
        if nbytes >= 1e9
        else f"{nbytes / 1e6:.0f} MB"
    )


def release_freed() -> None:
    """Hand the memory freed so far back to the system (glibc's ``malloc_trim``; nothing on
    another C library or system). Work in tiles or bands frees one tile's arrays before it makes
    the next tile's, of other sizes: glibc keeps freed blocks under 32 MiB in its heap, so the
    process's resident memory grew by a good part of a tile's working set at every tile (the
    learned codec's decoder at 2 MP: 70 to 242 MiB over 9 tiles; 40 MiB with this between them).
    The loops that work in tiles call it once a tile."""
    trim = malloc_trim()
    if trim is not None:
        trim(0)


def resident_bytes(pid: int) -> int | None:
    """A process's resident memory (Linux's ``/proc``; None elsewhere, or once it is gone)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


@functools.cache
def malloc_trim():
    """glibc's ``malloc_trim`` (None where the C library has none)."""
    if not sys.platform.startswith("linux"):
        return None
    return getattr(ctypes.CDLL(None), "malloc_trim", None)
