"""Quality-aware artifact removal told what it can know against the same model run blind, over the
whole JPEG range and at equal size on the other codecs:

    python bench/quality_aware.py [--limit N] [--reuse runs/old.jsonl] [--out docs/bench_quality_aware.md]

Kodak24 compressed by Pillow's libjpeg (4:2:0) at q5 ... q95, then WebP, AVIF and JPEG 2000 at
0.3 and 0.5 bpp. The model runs as the app runs it (``pipelines.restore.restore_one``), the
codec-aware `deeprecnet-qa-codecs` three ways: **told**
the codec and the setting the size search chose (what the lab knows when it made the file),
**file** the file's bytes alone (a JPEG's tables; another codec's file names only its codec),
and **blind** (a PNG of the decoded pixels). RGB PSNR, mean over the images. ``--reuse`` takes
the columns a JSON-lines log of an earlier run already has (the same rows), and runs the rest.
The earlier columns of docs/bench_quality_aware*.md (`deeprecnet`, `deeprecnet-qa`) are models
retired since (docs/models.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration import codecs  # noqa: E402
from restoration.benchmark import provenance  # noqa: E402
from restoration.core import image as imagelib  # noqa: E402
from restoration.core import manifest as manifestlib  # noqa: E402
from restoration.models import condition, restorers, runtime  # noqa: E402
from restoration.pipelines import restore as restorelib  # noqa: E402

QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
OTHER = (("webp", 0.3), ("webp", 0.5), ("avif", 0.3), ("avif", 0.5), ("jpeg2000", 0.3), ("jpeg2000", 0.5))


class Run(NamedTuple):
    label: str
    model: str
    told: str  # "file": its bytes, "told": also codec and strength, "blind": nothing
    self_ensemble: bool = False  # averaged over 8 flips/rotations (about 8x the time)


RUNS = (
    Run("codecs told", "deeprecnet-qa-codecs", "told"),
    Run("codecs file", "deeprecnet-qa-codecs", "file"),
    Run("codecs blind", "deeprecnet-qa-codecs", "blind"),
)
ENSEMBLE_RUN = Run("codecs told +SE", "deeprecnet-qa-codecs", "told", self_ensemble=True)  # --self-ensemble


def use_checkpoint(path: str, model_id: str = "deeprecnet-qa-codecs") -> None:
    """Make ``model_id`` load ``path`` (a checkpoint of its manifest architecture) instead of the
    shipped file (development only: checkpoints are chosen on validation crops, not here)."""
    entry = manifestlib.section("own")[model_id]
    spec = restorers.REGISTRY[model_id]
    restorers.REGISTRY[model_id] = type(spec)(
        **{
            **spec.__dict__,
            "factory": lambda: runtime.restorer_from_weights(entry, path),
            "status_check": lambda: "ready",
        }
    )


def score(images, coded: list[codecs.Encoded], codec, log, what: str, reused: dict, runs=RUNS) -> dict:
    decoded = [codec.decode(e.data) for e in coded]
    row = {
        "input": statistics.fmean(
            restorelib.metriclib.psnr(restorelib.metriclib.Sample(c, d)) for c, d in zip(images, decoded)
        )
    }
    row.update({k: v for k, v in reused.get(what, {}).items() if k not in ("what", "input")})
    for run in runs:
        if run.label in row:
            continue
        ensemble = {"self_ensemble": True} if run.self_ensemble else {}
        start = time.perf_counter()
        results = [
            restorelib.restore_one(d, run.model, c, metric_names=("psnr",), **telling(run.told, codec, e), **ensemble)
            for c, d, e in zip(images, decoded, coded)
        ]
        row[run.label] = statistics.fmean(r.after["psnr"] for r in results)
        row[f"{run.label} s"] = (time.perf_counter() - start) / len(images)
    log({"what": what, **row})
    return row


def telling(how: str, codec, encoded: codecs.Encoded) -> dict:
    """restore_one's keywords for one way of telling a model about its input."""
    if how == "blind":
        return {}
    if how == "file":
        return {"data": encoded.data}
    strength = condition.strength_of(codec.name, encoded.params)
    return {"data": encoded.data, "codec": codec.name, **({"strength": strength} if strength else {})}


