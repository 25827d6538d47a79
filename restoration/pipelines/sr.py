"""The standard super-resolution protocol, shared by the CLI, the app and the benchmark.

As in the published tables (SRCNN, VDSR, EDSR, ... evaluation scripts):
- the HR image is cropped to a multiple of the scale (top-left corner kept);
- LR = MATLAB ``imresize(hr, 1/scale, 'bicubic')`` (``resize.downscale``);
- the upscaled result is compared with the HR image on BT.601 luma (Y-PSNR, and SSIM on Y with
  the same Gaussian window as ``metrics.ssim``), with ``scale`` pixels shaved from each border.
  A single-channel (greyscale) file is measured on its grey values, not on Y: those scripts do
  ``if size(im, 3) == 3, Y = rgb2ycbcr(im)(:,:,1)`` and use a grey image as it is (Set14's
  bridge is one; its Y would read 1.3 dB higher, 20*log10(255/219)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from restoration import metrics as metriclib
from restoration.core import budget, memory, resize
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError
from restoration.models import restorers
from restoration.models.auto import AUTO
from restoration.pipelines import restore as restorelib
from restoration.pipelines.evaluate import json_number

SCALES = (2, 4)
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}


def check_scale(scale) -> int:
    if scale not in SCALES:
        raise UserInputError(f"scale must be one of {', '.join(map(str, SCALES))}, got {scale}")
    return int(scale)


def crop_to_multiple(hr: np.ndarray, scale: int) -> np.ndarray:
    h, w = hr.shape[0] // scale * scale, hr.shape[1] // scale * scale
    if h < scale or w < scale:
        raise UserInputError(f"a {hr.shape[1]}x{hr.shape[0]} image is smaller than the scale {scale}")
    return hr[:h, :w]


def make_lr(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(HR cropped to a multiple of the scale, its MATLAB-bicubic LR)."""
    hr = crop_to_multiple(hr, scale)
    return hr, resize.downscale(hr, scale)


def is_grey_file(path) -> bool:
    """Whether the file stores a single channel (then it is measured on grey, not on Y)."""
    with Image.open(path) as pil:
        return pil.mode in GREY_MODES


def measure(output: np.ndarray, hr: np.ndarray, scale: int, grey: bool = False) -> dict:
    """Y-PSNR and SSIM on Y with ``scale`` pixels shaved, the keys SR tables report."""
    if output.shape != hr.shape:
        raise UserInputError(
            f"the reference is {hr.shape[1]}x{hr.shape[0]} but the result is {output.shape[1]}x{output.shape[0]}"
        )
    if min(hr.shape[:2]) <= 2 * scale:
        raise UserInputError(
            f"a {hr.shape[1]}x{hr.shape[0]} image is too small to measure with {scale} px shaved from each border"
        )
    sample = metriclib.Sample(hr, output, shave=scale)
    if grey:  # R = G = B: the RGB metrics are those of the grey plane itself
        return {"psnr_y": metriclib.psnr(sample), "ssim_y": metriclib.ssim(sample)}
    return {"psnr_y": metriclib.psnr_y(sample), "ssim_y": metriclib.ssim_y(sample)}


def baseline_id(scale: int) -> str:
    return f"bicubic-x{scale}"


def ready_models(scale: int) -> list:
    """Registered sr models at this scale that can run now, in registry order."""
    return restorers.ready("sr", scale)


def default_model(scale: int) -> str:
    return restorers.default_for("sr", scale=check_scale(scale)).id


