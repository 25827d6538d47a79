"""How long a run will take on this machine, from a model of its work (not a cache of past runs).

Every piece of a run has a ``Rate``: seconds whatever the size plus seconds per megapixel, measured
here once per process, on two crops of an example photo (128 and 256 px, so that a fixed cost such
as ColorVideoVDP's start is told apart from the per-pixel one):

- a network of our own: its GFLOP per megapixel (``models.flops``) over this machine's throughput,
  measured once by the default artifact network through the project's runtime (bf16, tiling);
- any other ready model (classical filters, dictionaries, a downloaded Hub model): itself;
- a codec: an encode at its default setting and a decode;
- a metric, an error map, the input's analysis (auto), a PNG written (the page's gallery, its
  downloads and the compare view).

Every real run of a model or a codec refines its rate: the median ratio of its latest runs'
seconds to what the rate predicted for their sizes scales it (``models.timing``). A run adds up
its pieces: each model's time, the metrics and error maps of each result, the images the page
receives, a size or quality search's expected steps, each with its metric's own cost. A model that
is not ready (a Hub model not downloaded) is named, never counted as zero.
"""

from __future__ import annotations

import functools
import io
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.codecs import output as outputlib
from restoration.codecs import reader
from restoration.core import examples
from restoration.core.errors import UserInputError
from restoration.lab import common
from restoration.metrics import perceptual
from restoration.models import auto, flops, restorers, timing
from restoration.pipelines import restore as restorelib

SIDES = (128, 256)  # the calibration crops
PAGE_S = 0.3  # a run's queue, transfer and drawing in the page: 0.2-0.6 s measured in Chromium on small images
CHART_S = 0.3  # a Plotly chart of several panels drawn in the page (0.2-1 s in Chromium on 2 shared cores)
SLOW_PROBE_S = 0.5  # a model slower than this on a 48 px crop is timed once, not fitted (seconds saved)
HUB_TRY_S = 0.4  # a Hub model not on this machine: the attempt to reach the Hub (0.37 s offline, measured)
_lock = threading.Lock()
_rates: dict[tuple, Rate] = {}


@dataclass(frozen=True)
class Rate:
    fixed: float  # seconds whatever the size
    per_mp: float  # seconds per megapixel

    def at(self, pixels: float) -> float:
        return self.fixed + self.per_mp * pixels / 1e6


def fit(timer, sides=SIDES) -> Rate:
    """A Rate from ``timer(side)`` (seconds for a side x side crop) at two sizes: the median of
    three tries at each. On a machine shared with other work the fastest try was too hopeful for
    the runs that follow (they share it too), and one try slowed by a neighbour's burst made a
    search's estimate twice what it took."""
    points = [(side * side, statistics.median(timer(side) for _ in range(3))) for side in sides]
    (p0, s0), (p1, s1) = points
    per_mp = max((s1 - s0) / (p1 - p0) * 1e6, s1 / p1 * 1e6 * 0.5, 0.0)  # noise cannot make it negative
    return Rate(max(s1 - per_mp * p1 / 1e6, 0.0), per_mp)


def measured(key: tuple, measure) -> Rate:
    """The Rate of ``key``, measured on first use (``measure()``) and kept for the process."""
    with _lock:
        if key not in _rates:
            with timing.unrecorded():
                _rates[key] = measure()
        return _rates[key]


@functools.cache
def photo() -> np.ndarray:
    """The calibration photo: an example image, 256 px at least on each side."""
    return examples.load_example(next(iter(examples.EXAMPLES)))


