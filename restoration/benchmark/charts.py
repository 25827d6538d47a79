"""Every Plotly figure of codec and benchmark results, from result rows (a sweep's or comparison's
rows, or a benchmark's stored rows) and the metric table: rate-distortion curves, per-result or
per-format bars and the per-format metric heatmap. Titles, axes and panels take their labels
from the metric table (``Metric.chart_label``); which panels and curves there are, from its
fields too. Curves and means come from ``dashboards``.
"""

from __future__ import annotations

import math
from collections import defaultdict

import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.benchmark import dashboards
from restoration.models import restorers

_COLOURS = plotly.colors.qualitative.D3 + plotly.colors.qualitative.Dark24
NO_CODEC_ROWS = "No codec rows in the selected runs (a super-resolution run has none)"
SIZE = ("kib", "Size (KiB)")  # the bars' size panel: bytes / 1024 (bits per pixel is its per-pixel form)
HEATMAP_METRICS = tuple(metriclib.names(available_only=False, on_demand=True))


def colour(name: str) -> str:
    """A fixed colour for every registered codec, by its place in the registry (so a new codec
    gets one without editing a table); any other name (a model) gets one by its registry place."""
    names = list(codeclib.CODECS) + list(restorers.REGISTRY)
    key = codeclib.ALIASES.get(name, name)
    index = names.index(key) if key in names else sum(map(ord, name))
    return _COLOURS[index % len(_COLOURS)]


def label(name: str) -> str:
    """A chart's title or axis for a metric of the table, or the size panel."""
    return SIZE[1] if name == SIZE[0] else metriclib.METRICS[name].chart_label


def empty_figure(title: str, why: str, height: int = 300) -> go.Figure:
    """A chart with nothing to draw says why, in its middle, instead of an empty pair of axes."""
    fig = go.Figure()
    fig.add_annotation(text=why, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 15})
    fig.update_layout(
        title=title, template="plotly_white", height=height, xaxis={"visible": False}, yaxis={"visible": False}
    )
    return fig


def missing_reason(metric: str) -> str:
    """Why a metric has no values in a selection: it cannot be computed here, or (MS-SSIM) the
    images are too small for it, or it was not asked for."""
    spec = metriclib.METRICS[metric]
    if spec.unavailable_reason():
        return f"{spec.label} cannot be computed here: {spec.unavailable_reason()}"
    if metric == "ms_ssim":
        return (
            f"No {spec.label}: it needs images of at least {metriclib.MS_SSIM_MIN_SIDE} px on the short side "
            "(its 5 scales), and these are smaller"
        )
    if spec.on_demand:
        return f"No {spec.label}: it is computed on demand (tick the perceptual metrics) and was not asked for"
    return f"No {spec.label} in these rows"


def setting_label(row: dict) -> str:
    codec = codeclib.get(row["codec"])
    return f"{codec.label} {codec.setting_label(row['params'])}"