@dataclass
class Upscaled:
    model: str
    scale: int
    input_shape: tuple
    image: np.ndarray
    seconds: float
    metrics: dict | None = None  # against the HR reference
    baseline: dict | None = None  # bicubic's metrics for the same input, same reference
    self_ensemble: bool = False  # averaged over 8 flips/rotations
    cleaned: Cleaned | None = None  # the restore step that ran first (``clean_first``)

    def row(self) -> dict:
        row = {
            "model": self.model,
            "scale": self.scale,
            "input_width": self.input_shape[1],
            "input_height": self.input_shape[0],
            "width": self.image.shape[1],
            "height": self.image.shape[0],
            "seconds": round(self.seconds, 4),
            **({"self_ensemble": True} if self.self_ensemble else {}),
        }
        if self.cleaned is not None and self.cleaned.note:
            row.update(
                {
                    "restored_first_by": self.cleaned.model,
                    "restore_seconds": round(self.cleaned.seconds, 4),
                    "note": self.cleaned.note,
                }
            )
        if self.metrics is not None:
            row.update({k: json_number(v) for k, v in self.metrics.items()})
        if self.baseline is not None:
            row.update({f"bicubic_{k}": json_number(v) for k, v in self.baseline.items()})
            a, b = self.metrics["psnr_y"], self.baseline["psnr_y"]
            row["psnr_y_gain"] = a - b if np.isfinite(a) and np.isfinite(b) else None
        return row


def check_model(model_id: str, scale: int) -> str:
    """The id of a registered sr model at this scale, or a UserInputError saying what is wrong."""
    spec = restorers.get(model_id)
    # An uploaded model file may upscale x3 or x8: its own scale is the one it runs at.
    scale = int(scale) if spec.source == "user" and scale == spec.scale else check_scale(scale)
    if "sr" not in spec.tasks:
        raise UserInputError(f"model {spec.id} does not do super-resolution (it does {', '.join(spec.tasks)})")
    if spec.scale != scale:
        raise UserInputError(f"model {spec.id} upscales x{spec.scale}, not x{scale}")
    return spec.id


def check_outscale(outscale, from_hr: bool = False) -> float | None:
    """The output scale a person asked for (Real-ESRGAN's ``--outscale``), or None for the model's."""
    if outscale in (None, 0, 0.0, ""):
        return None
    if (
        isinstance(outscale, bool)
        or not (isinstance(outscale, (int, float)) and math.isfinite(outscale))
        or not 1 <= outscale <= 8
    ):
        raise UserInputError(f"the output scale is from 1 to 8 (0: the model's own), got {outscale!r}")
    if from_hr:
        raise UserInputError(
            "an output scale applies to a low-resolution upload; measuring against the "
            "high-resolution original uses the model's own scale"
        )
    return float(outscale)


def to_outscale(image: np.ndarray, lr_shape: tuple, outscale: float) -> np.ndarray:
    """The model's output resized to ``outscale`` times the input, with Lanczos as Real-ESRGAN's
    own inference script does (e.g. an x4 model's result brought to x3.5)."""
    size = (max(1, round(lr_shape[1] * outscale)), max(1, round(lr_shape[0] * outscale)))
    if size[0] * size[1] > imagelib.MAX_PIXELS:
        raise UserInputError(
            f"the output would have {size[0] * size[1]:,} pixels; the limit is "
            f"{imagelib.MAX_PIXELS:,} (RESTORATION_MAX_PIXELS)"
        )
    if size == (image.shape[1], image.shape[0]):
        return image
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4))


NO_RESTORE = "none"


@dataclass
class Cleaned:
    image: np.ndarray  # what the upscaler gets
    model: str | None  # the restorer that ran first, None when none did
    note: str  # what ran and why, for the result's row and the status line
    seconds: float = 0.0


