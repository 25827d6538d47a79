"""Curves and tables from result rows (a benchmark's ``store.Store.rows``, or a sweep's rows); no
UI code. The figures drawn from them are ``charts``'.

Rate-distortion curves are averaged per setting over the images, as CompressAI does: for each
(codec, restoration model or none, setting) the mean bpp, mean bytes and mean of every metric.
Lossless points (PNG) stay out of the curves (their PSNR is infinite and their rate ~13 bpp) but
are in the per-format figures and tables. The BD table's metrics come from the metric table.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.metrics import bdrate

# The rate-distortion figures a report always has (``bd_metrics`` adds the measured on-demand ones).
RD_METRICS = tuple(m.name for m in metriclib.METRICS.values() if m.bd and not m.on_demand)
METRIC_LABELS = {
    **{name: metriclib.header(name) for name in metriclib.METRICS},
    "restore_ms": "Restore time (ms)",
    "kib": "Size (KiB)",
}
BD_HEADERS = [
    "data set",
    "anchor",
    "test",
    "metric",
    "BD-rate %",
    "BD-quality",
    "bytes / image",
    "overlap",
    "points (anchor/test)",
]
BD_SIGNS = bdrate.SIGNS
# Per-method means: every fidelity metric of the table (LPIPS included: empty where not computed) and bpp.
METHOD_METRICS = (*metriclib.names("fidelity", available_only=False, on_demand=True), "bpp")
METHOD_HEADERS = ["data set", "method", "rows", *[METRIC_LABELS[m] for m in METHOD_METRICS], "time ms"]


def number(value) -> float | None:
    """A finite float, or None ("inf" strings, None and NaN are not numbers to average)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def mean(values) -> float | None:
    """Mean of the values, or None if any is missing (a partial mean would mislead)."""
    values = list(values)
    numbers = [number(v) for v in values]
    if not numbers or any(n is None for n in numbers):
        return None
    return statistics.fmean(numbers)


def codec_label(name: str | None) -> str:
    return codeclib.get(name).label if name in codeclib.CODECS else str(name)


def method_label(row: dict) -> str:
    if row["kind"] == "sr":
        return f"{row['model']} (x{row['scale']})"
    label = codec_label(row["codec"])
    return f"{label} + {row['model']}" if row["kind"] == "restore" else label


@dataclass
class Curve:
    dataset: str
    codec: str
    model: str | None
    points: list[dict] = field(default_factory=list)  # one per setting, sorted by bpp

    @property
    def label(self) -> str:
        return codec_label(self.codec) + (f" + {self.model}" if self.model else "")


def curves(rows: list[dict]) -> list[Curve]:
    """Per data set, codec and model (None: the decoded image as it is), one averaged point per
    setting; lossless settings left out. A sweep's rows (no kind, data set or setting) are one
    image's codec rows, each at its codec's setting."""
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        kind = row.get("kind", "codec")
        setting = row["setting"] if "setting" in row else codeclib.get(row["codec"]).setting_label(row["params"])
        if kind in ("codec", "restore") and setting != "lossless":
            groups[(row.get("dataset", ""), row["codec"], row.get("model"))][setting].append(row)
    result = []
    for (dataset, codec, model), settings in groups.items():
        curve = Curve(dataset, codec, model)
        for setting, members in settings.items():
            point = {"setting": setting, "images": len(members)}
            for key in ("bpp", "bytes", *metriclib.names("fidelity", available_only=False, on_demand=True)):
                point[key] = mean(r.get(key) for r in members)
            point["restore_ms"] = mean(r.get("restore_ms") for r in members)
            if point["bpp"] is not None:
                curve.points.append(point)
        curve.points.sort(key=lambda p: p["bpp"])
        result.append(curve)
    order = list(codeclib.CODECS)
    result.sort(key=lambda c: (c.dataset, order.index(c.codec) if c.codec in order else 99, c.model or ""))
    return result


