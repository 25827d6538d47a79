"""Super-resolution benchmark: Set5 and Set14 at x2 and x4, every ready sr model, standard protocol.

    python bench/sr_bench.py [--sets Set5,Set14] [--scales 2,4] [--models A,B] [--threads 1] [--self-ensemble]
                             [--out docs/bench_sr.md]

HR cropped to a multiple of the scale, LR by MATLAB bicubic downscaling, Y-PSNR and SSIM on Y
with ``scale`` pixels shaved (``restoration.pipelines.sr``); seconds per image are those of the model call.
Latency: each model upscales a random image to 1024x1024 (256x256 input at x4, 512x512 at x2),
median of ``--repeat`` runs after one warm-up. ``--self-ensemble`` adds a "+SE" row for every
network (8 flips/rotations averaged). Writes markdown to --out and JSON lines to --jsonl.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration.benchmark import provenance
from restoration.core import image as imagelib  # noqa: E402
from restoration.models import restorers
from restoration.pipelines import (
    lab,  # noqa: E402
    sr,
)

DATA = ROOT.parent / "shared" / "data" / "bench"
# Bicubic rows of the published tables (e.g. EDSR, RCAN): Y-PSNR / SSIM on Y.
PUBLISHED_BICUBIC = {
    ("Set5", 2): (33.66, 0.9299),
    ("Set14", 2): (30.24, 0.8688),
    ("Set5", 4): (28.42, 0.8104),
    ("Set14", 4): (26.00, 0.7027),
}
LATENCY_SIDE = 1024
STRUCTURE = {"Set14": ("barbara", "ppt3", "zebra")}  # straight edges, repeated structure


def load_set(name: str) -> list[tuple[str, np.ndarray, bool]]:
    paths = sorted((DATA / name).glob("*.png"))
    if not paths:
        raise SystemExit(f"no images in {DATA / name} (see ../shared/data/README.md)")
    return [(p.stem, imagelib.load(p), sr.is_grey_file(p)) for p in paths]


def evaluate_set(
    images, scale: int, models: list[tuple[str, str, dict]], log, set_name: str, per_image: dict
) -> list[str]:
    """The set's mean rows; each image's Y-PSNR also goes to ``per_image[(set, scale, label)]``."""
    lines = []
    pairs = [(name, *sr.make_lr(image, scale), grey) for name, image, grey in images]
    for label, model, options in models:
        rows = []
        for name, hr, lr, grey in pairs:
            result = sr.run(lr, model, scale, hr, grey, **options)
            rows.append({"image": name, **result.metrics, "seconds": result.seconds})
            log({"section": "quality", "set": set_name, "scale": scale, "model": label, **rows[-1]})
        per_image[(set_name, scale, label)] = {r["image"]: r["psnr_y"] for r in rows}
        psnr = statistics.fmean(r["psnr_y"] for r in rows)
        ssim = statistics.fmean(r["ssim_y"] for r in rows)
        seconds = statistics.fmean(r["seconds"] for r in rows)
        published = PUBLISHED_BICUBIC.get((set_name, scale)) if label == sr.baseline_id(scale) else None
        cited = f"{published[0]:.2f} / {published[1]:.4f}" if published else "—"
        log(
            {
                "section": "quality_mean",
                "set": set_name,
                "scale": scale,
                "model": label,
                "psnr_y": psnr,
                "ssim_y": ssim,
                "seconds": seconds,
            }
        )
        lines.append(f"| {set_name} | x{scale} | {label} | {psnr:.2f} | {ssim:.4f} | {cited} | {seconds * 1000:.1f} |")
    return lines


def structure_lines(per_image: dict, scales: list[int]) -> list[str]:
    """Each model's gain over bicubic on the images of straight edges and repeated structure, where
    the published models' lead is widest."""
    rows = []
    for (set_name, scale, label), scores in per_image.items():
        baseline = per_image.get((set_name, scale, sr.baseline_id(scale)), {})
        for order, image in enumerate(STRUCTURE.get(set_name, ())):
            if image in scores and image in baseline and label != sr.baseline_id(scale):
                rows.append(
                    (
                        (scale, order),
                        f"| {set_name}/{image} | x{scale} | {label} | {scores[image]:.2f} | "
                        f"{scores[image] - baseline[image]:+.2f} |",
                    )
                )
    header = ["| image | scale | model | Y-PSNR dB | gain over bicubic dB |", "|---|---|---|---|---|"]
    return header + [line for _, line in sorted(rows, key=lambda row: row[0])] if rows else []


