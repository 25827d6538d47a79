"""Encode, decode and measure: the one path the CLI, the app and the benchmark share."""

from __future__ import annotations

import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.codecs import Target
from restoration.core.errors import UserInputError


@dataclass
class CodecResult:
    codec: str
    params: dict
    data: bytes = field(repr=False)
    decoded: np.ndarray = field(repr=False)
    width: int
    height: int
    metrics: dict
    target: dict | None = None
    target_met: bool | None = None
    extra: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return len(self.data)

    def row(self) -> dict:
        """JSON-safe summary: no pixels, no bytes; infinite PSNR (identical images) as "inf"."""
        row = {
            "codec": self.codec,
            "params": self.params,
            "bytes": self.nbytes,
            "width": self.width,
            "height": self.height,
        }
        # Every metric of the table has its key; one not computed (LPIPS offline) is null.
        row.update({name: json_number(self.metrics.get(name)) for name in metriclib.METRICS})
        row.update({k: json_number(v) for k, v in self.metrics.items()})
        if self.target is not None:
            row["target"] = self.target
            row["target_met"] = self.target_met
        row.update(self.extra)
        return row


def json_number(value):
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def compress(
    image: np.ndarray,
    codec: str | codeclib.Codec,
    params: dict | None = None,
    target: Target | None = None,
    metric_names: Iterable[str] | None = None,
    reference_stats: metriclib.ReferenceStats | None = None,
) -> CodecResult:
    """Encode ``image`` (canonical uint8 RGB) with one codec, decode the real bytes, measure.
    Pass the same ``reference_stats`` for many settings of one image (a sweep) to reuse them."""
    return _measure(_code(image, codec, params, target), metric_names, reference_stats)


@dataclass
class _Coded:
    """An encode/decode round trip, not yet measured."""

    image: np.ndarray
    codec: codeclib.Codec
    params: dict
    data: bytes
    decoded: np.ndarray
    encode_s: float
    decode_s: float
    target: Target | None
    budget: int | None


def _code(image, codec, params=None, target=None) -> _Coded:
    codec = codeclib.get(codec) if isinstance(codec, str) else codec
    params = dict(params or {})
    budget = None
    start = time.perf_counter()
    # encode_stoppable: in a request, each encode (of a size search too) stops at the request's
    # time limit or cancellation, even in the middle of a long one.
    if target is None:
        data = codec.encode_stoppable(image, **params)
        resolved = codec.resolve(params)
    else:
        budget = target.budget(image)
        encoded = codec.encode_to_size(image, budget, **params)
        data, resolved = encoded.data, encoded.params
        # Time one encode at the found setting, not the whole search.
        start = time.perf_counter()
        data = codec.encode_stoppable(image, **resolved)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decode(data)
    decode_s = time.perf_counter() - start
    if decoded.shape != image.shape:
        raise codeclib.CodecError(f"{codec.name} decoded {decoded.shape}, expected {image.shape}")
    return _Coded(image, codec, resolved, data, decoded, encode_s, decode_s, target, budget)


def _measure(coded: _Coded, metric_names=None, reference_stats=None) -> CodecResult:
    sample = metriclib.Sample(
        coded.image,
        coded.decoded,
        nbytes=len(coded.data),
        encode_s=coded.encode_s,
        decode_s=coded.decode_s,
        reference_stats=reference_stats,
    )
    names = list(metric_names) if metric_names is not None else default_metric_names()
    return CodecResult(
        codec=coded.codec.name,
        params=coded.params,
        data=coded.data,
        decoded=coded.decoded,
        width=coded.image.shape[1],
        height=coded.image.shape[0],
        metrics=metriclib.measure(sample, names),
        target=coded.target.describe() if coded.target else None,
        target_met=None if coded.budget is None else len(coded.data) <= coded.budget,
    )


def default_metric_names() -> list[str]:
    """Every metric that can be computed here (LPIPS only when its backbone is cached)."""
    return metriclib.names()


