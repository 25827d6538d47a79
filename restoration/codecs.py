"""Image codecs behind one small interface, and their registry.

Every codec encodes the canonical uint8 RGB array to real bytes and decodes bytes back to it.
A lossy codec names one *knob* (its quality-like parameter) that sweeps and the target-size
search move; ``encode_to_size`` finds the best setting that fits a byte budget.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from restoration import image as imagelib
from restoration import plugins  # noqa: F401
from restoration.errors import UserInputError


class CodecError(UserInputError):
    """A codec refused the input or the settings."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: type  # int, float, bool or str (then ``choices`` lists the values)
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    help: str = ""

    def coerce(self, value: Any) -> Any:
        """Parse (from CLI text too) and validate one value; raise a clear error if out of range."""
        try:
            if self.kind is bool:
                value = _parse_bool(value)
            elif self.kind is int:
                as_float = float(value)
                if as_float != int(as_float):
                    raise ValueError
                value = int(as_float)
            elif self.kind is float:
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError
            else:
                value = str(value)
        except (TypeError, ValueError, OverflowError):
            raise UserInputError(f"{self.name}: {value!r} is not a valid {self.kind.__name__}") from None
        if self.choices and value not in self.choices:
            raise UserInputError(f"{self.name}: {value!r} is not one of {', '.join(map(str, self.choices))}")
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise UserInputError(f"{self.name}: {value} is outside [{self.low}, {self.high}]")
        return value

    def describe(self) -> dict:
        spec = {"name": self.name, "type": self.kind.__name__, "default": self.default, "help": self.help}
        if self.choices:
            spec["choices"] = list(self.choices)
        if self.low is not None:
            spec["min"], spec["max"] = self.low, self.high
        return spec


