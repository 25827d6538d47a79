"""Third-party weights from the Hugging Face Hub, listed in ``weights/manifest.json`` ("hub").

Downloads go through ``hf_hub_download`` (``HF_ENDPOINT`` is honoured at call time, which is
how the tests point it at a local server). Every file is checked against the manifest's sha256
before it is loaded; safetensors is preferred, ``.pth`` is read by spandrel's restricted
unpickler, and anything else (TorchScript, pickled code) is refused.
Offline, ``status`` answers from the local cache alone, without touching the network.

A file the manifest does not pin (no sha256) is trusted on first use: its sha256 and the commit
that ``hf_hub_download`` resolved are recorded at the first download (``RESTORATION_HUB_TRUST``,
default ``~/.cache/restoration-lab/hub-trust.json``) and every later load must match them; such a
file downloads only where ``RESTORATION_HUB_UNPINNED=1`` allows it, and ``RESTORATION_HUB_DOWNLOADS=0``
turns downloads off altogether (a constrained host).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from restoration.core import manifest as manifestlib
from restoration.core.errors import UserInputError
from restoration.models.runtime import TorchRestorer

MANIFEST = manifestlib.PATH
SAFE_SUFFIXES = (".safetensors", ".pth")


class HubError(UserInputError):
    """A Hub model could not be fetched or verified; the message says which and why."""


def manifest(path: Path | None = None) -> dict:
    return manifestlib.section("hub", path or MANIFEST)


def entry(key: str, entries: dict | None = None) -> dict:
    entries = manifest() if entries is None else entries
    if key not in entries:
        raise HubError(f"{key!r} is not in the Hub manifest")
    return entries[key]


def _check_suffix(filename: str) -> None:
    if not filename.endswith(SAFE_SUFFIXES):
        raise HubError(f"{filename}: only .safetensors or .pth weights are loaded (no pickled code)")


def cached_path(item: dict) -> Path | None:
    """The file in the local Hub cache, or None; never touches the network."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(
            hf_hub_download(item["repo_id"], item["filename"], revision=item.get("revision"), local_files_only=True)
        )
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        return None


def size_label(item: dict) -> str:
    """The download a person agrees to: "85 MB" as published, "~288 MB" when computed from the
    architecture's real-layout file (tests/hub_checkpoints.py), "" when unknown."""
    if not item.get("size_bytes"):
        return ""
    return f"{'~' if item.get('size_estimated') else ''}{item['size_bytes'] / 1e6:.0f} MB"


def status(key: str, entries: dict | None = None) -> str:
    try:
        item = entry(key, entries)
    except HubError as exc:
        return str(exc)
    path = cached_path(item)
    if path is None:
        return "not downloaded"
    if item.get("sha256") and not hash_matches(manifestlib.sha256_of(path), item["sha256"]):
        return "downloaded file fails its sha256 check"
    return "ready"


def trust_path() -> Path:
    default = Path.home() / ".cache" / "restoration-lab" / "hub-trust.json"
    return Path(os.environ.get("RESTORATION_HUB_TRUST") or default)


def trusted(key: str) -> dict | None:
    """What was recorded at the first download of an entry: sha256, resolved commit, date."""
    path = trust_path()
    return json.loads(path.read_text()).get(key) if path.is_file() else None


def _record_trust(key: str, record: dict) -> None:
    path = trust_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = record
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def resolved_commit(path: Path) -> str | None:
    """The commit hash a cached Hub file belongs to (its snapshots/<commit>/ folder)."""
    match = re.search(r"snapshots[/\\]([0-9a-f]{40})[/\\]", str(path))
    return match[1] if match else None


def hash_matches(actual: str, expected: str) -> bool:
    """A full sha256, or the leading 40+ hex digits of one as some authors publish them (160 bits,
    still far beyond a collision) -- compared as a prefix, never by equality with a short string."""
    expected = expected.lower()
    return len(expected) >= 40 and actual.startswith(expected)


