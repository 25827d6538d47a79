"""What the commands share: the images a command was given, one output file per image, and rows
printed as JSON lines or as an aligned table."""

from __future__ import annotations

import json
from pathlib import Path

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.codecs import output as outputlib
from restoration.codecs import reader
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError

TABLE_COLUMNS = ("bytes", *metriclib.names())  # every metric of the table computable here


def list_images(args, paths) -> list[Path]:
    """The images named or in the folders given (a folder's by the extensions of the formats the
    input door reads); a folder's other files are skipped, and ``main`` names each on stderr once
    the command has run."""
    return reader.list_images(paths, on_skip=args.skipped.append)


def read_input(args, path) -> reader.Input:
    """An input image through the input door (``codecs.reader``); what reading converted (16 bits,
    grey, transparency, ...) ``main`` says on stderr as one ``note:`` line per file once the command
    has run (so that an error stays the one line on stderr)."""
    source = reader.read(path, name=str(path))
    if source.note:
        args.notes.append(f"{path}: {source.note}")
    return source


def add_output_format(parser) -> None:
    parser.add_argument(
        "--out-format",
        metavar="FORMAT",
        help="the results' format: png (the default), webp or jpegxl (lossless), or a codec at a "
        "setting, e.g. avif:q=60, jpeg:q=90, webp:q=80, jpegxl:distance=1 (--out's extension "
        "chooses it too: .webp and .jxl lossless)",
    )


def output_format(args) -> outputlib.OutputFormat:
    """``--out-format``, else ``--out``'s extension, else PNG; checked before any image is read."""
    chosen = outputlib.parse_format(args.out_format) if getattr(args, "out_format", None) else None
    if args.out is None:
        return chosen or outputlib.parse_format(outputlib.DEFAULT)
    named = outputlib.format_for_path(args.out)
    if chosen is not None and not outputlib.same_file_type(chosen, named):
        raise UserInputError(
            f"--out {args.out.name} names a {named.extension} file but --out-format "
            f"{args.out_format} writes {chosen.extension}; name it {args.out.stem}{chosen.extension}"
        )
    return chosen or named


def write_result(image, destination: Path, fmt: outputlib.OutputFormat) -> None:
    """A result in the chosen format (encoded first, so a codec's refusal writes nothing)."""
    data, _ = outputlib.encode_result(image, fmt)
    write_bytes(data, destination)


class Printer:
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
        setting = setting_text(row)
        cells = "".join(f"{cell(row.get(c)):>10s}" for c in TABLE_COLUMNS)
        print(f"{Path(row['image']).name[:24]:24s} {row['codec']:9s} {setting:14s}{cells}", flush=True)


def setting_text(row: dict) -> str:
    return codeclib.get(row["codec"]).setting_label(row["params"])


def cell(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def output_path(args, path: Path, paths: list, suffix: str, extension: str = ".png") -> Path:
    if args.out and len(paths) > 1:
        raise UserInputError("--out takes one input image; use --out-dir for several")
    # An uploaded model's id ("user:<sha256[:12]>") names files as "user-<sha256[:12]>": no colon on Windows.
    # Inputs that share a stem (photo.jpg, photo.png) keep their own extension in the name.
    stem = path.stem if sum(Path(p).stem == path.stem for p in paths) < 2 else f"{path.stem}_{path.suffix.lstrip('.')}"
    return args.out or args.out_dir / f"{stem}_{suffix.replace(':', '-')}{extension}"


def write_bytes(data: bytes, destination: Path) -> None:
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
    except OSError as exc:
        raise UserInputError(f"cannot write {destination}: {exc.strerror or exc}") from None


def write_png(image, destination: Path) -> None:
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        imagelib.to_pil(image).save(destination, format="PNG")
    except (OSError, ValueError) as exc:
        raise UserInputError(f"cannot write {destination}: {exc}") from None