def _parse_bool(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError


@dataclass(frozen=True)
class Knob:
    """The parameter a sweep or a size search moves, and which way size goes."""

    name: str
    size_grows: bool  # True: larger value -> larger file (quality); False: rate, distance
    sweep: tuple  # default sweep values, low to high quality


@dataclass(frozen=True)
class Encoded:
    data: bytes
    params: dict
    target_bytes: int | None = None

    @property
    def target_met(self) -> bool | None:
        return None if self.target_bytes is None else len(self.data) <= self.target_bytes


class Codec:
    """Base class: subclasses set the class attributes and ``save_kwargs``."""

    name: str = ""
    label: str = ""
    extension: str = ""
    mime: str = "application/octet-stream"
    pillow_format: str = ""
    params: tuple[Param, ...] = ()
    knob: Knob | None = None  # None for lossless-only codecs
    description: str = ""

    # -- parameters ---------------------------------------------------------------------------
    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        names = ", ".join(p.name for p in self.params)
        raise UserInputError(f"{self.name} has no parameter {name!r} (it has: {names})")

    def resolve(self, params: dict | None = None) -> dict:
        """Defaults overlaid with validated user values."""
        resolved = {p.name: p.default for p in self.params}
        for key, value in (params or {}).items():
            resolved[key] = self.param(key).coerce(value)
        return resolved

    def is_lossless(self, params: dict | None = None) -> bool:
        return self.knob is None

    @property
    def can_be_lossy(self) -> bool:
        return self.knob is not None

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "extension": self.extension,
            "lossless_only": self.knob is None,
            "knob": self.knob.name if self.knob else None,
            "description": self.description,
            "params": [p.describe() for p in self.params],
        }

    # -- coding ---------------------------------------------------------------------------------
    def save_kwargs(self, params: dict) -> dict:
        raise NotImplementedError

    def encode(self, image: np.ndarray, **params) -> bytes:
        resolved = self.resolve(params)
        buffer = io.BytesIO()
        try:
            imagelib.to_pil(image).save(buffer, format=self.pillow_format, **self.save_kwargs(resolved))
        except (OSError, ValueError, RuntimeError) as exc:
            raise CodecError(f"{self.name} could not encode this image: {exc}") from None
        return buffer.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        try:
            pil = Image.open(io.BytesIO(data), formats=[self.pillow_format])
            pil.load()
        except Exception as exc:  # any decoder failure means the bytes are not a valid stream
            raise CodecError(f"{self.name} could not decode these bytes: {exc}") from None
        return imagelib.from_pil(pil)

    def recognizes(self, data: bytes) -> bool:
        """Whether these bytes are this codec's stream (by magic number)."""
        try:
            with Image.open(io.BytesIO(data), formats=[self.pillow_format]):
                return True
        except Exception:  # Pillow raises many types for "not this format"
            return False

    # -- target size ------------------------------------------------------------------------
    def encode_to_size(self, image: np.ndarray, target_bytes: int, **params) -> Encoded:
        """Best knob setting whose output fits ``target_bytes`` (the smallest output if none fits)."""
        if self.knob is None or self.is_lossless(self.resolve(params)):
            raise UserInputError(f"{self.name} is lossless here: a target size needs a lossy codec")
        if target_bytes < 1:
            raise UserInputError("the target size must be at least 1 byte")
        knob = self.param(self.knob.name)
        fixed = {k: v for k, v in params.items() if k != knob.name}

        def size_at(value):
            data = self.encode(image, **fixed, **{knob.name: value})
            return data

        best: tuple[Any, bytes] | None = None
        smallest: tuple[Any, bytes] | None = None
        # Bisection over "quality order": t=0 is the lowest quality, t=1 the highest.
        lo, hi = 0.0, 1.0
        steps = int(math.ceil(math.log2(knob.high - knob.low + 1))) + 1 if knob.kind is int else 12
        for _ in range(steps):
            t = (lo + hi) / 2
            value = self._knob_value(knob, t)
            data = size_at(value)
            if smallest is None or len(data) < len(smallest[1]):
                smallest = (value, data)
            if len(data) <= target_bytes:
                if best is None or len(data) > len(best[1]):
                    best = (value, data)
                lo = t
            else:
                hi = t
        if best is None:  # even the lowest setting may fit when bisection never reached it
            value = self._knob_value(knob, 0.0)
            data = size_at(value)
            best = (value, data) if len(data) <= target_bytes else min(
                [(value, data), smallest], key=lambda pair: len(pair[1]))
        value, data = best
        return Encoded(data, self.resolve({**fixed, knob.name: value}), target_bytes)

    def _knob_value(self, knob: Param, t: float):
        """Map quality order t in [0, 1] to a knob value."""
        frac = t if self.knob.size_grows else 1.0 - t
        value = knob.low + frac * (knob.high - knob.low)
        return int(round(value)) if knob.kind is int else round(value, 3)


_SUBSAMPLING = ("4:4:4", "4:2:2", "4:2:0")


class JPEG(Codec):
    name, label, extension, mime, pillow_format = "jpeg", "JPEG", ".jpg", "image/jpeg", "JPEG"
    description = "Baseline/progressive JPEG (libjpeg via Pillow)"
    params = (
        Param("quality", int, 75, 1, 100, help="libjpeg quality"),
        Param("subsampling", str, "4:2:0", choices=_SUBSAMPLING, help="chroma subsampling"),
        Param("progressive", bool, False, help="progressive scan order"),
        Param("optimize", bool, False, help="optimised Huffman tables"),
    )
    knob = Knob("quality", True, (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95))

    def save_kwargs(self, p):
        return {"quality": p["quality"], "subsampling": p["subsampling"],
                "progressive": p["progressive"], "optimize": p["optimize"]}