# -- rate-distortion -------------------------------------------------------------------------------
def rd_figure(rows: list[dict], metric: str = "psnr") -> go.Figure:
    """``metric`` against bits per pixel, one line per codec (``dashboards.curves``: the mean per
    setting over the images); dashed: the same codec after restoration."""
    curve_list = dashboards.curves(rows)
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
                mode="lines+markers" if len(points) > 1 else "markers",
                name=name,
                line={"color": colour(curve.codec), "dash": "dash" if curve.model else "solid"},
                marker={"symbol": "diamond" if curve.model else "circle"},
                text=[f"{name}<br>{p['setting']} · {p['images']} image(s)" for p in points],
                hovertemplate="%{text}<br>%{x:.3f} bpp<br>%{y:.4g}<extra></extra>",
            )
        )
    title = f"{label(metric)} vs bpp"
    if not fig.data:
        why = (
            "No rows to draw: run a sweep or a benchmark"
            if not rows
            else missing_reason(metric)
            if curve_list
            else "No lossy codec rows to draw (a lossless point has no finite quality to plot)"
        )
        return empty_figure(title, why, height=460)
    notes = [
        *(["mean over images per setting"] if any(p["images"] > 1 for c in curve_list for p in c.points) else []),
        *(["dashed: after restoration"] if any(c.model for c in curve_list) else []),
        *own_points_notes(curve_list),
    ]
    fig.update_layout(
        title=title + (f"<br><sup>{'; '.join(notes)}</sup>" if notes else ""),
        xaxis_title="bits per pixel",
        yaxis_title=label(metric),
        template="plotly_white",
        height=460,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def own_points_notes(curve_list: list[dashboards.Curve]) -> list[str]:
    """A note naming the codecs swept over their own settings, since their knob is not a quality
    (JPEG 2000's compression rate): typed qualities do not apply to them."""
    own = []
    for curve in curve_list:
        codec = codeclib.get(curve.codec)
        knob = codec.knob
        swept = knob is not None and any(p["setting"].startswith(f"{knob.name}=") for p in curve.points)
        if swept and knob.name != "quality" and codec not in own:
            own.append(codec)
    if not own:
        return []
    said = "; ".join(f"{c.label} at its own {c.knob.name}s ({', '.join(f'{v:g}' for v in c.knob.sweep)})" for c in own)
    return [f"{said}: its setting is not a quality, so typed qualities do not apply"]


# -- bars ------------------------------------------------------------------------------------------
def bar_panels(rows: list[dict]) -> list[str]:
    """The bars' panels, from the metric table: the size, the other rates (bits per pixel is the
    size per pixel), the headline fidelity metrics computed by default or measured in ``rows``,
    then the times."""
    measured = lambda name: any(isinstance(r.get(name), (int, float)) for r in rows)
    fidelity = [
        m.name
        for m in metriclib.METRICS.values()
        if m.kind == "fidelity" and m.headline and (not m.on_demand or measured(m.name))
    ]
    rates = [m.name for m in metriclib.METRICS.values() if m.kind == "rate" and m.name != "bpp"]
    return [SIZE[0], *rates, *fidelity, *metriclib.names("time", available_only=False)]


def bars_figure(rows: list[dict], per_format: bool = False) -> go.Figure:
    """One bar per result (``per_format``: per codec, the mean over every image and setting of
    the rows) on each of ``bar_panels``. An infinite value (a lossless result's PSNR) has no bar:
    its bar's text and the panel's title say so."""
    groups = _per_codec(rows) if per_format else {str(i): [row] for i, row in enumerate(rows)}
    if not groups:
        return empty_figure("Per format" if per_format else "Results", NO_CODEC_ROWS if per_format else "No results")
    panels = bar_panels(rows)
    columns = {key: [_cell(members, key) for members in groups.values()] for key in panels}
    titles = [label(key) + (" · lossless: ∞, no bar" if "lossless" in columns[key] else "") for key in panels]
    cols = 3
    fig = make_subplots(rows=math.ceil(len(panels) / cols), cols=cols, subplot_titles=titles)
    labels = [dashboards.codec_label(c) for c in groups] if per_format else [setting_label(r) for r in rows]
    colours = [colour(members[0]["codec"]) for members in groups.values()]
    for i, key in enumerate(panels):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[None if v == "lossless" else v for v in columns[key]],
                marker_color=colours,
                name=label(key),
                showlegend=False,
                text=["lossless" if v == "lossless" else "" for v in columns[key]],
                hovertemplate="%{x}<br>%{y:.4g}<extra></extra>",
            ),
            row=i // cols + 1,
            col=i % cols + 1,
        )
    n = sum(len(m) for m in groups.values())
    # The top margin leaves the first titles clear of the panel's own label, which Gradio draws over it.
    fig.update_layout(
        title=f"Per format (mean over {n} image x setting rows)" if per_format else None,
        template="plotly_white",
        height=290 * math.ceil(len(panels) / cols),
        margin={"t": 80},
    )
    fig.update_xaxes(showticklabels=per_format or len(rows) <= 6, tickangle=-30)
    return fig


def _cell(members: list[dict], key: str):
    """A bar's value: the mean over ``members`` (None where one lacks it), or "lossless" where every
    member's value is infinite (identical images)."""
    if key == SIZE[0]:
        return dashboards.mean(r["bytes"] / 1024 for r in members)
    values = [r.get(key) for r in members]
    if values and all(v == "inf" or isinstance(v, float) and math.isinf(v) for v in values):
        return "lossless"
    return dashboards.mean(values)


def _per_codec(rows: list[dict]) -> dict[str, list[dict]]:
    """The codec rows (not restored or upscaled) per codec, in registry order."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row.get("kind", "codec") == "codec":
            groups[row["codec"]].append(row)
    order = list(codeclib.CODECS)
    return dict(sorted(groups.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))


# -- heatmap ---------------------------------------------------------------------------------------
def heatmap_figure(rows: list[dict]) -> go.Figure:
    """Codecs x metrics; colour: 1 = best codec on that metric, 0 = worst; text: the mean value."""
    groups = _per_codec(rows)
    if not groups:
        return empty_figure("Metric heatmap per format", NO_CODEC_ROWS)
    values = [[_cell(m, key) for key in HEATMAP_METRICS] for m in groups.values()]
    z, text = [], []
    for row in values:
        z.append([]), text.append([])
        for k, key in enumerate(HEATMAP_METRICS):
            column = [v[k] for v in values if isinstance(v[k], float)]
            value = row[k]
            if value == "lossless":
                z[-1].append(1.0), text[-1].append("lossless")
                continue
            if value is None or not column:
                z[-1].append(None), text[-1].append("n/a")
                continue
            low, high = min(column), max(column)
            score = 0.5 if high == low else (value - low) / (high - low)
            z[-1].append(1 - score if metriclib.METRICS[key].lower_better else score)
            text[-1].append(f"{value:.4g}")
    if all(value is None for row in z for value in row):
        return empty_figure("Metric heatmap per format", "No metric has a value in the selected runs")
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[label(k) for k in HEATMAP_METRICS],
            y=[dashboards.codec_label(c) for c in groups],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmin=0,
            zmax=1,
            colorbar={"title": "best = 1"},
        )
    )
    absent = [label(key) for k, key in enumerate(HEATMAP_METRICS) if all(v[k] is None for v in values)]
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
