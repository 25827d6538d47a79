"""The training data of a GPU sprint (``restoration.training.sprint``), built here once:

    python -m restoration.training.pack [--data ../shared/data/train] [--out packs] [--limit N]

The GPU machine has torch, numpy and Pillow but none of our codec plugins, so everything that
needs a codec or our MATLAB-exact resize is computed here and stored as lossless PNG mosaics (one
tall image per array) in a git-ignored folder of at most 20 MiB:

- ``train_clean.png``: ``CROP``-pixel crops of the training images (BSD400 without its last 8,
  T91), at random places; ``train_degraded.png``: each crop through one compression draw of the
  artifact model's sampler (JPEG q5-95, WebP, AVIF, JPEG 2000: ``data.full_range_sampler``), its
  decoded pixels; ``train_condition.npy``: what the codec-aware network is told of it with
  everything known (``data.compression_condition``; the sprint hides parts of it as training does).
- ``resize.npz``: MATLAB bicubic's (out x in) matrices ``x2`` and ``x4`` for one crop side, so
  the sprint makes each crop's LR exactly as ``core.resize`` does (two passes, rounded between).
- ``val_*``: the validation pairs of ``loop.validation_set`` (the last 8 BSD400 images' centre
  192x192 crops, degraded as the notebooks validate): clean, the artifact model's input and
  condition, and the LR at x2 and x4.
- ``pack.json``: what was built, from what, and each file's size.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
from PIL import Image

from restoration.core import resize
from restoration.models import condition
from restoration.training import data as datalib
from restoration.training.loop import Recipe, validation_set

CROP = 192  # crop side: x2 and x4 LR of 96 and 48 px, room for random 128-160 px patches
MAX_BYTES = 20 * 1024 * 1024
DEFAULT_CROPS = 160  # about 18 MiB of PNG with their degraded twins (about 117 KB a pair)
VAL_RECIPES = {  # what validation_set degrades the held-out crops by, per kind of model
    "artifacts": Recipe("pack", "deeprecnet", {"codecs": list(condition.CODECS)}, "compression_full", condition=True),
    "x2": Recipe("pack", "subpixel_sr", {"scale": 2}, "sr_x2"),
    "x4": Recipe("pack", "subpixel_sr", {"scale": 4}, "sr_x4"),
}


def save_mosaic(arrays: list[np.ndarray], path: Path) -> None:
    """Equal-size HxWx3 uint8 arrays stacked into one tall PNG."""
    Image.fromarray(np.concatenate(arrays, axis=0)).save(path, optimize=True)


def training_crops(train_dir: Path, count: int, held_out: set[str], seed: int, limit: int | None) -> list[np.ndarray]:
    """``count`` random crops, one per image drawn without replacement (then again), from the
    images large enough (BSD400 but the validation images, T91)."""
    images = [
        im
        for im in datalib.training_images(("BSD400", "T91"), train_dir, limit=limit, exclude=held_out)
        if min(im.shape[:2]) >= CROP
    ]
    rng = random.Random(seed)
    order = []
    while len(order) < count:
        order += rng.sample(range(len(images)), len(images))
    crops = []
    for index in order[:count]:
        image = images[index]
        y, x = rng.randrange(image.shape[0] - CROP + 1), rng.randrange(image.shape[1] - CROP + 1)
        crops.append(np.ascontiguousarray(image[y : y + CROP, x : x + CROP]))
    return crops


def degraded_twins(crops: list[np.ndarray], seed: int) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """(each crop's compressed-and-decoded twin, the condition vectors told everything, the
    degradations as text)."""
    rng = random.Random(seed + 1)
    twins, told, texts = [], [], []
    for crop in crops:
        degradation = datalib.full_range_sampler(1.0, rng)
        twins.append(degradation(crop))
        told.append(datalib.compression_condition(degradation, rng, condition.CODECS, mix=(0.0, 0.0, 0.0)))
        texts.append(degradation.text())
    return twins, np.stack(told).astype(np.float32), texts


def resize_matrix(scale: int) -> np.ndarray:
    """MATLAB bicubic downscaling of a CROP-long axis by ``scale``, as a dense (out x in) matrix."""
    weights, index = resize.contributions(CROP, CROP // scale, 1.0 / scale, "bicubic", True)
    matrix = np.zeros((CROP // scale, CROP))
    np.add.at(matrix, (np.repeat(np.arange(CROP // scale), weights.shape[1]), index.ravel()), weights.ravel())
    return matrix


def write_validation(train_dir: Path, out: Path) -> tuple[set[str], dict]:
    """The validation files; returns the held-out image names and what pack.json says of them."""
    built = {kind: validation_set(recipe, train_dir.parent) for kind, recipe in VAL_RECIPES.items()}
    pairs, held_out = {kind: pairs for kind, (pairs, _) in built.items()}, built["x4"][1]
    save_mosaic([clean for _, clean, *_ in pairs["x4"]], out / "val_clean.png")
    save_mosaic([degraded for degraded, *_ in pairs["artifacts"]], out / "val_degraded.png")
    np.save(out / "val_condition.npy", np.stack([told for *_, told in pairs["artifacts"]]).astype(np.float32))
    for kind in ("x2", "x4"):
        save_mosaic([lr for lr, _ in pairs[kind]], out / f"val_lr{kind[1]}.png")
    return held_out, {"images": sorted(held_out), "crop": 192}


def build(
    train_dir: Path, out: Path, crops: int = DEFAULT_CROPS, limit: int | None = None, seed: int = 0, log=print
) -> dict:
    """Write the pack into ``out`` from ``train_dir`` (a folder named train, holding BSD400/ and
    T91/, as ``loop.validation_set`` expects); returns its description (also ``out/pack.json``)."""
    if train_dir.name != "train":
        raise SystemExit(f"{train_dir}: give the folder named train (BSD400/ and T91/ inside)")
    start = time.time()
    out.mkdir(parents=True, exist_ok=True)
    held_out, validation = write_validation(train_dir, out)
    clean = training_crops(train_dir, crops, held_out, seed, limit)
    twins, told, texts = degraded_twins(clean, seed)
    save_mosaic(clean, out / "train_clean.png")
    save_mosaic(twins, out / "train_degraded.png")
    np.save(out / "train_condition.npy", told)
    np.savez_compressed(out / "resize.npz", **{f"x{scale}": resize_matrix(scale) for scale in (2, 4)})
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.name != "pack.json"}
    description = {
        "crop": CROP,
        "train_crops": len(clean),
        "codecs": list(condition.CODECS),
        "data": str(train_dir),
        "limit": limit,
        "seed": seed,
        "validation": validation,
        "train_degradations": texts,
        "files": files,
        "bytes": sum(files.values()),
        "seconds": round(time.time() - start, 1),
    }
    (out / "pack.json").write_text(json.dumps(description, indent=1) + "\n")
    total = sum(p.stat().st_size for p in out.iterdir())
    if total > MAX_BYTES:
        raise SystemExit(
            f"{out}: {total / 2**20:.1f} MiB, over the {MAX_BYTES / 2**20:.0f} MiB a device call carries; "
            "build fewer --crops"
        )
    log(f"{out}: {len(clean)} training crops, {total / 2**20:.1f} MiB in {description['seconds']} s")
    return description


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=datalib.DATA_ROOT / "train",
        help="the training folder (named train, holding BSD400/ and T91/)",
    )
    parser.add_argument("--out", type=Path, default=Path("packs"))
    parser.add_argument("--crops", type=int, default=DEFAULT_CROPS, help="training crops (and degraded twins)")
    parser.add_argument("--limit", type=int, help="read only the first N training images (a quick pack for tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    build(args.data, args.out, args.crops, args.limit, args.seed)


if __name__ == "__main__":
    main()
