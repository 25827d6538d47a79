"""Output formats: how a restore, upscale or batch result is written, as PNG, lossless WebP,
lossless JPEG XL, or any registry codec at a setting.

A format is written as text, the degradation chain's codec syntax (``degrade.parse_chain``):
``png``, ``webp`` and ``jpegxl`` (or ``jxl``) alone are lossless; ``avif:q=60``, ``jpeg:q=90``,
``webp:q=80``, ``jpegxl:distance=1``, ``heic:quality=50;chroma=444``, ``avif:bpp=0.5`` choose a
lossy codec at a setting (``q`` is the codec's knob); another codec's name alone takes its
defaults. ``format_for_path`` chooses by a file's extension (``.webp`` and ``.jxl`` lossless).
Which codecs a bare name makes lossless, and which extension names which codec, the codecs declare
(``Codec.lossless_output``, ``Codec.file_extensions``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from restoration import codecs as codeclib
from restoration.core.errors import UserInputError

DEFAULT = "png"


def lossless_formats() -> dict[str, dict]:
    """Codec name -> the settings its bare name means as an output, for the codecs whose bare name
    is lossless (``Codec.lossless_output``: a result is written to be kept, not to be degraded
    again); ``DEFAULT`` first."""
    found = {c.name: c.lossless_settings() for c in codeclib.CODECS.values() if c.lossless_output}
    return dict(sorted(found.items(), key=lambda item: item[0] != DEFAULT))


@dataclass(frozen=True)
class OutputFormat:
    """A codec and its settings (or a bpp budget) for writing a result."""

    codec: codeclib.Codec
    params: dict = field(default_factory=dict)
    bpp: float | None = None

    @property
    def extension(self) -> str:
        return self.codec.extension

    @property
    def lossless(self) -> bool:
        return self.bpp is None and self.codec.is_lossless(self.codec.resolve(self.params))

    def text(self) -> str:
        """The format in ``parse_format``'s syntax ("png", "webp", "avif:quality=60")."""
        if self.params == lossless_formats().get(self.codec.name) and self.bpp is None:
            return self.codec.name
        settings = [f"{k}={v}" for k, v in self.params.items()] + ([f"bpp={self.bpp:g}"] if self.bpp else [])
        return f"{self.codec.name}:{';'.join(settings)}" if settings else self.codec.name

    def label(self) -> str:
        """How a person reads it: "WebP lossless", "AVIF quality=60"."""
        if self.bpp is not None:
            return f"{self.codec.label} ≤{self.bpp:g} bpp"
        return f"{self.codec.label} {self.codec.setting_label(self.params)}"

    def encode(self, image: np.ndarray) -> bytes:
        if self.bpp is not None:
            budget = codeclib.Target(bpp=self.bpp).budget(image)
            return self.codec.encode_to_size(image, budget, **self.params).data
        return self.codec.encode_stoppable(image, **self.params)  # a request can stop it


def parse_format(text: str) -> OutputFormat:
    """``name[:value | :key=value;key=value]`` -> an output format; one message for any mistake."""
    kind, _, rest = str(text or "").strip().partition(":")
    try:
        codec = codeclib.get(kind)
    except UserInputError as exc:  # "unknown codec 'x'; choose from ..."
        raise UserInputError(f"output format {text!r}: {exc}") from None
    args = [a.strip() for a in rest.split(";") if a.strip()]
    named = dict(a.split("=", 1) for a in args if "=" in a)
    named = {k.strip(): v.strip() for k, v in named.items()}
    bare = [a for a in args if "=" not in a]
    if len(bare) > 1:
        raise UserInputError(f"output format {text!r}: give one value, or key=value pairs separated by ';'")
    knob = named.pop("q", None) or (bare[0] if bare else None)
    if knob is not None:
        if codec.knob is None:
            raise UserInputError(f"output format {text!r}: {codec.name} is lossless, it has no quality")
        named[codec.knob.name] = knob
    bpp = named.pop("bpp", None)
    if not named and bpp is None:
        return OutputFormat(codec, dict(lossless_formats().get(codec.name, {})))
    try:
        params = codec.resolve(named)  # names and ranges checked
        bpp = None if bpp is None else codeclib.Target(bpp=_number(bpp)).bpp
    except UserInputError as exc:
        raise UserInputError(f"output format {text!r}: {exc}") from None
    if bpp is not None and (codec.knob is None or codec.is_lossless(params)):
        raise UserInputError(f"output format {text!r}: a bpp budget needs a lossy codec")
    return OutputFormat(codec, {k: params[k] for k in named}, bpp)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserInputError(f"bpp {text!r} is not a number") from None


def format_for_path(path) -> OutputFormat:
    """The output format a file name asks for: .png PNG, .webp lossless WebP, .jxl lossless JPEG XL,
    another codec's extension that codec at its defaults (.jpg, .avif, .heic, .jp2, .rlh, ...)."""
    suffix = Path(path).suffix.lower()
    codec = codeclib.by_extension().get(suffix)
    if codec is None:
        written = ", ".join(sorted({c.extension for c in codeclib.CODECS.values()}))
        raise UserInputError(
            f"{Path(path).name}: cannot write {suffix or 'a file without an extension'}; name it {written}"
        )
    return parse_format(codec.name)


def same_file_type(a: OutputFormat, b: OutputFormat) -> bool:
    """Whether two formats write the same kind of file (jpeg and jpegli both write .jpg)."""
    return a.extension == b.extension


def encode_result(
    image: np.ndarray, fmt: str | OutputFormat = DEFAULT, setting: str | None = None
) -> tuple[bytes, str]:
    """A result's file: (its bytes, its extension). ``fmt`` is a format's text ("png", "webp",
    "jxl", "avif:q=60") or an ``OutputFormat``; ``setting`` the part after the colon, if apart."""
    if not isinstance(fmt, OutputFormat):
        fmt = parse_format(f"{fmt}:{setting}" if setting else fmt)
    elif setting:
        fmt = parse_format(f"{fmt.codec.name}:{setting}")
    return fmt.encode(image), fmt.extension


def choices() -> list[tuple[str, str]]:
    """(label, format text) for a format menu: the lossless formats, then each available lossy codec
    at its default setting."""
    lossless = [parse_format(name) for name in lossless_formats()]
    lossy = [
        OutputFormat(c, {c.knob.name: c.param(c.knob.name).default})
        for c in codeclib.CODECS.values()
        if c.knob is not None and c.unavailable_reason() is None
    ]
    return [(fmt.label(), fmt.text()) for fmt in (*lossless, *lossy)]