def latency(model: str, scale: int, repeat: int, **options) -> float:
    side = LATENCY_SIDE // scale
    lr = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    sr.upscale(lr, model, scale, **options)  # warm-up: loads the model, first-touch allocations
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        sr.upscale(lr, model, scale, **options)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def quality_lines(sets: list[str], scales: list[int], models: dict, log, per_image: dict) -> list[str]:
    lines = [
        "| set | scale | model | Y-PSNR dB | SSIM (Y) | published bicubic | ms/image |",
        "|---|---|---|---|---|---|---|",
    ]
    for set_name in sets:
        images = load_set(set_name)
        for scale in scales:
            lines += evaluate_set(images, scale, models[scale], log, set_name, per_image)
            print(lines[-1], flush=True)
    return lines


def speed_lines(scales: list[int], models: dict, repeat: int, log) -> list[str]:
    lines = [f"| model | input | output | median ms (of {repeat}) |", "|---|---|---|---|"]
    for scale in scales:
        for label, model, options in models[scale]:
            seconds = latency(model, scale, repeat, **options)
            side = LATENCY_SIDE // scale
            log({"section": "latency", "model": label, "scale": scale, "input": side, "seconds": seconds})
            lines.append(f"| {label} | {side}x{side} | {LATENCY_SIDE}x{LATENCY_SIDE} | {seconds * 1000:.1f} |")
            print(lines[-1], flush=True)
    return lines


def report_lines(
    command: str,
    sets: list[str],
    threads: int,
    quality: list[str],
    structure: list[str],
    speed: list[str],
    skipped: list[str],
) -> list[str]:
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    text = [
        f"# Super-resolution benchmark: {', '.join(sets)}",
        "",
        f"Generated by `{command}` on {now} ({provenance.machine_description()}, {threads} thread(s) used).",
        "",
        "Protocol of the published tables: HR cropped to a multiple of the scale; LR = MATLAB "
        "`imresize(hr, 1/scale, 'bicubic')` (antialiased, reproduced exactly by `restoration.core.resize`); "
        "Y-PSNR on BT.601 luma and SSIM on Y (Gaussian window σ=1.5) with `scale` pixels shaved from "
        "each border; a greyscale file (Set14's bridge) is measured on its grey values, as MATLAB "
        "evaluation scripts do. Means over the images; ms/image is the model call alone.",
        "",
        "## Quality",
        "",
        *quality,
        "",
        "Published bicubic: the Bicubic rows of the EDSR/RCAN tables (MATLAB).",
        "",
        *(["## Straight edges and repeated structure", "", *structure, ""] if structure else []),
        f"## Latency ({LATENCY_SIDE}x{LATENCY_SIDE} output)",
        "",
        *speed,
        "",
    ]
    if skipped:
        text += ["Not measured (not ready here): " + ", ".join(skipped) + ".", ""]
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="Set5,Set14")
    parser.add_argument("--scales", default="2,4")
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenCV threads")
    parser.add_argument("--repeat", type=int, default=5, help="latency runs per model")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench_sr.md")
    parser.add_argument("--jsonl", type=Path, default=None, help="also write every row as JSON lines")
    parser.add_argument("--models", default="", help="comma-separated ids (default: every ready sr model)")
    parser.add_argument("--self-ensemble", action="store_true", help="also run every network self-ensembled")
    args = parser.parse_args(argv)
    lab.configure_threads(args.threads)
    sets = [s for s in args.sets.split(",") if s]
    scales = [sr.check_scale(int(s)) for s in args.scales.split(",") if s]
    chosen = [m for m in args.models.split(",") if m]
    models = {
        scale: restorers.variants(
            [s.id for s in sr.ready_models(scale) if not chosen or s.id in chosen], args.self_ensemble
        )
        for scale in scales
    }
    skipped = [
        f"{s.id} ({s.status()})" for s in restorers.for_task("sr") if s.scale in scales and s.status() != "ready"
    ]
    per_image: dict = {}
    with contextlib.ExitStack() as stack:
        jsonl = stack.enter_context(args.jsonl.open("w")) if args.jsonl else None

        def log(row):
            if jsonl:
                jsonl.write(json.dumps(row) + "\n")

        quality = quality_lines(sets, scales, models, log, per_image)
        speed = speed_lines(scales, models, args.repeat, log)
    command = provenance.command_line("bench/sr_bench.py", argv)
    text = report_lines(command, sets, args.threads, quality, structure_lines(per_image, scales), speed, skipped)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
