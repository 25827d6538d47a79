"""The restoration commands: ``models``, ``degrade``, ``restore`` and ``upscale``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from restoration import degrade
from restoration.cli.output import (
    Printer,
    add_output_format,
    list_images,
    output_format,
    output_path,
    read_input,
    write_bytes,
    write_result,
)
from restoration.core.errors import UserInputError
from restoration.models import condition, restorers, user_model
from restoration.models.auto import AUTO
from restoration.pipelines import restore as restorelib
from restoration.pipelines import sr


def add_parsers(sub) -> None:
    """The restoration commands' arguments (``restoration.cli`` builds the rest)."""
    p = sub.add_parser("models", help="list restoration models")
    p.add_argument("--task", choices=restorers.TASKS)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("degrade", help="make degraded copies: a chain of codec, noise, blur and downscale steps")
    p.add_argument("images", nargs="+", help="image files or folders")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument(
        "--chain",
        help="steps in order, e.g. 'downscale:2, jpeg:q=30' or 'jpeg:q=10, noise:25' "
        "(codec:q=N|bpp=X, noise:SIGMA, blur:SIGMA, downscale:FACTOR)",
    )
    kind.add_argument("--codec", help="one codec round trip (with --quality or --target-bpp)")
    kind.add_argument("--noise", type=float, metavar="SIGMA", help="Gaussian noise, sigma on 0-255")
    kind.add_argument("--blur", type=float, metavar="SIGMA", help="Gaussian blur, sigma in pixels")
    kind.add_argument("--downscale", type=int, metavar="FACTOR", help="bicubic downscale by an integer")
    p.add_argument("--quality", type=float, help="codec quality (with --codec)")
    p.add_argument("--target-bpp", type=float, help="codec size budget (with --codec)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument(
        "--out",
        type=Path,
        help="output file (one input image only); a chain that ends in a codec "
        "writes that codec's bytes, so name it .jpg, .webp, ... accordingly",
    )
    out.add_argument("--out-dir", type=Path, help="output folder")
    p = sub.add_parser("restore", help="restore images with a model")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument(
        "--task",
        choices=("auto", *restorers.TASKS),
        help="what to restore; auto (the default without --model): read the file and the pixels, "
        "then run the matching models in order, saying why",
    )
    p.add_argument("--model", help="model id (default: the task's best shipped model; auto: chosen from the image)")
    add_model_file(p)
    p.add_argument("--sigma", type=float, help="noise level on 0-255 for models that take one")
    p.add_argument(
        "--strength",
        type=float,
        metavar="QUALITY",
        help="quality-aware models: the JPEG quality (1-100) to restore as, instead of the one read "
        "from the file (lower = stronger); other codecs: their quality knob, JPEG 2000's ratio "
        "on the same scale (32:1 is 50)",
    )
    p.add_argument(
        "--input-codec",
        choices=condition.CODECS,
        help="quality-aware models: the codec that made the input (read from the file when it says)",
    )
    add_self_ensemble(p)
    p.add_argument("--ref", nargs="+", help="clean reference images or folder, in the same order")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument(
        "--out",
        type=Path,
        help="output file (one input image only); its extension chooses the format: "
        ".png, .webp and .jxl lossless, .jpg, .avif, ... at --out-format's setting",
    )
    out.add_argument("--out-dir", type=Path, help="output folder")
    add_output_format(p)
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    p = sub.add_parser("upscale", help="super-resolve images; measure them by the standard SR protocol")
    p.add_argument("images", nargs="+", help="low-resolution images or folders (high-resolution with --from-hr)")
    p.add_argument("--scale", type=int, choices=(2, 4), help="2 or 4 (with --model-file: the file's own scale)")
    p.add_argument("--model", help="sr model id (default: the best ready one at this scale)")
    add_model_file(p)
    p.add_argument("--outscale", type=float, help="resize the result to this many times the input (Lanczos)")
    p.add_argument(
        "--restore",
        metavar="auto|none|MODEL",
        help="clean the input before upscaling: auto (the default) removes noise and compression "
        "artifacts where it finds them, a restoration model id runs that model, none upscales "
        "as it is (the default with --from-hr)",
    )
    add_self_ensemble(p)
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--ref", nargs="+", help="high-resolution references or folder, in the same order")
    ref.add_argument(
        "--from-hr",
        action="store_true",
        help="the images are high-resolution: make LR by MATLAB bicubic, upscale, measure",
    )
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument(
        "--out",
        type=Path,
        help="output file (one input image only); its extension chooses the format: "
        ".png, .webp and .jxl lossless, .jpg, .avif, ... at --out-format's setting",
    )
    out.add_argument("--out-dir", type=Path, help="output folder")
    add_output_format(p)
    p.add_argument("--json", action="store_true", help="one JSON object per image")


