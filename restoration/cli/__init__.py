"""Command line: ``python -m restoration`` (or ``restoration``).

User errors print one line on stderr and exit with status 2; results go to stdout, as JSON
lines with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.cli import batch as cli_batch
from restoration.cli import bench as cli_bench
from restoration.cli import restoring
from restoration.cli.output import Printer, list_images, read_input, write_bytes
from restoration.core.errors import UserInputError
from restoration.pipelines import compare as comparelib
from restoration.pipelines import equal_quality, evaluate


def _floats(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), value.strip()


class OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line (argparse prints the whole usage block first)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="restoration", description="Restoration Lab: codecs, metrics, restoration.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("codecs", help="list codecs and their parameters")
    p.add_argument("--json", action="store_true", help="one JSON object per codec")

    p = sub.add_parser("metrics", help="list metrics, their direction and range")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("compress", help="encode images with one codec and measure the result")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument(
        "--codec",
        required=True,
        help="codec name (see `codecs`); with --target-quality a comma-separated list is compared",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quality", type=float, help="the codec's quality parameter")
    size.add_argument("--target-bpp", type=float, help="best quality within this many bits per pixel")
    size.add_argument("--target-bytes", type=int, help="best quality within this many bytes")
    size.add_argument(
        "--target-quality",
        type=_key_value,
        metavar="METRIC=VALUE",
        help="equal quality: the smallest file reaching this score, e.g. ssimulacra2=80, psnr=40, "
        "flip=0.05 (at most, for a lower-is-better metric); several codecs: the smallest is "
        "recommended",
    )
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="any codec parameter, repeatable",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--out", type=Path, help="output file (one input image only)")
    out.add_argument("--out-dir", type=Path, help="output folder (default: current folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    p.add_argument("--perceptual", action="store_true", help="also the slow perceptual metrics (SSIMULACRA 2)")

    p = sub.add_parser("sweep", help="rate-distortion sweep over codecs and settings")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--codecs", default=",".join(codeclib.CODECS), help="comma-separated codec names")
    p.add_argument("--qualities", type=_floats, help="quality values for codecs with a quality knob")
    p.add_argument("--target-bpps", type=_floats, help="equal-size sweep: bpp budgets for every lossy codec")
    p.add_argument("--json", action="store_true", help="one JSON object per (image, codec, setting)")
    p.add_argument("--perceptual", action="store_true", help="also the slow perceptual metrics (SSIMULACRA 2)")

    restoring.add_parsers(sub)  # models, degrade, restore, upscale
    cli_bench.add_parsers(sub)  # bench, report
    cli_batch.add_parsers(sub)  # batch
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.skipped = []  # a folder's files that are not images (see list_images)
    args.notes = []  # what reading an input converted (see read_input)
    try:
        code = COMMANDS[args.command](args)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    for note in args.notes:  # after the run, so that an error stays the one line on stderr
        print(f"note: {note}", file=sys.stderr)
    for path in args.skipped:
        print(f"skipped {path}: not an image file", file=sys.stderr)
    return code


def cmd_codecs(args) -> int:
    for codec in codeclib.CODECS.values():
        spec = codec.describe()
        if args.json:
            print(json.dumps(spec))
            continue
        kind = "lossless" if spec["lossless_only"] else f"lossy (knob: {spec['knob']})"
        status = f" [unavailable: {spec['unavailable']}]" if spec["unavailable"] else ""
        print(f"{codec.name:10s} {kind:24s} {codec.description}{status}")
        for p in spec["params"]:
            bounds = (
                f"{{{','.join(map(str, p['choices']))}}}"
                if "choices" in p
                else (f"[{p['min']}, {p['max']}]" if "min" in p else p["type"])
            )
            print(f"    {p['name']:16s} {bounds:28s} default {p['default']!s:8s} {p['help']}")
    return 0


def cmd_metrics(args) -> int:
    for metric in metriclib.METRICS.values():
        spec = metric.describe()
        if args.json:
            # Strict JSON has no Infinity: an unbounded end is written "inf", as in result rows.
            spec["range"] = [evaluate.json_number(v) for v in spec["range"]]
            print(json.dumps(spec, allow_nan=False))
            continue
        direction = "lower is better" if metric.lower_better else "higher is better"
        note = f"  (unavailable: {spec['unavailable']})" if spec["unavailable"] else ""
        print(f"{metric.name:10s} {metric.label:20s} {direction}{note}")
    return 0


def _target(args):
    """The compress command's target, read as every door reads one (``compare.parse_target``)."""
    if args.target_quality is not None:
        return comparelib.parse_target("quality", "=".join(args.target_quality))
    if args.target_bpp is not None:
        return comparelib.parse_target("bpp", args.target_bpp)
    if args.target_bytes is not None:
        return comparelib.parse_target("bytes", args.target_bytes)
    return None


