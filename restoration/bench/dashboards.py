"""Figures and tables from stored benchmark rows (``store.Store.rows``); no UI code.

Rate-distortion curves are averaged per setting over the images, as CompressAI does: for each
(codec, restoration model or none, setting) the mean bpp, mean bytes and mean quality. Lossless
points (PNG) stay out of the curves (their PSNR is infinite and their rate ~13 bpp) but are in
the per-format figures and tables.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.bench.charts import colour, empty_figure, missing_reason
from restoration.metrics import bdrate

RD_METRICS = ("psnr", "ssim", "ms_ssim")
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
    setting; lossless settings left out."""
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["kind"] in ("codec", "restore") and row["setting"] != "lossless":
            groups[(row["dataset"], row["codec"], row["model"])][row["setting"]].append(row)
    result = []
    for (dataset, codec, model), settings in groups.items():
        curve = Curve(dataset, codec, model)
        for setting, members in settings.items():
            point = {"setting": setting, "images": len(members)}
            for key in ("bpp", "bytes", "psnr", "psnr_y", "ssim", "ms_ssim", "restore_ms"):
                point[key] = mean(r.get(key) for r in members)
            if point["bpp"] is not None:
                curve.points.append(point)
        curve.points.sort(key=lambda p: p["bpp"])
        result.append(curve)
    order = list(codeclib.CODECS)
    result.sort(key=lambda c: (c.dataset, order.index(c.codec) if c.codec in order else 99, c.model or ""))
    return result


def rd_figure(curve_list: list[Curve], metric: str = "psnr") -> go.Figure:
    """Quality against bpp, one line per codec; dashed: the same codec after restoration."""
    several = len({c.dataset for c in curve_list}) > 1
    fig = go.Figure()
    for curve in curve_list:
        points = [p for p in curve.points if p.get(metric) is not None]
        if not points:
            continue
        name = curve.label + (f" [{curve.dataset}]" if several else "")
        fig.add_trace(
            go.Scatter(
                x=[p["bpp"] for p in points],
                y=[p[metric] for p in points],
                mode="lines+markers",
                name=name,
                line={"color": colour(curve.codec), "dash": "dash" if curve.model else "solid"},
                marker={"symbol": "diamond" if curve.model else "circle"},
                text=[f"{name}<br>{p['setting']} · {p['images']} image(s)" for p in points],
                hovertemplate="%{text}<br>%{x:.3f} bpp<br>%{y:.4g}<extra></extra>",
            )
        )
    restored = "; dashed: after restoration" if any(c.model for c in curve_list) else ""
    if not fig.data:
        why = missing_reason(metric) if curve_list else "No lossy codec rows in the selected runs"
        return empty_figure(f"{METRIC_LABELS[metric]} vs bpp", why, height=460)
    fig.update_layout(
        title=f"{METRIC_LABELS[metric]} vs bpp<br><sup>mean over images per setting{restored}</sup>",
        xaxis_title="bits per pixel",
        yaxis_title=METRIC_LABELS[metric],
        template="plotly_white",
        height=460,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def bd_table(curve_list: list[Curve], metrics=("psnr",), method: str = "akima") -> list[list]:
    """BD-rate rows: every codec against the anchor (JPEG when present, else the first codec),
    and every "codec + model" against the same codec; within each data set."""
    table = []
    for metric in metrics:
        for dataset in dict.fromkeys(c.dataset for c in curve_list):
            plain = {c.codec: c for c in curve_list if c.dataset == dataset and c.model is None}
            if not plain:
                continue
            anchor = plain.get("jpeg") or next(iter(plain.values()))
            pairs = [(anchor, c) for c in plain.values() if c is not anchor]
            pairs += [(plain[c.codec], c) for c in curve_list if c.dataset == dataset and c.model and c.codec in plain]
            for a, t in pairs:
                table.append([dataset, a.label, t.label, metric, *bd_cells(metric, a, t, method)])
    return table


def bd_cells(metric: str, anchor: Curve, test: Curve, method: str) -> list:
    """A BD row's numbers and its points (anchor/test: those with the metric); where there is no
    BD-rate the points cell says why, instead of a row of blanks."""
    a, t = ([(p["bytes"], p[metric]) for p in c.points] for c in (anchor, test))
    result = bdrate.bd_on(metric, a, t, method)
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
        round(result.quality_delta, 4 if "ssim" in metric else 3),
        round(result.bytes_change),
        round(result.overlap, 2),
        points,
    ]


