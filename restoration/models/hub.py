"""Third-party weights from the Hugging Face Hub, listed in ``weights/manifest.json`` ("hub").

Downloads go through ``hf_hub_download`` (``HF_ENDPOINT`` is honoured at call time, which is
how the tests point it at a local server). Every file is checked against the manifest's sha256
before it is loaded; safetensors is preferred, ``.pth`` is read by spandrel's restricted
unpickler, and anything else (TorchScript, pickled code) is refused.
Offline, ``status`` answers from the local cache alone, without touching the network.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from restoration.core import manifest as manifestlib
from restoration.core.errors import UserInputError

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
        return Path(hf_hub_download(item["repo_id"], item["filename"], revision=item.get("revision"),
                                    local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        return None


def status(key: str, entries: dict | None = None) -> str:
    try:
        item = entry(key, entries)
    except HubError as exc:
        return str(exc)
    path = cached_path(item)
    if path is None:
        return "not downloaded"
    if item.get("sha256") and manifestlib.sha256_of(path) != item["sha256"]:
        return "downloaded file fails its sha256 check"
    return "ready"


def download(key: str, entries: dict | None = None, timeout_s: float = 10.0) -> Path:
    """Fetch (or reuse) the file and verify it; a wrong hash is refused and the file removed."""
    from huggingface_hub import hf_hub_download

    item = entry(key, entries)
    _check_suffix(item["filename"])
    cached = cached_path(item)
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    if cached is None and _offline():
        raise HubError(f"not downloaded: HF_HUB_OFFLINE is set and {item['repo_id']}/{item['filename']} "
                       "is not in the local Hub cache")
    if cached is None:
        # huggingface_hub retries a refused connection with backoff for ~15 s; probe once first
        # so that offline answers within seconds.
        probe(endpoint, timeout_s)
    try:
        path = cached or Path(hf_hub_download(item["repo_id"], item["filename"], revision=item.get("revision"),
                                              endpoint=endpoint, etag_timeout=timeout_s))
    except Exception as exc:  # network, 404, auth: all mean "not downloaded", said plainly
        raise HubError(f"could not download {item['repo_id']}/{item['filename']}: "
                       f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    expected = item.get("sha256")
    if expected:
        actual = manifestlib.sha256_of(path)
        if actual != expected:
            path.unlink(missing_ok=True)
            raise HubError(f"{item['filename']}: sha256 {actual[:12]}… does not match the manifest "
                           f"({expected[:12]}…); refused and removed")
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
    """A ready-to-call restorer for a Hub model, through spandrel."""
    item = entry(key, entries)
    _check_suffix(item["filename"])
    path = download(key, entries) if allow_download else cached_path(item)
    if path is None:
        raise HubError(f"{key}: not downloaded")
    from spandrel import ImageModelDescriptor, ModelLoader  # heavy import: only once a file is here

    from restoration.models.runtime import TorchRestorer

    if item.get("sha256") and manifestlib.sha256_of(path) != item["sha256"]:
        raise HubError(f"{path.name}: sha256 does not match the manifest; refusing to load")
    try:
        descriptor = ModelLoader().load_from_file(path)
    except Exception as exc:
        raise HubError(f"{path.name}: spandrel cannot load it ({type(exc).__name__}: {exc})") from None
    if not isinstance(descriptor, ImageModelDescriptor):
        raise HubError(f"{path.name}: not an image-to-image model")
    model = descriptor.model
    return TorchRestorer(model, scale=descriptor.scale, multiple=descriptor.size_requirements.multiple_of,
                         bf16=bool(descriptor.supports_bfloat16))