def cmd_compress(args) -> int:
    codecs = [codeclib.get(name) for name in dict.fromkeys(args.codec.split(","))]
    target = _target(args)
    if len(codecs) > 1 and not isinstance(target, equal_quality.QualityTarget):
        raise UserInputError("several codecs in --codec need --target-quality (equal quality compares them)")
    params = dict(args.settings)
    if args.quality is not None:
        codec = codecs[0]
        if "quality" not in {p.name for p in codec.params}:
            raise UserInputError(
                f"{codec.name} has no quality parameter; use --set {codec.knob.name if codec.knob else 'KEY'}=VALUE "
                "or --target-bpp / --target-bytes"
            )
        params["quality"] = args.quality
    own = {
        c.name: params if len(codecs) == 1 else {k: v for k, v in params.items() if k in {p.name for p in c.params}}
        for c in codecs
    }  # with several codecs each takes the --set keys it has
    unused = set(params) - {k for settings in own.values() for k in settings}
    if unused:
        raise UserInputError(f"no chosen codec has the parameter(s) {', '.join(sorted(unused))}")
    for codec in codecs:
        codec.resolve(own[codec.name])  # fail on a bad setting before touching any file
    paths = list_images(args, args.images)
    if args.out and (len(paths) > 1 or len(codecs) > 1):
        raise UserInputError("--out takes one input image and one codec; use --out-dir for several")
    out_dir = args.out_dir or Path(".")
    printer = Printer(args.json)
    names = metriclib.names(on_demand=args.perceptual)
    for path in paths:
        image = read_input(args, path).image
        results = comparelib.compare_codecs(image, own, target, names)
        for codec, result in zip(codecs, results):
            destination = args.out or out_dir / f"{path.stem}_{codec.name}{codec.extension}"
            write_bytes(result.data, destination)
            printer.emit({"image": str(path), **result.row(), "file": str(destination)})
            if not args.json and result.extra.get("note"):  # in a JSON row it is the "note" key
                args.notes.append(f"{path}: {result.extra['note']}")
        if len(codecs) > 1:
            best = min((r for r in results if r.target_met), key=lambda r: r.nbytes, default=None)
            printer.emit(
                {
                    "image": str(path),
                    "recommendation": equal_quality.recommend(results, target),
                    "codec": best.codec if best else None,
                }
            )
    return 0


def cmd_sweep(args) -> int:
    names = [n for n in args.codecs.split(",") if n.strip()]
    comparelib.sweep_plan(names, args.qualities, args.target_bpps)  # every mistake before any file is read
    paths = list_images(args, args.images)
    printer = Printer(args.json)
    metric_names = comparelib.sweep_metric_names(perceptual=args.perceptual)
    for path in paths:
        image = read_input(args, path).image
        for result in comparelib.sweep(image, names, args.qualities, args.target_bpps, metric_names):
            printer.emit({"image": str(path), **result.row()})
    return 0


COMMANDS = {
    "codecs": cmd_codecs,
    "metrics": cmd_metrics,
    "compress": cmd_compress,
    "sweep": cmd_sweep,
    "models": restoring.cmd_models,
    "degrade": restoring.cmd_degrade,
    "restore": restoring.cmd_restore,
    "upscale": restoring.cmd_upscale,
}
COMMANDS.update(cli_bench.COMMANDS)
COMMANDS.update(cli_batch.COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
