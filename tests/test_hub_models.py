"""Every Hub manifest entry end to end, before any user meets it: a checkpoint in the
entry's real layout (tests/hub_checkpoints.py, random weights), served by a local HF_ENDPOINT
server, downloaded and sha256-checked by our loader, recognised by spandrel as the intended
architecture and scale, run through the package (tiled, self-ensembled, bf16 and float32) and
through the app's /restore or /upscale endpoint. One test per entry, named after its id."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from hub_checkpoints import hub_checkpoints  # noqa: F401  (a session fixture)
from hub_server import HubServer

from restoration.models import hub, restorers, runtime

pytestmark = pytest.mark.slow  # the full suite (CI) runs it; the fast tier leaves it out

ENTRIES = hub.manifest()
IMAGE = (np.random.default_rng(5).random((56, 64, 3)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def world(tmp_path_factory, hub_checkpoints):
    """One local Hub and one app for all the entries; each test serves its own file (each
    checkpoint made once per session)."""
    folder = tmp_path_factory.mktemp("hub-world")
    with pytest.MonkeyPatch.context() as mp, HubServer({}) as server:
        import huggingface_hub.constants as constants

        mp.setenv("HF_ENDPOINT", server.url)
        mp.setenv("HF_HUB_CACHE", str(folder / "hub"))
        mp.setattr(constants, "HF_HUB_CACHE", str(folder / "hub"))
        mp.setattr(constants, "HF_HUB_OFFLINE", False)
        mp.delenv("HF_HUB_OFFLINE", raising=False)
        from gradio_client import Client
        from live_app import serving

        import app

        with serving(app.build()) as url:
            yield {
                "server": server,
                "folder": folder,
                "mp": mp,
                "client": Client(url, verbose=False),
                "checkpoint": hub_checkpoints,
            }


def _serve(world, key: str) -> tuple[int, int]:
    """Serve the entry's checkpoint (each of its variants: another seed each) and point the
    manifest's sha256 at it (a test-only manifest)."""
    item = dict(ENTRIES[key])
    world["server"].files.clear()
    files = {level: variant for level, variant in item.get("variants", {}).items()} or {"": item}
    size = 0
    for seed, (level, variant) in enumerate(sorted(files.items())):
        data, scale = world["checkpoint"](key, seed)
        size = len(data) if variant["filename"] == item["filename"] else size
        world["server"].files[(item["repo_id"], variant["filename"])] = data
        pinned = {**variant, "sha256": hashlib.sha256(data).hexdigest()}
        if level:
            item["variants"] = {**item["variants"], level: pinned}
        item.update({"sha256": pinned["sha256"]} if variant["filename"] == item["filename"] else {})
    manifest = world["folder"] / f"manifest-{key}.json"
    manifest.write_text(json.dumps({"hub": {key: item}}))
    world["mp"].setattr(hub, "MANIFEST", manifest)
    restorers._instance.cache_clear()
    return scale, size


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(ENTRIES))
def test_hub_entry_end_to_end(world, key, tmp_path):
    from gradio_client import handle_file
    from PIL import Image

    from restoration.benchmark import provenance

    expected_scale, size = _serve(world, key)
    # The size the tabs show before a download: the published one, else this real-layout file's.
    assert abs(size - ENTRIES[key]["size_bytes"]) <= 0.001 * size
    # Through the app's endpoint first: the registry downloads from the local Hub, checks sha256,
    # and spandrel detects the architecture; the network it loaded is then run here directly.
    h, w = IMAGE.shape[:2]
    path = tmp_path / "input.png"
    Image.fromarray(IMAGE).save(path)
    if ENTRIES[key]["task"] == "sr":
        gallery, table, files, *_ = world["client"].predict(
            handle_file(str(path)), expected_scale, [key], False, api_name="/upscale"
        )
        rows = {row[0]: row for row in table["data"]}
        assert rows[key][2] == f"{w * expected_scale}x{h * expected_scale}" and not rows[key][-1]
    else:
        gallery, table, files, *_ = world["client"].predict(handle_file(str(path)), None, [key], 0, api_name="/restore")
        note = table["data"][0][-1]  # for a file per noise level the one that ran; what FBCNN was told
        assert [row[0] for row in table["data"]] == [key]
        told = restorers.UNTOLD if ENTRIES[key].get("told") == "quality" else ""
        assert note == ("ran its sigma-50 checkpoint" if "variants" in ENTRIES[key] else told)
    assert len(files) == 1 and Image.open(files[0]).size == (w * expected_scale, h * expected_scale)

    runner = restorers._instance(key)  # what the app ran: hub.load's runner, loaded once
    if isinstance(runner, hub.NearestLevel):  # one file per noise level: the default one (sigma 25)
        runner = runner.runner(None)
    assert runner.scale == expected_scale
    commit = provenance.model_commit(key)  # what a benchmark row records beside "revision": "main"
    assert commit is not None and len(commit) == 40
    assert commit == hub.resolved_commit(hub.cached_path(ENTRIES[key]))
    assert any(key_path[1] == ENTRIES[key]["filename"] for key_path in world["server"].files)
    out = runner.restore_uint8(IMAGE)
    assert out.shape == (h * runner.scale, w * runner.scale, 3) and out.dtype == np.uint8
    tiled = runner.restore_uint8(IMAGE, tile=48, overlap=8)  # an image larger than a tile
    assert tiled.shape == out.shape
    small = np.ascontiguousarray(IMAGE[:24, :24])
    assert runner.restore_uint8(small, self_ensemble=True).shape == (24 * runner.scale, 24 * runner.scale, 3)
    as_float32 = runtime.TorchRestorer(
        runner.module,
        scale=runner.scale,
        multiple=runner.multiple,
        bf16=False,
        call=runner.call,
        minimum=runner.minimum,
    )
    wide = as_float32(small.astype(np.float32) / 255)
    assert wide.shape == (24 * runner.scale, 24 * runner.scale, 3) and np.isfinite(wide).all()
    assert 0.0 <= wide.min() and wide.max() <= 1.0


