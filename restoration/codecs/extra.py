"""The codecs people ship beyond Pillow's own: HEIC/HEIF (libheif with x265, ``pillow-heif``), JPEG
by Google's jpegli encoder (``pyjpegli``; an ordinary JPEG, decoded by Pillow) and PNG optimised
by OxiPNG (``pyoxipng``). A codec whose package is missing reports it (``unavailable_reason``) and
refuses to encode with that message; nothing breaks at import."""

from __future__ import annotations

import functools
import importlib.util
import io

import numpy as np

from restoration.codecs.base import Codec, CodecError, Knob, Param
from restoration.core import image as imagelib


class _Packaged(Codec):
    """A codec that needs a package: ``package`` (import name) and ``install`` (pip name)."""

    package = install = ""

    def unavailable_reason(self) -> str | None:
        return None if importlib.util.find_spec(self.package) else f"needs the {self.install} package"

    def _require(self) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise CodecError(f"{self.name} is not available here: {reason} (pip install {self.install})")


@functools.cache
def _heif_plugin() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()


class HEIF(_Packaged):
    name, label, extension, mime, pillow_format = "heic", "HEIC", ".heic", "image/heic", "HEIF"
    package, install = "pillow_heif", "pillow-heif"
    extensions, aliases = (".heif", ".hif"), ("heif",)
    packages = ("pillow", "pillow-heif")
    description = "HEIC/HEIF: HEVC intra (libheif with x265, pillow-heif), 8 bit, as iPhones save photos"
    params = (
        Param("quality", int, 50, 1, 100, help="x265 quality through libheif"),
        Param("chroma", str, "420", choices=("420", "422", "444"), help="chroma subsampling"),
    )
    knob = Knob("quality", True, (10, 20, 30, 40, 50, 60, 70, 80, 90))

    def save_kwargs(self, p):
        return {"quality": p["quality"], "chroma": int(p["chroma"])}

    def encode(self, image, **params):
        self._require()
        _heif_plugin()
        return super().encode(image, **params)

    def decode(self, data):
        self._require()
        _heif_plugin()
        return super().decode(data)

    def recognizes(self, data):
        return data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc")


class Jpegli(_Packaged):
    name, label, extension, mime, pillow_format = "jpegli", "JPEG (jpegli)", ".jpg", "image/jpeg", "JPEG"
    package, install = "pyjpegli", "pyjpegli"
    packages, pillow_features = ("pyjpegli", "pillow"), ("libjpeg_turbo",)  # decoded by Pillow's libjpeg-turbo
    description = (
        "JPEG by jpegli, the encoder from libjxl (pyjpegli): an ordinary JPEG any decoder reads "
        "(decoded here by Pillow's libjpeg-turbo), beside libjpeg-turbo's own as 'JPEG'"
    )
    params = (Param("quality", int, 75, 1, 100, help="jpegli quality (libjpeg scale)"),)
    knob = Knob("quality", True, (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95))

    def encode(self, image, **params):
        self._require()
        import pyjpegli

        quality = self.resolve(params)["quality"]
        image = np.ascontiguousarray(image)
        try:
            return pyjpegli.encode(image.tobytes(), image.shape[1], image.shape[0], quality)
        except Exception as exc:  # the binding raises its own error types
            raise CodecError(f"{self.name} could not encode this image: {exc}") from None


class OxiPNG(_Packaged):
    name, label, extension, mime, pillow_format = "oxipng", "PNG (OxiPNG)", ".png", "image/png", "PNG"
    package, install = "oxipng", "pyoxipng"
    packages = ("pyoxipng", "pillow")
    description = "PNG optimised by OxiPNG (pyoxipng): lossless, smaller than zlib level 9, slower"
    params = (Param("level", int, 2, 0, 6, help="OxiPNG optimisation preset, 6 = smallest"),)

    def encode(self, image, **params):
        self._require()
        import oxipng

        level = self.resolve(params)["level"]
        buffer = io.BytesIO()
        imagelib.to_pil(image).save(buffer, format="PNG", compress_level=1)
        try:
            return oxipng.optimize_from_memory(buffer.getvalue(), level=level)
        except Exception as exc:
            raise CodecError(f"{self.name} could not encode this image: {exc}") from None
