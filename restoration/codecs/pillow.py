"""The codecs Pillow and its plugins provide: JPEG, JPEG 2000, WebP, AVIF, JPEG XL and PNG."""

from __future__ import annotations

import math

from restoration.codecs.base import Codec, Encoded, Knob, Param
from restoration.core import plugins
from restoration.core.errors import UserInputError

_SUBSAMPLING = ("4:4:4", "4:2:2", "4:2:0")


class JPEG(Codec):
    name, label, extension, mime, pillow_format = "jpeg", "JPEG", ".jpg", "image/jpeg", "JPEG"
    description = "Baseline/progressive JPEG (libjpeg via Pillow)"
    extensions, aliases = (".jpeg", ".jfif", ".jpe"), ("jpg",)
    packages, pillow_features = ("pillow",), ("libjpeg_turbo",)
    params = (
        Param("quality", int, 75, 1, 100, help="libjpeg quality"),
        Param("subsampling", str, "4:2:0", choices=_SUBSAMPLING, help="chroma subsampling"),
        Param("progressive", bool, False, help="progressive scan order"),
        Param("optimize", bool, False, help="optimised Huffman tables"),
    )
    knob = Knob("quality", True, (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95))

    def save_kwargs(self, p):
        return {
            "quality": p["quality"],
            "subsampling": p["subsampling"],
            "progressive": p["progressive"],
            "optimize": p["optimize"],
        }


class JPEG2000(Codec):
    name, label, extension, mime, pillow_format = "jpeg2000", "JPEG 2000", ".jp2", "image/jp2", "JPEG2000"
    description = "JPEG 2000 (OpenJPEG via Pillow): compression-rate or PSNR target, or lossless 5/3"
    extensions, aliases = (".j2k", ".jpx", ".jpf", ".jpc", ".j2c"), ("jp2", "j2k")
    packages, pillow_features = ("pillow",), ("jpg_2000",)
    lossless_params = {"mode": "lossless"}
    params = (
        Param(
            "mode",
            str,
            "rate",
            choices=("rate", "psnr", "lossless"),
            help="rate: hit a compression ratio; psnr: hit a PSNR in dB; lossless: reversible 5/3",
        ),
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
            data = self.encode_stoppable(image, **fixed, mode="rate", rate=rate)
            if len(data) <= target_bytes or rate >= 2000.0:
                break
            rate = min(rate * len(data) / target_bytes * 1.01, 2000.0)
        return Encoded(data, self.resolve({**fixed, "mode": "rate", "rate": round(rate, 4)}), target_bytes)


class WebP(Codec):
    name, label, extension, mime, pillow_format = "webp", "WebP", ".webp", "image/webp", "WEBP"
    description = "WebP (libwebp via Pillow), lossy or lossless"
    packages, pillow_features = ("pillow",), ("webp",)
    lossless_params, lossless_output = {"lossless": True}, True
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
    packages, pillow_features = ("pillow", "pillow-avif-plugin"), ("avif",)
    params = (
        Param("quality", int, 60, 0, 100, help="libavif quality"),
        Param("speed", int, 6, 0, 10, help="encoder speed, 10 = fastest"),
        Param("subsampling", str, "4:2:0", choices=_SUBSAMPLING, help="chroma subsampling"),
        Param("encoder", str, "auto", choices=("auto", "aom", "svt", "rav1e"), help="AV1 encoder"),
    )
    knob = Knob("quality", True, (5, 15, 25, 35, 45, 55, 65, 75, 85, 92))

    def save_kwargs(self, p):
        return {"quality": p["quality"], "speed": p["speed"], "subsampling": p["subsampling"], "codec": p["encoder"]}


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
    aliases = ("jxl", "jpeg-xl")
    packages = ("pillow", "pillow-jxl-plugin")
    lossless_params, lossless_output = {"lossless": True}, True
    params = (
        Param("quality", float, 75.0, 0.0, 100.0, help="libjxl quality (ignored when distance > 0)"),
        Param("distance", float, 0.0, 0.0, 25.0, help="Butteraugli distance; 0 = use quality, 1.0 = visually lossless"),
        Param("effort", int, 7, 1, 9, help="encoder effort, 9 = slowest and smallest"),
        Param("lossless", bool, False, help="lossless mode (bit-exact)"),
    )
    knob = Knob("quality", True, (10, 20, 30, 40, 50, 60, 70, 80, 90, 95))

    def setting_label(self, params: dict) -> str:
        resolved = self.resolve(params)
        if not self.is_lossless(resolved) and resolved.get("distance", 0) > 0:
            return f"distance={resolved['distance']}"  # the distance decided, not the quality
        return super().setting_label(params)

    def is_lossless(self, params=None):
        p = params or {}
        return bool(p.get("lossless")) or p.get("quality", 0) >= 100 or 0 < p.get("distance", 0) <= 0.1

    def save_kwargs(self, p):
        quality = jxl_quality_from_distance(p["distance"]) if p["distance"] > 0 else p["quality"]
        # libjxl's lossy mode refuses distance 0 (quality 100); that end of the range means lossless.
        lossless = p["lossless"] or quality >= 100.0
        return {
            "quality": min(quality, 100.0),
            "effort": p["effort"],
            "lossless": lossless,
            "num_threads": plugins.ENCODE_THREADS,
        }  # the app's limit (core.plugins.limit_threads)

    def encode_to_size(self, image, target_bytes, **params):
        params = {k: v for k, v in params.items() if k != "distance"}
        return super().encode_to_size(image, target_bytes, **params)


class PNG(Codec):
    name, label, extension, mime, pillow_format = "png", "PNG", ".png", "image/png", "PNG"
    description = "PNG (zlib via Pillow), lossless"
    packages, pillow_features = ("pillow",), ("zlib",)
    lossless_output = True
    params = (Param("compress_level", int, 6, 0, 9, help="zlib level, 9 = smallest"),)

    def save_kwargs(self, p):
        return {"compress_level": p["compress_level"]}
