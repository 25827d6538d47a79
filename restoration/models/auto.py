"""Auto: read what an image holds and choose the restorers for it, in the right order.

``analyse`` looks at what the file says (the codec that wrote it, a JPEG's quality from its
tables, a JPEG 2000 file's strength: the caller passes them, as every restore call does) and at
the pixels (a noise estimate, 8x8 block edges, a blur cue). ``plan`` turns those findings into a
short chain of the registry's default models: noise first (the artifact networks were trained on
noise-free compression), then compression artifacts, or the combined model for a blurred image;
nothing when nothing was found. The plan's ``note`` says what was found and what runs, so the
person sees why, and can pick a model instead.

Thresholds were set on the 8 held-out BSD400 validation images (``bench/auto_restore.py``
re-measures them on the bench sets): the wavelet noise estimate of clean photos lies at 0.9-4.8,
of noise sigma 5 at 5.3-8.6; a lossy codec's own quantisation raises it (JPEG q90 up to 6.3), so a
coded file needs more before it is called noisy. The block-edge ratio (luma steps across 8x8
borders over steps inside) is 0.99-1.06 on clean photos, 1.15-1.46 at JPEG q50, 1.2-1.45 for JPEG
q10 under noise sigma 15. A blur of sigma 1.5 brings the noise estimate to 0.30-0.35, while an
AVIF decoded to PNG stays at 0.43 and above.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from restoration.core import image as imagelib
from restoration.models import classical

AUTO = "auto"
NOISE_SIGMA = 6.0  # noise estimate (0-255) above which an uncoded image is denoised first
NOISE_SIGMA_CODED = 10.0  # the same for a file a lossy codec wrote (its quantisation adds to the estimate)
BLOCK_EDGES = 1.15  # block-edge ratio above which the pixels carry JPEG's 8x8 blocks
BLURRED_SIGMA = 0.4  # below this noise estimate, with no codec and no block edges: taken as blurred
CODEC_LABELS = {"jpeg": "JPEG", "webp": "WebP", "avif": "AVIF", "jpeg2000": "JPEG 2000"}


@dataclass(frozen=True)
class Findings:
    """What an image holds, from its file and its pixels."""

    codec: str | None  # the lossy codec that wrote the file (or that the caller named)
    strength: float | None  # its quality (a JPEG's from its tables), 1-100
    sigma: float  # wavelet estimate of Gaussian noise, 0-255
    block_edges: float  # luma steps across 8x8 borders / steps inside (1.0: no blocks)

    @property
    def noisy(self) -> bool:
        return self.sigma >= (NOISE_SIGMA_CODED if self.codec else NOISE_SIGMA)

    @property
    def blocky(self) -> bool:
        return self.block_edges >= BLOCK_EDGES

    @property
    def compressed(self) -> bool:
        return self.codec is not None or self.blocky

    @property
    def blurred(self) -> bool:
        return not self.compressed and self.sigma < BLURRED_SIGMA

    def describe(self) -> str:
        found = []
        if self.noisy:
            found.append(f"noise σ≈{self.sigma:.0f}")
        if self.codec:
            quality = f" q{self.strength:.0f}" if self.strength else ""
            found.append(f"{CODEC_LABELS.get(self.codec, self.codec)}{quality}")
        elif self.blocky:
            found.append(f"JPEG-like 8x8 blocks (edge ratio {self.block_edges:.2f})")
        if self.blurred:
            found.append(f"blur (almost no fine detail: noise estimate {self.sigma:.2f})")
        return " and ".join(found)

    def row(self) -> dict:
        return {
            "found_codec": self.codec,
            "found_strength": self.strength,
            "found_sigma": round(self.sigma, 2),
            "found_block_edges": round(self.block_edges, 3),
        }


def block_edges(image: np.ndarray) -> float:
    """Mean luma step across 8x8 block borders over the mean step inside blocks (JPEG's grid)."""
    luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    if min(luma.shape) < 16:
        return 1.0
    dx, dy = np.abs(np.diff(luma, axis=1)), np.abs(np.diff(luma, axis=0))
    across = dx[:, 7::8].mean() + dy[7::8, :].mean()
    inside = np.delete(dx, np.s_[7::8], axis=1).mean() + np.delete(dy, np.s_[7::8], axis=0).mean()
    return float(across / inside) if inside > 0 else 1.0


def analyse(image: np.ndarray, codec: str | None = None, strength: float | None = None) -> Findings:
    """The findings for a canonical image whose file was written by ``codec`` at ``strength``."""
    sigma = classical.estimate_sigma(imagelib.to_float(image))
    return Findings(codec or None, float(strength) if strength else None, sigma, block_edges(image))


@dataclass(frozen=True)
class Step:
    task: str  # a registry task: its default model runs
    model: str
    options: dict = field(default_factory=dict)

    @property
    def action(self) -> str:
        return {"denoise": "denoise", "jpeg": "remove the artifacts", "combined": "deblur"}[self.task]


@dataclass(frozen=True)
class Plan:
    findings: Findings
    steps: tuple[Step, ...]

    def note(self) -> str:
        """ "noise σ≈15 and JPEG-like 8x8 blocks → denoise (deeprecnet-denoise), then remove the
        artifacts (deeprecnet-qa-codecs)"; or why nothing ran."""
        if not self.steps:
            return (
                "no noise, compression or blur found (noise estimate "
                f"{self.findings.sigma:.1f}, block-edge ratio {self.findings.block_edges:.2f}): returned unchanged"
            )
        actions = ", then ".join(f"{step.action} ({step.model})" for step in self.steps)
        return f"{self.findings.describe()} → {actions}"


def plan(findings: Findings, default_for: Callable[[str], str], deblur: bool = True) -> Plan:
    """The steps for these findings; ``default_for(task)`` names the model that runs a task.
    ``deblur=False`` leaves blur alone (before upscaling: a small image's softness is what the
    upscaler is for)."""
    steps = []
    if findings.noisy:
        steps.append(Step("denoise", default_for("denoise")))
    if findings.compressed:
        told = {"codec": findings.codec or "jpeg", **({"strength": findings.strength} if findings.strength else {})}
        steps.append(Step("jpeg", default_for("jpeg"), told))
    elif findings.blurred and deblur:
        steps.append(Step("combined", default_for("combined")))
    return Plan(findings, tuple(steps))


@dataclass
class AutoResult:
    image: np.ndarray
    plan: Plan
    seconds: float


def run(image: np.ndarray, plan_: Plan, restore: Callable, **options) -> AutoResult:
    """Each step of the plan in order through ``restore(image, model_id, **options)`` (the
    registry's); ``options`` (self_ensemble) go to every step."""
    start = time.perf_counter()
    image = image.copy() if not plan_.steps else image  # the result never aliases the input
    for step in plan_.steps:
        image = restore(image, step.model, **step.options, **options).image
    return AutoResult(image, plan_, time.perf_counter() - start)
