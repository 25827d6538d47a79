"""The codec actions every door calls: compare codecs on one image (at their settings, at a size
or at equal quality) and sweep them over their settings (rate-distortion). The CLI's ``compress``
and ``sweep``, the Codec comparison tab and its ``/compare``, ``/compress`` and ``/sweep``
endpoints give the same request the same answer: the target is read by ``parse_target`` alone,
and a lossless codec asked for a size runs lossless, with a note saying so."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.core import budget, memory
from restoration.core.errors import UserInputError
from restoration.pipelines import equal_quality, evaluate

QUALITY_MODE = "quality:"  # "quality:<metric>": an equal-quality target on that metric
SIZE_MODES = ("bpp", "KiB", "bytes")


def parse_target(mode: str | None, value=None) -> evaluate.Target | equal_quality.QualityTarget | None:
    """A comparison's target, as every door names it: ``mode`` None or "settings" (none), "bpp",
    "KiB" or "bytes" with a positive size, "quality:<metric>" with the score to reach, or
    "quality" with the text "METRIC=NUMBER" (the CLI's ``--target-quality``, a batch's
    ``target_quality``)."""
    if mode in (None, "", "settings"):
        return None
    if mode == "quality":
        metric, _, number = str(value).partition("=")
        return equal_quality.QualityTarget(
            metric.strip(), _number(number, f"METRIC=NUMBER, e.g. ssimulacra2=80; got {value!r}")
        )
    if mode.startswith(QUALITY_MODE):
        if value is None or value == "":
            raise UserInputError("enter the quality to reach")
        return equal_quality.QualityTarget(mode[len(QUALITY_MODE) :], _number(value, "a number"))
    if mode not in SIZE_MODES:
        raise UserInputError(
            f"unknown size mode {mode!r}; choose from settings, {', '.join(SIZE_MODES)} or quality:METRIC"
        )
    if value is None or value == "":
        raise UserInputError("enter a positive target size")
    size = _number(value, "a positive number")
    if mode == "bpp":
        return evaluate.Target(bpp=size)
    return evaluate.Target(bytes=int(round(size * (1024 if mode == "KiB" else 1))))


def _number(value, expected: str) -> float:
    if isinstance(value, bool):
        raise UserInputError(f"a target is {expected}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"a target is {expected}") from None
    if not math.isfinite(number):
        raise UserInputError(f"a target is a finite number, got {value!r}")
    return number


def metric_steps(names) -> list[tuple[str, str]]:
    """The memory model's steps of these metrics: those computed on the pixels (not rate or time)."""
    return [("metric", name) for name in names if metriclib.METRICS[name].kind == "fidelity"]


def lossless_here(codec: codeclib.Codec, params: dict | None) -> bool:
    """Whether the codec is lossless at these settings (PNG always; WebP, JPEG XL with lossless)."""
    return codec.knob is None or codec.is_lossless(codec.resolve(params or {}))


def lossless_note(codec: codeclib.Codec) -> str:
    """What a row says when a lossless codec was given a size target."""
    return f"{codec.label} is lossless here: it ran at its settings, not within the size target"


def compare_codecs(
    image: np.ndarray,
    settings: dict[str, dict],
    target: evaluate.Target | equal_quality.QualityTarget | None = None,
    metric_names: list[str] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> list[evaluate.CodecResult]:
    """Every chosen codec (``settings``: codec name -> its params) on one image, measured by
    ``metric_names`` (default: every metric computable here but the on-demand ones): at its
    settings, within a size ``Target`` (the best setting whose file fits), or searched to a
    ``QualityTarget`` (its smallest file at that quality). A lossless codec asked for a size runs
    at its settings: its row's ``note`` says so."""
    if not settings:
        raise UserInputError("choose at least one codec")
    names = list(metric_names) if metric_names is not None else evaluate.default_metric_names()
    pixels = image.shape[0] * image.shape[1]
    perceptual = any(metriclib.METRICS[name].on_demand for name in names)
    budget.claim(
        memory.need(
            f"this comparison of {len(settings)} codec(s) at {pixels / 1e6:.1f} MP"
            + (" with the perceptual metrics" if perceptual else ""),
            pixels,
            [*[("codec", name) for name in settings], *metric_steps(names)],
            kept=2 * len(settings),
        )
    )  # each decoded result and its error map
    if isinstance(target, equal_quality.QualityTarget):
        return equal_quality.compare(image, settings, target, progress, names)
    results = []
    stats = metriclib.ReferenceStats(image)
    for i, (name, params) in enumerate(settings.items()):
        if progress:
            progress(i / len(settings), f"encoding {name}")
        codec = codeclib.get(name)
        lossless = target is not None and lossless_here(codec, params)
        result = evaluate.compress(image, codec, params, None if lossless else target, names, reference_stats=stats)
        if lossless:
            result.extra["note"] = lossless_note(codec)
        results.append(result)
    return results


def sweep_metric_names(perceptual: bool = False, axis: str | None = None) -> list[str]:
    """A sweep's metrics: every one computable here (with ``perceptual`` the on-demand ones too),
    and ``axis``, the quality axis a person chose, when it is an on-demand one that can run."""
    names = metriclib.names(on_demand=perceptual)
    if axis and axis not in names and metriclib.METRICS[axis].unavailable_reason() is None:
        names = [*names, axis]
    return names


def sweep_plan(codec_names, qualities=None, target_bpps=None, limit: int | None = None) -> list[evaluate.SweepPoint]:
    """The settings a sweep visits (``evaluate.sweep_plan``), every mistake told before an image is
    read: no codec, an unknown one, qualities and bpp targets both, a quality out of range, more
    than ``limit`` settings a codec."""
    codec_names = list(codec_names or [])
    if not codec_names:
        raise UserInputError("choose at least one codec")
    if qualities is not None and target_bpps is not None:
        raise UserInputError("give qualities or bpp targets, not both")
    return evaluate.sweep_plan(codec_names, qualities, target_bpps, limit=limit)


def sweep(
    image: np.ndarray,
    codec_names,
    qualities: list[float] | None = None,
    target_bpps: list[float] | None = None,
    metric_names: list[str] | None = None,
    limit: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> list[evaluate.CodecResult]:
    """Rate-distortion sweep of one image: each codec's knob over ``qualities`` (default: its own
    sweep) or each lossy codec within each of ``target_bpps``; a lossless codec is one point.
    ``limit``: at most that many settings a codec (a web request's ``evaluate.MAX_SETTINGS``)."""
    plan = sweep_plan(codec_names, qualities, target_bpps, limit)
    names = list(metric_names) if metric_names is not None else evaluate.default_metric_names()
    pixels = image.shape[0] * image.shape[1]
    budget.claim(
        memory.need(
            f"this sweep at {pixels / 1e6:.1f} MP",
            pixels,
            [("codec", point.codec.name) for point in plan],
            metric_steps(names),
            kept=2,
        )
    )  # a setting measured while the next encodes
    results = []
    for i, (_, result) in enumerate(evaluate.run_sweep({"image": image}, plan, metric_names=names)):
        results.append(result)
        if progress:
            progress((i + 1) / len(plan), f"{result.codec} {i + 1}/{len(plan)}")
    return results
