"""The restore action (``restore_image``): one degraded image, one or more models, an optional
reference; ``restore_one`` is one model's run, told what the file says and measured.

The app, the CLI, the benchmark runner and the blind panel all restore through here, so they
agree on the JPEG quality hint (read from the file's own quantisation tables), on what a
reference must be (the result's size; a clearly different picture is flagged), and on a model
that cannot run (a row saying why, while the other models' results are kept).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from restoration import codecs
from restoration import metrics as metriclib
from restoration.codecs import jpeg2000_ratio, jpeg_quality
from restoration.core import budget, memory
from restoration.core.errors import UserInputError
from restoration.models import condition, restorers
from restoration.models.auto import AUTO
from restoration.pipelines import evaluate

log = logging.getLogger(__name__)
# Under this PSNR between the reference and the input, the "reference" is another picture (a
# JPEG at quality 5 of the same photo still scores ~22 dB; two unrelated photos ~8-12 dB).
SAME_IMAGE_MIN_PSNR = 15.0


def quality_hint(data: bytes | None) -> int | None:
    """The IJG quality a JPEG file was saved with, from its quantisation tables (None otherwise)."""
    estimate = jpeg_quality.estimate(data) if data else None
    return estimate.quality if estimate else None


def codec_hint(data: bytes | None) -> str | None:
    """The lossy codec that wrote these bytes, when it is one a quality-aware network knows (a
    WebP, AVIF or JPEG 2000 file says so; a PNG of its decoded pixels does not)."""
    codec = codecs.sniff(data) if data else None
    return codec.name if codec is not None and codec.name in condition.CODECS else None


def strength_hint(data: bytes | None) -> int | None:
    """A JPEG 2000 file's strength, from the ratio of its tiles without the headers (a JPEG's
    comes from its tables, ``quality_hint``); None for any other file."""
    ratio = jpeg2000_ratio.code_stream_ratio(data) if data else None
    return round(condition.jpeg2000_strength(ratio)) if ratio else None


def told_by_file(data: bytes | None, options: dict) -> dict:
    """``options`` with what the file says where the caller (a user, the chain) said nothing: the
    codec that wrote it and, for a JPEG 2000 file, its strength. A JPEG's quality travels on its
    own (``quality_hint``: the status line shows it)."""
    options = dict(options)
    if not options.get("codec"):
        options["codec"] = codec_hint(data)
    if not options.get("strength") and options.get("codec") == "jpeg2000":
        options["strength"] = strength_hint(data)
    return options


def check_reference(reference: np.ndarray | None, degraded: np.ndarray, scale: int = 1) -> list[str]:
    """Refuse a reference of another size than the result; warn (returned) when, at the input's
    size, it is clearly another picture."""
    if reference is None:
        return []
    h, w = degraded.shape[0] * scale, degraded.shape[1] * scale
    if reference.shape[:2] != (h, w):
        raise UserInputError(
            f"the reference is {reference.shape[1]}x{reference.shape[0]} but the result is "
            f"{w}x{h}: give the clean image this input was made from"
        )
    if scale != 1:
        return []
    similarity = metriclib.psnr(metriclib.Sample(reference, degraded))
    if similarity < SAME_IMAGE_MIN_PSNR:
        return [
            f"the reference looks like another picture (PSNR {similarity:.1f} dB against the input, "
            f"under {SAME_IMAGE_MIN_PSNR:g}): its metrics say little"
        ]
    return []


RESTORE_METRICS = ("psnr", "psnr_y", "ssim")


@dataclass
class RestoreResult:
    model: str
    image: np.ndarray = field(repr=False)
    seconds: float
    before: dict | None = None  # metrics of the degraded input against the reference
    after: dict | None = None  # metrics of the restored output against the reference
    extra: dict = field(default_factory=dict)

    def row(self) -> dict:
        row = {
            "model": self.model,
            "seconds": round(self.seconds, 4),
            "width": self.image.shape[1],
            "height": self.image.shape[0],
        }
        for label, values in (("before", self.before), ("after", self.after)):
            if values is not None:
                row.update({f"{k}_{label}": evaluate.json_number(v) for k, v in values.items()})
        if self.before and self.after:
            for k in self.after:
                if (
                    isinstance(self.after[k], float)
                    and isinstance(self.before[k], float)
                    and math.isfinite(self.after[k])
                    and math.isfinite(self.before[k])
                ):
                    row[f"{k}_gain"] = self.after[k] - self.before[k]
        row.update(self.extra)
        return row


def restore_one(
    degraded: np.ndarray,
    model_id: str,
    reference: np.ndarray | None = None,
    metric_names: Iterable[str] = RESTORE_METRICS,
    *,
    data: bytes | None = None,
    jpeg_quality: int | None = None,
    reference_stats: metriclib.ReferenceStats | None = None,
    **options,
) -> RestoreResult:
    """One registered model on one image, told the file's JPEG quality when ``data`` is a JPEG (or
    ``jpeg_quality``, when the caller has read it already), the codec that wrote ``data`` and, for
    a JPEG 2000 file, its strength (``codec`` and ``strength`` in the options, a user's or the
    chain's, override them); with a reference, measured before and after (``reference_stats``:
    the reference's SSIM moments, reused across models)."""
    quality = quality_hint(data) if jpeg_quality is None else jpeg_quality
    restored = restorers.restore(degraded, model_id, jpeg_quality=quality, **told_by_file(data, options))
    before = after = None
    if reference is not None:
        if reference.shape != restored.image.shape:
            raise UserInputError(
                f"the reference is {reference.shape[1]}x{reference.shape[0]} but the "
                f"result is {restored.image.shape[1]}x{restored.image.shape[0]}"
            )
        names = list(metric_names)
        after = metriclib.measure(metriclib.Sample(reference, restored.image, reference_stats=reference_stats), names)
        if degraded.shape == reference.shape:
            before = metriclib.measure(metriclib.Sample(reference, degraded), names)
    extra = {
        key: restored.options[key]
        for key in ("note", "self_ensemble", "quality", "codec", "plan")
        if restored.options.get(key)
    }
    return RestoreResult(model_id, restored.image, restored.seconds, before, after, extra)


@dataclass
class RestoreRun:
    degraded: np.ndarray = field(repr=False)
    reference: np.ndarray | None = field(repr=False)
    results: list[RestoreResult]
    failures: dict[str, str]  # model id -> why it gave no result
    jpeg_quality: int | None
    warnings: list[str]
    codec: str | None = None  # the lossy codec that made the input (its file, or the caller's word)


def restore_image(
    degraded: np.ndarray,
    model_ids: list[str],
    reference: np.ndarray | None = None,
    *,
    data: bytes | None = None,
    progress: Callable[[float, str], None] | None = None,
    **options,
) -> RestoreRun:
    """The restore action, the same at every door (the CLI's ``restore``, the Restoration tab and
    its ``/restore`` endpoint): the chosen models on one image (``data``: its file's bytes, read
    once for the JPEG quality, the codec and a JPEG 2000's strength told to every model), each on
    its own: one that is not available or fails gives a reason, not a lost run. A reference is
    checked (its size; a clearly different picture is a warning) and measured against. The
    request's memory is claimed for the models and the images they give."""
    if not model_ids:
        raise UserInputError("choose at least one model")
    pixels = degraded.shape[0] * degraded.shape[1]
    budget.claim(
        memory.need(
            f"restoring a {pixels / 1e6:.1f} MP image with {len(model_ids)} model(s)",
            pixels,
            memory_steps(model_ids),
            kept=2 * len(model_ids) + 1,
        )
    )  # each result and its error map, and the reference
    warnings = check_reference(reference, degraded)
    hint = quality_hint(data)  # read from the file once, told to every model
    options = told_by_file(data, options)
    results, failures = [], {}
    for i, model_id in enumerate(dict.fromkeys(model_ids)):
        if progress:
            progress(i / len(model_ids), f"running {model_id}")
        try:
            results.append(restore_one(degraded, model_id, reference, jpeg_quality=hint, **options))
        except UserInputError as exc:
            failures[model_id] = str(exc)
        except Exception as exc:  # noqa: BLE001  one model's bug must not lose the others' results
            log.exception("model %s failed", model_id)
            failures[model_id] = f"failed ({type(exc).__name__}: {exc})"
    return RestoreRun(degraded, reference, results, failures, hint, warnings, options["codec"])


def memory_steps(model_ids) -> list[tuple[str, str]]:
    """The memory model's steps for these models; auto counts as every model its plan may run."""
    steps = []
    for model_id in model_ids:
        if model_id == AUTO:
            steps += [("model", restorers.default_for(task).id) for task in ("denoise", "jpeg", "combined")]
        else:
            steps.append(("model", model_id))
    return steps