class JPEG2000(Codec):
    name, label, extension, mime, pillow_format = "jpeg2000", "JPEG 2000", ".jp2", "image/jp2", "JPEG2000"
    description = "JPEG 2000 (OpenJPEG via Pillow): compression-rate or PSNR target, or lossless 5/3"
    params = (
        Param("mode", str, "rate", choices=("rate", "psnr", "lossless"),
              help="rate: hit a compression ratio; psnr: hit a PSNR in dB; lossless: reversible 5/3"),
        Param("rate", float, 24.0, 1.0, 2000.0, help="compression ratio (raw RGB bytes / file bytes)"),
        Param("psnr", float, 36.0, 15.0, 80.0, help="target PSNR in dB (mode=psnr)"),
    )
    knob = Knob("rate", False, (192, 128, 96, 64, 48, 32, 24, 16, 12))

    def is_lossless(self, params=None):
        return (params or {}).get("mode") == "lossless"

    def save_kwargs(self, p):
        # mct=1: the colour transform (ICT/RCT). Pillow leaves it off, which costs ~3 dB on Kodak.
        if p["mode"] == "lossless":
            return {"irreversible": False, "mct": 1}
        if p["mode"] == "psnr":
            return {"irreversible": True, "mct": 1, "quality_mode": "dB", "quality_layers": [p["psnr"]]}
        return {"irreversible": True, "mct": 1, "quality_mode": "rates", "quality_layers": [p["rate"]]}

    def encode_to_size(self, image, target_bytes, **params):
        # OpenJPEG allocates rate directly, so no search is needed: start at the exact ratio
        # and tighten only if headers push the file over budget.
        if target_bytes < 1:
            raise UserInputError("the target size must be at least 1 byte")
        fixed = {k: v for k, v in params.items() if k not in ("mode", "rate")}
        raw = image.size
        rate = min(max(raw / target_bytes, 1.0), 2000.0)
        data = b""
        for _ in range(6):
            data = self.encode(image, **fixed, mode="rate", rate=rate)
            if len(data) <= target_bytes or rate >= 2000.0:
                break
            rate = min(rate * len(data) / target_bytes * 1.01, 2000.0)
        return Encoded(data, self.resolve({**fixed, "mode": "rate", "rate": round(rate, 4)}), target_bytes)


class WebP(Codec):
    name, label, extension, mime, pillow_format = "webp", "WebP", ".webp", "image/webp", "WEBP"
    description = "WebP (libwebp via Pillow), lossy or lossless"
    params = (
        Param("quality", int, 75, 0, 100, help="lossy quality (lossless: compression effort)"),
        Param("method", int, 4, 0, 6, help="speed/size trade-off, 6 = slowest and smallest"),
        Param("lossless", bool, False, help="lossless mode (bit-exact RGB)"),
    )
    knob = Knob("quality", True, (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95))

    def is_lossless(self, params=None):
        return bool((params or {}).get("lossless"))

    def save_kwargs(self, p):
        return {"quality": p["quality"], "method": p["method"], "lossless": p["lossless"], "exact": True}


class AVIF(Codec):
    name, label, extension, mime, pillow_format = "avif", "AVIF", ".avif", "image/avif", "AVIF"
    description = "AVIF (libavif via pillow-avif-plugin: aom, svt or rav1e encoder)"
    params = (
        Param("quality", int, 60, 0, 100, help="libavif quality"),
        Param("speed", int, 6, 0, 10, help="encoder speed, 10 = fastest"),
        Param("subsampling", str, "4:2:0", choices=_SUBSAMPLING, help="chroma subsampling"),
        Param("encoder", str, "auto", choices=("auto", "aom", "svt", "rav1e"), help="AV1 encoder"),
    )
    knob = Knob("quality", True, (5, 15, 25, 35, 45, 55, 65, 75, 85, 92))

    def save_kwargs(self, p):
        return {"quality": p["quality"], "speed": p["speed"], "subsampling": p["subsampling"],
                "codec": p["encoder"]}


def jxl_quality_from_distance(distance: float) -> float:
    """Invert libjxl's JxlEncoderDistanceFromQuality (quality 100 <-> distance 0)."""
    if distance <= 0:
        return 100.0
    if distance <= 6.4:
        return 100.0 - (distance - 0.1) / 0.09
    a, b, c = 53.0 / 3000.0, -23.0 / 20.0, 25.0 - distance
    return max(0.0, (-b - math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a))