def cmd_models(args) -> int:
    specs = restorers.for_task(args.task) if args.task and args.task != AUTO else list(restorers.REGISTRY.values())
    defaults = {task: restorers.default_for(task).id for task in restorers.TASKS if restorers.ready(task)}
    for spec in specs:
        row = spec.describe()
        row["default"] = spec.id in {defaults.get(task) for task in spec.tasks if task != "sr"} or (
            "sr" in spec.tasks and spec.id == restorers.default_for("sr", spec.scale).id
        )
        if args.json:
            print(json.dumps(row))
        else:
            print(
                f"{row['id']:14s} {','.join(row['tasks']):18s} x{row['scale']} {row['source']:9s} "
                f"{row['status']:24s} {row['description']}"
            )
    return 0


def degrade_chain(args) -> degrade.Chain:
    """The command's options as a chain (``degrade.form_chain``, as the app's Degrade form)."""
    if args.codec and (args.quality is None) == (args.target_bpp is None):
        raise UserInputError("with --codec give --quality or --target-bpp")
    kind = next(k for k in ("chain", "codec", "noise", "blur", "downscale") if getattr(args, k) is not None)
    return degrade.form_chain(
        kind,
        codec=args.codec,
        quality=args.quality,
        bpp=args.target_bpp,
        sigma=args.noise,
        seed=args.seed,
        blur=args.blur,
        factor=args.downscale,
        text=args.chain or "",
    )


SAME_FORMAT = {".jpeg": ".jpg", ".j2k": ".jp2", ".jpx": ".jp2"}


def cmd_degrade(args) -> int:
    chain = degrade_chain(args)
    suffix = "_".join(step.text().replace(":", "").replace(";", "_").replace("=", "") for step in chain.steps)
    paths = list_images(args, args.images)
    for path in paths:
        result = degrade.apply(read_input(args, path).image, chain)
        destination = output_path(args, path, paths, suffix, result.extension)
        if SAME_FORMAT.get(destination.suffix.lower(), destination.suffix.lower()) != result.extension:
            raise UserInputError(
                f"this chain writes {result.extension} bytes (its last step: "
                f"{chain.steps[-1].label()}); name the output {destination.stem}{result.extension}"
            )
        write_bytes(result.data, destination)
        print(
            json.dumps(
                {
                    "image": str(path),
                    "degradation": chain.describe(),
                    "chain": chain.text(),
                    "bytes": len(result.data),
                    "file": str(destination),
                }
            )
        )
    return 0


def add_self_ensemble(parser) -> None:
    parser.add_argument(
        "--self-ensemble",
        action="store_true",
        help="networks: average the 8 flips/rotations (8x the time, a little more fidelity)",
    )


def add_model_file(parser) -> None:
    parser.add_argument(
        "--model-file",
        type=Path,
        metavar="FILE",
        help="your own model: a .safetensors, .pth or .pt file whose architecture spandrel "
        "recognises (weights only: pickled code is refused; RESTORATION_MAX_MODEL_MB caps "
        "its size)",
    )


def model_file(args, task: str | None = None, scale: int | None = None):
    """``--model-file``: the file inspected (one line when refused), checked against the command,
    and described on stderr ("model: SwinIR x2, 0.9M parameters, sha256 1a2b3c4d…") before it runs."""
    if args.model:
        raise UserInputError("give --model or --model-file, not both")
    uploaded = user_model.inspect(args.model_file)
    uploaded.require(task=task, scale=scale)
    print(f"model: {uploaded.describe()}", file=sys.stderr, flush=True)
    return uploaded


