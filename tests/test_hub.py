"""The real Hub download path (hf_hub_download -> sha256 check -> spandrel) against a local
HTTP server that serves a small checkpoint generated here. No mocking."""

import functools
import hashlib
import time

import numpy as np
import pytest
import torch
from hub_server import HubServer
from safetensors.torch import save

from restoration.models import hub

REPO = "restoration-lab-test/tiny-dncnn"


@functools.cache  # built once per session
def tiny_dncnn_bytes() -> bytes:
    from spandrel.architectures.DnCNN import DnCNN

    torch.manual_seed(0)
    model = DnCNN(in_nc=3, out_nc=3, nc=8, nb=5, act_mode="BR")
    return save({k: v.contiguous() for k, v in model.state_dict().items()})


@pytest.fixture()
def hub_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return tmp_path


def hub_entries(data: bytes, sha256: str | None = None, filename="model.safetensors"):
    return {
        "tiny": {
            "repo_id": REPO,
            "filename": filename,
            "revision": "main",
            "sha256": sha256 if sha256 is not None else hashlib.sha256(data).hexdigest(),
            "licence": "test",
            "task": "denoise",
        }
    }


def test_download_verify_and_run(hub_env, monkeypatch):
    data = tiny_dncnn_bytes()
    entries = hub_entries(data)
    with HubServer({(REPO, "model.safetensors"): data}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        assert hub.status("tiny", entries) == "not downloaded"
        restorer = hub.load("tiny", entries)
        assert any("model.safetensors" in r for r in server.requests)
    assert hub.status("tiny", entries) == "ready"  # now from the cache, server gone
    out = restorer(np.random.default_rng(0).random((40, 56, 3), dtype=np.float32))
    assert out.shape == (40, 56, 3) and np.isfinite(out).all()


def test_wrong_hash_is_refused_and_removed(hub_env, monkeypatch):
    data = tiny_dncnn_bytes()
    entries = hub_entries(data, sha256="0" * 64)
    with HubServer({(REPO, "model.safetensors"): data}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        with pytest.raises(hub.HubError, match="sha256"):
            hub.load("tiny", entries)
    assert hub.status("tiny", entries) == "not downloaded"


def test_missing_file_and_unsafe_suffix(hub_env, monkeypatch):
    with HubServer({}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        with pytest.raises(hub.HubError, match="could not download"):
            hub.download("tiny", hub_entries(b"x"))
    with pytest.raises(hub.HubError, match="only .safetensors or .pth"):
        hub.download("tiny", hub_entries(b"x", filename="model.pt"))


def test_offline_status_is_fast_and_clear(hub_env, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    entries = hub_entries(b"abc")
    start = time.perf_counter()
    assert hub.status("tiny", entries) == "not downloaded"
    with pytest.raises(hub.HubError, match="not downloaded: the Hub .* is not reachable"):
        hub.download("tiny", entries, timeout_s=2)
    assert time.perf_counter() - start < 5


def test_unpinned_files_are_trusted_on_first_use_and_held_to_it(hub_env, monkeypatch):
    """No sha256 in the manifest: refused unless allowed; once allowed, the first download's hash
    and commit are recorded, and a changed file on the Hub is refused later."""
    monkeypatch.setenv("RESTORATION_HUB_TRUST", str(hub_env / "trust.json"))
    data = tiny_dncnn_bytes()
    entries = hub_entries(data, sha256="")
    with HubServer({(REPO, "model.safetensors"): data}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        with pytest.raises(hub.HubError, match="no pinned sha256"):
            hub.download("tiny", entries)
        monkeypatch.setenv("RESTORATION_HUB_UNPINNED", "1")
        path = hub.download("tiny", entries)
    record = hub.trusted("tiny")
    assert record["sha256"] == hashlib.sha256(data).hexdigest() and not record["pinned"]
    assert record["commit"] == hub.resolved_commit(path) and len(record["commit"]) == 40
    path.unlink()  # the cache is emptied; the Hub now serves another file under the same name
    import shutil

    shutil.rmtree(hub_env / "hf" / "hub")
    changed = data[:-8] + bytes(8)
    with HubServer({(REPO, "model.safetensors"): changed}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        with pytest.raises(hub.HubError, match="does not match its first download"):
            hub.download("tiny", entries)


def test_downloads_can_be_turned_off(hub_env, monkeypatch):
    monkeypatch.setenv("RESTORATION_HUB_DOWNLOADS", "0")
    with pytest.raises(hub.HubError, match="downloads are turned off"):
        hub.download("tiny", hub_entries(b"x"))


def test_a_published_sha256_prefix_pins_the_file(hub_env, monkeypatch):
    """Several authors publish the first 40 hex digits of a file's sha256 (Real-ESRGAN, HAT): the
    manifest keeps them as they are, and they must match as a prefix, not as the whole digest."""
    data = tiny_dncnn_bytes()
    prefix = hashlib.sha256(data).hexdigest()[:40]
    with HubServer({(REPO, "model.safetensors"): data}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        assert hub.download("tiny", hub_entries(data, sha256=prefix)).is_file()
    assert hub.status("tiny", hub_entries(data, sha256=prefix)) == "ready"
    assert not hub.hash_matches(hashlib.sha256(data).hexdigest(), prefix[:12])  # too short to pin anything
    assert not hub.hash_matches(hashlib.sha256(b"other").hexdigest(), prefix)


def test_every_hub_model_is_labelled_with_licence_size_and_status_before_download(monkeypatch, tmp_path):
    """What a person reads in a picker before ticking a Hub model, offline: licence, download
    size (published, or "~" from the real-layout file) and "needs network"."""
    import huggingface_hub.constants as constants

    from restoration.models import restorers

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    for key, item in hub.manifest().items():
        label, value = restorers.get(key).choice()
        size = f"{'~' if item.get('size_estimated') else ''}{round(item['size_bytes'] / 1e6)} MB"
        assert value == key and label == f"{key} (hub, {item['licence']}, {size}: not downloaded, needs network)"
