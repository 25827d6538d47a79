"""Codec benchmark on Kodak24: rate-distortion of the six codecs, and what our pipeline costs.

    python bench/kodak_codecs.py [--data ../shared/data/bench/Kodak24] [--limit N]
                                 [--out docs/bench_kodak.md] [--jsonl runs/kodak_sweep.jsonl]

What it measures, and how:

- Rate-distortion. Every lossy codec is swept over its knob (JPEG/WebP/AVIF/JPEG XL quality,
  JPEG 2000 compression ratio) densely and widely enough that the Kodak-average curve spans
  0.25-1.0 bpp; every other parameter keeps the codec's default. PNG gets one lossless point.
  As in CompressAI's codec benchmark, bpp and PSNR-RGB (and SSIM, MS-SSIM) are averaged over
  the images for each setting, and the averaged curve is interpolated linearly at 0.25, 0.5 and
  1.0 bpp. The report puts these next to CompressAI's published Kodak figures.
- Overhead. For every image and codec, that codec's whole sweep is timed two ways with
  ``time.perf_counter``, interleaved (and in alternating order) so machine load hits both alike:
  (a) raw Pillow, setting after setting: ``Image.fromarray(img).save(BytesIO, format=...,
      **codec.save_kwargs(...))`` then ``Image.open(BytesIO(data)).load()``, the exact encoder
      settings our codec uses;
  (b) ours: ``evaluate.run_sweep`` (what the CLI's sweep and the app run), which encodes,
      decodes, converts back to the canonical array and computes every default metric (PSNR,
      PSNR-Y, SSIM, MS-SSIM, ...), measuring one setting while the next encodes.
  The ratio ours / raw is reported per codec and overall (the project's target is <= 1.15).
  One untimed warm-up encode+decode per codec runs first, so library loading is not counted.

Writes a markdown report to --out and one JSON line per (image, setting) to --jsonl, then a
final summary line. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import kodak_report  # noqa: E402  (bench/, beside this script)

from restoration import codecs  # noqa: E402
from restoration.core import image as imagelib  # noqa: E402
from restoration.pipelines import evaluate  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bench" / "Kodak24"
BPP_POINTS = kodak_report.BPP_POINTS

# Knob values per lossy codec, low to high quality. Dense where the Kodak average sits in
# 0.25-1.0 bpp, and reaching past both ends so the interpolation never extrapolates.
SWEEPS: dict[str, list] = {
    "jpeg": [1, 3, 4, 5, 6, 7, 8, 10, 12, 15, 18, 20, 25, 30, 40, 50, 60, 70, 80, 90, 95],
    # rate = raw RGB bytes / file bytes, so bpp ~= 24 / rate: 200 -> 0.12 bpp ... 8 -> 3 bpp.
    "jpeg2000": [200, 160, 128, 96, 80, 64, 56, 48, 40, 32, 28, 24, 20, 16, 12, 8],
    "webp": [0, 2, 5, 8, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 95],
    "avif": [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 70, 80, 90],
    "jpegxl": [0, 5, 10, 15, 20, 25, 30, 35, 40, 50, 60, 70, 80, 90, 95],
}


def settings_for(codec: codecs.Codec) -> list[dict]:
    if codec.knob is None:
        return [{}]
    return [{codec.knob.name: v} for v in SWEEPS[codec.name]]


def raw_pillow(img: np.ndarray, codec: codecs.Codec, params: dict) -> tuple[float, int]:
    """Time Pillow alone with the exact save kwargs our codec passes: encode, then decode."""
    kwargs = codec.save_kwargs(codec.resolve(params))
    start = time.perf_counter()
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format=codec.pillow_format, **kwargs)
    data = buffer.getvalue()
    Image.open(io.BytesIO(data)).load()
    return time.perf_counter() - start, len(data)


def raw_sweep(img: np.ndarray, codec: codecs.Codec) -> tuple[float, list[int]]:
    timed = [raw_pillow(img, codec, params) for params in settings_for(codec)]
    return sum(t for t, _ in timed), [n for _, n in timed]


def our_sweep(img: np.ndarray, codec: codecs.Codec) -> tuple[float, list[evaluate.CodecResult]]:
    """What `restoration sweep` and the app run: evaluate.run_sweep over this codec's settings."""
    plan = [evaluate.SweepPoint(codec, params) for params in settings_for(codec)]
    start = time.perf_counter()
    results = [result for _, result in evaluate.run_sweep({"image": img}, plan)]
    return time.perf_counter() - start, results


