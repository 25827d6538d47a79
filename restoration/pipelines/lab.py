"""What the codec comparison tab does, free of any UI code (the app only wires it)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Callable

import numpy as np

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.codecs import output as outputlib
from restoration.codecs import reader
from restoration.core import budget, memory, plugins, scratch
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError
from restoration.models import timing, user_model
from restoration.pipelines import equal_quality, evaluate

ORIGINAL = "Original"


def table_metrics() -> list:
    """The compare table's metric columns: every metric computable here (on-demand ones are empty
    unless asked for), from the metric table, quality first, then rate, then time."""
    order = {"fidelity": 0, "rate": 1, "time": 2}
    available = [metriclib.METRICS[name] for name in metriclib.names(on_demand=True)]
    return sorted(available, key=lambda m: order.get(m.kind, 3))


def table_headers() -> list[str]:
    return ["codec", "setting", "KiB", *[metriclib.header(m.name) for m in table_metrics()], "target"]


TABLE_HIDDEN = ("codec",)  # the registry id: the page shows the label ("setting" starts with it), the API both


def table_order() -> list[str]:
    """The compare table's columns by importance, for the page's first view (``pipelines.tables``):
    the result, whether it met its target, its size, the metric table's headline rate and quality
    metrics, then the on-demand ones (asked for, or the metric an equal-quality target searched
    on); the rest follow a click away."""
    metrics = sorted(table_metrics(), key=lambda m: m.kind != "rate")
    chosen = [m for m in metrics if m.headline] + [m for m in metrics if m.on_demand and not m.headline]
    return ["setting", "target", "KiB", *[metriclib.header(m.name) for m in chosen]]


def configure_threads(threads: int | None = None) -> int:
    """Pin torch and OpenCV thread pools, and the AVIF and JPEG XL codecs' (``core.plugins``); on 2
    shared cores one thread per request is faster, and two heavy jobs at once leave a core's share
    for a small request. ``OMP_NUM_THREADS`` (unless the operator set it) reaches the OpenMP
    libraries loaded later (FLIP's) and the worker processes (``core.worker``), which also read
    ``RESTORATION_CODEC_THREADS``."""
    threads = threads or int(os.environ.get("RESTORATION_THREADS", "1"))
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ["RESTORATION_CODEC_THREADS"] = str(threads)
    plugins.limit_threads(threads)
    return threads


QUALITY_MODE = "quality:"  # a size mode "quality:<metric>" is an equal-quality target


def target_from_ui(mode: str, value: float | None):
    """UI size mode -> a target: 'settings' (none), 'bpp' or 'KiB' (a Target), or
    'quality:<metric>' (an equal-quality QualityTarget)."""
    if mode == "settings":
        return None
    if mode.startswith(QUALITY_MODE):
        if value is None:
            raise UserInputError("enter the quality to reach")
        return equal_quality.QualityTarget(mode[len(QUALITY_MODE) :], float(value))
    if value is None or not value > 0:
        raise UserInputError("enter a positive target size")
    if mode == "bpp":
        return evaluate.Target(bpp=float(value))
    if mode == "KiB":
        return evaluate.Target(bytes=int(round(float(value) * 1024)))
    raise UserInputError(f"unknown size mode {mode!r}")


def result_label(result: evaluate.CodecResult) -> str:
    codec = codeclib.get(result.codec)
    setting = codec.setting_label(result.params)
    return f"{codec.label} ({setting})" if setting == "lossless" else f"{codec.label} {setting}"


def compare(
    image: np.ndarray,
    settings: dict[str, dict],
    target: evaluate.Target | equal_quality.QualityTarget | None,
    progress: Callable[[float, str], None] | None = None,
    perceptual: bool = False,
) -> list[evaluate.CodecResult]:
    """Run every chosen codec (``settings``: codec name -> its params) on one image; with
    ``perceptual`` also the on-demand metrics. A QualityTarget searches each codec for its
    smallest file at that quality (``equal_quality``)."""
    names = metriclib.names(on_demand=perceptual)
    if not settings:
        raise UserInputError("choose at least one codec")
    pixels = image.shape[0] * image.shape[1]
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
        use_target = target if target is not None and not codec.is_lossless(codec.resolve(params)) else None
        results.append(evaluate.compress(image, codec, params, use_target, names, reference_stats=stats))
        record_codec_time(results[-1], searched=use_target is not None)
    return results


def record_codec_time(result: evaluate.CodecResult, searched: bool) -> None:
    """One encode + decode's seconds in this process (``timing``), for the tab's next estimate;
    not after a size search, whose timing is of its last encode alone."""
    encode, decode = result.metrics.get("encode_ms"), result.metrics.get("decode_ms")
    if not searched and encode is not None and decode is not None:
        timing.record(result.codec, (encode + decode) / 1000, result.width * result.height)


def table(results: list[evaluate.CodecResult]) -> dict:
    """The compare table as {"headers", "data"}, without the columns that are empty in every row
    (an on-demand metric nobody asked for, the size target when there was none)."""
    return without_empty_columns(table_headers(), table_rows(results), always=("codec", "setting", "KiB"))


def without_empty_columns(headers: list[str], rows: list[list], always=()) -> dict:
    """A table as {"headers", "data"} without the columns empty in every row (but ``always``): a
    metric nobody asked for, or one that needs a reference there was none of, would be a column of
    blanks whose header the narrow column stacks letter by letter."""
    keep = [i for i, header in enumerate(headers) if header in always or any(row[i] not in (None, "") for row in rows)]
    return {"headers": [headers[i] for i in keep], "data": [[row[i] for i in keep] for row in rows]}


def table_rows(results: list[evaluate.CodecResult]) -> list[list]:
    """One row per result, in ``table_headers()`` order; the last cell says whether a size
    target was met."""

    def cell(value):
        value = evaluate.json_number(value)
        return value if not isinstance(value, float) else metriclib.shown(value)  # as a target is judged

    rows = []
    for r in results:
        size = r.target is not None and ("bytes" in r.target or "bpp" in r.target)
        met = (
            ""
            if r.target_met is None
            else (
                "met"
                if r.target_met
                else "MISSED: " + ("smallest setting is larger" if size else "best setting falls short")
            )
        )
        rows.append(
            [
                r.codec,
                result_label(r),
                round(r.nbytes / 1024, 2),
                *[cell(r.metrics.get(m.name)) for m in table_metrics()],
                met,
            ]
        )
    return rows


def status_line(image: np.ndarray, results: list[evaluate.CodecResult], target, note: str | None = None) -> str:
    """The compare run in words; ``note``: what reading the original converted (``read_input``),
    since every codec, "lossless" ones too, is measured against the image as read."""
    text = f"{image.shape[1]}×{image.shape[0]} px, {len(results)} codec(s)."
    if note:
        text += f" The original as read: {note}; every codec, lossless ones too, is measured against that."
    if target is None:
        return text
    if isinstance(target, equal_quality.QualityTarget):
        return f"{text} {equal_quality.recommend(results, target)}"
    goal = f"{target.bpp:g} bpp" if target.bpp is not None else f"{target.bytes / 1024:.1f} KiB"
    missed = [codeclib.get(r.codec).label for r in results if r.target_met is False]
    text += (
        f" Target {goal}: missed by {', '.join(missed)} (their smallest file is larger)."
        if missed
        else f" Target {goal}: met by every codec."
    )
    # A codec with few settings can only land well under the budget: say how far, beside "met".
    under = [
        f"{codeclib.get(r.codec).label} at {r.metrics['bpp']:.2f} bpp"
        for r in results
        if r.target_met and isinstance(r.metrics.get("bpp"), float) and r.nbytes < FAR_UNDER * target.budget(image)
    ]
    return text + (f" Well under it: {', '.join(under)} (the next setting up is over the budget)." if under else "")


FAR_UNDER = 0.85  # a size target met with a file under this share of the budget is said to be well under it


def write_encoded(results: list[evaluate.CodecResult], folder: str | Path | None = None) -> list[str]:
    """Write each result's real bytes to a file the user can download."""
    folder = Path(folder) if folder else scratch.folder("restoration-lab-")
    paths = []
    for r in results:
        codec = codeclib.get(r.codec)
        stem = result_label(r).replace(" ", "_").replace("=", "").replace("(", "").replace(")", "")
        path = folder / f"{stem}{codec.extension}"
        path.write_bytes(r.data)
        paths.append(str(path))
    return paths


ERROR_PREFIX = "|error| "
ERROR_GAIN = 4.0  # an |error| map's colour saturates at a mean difference of 255 / 4 = 64 levels
FLIP_PREFIX = "FLIP "
# A FLIP map's colour saturates here: at FLIP's own scale (1 = white) a codec's map, mostly under
# 0.1, was nearly black; one scale for every map keeps them comparable.
FLIP_TOP = 0.25


def colourised(values: np.ndarray, colour_map: int) -> np.ndarray:
    """Values in [0, 1] through an OpenCV colour map, as uint8 RGB."""
    import cv2

    scaled = np.clip(values * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(cv2.cvtColor(cv2.applyColorMap(scaled, colour_map), cv2.COLOR_BGR2RGB))


def error_map(reference: np.ndarray, image: np.ndarray, gain: float = ERROR_GAIN) -> np.ndarray:
    """Where an image differs from the reference, as a heat image a person can read: the mean
    absolute RGB difference per pixel, times ``gain`` (a difference of 64 levels saturates),
    through the inferno colour map (black: identical, yellow: far off)."""
    import cv2

    diff = np.abs(reference.astype(np.int16) - image.astype(np.int16)).mean(axis=2)
    return colourised(diff * gain / 255, cv2.COLORMAP_INFERNO)


def flip_error_map(reference: np.ndarray, image: np.ndarray) -> np.ndarray:
    """FLIP's perceived difference per pixel through the magma colour map its paper shows, on a
    scale that saturates at ``FLIP_TOP`` (black: no perceived difference)."""
    import cv2

    from restoration.metrics import perceptual

    error, _ = perceptual.flip_map(reference, image, colour=False)
    return colourised(np.asarray(error, np.float32) / FLIP_TOP, cv2.COLORMAP_MAGMA)


def map_scale(label: str) -> dict | None:
    """The colour scale of an error-map view, for the compare view's legend: its colours from no
    difference up, and what each end means; None for a picture."""
    import cv2

    if label.startswith(ERROR_PREFIX):
        colour_map, high = cv2.COLORMAP_INFERNO, f"mean |difference| ≥ {255 / ERROR_GAIN:.0f} of 255"
    elif label.startswith(FLIP_PREFIX):
        colour_map, high = cv2.COLORMAP_MAGMA, f"FLIP ≥ {FLIP_TOP:g} (perceived difference)"
    else:
        return None
    stops = colourised(np.linspace(0, 1, 9)[None, :], colour_map)[0]
    return {
        "kind": label.split(" ")[0],
        "colours": ["#" + "".join(f"{int(v):02x}" for v in c) for c in stops],
        "low": "no difference",
        "high": high,
    }


def with_error_maps(
    views: dict[str, np.ndarray], reference_label: str, labels: list[str], flip: bool = True
) -> dict[str, np.ndarray]:
    """The views plus an error map of each labelled result against the reference view: the
    absolute difference, and (``flip``, when its package is installed) FLIP's perceived
    difference map."""
    from restoration.metrics import perceptual

    reference = views[reference_label]
    same = [label for label in labels if views[label].shape == reference.shape]
    maps = {f"{ERROR_PREFIX}{label}": error_map(reference, views[label]) for label in same}
    if flip and perceptual.Flip().unavailable_reason() is None:
        maps.update({f"{FLIP_PREFIX}{label}": flip_error_map(reference, views[label]) for label in same})
    return {**views, **maps}


def parse_numbers(text: str | None) -> list[float] | None:
    """'10, 20,40' -> [10, 20, 40]; empty -> None (use defaults). NaN and infinities are refused."""
    if text is None or not str(text).strip():
        return None
    try:
        numbers = [float(part) for part in str(text).replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise UserInputError(f"expected comma-separated numbers, got {str(text)[:60]!r}") from None
    if not all(math.isfinite(n) for n in numbers):
        raise UserInputError(f"expected finite numbers, got {str(text)[:60]!r}")
    return numbers


MAX_JSON_CHARS = 4096
MAX_JSON_DEPTH = 8


def json_object(text, what: str) -> dict:
    """A JSON object given as text (a codec's parameters): at most ``MAX_JSON_CHARS`` characters
    and ``MAX_JSON_DEPTH`` levels, numbers finite; one clear message for anything else (a text
    nested 100,000 deep raised RecursionError)."""
    if text is None or not str(text).strip():
        return {}
    if not isinstance(text, str) or len(text) > MAX_JSON_CHARS:
        raise UserInputError(f"{what} must be a JSON object of at most {MAX_JSON_CHARS} characters")

    def finite(token: str):
        raise UserInputError(f"{what}: numbers must be finite, got {token}")

    too_deep = UserInputError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        value = json.loads(text, parse_constant=finite)
    except RecursionError:
        raise too_deep from None
    except UserInputError:
        raise
    except ValueError as exc:
        raise UserInputError(f"{what} is not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(value, dict):
        raise UserInputError(f'{what} must be a JSON object such as {{"quality": 50}}')
    pending = [(value, 1)]  # walked without recursion: a deep value must not overflow the stack here
    while pending:
        item, level = pending.pop()
        if level > MAX_JSON_DEPTH:
            raise too_deep
        if isinstance(item, float) and not math.isfinite(item):
            raise UserInputError(f"{what}: numbers must be finite")  # 1e999 reads as inf
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        pending += [(child, level + 1) for child in children]
    return value


def sweep(
    image: np.ndarray,
    codec_names: list[str],
    qualities: list[float] | None = None,
    target_bpps: list[float] | None = None,
    progress: Callable[[float, str], None] | None = None,
    metric: str | None = None,
) -> list[dict]:
    """Rate-distortion sweep of one image; returns JSON-safe rows. ``metric``: also compute this
    one when it is an on-demand metric (the quality axis the user chose)."""
    if not codec_names:
        raise UserInputError("choose at least one codec")
    plan = evaluate.sweep_plan(codec_names, qualities, target_bpps, limit=evaluate.MAX_SETTINGS)
    names = evaluate.default_metric_names()
    if metric and metric not in names and metriclib.METRICS[metric].unavailable_reason() is None:
        names = [*names, metric]
    pixels = image.shape[0] * image.shape[1]
    budget.claim(
        memory.need(
            f"this sweep at {pixels / 1e6:.1f} MP",
            pixels,
            [("codec", n) for n in codec_names],
            metric_steps(names),
            kept=2,
        )
    )  # a setting measured while the next encodes
    rows = []
    for i, (_, result) in enumerate(evaluate.run_sweep({"image": image}, plan, metric_names=names)):
        rows.append(result.row())
        if progress:
            progress((i + 1) / len(plan), f"{result.codec} {i + 1}/{len(plan)}")
    return rows


def bd_against_jpeg(rows: list[dict], metric: str) -> dict:
    """BD-rate of every swept codec against JPEG on ``metric`` (any metric of the table), as
    {"headers", "data"}; empty when JPEG or the metric is missing from the rows."""
    from restoration.metrics import bdrate

    headers = ["codec", f"BD-rate vs JPEG on {metriclib.header(metric)}", "BD-quality", "points"]
    curves: dict[str, list[tuple]] = {}
    for row in rows:
        if isinstance(row.get(metric), (int, float)) and row.get("bpp"):
            curves.setdefault(row["codec"], []).append((row["bpp"], row[metric]))
    if "jpeg" not in curves:
        return {"headers": headers, "data": []}
    data = []
    for codec, points in curves.items():
        if codec == "jpeg":
            continue
        result = bdrate.bd_on(metric, curves["jpeg"], points, rates_in_bytes=False)
        data.append(
            [
                codeclib.get(codec).label,
                None if result is None else f"{result.rate_percent:+.1f} %",
                None if result is None else round(result.quality_delta, 4),
                len(points),
            ]
        )
    return {"headers": headers, "data": data}


def load_input(path_or_array) -> np.ndarray:
    """An uploaded image's pixels (``read_input``)."""
    return read_input(path_or_array).image


def read_input(path_or_array, name: str | None = None) -> reader.Input:
    """An uploaded image through the input door (``codecs.reader``: every format the codecs read, a
    side under 8 px refused in one line); its ``note`` says what was converted (16 bits, grey, ...),
    for the page to show. A message about it names the file (or ``name``), not the server's
    temporary folder. Its decoding claims the request's memory from the header, before decoding."""
    if path_or_array is None:
        raise UserInputError("upload an image or choose an example first")
    if isinstance(path_or_array, (str, os.PathLike)):
        name = name or Path(path_or_array).name
        try:
            with open(path_or_array, "rb") as handle:
                head = handle.read(1 << 16)
            width, height = reader.header_size(head, name=name)
        except (OSError, UserInputError):
            return read_and_claim(path_or_array, name)  # the reader says what is wrong with the file
        if width * height > imagelib.MAX_PIXELS:
            return reader.read(path_or_array, name=name)  # refused from its header, in the reader's words
        budget.claim(decode_need(width * height, head))  # before decoding: it waits here while the server is full
        return reader.read(path_or_array, name=name)
    return read_and_claim(path_or_array, name)


def load_and_claim(source, name: str | None = None) -> np.ndarray:
    return read_and_claim(source, name).image


def metric_steps(names) -> list[tuple[str, str]]:
    """The memory model's steps of these metrics: those computed on the pixels (not rate or time)."""
    return [("metric", name) for name in names if metriclib.METRICS[name].kind == "fidelity"]


def decode_need(pixels: int, head: bytes | None = None) -> memory.Need:
    """What reading an upload of ``pixels`` needs (its decoder's working set and the image), by the
    codec its first bytes (``head``) name; a measured codec counts its encode and decode, an upper bound."""
    kind = codeclib.sniff(head) if head else None
    name = kind.name if kind is not None and memory.measured("codec", kind.name) else "png"
    steps = [("codec", name)] if name != "png" else [("decode", "png")]
    return memory.need(f"reading a {pixels / 1e6:.1f} MP image", pixels, steps)


def read_and_claim(source, name: str | None = None) -> reader.Input:
    read = reader.read(source, name=name)
    budget.claim(decode_need(read.image.shape[0] * read.image.shape[1]))
    return read


def write_pngs(views: dict[str, np.ndarray], names: list[str]) -> list[str]:
    return write_results(views, names)


def write_results(views: dict[str, np.ndarray], names: list[str], fmt: str = outputlib.DEFAULT) -> list[str]:
    """The named views as files for download, in an output format (``codecs.output``: "png",
    "webp" or "jpegxl" lossless, or a codec at a setting such as "avif:q=60";
    ``codecs.output.choices()`` lists a menu's)."""
    chosen = outputlib.parse_format(fmt)  # a bad format refused before anything is written
    folder = scratch.folder("restored-")
    paths = []
    for name in names:
        data, extension = outputlib.encode_result(views[name], chosen)
        path = folder / f"{name}{extension}"
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def model_file_ids(model_ids: list[str], model_file, task: str, scale: int | None = None) -> list[str]:
    """The chosen model ids and, when a model file was uploaded, its id (``models.user_model``:
    spandrel recognises it; one clear line when it does not, or when it does not fit the task)."""
    if not model_file:
        return list(model_ids)
    model = user_model.inspect(model_file, name=Path(str(model_file)).name)
    model.require(task=task, scale=scale)
    return [*model_ids, model.id]


def describe_model_file(model_file) -> str:
    """The line a page shows for an uploaded model file before it runs."""
    if not model_file:
        return ""
    model = user_model.inspect(model_file, name=Path(str(model_file)).name)
    return f"**Your model:** {Path(str(model_file)).name}: {model.describe()}; it runs with the others."
