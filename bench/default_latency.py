"""Latency of the default models at the sizes the issues quote, on 1 and 2 threads:

    python bench/default_latency.py [--repeat 3] [--out docs/bench_default_latency.md]

Artifact and denoising defaults on a 768x512 image, upscalers to 1024x1024 (x4 from 256x256, x2
from 512x512); the model call alone (``restorers.restore``), median of --repeat after one warm-up,
with the machine's CPU named. GFLOP from ``bench/flops.py`` beside them.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration.benchmark.provenance import command_line, machine_description  # noqa: E402
from restoration.lab import common  # noqa: E402
from restoration.models import accel, restorers  # noqa: E402

CASES = (("jpeg", 1, (512, 768)), ("denoise", 1, (512, 768)), ("sr", 4, (256, 256)), ("sr", 2, (512, 512)))


def seconds(model_id: str, image: np.ndarray, repeat: int) -> float:
    restorers.restore(image, model_id)  # warm-up: load, allocate
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        restorers.restore(image, model_id)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench_default_latency.md")
    args = parser.parse_args()
    image = (np.random.default_rng(0).random((512, 768, 3)) * 255).astype(np.uint8)
    lines = [
        "# Latency of the default models",
        "",
        f"`{command_line('bench/default_latency.py')}` on {datetime.datetime.now():%Y-%m-%d %H:%M}, "
        f"{machine_description()}, {accel.precision('cpu')} "
        f"(`restoration/models/accel.py`); the model call alone, median of {args.repeat} after a warm-up.",
        "",
        "| task | default model | input → output | 1 thread s | 2 threads s |",
        "|---|---|---|---|---|",
    ]
    for task, scale, (h, w) in CASES:
        model = restorers.default_for(task, scale=scale if task == "sr" else None).id
        crop = np.ascontiguousarray(image[:h, :w])
        times = []
        for threads in (1, 2):
            common.configure_threads(threads)
            times.append(seconds(model, crop, args.repeat))
        out = f"{w * scale}x{h * scale}"
        lines.append(f"| {task} | `{model}` | {w}x{h} → {out} | {times[0]:.2f} | {times[1]:.2f} |")
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
