"""Zip archive members through the input door: each member is checked before anything of it is
decompressed, and read in ``CHUNK``s with the request's time limit and cancellation checked between
them (``core.budget.check``), so no archive keeps a core busy after its request stopped.

Issue 41's probe: a 1.25 MB zip of 2000 members, each a tiny PNG followed by ~200 MiB of bzip2'd
zeros, kept a core at 100 % for 300 s after its cancel (every member was unpacked before any
check). Before decompressing, a member is refused when

- it is not stored or deflated (every zip tool writes deflate; bzip2 and LZMA reach ratios of
  millions, and Python's zipfile decompresses such a chunk whole, however large it grows);
- it declares more than ``MAX_RATIO`` times its compressed size (deflate's own ceiling is ~1032);
- it declares more bytes than its image can need: ``BYTES_PER_PIXEL`` a pixel of the size its
  header (the first 64 KiB) declares, plus ``HEADROOM`` for metadata, and never over
  ``MAX_MEMBER_BYTES``. An image followed by junk is refused without reading the junk.

Python's zipfile stops a member at its declared size, so the caps hold while it is read.
"""

from __future__ import annotations

import zipfile

from restoration.codecs import reader
from restoration.core import budget
from restoration.core.errors import UserInputError

MAX_MEMBER_BYTES = 200 * 2**20
MAX_RATIO = 1000
METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
HEAD_BYTES = 1 << 16
BYTES_PER_PIXEL = 8  # 16-bit RGBA stored raw: the most an image format spends a pixel
HEADROOM = 16 * 2**20  # ICC profiles, EXIF, thumbnails
CHUNK = 1 << 20


def check_member(info: zipfile.ZipInfo, name: str) -> None:
    """Refuse a member by what the archive declares, before decompressing any of it."""
    if info.compress_type not in METHODS:
        raise UserInputError(
            f"{name}: compressed with method {info.compress_type} (only stored and deflate "
            "members are read; re-zip it with a standard zip tool)"
        )
    if info.file_size > MAX_MEMBER_BYTES:
        raise UserInputError(
            f"{name}: {info.file_size / 2**20:.0f} MiB; a member may hold at most {MAX_MEMBER_BYTES // 2**20} MiB"
        )
    if info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise UserInputError(
            f"{name}: expands {info.file_size / max(info.compress_size, 1):,.0f} times "
            f"(at most {MAX_RATIO} times is read): not an image file"
        )


def head(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    """A member's first 64 KiB (its header), after ``check_member``."""
    check_member(info, name)
    with archive.open(info) as handle:
        return handle.read(HEAD_BYTES)


def size_cap(width: int, height: int) -> int:
    """The most bytes an image file of ``width`` x ``height`` can need."""
    return min(MAX_MEMBER_BYTES, width * height * BYTES_PER_PIXEL + HEADROOM)


def read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    """A member's bytes: checked (``check_member``, then its declared size against what its header's
    image can need) and read a chunk at a time, the request checked between chunks."""
    budget.check()
    width, height = reader.header_size(head(archive, info, name), name=name)
    cap = size_cap(width, height)
    if info.file_size > cap:
        raise UserInputError(
            f"{name}: {info.file_size / 2**20:.1f} MiB for a {width}x{height} image (at most "
            f"{cap / 2**20:.1f} MiB): the file holds more than its image"
        )
    parts, total = [], 0
    with archive.open(info) as handle:
        while chunk := handle.read(CHUNK):
            total += len(chunk)
            if total > cap:  # zipfile stops at the declared size; this is a second guard
                raise UserInputError(f"{name}: more bytes than its image can need")
            parts.append(chunk)
            budget.check()
    return b"".join(parts)
