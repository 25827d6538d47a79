"""What the Codec comparison tab does, free of any UI code (``ui/codecs_tab.py`` only wires it):
its pickers, the comparison and the rate-distortion sweep (``pipelines.compare``), their table,
status line, charts and files, and the estimates under their buttons."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.benchmark import charts
from restoration.core import scratch
from restoration.core.errors import UserInputError
from restoration.lab import common, cost
from restoration.metrics import bdrate
from restoration.models import timing
from restoration.pipelines import compare as comparelib
from restoration.pipelines import equal_quality, evaluate

ORIGINAL = "Original"

# -- pickers ---------------------------------------------------------------------------------------


def codec_choices() -> list[tuple[str, str]]:
    """Every registered codec as (label, name), in the registry's order."""
    return [(c.label, c.name) for c in codeclib.CODECS.values()]


def codec_params() -> list[tuple[str, list]]:
    """Each registered codec's name and its parameters (``codecs.Param``), for the settings form."""
    return [(c.name, list(c.params)) for c in codeclib.CODECS.values()]


def rd_metric_choices() -> list[tuple[str, str]]:
    """The quality axes a sweep can be drawn on: every fidelity metric computable here."""
    return [
        (m.label, m.name) for m in metriclib.METRICS.values() if m.kind == "fidelity" and not m.unavailable_reason()
    ]


BD_SIGNS = bdrate.SIGNS  # what a BD-rate's sign means, for the table's label


# -- the comparison --------------------------------------------------------------------------------


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
    """The compare table's columns by importance, for the page's first view (``lab.tables``):
    the result, whether it met its target, its size, the metric table's headline rate and quality
    metrics, then the on-demand ones (asked for, or the metric an equal-quality target searched
    on); the rest follow a click away."""
    metrics = sorted(table_metrics(), key=lambda m: m.kind != "rate")
    chosen = [m for m in metrics if m.headline] + [m for m in metrics if m.on_demand and not m.headline]
    return ["setting", "target", "KiB", *[metriclib.header(m.name) for m in chosen]]


def target_from_ui(mode: str, value: float | None):
    """The tab's "Compare at" mode and its value -> a target (``pipelines.compare.parse_target``)."""
    return comparelib.parse_target(mode, value)


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
    """The comparison (``pipelines.compare.compare_codecs``: every chosen codec, ``settings``: codec
    name -> its params, on one image); with ``perceptual`` also the on-demand metrics. Each plain
    encode's time refines the tab's next estimate."""
    names = metriclib.names(on_demand=perceptual)
    results = comparelib.compare_codecs(image, settings, target, names, progress)
    for result in results:
        record_codec_time(result, searched=result.target is not None)
    return results


def record_codec_time(result: evaluate.CodecResult, searched: bool) -> None:
    """One encode + decode's seconds in this process (``timing``), for the tab's next estimate;
    not after a size search, whose timing is of its last encode alone."""
    encode, decode = result.metrics.get("encode_ms"), result.metrics.get("decode_ms")
    if not searched and encode is not None and decode is not None:
        timing.record(result.codec, (encode + decode) / 1000, result.width * result.height)


def compare_views(image: np.ndarray, results: list[evaluate.CodecResult], perceptual: bool) -> dict[str, np.ndarray]:
    """The compare view's choices: the original, each decoded result and their error maps."""
    views = {ORIGINAL: image, **{result_label(r): r.decoded for r in results}}
    return common.with_error_maps(views, ORIGINAL, [result_label(r) for r in results], flip=perceptual)


def table(results: list[evaluate.CodecResult]) -> dict:
    """The compare table as {"headers", "data"}, without the columns that are empty in every row
    (an on-demand metric nobody asked for, the size target when there was none)."""
    return common.without_empty_columns(table_headers(), table_rows(results), always=("codec", "setting", "KiB"))


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


FAR_UNDER = 0.85  # a size target met with a file under this share of the budget is said to be well under it


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
    held = [r for r in results if r.target_met is not None]  # a lossless codec runs at its settings
    if missed:
        text += f" Target {goal}: missed by {', '.join(missed)} (their smallest file is larger)."
    elif held:
        text += f" Target {goal}: met by every codec{'' if len(held) == len(results) else ' held to it'}."
    else:
        text += f" Target {goal}: no chosen codec has a size to search."
    # A codec with few settings can only land well under the budget: say how far, beside "met".
    under = [
        f"{codeclib.get(r.codec).label} at {r.metrics['bpp']:.2f} bpp"
        for r in results
        if r.target_met and isinstance(r.metrics.get("bpp"), float) and r.nbytes < FAR_UNDER * target.budget(image)
    ]
    text += f" Well under it: {', '.join(under)} (the next setting up is over the budget)." if under else ""
    return text + "".join(
        f" {r.extra['note'][0].upper()}{r.extra['note'][1:]}." for r in results if r.extra.get("note")
    )


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


def bars_chart(results: list[evaluate.CodecResult]):
    """The comparison's bars: size, ratio, quality and speed per codec."""
    return charts.bars_figure([r.row() for r in results])


