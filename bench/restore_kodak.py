"""Restoration benchmark: artifact removal and denoising on the development benchmarks.

    python bench/restore_kodak.py [--limit N] [--sections jpeg,codecs,denoise,combined,latency] [--models a,b]
                                  [--self-ensemble] [--denoise-sets McMaster,Kodak24]

Sections (each writes a markdown table to --out and JSON lines to --jsonl):
- jpeg: Kodak24 compressed by Pillow's libjpeg at q10/20/30/40 (4:2:0); RGB PSNR, Y PSNR and SSIM
  of the input and of every artifact-removal model (mean over images); with --self-ensemble each
  network also self-ensembled ("+SE" rows: 8 flips/rotations averaged, 8x the time).
- codecs: the default artifact model on WebP, AVIF and JPEG 2000 at 0.3 and 0.5 bpp (target size).
- denoise: McMaster and Kodak24 (--denoise-sets) with Gaussian noise sigma 15/25/50 (seed = image
  index); RGB PSNR; with --self-ensemble also each network self-ensembled.
- latency: the default artifact model on a 768x512 image (median of 5 runs) with 1 and 2 threads.
- large: a 6000x4000 image through tiled inference in a child process; its peak resident memory.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration import degrade
from restoration.benchmark import provenance
from restoration.core import image as imagelib
from restoration.models import (
    accel,  # noqa: E402
    restorers,
)
from restoration.pipelines import evaluate
from restoration.pipelines import restore as restorelib

DATA = ROOT.parent / "shared" / "data" / "bench"


@functools.cache  # the denoise section's Kodak24 is the jpeg section's: read once
def load_set(name: str, limit: int | None) -> list[np.ndarray]:
    return [imagelib.load(p) for p in sorted((DATA / name).glob("*.png"))[:limit]]


def ready(task: str, only: list[str] | None = None) -> list[str]:
    return [s.id for s in restorers.for_task(task) if s.status() == "ready" and (not only or s.id in only)]


def mean_rows(rows: list[dict], keys) -> dict:
    return {k: statistics.fmean(r[k] for r in rows) for k in keys}


def section_jpeg(images, log, models: list[tuple[str, str, dict]]):
    lines = ["| quality | model | PSNR RGB | PSNR Y | SSIM | gain RGB dB | s/image |", "|---|---|---|---|---|---|---|"]
    for quality in (10, 20, 30, 40):
        step = degrade.Compress("jpeg", {"quality": quality, "subsampling": "4:2:0"})
        degraded = [step(im) for im in images]
        base = None
        for label, model, options in [("input", None, {})] + models:
            rows = []
            for clean, bad in zip(images, degraded):
                if model is None:
                    m = evaluate.metriclib.measure(evaluate.metriclib.Sample(clean, bad), restorelib.RESTORE_METRICS)
                    rows.append({**m, "seconds": 0.0})
                else:
                    r = restorelib.restore_one(bad, model, clean, **options)
                    rows.append({**r.after, "seconds": r.seconds})
            avg = mean_rows(rows, ("psnr", "psnr_y", "ssim", "seconds"))
            base = avg if model is None else base
            log({"section": "jpeg", "quality": quality, "model": label, **avg})
            lines.append(
                f"| {quality} | {label} | {avg['psnr']:.2f} | {avg['psnr_y']:.2f} | {avg['ssim']:.4f} | "
                f"{avg['psnr'] - base['psnr']:+.2f} | {avg['seconds']:.2f} |"
            )
    return "### Kodak24, JPEG (Pillow libjpeg, 4:2:0)\n\n" + "\n".join(lines)


def section_codecs(images, log, model):
    lines = ["| codec | target bpp | actual bpp | input PSNR | restored PSNR | gain dB |", "|---|---|---|---|---|---|"]
    for codec in ("webp", "avif", "jpeg2000"):
        for bpp in (0.3, 0.5):
            before, after, actual = [], [], []
            for clean in images:
                result = evaluate.compress(clean, codec, {}, evaluate.Target(bpp=bpp), ["psnr", "bpp"])
                restored = restorelib.restore_one(result.decoded, model, clean, ["psnr"])
                before.append(restored.before["psnr"]), after.append(restored.after["psnr"])
                actual.append(result.metrics["bpp"])
            row = {
                "codec": codec,
                "bpp": bpp,
                "actual_bpp": statistics.fmean(actual),
                "input": statistics.fmean(before),
                "restored": statistics.fmean(after),
            }
            log({"section": "codecs", "model": model, **row})
            lines.append(
                f"| {codec} | {bpp} | {row['actual_bpp']:.3f} | {row['input']:.2f} | {row['restored']:.2f} | "
                f"{row['restored'] - row['input']:+.2f} |"
            )
    return f"### Kodak24, other codecs at equal size, restored by `{model}`\n\n" + "\n".join(lines)


def section_denoise(sets, log, models: list[tuple[str, str, dict]]):
    lines = ["| set | sigma | model | PSNR RGB | gain dB | s/image |", "|---|---|---|---|---|---|"]
    for set_name, images in sets.items():
        for sigma in (15, 25, 50):
            noisy = [degrade.Noise(sigma, seed=i)(im) for i, im in enumerate(images)]
            base = statistics.fmean(
                evaluate.metriclib.psnr(evaluate.metriclib.Sample(c, n)) for c, n in zip(images, noisy)
            )
            lines.append(f"| {set_name} | {sigma} | input | {base:.2f} | | |")
            for label, model, options in models:
                results = [
                    restorelib.restore_one(n, model, c, ["psnr"], sigma=sigma, **options) for c, n in zip(images, noisy)
                ]
                psnr = statistics.fmean(r.after["psnr"] for r in results)
                seconds = statistics.fmean(r.seconds for r in results)
                log(
                    {
                        "section": "denoise",
                        "set": set_name,
                        "sigma": sigma,
                        "model": label,
                        "psnr": psnr,
                        "input_psnr": base,
                        "seconds": seconds,
                    }
                )
                lines.append(f"| {set_name} | {sigma} | {label} | {psnr:.2f} | {psnr - base:+.2f} | {seconds:.2f} |")
    return (
        "### Denoising (Gaussian noise, sigma on 0-255; classical filters are told sigma, the networks are blind)\n\n"
        + "\n".join(lines)
    )


def section_combined(images, log, models):
    """The survey's combined degradation at one fixed point: blur 1.0, noise 10, JPEG q50."""
    lines = ["| model | PSNR RGB | gain dB |", "|---|---|---|"]
    degraded = [
        degrade.Chain((degrade.Blur(sigma=1.0), degrade.Noise(10, seed=i), degrade.Compress("jpeg", {"quality": 50})))(
            im
        )
        for i, im in enumerate(images)
    ]
    base = statistics.fmean(evaluate.metriclib.psnr(evaluate.metriclib.Sample(c, d)) for c, d in zip(images, degraded))
    lines.append(f"| input | {base:.2f} | |")
    for model in models:
        psnr = statistics.fmean(
            restorelib.restore_one(d, model, c, ["psnr"]).after["psnr"] for c, d in zip(images, degraded)
        )
        log({"section": "combined", "model": model, "psnr": psnr, "input_psnr": base})
        lines.append(f"| {model} | {psnr:.2f} | {psnr - base:+.2f} |")
    return "### Kodak24, blur sigma 1 + noise sigma 10 + JPEG q50\n\n" + "\n".join(lines)


