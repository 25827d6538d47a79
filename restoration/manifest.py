"""weights/manifest.json: one file, several sections ("own", "hub", "dictionaries", "codecs")
written by different recipes, possibly at the same time."""

from __future__ import annotations

import json
import os
from pathlib import Path

PATH = Path(__file__).resolve().parent.parent / "weights" / "manifest.json"


def record(manifest: Path, section: str, key: str, entry: dict) -> None:
    """Add or replace one entry. The file is read again right before writing and replaced
    atomically, because other processes rewrite other sections of it."""
    data = json.loads(manifest.read_text()) if manifest.exists() else {}
    data.setdefault(section, {})[key] = entry
    tmp = manifest.with_name(f".{manifest.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, manifest)