def _check_allowed(item: dict) -> None:
    if os.environ.get("RESTORATION_HUB_DOWNLOADS", "1") == "0":
        raise HubError("not downloaded: downloads are turned off on this server (RESTORATION_HUB_DOWNLOADS=0)")
    if not item.get("sha256") and os.environ.get("RESTORATION_HUB_UNPINNED") != "1":
        raise HubError(
            f"not downloaded: {item['repo_id']}/{item['filename']} has no pinned sha256 in the manifest; "
            "a maintainer must pin it, or the operator allow it (RESTORATION_HUB_UNPINNED=1)"
        )


def _verify(key: str, item: dict, path: Path) -> None:
    """The manifest's sha256, else the one recorded at first use (recorded now, on first use)."""
    actual = manifestlib.sha256_of(path)
    first_use = trusted(key)
    expected = item.get("sha256") or (first_use or {}).get("sha256")
    if expected and not hash_matches(actual, expected):
        path.unlink(missing_ok=True)
        source = "the manifest" if item.get("sha256") else "its first download"
        raise HubError(
            f"{item['filename']}: sha256 {actual[:12]}… does not match {source} ({expected[:12]}…); refused and removed"
        )
    if first_use is None:
        _record_trust(
            key,
            {
                "sha256": actual,
                "commit": resolved_commit(path),
                "repo_id": item["repo_id"],
                "filename": item["filename"],
                "pinned": bool(item.get("sha256")),
                "first_use": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            },
        )