def _spec(monkeypatch, key, runner, **flags):
    from restoration.models.spec import RestorerSpec

    seen = []

    class Recording(type(runner)):
        def restore_uint8(self, image, **options):
            seen.append({k: options.get(k) for k in ("quality", "sigma")})
            return super().restore_uint8(image, **options)

    recording = Recording(runner.module, call=runner.call, bf16=False, multiple=runner.multiple)
    monkeypatch.setitem(
        restorers.REGISTRY,
        key,
        RestorerSpec(key, ("jpeg", "denoise"), "hub", "test", lambda: recording, status_check=lambda: "ready", **flags),
    )
    restorers._instance.cache_clear()
    return seen


def test_fbcnn_is_told_the_quality_read_from_the_file(monkeypatch, astro128):
    """FBCNN's own demo must predict the quality; here the file's tables tell it (or the strength)."""
    import torch
    from spandrel.architectures.FBCNN import FBCNN

    from restoration.codecs import get
    from restoration.pipelines import restore as restorelib

    torch.manual_seed(0)
    runner = runtime.TorchRestorer(FBCNN(in_nc=3, out_nc=3, nb=1), multiple=8, bf16=False, call=hub.fbcnn_call)
    seen = _spec(monkeypatch, "tiny-fbcnn", runner, quality_aware=("jpeg",))
    data = get("jpeg").encode(astro128, quality=17)
    told = restorelib.restore_one(get("jpeg").decode(data), "tiny-fbcnn", data=data).image
    assert seen[-1]["quality"] == 17
    own = restorelib.restore_one(get("jpeg").decode(data), "tiny-fbcnn").image  # no file: it predicts
    assert seen[-1]["quality"] is None and not np.array_equal(told, own)
    restorers._instance.cache_clear()


def test_drunet_gets_a_noise_map_from_the_sigma_or_an_estimate(monkeypatch, astro128):
    import torch
    from spandrel.architectures.DRUNet import DRUNet

    from restoration import degrade

    torch.manual_seed(0)
    runner = runtime.TorchRestorer(
        DRUNet(in_nc=4, out_nc=3, nc=[8, 16, 32, 64], nb=1), multiple=8, bf16=False, call=hub.drunet_call
    )
    seen = _spec(monkeypatch, "tiny-drunet", runner, needs_sigma=True)
    noisy = degrade.Noise(25, seed=3)(astro128)
    restorers.restore(noisy, "tiny-drunet")
    assert 18 < seen[-1]["sigma"] < 32  # estimated from the image (true sigma 25)
    restorers.restore(noisy, "tiny-drunet", sigma=10)
    assert seen[-1]["sigma"] == 10
    restorers._instance.cache_clear()


@pytest.mark.slow
def test_swinir_denoise_runs_the_file_nearest_the_sigma(world, astro128, monkeypatch, tmp_path):
    """SwinIR ships one checkpoint per noise level: each run takes the nearest to the sigma it is
    told (given, from the degradation, or estimated), downloading only that one."""
    import huggingface_hub.constants as constants

    from restoration import degrade

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # nothing downloaded yet
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))

    key = "swinir-dn-color"
    _serve(world, key)
    levels = hub.variant_entries(key, hub.entry(key))
    assert sorted(levels) == [15.0, 25.0, 50.0]
    assert hub.cached_path(levels[50.0][1]) is None
    image = np.ascontiguousarray(astro128[:48, :48])
    run_12 = restorers.restore(image, key, sigma=12)
    at_12 = run_12.image
    assert run_12.options["note"] == "ran its sigma-15 checkpoint"  # the row says which file ran
    assert hub.cached_path(levels[15.0][1]) is not None and hub.cached_path(levels[50.0][1]) is None
    at_45 = restorers.restore(image, key, sigma=45).image
    assert hub.cached_path(levels[50.0][1]) is not None and not np.array_equal(at_12, at_45)
    noisy = degrade.Noise(50, seed=1)(image)
    estimated = restorers.restore(noisy, key)
    assert estimated.options["sigma"] > 38  # estimated, then the sigma-50 file runs
    assert np.array_equal(estimated.image, restorers.restore(noisy, key, sigma=50).image)
    restorers._instance.cache_clear()


def test_hub_benchmark_script_lists_every_entry_and_scores_none_offline(tmp_path, monkeypatch):
    """bench/hub_models.py offline: one row per manifest entry, each "not downloaded", nothing run."""
    import subprocess
    import sys

    from restoration.core import manifest as manifestlib
    from restoration.core.manifest import REPO_ROOT
    from restoration.models import hub as hublib

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "bench_hub.md"
    done = subprocess.run(
        [sys.executable, "bench/hub_models.py", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(hublib.manifest(manifestlib.PATH))  # the shipped one
    assert all("| not downloaded | — |" in row for row in rows)