def clean_first(lr: np.ndarray, restore: str | None, data: bytes | None = None, **options) -> Cleaned:
    """The restore step before upscaling: ``auto`` (the default) reads the file (``data``) and the
    pixels and removes noise and compression artifacts only where it finds them (never blur: a
    small image's softness is the upscaler's job); a restoration model id runs that model; ``none``
    or nothing upscales the input as it is. Upscaling a compressed image magnifies its artifacts:
    cleaning first is what gains over bicubic on real, compressed small images."""
    if restore in (None, "", NO_RESTORE):
        return Cleaned(lr, None, "")
    spec = restorers.get(restore)
    if spec.scale != 1 or "sr" in spec.tasks:
        raise UserInputError(
            f"{spec.id} is an upscaler; the step before upscaling takes auto, none or a restoration model"
        )
    extra = {"deblur": False} if spec.id == AUTO else {}
    result = restorelib.restore_one(lr, spec.id, data=data, **extra, **options)
    note = result.extra.get("note", "") if spec.id == AUTO else f"cleaned first by {spec.id}"
    ran = spec.id if spec.id != AUTO or result.extra.get("plan") else None
    return Cleaned(result.image, ran, note, result.seconds)


def upscale(lr: np.ndarray, model_id: str, scale: int, **options):
    """Run one registered sr model through ``restorers.restore`` (``options`` such as
    ``self_ensemble`` go to it); checks task, scale and size."""
    model_id = check_model(model_id, scale)
    check_result_size(lr.shape[1], lr.shape[0], scale)
    return restorers.restore(lr, model_id, **options)


def check_result_size(width: int, height: int, scale: int) -> None:
    """Refuse an upscale whose result would be over the pixel cap (``RESTORATION_MAX_PIXELS``), in
    those words: before any memory is claimed for it, so that a result too large (192 MP, say) is
    refused for its size, not for the memory budget."""
    pixels = width * height * scale * scale
    if pixels > imagelib.MAX_PIXELS:
        raise UserInputError(
            f"the x{scale} result would have {pixels:,} pixels; the limit is "
            f"{imagelib.MAX_PIXELS:,} (RESTORATION_MAX_PIXELS)"
        )


def run(
    lr: np.ndarray,
    model_id: str,
    scale: int,
    hr: np.ndarray | None = None,
    grey: bool = False,
    baseline: np.ndarray | None = None,
    cleaned: Cleaned | None = None,
    **options,
) -> Upscaled:
    """Upscale ``lr`` (``cleaned.image`` when a restore step ran first: ``clean_first``); with
    ``hr``, measure it and the bicubic baseline of ``lr`` itself (pass ``baseline`` to reuse an
    already computed bicubic image)."""
    restored = upscale(lr if cleaned is None else cleaned.image, model_id, scale, **options)
    result = Upscaled(
        model_id,
        scale,
        lr.shape,
        restored.image,
        restored.seconds,
        self_ensemble=bool(restored.options.get("self_ensemble")),
        cleaned=cleaned,
    )
    if hr is not None:
        hr = crop_to_multiple(hr, scale)
        if hr.shape != restored.image.shape:
            raise UserInputError(
                f"the reference is {hr.shape[1]}x{hr.shape[0]} but x{scale} of the "
                f"{lr.shape[1]}x{lr.shape[0]} input is "
                f"{restored.image.shape[1]}x{restored.image.shape[0]}"
            )
        result.metrics = measure(restored.image, hr, scale, grey)
        if model_id == baseline_id(scale):
            result.baseline = dict(result.metrics)
        else:
            bicubic = baseline if baseline is not None else resize.upscale(lr, scale, "bicubic")
            result.baseline = measure(bicubic, hr, scale, grey)
    return result


@dataclass
class SRRun:
    """An upscale action's results: each chosen model's, and what they were made from."""

    scale: int
    lr: np.ndarray = field(repr=False)  # what the upscalers got (before the clean-first step)
    hr: np.ndarray | None = field(repr=False)  # the high-resolution reference, cropped to a multiple of the scale
    grey: bool  # measured on grey, not on Y (the reference's file stores one channel)
    results: list[Upscaled]  # the chosen models, in the order chosen
    failures: dict[str, str] = field(default_factory=dict)  # model id -> why it gave no result
    cleaned: Cleaned | None = None  # the restore step before the upscalers (not before bicubic)
    bicubic: Upscaled | None = None  # the baseline: bicubic on the input as it is