def download(key: str, entries: dict | None = None, timeout_s: float = 10.0) -> Path:
    """Fetch (or reuse) the file and verify it; a wrong hash is refused and the file removed."""
    from huggingface_hub import hf_hub_download

    item = entry(key, entries)
    _check_suffix(item["filename"])
    cached = cached_path(item)
    if cached is None:
        _check_allowed(item)
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    if cached is None and _offline():
        raise HubError(
            f"not downloaded: HF_HUB_OFFLINE is set and {item['repo_id']}/{item['filename']} "
            "is not in the local Hub cache"
        )
    if cached is None:
        # huggingface_hub retries a refused connection with backoff for ~15 s; probe once first
        # so that offline answers within seconds.
        probe(endpoint, timeout_s)
    try:
        path = cached or Path(
            hf_hub_download(
                item["repo_id"],
                item["filename"],
                revision=item.get("revision"),
                endpoint=endpoint,
                etag_timeout=timeout_s,
            )
        )
    except Exception as exc:  # network, 404, auth: all mean "not downloaded", said plainly
        raise HubError(
            f"could not download {item['repo_id']}/{item['filename']}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    _verify(key, item, path)
    return path


def _offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub read it at import, or as set since (the app may be told later)."""
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").upper()
    return bool(constants.HF_HUB_OFFLINE) or flag in {"1", "ON", "YES", "TRUE"}


def probe(endpoint: str, timeout_s: float) -> None:
    """Connect once, DNS included, within ~3 s (a thread, since name lookup ignores socket timeouts)."""
    parsed = urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    outcome: list = []

    def connect():
        try:
            socket.create_connection((parsed.hostname, port), timeout=min(timeout_s, 3.0)).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc.strerror or str(exc))

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(min(timeout_s, 3.0) + 0.5)
    if not outcome or outcome[0] is not None:
        reason = outcome[0] if outcome else "no answer within 3 s"
        raise HubError(f"not downloaded: the Hub ({endpoint}) is not reachable ({reason})")


def load(key: str, entries: dict | None = None, allow_download: bool = True):
    """A ready-to-call restorer for a Hub model, through spandrel; an entry published as one file
    per noise level (``variants``) runs the file nearest the sigma it is told."""
    item = entry(key, entries)
    if item.get("variants"):
        return NearestLevel(key, item, allow_download)
    return _load_file(key, {key: item}, allow_download)


def _load_file(key: str, entries: dict, allow_download: bool):
    item = entries[key]
    _check_suffix(item["filename"])
    # ``download`` verifies the file, cached or fetched (the cache is outside the lab's control);
    # a cached file taken without it is verified here, so every load hashes the file once.
    path = download(key, entries) if allow_download else cached_path(item)
    if path is None:
        raise HubError(f"{key}: not downloaded")
    if not allow_download:
        _verify(key, item, path)
    from spandrel import ImageModelDescriptor, ModelLoader  # heavy import: only once a file is here

    try:
        descriptor = ModelLoader().load_from_file(path)
    except Exception as exc:
        raise HubError(f"{path.name}: spandrel cannot load it ({type(exc).__name__}: {exc})") from None
    if not isinstance(descriptor, ImageModelDescriptor):
        raise HubError(f"{path.name}: not an image-to-image model")
    model = descriptor.model
    return TorchRestorer(
        model,
        scale=descriptor.scale,
        multiple=descriptor.size_requirements.multiple_of,
        bf16=bool(descriptor.supports_bfloat16),
        call=CALLS.get(descriptor.architecture.id),
        minimum=descriptor.size_requirements.minimum,
    )


def variant_entries(key: str, item: dict) -> dict[float, tuple[str, dict]]:
    """level -> (entry key ``<key>@<level>``, the entry with that variant's file and sha256)."""
    base = {k: v for k, v in item.items() if k != "variants"}
    return {float(level): (f"{key}@{level}", {**base, **variant}) for level, variant in item["variants"].items()}


def nearest_level(levels, sigma: float | None) -> float:
    """The noise level, of ``levels``, whose file runs for ``sigma`` (the lower of two equally
    near; 25 stands for an unknown sigma)."""
    if sigma is None:
        return min(levels, key=lambda level: abs(level - 25.0))
    return min(levels, key=lambda level: (abs(level - float(sigma)), level))


class NearestLevel:
    """A model published as one checkpoint per noise level (SwinIR denoising: sigma 15, 25, 50,
    where the authors' demo asks the user which to load): each call runs the checkpoint nearest
    the sigma it is told (the degradation's, the user's, else ``restorers.restore``'s estimate),
    each downloaded and loaded when first needed. ``level_for`` says which one a sigma gets."""

    def __init__(self, key: str, item: dict, allow_download: bool = True):
        self.levels = variant_entries(key, item)
        self.scale = item.get("scale", 1)
        self.allow_download = allow_download
        self._runners: dict[float, object] = {}
        self._lock = threading.Lock()

    def level_for(self, sigma: float | None) -> float:
        return nearest_level(self.levels, sigma)

    def runner(self, sigma: float | None):
        level = self.level_for(sigma)
        with self._lock:
            if level not in self._runners:
                variant_key, item = self.levels[level]
                self._runners[level] = _load_file(variant_key, {variant_key: item}, self.allow_download)
            return self._runners[level]

    def __call__(self, image, sigma: float | None = None, **options):
        return self.runner(sigma)(image, sigma=sigma, **options)

    def restore_uint8(self, image, sigma: float | None = None, **options):
        return self.runner(sigma).restore_uint8(image, sigma=sigma, **options)


def drunet_call(module, t, hints):
    """DRUNet takes a noise-level map as a fourth channel: the sigma the user gave, else the one
    estimated from the image (``restorers.restore``), else its authors' default, 15."""
    import torch

    sigma = hints.get("sigma")
    level = (15.0 if sigma is None else float(sigma)) / 255.0
    return module(torch.cat([t, torch.full_like(t[:, :1], level)], dim=1))


def fbcnn_call(module, t, hints):
    """FBCNN predicts the JPEG quality and returns (image, predicted quality); told the quality
    read from the file's tables (or the user's strength) it uses that instead: its qf = 1 - q/100."""
    import torch

    quality = hints.get("quality")
    if quality is None:
        return module(t)[0]
    qf = torch.full((t.shape[0], 1), 1.0 - float(quality) / 100.0, device=t.device, dtype=t.dtype)
    return module(t, qf)[0]


CALLS = {"DRUNet": drunet_call, "FBCNN": fbcnn_call}  # spandrel architecture id -> how to call it
