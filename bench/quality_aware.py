"""Quality-aware artifact removal against the blind model, over the whole JPEG range and at equal
size on the other codecs (issue 24):

    python bench/quality_aware.py [--limit N] [--checkpoint runs/.../best.safetensors] [--out docs/bench_quality_aware.md]

Kodak24 compressed by Pillow's libjpeg (4:2:0) at q5 ... q95; each model runs as the app runs it
(``pipelines.restore.restore_one`` with the file's bytes, so it reads the JPEG quality from the
quantisation tables): `deeprecnet` (blind; passes its input through above q92), `deeprecnet-qa`
told the quality, and `deeprecnet-qa` blind (the PNG of a decoded JPEG: nothing to read). Then
WebP, AVIF and JPEG 2000 at 0.3 and 0.5 bpp, where neither model is told anything. RGB PSNR, mean
over the images. ``--checkpoint`` scores a training checkpoint as `deeprecnet-qa` instead of the
shipped file (development only: checkpoints are chosen on the validation crops, not here).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration import codecs  # noqa: E402
from restoration.bench import provenance  # noqa: E402
from restoration.core import image as imagelib  # noqa: E402
from restoration.core import manifest as manifestlib  # noqa: E402
from restoration.models import restorers, runtime  # noqa: E402
from restoration.pipelines import restore as restorelib  # noqa: E402

QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
OTHER = (("webp", 0.3), ("webp", 0.5), ("avif", 0.3), ("avif", 0.5), ("jpeg2000", 0.3), ("jpeg2000", 0.5))
# (label, model id, tell the model the file's bytes?)
RUNS = (("deeprecnet", "deeprecnet", True), ("deeprecnet-qa", "deeprecnet-qa", True),
        ("deeprecnet-qa blind", "deeprecnet-qa", False))


def use_checkpoint(path: str) -> None:
    """Make `deeprecnet-qa` load ``path`` (its manifest architecture) instead of the shipped file."""
    entry = manifestlib.section("own").get("deeprecnet-qa") or {
        "architecture": "deeprecnet", "arch_config": {"channels": [32, 64, 128, 192], "blocks": [1, 2, 2, 4],
                                                      "conditioned": True}}
    spec = restorers.REGISTRY["deeprecnet-qa"]
    restorers.REGISTRY["deeprecnet-qa"] = type(spec)(**{**spec.__dict__, "factory": lambda: runtime.restorer_from_weights(
        entry, path), "status_check": lambda: "ready"})


def score(images, coded: list[bytes], codec, log, what: str) -> dict:
    decoded = [codec.decode(data) for data in coded]
    row = {"input": statistics.fmean(restorelib.metriclib.psnr(restorelib.metriclib.Sample(c, d))
                                     for c, d in zip(images, decoded))}
    for label, model, told in RUNS:
        start = time.perf_counter()
        results = [restorelib.restore_one(d, model, c, data=data if told else None, metric_names=("psnr",))
                   for c, d, data in zip(images, decoded, coded)]
        row[label] = statistics.fmean(r.after["psnr"] for r in results)
        row[f"{label} s"] = (time.perf_counter() - start) / len(images)
    log({"what": what, **row})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--qualities", default=",".join(map(str, QUALITIES)), help="JPEG qualities")
    parser.add_argument("--other", default="0.3", help="bpp targets for WebP, AVIF and JPEG 2000 (blank: none)")
    parser.add_argument("--checkpoint")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench_quality_aware.md")
    parser.add_argument("--jsonl", type=Path, default=ROOT / "runs" / "bench_quality_aware.jsonl")
    args = parser.parse_args()
    if args.checkpoint:
        use_checkpoint(args.checkpoint)
    paths = sorted((manifestlib.DATA_ROOT / "bench" / "Kodak24").glob("*.png"))[:args.limit]
    images = [imagelib.load(p) for p in paths]
    args.jsonl.parent.mkdir(parents=True, exist_ok=True)
    with args.jsonl.open("a") as sink:
        def log(row):
            print(json.dumps(row), flush=True)
            sink.write(json.dumps(row) + "\n")

        jpeg = codecs.get("jpeg")
        rows = [("JPEG", f"q{q}", score(images, [jpeg.encode(im, quality=q, subsampling="4:2:0") for im in images],
                                        jpeg, log, f"jpeg q{q}")) for q in map(int, args.qualities.split(","))]
        targets = [float(b) for b in args.other.split(",") if b.strip()]
        for name, bpp in [(n, b) for n, _ in OTHER[::2] for b in targets]:
            codec = codecs.get(name)
            coded = [codec.encode_to_size(im, codecs.Target(bpp=bpp).budget(im)).data for im in images]
            rows.append((codec.label, f"{bpp} bpp", score(images, coded, codec, log, f"{name} {bpp}")))
    header = ["| codec | setting | input | `deeprecnet` | `deeprecnet-qa` told | `deeprecnet-qa` blind | gain told | "
              "gain blind |", "|---|---|---|---|---|---|---|---|"]
    lines = [f"| {codec} | {setting} | {r['input']:.2f} | {r['deeprecnet']:.2f} ({r['deeprecnet'] - r['input']:+.2f}) "
             f"| {r['deeprecnet-qa']:.2f} | {r['deeprecnet-qa blind']:.2f} | {r['deeprecnet-qa'] - r['input']:+.2f} | "
             f"{r['deeprecnet-qa blind'] - r['input']:+.2f} |" for codec, setting, r in rows]
    command = " ".join(["python bench/quality_aware.py", *sys.argv[1:]])
    text = (f"# Quality-aware artifact removal on Kodak24\n\n`{command}` ({len(images)} images; "
            f"{provenance.machine_description()}). RGB PSNR dB, mean over the images; each model run as the app runs "
            "it (the JPEG quality read from the file's tables; `deeprecnet` passes its input through above q92).\n\n"
            + "\n".join(header + lines) + "\n")
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
