"""The lab's own temporary folders (encoded files, degraded inputs, restored PNGs, reports), all
under one root, ``$RESTORATION_TMP`` (default ``<system temp>/restoration-lab``). Each new folder
first removes the folders older than ``RESTORATION_TMP_MAX_AGE_S`` (default an hour, the same as
Gradio's cache), so a long-running server's disk stays bounded without a scheduler."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path


def root() -> Path:
    path = Path(os.environ.get("RESTORATION_TMP") or Path(tempfile.gettempdir()) / "restoration-lab")
    path.mkdir(parents=True, exist_ok=True)
    return path


def clean(max_age_s: float | None = None) -> int:
    """Remove the folders under the root older than ``max_age_s``; returns how many went."""
    max_age_s = float(os.environ.get("RESTORATION_TMP_MAX_AGE_S", 3600)) if max_age_s is None else max_age_s
    cutoff, removed = time.time() - max_age_s, 0
    for entry in root().iterdir():
        try:
            if entry.is_dir() and not entry.is_symlink() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        except FileNotFoundError:  # another request removed it first
            continue
    return removed


def folder(prefix: str) -> Path:
    """A new private folder for one request's files (old ones are cleaned first)."""
    clean()
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root()))
