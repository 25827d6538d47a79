"""What the Restoration tab does, free of any UI code (``ui/restore_tab.py`` only wires it): the
degradation form as a chain, the degraded file, the restore run and how its results read."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from restoration import codecs
from restoration import metrics as metriclib
from restoration.core import budget, memory, scratch
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError
from restoration.pipelines.lab import load_input, read_input, with_error_maps, without_empty_columns

DEGRADATIONS = ("codec", "noise", "blur", "downscale", "chain")


def make_degradation(
    kind: str,
    codec: str,
    quality: float,
    bpp: float | None,
    sigma: float,
    blur: float,
    factor: int = 2,
    chain: str = "",
):
    """UI choices -> a degradation chain, through the same text the CLI's ``--chain`` reads
    (bpp > 0 overrides the codec quality)."""
    from restoration import degrade

    if kind == "codec":  # parse_chain refuses a lossless codec, naming the step
        return degrade.parse_chain(f"{codec}:bpp={float(bpp):g}" if bpp else f"{codec}:q={quality:g}")
    texts = {
        "noise": f"noise:{float(sigma):g}",
        "blur": f"blur:{float(blur):g}",
        "downscale": f"downscale:{int(factor or 0)}",
        "chain": chain,
    }
    if kind not in texts:
        raise UserInputError(f"unknown degradation {kind!r}; choose from {', '.join(DEGRADATIONS)}")
    return degrade.parse_chain(texts[kind])


BROWSER_FORMATS = (".jpg", ".png", ".webp")  # what the page can show and the restore step can read


def degrade_to_file(image: np.ndarray, chain, folder: str | Path | None = None) -> tuple[str, str | None]:
    """Apply the chain; returns (an image file for the page and the restore step: the codec's real
    bytes when a browser shows them, a JPEG's keeping its quantisation tables; else a PNG of the
    pixels) and (the codec's own file, when that was not it, for download)."""
    from restoration import degrade

    folder = Path(folder) if folder else scratch.folder("degraded-")
    result = degrade.apply(image, chain)
    own = folder / f"degraded{result.extension}"
    own.write_bytes(result.data)
    if result.extension in BROWSER_FORMATS:
        return str(own), None
    shown = folder / "degraded.png"
    imagelib.to_pil(result.image).save(shown)
    return str(shown), str(own)


def chain_steps(info: dict | None) -> list[dict]:
    """The steps of a Degrade description (a chain's ``steps``, or the one step it describes)."""
    return (info or {}).get("steps") or [info or {}]


def chain_sigma(info: dict | None) -> float | None:
    """The noise the Degrade step added (its noise steps' sigmas summed in quadrature), or None."""
    sigmas = [float(step["sigma"]) for step in chain_steps(info) if step.get("kind") == "noise"]
    return round(sum(s * s for s in sigmas) ** 0.5, 2) if sigmas else None


def chain_compression(info: dict | None) -> tuple[int, str]:
    """What the Degrade step's last codec tells a quality-aware model: (its strength, 1-100, or 0
    when a size target chose the setting; its codec, or "" when the chain compressed with none
    such), from the chain's description."""
    from restoration.models import condition

    coded = [
        step for step in chain_steps(info) if step.get("kind") == "compress" and step.get("codec") in condition.CODECS
    ]
    if not coded:
        return 0, ""
    step = coded[-1]
    strength = None if step.get("bpp") else condition.strength_of(step["codec"], step.get("params") or {})
    return int(round(strength or 0)), step["codec"]


def restore_many(
    degraded_path,
    reference_path,
    model_ids: list[str],
    sigma: float | None,
    progress: Callable[[float, str], None] | None = None,
    self_ensemble: bool = False,
    strength: float | None = None,
    codec: str | None = None,
):
    """Run each chosen model (``pipelines.restore.restore_image``); returns the run and the views."""
    from restoration.pipelines import restore as restorelib

    if not model_ids:  # before any file is read: the first thing to fix
        raise UserInputError("choose at least one model")
    if degraded_path is None:
        raise UserInputError("upload a degraded image, or degrade a clean one first")
    # The web's input door: its decoding claims the request's memory from the header first.
    read = read_input(degraded_path, name=f"degraded input {Path(degraded_path).name}")
    degraded, data = read.image, read.data
    try:
        reference = load_input(reference_path) if reference_path else None
    except UserInputError as exc:  # which of the two images is wrong
        raise UserInputError(f"clean original {exc}; remove it to restore without measuring") from None
    pixels = degraded.shape[0] * degraded.shape[1]
    budget.claim(
        memory.need(
            f"restoring a {pixels / 1e6:.1f} MP image with {len(model_ids)} model(s)",
            pixels,
            restorelib.memory_steps(model_ids),
            kept=2 * len(model_ids) + 1,
        )
    )
    options = {"sigma": sigma} if sigma else {}
    if self_ensemble:
        options["self_ensemble"] = True
    if strength:
        options["strength"] = strength
    if codec:
        options["codec"] = codec
    run = restorelib.restore_image(degraded, list(model_ids), reference, data=data, progress=progress, **options)
    views = {
        "Degraded input": degraded,
        **({"Reference": reference} if reference is not None else {}),
        **{r.model: r.image for r in run.results},
    }
    if reference is not None:
        views = with_error_maps(views, "Reference", ["Degraded input", *[r.model for r in run.results]])
    return run, views


def restore_caption(result) -> str:
    ensemble = " (self-ensemble)" if result.extra.get("self_ensemble") else ""
    caption = f"{result.model}{ensemble} · {result.seconds:.2f} s"
    return caption + (f" · {result.after['psnr']:.2f} dB" if result.after else "")


def _restore_metrics():
    from restoration.pipelines import evaluate

    return [metriclib.METRICS[name] for name in evaluate.RESTORE_METRICS]


INPUT_ROW = "input (degraded)"


def restore_headers() -> list[str]:
    """model, seconds, then each restore metric (and the gain of a dB one) from the metric table;
    the last column says why a model gave no result. The input's values are a row of their own
    (``INPUT_ROW``), not a column repeated in every row."""
    headers = ["model", "seconds"]
    for m in _restore_metrics():
        name = m.short.removesuffix(" dB")
        headers += [m.short] + ([f"{name} gain dB"] if m.unit == "dB" else [])
    return headers + ["note"]


def restore_order() -> list[str]:
    """The restore table's columns by importance, for the page's first view (``pipelines.tables``):
    the metric table's headline metrics with their gains, what each model was told or found, its
    time; the other metrics a click away."""
    headers = restore_headers()
    headline = [
        h
        for m in _restore_metrics()
        if m.headline
        for h in (m.short, f"{m.short.removesuffix(' dB')} gain dB")
        if h in headers
    ]
    return ["model", *headline, "note", "seconds"]


def restore_table(run) -> dict:
    """{"headers", "data"}: the input's row when measured against a reference, one row per model
    that gave a result, then one for each model that gave none; without a reference the metric
    columns (empty in every row) are left out."""
    return without_empty_columns(restore_headers(), restore_rows(run), always=("model", "seconds", "note"))


def restore_rows(run) -> list[list]:
    """``restore_table``'s rows, every column of ``restore_headers``."""

    def number(value):
        return round(value, 4) if isinstance(value, float) else None

    def cells(row: dict, when: str) -> list:  # when: "before" (the input's row) or "after" (a model's)
        values = []
        for m in _restore_metrics():
            values.append(number(row.get(f"{m.name}_{when}")))
            if m.unit == "dB":  # and its gain, for a model
                values.append(number(row.get(f"{m.name}_gain")) if when == "after" else None)
        return values

    rows = [[r.model, round(r.seconds, 3), *cells(r.row(), "after"), r.extra.get("note", "")] for r in run.results]
    given = cells(run.results[0].row() if run.results else {}, "before")  # the same input for every model
    if any(value is not None for value in given):
        rows.insert(0, [INPUT_ROW, None, *given, ""])
    width = len(restore_headers())
    rows += [[model, None] + [None] * (width - 3) + [f"no result: {why}"] for model, why in run.failures.items()]
    return rows


def restore_note(run) -> str:
    """The status line, in words."""
    parts = [
        f"Estimated JPEG quality of the input: {run.jpeg_quality}."
        if run.jpeg_quality
        else f"Codec of the input: {codecs.get(run.codec).label}; no JPEG quality to read from the file."
        if run.codec
        else "The input is not a JPEG file: no quality estimate."
    ]
    if run.reference is None:
        parts.append("No reference given: PSNR/SSIM not measured.")
    parts += [w[0].upper() + w[1:] + "." for w in run.warnings]
    parts += [f"{r.model}: {r.extra['note']}." for r in run.results if "note" in r.extra]
    parts += [f"{model} gave no result: {why}." for model, why in run.failures.items()]
    return " ".join(parts)


def default_pair(run, views: dict) -> tuple[str, str]:
    """The compare view's first pair: the input and the best result by PSNR (when measured), else
    the first model's."""
    measured = [r for r in run.results if r.after and isinstance(r.after.get("psnr"), float)]
    best = max(measured, key=lambda r: r.after["psnr"]) if measured else run.results[0]
    return "Degraded input", best.model
