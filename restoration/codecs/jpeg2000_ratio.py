"""How hard a JPEG 2000 file was compressed, read from the file: the ratio of its raw samples to
the bytes of its tiles, without the headers.

Why not the file's own ratio: the JP2 boxes and the code stream's main header take the same few
hundred bytes at any image size (226 for an RGB file Pillow writes), a rounding error for a photo
but a large share of a small image's file. A 96-px patch saved at 80:1 carries 200-240:1 in
its tiles (measured), so it looks far worse than a photo at 80:1; the tile ratio is the same for
both. The quality-aware networks are told this ratio (``models.condition.jpeg2000_strength``),
in training and from a file at run time.
"""

from __future__ import annotations

import struct

SIZ = b"\xff\x51"  # image and tile size marker segment: width, height, components and their depth
SOT = b"\xff\x90\x00\x0a"  # start of the first tile-part (marker, then its fixed length, 10)


def header_bytes(data: bytes) -> int | None:
    """Bytes before the first tile-part (JP2 boxes and the main header); None when there is none."""
    start = data.find(SOT)
    return start if start > 0 else None


def raw_bytes(data: bytes) -> int | None:
    """The raw size of the samples the file describes (width x height x components x bytes per
    sample, from the SIZ marker segment); None when the segment is missing or truncated."""
    start = data.find(SIZ)
    if start < 0 or len(data) < start + 42:
        return None
    x1, y1, x0, y0 = struct.unpack(">4I", data[start + 6 : start + 22])
    components = struct.unpack(">H", data[start + 38 : start + 40])[0]
    depths = data[start + 40 : start + 40 + 3 * components : 3]
    if components == 0 or len(depths) < components or x1 <= x0 or y1 <= y0:
        return None
    per_pixel = sum(((depth & 0x7F) + 1 + 7) // 8 for depth in depths)
    return (x1 - x0) * (y1 - y0) * per_pixel


def code_stream_ratio(data: bytes) -> float | None:
    """Raw sample bytes / tile bytes of a JPEG 2000 file (None when it is not one we can read)."""
    header, raw = header_bytes(data), raw_bytes(data)
    if header is None or raw is None or len(data) <= header:
        return None
    return raw / (len(data) - header)
