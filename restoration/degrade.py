"""Degradations: the same functions make the app's inputs, the benchmarks and the training pairs.

Every degradation maps the canonical uint8 RGB array to a degraded uint8 RGB array, is seeded
where it is random, and describes itself as a short dict so a chain can be recorded and replayed,
as a label a person reads, and as the text ``parse_chain`` reads back ("jpeg:q=10, noise:25").
``apply`` is the one degrade job of the CLI, the app and the API: pixels and the file's real bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from restoration import codecs as codeclib
from restoration.core import resize
from restoration.core.errors import UserInputError


@dataclass(frozen=True)
class Degradation:
    def __call__(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"kind": type(self).__name__.lower(), **self.__dict__}

    def label(self) -> str:
        """How a person reads the step: "JPEG quality=10", "noise σ=25"."""
        raise NotImplementedError

    def text(self) -> str:
        """The step in ``parse_chain``'s syntax."""
        raise NotImplementedError


@dataclass(frozen=True)
class Compress(Degradation):
    """Round trip through a codec at its settings, or at a bpp budget."""

    codec: str
    params: dict = field(default_factory=dict)
    bpp: float | None = None

    def __call__(self, image):
        codec, data = self.encode(image)
        return codec.decode(data)

    def encode(self, image) -> tuple[codeclib.Codec, bytes]:
        """(the codec, the real bytes it wrote) at these settings or within the bpp budget."""
        codec = codeclib.get(self.codec)
        if self.bpp is not None:
            return codec, codec.encode_to_size(image, codeclib.Target(bpp=self.bpp).budget(image), **self.params).data
        return codec, codec.encode_stoppable(image, **self.params)  # a request can stop it

    def describe(self):
        return {"kind": "compress", "codec": self.codec, "params": dict(self.params), "bpp": self.bpp}

    def label(self):
        codec = codeclib.get(self.codec)
        settings = [f"{k}={v}" for k, v in self.params.items()] + ([f"≤{self.bpp:g} bpp"] if self.bpp else [])
        return " ".join([codec.label, *settings])

    def text(self):
        settings = [f"{k}={v}" for k, v in self.params.items()] + ([f"bpp={self.bpp:g}"] if self.bpp else [])
        return f"{self.codec}:{';'.join(settings)}" if settings else self.codec


@dataclass(frozen=True)
class Noise(Degradation):
    """Additive white Gaussian noise, sigma on the 0-255 scale, fixed seed."""

    sigma: float
    seed: int = 0

    def __call__(self, image):
        if not 0 <= self.sigma <= 255:
            raise UserInputError(f"noise sigma {self.sigma} is outside [0, 255]")
        rng = np.random.default_rng(self.seed)
        noisy = image.astype(np.float32) + rng.normal(0.0, self.sigma, image.shape).astype(np.float32)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)

    def label(self):
        return f"noise σ={self.sigma:g}"

    def text(self):
        return f"noise:sigma={self.sigma:g};seed={self.seed}"


@dataclass(frozen=True)
class Blur(Degradation):
    """Gaussian blur of standard deviation ``sigma`` px, or linear motion blur of ``length`` px."""

    sigma: float = 0.0
    length: int = 0
    angle: float = 0.0

    def __call__(self, image):
        if self.length > 1:
            kernel = motion_kernel(self.length, self.angle)
            return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)
        if not 0 <= self.sigma <= 50:
            raise UserInputError(f"blur sigma {self.sigma} is outside [0, 50]")
        if self.sigma == 0:
            return image.copy()
        return cv2.GaussianBlur(image, (0, 0), self.sigma, borderType=cv2.BORDER_REFLECT)

    def label(self):
        return f"motion blur {self.length} px at {self.angle:g}°" if self.length > 1 else f"blur σ={self.sigma:g}"

    def text(self):
        return f"blur:length={self.length};angle={self.angle:g}" if self.length > 1 else f"blur:sigma={self.sigma:g}"


def motion_kernel(length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (length, length))
    return kernel / kernel.sum()


