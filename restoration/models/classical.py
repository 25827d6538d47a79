"""Classical restoration baselines: filters and scikit-image's denoisers.

Each takes a float32 HxWx3 image in [0, 1] and a noise level ``sigma`` on the 0-255 scale
(estimated from the image when not given) and returns the restored float image.
BM3D is not included: the PyPI ``bm3d`` package's licence does not allow us to ship it.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage import restoration as skr


def estimate_sigma(image: np.ndarray) -> float:
    """Noise standard deviation on the 0-255 scale (wavelet MAD estimator, channel average)."""
    return float(skr.estimate_sigma(image, channel_axis=2, average_sigmas=True)) * 255.0


def _sigma(image, sigma):
    return estimate_sigma(image) if sigma is None else float(sigma)


def gaussian(image, sigma=None):
    s = _sigma(image, sigma)
    # Filter width grows with the noise; 0.5 px for clean images keeps them nearly intact.
    return cv2.GaussianBlur(image, (0, 0), max(0.5, 0.04 * s))


def median(image, sigma=None):
    s = _sigma(image, sigma)
    size = 3 if s < 30 else 5
    as_uint8 = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    return cv2.medianBlur(as_uint8, size).astype(np.float32) / 255.0


def bilateral(image, sigma=None):
    s = _sigma(image, sigma)
    return cv2.bilateralFilter(image, d=7, sigmaColor=max(0.02, 2.0 * s / 255.0), sigmaSpace=3.0)


def total_variation(image, sigma=None):
    s = _sigma(image, sigma)
    return skr.denoise_tv_chambolle(image, weight=max(0.01, 0.6 * s / 255.0 * 2), channel_axis=2).astype(np.float32)


def wavelet(image, sigma=None):
    s = _sigma(image, sigma)
    return skr.denoise_wavelet(
        image,
        sigma=s / 255.0,
        channel_axis=2,
        convert2ycbcr=True,
        method="BayesShrink",
        mode="soft",
        rescale_sigma=True,
    ).astype(np.float32)


def non_local_means(image, sigma=None):
    s = _sigma(image, sigma) / 255.0
    return skr.denoise_nl_means(
        image, h=0.8 * s, sigma=s, fast_mode=True, patch_size=5, patch_distance=6, channel_axis=2
    ).astype(np.float32)
