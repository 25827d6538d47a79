"""Command line: ``python -m restoration`` (or ``restoration``).

User errors print one line on stderr and exit with status 2; results go to stdout, as JSON
lines with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from restoration.cli import bench as cli_bench
from restoration import codecs as codeclib
from restoration.pipelines import evaluate
from restoration.core import image as imagelib
from restoration import metrics as metriclib
from restoration.core.errors import UserInputError

TABLE_COLUMNS = ("bytes", "bpp", "ratio", "psnr", "psnr_y", "ssim", "ms_ssim", "encode_ms", "decode_ms")


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
    p.add_argument("--codec", required=True, help="codec name (see `codecs`)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quality", type=float, help="the codec's quality parameter")
    size.add_argument("--target-bpp", type=float, help="best quality within this many bits per pixel")
    size.add_argument("--target-bytes", type=int, help="best quality within this many bytes")
    p.add_argument("--set", dest="settings", action="append", type=_key_value, default=[],
                   metavar="KEY=VALUE", help="any codec parameter, repeatable")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--out", type=Path, help="output file (one input image only)")
    out.add_argument("--out-dir", type=Path, help="output folder (default: current folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")

    p = sub.add_parser("sweep", help="rate-distortion sweep over codecs and settings")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--codecs", default=",".join(codeclib.CODECS), help="comma-separated codec names")
    p.add_argument("--qualities", type=_floats, help="quality values for codecs with a quality knob")
    p.add_argument("--target-bpps", type=_floats, help="equal-size sweep: bpp budgets for every lossy codec")
    p.add_argument("--json", action="store_true", help="one JSON object per (image, codec, setting)")

    p = sub.add_parser("models", help="list restoration models")
    p.add_argument("--task", choices=restorers_tasks())
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("degrade", help="make degraded copies: a chain of codec, noise, blur and downscale steps")
    p.add_argument("images", nargs="+", help="image files or folders")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--chain", help="steps in order, e.g. 'downscale:2, jpeg:q=30' or 'jpeg:q=10, noise:25' "
                                      "(codec:q=N|bpp=X, noise:SIGMA, blur:SIGMA, downscale:FACTOR)")
    kind.add_argument("--codec", help="one codec round trip (with --quality or --target-bpp)")
    kind.add_argument("--noise", type=float, metavar="SIGMA", help="Gaussian noise, sigma on 0-255")
    kind.add_argument("--blur", type=float, metavar="SIGMA", help="Gaussian blur, sigma in pixels")
    kind.add_argument("--downscale", type=int, metavar="FACTOR", help="bicubic downscale by an integer")
    p.add_argument("--quality", type=float, help="codec quality (with --codec)")
    p.add_argument("--target-bpp", type=float, help="codec size budget (with --codec)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", type=Path, help="output file (one input image only); a chain that ends in a codec "
                                              "writes that codec's bytes, so name it .jpg, .webp, ... accordingly")
    out.add_argument("--out-dir", type=Path, help="output folder")

    p = sub.add_parser("restore", help="restore images with a model")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--task", choices=restorers_tasks(), required=True)
    p.add_argument("--model", help="model id (default: the task's best shipped model)")
    p.add_argument("--sigma", type=float, help="noise level on 0-255 for models that take one")
    p.add_argument("--strength", type=float, metavar="QUALITY",
                   help="quality-aware models: the JPEG quality (1-100) to restore as, instead of the one read "
                        "from the file (lower = stronger)")
    _add_self_ensemble(p)
    p.add_argument("--ref", nargs="+", help="clean reference images or folder, in the same order")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", type=Path, help="output PNG (one input image only)")
    out.add_argument("--out-dir", type=Path, help="output folder")
    p.add_argument("--json", action="store_true", help="one JSON object per image")

    p = sub.add_parser("upscale", help="super-resolve images; measure them by the standard SR protocol")
    p.add_argument("images", nargs="+", help="low-resolution images or folders (high-resolution with --from-hr)")
    p.add_argument("--scale", type=int, choices=(2, 4), required=True)
    p.add_argument("--model", help="sr model id (default: the best ready one at this scale)")
    _add_self_ensemble(p)
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--ref", nargs="+", help="high-resolution references or folder, in the same order")
    ref.add_argument("--from-hr", action="store_true",
                     help="the images are high-resolution: make LR by MATLAB bicubic, upscale, measure")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", type=Path, help="output PNG (one input image only)")
    out.add_argument("--out-dir", type=Path, help="output folder")
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    cli_bench.add_parsers(sub)  # bench, report
    return parser


def restorers_tasks():
    from restoration.models.restorers import TASKS

    return TASKS


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.skipped = []  # a folder's files that are not images (see _list_images)
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
    for path in args.skipped:  # after the run, so that an error stays the one line on stderr
        print(f"skipped {path}: not an image file", file=sys.stderr)
    return code


def cmd_codecs(args) -> int:
    for codec in codeclib.CODECS.values():
        spec = codec.describe()
        if args.json:
            print(json.dumps(spec))
            continue
        kind = "lossless" if spec["lossless_only"] else f"lossy (knob: {spec['knob']})"
        print(f"{codec.name:10s} {kind:24s} {codec.description}")
        for p in spec["params"]:
            bounds = f"{{{','.join(map(str, p['choices']))}}}" if "choices" in p else (
                f"[{p['min']}, {p['max']}]" if "min" in p else p["type"])
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


def _target(args) -> evaluate.Target | None:
    if args.target_bpp is not None:
        return evaluate.Target(bpp=args.target_bpp)
    if args.target_bytes is not None:
        return evaluate.Target(bytes=args.target_bytes)
    return None


def cmd_compress(args) -> int:
    codec = codeclib.get(args.codec)
    params = dict(args.settings)
    if args.quality is not None:
        if "quality" not in {p.name for p in codec.params}:
            raise UserInputError(
                f"{codec.name} has no quality parameter; use --set {codec.knob.name if codec.knob else 'KEY'}=VALUE "
                "or --target-bpp / --target-bytes")
        params["quality"] = args.quality
    codec.resolve(params)  # fail on a bad setting before touching any file
    paths = _list_images(args, args.images)
    if args.out and len(paths) > 1:
        raise UserInputError("--out takes one input image; use --out-dir for several")
    out_dir = args.out_dir or Path(".")
    printer = _Printer(args.json)
    for path in paths:
        image = imagelib.load(path)
        result = evaluate.compress(image, codec, params, _target(args))
        destination = args.out or out_dir / f"{path.stem}_{codec.name}{codec.extension}"
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(result.data)
        except OSError as exc:
            raise UserInputError(f"cannot write {destination}: {exc.strerror or exc}") from None
        printer.emit({"image": str(path), **result.row(), "file": str(destination)})
    return 0


def cmd_sweep(args) -> int:
    names = [n for n in args.codecs.split(",") if n.strip()]
    if args.qualities is not None and args.target_bpps is not None:
        raise UserInputError("use --qualities or --target-bpps, not both")
    plan = evaluate.sweep_plan(names, args.qualities, args.target_bpps)
    paths = _list_images(args, args.images)
    printer = _Printer(args.json)
    for path in paths:
        image = imagelib.load(path)
        for _, result in evaluate.run_sweep({str(path): image}, plan):
            printer.emit({"image": str(path), **result.row()})
    return 0


def _list_images(args, paths) -> list[Path]:
    """The images named or in the folders given; a folder's other files are skipped, and ``main``
    names each on stderr once the command has run."""
    return imagelib.list_images(paths, on_skip=args.skipped.append)


class _Printer:
    """JSON lines, or an aligned human table with a header."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.header_done = False

    def emit(self, row: dict) -> None:
        if self.as_json:
            print(json.dumps(row), flush=True)
            return
        if not self.header_done:
            print(f"{'image':24s} {'codec':9s} {'setting':14s}" + "".join(f"{c:>10s}" for c in TABLE_COLUMNS))
            self.header_done = True
        setting = _setting_text(row)
        cells = "".join(f"{_cell(row.get(c)):>10s}" for c in TABLE_COLUMNS)
        print(f"{Path(row['image']).name[:24]:24s} {row['codec']:9s} {setting:14s}{cells}", flush=True)


