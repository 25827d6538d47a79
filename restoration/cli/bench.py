"""The ``bench`` and ``report`` commands (``restoration.cli`` registers them).

restoration bench DIR... --codecs jpeg,webp [--qualities 10,50 | --bpp 0.25,0.5] [--models default]
                  [--sr-scale 4 --sr-models lanczos-x4] [--db FILE] [--csv FILE] [--report FILE.html]
                  [--executor local|dask://HOST:PORT] [--workers N] [--json]
restoration report --db FILE [--run ID ...] --out FILE.html [--csv FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from restoration.benchmark import inputs as bench_inputs
from restoration.benchmark import report, runner
from restoration.core.errors import UserInputError

ALL_CODECS = "jpeg,jpeg2000,webp,avif,jpegxl,png"


def _floats(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_parsers(sub) -> None:
    p = sub.add_parser("bench", help="benchmark images x codecs x settings (x restoration, SR) into SQLite")
    p.add_argument("images", nargs="*", help="image files, folders or zip archives")
    p.add_argument("--examples", action="store_true", help="add the built-in example images")
    p.add_argument("--codecs", type=_names, default=_names(ALL_CODECS), help=f"comma-separated (default {ALL_CODECS})")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--qualities", type=_floats, help="quality values (default: each codec's own sweep)")
    size.add_argument("--bpp", type=_floats, help="bpp targets: every lossy codec searched to each size")
    p.add_argument(
        "--models",
        type=_names,
        default=[],
        help="restoration models applied after decoding ('default': the best shipped artifact model)",
    )
    p.add_argument("--sr-scale", type=int, choices=(2, 4), help="also run super-resolution at this scale")
    p.add_argument("--sr-models", type=_names, default=[], help="sr models (bicubic always runs as the baseline)")
    p.add_argument(
        "--perceptual",
        action="store_true",
        help="also SSIMULACRA 2, FLIP and ColorVideoVDP for every codec row (~1.5 s a row on 768x512)",
    )
    p.add_argument("--db", type=Path, help="SQLite file (default: $RESTORATION_DB or runs/bench.sqlite)")
    p.add_argument("--csv", type=Path, help="also write the run's rows as CSV")
    p.add_argument("--report", type=Path, help="also write a self-contained HTML report")
    p.add_argument("--executor", default="local", help="local (process pool) or dask://HOST:PORT")
    p.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    p = sub.add_parser("report", help="report stored benchmark runs: HTML (and CSV, JSON)")
    p.add_argument("--db", type=Path, required=True, help="SQLite file written by `bench`")
    p.add_argument("--run", type=int, nargs="+", action="extend", default=[], help="run id(s) (default: the latest)")
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")
    p.add_argument("--csv", type=Path, help="also write the rows as CSV")
    p.add_argument("--json", dest="json_out", type=Path, help="also write rows and tables as JSON")


class _Progress:
    """tqdm on stderr, created on the first call (when the total is known)."""

    def __init__(self):
        self.bar = None

    def __call__(self, done: int, total: int, text: str) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=total, initial=done, unit="task", file=sys.stderr, dynamic_ncols=True, mininterval=1.0
            )
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_bench(args) -> int:
    if args.workers is not None and args.workers < 1:
        raise UserInputError("--workers must be at least 1")
    config = runner.BenchConfig(
        tuple(args.codecs),
        None if args.qualities is None else tuple(args.qualities),
        None if args.bpp is None else tuple(args.bpp),
        tuple(args.models),
        args.sr_scale,
        tuple(args.sr_models),
        args.perceptual,
    ).checked()  # errors before loading images
    images = bench_inputs.collect(args.images, examples=args.examples)
    progress = _Progress()
    try:
        result = runner.bench(images, config, args.db, args.executor, args.workers, progress)
    finally:
        progress.close()
    summary = result.describe()
    if args.csv or args.report:
        built = report.build(result.db, [result.run_id])
        if args.csv:
            summary["csv"] = str(report.write_csv(built.rows, args.csv))
        if args.report:
            summary["report"] = str(report.write_html(built, args.report))
    if args.json:
        print(json.dumps(summary), flush=True)
        return 0
    print(
        f"run {result.run_id}{' (resumed)' if result.resumed else ''}: {result.rows} rows, {result.computed} "
        f"computed, {result.reused} reused, {result.seconds:.1f} s -> {result.db}"
    )
    for key in ("csv", "report"):
        if key in summary:
            print(f"{key}: {summary[key]}")
    return 0


def cmd_report(args) -> int:
    built = report.build(args.db, args.run)
    print(f"html: {report.write_html(built, args.out)}")
    if args.csv:
        print(f"csv: {report.write_csv(built.rows, args.csv)}")
    if args.json_out:
        print(f"json: {report.write_json(built, args.json_out)}")
    return 0


COMMANDS = {"bench": cmd_bench, "report": cmd_report}