@dataclass(frozen=True)
class SweepPoint:
    codec: codeclib.Codec
    params: dict
    target: Target | None = None


MAX_SETTINGS = 64  # per codec in one web request: a sweep's work is settings x images x codecs


def check_settings(qualities, target_bpps, limit: int | None = MAX_SETTINGS) -> None:
    """Refuse more distinct settings per codec than ``limit``, naming the cap and the way round it."""
    for values, what in ((qualities, "qualities"), (target_bpps, "bpp targets")):
        if limit is not None and values is not None and len(set(values)) > limit:
            raise UserInputError(
                f"{len(set(values))} {what} per codec; at most {limit} in one request "
                "(for bigger sweeps use the CLI: restoration sweep ... or restoration bench DIR ...)"
            )


def sweep_plan(
    codec_names: Iterable[str],
    qualities: Iterable[float] | None = None,
    target_bpps: Iterable[float] | None = None,
    fixed: dict | None = None,
    limit: int | None = None,
) -> list[SweepPoint]:
    """Settings to visit: each codec's knob over ``qualities`` (default: its own sweep), or a
    list of bpp targets (equal-size comparison across codecs). Lossless codecs get one point.
    Repeated settings are visited once; more than ``limit`` per codec (a web request's
    ``MAX_SETTINGS``) is refused."""
    qualities = None if qualities is None else list(dict.fromkeys(qualities))
    target_bpps = None if target_bpps is None else list(dict.fromkeys(target_bpps))
    check_settings(qualities, target_bpps, limit)
    points: list[SweepPoint] = []
    fixed = fixed or {}
    for name in dict.fromkeys(codeclib.get(n).name for n in codec_names):
        codec = codeclib.get(name)
        own = {k: v for k, v in fixed.get(codec.name, {}).items()}
        if codec.knob is None or codec.is_lossless(codec.resolve(own)):
            points.append(SweepPoint(codec, own))
        elif target_bpps is not None:
            points.extend(SweepPoint(codec, own, Target(bpp=float(b))) for b in target_bpps)
        else:
            values = codec.knob.sweep
            if qualities is not None and codec.knob.name == "quality":
                values = [codec.param("quality").coerce(q) for q in qualities]
            points.extend(SweepPoint(codec, {**own, codec.knob.name: v}) for v in values)
    return points


def run_sweep(
    images: dict[str, np.ndarray], plan: list[SweepPoint], metric_names=None
) -> Iterator[tuple[str, CodecResult]]:
    """Yield (image name, result) for every image and every point of the plan, in order.

    Pipelined: one worker thread measures a setting while the next one encodes (Pillow's
    codecs and OpenCV release the GIL), so on two cores the metrics mostly hide behind the
    encoder. The reference's SSIM moments are computed once per image.
    """
    names = list(metric_names) if metric_names is not None else default_metric_names()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics") as pool:
        pending: tuple[str, Future] | None = None
        for image_name, image in images.items():
            stats = metriclib.ReferenceStats(image)
            for point in plan:
                try:
                    coded = _code(image, point.codec, point.params, point.target)
                except Exception:
                    if pending is not None:  # hand over the finished setting before the error
                        yield pending[0], pending[1].result()
                    raise
                future = pool.submit(_measure, coded, names, stats)
                if pending is not None:
                    yield pending[0], pending[1].result()
                pending = (image_name, future)
        if pending is not None:
            yield pending[0], pending[1].result()


def interpolate_at(rows: list[dict], metric: str, bpp: float) -> float | None:
    """Metric at a given bpp by linear interpolation along one codec's RD curve (None outside it)."""
    points = sorted((r["bpp"], r[metric]) for r in rows if isinstance(r.get(metric), (int, float)))
    xs = [p[0] for p in points]
    if not points or bpp < xs[0] or bpp > xs[-1]:
        return None
    return float(np.interp(bpp, xs, [p[1] for p in points]))
