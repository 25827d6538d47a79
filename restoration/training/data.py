"""Training data: degradation samplers (progress in [0, 1] -> a degradation), the training
images, and the endless stream of (degraded, clean[, condition]) patches with augmentations."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from restoration import codecs as codeclib
from restoration import degrade
from restoration.codecs import jpeg2000_ratio
from restoration.core import image as imagelib
from restoration.core import manifest as manifestlib
from restoration.core import resize
from restoration.models import condition

DATA_ROOT = manifestlib.DATA_ROOT

# -- degradation samplers: progress in [0, 1] -> a degradation -----------------------------------
BLIND_CODECS = ("jpeg", "jpeg", "webp", "avif", "jpeg2000")  # JPEG twice: the commonest case


def compression_sampler(progress: float, rng: random.Random) -> degrade.Degradation:
    """Curriculum over compression strength: light at the start, the whole range (down to very
    low quality) from 60% of training on."""
    reach = min(1.0, 0.3 + progress / 0.6 * 0.7)  # fraction of the quality range opened so far
    codec = rng.choice(BLIND_CODECS)
    if codec == "jpeg2000":
        # compression ratio 12 (2 bpp) .. 160 (0.15 bpp); heavy end opens with the curriculum
        rate = 12 * (160 / 12) ** (rng.random() * reach)
        return degrade.Compress("jpeg2000", {"rate": round(rate, 2)})
    low, high = {"jpeg": (5, 60), "webp": (2, 60), "avif": (5, 55)}[codec]
    quality = int(round(high - rng.random() * reach * (high - low)))
    params = {"quality": quality}
    if codec == "avif":
        params["speed"] = 8  # faster encoder for training; artifacts of the same kind
    return degrade.Compress(codec, params)


@dataclass(frozen=True)
class CodeStreamRatio(degrade.Compress):
    """JPEG 2000 at ``params["rate"]`` as the ratio of its tiles alone (``codecs.jpeg2000_ratio``),
    which is what a whole photo's file ratio nearly is and what a file tells at run time. Why:
    the 226 header bytes are a large share of a patch's file, so a 96-px patch saved at 80:1
    carries 200-240:1 in its tiles (measured), and a network told the file's ratio learnt a scale
    too heavy for photos (Kodak24 at 0.3 bpp: +0.38 dB told against +0.45 blind)."""

    def encode(self, image) -> tuple[codeclib.Codec, bytes]:
        codec, data = super().encode(image)
        header = jpeg2000_ratio.header_bytes(data) or 0
        raw = image.size
        rate = raw / (raw / float(self.params["rate"]) + header)
        return codec, codec.encode(image, **{**self.params, "rate": max(1.0, rate)})


def full_range_sampler(progress: float, rng: random.Random) -> degrade.Degradation:
    """Every strength people meet, from JPEG q5 to q95 (and WebP, AVIF, JPEG 2000 from very low
    to high quality), drawn more often at the heavy end where the artifacts are. JPEG 2000's ratio
    is its tiles' (``CodeStreamRatio``; before deeprecnet-qa-codecs' stage 2, the file's)."""
    codec = rng.choice(BLIND_CODECS)
    heavy_first = rng.random() ** 1.5  # 0 = heaviest
    if codec == "jpeg2000":
        return CodeStreamRatio("jpeg2000", {"rate": round(6 * (160 / 6) ** (1 - heavy_first), 2)})
    low, high = {"jpeg": (5, 95), "webp": (2, 90), "avif": (5, 80)}[codec]
    params = {"quality": int(round(low + heavy_first * (high - low)))}
    if codec == "avif":
        params["speed"] = 8
    return degrade.Compress(codec, params)


