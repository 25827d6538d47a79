"""What the commands share: the images a command was given, one output file per image, and rows
printed as JSON lines or as an aligned table."""

from __future__ import annotations

import json
from pathlib import Path

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError

TABLE_COLUMNS = ("bytes", *metriclib.names())  # every metric of the table computable here


def list_images(args, paths) -> list[Path]:
    """The images named or in the folders given; a folder's other files are skipped, and ``main``
    names each on stderr once the command has run."""
    return imagelib.list_images(paths, on_skip=args.skipped.append)


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
    return args.out or args.out_dir / f"{path.stem}_{suffix}{extension}"


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
