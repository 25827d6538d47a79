"""What the Super-resolution tab does, free of any UI code (``ui/sr_tab.py`` only wires it): its
pickers, the upscale (``pipelines.sr.upscale_image``) of an upload read through the web's input
door, its views, table, gallery and note, and the estimate under its button."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from restoration import metrics as metriclib
from restoration.codecs import output as outputlib
from restoration.codecs import reader
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError
from restoration.lab import common, cost
from restoration.models import restorers
from restoration.models.auto import AUTO
from restoration.pipelines import sr

REFERENCE = "High-resolution original"
HEADERS = ["model", "seconds", "output", *map(metriclib.header, metriclib.SR_METRICS), "vs bicubic dB", "note"]

# -- pickers ---------------------------------------------------------------------------------------


def model_choices(scale) -> list[tuple[str, str]]:
    """Every model at this scale, Hub ones too, with its status when it is not ready."""
    scale = sr.check_scale(int(scale))
    return [s.choice() for s in restorers.for_task("sr") if s.scale == scale]


DEFAULT_RESTORE = AUTO


def restore_choices() -> list[tuple[str, str]]:
    """The step before upscaling: auto, none, or any restoration model (its status when not ready)."""
    named = [s.choice() for s in restorers.REGISTRY.values() if s.scale == 1 and s.id != AUTO]
    # Short: the choice shows in a narrow box beside the scale; its label says what auto does.
    return [("Auto", AUTO), ("None (as it is)", sr.NO_RESTORE), *named]


def default_models(scale) -> list[str]:
    """The baseline and the best shipped model at this scale (the rest are a click away): every
    ready model at once took minutes on a 2-core machine and looked alike in the slider."""
    scale = sr.check_scale(int(scale))
    best = sr.default_model(scale)
    return list(dict.fromkeys([sr.baseline_id(scale), best]))


# -- the upscale -----------------------------------------------------------------------------------


def upscale(
    path,
    scale,
    model_ids: list[str],
    from_hr: bool,
    progress: Callable[[float, str], None] | None = None,
    self_ensemble: bool = False,
    outscale: float | None = None,
    restore: str | None = None,
) -> tuple[sr.SRRun, dict[str, np.ndarray]]:
    """Upscale one upload with each chosen model (``sr.upscale_image``), the bicubic baseline always
    beside them; returns the run and the views (label -> image at the output size: the slider's choices).
    With ``from_hr`` the upload is the high-resolution reference and the views add error maps
    against it. ``restore`` cleans a low-resolution upload first (auto by default); a
    high-resolution upload, whose low-resolution input the protocol makes, is never cleaned."""
    if path is None:
        raise UserInputError("upload an image or choose an example first")
    scale = sr.check_scale(int(scale))
    if not model_ids:
        raise UserInputError("choose at least one model")
    model_ids = [sr.check_model(m, scale) for m in model_ids]  # all errors before any work
    outscale = sr.check_outscale(outscale, from_hr)
    if not from_hr and isinstance(path, (str, Path)):  # the result's size from the header: told first
        try:
            width, height = reader.file_header_size(path)
        except (OSError, UserInputError):
            pass  # read_input says what is wrong with the file
        else:
            if width * height <= imagelib.MAX_PIXELS:  # an input over the cap is refused by the reader, as itself
                sr.check_result_size(width, height, scale)
    source = common.read_input(path)  # the input door: any format the codecs read
    run = sr.upscale_image(
        source.image,
        scale,
        model_ids,
        from_hr=from_hr,
        grey=from_hr and source.grey,  # a grey file is measured on grey, not Y
        data=source.data,
        # The page always sends a choice: a high-resolution upload (its LR made by the protocol) is never cleaned.
        restore=None if from_hr else restore or AUTO,
        outscale=outscale,
        self_ensemble=self_ensemble,
        with_bicubic=True,
        progress=progress,
    )
    views = {r.model: r.image for r in run.results}
    views.setdefault(run.bicubic.model, run.bicubic.image)
    if run.hr is not None:
        views[REFERENCE] = run.hr
        views = common.with_error_maps(views, REFERENCE, [r.model for r in run.results])
    return run, views


def default_pair(run: sr.SRRun, views: dict) -> tuple[str, str]:
    """Slider start: bicubic against the first other result (or against the original)."""
    base = sr.baseline_id(run.scale)
    others = [label for label in views if label != base]
    return base, (others[0] if others else base)


def table(run: sr.SRRun) -> dict:
    """The metrics table as {"headers", "data"}; without a reference its empty metric columns go."""
    return common.without_empty_columns(HEADERS, table_rows(run), always=("model", "seconds", "output", "note"))


def table_rows(run: sr.SRRun) -> list[list]:
    """One row per result, then one per model that gave none, saying why."""
    return result_rows(run.results) + [
        [model, *[None] * (len(HEADERS) - 2), f"no result: {why}"] for model, why in run.failures.items()
    ]


def result_rows(results: list[sr.Upscaled]) -> list[list]:
    def num(value, digits):
        return None if value is None else value if isinstance(value, str) else round(value, digits)

    rows = []
    for r in results:
        row = r.row()
        rows.append(
            [
                r.model,
                round(r.seconds, 4),
                f"{row['width']}x{row['height']}",
                *(num(row.get(name), 3 if metric.unit == "dB" else 4) for name, metric in metriclib.SR_METRICS.items()),
                num(row.get("psnr_y_gain"), 3),
                "",
            ]
        )
    return rows


def gallery(run: sr.SRRun) -> list[tuple[np.ndarray, str]]:
    items = []
    for r in run.results:
        caption = f"{r.model}{' (self-ensemble)' if r.self_ensemble else ''} · {r.seconds:.2f} s"  # as the table
        if r.metrics is not None:
            caption += f" · {r.metrics['psnr_y']:.2f} dB"
            if r.metrics["ssim_y"] is not None:  # None below 11 px (the SSIM window)
                caption += f" · SSIM {r.metrics['ssim_y']:.4f}"
        items.append((r.image, caption))
    return items


def write_outputs(run: sr.SRRun, views: dict, output_format: str = outputlib.DEFAULT) -> list[str]:
    return common.write_results(views, [r.model for r in run.results], output_format)


def note(run: sr.SRRun) -> str:
    h, w = run.lr.shape[:2]
    text = f"Input {w}x{h} px, upscaled x{run.scale} to {w * run.scale}x{h * run.scale}."
    text += "".join(f" {model} gave no result: {why}." for model, why in run.failures.items())
    if run.cleaned is not None and run.cleaned.note:
        text += (
            f" Before upscaling ({run.cleaned.seconds:.2f} s): {run.cleaned.note}; the bicubic baseline"
            " (vs bicubic) upscales the upload as it is."
        )
    if run.hr is None:
        return text + (
            " No high-resolution reference, so no Y-PSNR/SSIM: tick *treat upload as "
            "high-resolution* to measure against the upload."
        )
    text += (
        f" The low-resolution input was made from the upload (cropped to a multiple of {run.scale}) "
        f"by MATLAB bicubic downscaling; Y-PSNR and SSIM on {'grey' if run.grey else 'BT.601 Y'} "
        f"with {run.scale} px shaved from each border, as published SR tables measure."
    )
    return text


# -- the estimate ----------------------------------------------------------------------------------


def upscale_work(
    image_path,
    scale,
    model_ids,
    from_hr: bool = False,
    self_ensemble: bool = False,
    restore: str | None = AUTO,
    output_format: str = outputlib.DEFAULT,
) -> tuple[tuple[int, int], cost.Estimate] | None:
    """The work of a Super-resolution run: bicubic (always), the step that cleans a low-resolution
    upload first (auto: its plan for this file), each model on the low-resolution input, with a
    high-resolution original the metrics and error maps of each result, and each result sent to
    the page and written for download, at the output size."""
    size = cost.header_pixels(image_path) if image_path else None
    if size is None or not model_ids or not scale:
        return None
    scale = int(scale)
    low = size[0] * size[1] / (scale * scale) if from_hr else size[0] * size[1]
    out = low * scale * scale
    models = list(dict.fromkeys(model_ids))
    work = cost.Estimate()
    cost.add_model(work, sr.baseline_id(scale), low)
    if not from_hr and restore not in (None, "", sr.NO_RESTORE):
        cost.add_model(work, restore, low, path=image_path, deblur=False)
    for model in models:
        if model != sr.baseline_id(scale):
            cost.add_model(work, model, low, self_ensemble)
    results = len(models) - len([m for m in work.not_counted if m in models])
    if from_hr:
        work.add("metrics", cost.metrics_seconds(("psnr_y", "ssim"), out) * (results + 1))
        work.add("error maps", cost.error_maps_seconds(out, flip=True) * results)
    work.add("page", cost.shown_seconds(results, out, output_format))
    return size, work


def upscale_estimate(
    image_path,
    scale,
    model_ids,
    from_hr: bool = False,
    self_ensemble: bool = False,
    restore: str | None = AUTO,
    output_format: str = outputlib.DEFAULT,
) -> str:
    """Before a Super-resolution run: about how long it will take here (``upscale_work``)."""
    found = upscale_work(image_path, scale, model_ids, from_hr, self_ensemble, restore, output_format)
    return "" if found is None else common.estimate_text(*found)
