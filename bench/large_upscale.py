"""Time and peak memory of x2 upscaling a large image, through the path the CLI and the app use
(``sr.run``: tiled, uint8 in and out).

    python bench/large_upscale.py                                    # 6000x4000, default x2 model
    python bench/large_upscale.py --size 1500x1000 --out /tmp/large_upscale.md
    python bench/large_upscale.py --models bicubic-x2,lanczos-x2

Each model runs in its own child process, so that each peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is that model's alone. The input is a synthetic
photo-like image (the astronaut, tiled). The x2 result of 6000x4000 has 96 megapixels, over the
default RESTORATION_MAX_PIXELS (40 MP), so the children run with the limit raised to fit.
Writes markdown to --out (default docs/bench_large_upscale.md).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCALE = 2


def size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def synthetic(width: int, height: int):
    import numpy as np
    import skimage.data

    tile = skimage.data.astronaut()
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]), 1)
    return np.ascontiguousarray(np.tile(tile, reps)[:height, :width])


def child(model: str, width: int, height: int, threads: int) -> dict:
    """One model, one upscale, in this process (started by ``main``)."""
    from restoration.lab import common
    from restoration.pipelines import sr

    common.configure_threads(threads)
    image = synthetic(width, height)
    sr.run(image[:64, :64], model, SCALE)  # load the model before measuring
    before = peak_rss_mib()
    start = time.perf_counter()
    result = sr.run(image, model, SCALE)
    seconds = time.perf_counter() - start
    return {
        "model": model,
        "input": f"{width}x{height}",
        "output": f"{result.image.shape[1]}x{result.image.shape[0]}",
        "threads": threads,
        "seconds": round(seconds, 2),
        "rss_before_mib": round(before),
        "peak_rss_mib": round(peak_rss_mib()),
        "output_mib": round(result.image.nbytes / 2**20),
    }


def run_child(model: str, width: int, height: int, threads: int) -> dict:
    limit = max(int(os.environ.get("RESTORATION_MAX_PIXELS", "40000000")), width * height * SCALE * SCALE)
    env = {**os.environ, "RESTORATION_MAX_PIXELS": str(limit)}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", model, "--size", f"{width}x{height}", "--threads", str(threads)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{model} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(rows: list[dict], command: str) -> str:
    from restoration.benchmark import provenance

    lines = [
        "# Large image, x2 upscaling",
        "",
        f"`{command}`",
        "",
        (
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {provenance.machine_description()}. "
            "Peak RSS is the whole child process (Python, numpy, torch, the model, "
            "the uint8 input and output); 'before' is after loading the model and making the input."
        ),
        "",
        "| model | input | output | threads | seconds | RSS before MiB | peak RSS MiB | output MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['model']} | {r['input']} | {r['output']} | {r['threads']} | {r['seconds']} | "
        f"{r['rss_before_mib']} | {r['peak_rss_mib']} | {r['output_mib']} |"
        for r in rows
    ]
    lines += [
        "",
        (
            "Interpolation (`bicubic-x2`, ...) is resized in 512 px tiles with an 8 px margin (exactly "
            "the untiled pixels); networks run on 512 px tiles with 32 px overlap, blended, and each band "
            "of output rows is rounded to uint8 as soon as it is final, so neither holds a float copy of "
            "the whole output."
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=size, default=(6000, 4000), help="input WIDTHxHEIGHT (default 6000x4000)")
    parser.add_argument("--models", help="comma-separated x2 model ids (default: the default x2 model)")
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenCV threads (the app uses 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench_large_upscale.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    width, height = args.size
    if args.child:
        print(json.dumps(child(args.child, width, height, args.threads)))
        return
    from restoration.models import restorers

    models = args.models.split(",") if args.models else [restorers.default_for("sr", scale=SCALE).id]
    rows = []
    for model in models:
        rows.append(run_child(model, width, height, args.threads))
        print(json.dumps(rows[-1]), flush=True)
    from restoration.benchmark import provenance

    args.out.write_text(report(rows, provenance.command_line("bench/large_upscale.py")))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