LATENCY_CHILD = """
import sys, time, statistics, numpy as np, torch
sys.path.insert(0, {root!r})
torch.set_num_threads({threads})
from restoration.models import restorers
image = np.random.default_rng(0).integers(0, 256, ({h}, {w}, 3), dtype=np.uint8)
restorers.restore(image[:64, :64], {model!r})
times = []
for _ in range({repeats}):
    times.append(restorers.restore(image, {model!r}).seconds)
import resource
print(statistics.median(times), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def child(model, h, w, threads, repeats):
    code = LATENCY_CHILD.format(root=str(ROOT), threads=threads, h=h, w=w, model=model, repeats=repeats)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024.0  # seconds, peak MiB


def section_latency(log, model):
    lines = ["| model | size | threads | median s | peak RSS MiB |", "|---|---|---|---|---|"]
    for threads in (1, 2):
        seconds, peak = child(model, 512, 768, threads, 5)
        log({"section": "latency", "model": model, "threads": threads, "seconds": seconds, "peak_mib": peak})
        lines.append(f"| {model} | 768x512 | {threads} | {seconds:.3f} | {peak:.0f} |")
    seconds, peak = child(model, 4000, 6000, 2, 1)
    log({"section": "large", "model": model, "threads": 2, "seconds": seconds, "peak_mib": peak})
    lines.append(f"| {model} | 6000x4000 (tiled 512, overlap 32) | 2 | {seconds:.1f} | {peak:.0f} |")
    return "### Latency and memory (2-core machine)\n\n" + "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="images per set (default: all)")
    parser.add_argument("--sections", default="jpeg,codecs,denoise,latency")
    parser.add_argument("--models", help="comma-separated model ids to run (default: every ready one)")
    parser.add_argument(
        "--self-ensemble", action="store_true", help="jpeg and denoise sections: also each network self-ensembled"
    )
    parser.add_argument(
        "--denoise-sets", default="McMaster,Kodak24", help="denoise section: comma-separated bench sets"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench_restoration.md")
    parser.add_argument("--jsonl", type=Path, default=ROOT / "runs" / "bench_restoration.jsonl")
    args = parser.parse_args()
    args.jsonl.parent.mkdir(parents=True, exist_ok=True)
    sections = args.sections.split(",")
    only = args.models.split(",") if args.models else None
    jsonl = args.jsonl.open("w")

    def log(row):
        jsonl.write(json.dumps(row) + "\n")
        jsonl.flush()
        print(json.dumps(row), file=sys.stderr)

    start = time.time()
    kodak = load_set("Kodak24", args.limit)
    default_jpeg = restorers.default_for("jpeg").id
    parts = []
    if "jpeg" in sections:
        parts.append(section_jpeg(kodak, log, restorers.variants(ready("jpeg", only), args.self_ensemble)))
    if "codecs" in sections:
        parts.append(section_codecs(kodak, log, default_jpeg))
    if "denoise" in sections:
        sets = {name: load_set(name, args.limit) for name in args.denoise_sets.split(",")}
        parts.append(section_denoise(sets, log, restorers.variants(ready("denoise", only), args.self_ensemble)))
    if "combined" in sections:
        own = [
            s.id for s in restorers.REGISTRY.values() if s.source == "own" and s.scale == 1 and s.status() == "ready"
        ]
        parts.append(section_combined(kodak, log, [m for m in own if not only or m in only]))
    if "latency" in sections:
        parts.append(section_latency(log, default_jpeg))
    command = provenance.command_line("bench/restore_kodak.py")
    machine = f"a {provenance.machine_description()}, {accel.precision('cpu')}"
    header = f"Measured {time.strftime('%Y-%m-%d')} on {machine} with `{command}` ({time.time() - start:.0f} s).\n\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + "\n\n".join(parts) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