def read_reused(path: Path | None) -> dict:
    """The rows of an earlier run's JSON-lines log, by what they measured (the last of each)."""
    if path is None:
        return {}
    return {row["what"]: row for row in map(json.loads, path.read_text().splitlines()) if row.get("what")}


def report(rows: list[tuple[str, str, dict]], labels: list[str], n_images: int, set_name: str) -> str:
    """The Markdown page: one row per codec setting, one column per run, gains in brackets."""
    header = [
        "| codec | setting | input | " + " | ".join(f"`{label}`" for label in labels) + " |",
        "|---|---|---|" + "---|" * len(labels),
    ]
    lines = [
        f"| {codec} | {setting} | {r['input']:.2f} | "
        + " | ".join(f"{r[label]:.2f} ({r[label] - r['input']:+.2f})" for label in labels)
        + " |"
        for codec, setting, r in rows
    ]
    command = provenance.command_line("bench/quality_aware.py")
    return (
        f"# Quality-aware artifact removal on {set_name}\n\n`{command}` ({n_images} images; "
        f"{provenance.machine_description()}). RGB PSNR dB, mean over the images; each model run as the app runs "
        "it; `codecs …` is `deeprecnet-qa-codecs` told the codec and setting, given the file alone, or "
        "blind (see the script's docstring); `… +SE` the told run self-ensembled (8 flips/rotations "
        "averaged). Gains over the input in brackets.\n\n" + "\n".join(header + lines) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=manifestlib.DATA_ROOT / "bench" / "Kodak24", help="a folder of PNG images"
    )
    parser.add_argument("--limit", type=int)
    parser.add_argument("--qualities", default=",".join(map(str, QUALITIES)), help="JPEG qualities")
    parser.add_argument("--other", default="0.3", help="bpp targets for WebP, AVIF and JPEG 2000 (blank: none)")
    parser.add_argument("--checkpoint", help="score this training checkpoint as deeprecnet-qa-codecs")
    parser.add_argument("--self-ensemble", action="store_true", help="also the told model self-ensembled (x8)")
    parser.add_argument("--reuse", type=Path, help="a JSON-lines log of an earlier run: its columns are kept")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench_quality_aware.md")
    parser.add_argument("--jsonl", type=Path, default=ROOT / "runs" / "bench_quality_aware.jsonl")
    args = parser.parse_args()
    if args.checkpoint:
        use_checkpoint(args.checkpoint)
    paths = sorted(args.data.glob("*.png"))[: args.limit]
    images = [imagelib.load(p) for p in paths]
    args.jsonl.parent.mkdir(parents=True, exist_ok=True)
    with args.jsonl.open("a") as sink:

        def log(row):
            print(json.dumps(row), flush=True)
            sink.write(json.dumps(row) + "\n")

        reused = read_reused(args.reuse)
        runs = RUNS + ((ENSEMBLE_RUN,) if args.self_ensemble else ())
        jpeg = codecs.get("jpeg")
        rows = []
        for q in map(int, args.qualities.split(",")):
            coded = [codecs.Encoded(jpeg.encode(im, quality=q, subsampling="4:2:0"), {"quality": q}) for im in images]
            rows.append(("JPEG", f"q{q}", score(images, coded, jpeg, log, f"jpeg q{q}", reused, runs)))
        targets = [float(b) for b in args.other.split(",") if b.strip()]
        for name, bpp in [(n, b) for n, _ in OTHER[::2] for b in targets]:
            codec = codecs.get(name)
            coded = [codec.encode_to_size(im, codecs.Target(bpp=bpp).budget(im)) for im in images]
            rows.append((codec.label, f"{bpp} bpp", score(images, coded, codec, log, f"{name} {bpp}", reused, runs)))
    text = report(rows, [run.label for run in runs], len(images), args.data.name)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
