"""Measure the memory model: bytes per pixel (and a fixed part) of each step a request can take,
on this machine, into ``restoration/core/memory_model.json`` (what the server's admission reads):

    python bench/memory_model.py [--sizes 0.5,2] [--banded-sizes 2,8] [--out restoration/core/memory_model.json]

Each step runs in a fresh process on a photo-like image (Kodak's first, tiled up to the size) at two
sizes; its cost is the process's peak resident memory (``VmHWM``, reset just before the step through
``/proc/self/clear_refs``; native allocations of the codec libraries and torch included) above what
the process held just before it. The slope
between the two sizes is the bytes per pixel, the rest the fixed part. Steps: ``decode`` (a PNG),
each codec's encode + decode at its defaults, each metric on one pair, each own network (tiled as
the app runs it); auto counts as the models its plan may run (``pipelines.restore.memory_steps``).
The perceptual metrics work in bands of rows and the learned codecs' transforms in tiles: their
cost is one band's or tile's working set (the fixed part) plus what they hold whole (a quarter-size
pyramid level, the latents and their entropy model: the bytes per pixel), and the second only shows
once an image holds several bands, so they are measured at larger sizes (``--banded-sizes``: at 0.5
and 2 MP the learned hyperprior codec's slope read 60 bytes a pixel, at 2 and 8 MP 81). Each entry
records the sizes it was measured at. ``--markdown`` prints the table docs/deploy.md shows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMAGE = ROOT.parent / "shared/data/bench/Kodak24/kodim01.png"


def photo(megapixels: float):
    """A photo-like uint8 image of about ``megapixels`` (Kodak's first, mirrored tiles)."""
    import numpy as np

    from restoration.core import image as imagelib

    base = imagelib.load(IMAGE) if IMAGE.is_file() else np.asarray(__import__("skimage.data").data.astronaut())
    side = int((megapixels * 1e6) ** 0.5)
    reps = (side // base.shape[0] + 1, side // base.shape[1] + 1, 1)
    return np.ascontiguousarray(np.tile(np.concatenate([base, base[:, ::-1]], 1), reps)[:side, :side])


def run_step(kind: str, name: str, megapixels: float) -> None:
    """In this (fresh) process: prepare, note the peak so far, run the step, print the rise."""
    import io

    import numpy as np

    from restoration import codecs, metrics
    from restoration.codecs import reader
    from restoration.models import restorers

    image = photo(megapixels)
    prepared = {}
    if kind == "decode":
        buffer = io.BytesIO()
        __import__("PIL.Image").Image.fromarray(image).save(buffer, format="PNG")
        prepared["data"] = buffer.getvalue()
    elif kind == "metric":
        prepared["test"] = np.clip(
            image.astype(np.int16) + np.random.default_rng(0).integers(-8, 9, image.shape), 0, 255
        ).astype(np.uint8)
        metrics.measure(metrics.Sample(image[:64, :64], prepared["test"][:64, :64]), [name])  # load the metric
    elif kind == "model":
        restorers.restore(image[:64, :64], name)  # load the network
    elif kind == "codec":
        warm = codecs.get(name)
        warm.decode(warm.encode(np.ascontiguousarray(image[:64, :64])))  # load a learned codec's network
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
    start = time.perf_counter()
    if kind == "decode":
        reader.load(prepared["data"])
    elif kind == "codec":
        codec = codecs.get(name)
        codec.decode(codec.encode(image))
    elif kind == "metric":
        metrics.measure(metrics.Sample(image, prepared["test"]), [name])
    elif kind == "model":
        restorers.restore(image, name)
    peak = _status("VmHWM")
    scale = restorers.get(name).scale if kind == "model" else 1  # an upscaler's cost is per output pixel
    print(
        json.dumps(
            {
                "rise": max(0, peak - before),
                "pixels": image.shape[0] * image.shape[1] * scale * scale,
                "seconds": time.perf_counter() - start,
            }
        )
    )


def _status(field: str) -> int:
    """A field of /proc/self/status in bytes (VmRSS: now, VmHWM: the peak since the last reset)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def measure(kind: str, name: str, sizes: list[float]) -> dict:
    points = []
    for megapixels in sizes:
        done = subprocess.run(
            [sys.executable, __file__, "--step", kind, name, str(megapixels)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if done.returncode != 0:
            return {"error": done.stderr.strip().splitlines()[-1][:200] if done.stderr.strip() else "failed"}
        points.append(json.loads(done.stdout.strip().splitlines()[-1]))
    (p1, r1), (p2, r2) = [(p["pixels"], p["rise"]) for p in points[:2]]
    per_pixel = max(0.0, (r2 - r1) / (p2 - p1))
    return {"per_pixel": round(per_pixel, 1), "fixed": int(max(0.0, r2 - per_pixel * p2))}


def steps() -> list[tuple[str, str]]:
    from restoration import codecs, metrics
    from restoration.models import restorers

    found = [("decode", "png")]
    found += [("codec", name) for name, codec in codecs.CODECS.items() if codec.unavailable_reason() is None]
    found += [("metric", name) for name in metrics.names("fidelity", on_demand=True)]
    # Our networks and the classical methods (the upscalers' bicubic baseline runs in every
    # Super-resolution request); Hub networks keep the unmeasured allowance.
    measured = [s for s in restorers.REGISTRY.values() if s.source in ("own", "classical") and s.status() == "ready"]
    found += [("model", spec.id) for spec in measured if spec.scale == 1]
    found += [("model", spec.id) for spec in measured if spec.scale > 1]
    return found


def how(kind: str, name: str) -> str:
    """How a step holds its working set, as the table says it: the heavy ones work in bands of
    rows or tiles (their fixed part is about one band's working set), the rest on the whole image."""
    from restoration.codecs import learned
    from restoration.metrics import perceptual
    from restoration.metrics.ssim import BAND_PIXELS

    if kind == "metric" and name in BANDED_METRICS:
        return f"bands of ~{perceptual.BAND_PIXELS / 1e6:.2f} MP, the whole image's value"
    if kind == "metric" and name in ROW_BANDED_METRICS:
        return f"bands of ~{BAND_PIXELS / 1e6:.2f} MP, the whole image's value"
    if kind == "codec" and name in TILED_CODECS:
        return f"transforms in {learned.TILE} px tiles, the whole image's stream"
    return "whole image"


BANDED_METRICS = ("ssimulacra2", "flip", "cvvdp")  # metrics.perceptual
ROW_BANDED_METRICS = ("psnr", "psnr_y", "ssim", "ms_ssim")  # metrics, metrics.ssim
TILED_CODECS = ("neural", "neural-hp")  # codecs.learned, codecs.hyperprior


def markdown(table: dict) -> str:
    """The stored table as the rows of docs/deploy.md's memory table."""
    lines = ["| step | bytes per pixel | fixed | at 12 MP | works on |", "|---|---|---|---|---|"]
    for kind in ("decode", "codec", "metric", "model"):
        for name, cost in sorted(table.get(kind, {}).items(), key=lambda item: -item[1]["per_pixel"]):
            at = cost["per_pixel"] * 12e6 + cost["fixed"]
            lines.append(
                f"| {kind} `{name}` | {cost['per_pixel']:.0f} | {cost['fixed'] / 2**20:.0f} MiB | {at / 1e9:.2f} GB "
                f"| {how(kind, name)} |"
            )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        run_step(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.5,2", help="two image sizes in megapixels")
    parser.add_argument(
        "--banded-sizes", default="2,8", help="two image sizes in megapixels for the steps that work in bands or tiles"
    )
    parser.add_argument("--only", help="comma-separated kind:name steps (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "restoration/core/memory_model.json")
    parser.add_argument("--markdown", action="store_true", help="print the stored table as markdown and stop")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.out.read_text())))
        return
    from restoration.benchmark import provenance

    sizes = [float(v) for v in args.sizes.split(",")]
    banded_sizes = [float(v) for v in args.banded_sizes.split(",")]
    table = json.loads(args.out.read_text()) if args.out.is_file() else {}
    chosen = steps() if not args.only else [tuple(s.split(":", 1)) for s in args.only.split(",")]
    for kind, name in chosen:
        at = banded_sizes if how(kind, name) != "whole image" else sizes
        result = measure(kind, name, at)
        print(kind, name, result, flush=True)
        if "error" not in result:
            table.setdefault(kind, {})[name] = {**result, "sizes_mp": at}
    table["measured"] = {
        "command": provenance.command_line("bench/memory_model.py"),
        "machine": provenance.machine_description(),
        "sizes_mp": sizes,
        "banded_sizes_mp": banded_sizes,
    }
    args.out.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
