"""The restore job: one degraded image, one or more models, an optional reference.

The app, the CLI, the benchmark runner and the blind panel all restore through here, so they
agree on the JPEG quality hint (read from the file's own quantisation tables), on what a
reference must be (the result's size; a clearly different picture is flagged), and on a model
that cannot run (a row saying why, while the other models' results are kept).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from restoration import codecs
from restoration import metrics as metriclib
from restoration.codecs import jpeg2000_ratio, jpeg_quality
from restoration.core.errors import UserInputError
from restoration.models import condition
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


def restore_one(
    degraded: np.ndarray,
    model_id: str,
    reference: np.ndarray | None = None,
    *,
    data: bytes | None = None,
    jpeg_quality: int | None = None,
    metric_names: Iterable[str] = evaluate.RESTORE_METRICS,
    reference_stats=None,
    **options,
) -> evaluate.RestoreResult:
    """One model on one image, told the file's JPEG quality when ``data`` is a JPEG (or
    ``jpeg_quality``, when the caller has read it already), the codec that wrote ``data`` and,
    for a JPEG 2000 file, its strength (``codec`` and ``strength`` in the options, a user's or
    the chain's, override them)."""
    quality = quality_hint(data) if jpeg_quality is None else jpeg_quality
    return evaluate.restore(
        degraded,
        model_id,
        reference,
        metric_names,
        jpeg_quality=quality,
        reference_stats=reference_stats,
        **told_by_file(data, options),
    )


@dataclass
class RestoreRun:
    degraded: np.ndarray = field(repr=False)
    reference: np.ndarray | None = field(repr=False)
    results: list[evaluate.RestoreResult]
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
    """Each model on its own: one that is not available or fails gives a reason, not a lost run."""
    if not model_ids:
        raise UserInputError("choose at least one model")
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
    from restoration.models import restorers

    steps = []
    for model_id in model_ids:
        if model_id == AUTO:
            steps += [("model", restorers.default_for(task).id) for task in ("denoise", "jpeg", "combined")]
        else:
            steps.append(("model", model_id))
    return steps