def cmd_restore(args) -> int:
    if args.model_file:  # run as a registered model, under its id "user:<sha256[:12]>"
        args.model = model_file(args, task=args.task, scale=1).id
    task = args.task or ("auto" if not args.model else None)
    model = (
        restorers.get(args.model)
        if args.model
        else (restorers.get(AUTO) if task == "auto" else restorers.default_for(task))
    )
    task = task or model.tasks[0]
    if task != "auto" and task not in model.tasks:
        raise UserInputError(f"model {model.id} does not do {task} (it does {', '.join(model.tasks)})")
    fmt = output_format(args)
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
        source = read_input(args, path)  # the input door: any format the codecs read, a note on what was converted
        reference = read_input(args, refs[i]).image if refs else None
        run = restorelib.restore_image(source.image, [model.id], reference, data=source.data, **options)
        for warning in run.warnings:
            print(f"warning: {path.name}: {warning}", file=sys.stderr)
        if run.failures:
            raise UserInputError(run.failures[model.id])
        result = run.results[0]
        destination = output_path(args, path, paths, model.id, fmt.extension)
        write_result(result.image, destination, fmt)
        row = {
            "image": str(path),
            **result.row(),
            "task": task,
            "file": str(destination),
            "jpeg_quality": run.jpeg_quality,
            **({"warnings": run.warnings} if run.warnings else {}),
        }
        if printer:
            printer.emit(row)
        else:
            gain = f" PSNR {row['psnr_before']:.2f} -> {row['psnr_after']:.2f} dB" if "psnr_before" in row else ""
            note = f" ({row['note']})" if row.get("note") else ""
            print(f"{path.name}: {model.id} {row['seconds']:.2f} s{gain}{note} -> {destination}")
    return 0


def cmd_upscale(args) -> int:
    if args.model_file:  # its scale is the file's; a different --scale is refused
        uploaded = model_file(args, task="sr", scale=args.scale)
        args.model, args.scale = uploaded.id, uploaded.scale
    elif args.scale is None:
        raise UserInputError("give --scale (2 or 4), or --model-file (whose scale is the file's)")
    model = sr.check_model(args.model, args.scale) if args.model else sr.default_model(args.scale)
    sr.check_outscale(args.outscale, args.from_hr or bool(args.ref))  # before any file is read
    fmt = output_format(args)
    paths = list_images(args, args.images)
    refs = list_images(args, args.ref) if args.ref else None
    if refs is not None and len(refs) != len(paths):
        raise UserInputError(f"{len(paths)} images but {len(refs)} references")
    for i, path in enumerate(paths):
        destination = output_path(args, path, paths, model, fmt.extension)
        source = read_input(args, path)
        reference_path = path if args.from_hr else refs[i] if refs else None
        reference = source if args.from_hr else read_input(args, reference_path) if reference_path else None
        run = sr.upscale_image(
            source.image,
            args.scale,
            [model],
            from_hr=args.from_hr,
            reference=None if args.from_hr or reference is None else reference.image,
            grey=reference is not None and reference.grey,  # a grey file is measured on grey, not Y
            data=source.data,
            restore=args.restore,
            outscale=args.outscale,
            self_ensemble=args.self_ensemble,
        )
        result, cleaned = run.results[0], run.cleaned
        write_result(result.image, destination, fmt)
        row = {
            "image": str(path),
            **result.row(),
            "from_hr": args.from_hr,
            "reference": None if reference_path is None else str(reference_path),
            "file": str(destination),
        }
        if args.json:
            print(json.dumps(row), flush=True)
            continue
        measured = (
            ""
            if result.metrics is None
            else (
                f", Y-PSNR {result.metrics['psnr_y']:.2f} dB (bicubic {result.baseline['psnr_y']:.2f}),"
                f" SSIM-Y {result.metrics['ssim_y']:.4f}"
            )
        )
        cleaned_note = f" ({cleaned.note})" if cleaned.note else ""
        print(
            f"{path.name}: {model} {run.lr.shape[1]}x{run.lr.shape[0]} -> {row['width']}x{row['height']} "
            f"in {result.seconds + cleaned.seconds:.3f} s{measured}{cleaned_note} -> {destination}",
            flush=True,
        )
    return 0
