"""Hostile or offline Hub downloads: a pickled checkpoint that runs code is refused, and
HF_HUB_OFFLINE=1 answers "not downloaded" without opening a connection. Real files, real server."""

import io
import pathlib
import socket
import time

import pytest
import torch
from hub_server import HubServer
from test_hub import REPO, hub_entries, hub_env  # noqa: F401  (hub_env is a fixture)

from restoration.core import manifest as manifestlib
from restoration.models import hub


class Payload:
    """Unpickling this calls Path(marker).touch(): what a malicious .pth would do, harmlessly."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def malicious_pth(marker: pathlib.Path, zipfile: bool) -> bytes:
    buffer = io.BytesIO()
    state = {"conv.weight": torch.zeros(1), "evil": Payload(marker)}
    torch.save(state, buffer, _use_new_zipfile_serialization=zipfile)
    return buffer.getvalue()


@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
def test_malicious_pth_is_refused_without_running(hub_env, monkeypatch, tmp_path, zipfile):
    marker = tmp_path / "pwned"
    data = malicious_pth(marker, zipfile)
    entries = hub_entries(data, filename="model.pth")  # correct sha256: only the content is hostile
    with HubServer({(REPO, "model.pth"): data}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        with pytest.raises(hub.HubError, match=r"model\.pth: spandrel cannot load it .*forbidden"):
            hub.load("tiny", entries)
    assert not marker.exists(), "the checkpoint's code ran"
    # The payload is live: an unrestricted unpickler does create the file. So the check above
    # means "refused", not "the payload was broken".
    torch.load(io.BytesIO(data), weights_only=False)
    assert marker.exists()


def test_offline_mode_never_connects(hub_env, monkeypatch):
    import huggingface_hub.constants as constants

    listener = socket.create_server(("127.0.0.1", 0))  # would see any connection attempt
    listener.setblocking(False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # huggingface_hub reads it at import
    entries = hub_entries(b"abc")
    start = time.perf_counter()
    with listener:
        assert hub.status("tiny", entries) == "not downloaded"
        with pytest.raises(hub.HubError, match="not downloaded: HF_HUB_OFFLINE"):
            hub.download("tiny", entries)
        with pytest.raises(hub.HubError, match="not downloaded"):
            hub.load("tiny", entries)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing connected
    assert time.perf_counter() - start < 2


def test_own_weights_are_checked_against_the_manifest_before_loading(tmp_path, monkeypatch):
    """Every shipped file (own networks, the learned codec) goes through manifest.verified_file."""
    import json

    from restoration.core import manifest
    from restoration.core.errors import UserInputError

    (tmp_path / "net.safetensors").write_bytes(b"weights")
    entry = {"file": "net.safetensors", "sha256": manifestlib.sha256_of(tmp_path / "net.safetensors")}
    (tmp_path / "manifest.json").write_text(json.dumps({"own": {"net": entry}}))
    monkeypatch.setattr(manifest, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(manifest, "PATH", tmp_path / "manifest.json")
    assert manifest.verified_file("own", "net") == (tmp_path / "net.safetensors", entry)
    with pytest.raises(UserInputError, match="no trained weights for other"):
        manifest.verified_file("own", "other")
    (tmp_path / "net.safetensors").write_bytes(b"tampered")
    with pytest.raises(UserInputError, match="sha256 does not match the manifest; refusing to load"):
        manifest.verified_file("own", "net")
    (tmp_path / "net.safetensors").unlink()
    with pytest.raises(UserInputError, match="weights file missing"):
        manifest.verified_file("own", "net")
