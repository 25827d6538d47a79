"""What the codec comparison tab does, free of any UI code (the app only wires it)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from restoration import codecs as codeclib
from restoration import evaluate
from restoration import image as imagelib
from restoration import metrics as metriclib
from restoration.errors import UserInputError

ORIGINAL = "Original"
TABLE_HEADERS = ["codec", "setting", "KiB", "bpp", "ratio", "PSNR dB", "PSNR-Y dB", "SSIM", "MS-SSIM",
                 "encode ms", "decode ms"]


def configure_threads(threads: int | None = None) -> int:
    """Pin torch and OpenCV thread pools; on 2 shared cores one thread per request is faster."""
    threads = threads or int(os.environ.get("RESTORATION_THREADS", "1"))
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    return threads


def target_from_ui(mode: str, value: float | None) -> evaluate.Target | None:
    """UI size mode -> Target: 'settings' (none), 'bpp' or 'KiB'."""
    if mode == "settings":
        return None
    if value is None or not value > 0:
        raise UserInputError("enter a positive target size")
    if mode == "bpp":
        return evaluate.Target(bpp=float(value))
    if mode == "KiB":
        return evaluate.Target(bytes=int(round(float(value) * 1024)))
    raise UserInputError(f"unknown size mode {mode!r}")


def result_label(result: evaluate.CodecResult) -> str:
    codec = codeclib.get(result.codec)
    if codec.is_lossless(result.params):
        return f"{codec.label} (lossless)"
    return f"{codec.label} {codec.knob.name}={result.params[codec.knob.name]}"


def compare(
    image: np.ndarray,
    settings: dict[str, dict],
    target: evaluate.Target | None,
    progress: Callable[[float, str], None] | None = None,
) -> list[evaluate.CodecResult]:
    """Run every chosen codec (``settings``: codec name -> its params) on one image."""
    if not settings:
        raise UserInputError("choose at least one codec")
    results = []
    stats = metriclib.ReferenceStats(image)
    for i, (name, params) in enumerate(settings.items()):
        if progress:
            progress(i / len(settings), f"encoding {name}")
        codec = codeclib.get(name)
        use_target = target if target is not None and not codec.is_lossless(codec.resolve(params)) else None
        results.append(evaluate.compress(image, codec, params, use_target, reference_stats=stats))
    return results


def table_rows(results: list[evaluate.CodecResult]) -> list[list]:
    def num(value, digits):
        return value if isinstance(value, str) or value is None else round(value, digits)

    rows = []
    for r in results:
        m = r.metrics
        rows.append([
            r.codec, result_label(r), round(r.nbytes / 1024, 2), num(m.get("bpp"), 4),
            num(m.get("ratio"), 2), num(evaluate.json_number(m.get("psnr")), 3),
            num(evaluate.json_number(m.get("psnr_y")), 3), num(m.get("ssim"), 5),
            num(m.get("ms_ssim"), 5), num(m.get("encode_ms"), 1), num(m.get("decode_ms"), 1),
        ])
    return rows


def write_encoded(results: list[evaluate.CodecResult], folder: str | Path | None = None) -> list[str]:
    """Write each result's real bytes to a file the user can download."""
    folder = Path(folder or tempfile.mkdtemp(prefix="restoration-lab-"))
    paths = []
    for r in results:
        codec = codeclib.get(r.codec)
        stem = result_label(r).replace(" ", "_").replace("=", "").replace("(", "").replace(")", "")
        path = folder / f"{stem}{codec.extension}"
        path.write_bytes(r.data)
        paths.append(str(path))
    return paths


