"""Weights that travel: the tracked tree stays small, the int8 storage loads back as what it
quantised, and every shipped network scores on Set5 what its manifest entry recorded, within
0.01 dB (the int8 files' record is their float16 originals' score)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from restoration.core import manifest as manifestlib
from restoration.models import architectures, storage

pytestmark = pytest.mark.slow  # the full suite (CI) runs it; the fast tier leaves it out

ROOT = Path(__file__).resolve().parent.parent
MAX_TREE_BYTES = 40 * 1024 * 1024


def _bench_module():
    spec = importlib.util.spec_from_file_location("stored_weights", ROOT / "bench" / "stored_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_the_tracked_tree_stays_under_40_mib():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    paths = [ROOT / name.decode() for name in listed.split(b"\0") if name]
    sizes = {path: path.stat().st_size for path in paths if path.is_file()}
    largest = sorted(sizes, key=sizes.get, reverse=True)[:5]
    assert sum(sizes.values()) <= MAX_TREE_BYTES, (
        f"{sum(sizes.values()) / 2**20:.1f} MiB tracked; largest: "
        + ", ".join(f"{p.name} {sizes[p] / 2**20:.1f}" for p in largest)
    )


def test_int8_storage_loads_back_within_half_a_step(tmp_path):
    """Per-row int8 with float32 scales: every weight within half a quantisation step of its
    float16 value; small tensors and integer buffers stay as they were."""
    torch.manual_seed(0)
    model = architectures.build("deeprecnet", {"channels": [8, 16, 16, 32], "blocks": [1, 1, 1, 1]})
    model.tail.weight.data.normal_()
    state = {k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    storage.save_state(state, tmp_path / "int8.safetensors", storage.INT8)
    storage.save_state(state, tmp_path / "half.safetensors")
    back = storage.load_state(tmp_path / "int8.safetensors")
    assert storage.precision_of(tmp_path / "int8.safetensors") == storage.INT8
    assert storage.precision_of(tmp_path / "half.safetensors") == storage.FLOAT16
    assert set(back) == set(state)
    for key, value in state.items():
        if value.dim() >= 2 and value.numel() >= storage.INT8_MIN_NUMEL:
            step = value.reshape(value.shape[0], -1).abs().amax(1) / 127
            error = (back[key] - value).reshape(value.shape[0], -1).abs().amax(1)
            assert (error <= step / 2 + 1e-7).all(), key
        else:
            assert torch.equal(back[key], value), key
    model.load_state_dict(back)
    assert (tmp_path / "int8.safetensors").stat().st_size < 0.7 * (tmp_path / "half.safetensors").stat().st_size


@pytest.mark.slow
@pytest.mark.skipif(not (manifestlib.DATA_ROOT / "bench" / "Set5").is_dir(), reason="../shared/data/bench is absent")
@pytest.mark.parametrize("model_id", sorted(manifestlib.section("own")))
def test_shipped_weights_score_what_was_recorded(model_id):
    bench = _bench_module()
    path, entry = manifestlib.verified_file("own", model_id)
    recorded = entry.get("stored_check")
    assert recorded, f"{model_id}: no stored_check; run python bench/stored_weights.py --record --models {model_id}"
    task = bench.own_models()[model_id]
    assert recorded["set"] == bench.CHECK_SET and recorded["protocol"] == bench.PROTOCOLS[task][0]
    now = bench.score(entry, path, task, bench.load_images(bench.CHECK_SET))
    assert abs(now - recorded["psnr"]) <= bench.TOLERANCE_DB, (model_id, now, recorded["psnr"])
