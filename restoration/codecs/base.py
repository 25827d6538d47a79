"""The interface every codec implements: parameters with ranges, a knob, encode/decode to real
bytes, and the target-size search; and ``Target``, a size budget."""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from restoration.core import (
    budget,
    plugins,  # noqa: F401  registers the AVIF and JPEG XL plugins
    worker,
)
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError


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
        if self.kind in (int, float) and isinstance(value, bool):  # JSON true is not the number 1
            raise UserInputError(f"{self.name}: {value!r} is not a valid {self.kind.__name__}")
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
    """Base class: subclasses set the class attributes and ``save_kwargs``.

    What a codec declares here is all the lab needs to know about it: the input door, the output
    formats, the file-name maps, the CLI, the tabs' choices and the benchmark's provenance read it
    from the registry (``codecs.CODECS``), never from a list of their own."""

    name: str = ""
    label: str = ""
    extension: str = ""  # the extension of the files it writes
    extensions: tuple[str, ...] = ()  # other names its files go by (".jpeg"); Pillow's are added
    aliases: tuple[str, ...] = ()  # other names ``codecs.get`` accepts ("jpg")
    mime: str = "application/octet-stream"
    pillow_format: str = ""  # the Pillow format that reads its files; "" when it decodes its own stream
    params: tuple[Param, ...] = ()
    knob: Knob | None = None  # None for lossless-only codecs
    # The settings of its lossless mode when it has one besides lossy coding (a lossless-only codec
    # needs none), and whether its bare name as a result format means that mode (a result is kept).
    lossless_params: dict | None = None
    lossless_output: bool = False
    # What decides its bytes and pixels, recorded with every benchmark row (``bench.provenance``):
    # the distributions that encode or decode it and the Pillow libraries (``PIL.features``) it uses.
    packages: tuple[str, ...] = ()
    pillow_features: tuple[str, ...] = ()
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

    def setting_label(self, params: dict) -> str:
        """The setting that decided the result, as a person reads it: "quality=40", "lossless"."""
        resolved = self.resolve(params)
        if self.is_lossless(resolved):
            return "lossless"
        return f"{self.knob.name}={resolved[self.knob.name]}"

    def weights_sha256(self) -> str | None:
        """The sha256 of learned weights behind this codec (None for a classical codec): part of a
        benchmark row's key, so a retrained codec's rows are computed again."""
        return None

    def is_lossless(self, params: dict | None = None) -> bool:
        return self.knob is None

    @property
    def can_be_lossy(self) -> bool:
        return self.knob is not None

    def lossless_settings(self) -> dict | None:
        """The settings that make it lossless ({} for a lossless-only codec), or None when it has no
        lossless mode."""
        if self.knob is None:
            return {}
        return None if self.lossless_params is None else dict(self.lossless_params)

    def file_extensions(self) -> tuple[str, ...]:
        """Every extension its files go by, the one it writes first: its own and the names Pillow
        registers for its format (.jpg, .jpeg, .jfif, .jpe)."""
        pillow = [ext for ext, fmt in Image.registered_extensions().items() if fmt == self.pillow_format]
        found = (
            (self.extension, *self.extensions, *pillow) if self.pillow_format else (self.extension, *self.extensions)
        )
        return tuple(dict.fromkeys(ext.lower() for ext in found if ext))

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "extension": self.extension,
            "extensions": list(self.file_extensions()),
            "mime": self.mime,
            "lossless_only": self.knob is None,
            "lossless_params": self.lossless_settings(),
            "knob": self.knob.name if self.knob else None,
            "description": self.description,
            "params": [p.describe() for p in self.params],
            "packages": list(self.packages),
            "unavailable": self.unavailable_reason(),
        }

    def unavailable_reason(self) -> str | None:
        """Why this codec cannot run here (a missing package), or None."""
        return None

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

    def encode_stoppable(self, image: np.ndarray, **params) -> bytes:
        """``encode``, stoppable inside a request (the app): the request's time limit and
        cancellation are checked before it and, for an image of at least
        ``RESTORATION_ISOLATE_PIXELS`` (default 1 MP), every quarter second while it runs in a
        worker process that is killed when the request stops (``core.worker``). The CLI, the
        library and small images encode in place, as before, and so do the learned codecs (torch,
        no Pillow format)."""
        budget.check()
        if not budget.active() or self.pillow_format is None or image.shape[0] * image.shape[1] < isolate_pixels():
            return self.encode(image, **params)
        return worker.call(_encode, self, image, params)

    def decode(self, data: bytes) -> np.ndarray:
        try:
            pil = Image.open(io.BytesIO(data), formats=[self.pillow_format])
            pil.load()
        except Exception as exc:  # any decoder failure means the bytes are not a valid stream
            raise CodecError(f"{self.name} could not decode these bytes: {exc}") from None
        return imagelib.from_pil(pil)

    def header_size(self, data: bytes) -> tuple[int, int] | None:
        """(width, height) from this codec's stream header without decoding, when Pillow cannot read
        its files (the learned codecs); None for a Pillow format (its plugin reads the header)."""
        return None

    def recognizes(self, data: bytes) -> bool:
        """Whether these bytes are this codec's stream (by magic number)."""
        try:
            with Image.open(io.BytesIO(data), formats=[self.pillow_format]):
                return True
        except Exception:  # Pillow raises many types for "not this format"
            return False

    # -- target size ------------------------------------------------------------------------
    def size_search_steps(self) -> int:
        """How many encodes ``encode_to_size`` makes (a bisection over the knob)."""
        knob = self.param(self.knob.name)
        return int(math.ceil(math.log2(knob.high - knob.low + 1))) + 1 if knob.kind is int else 12

    def encode_to_size(self, image: np.ndarray, target_bytes: int, **params) -> Encoded:
        """Best knob setting whose output fits ``target_bytes`` (the smallest output if none fits)."""
        if self.knob is None or self.is_lossless(self.resolve(params)):
            raise UserInputError(f"{self.name} is lossless here: a target size needs a lossy codec")
        if target_bytes < 1:
            raise UserInputError("the target size must be at least 1 byte")
        knob = self.param(self.knob.name)
        fixed = {k: v for k, v in params.items() if k != knob.name}

        def size_at(value):  # each encode of the search: stoppable, and the request checked before it
            return self.encode_stoppable(image, **fixed, **{knob.name: value})

        best: tuple[Any, bytes] | None = None
        smallest: tuple[Any, bytes] | None = None
        # Bisection over "quality order": t=0 is the lowest quality, t=1 the highest.
        lo, hi = 0.0, 1.0
        for _ in range(self.size_search_steps()):
            t = (lo + hi) / 2
            value = self.knob_value(t)
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
            value = self.knob_value(0.0)
            data = size_at(value)
            best = (
                (value, data)
                if len(data) <= target_bytes
                else min([(value, data), smallest], key=lambda pair: len(pair[1]))
            )
        value, data = best
        return Encoded(data, self.resolve({**fixed, knob.name: value}), target_bytes)

    def knob_value(self, t: float):
        """The knob's value at quality order ``t`` in [0, 1] (0 = lowest quality, smallest file)."""
        knob = self.param(self.knob.name)
        frac = t if self.knob.size_grows else 1.0 - t
        value = knob.low + frac * (knob.high - knob.low)
        # A float knob to one decimal: what the label shows is the setting that ran ("quality=50.7", not
        # "50.684"), and a finer step than a tenth does not change a file measurably.
        return int(round(value)) if knob.kind is int else round(value, 1)