def upscale_image(
    image: np.ndarray,
    scale,
    model_ids: list[str],
    *,
    from_hr: bool = False,
    reference: np.ndarray | None = None,
    grey: bool = False,
    data: bytes | None = None,
    restore: str | None = None,
    outscale: float | None = None,
    self_ensemble: bool = False,
    with_bicubic: bool = False,
    progress: Callable[[float, str], None] | None = None,
) -> SRRun:
    """The upscale action, the same at every door (the CLI's ``upscale``, the Super-resolution tab
    and its ``/upscale`` endpoint): each chosen model on one image. With ``from_hr`` the image is
    the high-resolution reference: it is cropped to a multiple of the scale and downscaled by the
    protocol first (``make_lr``); else ``reference``, when given, is the high-resolution original
    it was made from. Either way every result (and bicubic on the same input) is measured against
    it, on grey when ``grey`` (the reference's file stores one channel), else on Y. ``restore``
    cleans the input first (``clean_first``: auto by default, ``none`` by default with
    ``from_hr``, or a restoration model; ``data``: the input file's bytes it reads);
    ``outscale`` resizes every result to that many times the input (no reference then). Bicubic,
    the baseline every result is measured beside, upscales the input as it is; chosen, it runs
    after the clean-first step as every model does. ``with_bicubic``: run the baseline even when
    nothing needs it (the tab shows it)."""
    if not model_ids:
        raise UserInputError("choose at least one model")
    scale = int(scale)  # checked with each model: an uploaded model file runs at its own scale (x3, x8)
    model_ids = [check_model(m, scale) for m in dict.fromkeys(model_ids)]  # all errors before any work
    outscale = check_outscale(outscale, from_hr or reference is not None)
    hr, lr = make_lr(image, scale) if from_hr else (reference, image)
    check_result_size(lr.shape[1], lr.shape[0], scale)
    out_pixels = lr.shape[0] * lr.shape[1] * scale * scale
    budget.claim(
        memory.need(
            f"this x{scale} upscale to {out_pixels / 1e6:.0f} MP",
            out_pixels,
            [("model", m) for m in model_ids],
            kept=2 * len(model_ids) + 1,
        )
    )  # results, error maps
    choice = restore or (NO_RESTORE if from_hr else AUTO)
    if choice != NO_RESTORE:
        budget.claim(
            memory.need(
                "the restore step before upscaling", lr.shape[0] * lr.shape[1], restorelib.memory_steps([choice])
            )
        )
    base = baseline_id(scale)
    # The baseline first, from the input as it is (its image reused by every result). At a scale it
    # has no entry for (a model file's x3), ``run`` upscales its baseline itself.
    wanted = with_bicubic or hr is not None or base in model_ids
    bicubic = run(lr, base, scale, hr, grey) if wanted and base in restorers.REGISTRY else None
    cleaned = clean_first(lr, choice, None if from_hr else data)
    results, failures = [], {}
    for i, model_id in enumerate(model_ids):
        if progress:
            progress(i / len(model_ids), f"running {model_id}")
        try:  # each model on its own: one that cannot run (a Hub model offline) loses no other result
            if model_id == base and bicubic is not None and not (cleaned.model or cleaned.note):
                results.append(bicubic)  # nothing ran first: the baseline is this result
            else:
                baseline = None if bicubic is None else bicubic.image
                results.append(run(lr, model_id, scale, hr, grey, baseline, cleaned, self_ensemble=self_ensemble))
        except UserInputError as exc:  # its message names the model: several run at once
            failures[model_id] = f"{model_id}: {exc}"
    if not results:
        raise UserInputError("; ".join(failures.values()))
    if outscale:
        for result in {id(r): r for r in [*results, *([bicubic] if bicubic else [])]}.values():
            result.image = to_outscale(result.image, lr.shape, outscale)
    return SRRun(scale, lr, hr, grey, results, failures, cleaned, bicubic)