def _setting_text(row: dict) -> str:
    codec = codeclib.get(row["codec"])
    if codec.is_lossless(row["params"]):
        return "lossless"
    return f"{codec.knob.name}={row['params'][codec.knob.name]}"


def _cell(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def _destination(args, path: Path, paths: list, suffix: str, extension: str = ".png") -> Path:
    if args.out and len(paths) > 1:
        raise UserInputError("--out takes one input image; use --out-dir for several")
    return args.out or args.out_dir / f"{path.stem}_{suffix}{extension}"


def _write_bytes(data: bytes, destination: Path) -> None:
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
    except OSError as exc:
        raise UserInputError(f"cannot write {destination}: {exc.strerror or exc}") from None


def _write_png(image, destination: Path) -> None:
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        imagelib.to_pil(image).save(destination, format="PNG")
    except (OSError, ValueError) as exc:
        raise UserInputError(f"cannot write {destination}: {exc}") from None


def cmd_models(args) -> int:
    from restoration.models import restorers

    specs = restorers.for_task(args.task) if args.task else list(restorers.REGISTRY.values())
    for spec in specs:
        row = spec.describe()
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['id']:14s} {','.join(row['tasks']):18s} x{row['scale']} {row['source']:9s} "
                  f"{row['status']:24s} {row['description']}")
    return 0


def _degrade_chain(args):
    from restoration import degrade

    if args.chain:
        return degrade.parse_chain(args.chain)
    if args.codec:
        if (args.quality is None) == (args.target_bpp is None):
            raise UserInputError("with --codec give --quality or --target-bpp")
        setting = f"q={args.quality:g}" if args.quality is not None else f"bpp={args.target_bpp:g}"
        return degrade.parse_chain(f"{args.codec}:{setting}")
    if args.noise is not None:
        return degrade.parse_chain(f"noise:sigma={args.noise:g};seed={args.seed}")
    if args.blur is not None:
        return degrade.parse_chain(f"blur:{args.blur:g}")
    return degrade.parse_chain(f"downscale:{args.downscale}")


