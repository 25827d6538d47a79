"""The restoration commands: ``models``, ``degrade``, ``restore`` and ``upscale``."""

from __future__ import annotations

import json
import sys

from pathlib import Path

from restoration.cli.output import Printer, list_images, output_path, write_bytes, write_png
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError
from restoration.models import condition


def _tasks():
    from restoration.models.restorers import TASKS

    return TASKS


def add_parsers(sub) -> None:
    """The restoration commands' arguments (``restoration.cli`` builds the rest)."""
    p = sub.add_parser("models", help="list restoration models")
    p.add_argument("--task", choices=_tasks())
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
    p.add_argument("--task", choices=_tasks(), required=True)
    p.add_argument("--model", help="model id (default: the task's best shipped model)")
    p.add_argument("--sigma", type=float, help="noise level on 0-255 for models that take one")
    p.add_argument("--strength", type=float, metavar="QUALITY",
                   help="quality-aware models: the JPEG quality (1-100) to restore as, instead of the one read "
                        "from the file (lower = stronger); other codecs: their quality knob, JPEG 2000's ratio "
                        "on the same scale (32:1 is 50)")
    p.add_argument("--input-codec", choices=condition.CODECS,
                   help="quality-aware models: the codec that made the input (read from the file when it says)")
    add_self_ensemble(p)
    p.add_argument("--ref", nargs="+", help="clean reference images or folder, in the same order")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", type=Path, help="output PNG (one input image only)")
    out.add_argument("--out-dir", type=Path, help="output folder")
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    p = sub.add_parser("upscale", help="super-resolve images; measure them by the standard SR protocol")
    p.add_argument("images", nargs="+", help="low-resolution images or folders (high-resolution with --from-hr)")
    p.add_argument("--scale", type=int, choices=(2, 4), required=True)
    p.add_argument("--model", help="sr model id (default: the best ready one at this scale)")
    p.add_argument("--outscale", type=float, help="resize the result to this many times the input (Lanczos)")
    add_self_ensemble(p)
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--ref", nargs="+", help="high-resolution references or folder, in the same order")
    ref.add_argument("--from-hr", action="store_true",
                     help="the images are high-resolution: make LR by MATLAB bicubic, upscale, measure")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", type=Path, help="output PNG (one input image only)")
    out.add_argument("--out-dir", type=Path, help="output folder")
    p.add_argument("--json", action="store_true", help="one JSON object per image")




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


def degrade_chain(args):
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

    chain = degrade_chain(args)
    suffix = "_".join(step.text().replace(":", "").replace(";", "_").replace("=", "") for step in chain.steps)
    paths = list_images(args, args.images)
    for path in paths:
        result = degrade.apply(imagelib.load(path), chain)
        destination = output_path(args, path, paths, suffix, result.extension)
        if SAME_FORMAT.get(destination.suffix.lower(), destination.suffix.lower()) != result.extension:
            raise UserInputError(f"this chain writes {result.extension} bytes (its last step: "
                                 f"{chain.steps[-1].label()}); name the output {destination.stem}{result.extension}")
        write_bytes(result.data, destination)
        print(json.dumps({"image": str(path), "degradation": chain.describe(), "chain": chain.text(),
                          "bytes": len(result.data), "file": str(destination)}))
    return 0


def add_self_ensemble(parser) -> None:
    parser.add_argument("--self-ensemble", action="store_true",
                        help="networks: average the 8 flips/rotations (8x the time, a little more fidelity)")


def cmd_restore(args) -> int:
    from restoration.models import restorers
    from restoration.pipelines import restore as restorelib

    model = restorers.get(args.model) if args.model else restorers.default_for(args.task)
    if args.task not in model.tasks:
        raise UserInputError(f"model {model.id} does not do {args.task} (it does {', '.join(model.tasks)})")
    paths = list_images(args, args.images)
    refs = list_images(args, args.ref) if args.ref else None
    if refs is not None and len(refs) != len(paths):
        raise UserInputError(f"{len(paths)} images but {len(refs)} references")
    printer = Printer(True) if args.json else None
    options = {} if args.sigma is None else {"sigma": args.sigma}
    if args.strength is not None:
        options["strength"] = args.strength
    if args.input_codec:
        options["codec"] = args.input_codec
    if args.self_ensemble:
        options["self_ensemble"] = True
    for i, path in enumerate(paths):
        data = path.read_bytes()
        degraded = imagelib.load(data, name=str(path))
        reference = imagelib.load(refs[i]) if refs else None
        warnings = restorelib.check_reference(reference, degraded)
        for warning in warnings:
            print(f"warning: {path.name}: {warning}", file=sys.stderr)
        hint = restorelib.quality_hint(data)
        result = restorelib.restore_one(degraded, model.id, reference, data=data, jpeg_quality=hint, **options)
        destination = output_path(args, path, paths, model.id)
        write_png(result.image, destination)
        row = {"image": str(path), **result.row(), "task": args.task, "file": str(destination),
               "jpeg_quality": hint, **({"warnings": warnings} if warnings else {})}
        if printer:
            printer.emit(row)
        else:
            gain = f" PSNR {row['psnr_before']:.2f} -> {row['psnr_after']:.2f} dB" if "psnr_before" in row else ""
            print(f"{path.name}: {model.id} {row['seconds']:.2f} s{gain} -> {destination}")
    return 0


def cmd_upscale(args) -> int:
    from restoration.pipelines import sr

    model = sr.check_model(args.model, args.scale) if args.model else sr.default_model(args.scale)
    outscale = sr.check_outscale(args.outscale, args.from_hr or bool(args.ref))
    paths = list_images(args, args.images)
    refs = list_images(args, args.ref) if args.ref else None
    if refs is not None and len(refs) != len(paths):
        raise UserInputError(f"{len(paths)} images but {len(refs)} references")
    for i, path in enumerate(paths):
        destination = output_path(args, path, paths, model)
        image = imagelib.load(path)
        if args.from_hr:
            reference_path = path
            hr, lr = sr.make_lr(image, args.scale)
        else:
            reference_path = refs[i] if refs else None
            lr, hr = image, imagelib.load(reference_path) if reference_path else None
        grey = reference_path is not None and sr.is_grey_file(reference_path)
        result = sr.run(lr, model, args.scale, hr, grey=grey, self_ensemble=args.self_ensemble)
        if outscale:
            result.image = sr.to_outscale(result.image, lr.shape, outscale)
        write_png(result.image, destination)
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
