"""Our networks' weights as stored in weights/ score what they scored: a PSNR check per model,
recorded in its manifest entry, and the int8 conversion of a file (``restoration.models.storage``)
refused when it moves PSNR by more than 0.01 dB.

    python bench/stored_weights.py --record [--models a,b]     # record each model's check PSNR (Set5)
    python bench/stored_weights.py --int8 deeprecnet-qa-codecs  # convert to int8 if within 0.01 dB
    python bench/stored_weights.py --compare [--models a,b]    # stored file against the float16 one it came from

The check (``tests/test_stored_weights.py`` repeats it): Set5 (every image, in CI too), float32 on
the CPU, no self-ensemble; artifact models on JPEG q10 (4:2:0; a quality-aware model is told it),
denoisers on Gaussian noise sigma 25 (seed = image index), the combined model on blur 1 + noise 10
+ JPEG q40, super-resolution on the MATLAB-bicubic LR (Y-PSNR, scale px shaved). ``--int8`` and
``--compare`` also measure the wide set: Kodak24 for image-to-image models, Set5 for SR.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration import degrade
from restoration import metrics as metriclib
from restoration.core import image as imagelib
from restoration.core import manifest as manifestlib
from restoration.models import restorers, runtime, storage
from restoration.pipelines import sr

BENCH = manifestlib.DATA_ROOT / "bench"
CHECK_SET = "Set5"
TOLERANCE_DB = 0.01
PROTOCOLS = {  # task -> (what the check says, the degradation of image i, what the model is told)
    "jpeg": (
        "JPEG q10 4:2:0, told",
        lambda i: degrade.Compress("jpeg", {"quality": 10, "subsampling": "4:2:0"}),
        {"quality": 10, "codec": "jpeg"},
    ),
    "denoise": ("Gaussian noise sigma 25, seed = image index", lambda i: degrade.Noise(25.0, seed=i), {}),
    "combined": (
        "blur 1, noise 10 (seed = image index), JPEG q40",
        lambda i: degrade.Chain(
            (degrade.Blur(sigma=1.0), degrade.Noise(10.0, seed=i), degrade.Compress("jpeg", {"quality": 40}))
        ),
        {},
    ),
    "sr": ("MATLAB-bicubic LR, Y-PSNR with scale px shaved", None, {}),
}


def own_models() -> dict[str, str]:
    """Manifest key -> the task its check runs (the first task of its registry entry)."""
    return {spec.weights: spec.tasks[0] for spec in restorers.REGISTRY.values() if spec.source == "own"}


def load_images(set_name: str) -> list[np.ndarray]:
    return [imagelib.load(p) for p in sorted((BENCH / set_name).glob("*.png"))]


def score(entry: dict, path: Path, task: str, images: list[np.ndarray]) -> float:
    """Mean PSNR of the weights in ``path`` (float32, CPU) on ``images`` under the task's protocol."""
    restorer = runtime.restorer_from_weights(entry, path, bf16=False)
    _, degradation, told = PROTOCOLS[task]
    values = []
    for index, image in enumerate(images):
        if task == "sr":
            hr, lr = sr.make_lr(image, entry["scale"])
            values.append(sr.measure(restorer.restore_uint8(lr), hr, entry["scale"])["psnr_y"])
        else:
            output = restorer.restore_uint8(degradation(index)(image), **told)
            values.append(metriclib.psnr(metriclib.Sample(image, output)))
    return statistics.fmean(values)


def check_record(key: str, task: str, psnr: float) -> dict:
    """What the manifest keeps of a model's check (``stored_check``)."""
    return {"set": CHECK_SET, "protocol": PROTOCOLS[task][0], "psnr": round(psnr, 4)}


def record(keys: list[str], models: dict[str, str]) -> None:
    images = load_images(CHECK_SET)
    for key in keys:
        path, entry = manifestlib.verified_file("own", key)
        entry["stored_check"] = check_record(key, models[key], score(entry, path, models[key], images))
        manifestlib.record(manifestlib.PATH, "own", key, entry)
        print(key, json.dumps(entry["stored_check"]))


def wide_set(task: str) -> str:
    return "Set5" if task == "sr" else "Kodak24"


def to_int8(key: str, task: str) -> None:
    """Convert one float16 file to int8 in place, if no PSNR moves by more than TOLERANCE_DB."""
    path, entry = manifestlib.verified_file("own", key)
    if storage.precision_of(path) == storage.INT8:
        print(key, "is already int8")
        return
    converted = path.with_name(f".{path.name}.int8")
    storage.save_state(storage.load_state(path), converted, storage.INT8)
    scores = {}
    for set_name in dict.fromkeys((CHECK_SET, wide_set(task))):
        images = load_images(set_name)
        scores[set_name] = {
            "float16": round(score(entry, path, task, images), 4),
            "int8": round(score(entry, converted, task, images), 4),
        }
        print(key, set_name, scores[set_name])
    if any(abs(s["int8"] - s["float16"]) > TOLERANCE_DB for s in scores.values()):
        converted.unlink()
        raise SystemExit(f"{key}: int8 moves PSNR by more than {TOLERANCE_DB} dB; kept float16")
    before = {"sha256": entry["sha256"], "bytes": path.stat().st_size}
    os.replace(converted, path)
    entry.update(
        sha256=manifestlib.sha256_of(path),
        stored_check=check_record(key, task, scores[CHECK_SET]["float16"]),
        storage={
            "precision": storage.INT8,
            "float16": before,
            "bytes": path.stat().st_size,
            "psnr": scores,
            "protocol": PROTOCOLS[task][0],
        },
    )
    manifestlib.record(manifestlib.PATH, "own", key, entry)
    print(key, f"{before['bytes']} -> {path.stat().st_size} bytes")


def compare(keys: list[str], models: dict[str, str]) -> None:
    """Each model's stored file against the float16 scores its manifest recorded at conversion
    (int8 files), or its check on the wide set (float16 files: nothing to compare against)."""
    for key in keys:
        path, entry = manifestlib.verified_file("own", key)
        task = models[key]
        recorded = entry.get("storage", {}).get("psnr", {})
        for set_name in dict.fromkeys((CHECK_SET, wide_set(task))):
            now = score(entry, path, task, load_images(set_name))
            before = recorded.get(set_name, {}).get("float16")
            delta = f", float16 {before:.4f}, delta {now - before:+.4f}" if before is not None else ""
            print(f"{key} {set_name} ({storage.precision_of(path)}): {now:.4f}{delta}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--record", action="store_true", help="record each model's check PSNR in the manifest")
    action.add_argument("--int8", metavar="IDS", help="convert these models' files to int8 (comma-separated)")
    action.add_argument("--compare", action="store_true", help="score the stored files (check and wide sets)")
    parser.add_argument("--models", help="manifest keys (comma-separated; default: every own model)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = own_models()
    keys = (args.int8 or args.models or ",".join(models)).split(",")
    unknown = [k for k in keys if k not in models]
    if unknown:
        raise SystemExit(f"not an own model: {', '.join(unknown)}; choose from {', '.join(models)}")
    if args.int8:
        for key in keys:
            to_int8(key, models[key])
    elif args.record:
        record(keys, models)
    else:
        compare(keys, models)


if __name__ == "__main__":
    main()