SAME_FORMAT = {".jpeg": ".jpg", ".j2k": ".jp2", ".jpx": ".jp2"}


def cmd_degrade(args) -> int:
    from restoration import degrade

    chain = _degrade_chain(args)
    suffix = "_".join(step.text().replace(":", "").replace(";", "_").replace("=", "") for step in chain.steps)
    paths = _list_images(args, args.images)
    for path in paths:
        result = degrade.apply(imagelib.load(path), chain)
        destination = _destination(args, path, paths, suffix, result.extension)
        if SAME_FORMAT.get(destination.suffix.lower(), destination.suffix.lower()) != result.extension:
            raise UserInputError(f"this chain writes {result.extension} bytes (its last step: "
                                 f"{chain.steps[-1].label()}); name the output {destination.stem}{result.extension}")
        _write_bytes(result.data, destination)
        print(json.dumps({"image": str(path), "degradation": chain.describe(), "chain": chain.text(),
                          "bytes": len(result.data), "file": str(destination)}))
    return 0


def _add_self_ensemble(parser) -> None:
    parser.add_argument("--self-ensemble", action="store_true",
                        help="networks: average the 8 flips/rotations (8x the time, a little more fidelity)")


def cmd_restore(args) -> int:
    from restoration.models import restorers
    from restoration.pipelines import restore as restorelib

    model = restorers.get(args.model) if args.model else restorers.default_for(args.task)
    if args.task not in model.tasks:
        raise UserInputError(f"model {model.id} does not do {args.task} (it does {', '.join(model.tasks)})")
    paths = _list_images(args, args.images)
    refs = _list_images(args, args.ref) if args.ref else None
    if refs is not None and len(refs) != len(paths):
        raise UserInputError(f"{len(paths)} images but {len(refs)} references")
    printer = _Printer(True) if args.json else None
    options = {} if args.sigma is None else {"sigma": args.sigma}
    if args.strength is not None:
        options["strength"] = args.strength
    if args.self_ensemble:
        options["self_ensemble"] = True
    for i, path in enumerate(paths):
        data = path.read_bytes()
        degraded = imagelib.load(data, name=str(path))
        reference = imagelib.load(refs[i]) if refs else None
        warnings = restorelib.check_reference(reference, degraded)
        for warning in warnings:
            print(f"warning: {path.name}: {warning}", file=sys.stderr)
        result = restorelib.restore_one(degraded, model.id, reference, data=data, **options)
        destination = _destination(args, path, paths, model.id)
        _write_png(result.image, destination)
        row = {"image": str(path), **result.row(), "task": args.task, "file": str(destination),
               "jpeg_quality": restorelib.quality_hint(data), **({"warnings": warnings} if warnings else {})}
        if printer:
            printer.emit(row)
        else:
            gain = f" PSNR {row['psnr_before']:.2f} -> {row['psnr_after']:.2f} dB" if "psnr_before" in row else ""
            print(f"{path.name}: {model.id} {row['seconds']:.2f} s{gain} -> {destination}")
    return 0


def cmd_upscale(args) -> int:
    from restoration.pipelines import sr

    model = sr.check_model(args.model, args.scale) if args.model else sr.default_model(args.scale)
    paths = _list_images(args, args.images)
    refs = _list_images(args, args.ref) if args.ref else None
    if refs is not None and len(refs) != len(paths):
        raise UserInputError(f"{len(paths)} images but {len(refs)} references")
    for i, path in enumerate(paths):
        destination = _destination(args, path, paths, model)
        image = imagelib.load(path)
        if args.from_hr:
            reference_path = path
            hr, lr = sr.make_lr(image, args.scale)
        else:
            reference_path = refs[i] if refs else None
            lr, hr = image, imagelib.load(reference_path) if reference_path else None
        grey = reference_path is not None and sr.is_grey_file(reference_path)
        result = sr.run(lr, model, args.scale, hr, grey=grey, self_ensemble=args.self_ensemble)
        _write_png(result.image, destination)
        row = {"image": str(path), **result.row(), "from_hr": args.from_hr,
               "reference": None if reference_path is None else str(reference_path), "file": str(destination)}
        if args.json:
            print(json.dumps(row), flush=True)
            continue
        measured = "" if result.metrics is None else (
            f", Y-PSNR {result.metrics['psnr_y']:.2f} dB (bicubic {result.baseline['psnr_y']:.2f}),"
            f" SSIM-Y {result.metrics['ssim_y']:.4f}")
        print(f"{path.name}: {model} {lr.shape[1]}x{lr.shape[0]} -> {row['width']}x{row['height']} "
              f"in {result.seconds:.3f} s{measured} -> {destination}", flush=True)
    return 0


COMMANDS = {"codecs": cmd_codecs, "metrics": cmd_metrics, "compress": cmd_compress, "sweep": cmd_sweep,
            "models": cmd_models, "degrade": cmd_degrade, "restore": cmd_restore, "upscale": cmd_upscale}
COMMANDS.update(cli_bench.COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
