"""Auto restore against the single default models, on images the models never saw:

    python bench/auto_restore.py [--data ../shared/data/bench/Kodak24] [--limit N] [--out docs/bench_auto.md]

Each case degrades every image by a chain (``restoration degrade --chain``) and keeps the file it
writes (a JPEG's real bytes when the chain ends in JPEG, else a PNG), then restores it as the app and
the CLI do (``pipelines.restore.restore_one`` with the file's bytes): ``auto`` against the default
artifact model and the default denoiser. RGB PSNR gain over the input, mean over the images.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration import degrade  # noqa: E402
from restoration import metrics as metriclib  # noqa: E402
from restoration.benchmark import provenance  # noqa: E402
from restoration.core import image as imagelib  # noqa: E402
from restoration.models import restorers  # noqa: E402
from restoration.pipelines import restore as restorelib  # noqa: E402

CASES = ("jpeg:q=10, noise:15", "noise:25", "jpeg:q=10", "jpeg:q=30", "noise:15", "blur:1.5")


def gains(paths: list[Path], chain_text: str, models: list[str]) -> tuple[dict, list[str]]:
    """Mean RGB PSNR gain of each model on the chain's files, and auto's notes."""
    chain = degrade.parse_chain(chain_text)
    totals, notes = {m: [] for m in models}, []
    for path in paths:
        clean = imagelib.load(path)
        result = degrade.apply(clean, chain)
        data = result.data
        degraded = imagelib.load(data)
        before = metriclib.psnr(metriclib.Sample(clean, degraded))
        for model in models:
            restored = restorelib.restore_one(degraded, model, data=data)
            totals[model].append(metriclib.psnr(metriclib.Sample(clean, restored.image)) - before)
            if model == "auto":
                notes.append(restored.extra.get("note", ""))
    return {m: statistics.mean(v) for m, v in totals.items()}, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/bench/Kodak24")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--cases", default=";".join(CASES), help="chains separated by ';'")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    paths = sorted(args.data.glob("*.png"))[: args.limit]
    models = ["auto", restorers.default_for("jpeg").id, restorers.default_for("denoise").id]
    lines = [
        f"Auto restore on {args.data.name} ({len(paths)} images), RGB PSNR gain (dB) over the input; "
        f"`{provenance.command_line('bench/auto_restore.py')}`, {provenance.machine_description()}",
        "",
        "| degradation (file) | " + " | ".join(f"`{m}`" for m in models) + " | what auto found and ran (first image) |",
        "|---|" + "---|" * (len(models) + 1),
    ]
    for case in args.cases.split(";"):
        start = time.time()
        means, notes = gains(paths, case.strip(), models)
        kind = "JPEG" if case.strip().split(",")[-1].strip().startswith("jpeg") else "PNG"
        lines.append(
            f"| {case.strip()} ({kind}) | " + " | ".join(f"{means[m]:+.2f}" for m in models) + f" | {notes[0]} |"
        )
        print(lines[-1], f"({time.time() - start:.0f} s)", flush=True)
    provenance.publish(lines, args.out)


if __name__ == "__main__":
    main()