def _per_codec(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row["kind"] == "codec":
            groups[row["codec"]].append(row)
    order = list(codeclib.CODECS)
    return dict(sorted(groups.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))


def _summary(members: list[dict], key: str) -> float | None:
    if key == "kib":
        return mean(r["bytes"] / 1024 for r in members)
    return mean(r.get(key) for r in members)


_FORMAT_PANELS = (
    ("ratio", "Compression ratio"),
    ("kib", "Size (KiB)"),
    ("psnr", "PSNR (dB)"),
    ("ssim", "SSIM"),
    ("encode_ms", "Encode time (ms)"),
    ("decode_ms", "Decode time (ms)"),
)


def format_figure(rows: list[dict]) -> go.Figure:
    """The seed study's per-format figures: compression ratio, size, PSNR, SSIM, encode and
    decode time, one bar per codec (mean over every image and setting of the selection)."""
    groups = _per_codec(rows)
    if not groups:
        return empty_figure("Per format", NO_CODEC_ROWS)
    fig = make_subplots(rows=2, cols=3, subplot_titles=[t for _, t in _FORMAT_PANELS])
    labels = [codec_label(c) for c in groups]
    colors = [colour(c) for c in groups]
    for i, (key, title) in enumerate(_FORMAT_PANELS):
        values = [_summary(m, key) for m in groups.values()]
        text = [
            "lossless" if key == "psnr" and v is None and codeclib.get(codec).knob is None else ""
            for codec, v in zip(groups, values)
        ]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=values,
                marker_color=colors,
                name=title,
                showlegend=False,
                text=text,
                hovertemplate="%{x}<br>%{y:.4g}<extra></extra>",
            ),
            row=i // 3 + 1,
            col=i % 3 + 1,
        )
    n = sum(len(m) for m in groups.values())
    fig.update_layout(
        title=f"Per format (mean over {n} image x setting rows)", template="plotly_white", height=560, margin={"t": 70}
    )
    return fig


NO_CODEC_ROWS = "No codec rows in the selected runs (a super-resolution run has none)"
HEATMAP_METRICS = tuple(metriclib.names(available_only=False, on_demand=True))
_LOWER_BETTER = {m.name for m in metriclib.METRICS.values() if m.lower_better}


def heatmap_figure(rows: list[dict]) -> go.Figure:
    """Codecs x metrics; colour: 1 = best codec on that metric, 0 = worst; text: the mean value."""
    groups = _per_codec(rows)
    if not groups:
        return empty_figure("Metric heatmap per format", NO_CODEC_ROWS)
    values = [[_summary(m, key) for key in HEATMAP_METRICS] for m in groups.values()]
    lossless = [codeclib.get(c).knob is None for c in groups]
    z, text = [], []
    for r, row in enumerate(values):
        z.append([]), text.append([])
        for k, key in enumerate(HEATMAP_METRICS):
            column = [v[k] for v in values if v[k] is not None]
            value = row[k]
            if value is None and lossless[r] and key in ("psnr", "psnr_y"):
                z[-1].append(1.0), text[-1].append("lossless")
                continue
            if value is None or not column:
                z[-1].append(None), text[-1].append("n/a")
                continue
            low, high = min(column), max(column)
            score = 0.5 if high == low else (value - low) / (high - low)
            z[-1].append(1 - score if key in _LOWER_BETTER else score)
            text[-1].append(f"{value:.4g}")
    if all(value is None for row in z for value in row):
        return empty_figure("Metric heatmap per format", "No metric has a value in the selected runs")
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[METRIC_LABELS[k] for k in HEATMAP_METRICS],
            y=[codec_label(c) for c in groups],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmin=0,
            zmax=1,
            colorbar={"title": "best = 1"},
        )
    )
    absent = [METRIC_LABELS[key] for k, key in enumerate(HEATMAP_METRICS) if all(v[k] is None for v in values)]
    said = (
        f"<br><sup>n/a: {', '.join(absent)} not measured in these runs (on-demand metrics are asked for; "
        f"MS-SSIM needs {metriclib.MS_SSIM_MIN_SIDE} px)</sup>"
        if absent
        else ""
    )
    fig.update_layout(
        title=f"Metric heatmap per format (mean over images and settings; colour ranks codecs per metric){said}",
        template="plotly_white",
        height=140 + 50 * max(1, len(groups)),
        margin={"t": 90},
    )
    return fig


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