class JPEGXL(Codec):
    name, label, extension, mime, pillow_format = "jpegxl", "JPEG XL", ".jxl", "image/jxl", "JXL"
    description = "JPEG XL (libjxl via pillow-jxl-plugin), lossy or lossless"
    params = (
        Param("quality", float, 75.0, 0.0, 100.0, help="libjxl quality (ignored when distance > 0)"),
        Param("distance", float, 0.0, 0.0, 25.0, help="Butteraugli distance; 0 = use quality, 1.0 = visually lossless"),
        Param("effort", int, 7, 1, 9, help="encoder effort, 9 = slowest and smallest"),
        Param("lossless", bool, False, help="lossless mode (bit-exact)"),
    )
    knob = Knob("quality", True, (10, 20, 30, 40, 50, 60, 70, 80, 90, 95))

    def is_lossless(self, params=None):
        p = params or {}
        return bool(p.get("lossless")) or p.get("quality", 0) >= 100 or 0 < p.get("distance", 0) <= 0.1

    def save_kwargs(self, p):
        quality = jxl_quality_from_distance(p["distance"]) if p["distance"] > 0 else p["quality"]
        # libjxl's lossy mode refuses distance 0 (quality 100); that end of the range means lossless.
        lossless = p["lossless"] or quality >= 100.0
        return {"quality": min(quality, 100.0), "effort": p["effort"], "lossless": lossless}

    def encode_to_size(self, image, target_bytes, **params):
        params = {k: v for k, v in params.items() if k != "distance"}
        return super().encode_to_size(image, target_bytes, **params)


class PNG(Codec):
    name, label, extension, mime, pillow_format = "png", "PNG", ".png", "image/png", "PNG"
    description = "PNG (zlib via Pillow), lossless"
    params = (Param("compress_level", int, 6, 0, 9, help="zlib level, 9 = smallest"),)

    def save_kwargs(self, p):
        return {"compress_level": p["compress_level"]}


class LearnedCodec(Codec):
    """Our trained transform codec (``neural_codec``): real range-coded bytes, decoded from the
    bytes alone. Torch and the weights load on first use, not at import."""

    name, label, extension, mime = "neural", "Learned (ours)", ".rlc", "application/x-restoration-lab-codec"
    description = "Our learned codec: GDN autoencoder, factorized entropy model, range coding (weights/neural-codec)"
    params = (Param("quality", int, 3, 1, 5, help="rate point, 1 = smallest file"),)
    knob = Knob("quality", True, (1, 2, 3, 4, 5))

    def encode(self, image: np.ndarray, **params) -> bytes:
        from restoration import neural_codec

        quality = self.resolve(params)["quality"]
        return neural_codec.shipped().compress(image, quality)

    def decode(self, data: bytes) -> np.ndarray:
        from restoration import neural_codec

        try:
            return neural_codec.shipped().decompress(data)
        except UserInputError as exc:
            raise CodecError(f"{self.name} could not decode these bytes: {exc}") from None

    def recognizes(self, data: bytes) -> bool:
        return data[:2] == b"RL"


CODECS: dict[str, Codec] = {c.name: c for c in (JPEG(), JPEG2000(), WebP(), AVIF(), JPEGXL(), PNG(), LearnedCodec())}
ALIASES = {"jpg": "jpeg", "jp2": "jpeg2000", "j2k": "jpeg2000", "jxl": "jpegxl", "jpeg-xl": "jpegxl"}


def get(name: str) -> Codec:
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in CODECS:
        raise UserInputError(f"unknown codec {name!r}; choose from {', '.join(CODECS)}")
    return CODECS[key]


def sniff(data: bytes) -> Codec | None:
    """Which registered codec wrote these bytes (by magic number), if any."""
    return next((codec for codec in CODECS.values() if codec.recognizes(data)), None)


__all__ = ["CODECS", "Codec", "CodecError", "Encoded", "Knob", "Param", "get", "sniff", "field"]