def averaged_curve(rows: list[dict], settings: list[dict]) -> list[dict]:
    """Per setting, the mean over images of bpp and each quality metric (CompressAI-style)."""
    curve = []
    for params in settings:
        key = json.dumps(params, sort_keys=True)
        chosen = [r for r in rows if r["setting"] == key]
        if not chosen:
            continue
        point = {"setting": params, "images": len(chosen)}
        for metric in ("bpp", "psnr", "psnr_y", "ssim", "ms_ssim"):
            values = [r.get(metric) for r in chosen]
            numbers = [v for v in values if isinstance(v, (int, float))]
            point[metric] = statistics.fmean(numbers) if len(numbers) == len(values) else None
        curve.append(point)
    return curve


@dataclass
class Measured:
    """Both paths' seconds per codec (summed over images), every row, and byte-count mismatches."""

    chosen: list
    raw_s: dict = field(default_factory=dict)
    our_s: dict = field(default_factory=dict)
    codec_s: dict = field(default_factory=dict)  # encode+decode as timed inside compress()
    rows: dict = field(default_factory=dict)
    mismatches: list = field(default_factory=list)
    wall: float = 0.0

    def __post_init__(self):
        for table in (self.raw_s, self.our_s, self.codec_s):
            table.update({c.name: 0.0 for c in self.chosen})
        self.rows.update({c.name: [] for c in self.chosen})

    def ratio(self) -> float:
        return sum(self.our_s.values()) / sum(self.raw_s.values())


def warm_up(img: np.ndarray, chosen: list) -> None:
    """Untimed: load every library once, so the first image pays no start-up cost."""
    for codec in chosen:
        raw_pillow(img, codec, settings_for(codec)[0])
        evaluate.compress(img, codec, settings_for(codec)[0])


def time_both(img: np.ndarray, codec, first_raw: bool):
    """Both sweeps of one image, in the given order (alternated so neither always runs warm)."""
    if first_raw:
        t_raw, raw_bytes = raw_sweep(img, codec)
        t_ours, results = our_sweep(img, codec)
    else:
        t_ours, results = our_sweep(img, codec)
        t_raw, raw_bytes = raw_sweep(img, codec)
    return t_raw, raw_bytes, t_ours, results


def measure_image(measured: Measured, name: str, img: np.ndarray, k: int, jsonl) -> None:
    for i, codec in enumerate(measured.chosen):
        t_raw, raw_bytes, t_ours, results = time_both(img, codec, bool((k + i) % 2))
        measured.raw_s[codec.name] += t_raw
        measured.our_s[codec.name] += t_ours
        for params, result, nbytes in zip(settings_for(codec), results, raw_bytes):
            if nbytes != result.nbytes:
                measured.mismatches.append((name, codec.name, params, nbytes, result.nbytes))
            row = result.row()
            measured.codec_s[codec.name] += (row["encode_ms"] + row["decode_ms"]) / 1000.0
            row.update({"image": name, "setting": json.dumps(params, sort_keys=True), "raw_bytes": nbytes})
            measured.rows[codec.name].append(row)
            jsonl.write(json.dumps(row) + "\n")
    jsonl.flush()


