"""The fast tier against the defaults: quality kept, compute and time saved.

    python bench/fast_tier.py [--limit N] [--out docs/bench_fast_tier.md]

Artifacts: Kodak24 saved as JPEG q10 and q30 by Pillow's libjpeg (4:2:0), each file restored as
the app does (``pipelines.restore.restore_one`` with its bytes: told the quality read from the
tables); RGB PSNR gain over the file. x4: Set5 and Set14 by the standard protocol
(``pipelines.sr``), Y-PSNR gain over bicubic. GFLOP per output megapixel by
``models.flops``; seconds for a 12 MP photo (4000x3000) from the model call on a 768x512 image
(median of 3 after a warm-up) scaled by the pixel count, on the threads and precision the app uses.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration import codecs  # noqa: E402
from restoration import metrics as metriclib  # noqa: E402
from restoration.benchmark import provenance  # noqa: E402
from restoration.core import image as imagelib  # noqa: E402
from restoration.lab import common  # noqa: E402
from restoration.models import accel, flops, restorers  # noqa: E402
from restoration.pipelines import restore as restorelib  # noqa: E402
from restoration.pipelines import sr  # noqa: E402

DATA = ROOT.parent / "shared/data/bench"
PHOTO_MP = 12.0


def jpeg_gains(model: str, quality: int, limit: int | None) -> float:
    jpeg, gains = codecs.get("jpeg"), []
    for path in sorted((DATA / "Kodak24").glob("*.png"))[:limit]:
        clean = imagelib.load(path)
        data = jpeg.encode(clean, quality=quality)
        degraded = jpeg.decode(data)
        restored = restorelib.restore_one(degraded, model, data=data).image
        before = metriclib.psnr(metriclib.Sample(clean, degraded))
        gains.append(metriclib.psnr(metriclib.Sample(clean, restored)) - before)
    return statistics.mean(gains)


def sr_gains(model: str, scale: int, folder: str, limit: int | None) -> float:
    gains = []
    for path in sorted((DATA / folder).glob("*.png"))[:limit]:
        hr, lr = sr.make_lr(imagelib.load(path), scale)
        result = sr.run(lr, model, scale, hr, grey=sr.is_grey_file(path))
        gains.append(result.metrics["psnr_y"] - result.baseline["psnr_y"])
    return statistics.mean(gains)


def photo_seconds(model: str, scale: int) -> float:
    """Seconds for a 12 MP photo (the output's megapixels for an upscaler), from a 768x512 run."""
    side = (512 // scale, 768 // scale)
    image = (np.random.default_rng(0).random((*side, 3)) * 255).astype(np.uint8)
    restorers.restore(image, model)
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        restorers.restore(image, model)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * PHOTO_MP * 1e6 / (512 * 768)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    threads = common.configure_threads()
    pairs = [
        ("jpeg", restorers.default_for("jpeg").id, "deeprecnet-fast", 1),
        ("sr x4", restorers.default_for("sr", 4).id, "subpixel-fast-sr-x4", 4),
    ]
    lines = [
        f"`{provenance.command_line('bench/fast_tier.py')}`, {provenance.machine_description()}, "
        f"{threads} thread(s), {accel.precision('cpu')}",
        "",
        "| task | model | GFLOP / output MP | gain 1 | gain 2 | kept of the default's gain | s per 12 MP |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, default, fast, scale in pairs:
        found = {}
        for model in (default, fast):
            if restorers.get(model).status() != "ready":
                continue
            spec = restorers.get(model)
            if scale == 1:
                gains = (jpeg_gains(model, 10, args.limit), jpeg_gains(model, 30, args.limit))
            else:
                gains = (sr_gains(model, scale, "Set5", args.limit), sr_gains(model, scale, "Set14", args.limit))
            found[model] = (flops.gflop_per_mp(spec.weights), gains, photo_seconds(model, scale))
        for model, (gflop, gains, seconds) in found.items():
            kept = " / ".join(f"{100 * g / d:.0f} %" for g, d in zip(gains, found[default][1]))
            labels = ("Kodak24 q10", "q30") if scale == 1 else ("Set5", "Set14")
            lines.append(
                f"| {task} | `{model}` | {gflop:.0f} | {labels[0]} {gains[0]:+.2f} | {labels[1]} "
                f"{gains[1]:+.2f} | {kept} | {seconds:.1f} |"
            )
            print(lines[-1], flush=True)
    provenance.publish(lines, args.out)


if __name__ == "__main__":
    main()