@dataclass(frozen=True)
class Downscale(Degradation):
    """Bicubic downscale by an integer factor, exactly as SR papers' MATLAB imresize (antialiased;
    see ``resize``); the image is first cropped to a multiple of the factor."""

    factor: int

    def __call__(self, image):
        if self.factor < 1 or self.factor > 16:
            raise UserInputError(f"downscale factor {self.factor} is outside [1, 16]")
        h, w = (s // self.factor * self.factor for s in image.shape[:2])
        if h == 0 or w == 0:
            raise UserInputError(f"the image is smaller than the downscale factor {self.factor}")
        return resize.downscale(image[:h, :w], self.factor)

    def label(self):
        return f"downscale ×{self.factor}"

    def text(self):
        return f"downscale:{self.factor}"


@dataclass(frozen=True)
class Chain(Degradation):
    """Degradations applied in order (e.g. blur -> downscale -> noise -> JPEG)."""

    steps: tuple

    def __call__(self, image):
        for step in self.steps:
            image = step(image)
        return image

    def describe(self):
        return {"kind": "chain", "steps": [s.describe() for s in self.steps]}

    def label(self):
        return " → ".join(step.label() for step in self.steps)

    def text(self):
        return ", ".join(step.text() for step in self.steps)


# -- the chain as text, and the degrade job ------------------------------------------------------
MAX_STEPS = 8


def parse_chain(text: str) -> Chain:
    """Steps separated by commas (or "->"), each ``kind[:value | :key=value;key=value]``, applied in
    order. Kinds: a codec name (``jpeg:q=10``, ``webp:bpp=0.3``, ``jpegxl:distance=2``; ``q`` is the
    codec's knob), ``noise:25`` (sigma; ``seed=``), ``blur:1.5`` (sigma; or ``length=;angle=``) and
    ``downscale:4``. Every mistake is one message naming the step."""
    parts = [p.strip() for p in str(text or "").replace("->", ",").replace("→", ",").split(",") if p.strip()]
    if not parts:
        raise UserInputError("the degradation chain is empty: give steps like 'jpeg:q=10, noise:25'")
    if len(parts) > MAX_STEPS:
        raise UserInputError(f"the chain has {len(parts)} steps; at most {MAX_STEPS}")
    return Chain(tuple(_parse_step(part) for part in parts))


def _parse_step(part: str) -> Degradation:
    kind, _, rest = part.partition(":")
    kind = kind.strip().lower()
    args = [a.strip() for a in rest.split(";") if a.strip()]
    named = dict(a.split("=", 1) for a in args if "=" in a)
    bare = [a for a in args if "=" not in a]
    if len(bare) > 1:
        raise UserInputError(f"step {part!r}: give one value, or key=value pairs separated by ';'")
    try:
        if kind == "noise":
            return Noise(
                _number(named.get("sigma", bare[0] if bare else None), part), int(_number(named.get("seed", 0), part))
            )
        if kind == "blur":
            if "length" in named:
                return Blur(length=int(_number(named["length"], part)), angle=_number(named.get("angle", 0), part))
            return Blur(sigma=_number(named.get("sigma", bare[0] if bare else None), part))
        if kind in ("downscale", "down"):
            return Downscale(int(_number(named.get("factor", bare[0] if bare else None), part)))
        return _compress_step(kind, named, bare, part)
    except (KeyError, TypeError) as exc:
        raise UserInputError(f"step {part!r}: unknown setting {exc}") from None


def _number(value, part: str) -> float:
    if value is None:
        raise UserInputError(f"step {part!r} needs a value")
    try:
        number = float(value)
    except ValueError:
        raise UserInputError(f"step {part!r}: {value!r} is not a number") from None
    if not np.isfinite(number):
        raise UserInputError(f"step {part!r}: {value!r} is not a finite number")
    return number


def _compress_step(kind: str, named: dict, bare: list, part: str) -> Compress:
    try:
        codec = codeclib.get(kind)
    except UserInputError:
        raise UserInputError(
            f"step {part!r}: unknown kind {kind!r}; use a codec name "
            f"({', '.join(codeclib.CODECS)}), noise, blur or downscale"
        ) from None
    if codec.knob is None:
        raise UserInputError(f"step {part!r}: {codec.name} is lossless, so it degrades nothing")
    bpp = named.pop("bpp", None)
    knob_value = named.pop("q", None) or (bare[0] if bare else None)
    if knob_value is not None:
        named[codec.knob.name] = knob_value
    if bpp is None and not named:
        raise UserInputError(f"step {part!r}: give {codec.knob.name} (q=...) or bpp=...")
    try:
        params = codec.resolve(named)  # checks names and ranges
    except UserInputError as exc:
        raise UserInputError(f"step {part!r}: {exc}") from None
    given = {k: params[k] for k in named}
    return Compress(codec.name, given, None if bpp is None else _number(bpp, part))


FORM_KINDS = ("codec", "noise", "blur", "downscale", "chain")


def form_chain(
    kind: str,
    *,
    codec: str | None = None,
    quality: float | None = None,
    bpp: float | None = None,
    sigma: float | None = None,
    seed: int = 0,
    blur: float | None = None,
    factor: int | None = None,
    text: str = "",
) -> Chain:
    """One step named by a form's fields, the app's Degrade form's and the CLI's options alike
    (``codec`` at ``bpp`` when given, else at ``quality``; ``noise`` of ``sigma``; ``blur``;
    ``downscale`` by ``factor``), or the chain ``text`` (kind "chain"), through the text
    ``parse_chain`` reads."""
    if kind == "codec":  # parse_chain refuses a lossless codec, naming the step
        if not bpp and quality is None:
            raise UserInputError("a codec step needs a quality or a target bpp")
        return parse_chain(f"{codec}:bpp={float(bpp):g}" if bpp else f"{codec}:q={float(quality):g}")
    texts = {
        "noise": lambda: f"noise:sigma={float(sigma):g};seed={int(seed)}",
        "blur": lambda: f"blur:{float(blur):g}",
        "downscale": lambda: f"downscale:{int(factor or 0)}",
        "chain": lambda: text,
    }
    if kind not in texts:
        raise UserInputError(f"unknown degradation {kind!r}; choose from {', '.join(FORM_KINDS)}")
    return parse_chain(texts[kind]())


@dataclass
class Degraded:
    """What a degrade job gives: the pixels, and the file's real bytes: the codec's own when the chain
    ends in a codec round trip (a JPEG keeps its quantisation tables for the restore step), else PNG."""

    image: np.ndarray = field(repr=False)
    data: bytes = field(repr=False)
    extension: str
    chain: Chain


def apply(image: np.ndarray, chain: Degradation) -> Degraded:
    """Run the chain on the canonical image; the last step, if a codec, is encoded once and its
    bytes kept."""
    steps = chain.steps if isinstance(chain, Chain) else (chain,)
    for step in steps[:-1]:
        image = step(image)
    last = steps[-1]
    if isinstance(last, Compress):
        codec, data = last.encode(image)
        return Degraded(codec.decode(data), data, codec.extension, Chain(tuple(steps)))
    pixels = last(image)
    return Degraded(pixels, codeclib.get("png").encode(pixels), ".png", Chain(tuple(steps)))
