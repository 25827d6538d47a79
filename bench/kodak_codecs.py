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
import datetime
import io
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, features

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration import codecs  # noqa: E402
from restoration.pipelines import evaluate
from restoration.core import image as imagelib
from restoration.bench import provenance

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bench" / "Kodak24"
BPP_POINTS = (0.25, 0.5, 1.0)

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

# CompressAI's published Kodak PSNR-RGB (dB) at 0.25 / 0.5 / 1.0 bpp.
COMPRESSAI = {
    "jpeg": (24.55, 28.94, 32.59),
    "jpeg2000": (28.56, 31.25, 34.59),
    "webp": (28.54, 31.32, 35.11),
}
# Three of CompressAI's own points (results/image/kodak/{jpeg,webp}.json, Pillow 7.1.2): its 19
# points are quality 5, 10, ..., 95 (the bpp match ours at those qualities), as (bpp, PSNR-RGB).
COMPRESSAI_POINTS = {
    "jpeg": {5: (0.2212, 23.78), 50: (0.9060, 32.06), 95: (3.4013, 40.56)},
    "webp": {5: (0.2344, 28.33), 50: (0.7218, 33.24), 95: (2.9285, 41.76)},
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


def fmt(value, digits=2, dash="—"):
    if value is None or isinstance(value, float) and not np.isfinite(value):
        return dash
    return f"{value:.{digits}f}"


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


def machine_note() -> str:
    libs = ", ".join(f"{name} {features.version(name)}" for name in ("libjpeg_turbo", "jpg_2000", "webp", "avif")
                     if features.version(name))
    try:
        from importlib.metadata import version

        libs += "".join(f", {dist} {version(dist)}" for dist in ("pillow-avif-plugin", "pillow-jxl-plugin"))
    except Exception:  # pragma: no cover - the plugins are project requirements
        pass
    import PIL

    return (f"{provenance.machine_description()}, Python {platform.python_version()}, "
            f"Pillow {PIL.__version__} ({libs})")


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
    plan = [(codec, params) for codec in chosen for params in settings_for(codec)]

    # Untimed warm-up: load every library once, so the first image pays no start-up cost.
    first = next(iter(images.values()))
    for codec in chosen:
        raw_pillow(first, codec, settings_for(codec)[0])
        evaluate.compress(first, codec, settings_for(codec)[0])

    args.jsonl.parent.mkdir(parents=True, exist_ok=True)
    raw_s = {c.name: 0.0 for c in chosen}
    our_s = {c.name: 0.0 for c in chosen}
    codec_s = {c.name: 0.0 for c in chosen}  # encode+decode as timed inside compress()
    rows: dict[str, list[dict]] = {c.name: [] for c in chosen}
    mismatches = []
    started = time.perf_counter()
    with args.jsonl.open("w") as jsonl:
        for k, (name, img) in enumerate(images.items(), 1):
            for i, codec in enumerate(chosen):
                # Alternate which path goes first, so neither always runs on a warm cache.
                if (k + i) % 2:
                    t_raw, raw_bytes = raw_sweep(img, codec)
                    t_ours, results = our_sweep(img, codec)
                else:
                    t_ours, results = our_sweep(img, codec)
                    t_raw, raw_bytes = raw_sweep(img, codec)
                raw_s[codec.name] += t_raw
                our_s[codec.name] += t_ours
                for params, result, nbytes in zip(settings_for(codec), results, raw_bytes):
                    if nbytes != result.nbytes:
                        mismatches.append((name, codec.name, params, nbytes, result.nbytes))
                    row = result.row()
                    codec_s[codec.name] += (row["encode_ms"] + row["decode_ms"]) / 1000.0
                    row.update({"image": name, "setting": json.dumps(params, sort_keys=True),
                                "raw_bytes": nbytes})
                    rows[codec.name].append(row)
                    jsonl.write(json.dumps(row) + "\n")
            jsonl.flush()
            elapsed = time.perf_counter() - started
            print(f"image {k}/{len(images)} {name}: {elapsed:.0f} s elapsed, "
                  f"ratio so far {sum(our_s.values()) / sum(raw_s.values()):.3f}", file=sys.stderr, flush=True)
        wall = time.perf_counter() - started

        n = len(images)
        curves = {c.name: averaged_curve(rows[c.name], settings_for(c)) for c in chosen}
        at = {}
        warnings = []
        for codec in chosen:
            if codec.knob is None:
                continue
            curve = curves[codec.name]
            at[codec.name] = {m: [evaluate.interpolate_at(curve, m, b) for b in BPP_POINTS]
                              for m in ("psnr", "ssim", "ms_ssim")}
            low, high = min(p["bpp"] for p in curve), max(p["bpp"] for p in curve)
            if low > BPP_POINTS[0] or high < BPP_POINTS[-1]:
                warnings.append(f"{codec.label}: averaged curve spans {low:.3f}-{high:.3f} bpp, "
                                f"not all of {BPP_POINTS[0]}-{BPP_POINTS[-1]}")
        for w in warnings:
            print("WARNING coverage:", w, file=sys.stderr)
        total_raw, total_ours = sum(raw_s.values()), sum(our_s.values())
        summary = {
            "kind": "summary", "images": n, "wall_s": wall, "raw_pillow_s": raw_s, "ours_s": our_s,
            "codec_encode_decode_s": codec_s, "ratio": total_ours / total_raw,
            "ratio_per_codec": {c: our_s[c] / raw_s[c] for c in raw_s},
            "curves": curves, "interpolated": {c: {m: dict(zip(map(str, BPP_POINTS), v)) for m, v in d.items()}
                                              for c, d in at.items()},
            "byte_mismatches": len(mismatches),
        }
        jsonl.write(json.dumps(summary) + "\n")

    command = "python bench/kodak_codecs.py" + "".join(
        f" {flag} {shlex.quote(str(value))}" for flag, value in
        (("--data", args.data if args.data != DEFAULT_DATA else None), ("--limit", args.limit),
         ("--codecs", args.codecs if args.codecs != ",".join(codecs.CODECS) else None))
        if value is not None)
    lines = [
        "# Codec benchmark: Kodak24",
        "",
        f"{n} images ({', '.join(f'{w}x{h}' for w, h in sorted({(im.shape[1], im.shape[0]) for im in images.values()}))}) "
        f"from `{os.path.relpath(args.data, ROOT)}`; {len(plan)} settings per image; "
        f"generated by `{command}` on {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}.",
        "",
        "## PSNR-RGB at equal rate",
        "",
        "Bits per pixel and PSNR-RGB (peak 255, over all RGB values) averaged over the images for each "
        "setting, then interpolated linearly along that averaged curve, as CompressAI does. "
        "Every parameter other than the swept knob keeps its default (JPEG and AVIF 4:2:0; WebP method 4; "
        "AVIF speed 6; JPEG XL effort 7; JPEG 2000 9/7 wavelet with the colour transform).",
        "",
        "| codec | knob (swept) | avg bpp range | PSNR @0.25 | PSNR @0.5 | PSNR @1.0 | CompressAI @0.25 / 0.5 / 1.0 | Δ vs CompressAI @0.25 / 0.5 / 1.0 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for codec in chosen:
        curve = curves[codec.name]
        span = f"{min(p['bpp'] for p in curve):.3f}–{max(p['bpp'] for p in curve):.2f}"
        if codec.knob is None:
            lossless = curve[0]["bpp"]
            lines.append(f"| {codec.label} | — (lossless, default compress_level) | {lossless:.3f} | lossless "
                         f"| lossless | lossless | — | — |")
            continue
        values = SWEEPS[codec.name]
        knob = f"{codec.knob.name} {values[0]}…{values[-1]} ({len(values)} values)"
        psnr = at[codec.name]["psnr"]
        ref = COMPRESSAI.get(codec.name)
        ref_text = " / ".join(f"{v:.2f}" for v in ref) if ref else "—"
        delta = " / ".join("—" if p is None else f"{p - r:+.2f}" for p, r in zip(psnr, ref)) if ref else "—"
        lines.append(f"| {codec.label} | {knob} | {span} | " + " | ".join(fmt(p) for p in psnr)
                     + f" | {ref_text} | {delta} |")
    lines += [
        "",
        "PNG is lossless (PSNR infinite); its column gives the average lossless rate in bpp.",
        "",
        f"Same settings as three of CompressAI's own points (averages over the {n} images here | CompressAI's "
        "over Kodak24):",
        "",
        "| codec | quality | bpp ours | bpp CompressAI | PSNR ours | PSNR CompressAI |",
        "|---|---|---|---|---|---|",
    ]
    for codec in chosen:
        for quality, (ref_bpp, ref_psnr) in COMPRESSAI_POINTS.get(codec.name, {}).items():
            point = next((p for p in curves[codec.name] if p["setting"].get("quality") == quality), None)
            if point is not None:
                lines.append(f"| {codec.label} | {quality} | {point['bpp']:.3f} | {ref_bpp:.3f} "
                             f"| {fmt(point['psnr'])} | {ref_psnr:.2f} |")
    lines += [
        "",
        "SSIM and MS-SSIM (RGB, averaged per setting the same way) at the same rates:",
        "",
        "| codec | SSIM @0.25 | SSIM @0.5 | SSIM @1.0 | MS-SSIM @0.25 | MS-SSIM @0.5 | MS-SSIM @1.0 |",
        "|---|---|---|---|---|---|---|",
    ]
    for codec in chosen:
        if codec.knob is None:
            continue
        lines.append(f"| {codec.label} | " + " | ".join(fmt(v, 4) for v in at[codec.name]["ssim"])
                     + " | " + " | ".join(fmt(v, 4) for v in at[codec.name]["ms_ssim"]) + " |")
    lines += [
        "",
        "## Time: our pipeline against raw Pillow",
        "",
        "Per image and codec, the whole sweep, interleaved: raw Pillow = `Image.fromarray` + `save` with the codec's exact "
        "kwargs + `Image.open(...).load()`; ours = `evaluate.run_sweep` (encode, decode, conversion back to "
        "the canonical array, and every default metric: PSNR, PSNR-Y, SSIM, MS-SSIM, bpp, ratio, times). "
        "Seconds per image are summed over all of that codec's settings. "
        "\"codec part\" is the encode + decode time as measured inside the sweep; \"metrics and rest\" is "
        "the wall-clock time beyond it (metrics that overlap the next encode cost nothing here).",
        "",
        "| codec | settings | raw Pillow s/image | ours s/image | of which codec part | of which metrics and rest "
        "| codec part / raw | ratio ours / raw |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for codec in chosen:
        c = codec.name
        lines.append(f"| {codec.label} | {len(settings_for(codec))} | {raw_s[c] / n:.3f} | {our_s[c] / n:.3f} "
                     f"| {codec_s[c] / n:.3f} | {(our_s[c] - codec_s[c]) / n:.3f} | {codec_s[c] / raw_s[c]:.3f} "
                     f"| {our_s[c] / raw_s[c]:.3f} |")
    total_codec = sum(codec_s.values())
    lines.append(f"| **all** | {len(plan)} | {total_raw / n:.3f} | {total_ours / n:.3f} "
                 f"| {total_codec / n:.3f} | {(total_ours - total_codec) / n:.3f} | {total_codec / total_raw:.3f} "
                 f"| **{total_ours / total_raw:.3f}** |")
    verdict = "meets" if total_ours / total_raw <= 1.15 else "misses"
    lines += [
        "",
        f"Overall ratio ours / raw Pillow: **{total_ours / total_raw:.3f}** ({verdict} the ≤ 1.15 target). "
        f"Whole run: {wall:.0f} s wall clock for {n} images ({wall / n:.1f} s/image, both paths). "
        f"Beyond the codec, our sweep spends {1000 * (total_ours - total_codec) / (n * len(plan)):.0f} ms per "
        "(image, setting) on average; metrics hide behind slow encoders, so the ratio is "
        f"largest for {max(chosen, key=lambda c: our_s[c.name] / raw_s[c.name]).label} and smallest for "
        f"{min(chosen, key=lambda c: our_s[c.name] / raw_s[c.name]).label}.",
        "",
        f"Machine: {machine_note()}. Single process, timings with `time.perf_counter`; other processes "
        "may have shared the CPU during the run, which affects both paths alike since they are interleaved.",
    ]
    if "jpegxl" in curves:
        by_quality = {p["setting"].get("quality"): p for p in curves["jpegxl"]}
        if 15 in by_quality and 20 in by_quality:
            q15, q20 = by_quality[15], by_quality[20]
            lines += ["", "JPEG XL note: this libjxl build switches to a low-rate mode at Butteraugli distance 10 "
                          "and above (quality below about 18 with libjxl's quality-to-distance mapping): there the "
                          "file gets larger and PSNR drops, and the decoded image loses most of its finest-scale "
                          "detail, which looks like libjxl's automatic 2x resampling. The averaged curve shows it "
                          f"as a jump between quality 15 ({q15['bpp']:.3f} bpp, {fmt(q15['psnr'])} dB) and quality "
                          f"20 ({q20['bpp']:.3f} bpp, {fmt(q20['psnr'])} dB); the 0.25 bpp figure falls in the "
                          "low-rate mode."]
    if mismatches:
        lines += ["", f"Note: {len(mismatches)} (image, setting) pairs gave different byte counts on the two "
                      f"paths, e.g. {mismatches[0]}."]
    if warnings:
        lines += ["", "Coverage warnings: " + "; ".join(warnings) + "."]
    lines.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