def zoom(image: np.ndarray, factor: int, center_x: float, center_y: float) -> np.ndarray:
    """Crop 1/factor of the image around (center_x, center_y) in percent; enlarge with nearest
    neighbour so individual pixels (and codec artifacts) stay visible."""
    factor = max(1, int(factor))
    if factor == 1:
        return image
    h, w = image.shape[:2]
    ch, cw = max(1, h // factor), max(1, w // factor)
    cy = int(np.clip(center_y / 100.0 * h - ch / 2, 0, h - ch))
    cx = int(np.clip(center_x / 100.0 * w - cw / 2, 0, w - cw))
    crop = image[cy:cy + ch, cx:cx + cw]
    return np.repeat(np.repeat(crop, factor, axis=0), factor, axis=1)


def parse_numbers(text: str | None) -> list[float] | None:
    """'10, 20,40' -> [10, 20, 40]; empty -> None (use defaults)."""
    if text is None or not str(text).strip():
        return None
    try:
        return [float(part) for part in str(text).replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise UserInputError(f"expected comma-separated numbers, got {text!r}") from None


def sweep(
    image: np.ndarray,
    codec_names: list[str],
    qualities: list[float] | None = None,
    target_bpps: list[float] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> list[dict]:
    """Rate-distortion sweep of one image; returns JSON-safe rows."""
    if not codec_names:
        raise UserInputError("choose at least one codec")
    plan = evaluate.sweep_plan(codec_names, qualities, target_bpps)
    rows = []
    for i, (_, result) in enumerate(evaluate.run_sweep({"image": image}, plan)):
        rows.append(result.row())
        if progress:
            progress((i + 1) / len(plan), f"{result.codec} {i + 1}/{len(plan)}")
    return rows


def load_input(path_or_array) -> np.ndarray:
    """An uploaded image; a message about it names the file, not the server's temporary folder."""
    if path_or_array is None:
        raise UserInputError("upload an image or choose an example first")
    if isinstance(path_or_array, (str, os.PathLike)):
        return imagelib.load(path_or_array, name=Path(path_or_array).name)
    return imagelib.load(path_or_array)


# -- restoration tab ------------------------------------------------------------------------------
DEGRADATIONS = ("codec", "noise", "blur", "noise + blur + JPEG")


def make_degradation(kind: str, codec: str, quality: float, bpp: float | None, sigma: float, blur: float):
    """UI choices -> one Degradation (bpp > 0 overrides the codec quality)."""
    from restoration import degrade

    if kind == "codec":
        if bpp:
            return degrade.Compress(codeclib.get(codec).name, {}, float(bpp))
        knob = codeclib.get(codec).knob
        if knob is None:
            raise UserInputError(f"{codec} is lossless: pick a lossy codec to degrade with")
        return degrade.Compress(codeclib.get(codec).name, {knob.name: quality})
    if kind == "noise":
        return degrade.Noise(float(sigma), seed=0)
    if kind == "blur":
        return degrade.Blur(sigma=float(blur))
    if kind == "noise + blur + JPEG":
        return degrade.Chain((degrade.Blur(sigma=float(blur)), degrade.Noise(float(sigma), seed=0),
                              degrade.Compress("jpeg", {"quality": int(quality)})))
    raise UserInputError(f"unknown degradation {kind!r}; choose from {', '.join(DEGRADATIONS)}")


def degrade_to_file(image: np.ndarray, step, folder: str | Path | None = None) -> str:
    """Apply the degradation and save it; a plain JPEG round trip keeps its real JPEG bytes so
    the restore step can read the quantisation tables."""
    from restoration import degrade

    folder = Path(folder or tempfile.mkdtemp(prefix="degraded-"))
    if isinstance(step, degrade.Compress) and step.codec == "jpeg" and step.bpp is None:
        path = folder / "degraded.jpg"
        path.write_bytes(codeclib.get("jpeg").encode(image, **step.params))
    else:
        path = folder / "degraded.png"
        imagelib.to_pil(step(image)).save(path)
    return str(path)


def restore_many(degraded_path, reference_path, model_ids: list[str], sigma: float | None,
                 progress: Callable[[float, str], None] | None = None, self_ensemble: bool = False):
    """Run each chosen model; returns (results, views, JPEG quality estimate or None)."""
    from restoration import jpeg_quality

    if degraded_path is None:
        raise UserInputError("upload a degraded image, or degrade a clean one first")
    if not model_ids:
        raise UserInputError("choose at least one model")
    data = Path(degraded_path).read_bytes()
    degraded = imagelib.load(data, name=Path(degraded_path).name)
    reference = load_input(reference_path) if reference_path else None
    if reference is not None and reference.shape != degraded.shape:
        reference = None  # e.g. a downscaled input: no pixel-aligned reference
    estimate = jpeg_quality.estimate(data)
    options = {"sigma": sigma} if sigma else {}
    options["jpeg_quality"] = estimate.quality if estimate else None
    if self_ensemble:
        options["self_ensemble"] = True
    results = []
    for i, model_id in enumerate(model_ids):
        if progress:
            progress(i / len(model_ids), f"running {model_id}")
        results.append(evaluate.restore(degraded, model_id, reference, **options))
    views = {"Degraded input": degraded, **({"Reference": reference} if reference is not None else {}),
             **{r.model: r.image for r in results}}
    return results, views, estimate


def restore_caption(result) -> str:
    ensemble = " (self-ensemble)" if result.extra.get("self_ensemble") else ""
    caption = f"{result.model}{ensemble} · {result.seconds:.2f} s"
    return caption + (f" · {result.after['psnr']:.2f} dB" if result.after else "")


def restore_table(results) -> list[list]:
    rows = []
    for r in results:
        row = r.row()
        rows.append([r.model, round(r.seconds, 3)] + [
            None if row.get(k) is None else round(row[k], 4) if isinstance(row[k], float) else row[k]
            for k in ("psnr_before", "psnr_after", "psnr_gain", "psnr_y_after", "ssim_before", "ssim_after")])
    return rows


RESTORE_HEADERS = ["model", "seconds", "PSNR in", "PSNR out", "gain dB", "PSNR-Y out", "SSIM in", "SSIM out"]


def write_pngs(views: dict[str, np.ndarray], names: list[str]) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="restored-"))
    paths = []
    for name in names:
        path = folder / f"{name}.png"
        imagelib.to_pil(views[name]).save(path)
        paths.append(str(path))
    return paths
