"""weights/manifest.json: one file, several sections ("own", "hub", "dictionaries", "codecs")
written by different recipes, possibly at the same time."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from restoration.core.errors import UserInputError

REPO_ROOT = Path(__file__).resolve().parents[2]
WEIGHTS_DIR = REPO_ROOT / "weights"
DATA_ROOT = REPO_ROOT.parent / "shared" / "data"  # training and benchmark images (never copied in)
PATH = WEIGHTS_DIR / "manifest.json"


def section(name: str, path: Path | None = None) -> dict:
    """One section of the manifest ({} when the file or the section is absent)."""
    path = path or PATH
    return json.loads(path.read_text()).get(name, {}) if path.exists() else {}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_file(name: str, key: str) -> tuple[Path, dict]:
    """(file, entry) of a shipped weights file, after checking its sha256 against the manifest;
    a missing entry, a missing file or a wrong hash is refused with a clear message."""
    entry = section(name).get(key)
    if entry is None:
        raise UserInputError(f"no trained weights for {key} (see weights/manifest.json)")
    path = WEIGHTS_DIR / entry["file"]
    if not path.is_file():
        raise UserInputError(f"weights file missing: {path}")
    if sha256_of(path) != entry["sha256"]:
        raise UserInputError(f"{path.name}: sha256 does not match the manifest; refusing to load")
    return path, entry


def record(manifest: Path, section_name: str, key: str, entry: dict) -> None:
    """Add or replace one entry. The file is read again right before writing and replaced
    atomically, because other processes rewrite other sections of it."""
    data = json.loads(manifest.read_text()) if manifest.exists() else {}
    data.setdefault(section_name, {})[key] = entry
    tmp = manifest.with_name(f".{manifest.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, manifest)
