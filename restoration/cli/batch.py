"""The ``batch`` command: one job on many images, the same function as the app's Batch tab and
its ``/batch`` endpoint (``pipelines.batch.run``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from restoration.cli.output import write_bytes
from restoration.pipelines import batch


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "batch",
        help="one job on many images or a zip: convert, restore or upscale; "
        "writes the files, a CSV of sizes and metrics, and a summary",
    )
    p.add_argument("images", nargs="+", help="image files, folders or zip archives")
    p.add_argument("--job", choices=batch.JOBS, required=True)
    p.add_argument(
        "--settings",
        default="",
        help='the job\'s settings as JSON, e.g. \'{"codec": "avif", "target_quality": "ssimulacra2=80"}\', '
        '\'{"model": "auto", "format": "webp"}\', \'{"scale": 4, "restore": "auto"}\'',
    )
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out-dir", type=Path, help="folder for the result files and results.csv")
    out.add_argument("--zip", type=Path, help="one zip archive of the result files and results.csv")
    p.add_argument("--json", action="store_true", help="one JSON object per file, then the summary")


def cmd_batch(args) -> int:
    def progress(_fraction, text):
        print(text, file=sys.stderr, flush=True)

    result = batch.run(args.images, args.job, args.settings, progress=None if args.json else progress)
    if args.zip:
        args.zip.parent.mkdir(parents=True, exist_ok=True)
        result.write_zip(args.zip)
    else:
        for name, data in result.files.items():
            write_bytes(data, args.out_dir / name)
        write_bytes(result.csv_text().encode(), args.out_dir / "results.csv")
    if args.json:
        for row in result.rows:
            print(json.dumps(row))
        print(json.dumps({"summary": result.summary()}))
    else:
        print(result.summary())
    return 0 if result.done else 2


COMMANDS = {"batch": cmd_batch}