def compress_one(image_path, codec_name: str, params_json, target_bpp, target_bytes):
    """The /compress endpoint: one codec on one image; (its file, the decoded image, its row)."""
    params = common.json_object(params_json, "params")  # checked before the image is read
    image = common.load_input(image_path)
    target = (
        comparelib.parse_target("bpp", target_bpp)
        if target_bpp
        else (comparelib.parse_target("bytes", target_bytes) if target_bytes else None)
    )
    result = compare(image, {codeclib.get(codec_name).name: params}, target)[0]
    return write_encoded([result])[0], result.decoded, result.row()


# -- the sweep -------------------------------------------------------------------------------------


def sweep(
    image: np.ndarray,
    codec_names: list[str],
    qualities: list[float] | None = None,
    target_bpps: list[float] | None = None,
    progress: Callable[[float, str], None] | None = None,
    metric: str | None = None,
) -> list[dict]:
    """Rate-distortion sweep of one image (``pipelines.compare.sweep``, at most
    ``evaluate.MAX_SETTINGS`` settings a codec); returns JSON-safe rows. ``metric``: also compute
    this one when it is an on-demand metric (the quality axis the user chose)."""
    names = comparelib.sweep_metric_names(axis=metric)
    results = comparelib.sweep(
        image, codec_names, qualities, target_bpps, names, limit=evaluate.MAX_SETTINGS, progress=progress
    )
    return [result.row() for result in results]


def rd_chart(rows: list[dict], metric: str):
    """The sweep's rate-distortion curves on one quality axis."""
    return charts.rd_figure(rows, metric)


def bd_against_jpeg(rows: list[dict], metric: str) -> dict:
    """BD-rate of every swept codec against JPEG on ``metric`` (any metric of the table), as
    {"headers", "data"}; empty when JPEG or the metric is missing from the rows."""
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


# -- estimates -------------------------------------------------------------------------------------


def compare_work(
    image_path, codec_names, mode="settings", perceptual: bool = False
) -> tuple[tuple[int, int], cost.Estimate] | None:
    """The work of a codec comparison (``mode`` as the tab's "Compare at": "settings", "bpp",
    "KiB" or "quality:<metric>"): each codec's encode and decode and the table's metrics; a size
    target's bisection of encodes; an equal-quality search's steps, each an encode, a decode and
    the metrics with the searched one; the error maps, and the compare view's two pictures."""
    size = cost.header_pixels(image_path) if image_path else None
    if size is None or not codec_names:
        return None
    mode = {True: "bpp", False: "settings"}.get(mode, mode) if isinstance(mode, bool) else (mode or "settings")
    pixels = size[0] * size[1]
    names = metriclib.names(on_demand=perceptual)
    searched = mode.removeprefix(comparelib.QUALITY_MODE) if mode.startswith(comparelib.QUALITY_MODE) else None
    if searched and searched not in names:
        names = [*names, searched]
    measure = cost.metrics_seconds(names, pixels)
    work = cost.Estimate()
    for codec in dict.fromkeys(codeclib.get(name) for name in codec_names):
        once = cost.codec_rate(codec.name).at(pixels)
        steps = codec.size_search_steps() if codec.knob is not None and mode != "settings" else 0
        if searched and steps:
            work.add(codec.name, steps * (once + measure))
        else:
            work.add(codec.name, steps * once + once + measure)
        work.add("error maps", cost.error_maps_seconds(pixels, flip=perceptual))
    work.add("page", 2 * cost.png_rate().at(pixels) + cost.CHART_S)  # the compare view's pictures, the bars
    return size, work


def compare_estimate(image_path, codec_names, mode="settings", perceptual: bool = False) -> str:
    """Before a codec comparison: about how long it will take here (``compare_work``)."""
    found = compare_work(image_path, codec_names, mode, perceptual)
    return "" if found is None else common.estimate_text(*found)


def sweep_estimate(image_path, codec_names, qualities_text, bpps_text, metric: str = "psnr") -> str:
    """Before a rate-distortion sweep: each point of its plan (``evaluate.sweep_plan``: JPEG 2000 at
    its own rates) an encode and a decode (a bpp target's bisection of encodes) and the table's
    metrics with the chosen quality axis."""
    size = cost.header_pixels(image_path) if image_path else None
    if size is None or not codec_names:
        return ""
    try:
        plan = evaluate.sweep_plan(
            codec_names,
            common.parse_numbers(qualities_text),
            common.parse_numbers(bpps_text),
            limit=evaluate.MAX_SETTINGS,
        )
    except UserInputError:
        return ""  # the run says what is wrong
    pixels = size[0] * size[1]
    names = list(dict.fromkeys([*evaluate.default_metric_names(), metric]))
    measure = cost.metrics_seconds(names, pixels)
    work = cost.Estimate()
    for point in plan:
        encodes = 1 + (point.codec.size_search_steps() if point.target is not None else 0)
        work.add(point.codec.name, encodes * cost.codec_rate(point.codec.name).at(pixels) + measure)
    work.add("page", cost.CHART_S)  # the rate-distortion chart
    return common.estimate_text(size, work)
