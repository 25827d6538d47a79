"""The lab's own temporary folders (encoded files, degraded inputs, restored PNGs, reports), all
under one root, ``$RESTORATION_TMP`` (default ``<system temp>/restoration-lab``). Each new folder
first removes the folders older than ``RESTORATION_TMP_MAX_AGE_S`` (default an hour, the same as
Gradio's cache) and then, while the root holds more than ``RESTORATION_TMP_QUOTA`` (default 2 GB),
the oldest folders: the disk stays bounded at all times, not only hourly, without a scheduler.
``keyed`` folders are named by their content's key, so the same report is written once."""

from __future__ import annotations

import hashlib
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
            if (
                entry.is_dir()
                and not entry.is_symlink()
                and entry.stat().st_mtime < cutoff
                and not _live_process_folder(entry)
            ):
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        except FileNotFoundError:  # another request removed it first
            continue
    return removed


def quota() -> int:
    return int(float(os.environ.get("RESTORATION_TMP_QUOTA", 2e9)))


def _size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                continue
    return total


def enforce_quota(limit: int | None = None) -> int:
    """Remove the oldest folders under the root until it holds at most ``limit`` bytes (default
    ``quota()``); returns how many went."""
    limit = quota() if limit is None else limit
    entries = []
    for entry in root().iterdir():
        try:
            if entry.is_dir() and not entry.is_symlink() and not _live_process_folder(entry):
                entries.append((entry.stat().st_mtime, entry, _size(entry)))
        except FileNotFoundError:
            continue
    total, removed = sum(size for *_, size in entries), 0
    for _, entry, size in sorted(entries, key=lambda item: item[0]):
        if total <= limit:
            break
        shutil.rmtree(entry, ignore_errors=True)
        total, removed = total - size, removed + 1
    return removed


def folder(prefix: str) -> Path:
    """A new private folder for one request's files (old ones, and the oldest over the quota, are
    removed first)."""
    clean()
    enforce_quota()
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root()))


def keyed(prefix: str, key: str) -> tuple[Path, bool]:
    """(the folder for content identified by ``key``, whether it was already written): a second
    request for the same content reuses the files instead of writing them again."""
    clean()
    enforce_quota()
    path = root() / f"{prefix}{hashlib.sha256(key.encode()).hexdigest()[:20]}"
    done = path / ".complete"
    if done.is_file():
        os.utime(path)  # in use again: the newest for the quota
        return path, True
    path.mkdir(exist_ok=True)
    return path, False


def mark_complete(path: Path) -> None:
    (path / ".complete").touch()


# -- a process's own folder ------------------------------------------------------------------------
PROCESS_MARK = "-pid"  # "<kind>-pid<pid>": a folder one process owns for its lifetime (Gradio's cache)


def process_folder(kind: str) -> Path:
    """The folder this process owns under the root for ``kind`` (the app puts Gradio's cache there:
    ``GRADIO_TEMP_DIR``). First the folders of processes that are gone are removed, with all their
    files: Gradio deletes only the files its own process made, so a server stopped by SIGTERM
    leaves its cache (hundreds of MB) for no later process to remove. A folder left with this
    process's id (a restarted container reuses ids) is stale too. Age and quota cleaning leave a
    live process's folder alone. Later calls in the same process return the same folder."""
    path = root() / f"{kind}{PROCESS_MARK}{os.getpid()}"
    if _owned.get(kind) == path and path.is_dir():
        return path
    for entry in root().glob(f"*{PROCESS_MARK}*"):
        owner = _owner(entry)
        if (
            owner is not None
            and entry.is_dir()
            and not entry.is_symlink()
            and entry not in _owned.values()
            and (owner == os.getpid() or not _alive(owner))
        ):
            shutil.rmtree(entry, ignore_errors=True)
    path.mkdir(exist_ok=True)
    _owned[kind] = path
    return path


_owned: dict[str, Path] = {}


def _owner(entry: Path) -> int | None:
    _, mark, pid = entry.name.rpartition(PROCESS_MARK)
    return int(pid) if mark and pid.isascii() and pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or not a pid we can ask about: left alone
    return True


def _live_process_folder(entry: Path) -> bool:
    owner = _owner(entry)
    return owner is not None and _alive(owner)