def jpeg_condition(degradation, rng: random.Random, known_share: float = 1.0) -> np.ndarray:
    """What a quality-aware network is told: (quality / 100, 1) for a JPEG round trip, whose
    quality the file's tables give at run time, in ``known_share`` of the draws; else (0, 0),
    unknown (another codec, or a PNG of a decoded JPEG), where it must run blind."""
    if (
        isinstance(degradation, degrade.Compress)
        and degradation.codec == "jpeg"
        and "quality" in degradation.params
        and rng.random() < known_share
    ):
        return np.array([degradation.params["quality"] / 100.0, 1.0], np.float32)
    return np.zeros(2, np.float32)


def compression_condition(
    degradation,
    rng: random.Random,
    codecs: tuple[str, ...] = (),
    mix: tuple[float, float, float] = condition.TRAINING_MIX,
) -> np.ndarray:
    """What a quality-aware network is told of a patch (``models.condition.vector``). Without
    ``codecs``, the first networks' JPEG-only condition (``jpeg_condition``, 80 % told). With them,
    the codec and its strength, except in shares ``mix`` = (neither: a PNG of a decoded file; the
    codec alone: a WebP file whose quality nobody knows; the strength alone: a user's override on
    a PNG); validation uses ``mix=(0, 0, 0)``, everything told."""
    if not codecs:
        return jpeg_condition(degradation, rng, 0.8 if any(mix) else 1.0)
    codec = degradation.codec if isinstance(degradation, degrade.Compress) else None
    strength = condition.strength_of(codec, degradation.params) if codec else None
    draw = rng.random()
    blind, codec_only, strength_only = mix
    if draw < blind + codec_only:
        strength = None
    if draw < blind or blind + codec_only <= draw < blind + codec_only + strength_only:
        codec = None
    return condition.vector(strength, codec, codecs)


def noise_sampler(progress: float, rng: random.Random) -> degrade.Degradation:
    return degrade.Noise(sigma=rng.uniform(0.0, 50.0), seed=rng.randrange(2**31))


def combined_sampler(progress: float, rng: random.Random) -> degrade.Degradation:
    """The survey's combined degradation: blur, then noise, then (often) JPEG."""
    steps = [degrade.Blur(sigma=rng.uniform(0.0, 2.0))]
    steps.append(degrade.Noise(sigma=rng.uniform(0.0, 25.0), seed=rng.randrange(2**31)))
    if rng.random() < 0.7:
        steps.append(degrade.Compress("jpeg", {"quality": rng.randint(20, 80)}))
    return degrade.Chain(tuple(steps))


def _downscale_sampler(factor: int) -> Callable[[float, random.Random], degrade.Degradation]:
    """Super-resolution pairs by the standard protocol: MATLAB-bicubic downscale of the patch."""
    return lambda progress, rng: degrade.Downscale(factor)


def unchanged(image: np.ndarray) -> np.ndarray:
    return image


def clean_sampler(progress: float, rng: random.Random) -> Callable[[np.ndarray], np.ndarray]:
    """No degradation: the learned codec trains on clean patches (its target is its input)."""
    return unchanged


SAMPLERS: dict[str, Callable[[float, random.Random], degrade.Degradation]] = {
    "clean": clean_sampler,
    "compression": compression_sampler,
    "compression_full": full_range_sampler,
    "noise": noise_sampler,
    "combined": combined_sampler,
    "sr_x2": _downscale_sampler(2),
    "sr_x4": _downscale_sampler(4),
}


def training_images(
    folders=("train/BSD400", "train/T91"),
    root: Path = DATA_ROOT,
    limit: int | None = None,
    exclude: set[str] | None = None,
) -> list[np.ndarray]:
    paths = []
    for folder in folders:
        paths += sorted((root / folder).glob("*.png"))
    paths = [p for p in paths if not exclude or p.name not in exclude][:limit]
    if not paths:
        raise FileNotFoundError(f"no training images under {root}")
    return [imagelib.load(p) for p in paths]