def bd_metrics(curve_list: list[Curve]) -> list[str]:
    """The metrics of the rate-distortion figures and BD table, from the metric table: those it
    marks for BD-rate that are computed by default (a table row says why where one is missing) or
    were measured in these curves (an on-demand metric a perceptual benchmark asked for)."""
    return [
        m.name
        for m in metriclib.METRICS.values()
        if m.bd and (not m.on_demand or any(p.get(m.name) is not None for c in curve_list for p in c.points))
    ]


def bd_table(curve_list: list[Curve], metrics=None, method: str = "akima") -> list[list]:
    """BD-rate rows (``BD_HEADERS``) on each of ``metrics`` (default: ``bd_metrics``): every codec
    against the anchor (JPEG when present, else the first codec), and every "codec + model"
    against the same codec; within each data set."""
    table = []
    for metric in bd_metrics(curve_list) if metrics is None else metrics:
        for dataset in dict.fromkeys(c.dataset for c in curve_list):
            plain = {c.codec: c for c in curve_list if c.dataset == dataset and c.model is None}
            if not plain:
                continue
            anchor = plain.get("jpeg") or next(iter(plain.values()))
            pairs = [(anchor, c) for c in plain.values() if c is not anchor]
            pairs += [(plain[c.codec], c) for c in curve_list if c.dataset == dataset and c.model and c.codec in plain]
            for a, t in pairs:
                table.append([dataset, a.label, t.label, metric, *bd_cells(metric, a.points, t.points, method)])
    return table


def bd_cells(
    metric: str, anchor: list[dict], test: list[dict], method: str = "akima", rate: str = "bytes", quality=None
):
    """A BD row's cells from two curves' points: BD-rate %, BD-quality, bytes per image (None
    unless ``rate`` is "bytes"), overlap and the points (anchor/test: those with the metric);
    where there is no BD-rate the points cell says why, instead of a row of blanks. ``quality``:
    the points' key of the quality axis when it is not the metric's own (MS-SSIM in dB), the
    direction staying ``metric``'s."""
    key = quality or metric
    a, t = ([(p[rate], p.get(key)) for p in points] for points in (anchor, test))
    result = bdrate.bd_on(metric, a, t, method, rates_in_bytes=rate == "bytes")
    usable = [len(bdrate.monotone(points)) for points in (a, t)]
    points = "/".join(map(str, usable))
    if result is None:
        why = (
            f"{metric} not measured on these images"
            if 0 in usable
            else "fewer than 2 rising points"
            if min(usable) < 2
            else "quality ranges do not overlap"
        )
        return [None] * 4 + [f"{points}: no BD-rate, {why}"]
    return [
        round(result.rate_percent, 2),
        round(result.quality_delta, 4 if "ssim" in key else 3),
        None if result.bytes_change is None else round(result.bytes_change),
        round(result.overlap, 2),
        points,
    ]


def _row_time(row: dict) -> float | None:
    parts = [row.get("encode_ms"), row.get("decode_ms"), row.get("restore_ms")]
    numbers = [number(p) for p in parts if p is not None]
    return None if not numbers or any(n is None for n in numbers) else sum(numbers)


def method_table(rows: list[dict]) -> list[list]:
    """Per data set and method (codec, codec + model, or SR model): means over images and
    settings of PSNR, Y-PSNR, SSIM, MS-SSIM, bpp and time (encode + decode + restore ms)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["dataset"], method_label(row))].append(row)
    table = []
    for (dataset, method), members in groups.items():
        cells = []
        for key in METHOD_METRICS:
            digits = 3 if metriclib.METRICS[key].unit == "dB" else 4
            value = mean(r.get(key) for r in members)
            if value is None and key.startswith("psnr") and all(r.get(key) == "inf" for r in members):
                cells.append("inf")
            else:
                cells.append(None if value is None else round(value, digits))
        time_ms = mean(_row_time(r) for r in members)
        table.append([dataset, method, len(members), *cells, None if time_ms is None else round(time_ms, 1)])
    return table
