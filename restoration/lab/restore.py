"""What the Restoration tab does, free of any UI code (``ui/restore_tab.py`` only wires it): its
pickers, the degradation form as a chain (``degrade.form_chain``) and the degraded file, the
restore (``pipelines.restore.restore_image``) of uploads read through the web's input door, how
its results read, and the estimate under its button."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from restoration import codecs as codeclib
from restoration import degrade
from restoration import metrics as metriclib
from restoration.codecs import output as outputlib
from restoration.core import image as imagelib
from restoration.core import scratch
from restoration.core.errors import UserInputError
from restoration.lab import common, cost
from restoration.models import condition, restorers
from restoration.models.auto import AUTO
from restoration.pipelines import restore as restorelib

# -- pickers ---------------------------------------------------------------------------------------


def model_choices() -> list[tuple[str, str]]:
    """Every scale-1 model, auto first, its status in the label when it is not ready (a Hub model offline)."""
    specs = sorted((s for s in restorers.REGISTRY.values() if s.scale == 1), key=lambda s: s.source != "auto")
    return [s.choice() for s in specs]


DEFAULT_MODEL = AUTO


def input_codec_choices() -> list[tuple[str, str]]:
    """The codecs a codec-aware model is told of, labelled as the codec table labels them, after
    "from the file"."""
    return [("from the file", "")] + [(codeclib.get(name).label, name) for name in condition.CODECS]


def degrade_codec_choices() -> list[tuple[str, str]]:
    """The codecs that can degrade an image: every lossy one of the registry."""
    return [(c.label, c.name) for c in codeclib.CODECS.values() if c.knob]


# -- the degradation -------------------------------------------------------------------------------

DEGRADATIONS = degrade.FORM_KINDS


def make_degradation(
    kind: str,
    codec: str,
    quality: float,
    bpp: float | None,
    sigma: float,
    blur: float,
    factor: int = 2,
    chain: str = "",
) -> degrade.Chain:
    """The form's choices -> a degradation chain (``degrade.form_chain``, as the CLI's options;
    bpp > 0 overrides the codec quality)."""
    return degrade.form_chain(
        kind, codec=codec, quality=quality, bpp=bpp or None, sigma=sigma, blur=blur, factor=factor, text=chain
    )


BROWSER_FORMATS = (".jpg", ".png", ".webp")  # what the page can show and the restore step can read


def degrade_to_file(image: np.ndarray, chain, folder: str | Path | None = None) -> tuple[str, str | None]:
    """Apply the chain (``degrade.apply``); returns (an image file for the page and the restore
    step: the codec's real bytes when a browser shows them, a JPEG's keeping its quantisation
    tables; else a PNG of the pixels) and (the codec's own file, when that was not it, for download)."""
    folder = Path(folder) if folder else scratch.folder("degraded-")
    result = degrade.apply(image, chain)
    own = folder / f"degraded{result.extension}"
    own.write_bytes(result.data)
    if result.extension in BROWSER_FORMATS:
        return str(own), None
    shown = folder / "degraded.png"
    imagelib.to_pil(result.image).save(shown)
    return str(shown), str(own)


def degrade_file(image: np.ndarray, chain) -> tuple[str, dict]:
    """The Degrade button: the image (an upload read through ``common.read_input``) degraded by the
    chain; (the file the page shows, what was applied: the chain's description and text, its
    label, and the codec's own file when the page shows a PNG of it)."""
    shown, own = degrade_to_file(image, chain)
    return shown, {
        **chain.describe(),
        "chain": chain.text(),
        "applied": chain.label(),
        **({"codec_file": Path(own).name} if own else {}),
    }


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
    coded = [
        step for step in chain_steps(info) if step.get("kind") == "compress" and step.get("codec") in condition.CODECS
    ]
    if not coded:
        return 0, ""
    step = coded[-1]
    strength = None if step.get("bpp") else condition.strength_of(step["codec"], step.get("params") or {})
    return int(round(strength or 0)), step["codec"]


# -- the restore -----------------------------------------------------------------------------------

DEGRADED = "Degraded input"
REFERENCE = "Reference"


def restore(
    degraded_path,
    reference_path,
    model_ids: list[str],
    sigma: float | None,
    progress: Callable[[float, str], None] | None = None,
    self_ensemble: bool = False,
    strength: float | None = None,
    codec: str | None = None,
) -> tuple[restorelib.RestoreRun, dict[str, np.ndarray]]:
    """The uploads through the web's input door (each decoding claimed from its header first),
    then each chosen model (``restore_image``); returns the run and the views (the input, the
    reference, each result and, with a reference, their error maps)."""
    if not model_ids:  # before any file is read: the first thing to fix
        raise UserInputError("choose at least one model")
    if degraded_path is None:
        raise UserInputError("upload a degraded image, or degrade a clean one first")
    read = common.read_input(degraded_path, name=f"degraded input {Path(degraded_path).name}")
    try:
        reference = common.load_input(reference_path) if reference_path else None
    except UserInputError as exc:  # which of the two images is wrong
        raise UserInputError(f"clean original {exc}; remove it to restore without measuring") from None
    options = {"sigma": sigma} if sigma else {}
    if self_ensemble:
        options["self_ensemble"] = True
    if strength:
        options["strength"] = strength
    if codec:
        options["codec"] = codec
    run = restorelib.restore_image(read.image, list(model_ids), reference, data=read.data, progress=progress, **options)
    views = {
        DEGRADED: read.image,
        **({REFERENCE: reference} if reference is not None else {}),
        **{r.model: r.image for r in run.results},
    }
    if reference is not None:
        views = common.with_error_maps(views, REFERENCE, [DEGRADED, *[r.model for r in run.results]])
    return run, views


def restore_caption(result) -> str:
    ensemble = " (self-ensemble)" if result.extra.get("self_ensemble") else ""
    caption = f"{result.model}{ensemble} · {result.seconds:.2f} s"
    return caption + (f" · {result.after['psnr']:.2f} dB" if result.after else "")


def restore_metrics() -> list:
    """The restore table's metrics, from the metric table."""
    return [metriclib.METRICS[name] for name in restorelib.RESTORE_METRICS]


INPUT_ROW = "input (degraded)"


def restore_headers() -> list[str]:
    """model, seconds, then each restore metric (and the gain of a dB one) from the metric table;
    the last column says why a model gave no result. The input's values are a row of their own
    (``INPUT_ROW``), not a column repeated in every row."""
    headers = ["model", "seconds"]
    for m in restore_metrics():
        name = m.short.removesuffix(" dB")
        headers += [m.short] + ([f"{name} gain dB"] if m.unit == "dB" else [])
    return headers + ["note"]


def restore_order() -> list[str]:
    """The restore table's columns by importance, for the page's first view (``lab.tables``):
    the metric table's headline metrics with their gains, what each model was told or found, its
    time; the other metrics a click away."""
    headers = restore_headers()
    headline = [
        h
        for m in restore_metrics()
        if m.headline
        for h in (m.short, f"{m.short.removesuffix(' dB')} gain dB")
        if h in headers
    ]
    return ["model", *headline, "note", "seconds"]


def restore_table(run) -> dict:
    """{"headers", "data"}: the input's row when measured against a reference, one row per model
    that gave a result, then one for each model that gave none; without a reference the metric
    columns (empty in every row) are left out."""
    return common.without_empty_columns(restore_headers(), restore_rows(run), always=("model", "seconds", "note"))


def restore_rows(run) -> list[list]:
    """``restore_table``'s rows, every column of ``restore_headers``."""

    def number(value):
        return round(value, 4) if isinstance(value, float) else None

    def cells(row: dict, when: str) -> list:  # when: "before" (the input's row) or "after" (a model's)
        values = []
        for m in restore_metrics():
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
        else f"Codec of the input: {codeclib.get(run.codec).label}; no JPEG quality to read from the file."
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
    return DEGRADED, best.model


def write_outputs(run, views: dict, output_format: str = outputlib.DEFAULT) -> list[str]:
    """Each model's result written for download in ``output_format``."""
    return common.write_results(views, [r.model for r in run.results], output_format)


# -- the estimate ----------------------------------------------------------------------------------


def restore_work(
    image_path,
    model_ids,
    self_ensemble: bool = False,
    reference: bool = False,
    codec: str | None = None,
    strength: float | None = None,
    output_format: str = outputlib.DEFAULT,
) -> tuple[tuple[int, int], cost.Estimate] | None:
    """The work of a Restoration run (``lab.cost``): each model on the input (auto: the models its
    plan for this file runs), with a reference the metrics and error maps of the input and of each
    result, and each result sent to the page and written for download."""
    size = cost.header_pixels(image_path) if image_path else None
    if size is None or not model_ids:
        return None
    pixels, models = size[0] * size[1], list(dict.fromkeys(model_ids))
    work = cost.Estimate()
    for model in models:
        cost.add_model(work, model, pixels, self_ensemble, path=image_path, codec=codec, strength=strength)
    results = len(models) - len(work.not_counted)
    if reference:
        work.add("metrics", cost.metrics_seconds(restorelib.RESTORE_METRICS, pixels) * (results + 1))
        work.add("error maps", cost.error_maps_seconds(pixels, flip=True) * (results + 1))
    work.add("page", cost.shown_seconds(results, pixels, output_format))
    return size, work


def restore_estimate(
    image_path,
    model_ids,
    self_ensemble: bool = False,
    reference: bool = False,
    codec: str | None = None,
    strength: float | None = None,
    output_format: str = outputlib.DEFAULT,
) -> str:
    """Before a Restoration run: about how long it will take here (``restore_work``)."""
    found = restore_work(image_path, model_ids, self_ensemble, reference, codec, strength, output_format)
    return "" if found is None else common.estimate_text(*found)
