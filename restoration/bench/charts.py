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

_BARS = (("kib", "Size (KiB)"), ("ratio", "Compression ratio"), ("psnr", "PSNR (dB)"),
         ("ssim", "SSIM"), ("encode_ms", "Encode (ms)"), ("decode_ms", "Decode (ms)"))


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
        fig.add_trace(go.Scatter(
            x=[r["bpp"] for r in points], y=[r[metric] for r in points],
            mode="lines+markers" if len(points) > 1 else "markers",
            name=codeclib.get(name).label, line={"color": colour(name)},
            text=[setting_label(r) for r in points],
            hovertemplate="%{text}<br>%{x:.3f} bpp<br>%{y:.4g}<extra></extra>",
        ))
    unit = f" ({spec.unit})" if spec.unit else ""
    fig.update_layout(title=f"Rate-distortion: {spec.label} vs bpp", xaxis_title="bits per pixel",
                      yaxis_title=spec.label + unit, template="plotly_white", height=420,
                      legend={"orientation": "h", "y": -0.2})
    return fig


def bars_figure(rows: list[dict]) -> go.Figure:
    """Size, ratio, PSNR, SSIM and encode/decode times, one bar per result."""
    columns = {key: [r["bytes"] / 1024 if key == "kib" else r.get(key) for r in rows] for key, _ in _BARS}
    # "inf" PSNR (identical images) is not a bar: the title says why one is missing.
    titles = [title + (" · lossless: ∞, no bar" if any(isinstance(v, str) for v in columns[key]) else "")
              for key, title in _BARS]
    fig = make_subplots(rows=2, cols=3, subplot_titles=titles)
    labels = [setting_label(r) for r in rows]
    colors = [colour(r["codec"]) for r in rows]
    for i, (key, title) in enumerate(_BARS):
        values = [None if isinstance(v, str) else v for v in columns[key]]
        fig.add_trace(go.Bar(x=labels, y=values, marker_color=colors, name=title, showlegend=False,
                             hovertemplate="%{x}<br>%{y:.4g}<extra></extra>"),
                      row=i // 3 + 1, col=i % 3 + 1)
    # The top margin leaves the first titles clear of the panel's own label, which Gradio draws over it.
    fig.update_layout(template="plotly_white", height=580, margin={"t": 80})
    fig.update_xaxes(showticklabels=len(rows) <= 6, tickangle=-30)
    return fig