def with_rescaled(images: list[np.ndarray], scales=()) -> list[np.ndarray]:
    """The images plus their antialiased bicubic downscales by each factor in ``scales`` (< 1).
    Why: BSD400's "clean" photos carry film grain and faint JPEG traces, which a denoiser learns to
    treat as noise to remove; halving a photo about halves i.i.d. grain per pixel (tested) and packs
    detail denser. Stage 6 of deeprecnet-denoise, half its patches from such copies, gained 0.17 dB
    on McMaster at sigma 15 in 1000 steps (the notebook's record)."""
    rescaled = [resize.imresize(image, scale) for scale in scales for image in images]
    return list(images) + rescaled


class PatchStream(torch.utils.data.IterableDataset):
    """Endless (degraded, clean) float32 CHW patch pairs with flips and 90-degree rotations and,
    with ``channel_shuffle``, a random order of the RGB channels (six times the colours the
    training photos show, for degradations that treat the channels alike, such as noise) and, with
    ``saturation_boost`` k > 0, half the patches made more saturated (``boost_saturation``)."""

    def __init__(
        self,
        images,
        patch: int,
        sampler: str,
        total_samples: int,
        seed: int = 0,
        curriculum_from: float = 0.0,
        channel_shuffle: bool = False,
        saturation_boost: float = 0.0,
        condition: bool = False,
        codecs: tuple[str, ...] = (),
    ):
        self.images = [im for im in images if min(im.shape[:2]) >= patch]
        self.patch, self.sampler, self.total, self.seed = patch, sampler, total_samples, seed
        self.curriculum_from, self.channel_shuffle = curriculum_from, channel_shuffle
        self.saturation_boost, self.condition, self.codecs = saturation_boost, condition, tuple(codecs)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        workers, worker_id = (info.num_workers, info.id) if info else (1, 0)
        rng = random.Random(self.seed * 1000 + worker_id)
        sample = SAMPLERS[self.sampler]
        produced = 0
        while True:
            image = rng.choice(self.images)
            y = rng.randrange(image.shape[0] - self.patch + 1)
            x = rng.randrange(image.shape[1] - self.patch + 1)
            clean = image[y : y + self.patch, x : x + self.patch]
            k = rng.randrange(8)
            clean = np.rot90(clean[:, ::-1] if k >= 4 else clean, k % 4)
            if self.channel_shuffle:
                clean = clean[..., rng.sample(range(3), 3)]
            if self.saturation_boost > 0 and rng.random() < 0.5:
                clean = boost_saturation(clean, 1.0 + rng.uniform(0.0, self.saturation_boost))
            clean = np.ascontiguousarray(clean)
            done = min(1.0, produced * workers / max(1, self.total))
            progress = self.curriculum_from + (1.0 - self.curriculum_from) * done
            degradation = sample(progress, rng)
            degraded = degradation(clean)
            produced += 1
            if self.condition:  # a quality-aware network: also what it is told of the strength
                told = compression_condition(degradation, rng, self.codecs)
                yield to_tensor(degraded), to_tensor(clean), torch.from_numpy(told)
            else:
                yield to_tensor(degraded), to_tensor(clean)


def boost_saturation(image: np.ndarray, exponent: float) -> np.ndarray:
    """HSV saturation S -> 1 - (1 - S)**exponent at the same hue and value (the channel maximum), so
    every pixel stays in gamut without clipping. Why: McMaster's mean saturation is 0.55, BSD400's
    0.38; a denoiser that has rarely seen strong chroma detail smooths it away as noise."""
    x = image.astype(np.float32)
    high = x.max(axis=2, keepdims=True)
    saturation = (high - x.min(axis=2, keepdims=True)) / np.maximum(high, 1e-6)
    # Grey pixels (saturation 0) get ratio 0, but their high - x is 0 too: they stay as they are.
    ratio = (1.0 - (1.0 - saturation) ** exponent) / np.maximum(saturation, 1e-6)
    return np.clip(np.rint(high - (high - x) * ratio), 0, 255).astype(np.uint8)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(imagelib.to_float(image)).permute(2, 0, 1)
