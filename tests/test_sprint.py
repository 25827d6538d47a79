"""The GPU sprint end to end on the CPU: a small pack built from ../shared/data/train, the smoke
sprint in a process of its own (which must load no codec, metric or UI module), its files and
log; the pack's LR is the MATLAB-exact resize; the GPU check runs too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from restoration.core import manifest as manifestlib
from restoration.core import resize
from restoration.models import architectures, storage
from restoration.training import pack as packlib
from restoration.training import sprint

ROOT = Path(__file__).resolve().parent.parent
TRAIN = manifestlib.DATA_ROOT / "train"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (TRAIN / "BSD400").is_dir(), reason="../shared/data/train is not present"),
]
NOT_ON_THE_GPU_MACHINE = (
    "gradio",
    "pillow_heif",
    "pillow_avif",
    "pillow_jxl",
    "constriction",
    "skimage",
    "scipy",
    "cv2",
    "spandrel",
    "pytorch_msssim",
    "sklearn",
)


@pytest.fixture(scope="module")
def small_pack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pack")
    packlib.main(["--data", str(TRAIN), "--out", str(folder), "--limit", "6", "--crops", "6"])
    return folder


def test_the_sprint_imports_only_what_the_gpu_machine_has():
    code = (
        "import sys, restoration.training.sprint\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {NOT_ON_THE_GPU_MACHINE!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_pack_holds_the_crops_and_the_exact_lr(small_pack):
    meta = json.loads((small_pack / "pack.json").read_text())
    assert meta["train_crops"] == 6 and len(meta["train_degradations"]) == 6 and len(meta["validation"]["images"]) == 8
    assert sum(p.stat().st_size for p in small_pack.iterdir()) <= packlib.MAX_BYTES
    clean = sprint.load_mosaic(small_pack / "train_clean.png", meta["crop"])
    assert clean.shape == (6, packlib.CROP, packlib.CROP, 3)
    assert np.load(small_pack / "train_condition.npy").shape == (6, 6)
    with np.load(small_pack / "resize.npz") as matrices:
        for scale in (2, 4):
            lr = sprint.matlab_downscale(torch.from_numpy(clean), torch.from_numpy(matrices[f"x{scale}"])).numpy()
            expected = np.stack([resize.imresize(crop, 1 / scale) for crop in clean])
            assert np.abs(lr.astype(int) - expected).max() <= 1 and (lr != expected).mean() < 1e-4


@pytest.mark.slow
def test_smoke_sprint_writes_its_log_and_half_precision_weights(small_pack, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "restoration.training.sprint", "--smoke", "--pack", str(small_pack), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    files = sorted(out.iterdir())
    assert len(files) <= 8 and all(f.stat().st_size <= sprint.MAX_FILE_BYTES for f in files)
    log = json.loads((out / "sprint.json").read_text())
    assert log["smoke"] and log["precision"] == "float32" and log["torch"] and log["device"]
    assert set(log["recipes"]) == set(sprint.RECIPES)
    for model_id, record in log["recipes"].items():
        assert record["steps"] == sprint.SMOKE_ROUNDS and record["seconds"] > 0
        assert [v["step"] for v in record["validation"]] == [0, 2, 4] and len(record["losses"]) == 2
        # The pack's validation crops are the notebooks' own: the start scores what the manifest recorded.
        entry = manifestlib.section("own")[model_id]
        assert abs(record["start_psnr"] - entry["val_psnr"]) < 0.02, (model_id, record["start_psnr"])
        assert record["best"]["val_psnr"] >= record["start_psnr"] and record["start_sha256"] == entry["sha256"]
        weights = out / record["file"]
        assert storage.precision_of(weights) == storage.FLOAT16
        architectures.build(entry["architecture"], entry["arch_config"]).load_state_dict(storage.load_state(weights))


@pytest.mark.slow
def test_gpu_check_runs_on_the_cpu(small_pack, tmp_path):
    out = tmp_path / "gpu_check.json"
    done = subprocess.run(
        [
            sys.executable,
            "bench/gpu_check.py",
            "--device",
            "cpu",
            "--size",
            "96x64",
            "--repeats",
            "1",
            "--models",
            "dncnn-blind,subpixel-ca-sr-x2",
            "--pack",
            str(small_pack),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    for model_id in ("dncnn-blind", "subpixel-ca-sr-x2"):
        record = report["models"][model_id]
        assert record["float32"]["seconds"] > 0 and record["bf16"]["val_psnr"] > 20
        assert record["bf16_vs_float32_db"] > 35
