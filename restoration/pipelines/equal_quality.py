"""Equal quality, the dual of equal size: for each codec the smallest file whose decoded image
reaches a quality target (SSIMULACRA 2 >= 80, PSNR >= 40 dB, FLIP <= 0.05, any fidelity metric of
the table), found by bisection over the codec's knob; then the codecs are compared by bytes and
the smallest is recommended. The question a web developer asks: which format gives the smallest
file that looks the same?"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.core.errors import UserInputError
from restoration.pipelines import evaluate


@dataclass(frozen=True)
class QualityTarget:
    """A score every codec is searched to reach: at least ``value`` (at most, for a
    lower-is-better metric such as FLIP)."""

    metric: str
    value: float

    def __post_init__(self):
        metric = metriclib.METRICS.get(self.metric)
        if metric is None or metric.kind != "fidelity":
            choices = ", ".join(m.name for m in metriclib.METRICS.values() if m.kind == "fidelity")
            raise UserInputError(f"a quality target needs a quality metric ({choices}), got {self.metric!r}")
        if metric.unavailable_reason():
            raise UserInputError(f"{metric.label} cannot be computed here: {metric.unavailable_reason()}")
        if isinstance(self.value, bool) or not math.isfinite(float(self.value)):
            raise UserInputError(f"the quality target must be a finite number, got {self.value!r}")
        if not metric.low <= float(self.value) <= metric.high:
            raise UserInputError(f"a {metric.label} target must be within [{metric.low:g}, {metric.high:g}]")

    def met(self, score: float | None) -> bool:
        """Whether ``score`` meets the target, judged on the value the table shows (``metrics.shown``)."""
        if score is None or math.isnan(score):
            return False
        score = metriclib.shown(score) if math.isfinite(score) else score
        return score <= self.value if metriclib.METRICS[self.metric].lower_better else score >= self.value

    def describe(self) -> dict:
        return {self.metric: self.value}

    def text(self) -> str:
        return (
            f"{metriclib.header(self.metric)} {'≤' if metriclib.METRICS[self.metric].lower_better else '≥'} "
            f"{self.value:g}"
        )


def search(
    image: np.ndarray,
    codec: codeclib.Codec,
    target: QualityTarget,
    params: dict | None = None,
    metric_names: list[str] | None = None,
) -> evaluate.CodecResult:
    """The codec's smallest file that meets ``target`` (bisection over its knob: quality rises
    with the knob's quality order); if even its best setting falls short, that one, marked missed."""
    if codec.knob is None or codec.is_lossless(codec.resolve(params or {})):
        result = evaluate.compress(image, codec, params, metric_names=_names(metric_names, target))
        return replace(result, target=target.describe(), target_met=target.met(result.metrics.get(target.metric)))
    knob = codec.param(codec.knob.name)
    fixed = {k: v for k, v in (params or {}).items() if k != knob.name}
    stats = metriclib.ReferenceStats(image)
    names = _names(metric_names, target)
    tried: dict = {}

    def at(t: float) -> evaluate.CodecResult:
        value = codec.knob_value(t)
        if value not in tried:
            tried[value] = evaluate.compress(
                image, codec, {**fixed, knob.name: value}, metric_names=names, reference_stats=stats
            )
        return tried[value]

    lo, hi, best = 0.0, 1.0, None
    for _ in range(codec.size_search_steps()):
        t = (lo + hi) / 2
        result = at(t)
        if target.met(result.metrics.get(target.metric)):
            best, hi = result, t
        else:
            lo = t
    if best is None:
        top = at(1.0)
        best = top if target.met(top.metrics.get(target.metric)) else None
        if best is None:
            return replace(top, target=target.describe(), target_met=False)
    smallest = min((r for r in tried.values() if target.met(r.metrics.get(target.metric))), key=lambda r: r.nbytes)
    return replace(smallest, target=target.describe(), target_met=True)


def _names(metric_names, target: QualityTarget) -> list[str]:
    names = list(metric_names) if metric_names is not None else evaluate.default_metric_names()
    return names if target.metric in names else [*names, target.metric]


def compare(
    image: np.ndarray,
    settings: dict[str, dict],
    target: QualityTarget,
    progress: Callable[[float, str], None] | None = None,
    metric_names: list[str] | None = None,
) -> list[evaluate.CodecResult]:
    """Every chosen codec searched to ``target`` on one image."""
    if not settings:
        raise UserInputError("choose at least one codec")
    results = []
    for i, (name, params) in enumerate(settings.items()):
        if progress:
            progress(i / len(settings), f"searching {name} for {target.text()}")
        results.append(search(image, codeclib.get(name), target, params, metric_names))
    return results


def recommend(results: list[evaluate.CodecResult], target: QualityTarget) -> str:
    """The smallest file that meets the target, in words, against JPEG when it is there."""
    met = [r for r in results if r.target_met]
    if not met:
        return f"No codec reached {target.text()}."
    best = min(met, key=lambda r: r.nbytes)
    label = codeclib.get(best.codec).label
    text = f"Smallest file at {target.text()}: {label} ({best.nbytes / 1024:.1f} KiB)"
    jpeg = next((r for r in met if r.codec == "jpeg"), None)
    if jpeg is not None and best is not jpeg:
        text += f", {100 * (1 - best.nbytes / jpeg.nbytes):.0f} % smaller than JPEG"
    missed = [codeclib.get(r.codec).label for r in results if not r.target_met]
    return text + "." + (f" Not reached by {', '.join(missed)}." if missed else "")