@dataclass(frozen=True)
class Target:
    """A size budget, in bytes or bits per pixel."""

    bytes: int | None = None
    bpp: float | None = None

    def __post_init__(self):
        if (self.bytes is None) == (self.bpp is None):
            raise UserInputError("give a target in bytes or in bpp, not both")
        for value in (self.bytes, self.bpp):
            if value is not None and (isinstance(value, bool) or not math.isfinite(float(value))):
                raise UserInputError(f"the target size must be a finite number, got {value!r}")
        if self.bytes is not None and self.bytes < 1 or self.bpp is not None and not self.bpp > 0:
            raise UserInputError("the target size must be positive")
        if self.bpp is not None and self.bpp > 100 or self.bytes is not None and self.bytes > 2**40:
            raise UserInputError("the target size is beyond any image file (at most 100 bpp, or 1 TiB)")

    def budget(self, image: np.ndarray) -> int:
        if self.bytes is not None:
            return int(self.bytes)
        return max(1, int(math.floor(self.bpp * image.shape[0] * image.shape[1] / 8.0)))

    def describe(self) -> dict:
        return {"bytes": self.bytes} if self.bytes is not None else {"bpp": self.bpp}


# -- stoppable encodes (Codec.encode_stoppable) ----------------------------------------------------
def isolate_pixels() -> int:
    return int(float(os.environ.get("RESTORATION_ISOLATE_PIXELS", "1000000")))


def _encode(codec: Codec, image: np.ndarray, params: dict) -> bytes:
    """In a worker process (``core.worker.call``): one encode."""
    return codec.encode(image, **params)
