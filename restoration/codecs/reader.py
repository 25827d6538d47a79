"""The input door: how every front end reads an image file (the CLI, the app's uploads and API, the
benchmark runner), so that every file the lab writes, it reads.

The accepted formats come from the codec registry: a learned codec's stream (``.rlh``, ``.rlc``,
found by its magic number) is decoded by that codec (torch loads then, not before), any other
codec's file by Pillow with the codec's plugin (HEIC through pillow-heif), beside the lossless
containers no codec writes (``core.image.CONTAINER_FORMATS``: GIF, BMP, TIFF, ...). A side under
``MIN_SIDE`` px is refused in one line. The image is the canonical 8-bit RGB array; ``note`` says
in one line what reading converted (16 bits, grey, CMYK, transparency, frames), or is None.

``core.image.load`` stays the plain loader for internal callers (training data, scripts).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from restoration import codecs as codeclib
from restoration.core import image as imagelib

MIN_SIDE = imagelib.MIN_SIDE


@dataclass(frozen=True)
class Input:
    """An image read through the door: its pixels, what messages call it, the file's bytes (a
    JPEG's quality and a file's codec are read from them), the conversion note, the codec whose
    stream it is (when one of the registry's wrote it) and whether it stored grey."""

    image: np.ndarray = field(repr=False)
    name: str
    data: bytes | None = field(default=None, repr=False)  # None for an array or a PIL image
    note: str | None = None
    codec: str | None = None
    grey: bool = False


def formats() -> tuple[str, ...]:
    """The Pillow format names the door opens: every available registry codec's (in a plain load's
    order, PNG first; a codec registered later, after them), then the lossless containers. Nothing
    else: Pillow would also open EPS (through Ghostscript), PSD, FITS, ..."""
    return _formats(tuple(codeclib.CODECS.values()))


@functools.cache
def _formats(registered: tuple[codeclib.Codec, ...]) -> tuple[str, ...]:
    pillow = {c.pillow_format for c in registered if c.pillow_format and c.unavailable_reason() is None}
    order = imagelib.ACCEPTED_FORMATS
    ordered = sorted(pillow, key=lambda fmt: (order.index(fmt) if fmt in order else len(order), fmt))
    return tuple(dict.fromkeys((*ordered, *imagelib.CONTAINER_FORMATS)))


def _own_decoders() -> tuple[codeclib.Codec, ...]:
    """The registry codecs whose files Pillow cannot read: they decode their own streams."""
    return tuple(c for c in codeclib.CODECS.values() if not c.pillow_format)


def extensions() -> frozenset[str]:
    """File extensions a folder's images are listed by: every registry codec's
    (``Codec.file_extensions``: .jpg/.jpeg/.jfif, .heic/.heif, .rlh, ...; an unavailable codec's
    too, so its file is named with the reason rather than skipped) and every extension Pillow
    registers for a lossless container (.tif/.tiff, .gif, ...)."""
    return _extensions(tuple(codeclib.CODECS.values()))


@functools.cache
def _extensions(registered: tuple[codeclib.Codec, ...]) -> frozenset[str]:
    containers = set(imagelib.CONTAINER_FORMATS)
    pillow = {ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in containers}
    return frozenset({ext for c in registered for ext in c.file_extensions()} | pillow)


def read(source, *, name: str | None = None, max_pixels: int | None = None) -> Input:
    """A path, bytes, file object, PIL image or numpy array, read as an input: refused in one line
    naming it when it is not an image the lab reads or a side is under ``MIN_SIDE`` px."""
    limit = imagelib.MAX_PIXELS if max_pixels is None else max_pixels
    if isinstance(source, np.ndarray):
        return _from_array(source, name or "image", limit)
    if isinstance(source, Image.Image):
        name = name or "image"
        imagelib.check_size(source.width, source.height, limit, name, MIN_SIDE)
        return Input(
            imagelib.from_pil(source, max_pixels=limit),
            name,
            note=imagelib.conversion_note(source),
            grey=source.mode in imagelib.GREY_MODES,
        )
    data, name = imagelib.source_bytes(source, name)
    codec = codeclib.sniff(data) if data else None
    if codec is not None and codec.unavailable_reason() is not None:
        raise imagelib.ImageError(
            f"{name}: a {codec.label} file, but {codec.name} is not available here: {codec.unavailable_reason()}"
        )
    if codec is not None and not codec.pillow_format:
        return _own_stream(codec, data, name, limit)
    decoded = imagelib.decode(
        data,
        name=name,
        max_pixels=limit,
        formats=formats(),
        min_side=MIN_SIDE,
        also=tuple(c.extension.lstrip(".").upper() for c in _own_decoders()),
    )
    return Input(decoded.image, name, data, decoded.note, codec.name if codec else None, decoded.grey)


def load(source, *, name: str | None = None, max_pixels: int | None = None) -> np.ndarray:
    """``read``'s image alone, for callers that do not show the note."""
    return read(source, name=name, max_pixels=max_pixels).image


def _own_stream(codec: codeclib.Codec, data: bytes, name: str, limit: int) -> Input:
    """A learned codec's file: sized from its header, then decoded by the codec."""
    try:
        width, height = codec.header_size(data)
        imagelib.check_size(width, height, limit, name, MIN_SIDE)
        image = codec.decode(data)
    except codeclib.CodecError as exc:
        raise imagelib.ImageError(f"{name}: {exc}") from None
    return Input(image, name, data, None, codec.name)


def _from_array(array: np.ndarray, name: str, limit: int) -> Input:
    """An array (the API's numpy images): its shape checked like a file's, its conversion told."""
    if array.ndim >= 2:
        imagelib.check_size(array.shape[1], array.shape[0], limit, name, MIN_SIDE)
    image = imagelib.from_array(array, max_pixels=limit)
    grey = array.ndim == 2 or array.ndim == 3 and array.shape[2] == 1
    parts = []
    if array.dtype == np.uint16:
        parts.append(
            "16-bit grey image: converted to 8-bit RGB" if grey else "16-bit image: converted to 8 bits per channel"
        )
    elif grey:
        parts.append("grey image: coded as RGB")
    if array.ndim == 3 and array.shape[2] == 4 and array[..., 3].min() < (255 if array.dtype == np.uint8 else 1):
        parts.append("transparency composited over white")
    return Input(image, name, note="; ".join(parts) or None, grey=grey)


def header_size(data: bytes, *, name: str = "image") -> tuple[int, int]:
    """(width, height) of a file from its first bytes, without decoding its pixels."""
    codec = next((c for c in _own_decoders() if c.recognizes(data)), None)
    if codec is not None:
        try:
            return codec.header_size(data)
        except codeclib.CodecError as exc:
            raise imagelib.ImageError(f"{name}: {exc}") from None
    return imagelib.header_size(data, name=name, formats=formats())


def file_header_size(path, *, name: str | None = None) -> tuple[int, int]:
    """(width, height) of an image file from its first 64 KiB only (``header_size``)."""
    with open(path, "rb") as handle:
        return header_size(handle.read(1 << 16), name=name or Path(path).name)


def list_images(paths, on_skip: Callable[[Path], None] | None = None) -> list[Path]:
    """Files and folders (not recursive) as a sorted list of image files, a folder's files listed
    by ``extensions()``; the others are passed to ``on_skip``."""
    return imagelib.list_images(paths, on_skip, extensions=extensions())
