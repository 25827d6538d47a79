"""Plotly figures for codec results: rate-distortion curves and per-codec bar charts."""

from __future__ import annotations

from collections import defaultdict

import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from restoration import codecs as codeclib
from restoration import metrics as metriclib

_COLOURS = plotly.colors.qualitative.D3 + plotly.colors.qualitative.Dark24


def colour(name: str) -> str:
    """A fixed colour for every registered codec, by its place in the registry (so a new codec
    gets one without editing a table); any other name (a model) gets one by its registry place."""
    from restoration.models import restorers

    names = list(codeclib.CODECS) + list(restorers.REGISTRY)
    key = codeclib.ALIASES.get(name, name)
    index = names.index(key) if key in names else sum(map(ord, name))
    return _COLOURS[index % len(_COLOURS)]


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


_BARS = (
    ("kib", "Size (KiB)"),
    ("ratio", "Compression ratio"),
    ("psnr", "PSNR (dB)"),
    ("ssim", "SSIM"),
    ("encode_ms", "Encode (ms)"),
    ("decode_ms", "Decode (ms)"),
)


def setting_label(row: dict) -> str:
    codec = codeclib.get(row["codec"])
    return f"{codec.label} {codec.setting_label(row['params'])}"


def rd_figure(rows: list[dict], metric: str = "psnr") -> go.Figure:
    """One line per codec: ``metric`` against bits per pixel (lossless points as markers)."""
    spec = metriclib.METRICS[metric]
    by_codec: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if isinstance(row.get(metric), (int, float)) and isinstance(row.get("bpp"), (int, float)):
            by_codec[row["codec"]].append(row)
    fig = go.Figure()
    for name, points in by_codec.items():
        points.sort(key=lambda r: r["bpp"])
        fig.add_trace(
            go.Scatter(
                x=[r["bpp"] for r in points],
                y=[r[metric] for r in points],
                mode="lines+markers" if len(points) > 1 else "markers",
                name=codeclib.get(name).label,
                line={"color": colour(name)},
                text=[setting_label(r) for r in points],
                hovertemplate="%{text}<br>%{x:.3f} bpp<br>%{y:.4g}<extra></extra>",
            )
        )
    unit = f" ({spec.unit})" if spec.unit else ""
    if not by_codec:
        why = (
            "No rows to draw: run a sweep"
            if not rows
            else (
                missing_reason(metric)
                if not any(isinstance(r.get(metric), (int, float)) for r in rows)
                else "Only lossless points (no finite bits per pixel and quality to draw)"
            )
        )
        return empty_figure(f"Rate-distortion: {spec.label} vs bpp", why)
    fig.update_layout(
        title=f"Rate-distortion: {spec.label} vs bpp{own_points_note(by_codec)}",
        xaxis_title="bits per pixel",
        yaxis_title=spec.label + unit,
        template="plotly_white",
        height=420,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def own_points_note(codec_names) -> str:
    """A sweep's subtitle naming the codecs swept over their own settings, since their knob is not a
    quality (JPEG 2000's compression rate): typed qualities do not apply to them."""
    own = [
        codeclib.get(name)
        for name in codec_names
        if codeclib.get(name).knob is not None and codeclib.get(name).knob.name != "quality"
    ]
    if not own:
        return ""
    said = "; ".join(f"{c.label} at its own {c.knob.name}s ({', '.join(f'{v:g}' for v in c.knob.sweep)})" for c in own)
    return f"<br><sup>{said}: its setting is not a quality, so typed qualities do not apply</sup>"


def bars_figure(rows: list[dict]) -> go.Figure:
    """Size, ratio, PSNR, SSIM and encode/decode times, one bar per result."""
    columns = {key: [r["bytes"] / 1024 if key == "kib" else r.get(key) for r in rows] for key, _ in _BARS}
    # "inf" PSNR (identical images) is not a bar: the title says why one is missing.
    titles = [
        title + (" · lossless: ∞, no bar" if any(isinstance(v, str) for v in columns[key]) else "")
        for key, title in _BARS
    ]
    fig = make_subplots(rows=2, cols=3, subplot_titles=titles)
    labels = [setting_label(r) for r in rows]
    colors = [colour(r["codec"]) for r in rows]
    for i, (key, title) in enumerate(_BARS):
        values = [None if isinstance(v, str) else v for v in columns[key]]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=values,
                marker_color=colors,
                name=title,
                showlegend=False,
                hovertemplate="%{x}<br>%{y:.4g}<extra></extra>",
            ),
            row=i // 3 + 1,
            col=i % 3 + 1,
        )
    # The top margin leaves the first titles clear of the panel's own label, which Gradio draws over it.
    fig.update_layout(template="plotly_white", height=580, margin={"t": 80})
    fig.update_xaxes(showticklabels=len(rows) <= 6, tickangle=-30)
    return fig
