"""Degradations: the same functions make the app's inputs, the benchmarks and the training pairs.

Every degradation maps the canonical uint8 RGB array to a degraded uint8 RGB array, is seeded
where it is random, and describes itself as a short dict so a chain can be recorded and replayed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from restoration import codecs as codeclib
from restoration import evaluate
from restoration import resize
from restoration.errors import UserInputError


@dataclass(frozen=True)
class Degradation:
    def __call__(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"kind": type(self).__name__.lower(), **self.__dict__}


@dataclass(frozen=True)
class Compress(Degradation):
    """Round trip through a codec at its settings, or at a bpp budget."""

    codec: str
    params: dict = field(default_factory=dict)
    bpp: float | None = None

    def __call__(self, image):
        codec = codeclib.get(self.codec)
        if self.bpp is not None:
            data = codec.encode_to_size(image, evaluate.Target(bpp=self.bpp).budget(image), **self.params).data
        else:
            data = codec.encode(image, **self.params)
        return codec.decode(data)

    def describe(self):
        return {"kind": "compress", "codec": self.codec, "params": dict(self.params), "bpp": self.bpp}


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
