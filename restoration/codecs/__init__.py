"""Image codecs behind one small interface, and their registry.

Every codec encodes the canonical uint8 RGB array to real bytes and decodes bytes back to it.
A lossy codec names one *knob* (its quality-like parameter) that sweeps and the target-size
search move; ``encode_to_size`` finds the best setting that fits a byte budget.

The registry, ``CODECS``, is the one list of codecs: the shipped ones below, and any added with
``register``. Everything else that names codecs, formats or file extensions derives from it (the
input door, the output formats, the CLI, the tabs, sweeps, the benchmark's provenance).
"""

from __future__ import annotations

import struct

import numpy as np

from restoration.codecs.base import Codec, CodecError, Encoded, Knob, Param, Target
from restoration.codecs.extra import HEIF, Jpegli, OxiPNG
from restoration.codecs.pillow import AVIF, JPEG, JPEG2000, JPEGXL, PNG, WebP, jxl_quality_from_distance
from restoration.core import manifest as manifestlib
from restoration.core.errors import UserInputError


class LearnedCodec(Codec):
    """Our trained transform codec v1 (``codecs.learned``: factorized entropy model): real
    range-coded bytes, decoded from the bytes alone. Torch and the weights load on first use."""

    name, label, extension, mime = "neural", "Learned v1 (ours)", ".rlc", "application/x-restoration-lab-codec"
    packages = ("torch", "constriction")
    description = (
        "Our first learned codec: GDN autoencoder, factorized entropy model, range coding "
        "(weights/neural-codec); the hyperprior codec beats it at every rate"
    )
    params = (Param("quality", int, 3, 1, 5, help="rate point, 1 = smallest file"),)
    knob = Knob("quality", True, (1, 2, 3, 4, 5))
    module, model_id, magic = "learned", "neural-codec", b"RL"
    # The stream header learned.HEADER writes (magic, version, rate point, height, width), read here
    # without importing torch so that the input door can size a file before decoding it.
    header = struct.Struct(">2sBBHH")

    def _model(self):
        from restoration.codecs import hyperprior, learned  # noqa: PLC0415  torch loads here, on first use

        return {"learned": learned, "hyperprior": hyperprior}[self.module].shipped(self.model_id)

    def encode(self, image: np.ndarray, **params) -> bytes:
        return self._model().compress(image, self.resolve(params)["quality"])

    def decode(self, data: bytes) -> np.ndarray:
        try:
            return self._model().decompress(data)
        except UserInputError as exc:
            raise CodecError(f"{self.name} could not decode these bytes: {exc}") from None

    def recognizes(self, data: bytes) -> bool:
        return data[:2] == self.magic

    def header_size(self, data: bytes) -> tuple[int, int] | None:
        if len(data) < self.header.size or not self.recognizes(data):
            raise CodecError(f"not a {self.label} stream (its header is cut short)")
        _, _, _, height, width = self.header.unpack_from(data)
        return width, height

    def weights_sha256(self) -> str | None:
        return manifestlib.section("codecs").get(self.model_id, {}).get("sha256")

    def unavailable_reason(self) -> str | None:
        if self.weights_sha256() is None:
            return f"its weights (weights/{self.model_id}) are not trained yet"
        return None


class LearnedHyperprior(LearnedCodec):
    """Our trained transform codec v2 (``codecs.hyperprior``): mean-scale hyperprior."""

    name, label, extension = "neural-hp", "Learned (ours)", ".rlh"
    aliases = ("hyperprior", "learned")
    description = (
        "Our learned codec (v2, the default): GDN autoencoder, mean-scale hyperprior with a checkerboard "
        "context, Gaussian range coding (weights/neural-hp)"
    )
    params = (Param("quality", int, 5, 1, 10, help="rate point, 1 = smallest file (1-9 trained, 10 extrapolated)"),)
    knob = Knob("quality", True, (1, 2, 3, 4, 5, 6, 7, 8, 9, 10))
    module, model_id, magic = "hyperprior", "neural-hp", b"RH"


# The shipped codecs, in the order tables and menus list them. A new codec is one line here (or a
# ``register`` call from outside the package): its class declares everything the lab asks of it.
SHIPPED: tuple[Codec, ...] = (
    JPEG(),
    JPEG2000(),
    WebP(),
    AVIF(),
    JPEGXL(),
    PNG(),
    LearnedHyperprior(),
    LearnedCodec(),
    HEIF(),
    Jpegli(),
    OxiPNG(),
)
CODECS: dict[str, Codec] = {c.name: c for c in SHIPPED}
ALIASES: dict[str, str] = {alias: c.name for c in SHIPPED for alias in c.aliases}


def register(codec: Codec) -> Codec:
    """Add a codec to the registry, after those already there; from then on every list of codecs,
    input formats, output formats and file extensions has it. Refused when its name or an alias is
    taken, or it does not name its file extension."""
    key = codec.name.strip().lower()
    if not key or key != codec.name:
        raise UserInputError(f"a codec's name is lower-case and not empty, got {codec.name!r}")
    taken = [n for n in (key, *codec.aliases) if n in CODECS or n in ALIASES]
    if taken:
        raise UserInputError(f"codec {key!r}: the name {taken[0]!r} is already registered")
    if not codec.extension.startswith(".") or not codec.label:
        raise UserInputError(f"codec {key!r} needs a label and a file extension such as '.xyz'")
    CODECS[key] = codec
    ALIASES.update({alias: key for alias in codec.aliases})
    return codec


def unregister(name: str) -> Codec:
    """Take a codec (by its name) out of the registry again; returns it."""
    if name not in CODECS:
        raise UserInputError(f"unknown codec {name!r}; choose from {', '.join(CODECS)}")
    codec = CODECS.pop(name)
    for alias in codec.aliases:
        ALIASES.pop(alias, None)
    return codec


def get(name: str) -> Codec:
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in CODECS:
        raise UserInputError(f"unknown codec {name!r}; choose from {', '.join(CODECS)}")
    return CODECS[key]


def sniff(data: bytes) -> Codec | None:
    """Which registered codec wrote these bytes (by magic number), if any."""
    return next((codec for codec in CODECS.values() if codec.recognizes(data)), None)


def by_extension() -> dict[str, Codec]:
    """Extension (lower case, with its dot) -> the codec whose files it names: each codec's own
    extension first (the first registered wins, so .jpg is libjpeg's JPEG and .png zlib's PNG),
    then their other names (.jpeg, .heif, .j2k)."""
    found: dict[str, Codec] = {}
    for codec in CODECS.values():
        found.setdefault(codec.extension.lower(), codec)
    for codec in CODECS.values():
        for extension in codec.file_extensions():
            found.setdefault(extension, codec)
    return found


def packages() -> tuple[str, ...]:
    """The distributions whose versions decide some codec's bytes or pixels, sorted."""
    return tuple(sorted({p for c in CODECS.values() for p in c.packages}))


def pillow_features() -> tuple[str, ...]:
    """The Pillow libraries (``PIL.features`` names) some codec codes with, in registry order."""
    return tuple(dict.fromkeys(f for c in CODECS.values() for f in c.pillow_features))


__all__ = [
    "ALIASES",
    "CODECS",
    "SHIPPED",
    "Codec",
    "CodecError",
    "Encoded",
    "Knob",
    "Param",
    "Target",
    "by_extension",
    "get",
    "packages",
    "pillow_features",
    "register",
    "sniff",
    "unregister",
    "jxl_quality_from_distance",
]
