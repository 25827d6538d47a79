"""Loading images into the one canonical in-memory form used everywhere.

Canonical form: a C-contiguous ``numpy.uint8`` array of shape (H, W, 3), RGB, sRGB values as
stored in the file. Models convert it to float32 [0, 1] themselves (see ``to_float``).

Choices, stated once:
- EXIF orientation is applied, so the array is upright as a viewer shows it.
- Transparency (RGBA, LA, palette with a transparent index) is composited over white:
  every codec and metric here works on RGB, and white is what a browser shows behind it.
- 16-bit data is rounded to 8 bits (value / 257); float arrays are taken as [0, 1].
- Only the first frame of an animated file is used.
- A pixel-count limit guards against decompression bombs; it is checked from the header,
  before any pixel is decoded.
- ``decode`` also says in one line what of this was done to a file (``conversion_note``), so an
  input door (``codecs.reader``) can tell the person; ``load`` keeps the array only.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from restoration.core import plugins  # registers the AVIF, JPEG XL and HEIF plugins
from restoration.core.errors import UserInputError

MAX_PIXELS = int(os.environ.get("RESTORATION_MAX_PIXELS", 40_000_000))
# Lossless files people have that no codec of the lab writes: the input door (codecs.reader)
# accepts these beside every format its codec registry decodes.
CONTAINER_FORMATS = ("GIF", "BMP", "TIFF", "PPM", "TGA", "QOI")
# The decoders a plain ``load`` (internal callers: training data, scripts) opens: the Pillow formats
# of the codecs the lab ships, and the containers. The layer below the codecs cannot read their
# registry, so this is the one list of its own; the input door (``codecs.reader``) derives its
# formats and file extensions from the registry, and ``tests/test_formats.py`` checks that the
# door's formats are all here. Pillow would also open EPS (through Ghostscript, a known
# code-execution risk), PSD, FITS, ...
ACCEPTED_FORMATS = (
    "PNG",
    "JPEG",
    "WEBP",
    "AVIF",
    "JXL",
    "JPEG2000",
    *(("HEIF",) if plugins.HEIF else ()),
    *CONTAINER_FORMATS,
)
# The smallest side the input door accepts (docs/deploy.md): below it codec blocks, SSIM windows
# and network tiles have nothing to work on. Plain ``load`` takes any size (internal steps, such
# as a downscale, may make smaller images).
MIN_SIDE = 8
# Pillow modes that hold one channel (and alpha): such a file is grey, coded here as RGB.
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_DEEP_MODES = {
    "I": "16-bit",
    "I;16": "16-bit",
    "I;16L": "16-bit",
    "I;16B": "16-bit",
    "I;16N": "16-bit",
    "F": "32-bit float",
}  # mode "I" is read as 16-bit range (value / 257), see from_pil


class ImageError(UserInputError):
    """The input is not an image we can use; the message says why."""


def load(source, *, max_pixels: int | None = None, name: str | None = None) -> np.ndarray:
    """Load a path, bytes, file object, PIL image or numpy array into the canonical form.
    ``name`` is what error messages call the file (default: its path, or "image data")."""
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    if isinstance(source, np.ndarray):
        return from_array(source, max_pixels=limit)
    if isinstance(source, Image.Image):
        return from_pil(source, max_pixels=limit)
    data, name = source_bytes(source, name)
    return _decode(data, name=name, max_pixels=limit)


def source_bytes(source, name: str | None = None) -> tuple[bytes, str]:
    """The bytes of a path, bytes or file object, and what messages call it (``load``'s rules)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = name or str(path)
        if path.is_dir():
            raise ImageError(f"{name}: is a folder, not an image file")
        if not path.is_file():
            raise ImageError(f"{name}: no such file")
        return path.read_bytes(), name
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name or "image data"
    if hasattr(source, "read"):
        return source.read(), name or getattr(source, "name", "image data")
    raise ImageError(f"cannot load an image from a {type(source).__name__}")


@dataclass(frozen=True)
class Decoded:
    """A file's canonical image, with what loading changed in it and whether it stored grey."""

    image: np.ndarray
    note: str | None = None  # one line, e.g. "16-bit PNG: converted to 8 bits per channel"
    grey: bool = False  # the file stores one channel (SR measures such an image on grey, not Y)


def _decode(data: bytes, *, name: str, max_pixels: int) -> np.ndarray:
    return decode(data, name=name, max_pixels=max_pixels).image


def decode(
    data: bytes,
    *,
    name: str = "image data",
    max_pixels: int | None = None,
    formats: tuple[str, ...] = ACCEPTED_FORMATS,
    min_side: int = 1,
    also: tuple[str, ...] = (),
) -> Decoded:
    """Bytes of a file in one of ``formats`` (Pillow format names) -> the canonical image and the
    note saying what was converted. A side under ``min_side`` is refused from the header. ``also``:
    formats the caller decodes itself, named with ``formats`` when a file is none of them."""
    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
    if not data:
        raise ImageError(f"{name}: the file is empty")
    if data[:4] == b"PK\x03\x04":
        raise ImageError(f"{name}: a zip archive, not an image (archives are not accepted: unpack it first)")
    with warnings.catch_warnings():
        # Pillow's own bomb check would only warn below 2x its limit; ours is checked below.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            pil = Image.open(io.BytesIO(data), formats=formats)
        except Image.DecompressionBombError as exc:
            # Pillow's own limit (far above ours) tripped on the header: report it as ours.
            declared = re.search(r"\((\d+) pixels\)", str(exc))
            count = f"{int(declared[1]):,} pixels" if declared else "too many pixels"
            raise ImageError(
                f"{name}: its header declares {count}; the limit is {max_pixels:,} (RESTORATION_MAX_PIXELS)"
            ) from None
        except UnidentifiedImageError:
            accepted = ", ".join((*formats, *also))
            raise ImageError(f"{name}: not a recognised image format (accepted: {accepted})") from None
        except (OSError, SyntaxError, ValueError) as exc:  # a header cut short, e.g. "Truncated File Read"
            raise ImageError(f"{name}: the image data is truncated or corrupt ({exc})") from None
        check_size(pil.width, pil.height, max_pixels, name, min_side)
        depth = bit_depth(pil)  # from the undecoded tiles: Pillow reduces a 16-bit RGB PNG to 8 bits
        try:
            pil.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageError(f"{name}: the image data is truncated or corrupt ({exc})") from None
        note = conversion_note(pil, depth)
    return Decoded(from_pil(pil, max_pixels=max_pixels), note, pil.mode in GREY_MODES)


def bit_depth(pil: Image.Image) -> str | None:
    """ "16-bit" or "32-bit float" when the file holds more than 8 bits per channel, else None.
    Read it before ``load()``: the tiles that say a 16-bit RGB PNG's depth are gone afterwards."""
    if pil.mode in _DEEP_MODES:
        return _DEEP_MODES[pil.mode]
    for tile in getattr(pil, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        rawmode = args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args else ""
        if isinstance(rawmode, str) and ";16" in rawmode:  # "RGB;16B", "RGBA;16N", "LA;16B"
            return "16-bit"
    return None


def conversion_note(pil: Image.Image, depth: str | None = None) -> str | None:
    """One line saying what loading ``pil`` into 8-bit RGB changes beyond decoding it (its depth,
    grey coded as RGB, CMYK, transparency composited over white, frames dropped), or None when
    nothing is lost or reinterpreted. ``depth``: ``bit_depth`` read before ``pil`` was loaded."""
    depth = depth or bit_depth(pil)
    kind, mode, parts = pil.format or "image", pil.mode, []
    grey = mode in GREY_MODES
    if depth:
        parts.append(
            f"{depth} grey {kind}: converted to 8-bit RGB"
            if grey
            else f"{depth} {kind}: converted to 8 bits per channel"
        )
    elif grey:
        parts.append("grey image: coded as RGB")
    elif mode not in ("RGB", "RGBA", "RGBa", "P", "PA"):
        parts.append(f"{mode} {kind}: converted to RGB")  # CMYK, YCbCr, LAB, ...
    if _has_transparency(pil):
        parts.append("transparency composited over white")
    frames = getattr(pil, "n_frames", 1)
    if frames > 1:
        parts.append(f"the first of its {frames} frames used")
    return "; ".join(parts) or None


def _has_transparency(pil: Image.Image) -> bool:
    """Whether some pixel is not opaque (an alpha channel that is all 255 changes nothing)."""
    if "transparency" in pil.info:
        return True
    if pil.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        return pil.getchannel("A").getextrema()[0] < 255
    return False


def header_size(data: bytes, *, name: str = "image", formats: tuple[str, ...] = ACCEPTED_FORMATS) -> tuple[int, int]:
    """(width, height) from the start of an image file, without decoding its pixels."""
    try:
        with Image.open(io.BytesIO(data), formats=formats) as pil:
            return pil.width, pil.height
    except Image.DecompressionBombError:
        return 1 << 20, 1 << 20  # more than any budget: the caller refuses it
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageError(f"{name}: not a recognised image format (accepted: {', '.join(formats)})") from None


def file_header_size(path, *, name: str | None = None) -> tuple[int, int]:
    """(width, height) of an image file from its first 64 KiB only (``header_size``)."""
    with open(path, "rb") as handle:
        return header_size(handle.read(1 << 16), name=name or Path(path).name)


def check_size(width: int, height: int, max_pixels: int = MAX_PIXELS, name: str = "image", min_side: int = 1) -> None:
    """Refuse, in one line naming the image, no pixels, a side under ``min_side`` px (the input
    door's ``MIN_SIDE``) or more than ``max_pixels``."""
    if width < 1 or height < 1:
        raise ImageError(f"{name}: the image has no pixels ({width}x{height})")
    if min(width, height) < min_side:
        raise ImageError(f"{name}: {width}x{height} is too small; each side needs at least {min_side} px")
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: {width}x{height} is {width * height:,} pixels; "
            f"the limit is {max_pixels:,} (RESTORATION_MAX_PIXELS)"
        )


def from_pil(pil: Image.Image, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Convert any PIL image (any mode, any orientation tag) to the canonical form."""
    check_size(pil.width, pil.height, max_pixels)
    if getattr(pil, "n_frames", 1) > 1:
        pil.seek(0)
    pil = ImageOps.exif_transpose(pil)
    mode = pil.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return from_array(np.asarray(pil), max_pixels=max_pixels, high_range=mode != "F")
    if mode == "P":
        pil = pil.convert("RGBA" if "transparency" in pil.info else "RGB")
    elif mode == "PA":
        pil = pil.convert("RGBA")
    if pil.mode in ("RGBA", "LA", "La", "RGBa"):
        pil = pil.convert("RGBA")
        background = Image.new("RGBA", pil.size, (255, 255, 255, 255))
        pil = Image.alpha_composite(background, pil)
    return np.ascontiguousarray(np.asarray(pil.convert("RGB"), dtype=np.uint8))


def from_array(array: np.ndarray, *, max_pixels: int = MAX_PIXELS, high_range: bool = False) -> np.ndarray:
    """Convert a numpy image (HxW, HxWx1, HxWx3 or HxWx4; uint8, uint16, bool or float in [0, 1])."""
    source = array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"expected an HxW, HxWx3 or HxWx4 array, got shape {array.shape}")
    check_size(array.shape[1], array.shape[0], max_pixels)
    array = _to_uint8(array, high_range=high_range)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        rgb = array[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        array = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    array = np.ascontiguousarray(array)
    # The canonical image never aliases the caller's buffer (copied only when it would).
    return array.copy() if np.shares_memory(array, source) else array


def _to_uint8(array: np.ndarray, *, high_range: bool) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError("the image contains NaN or infinite values")
        return np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        if array.dtype == np.uint16 or high_range:
            # 16-bit range (PNG/TIFF 16-bit, PIL mode "I"): 65535 -> 255.
            return np.clip(np.rint(array.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ImageError(f"{array.dtype} values must lie in 0..255 (use uint16 for 16-bit images)")
        return array.astype(np.uint8)
    raise ImageError(f"unsupported array dtype {array.dtype}")


def to_pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image, mode="RGB") if image.ndim == 3 else Image.fromarray(image)


def to_float(image: np.ndarray) -> np.ndarray:
    """Canonical uint8 -> float32 in [0, 1] (what models take)."""
    return image.astype(np.float32) / 255.0


def from_float(image: np.ndarray) -> np.ndarray:
    """float in [0, 1] -> canonical uint8 (rounded, clipped)."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def list_images(paths, on_skip: Callable[[Path], None] | None = None, *, extensions) -> list[Path]:
    """Expand files and folders (not recursive) into a sorted list of image files. A folder's
    files without one of ``extensions`` (the input door's, ``codecs.reader.extensions``) are
    skipped, each passed to ``on_skip`` (the CLI says so)."""
    found: list[Path] = []
    skipped: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.suffix.lower() in extensions:
                    found.append(child)
                elif child.is_file():
                    skipped.append(child)
        elif path.is_file():
            found.append(path)
        else:
            raise ImageError(f"{path}: no such file or folder")
    if not found:
        names = ", ".join(p.name for p in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        raise ImageError(
            "no images found in "
            + ", ".join(str(p) for p in paths)
            + (f" (not image files: {names})" if skipped else "")
        )
    for path in skipped if on_skip else ():
        on_skip(path)
    return found