def crop(side: int) -> np.ndarray:
    image = photo()
    reps = (-(-side // image.shape[0]), -(-side // image.shape[1]), 1)
    return np.ascontiguousarray(np.tile(image, reps)[:side, :side])


@functools.cache
def distorted(side: int) -> np.ndarray:
    """The crop as a codec left it: what metrics and error maps compare."""
    codec = codeclib.get("jpeg")
    return codec.decode(codec.encode(crop(side), quality=50))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def refined(key: str, rate: Rate, self_ensemble: bool = False) -> Rate:
    """``rate`` scaled by what this process's latest runs of ``key`` took against its prediction."""
    ratios = [seconds / max(rate.at(pixels), 1e-6) for seconds, pixels in timing.runs(key, self_ensemble)]
    if not ratios:
        return rate
    factor = statistics.median(ratios)
    return Rate(rate.fixed * factor, rate.per_mp * factor)


# -- models -----------------------------------------------------------------------------------------


def network_rate() -> Rate:
    """This machine's own-network throughput, as the time of one GFLOP per megapixel: the default
    artifact network on the calibration crops, through ``restorers.restore`` (the runtime a run uses)."""
    spec = restorers.default_for("jpeg")

    def measure():
        gflop = flops.gflop_per_mp(spec.weights)
        restorers.restore(crop(64), spec.id)  # its weights load once, outside the timing
        rate = fit(lambda side: timed(lambda: restorers.restore(crop(side), spec.id)))
        return Rate(rate.fixed, rate.per_mp / gflop)

    return measured(("network",), measure)


def model_rate(model_id: str) -> Rate | None:
    """Seconds for a model's run on an input of so many pixels (before this process's runs refine
    it), or None when it is not ready to run here."""
    spec = restorers.get(model_id)
    if spec.source == "auto" or spec.status() != "ready":
        return None
    gflop = flops.gflop_per_mp(spec.weights) if spec.source == "own" and spec.weights else None
    if gflop:
        unit = network_rate()
        return Rate(unit.fixed, unit.per_mp * gflop * spec.scale * spec.scale)

    def measure():
        restorers.restore(crop(32), model_id)  # loaded once, outside the timing
        once = timed(lambda: restorers.restore(crop(48), model_id))
        if once > SLOW_PROBE_S:  # a diffusion model: one try, taken as all per pixel (an upper bound)
            return Rate(0.0, once / (48 * 48) * 1e6)
        return fit(lambda side: timed(lambda: restorers.restore(crop(side), model_id)), (48, 96))

    return measured(("model", model_id), measure)


def model_seconds(model_id: str, pixels: float, self_ensemble: bool = False) -> float | None:
    """A model's seconds on an input of ``pixels`` (8 passes with self-ensemble, where it has one),
    refined by its runs here; None when it cannot run here."""
    rate = model_rate(model_id)
    if rate is None:
        return None
    ensemble = self_ensemble and restorers.get(model_id).self_ensemble
    if ensemble and timing.runs(model_id, True):
        return refined(model_id, Rate(rate.fixed * 8, rate.per_mp * 8), True).at(pixels)
    return refined(model_id, rate).at(pixels) * (8 if ensemble else 1)


def analyse_rate() -> Rate:
    """Auto's look at the pixels (noise estimate, block edges)."""
    return measured(("analyse",), lambda: fit(lambda side: timed(lambda: auto.analyse(crop(side)))))


@functools.lru_cache(maxsize=16)
def _plan(path: str, modified: float, codec: str | None, strength: float | None, deblur: bool):
    source = reader.read(path)
    options = restorelib.told_by_file(source.data, {"codec": codec, "strength": strength})
    return restorers.analyse(
        source.image, restorelib.quality_hint(source.data), options.get("codec"), options.get("strength"), deblur
    )


def auto_plan(path, codec: str | None = None, strength: float | None = None, deblur: bool = True):
    """What auto will run on this file (``restorers.analyse``), read once per file and options."""
    return _plan(str(path), Path(path).stat().st_mtime, codec or None, strength or None, deblur)


@dataclass
class Estimate:
    seconds: float = PAGE_S
    not_counted: list[str] = field(default_factory=list)  # models that cannot run here (not downloaded)
    parts: dict[str, float] = field(default_factory=dict)  # what the seconds are made of, for tests and notes

    def add(self, part: str, seconds: float) -> None:
        self.seconds += seconds
        self.parts[part] = self.parts.get(part, 0.0) + seconds


def add_model(
    estimate: Estimate,
    model_id: str,
    pixels: float,
    self_ensemble: bool = False,
    path=None,
    codec: str | None = None,
    strength: float | None = None,
    deblur: bool = True,
) -> None:
    """One model's run on ``pixels``: auto as the models its plan for the file at ``path`` runs."""
    if model_id not in restorers.REGISTRY:
        estimate.not_counted.append(model_id)
        return
    if restorers.get(model_id).source == "auto":
        estimate.add("analyse", analyse_rate().at(pixels))
        steps = auto_plan(path, codec, strength, deblur).steps if path is not None else ()
        for step in steps:
            add_model(estimate, step.model, pixels, self_ensemble)
        return
    seconds = model_seconds(model_id, pixels, self_ensemble)
    if seconds is None:  # its download (or why it cannot run) is not counted; trying to reach the Hub is
        estimate.not_counted.append(model_id)
        estimate.add(model_id, HUB_TRY_S if restorers.get(model_id).source == "hub" else 0.0)
    else:
        estimate.add(model_id, seconds)


# -- codecs, metrics, pictures ------------------------------------------------------------------------


def codec_rate(name: str) -> Rate:
    """One encode at the codec's default setting and one decode, refined by its runs here."""
    codec = codeclib.get(name)

    def measure():
        codec.decode(codec.encode(crop(64)))  # its library (or network) loaded outside the timing
        return fit(lambda side: timed(lambda: codec.decode(codec.encode(crop(side)))))

    return refined(codec.name, measured(("codec", codec.name), measure))


def metric_rate(name: str) -> Rate:
    metric = metriclib.METRICS[name]

    def measure():
        metric.compute(metriclib.Sample(crop(64), distorted(64)))  # a first call's loading, outside
        return fit(lambda side: timed(lambda: metric.compute(metriclib.Sample(crop(side), distorted(side)))))

    return measured(("metric", name), measure)


def metrics_seconds(names, pixels: float) -> float:
    return sum(metric_rate(name).at(pixels) for name in names)


def png_rate() -> Rate:
    """A PNG written by Pillow, as the page's gallery, its downloads and the compare view are."""

    def write(side):
        return timed(lambda: Image.fromarray(crop(side)).save(io.BytesIO(), format="png"))

    return measured(("png",), lambda: fit(write))


def error_maps_seconds(pixels: float, flip: bool) -> float:
    """The |error| map of one result and, with ``flip``, its FLIP map (``common.with_error_maps``)."""
    rate = measured(
        ("error_map",), lambda: fit(lambda side: timed(lambda: common.error_map(crop(side), distorted(side))))
    )
    seconds = rate.at(pixels)
    if flip and perceptual.Flip().unavailable_reason() is None:
        flip_rate = measured(
            ("flip_map",), lambda: fit(lambda side: timed(lambda: perceptual.flip_map(crop(side), distorted(side))))
        )
        seconds += flip_rate.at(pixels)
    return seconds


def output_seconds(pixels: float, output_format: str = outputlib.DEFAULT) -> float:
    """One result written for download in ``output_format`` (a PNG, or a codec's encode)."""
    name = outputlib.parse_format(output_format).codec.name
    return png_rate().at(pixels) if name == "png" else codec_rate(name).at(pixels)


def shown_seconds(results: int, pixels: float, output_format: str = outputlib.DEFAULT) -> float:
    """What the page receives of ``results`` images of ``pixels``: each in the gallery (a PNG) and
    written for download, and the compare view's first two PNGs."""
    return results * (png_rate().at(pixels) + output_seconds(pixels, output_format)) + 2 * png_rate().at(pixels)


def header_pixels(path) -> tuple[int, int] | None:
    """(width, height) of an image file from its header, or None when it is not one."""
    try:
        return reader.file_header_size(path)
    except (OSError, ValueError, UserInputError):
        return None


def calibrate(codec_names=()) -> None:
    """Measure what most estimates need (the network throughput, a PNG, the table's metrics, the
    error maps, auto's analysis, the named codecs), so that the first estimate in the page does not
    wait for them; ``python app.py`` runs it in the background at start."""
    network_rate()
    png_rate()
    analyse_rate()
    error_maps_seconds(1, flip=True)
    for name in metriclib.names():
        metric_rate(name)
    for name in codec_names:
        codec_rate(name)
