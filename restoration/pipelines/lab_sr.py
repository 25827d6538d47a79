"""What the super-resolution tab does, free of any UI code (app.py only wires it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from restoration.codecs import reader
from restoration.core import budget, memory
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError
from restoration.models.auto import AUTO
from restoration.pipelines import restore as restorelib
from restoration.pipelines import sr
from restoration.pipelines.lab import read_input, with_error_maps, without_empty_columns, write_results

REFERENCE = "High-resolution original"
HEADERS = ["model", "seconds", "output", "Y-PSNR dB", "SSIM (Y)", "vs bicubic dB", "note"]


def model_choices(scale) -> list[tuple[str, str]]:
    """Every model at this scale, Hub ones too, with its status when it is not ready."""
    from restoration.models import restorers

    scale = sr.check_scale(int(scale))
    return [s.choice() for s in restorers.for_task("sr") if s.scale == scale]


def restore_choices() -> list[tuple[str, str]]:
    """The step before upscaling: auto, none, or any restoration model (its status when not ready)."""
    from restoration.models import restorers

    named = [s.choice() for s in restorers.REGISTRY.values() if s.scale == 1 and s.id != AUTO]
    # Short: the choice shows in a narrow box beside the scale; its label says what auto does.
    return [("Auto", AUTO), ("None (as it is)", sr.NO_RESTORE), *named]


def default_models(scale) -> list[str]:
    """The baseline and the best shipped model at this scale (the rest are a click away): every
    ready model at once took minutes on a 2-core machine and looked alike in the slider."""
    scale = sr.check_scale(int(scale))
    best = sr.default_model(scale)
    return list(dict.fromkeys([sr.baseline_id(scale), best]))


@dataclass
class SRRun:
    scale: int
    lr: np.ndarray
    hr: np.ndarray | None  # the cropped upload, when it was taken as high-resolution
    grey: bool
    results: list[sr.Upscaled]  # the chosen models, in the order chosen
    views: dict[str, np.ndarray]  # label -> image, all at the output size (slider choices)
    failures: dict[str, str] = field(default_factory=dict)  # model id -> why it gave no result
    cleaned: sr.Cleaned | None = None  # the restore step before the upscalers (not before bicubic)


def upscale_many(
    path,
    scale,
    model_ids: list[str],
    from_hr: bool,
    progress: Callable[[float, str], None] | None = None,
    self_ensemble: bool = False,
    outscale: float | None = None,
    restore: str | None = None,
) -> SRRun:
    """Upscale one image with each chosen model; with ``from_hr`` the upload is the HR reference:
    it is downscaled by the protocol first and every result is measured against it. ``outscale``
    resizes every result to that many times the input (a low-resolution upload only). ``restore``
    runs first on a low-resolution upload (``sr.clean_first``: auto by default, ``none``, or a
    restoration model); bicubic, the baseline, always upscales the upload as it is."""
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
    source = read_input(path)  # the input door: any format the codecs read
    image = source.image
    if from_hr:
        hr, lr = sr.make_lr(image, scale)
        grey = source.grey  # a grey file is measured on grey, not Y
    else:
        hr, lr, grey = None, image, False
    out_pixels = lr.shape[0] * lr.shape[1] * scale * scale
    budget.claim(
        memory.need(
            f"this x{scale} upscale to {out_pixels / 1e6:.0f} MP",
            out_pixels,
            [("model", m) for m in model_ids],
            kept=2 * len(model_ids) + 1,
        )
    )  # results, error maps
    # The page always sends a choice: a high-resolution upload (its LR made by the protocol) is never cleaned.
    choice = sr.NO_RESTORE if from_hr else restore or AUTO
    if choice != sr.NO_RESTORE:
        budget.claim(
            memory.need(
                "the restore step before upscaling", lr.shape[0] * lr.shape[1], restorelib.memory_steps([choice])
            )
        )
    base = sr.baseline_id(scale)
    # Bicubic runs first and always: it is the baseline of the table and of the slider.
    bicubic = sr.run(lr, base, scale, hr, grey)
    cleaned = sr.clean_first(lr, choice, source.data)
    results, failures = [], {}
    for i, model_id in enumerate(model_ids):
        if progress:
            progress(i / len(model_ids), f"running {model_id}")
        try:  # each model on its own: one that cannot run (a Hub model offline) loses no other result
            results.append(
                bicubic
                if model_id == base
                else _run_named(lr, model_id, scale, hr, grey, bicubic.image, cleaned, self_ensemble=self_ensemble)
            )
        except UserInputError as exc:
            failures[model_id] = str(exc)
    if not results:
        raise UserInputError("; ".join(failures.values()))
    if outscale:
        for result in {id(r): r for r in [*results, bicubic]}.values():
            result.image = sr.to_outscale(result.image, lr.shape, outscale)
    views = {r.model: r.image for r in results}
    views.setdefault(base, bicubic.image)
    if hr is not None:
        views[REFERENCE] = hr
        views = with_error_maps(views, REFERENCE, [r.model for r in results])
    return SRRun(scale, lr, hr, grey, results, views, failures, cleaned)


def _run_named(lr, model_id: str, *args, **options) -> sr.Upscaled:
    """``sr.run``; a message about the input names the model it concerns (several run at once)."""
    try:
        return sr.run(lr, model_id, *args, **options)
    except UserInputError as exc:
        raise UserInputError(f"{model_id}: {exc}") from None


def default_pair(run: SRRun) -> tuple[str, str]:
    """Slider start: bicubic against the first other result (or against the original)."""
    base = sr.baseline_id(run.scale)
    others = [label for label in run.views if label != base]
    return base, (others[0] if others else base)


def table(run: SRRun) -> dict:
    """The metrics table as {"headers", "data"}; without a reference its empty metric columns go."""
    return without_empty_columns(HEADERS, table_rows(run), always=("model", "seconds", "output", "note"))


def table_rows(run: SRRun) -> list[list]:
    """One row per result, then one per model that gave none, saying why."""
    return result_rows(run.results) + [
        [model, None, None, None, None, None, f"no result: {why}"] for model, why in run.failures.items()
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
                num(row.get("psnr_y"), 3),
                num(row.get("ssim_y"), 4),
                num(row.get("psnr_y_gain"), 3),
                "",
            ]
        )
    return rows


def gallery(run: SRRun) -> list[tuple[np.ndarray, str]]:
    items = []
    for r in run.results:
        caption = f"{r.model}{' (self-ensemble)' if r.self_ensemble else ''} · {r.seconds:.2f} s"  # as the table
        if r.metrics is not None:
            caption += f" · {r.metrics['psnr_y']:.2f} dB"
            if r.metrics["ssim_y"] is not None:  # None below 11 px (the SSIM window)
                caption += f" · SSIM {r.metrics['ssim_y']:.4f}"
        items.append((r.image, caption))
    return items


def write_outputs(run: SRRun, output_format: str = "png") -> list[str]:
    return write_results(run.views, [r.model for r in run.results], output_format)


def note(run: SRRun) -> str:
    h, w = run.lr.shape[:2]
    text = f"Input {w}x{h} px, upscaled x{run.scale} to {w * run.scale}x{h * run.scale}."
    text += "".join(f" {model} gave no result: {why}." for model, why in run.failures.items())
    if run.cleaned is not None and run.cleaned.note:
        text += f" Before upscaling ({run.cleaned.seconds:.2f} s): {run.cleaned.note}; bicubic upscales the upload as it is."
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