def measure(images: dict, chosen: list, jsonl) -> Measured:
    measured = Measured(chosen)
    started = time.perf_counter()
    for k, (name, img) in enumerate(images.items(), 1):
        measure_image(measured, name, img, k, jsonl)
        print(
            f"image {k}/{len(images)} {name}: {time.perf_counter() - started:.0f} s elapsed, "
            f"ratio so far {measured.ratio():.3f}",
            file=sys.stderr,
            flush=True,
        )
    measured.wall = time.perf_counter() - started
    return measured


def interpolated(chosen: list, curves: dict) -> tuple[dict, list[str]]:
    """Each lossy codec's metrics at BPP_POINTS along its averaged curve, and coverage warnings."""
    at, warnings = {}, []
    for codec in chosen:
        if codec.knob is None:
            continue
        curve = curves[codec.name]
        at[codec.name] = {
            m: [evaluate.interpolate_at(curve, m, b) for b in BPP_POINTS] for m in ("psnr", "ssim", "ms_ssim")
        }
        low, high = min(p["bpp"] for p in curve), max(p["bpp"] for p in curve)
        if low > BPP_POINTS[0] or high < BPP_POINTS[-1]:
            warnings.append(
                f"{codec.label}: averaged curve spans {low:.3f}-{high:.3f} bpp, "
                f"not all of {BPP_POINTS[0]}-{BPP_POINTS[-1]}"
            )
    return at, warnings


def summary_line(measured: Measured, n: int, curves: dict, at: dict) -> dict:
    return {
        "kind": "summary",
        "images": n,
        "wall_s": measured.wall,
        "raw_pillow_s": measured.raw_s,
        "ours_s": measured.our_s,
        "codec_encode_decode_s": measured.codec_s,
        "ratio": measured.ratio(),
        "ratio_per_codec": {c: measured.our_s[c] / measured.raw_s[c] for c in measured.raw_s},
        "curves": curves,
        "interpolated": {c: {m: dict(zip(map(str, BPP_POINTS), v)) for m, v in d.items()} for c, d in at.items()},
        "byte_mismatches": len(measured.mismatches),
    }


def command_of(args) -> str:
    return kodak_report.command(
        "python bench/kodak_codecs.py",
        (
            ("--data", args.data if args.data != DEFAULT_DATA else None),
            ("--limit", args.limit),
            ("--codecs", args.codecs if args.codecs != ",".join(codecs.CODECS) else None),
        ),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of PNG images")
    parser.add_argument("--limit", type=int, help="use only the first N images (default: all)")
    parser.add_argument("--codecs", default=",".join(codecs.CODECS), help="comma-separated codec names")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench_kodak.md")
    parser.add_argument("--jsonl", type=Path, default=ROOT / "runs" / "kodak_sweep.jsonl")
    args = parser.parse_args()

    paths = sorted(args.data.glob("*.png"))[: args.limit]
    if not paths:
        parser.error(f"no PNG images in {args.data}")
    chosen = [codecs.get(name) for name in args.codecs.split(",") if name.strip()]
    images = {p.stem: imagelib.load(p) for p in paths}
    warm_up(next(iter(images.values())), chosen)
    args.jsonl.parent.mkdir(parents=True, exist_ok=True)
    with args.jsonl.open("w") as jsonl:
        measured = measure(images, chosen, jsonl)
        curves = {c.name: averaged_curve(measured.rows[c.name], settings_for(c)) for c in chosen}
        at, warnings = interpolated(chosen, curves)
        for w in warnings:
            print("WARNING coverage:", w, file=sys.stderr)
        jsonl.write(json.dumps(summary_line(measured, len(images), curves, at)) + "\n")
    lines = kodak_report.report(
        kodak_report.Inputs(
            command=command_of(args),
            data=args.data,
            images=images,
            chosen=chosen,
            sweeps=SWEEPS,
            settings={c.name: len(settings_for(c)) for c in chosen},
            measured=measured,
            curves=curves,
            at=at,
            warnings=warnings,
        )
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
