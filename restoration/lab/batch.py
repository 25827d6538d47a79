"""What the Batch tab does, free of any UI code (``ui/batch_tab.py`` only wires it): the form as
the settings JSON the ``/batch`` endpoint and the CLI take, the batch (``pipelines.batch.run``)
and its files for download, the page's table, and the estimate under its button."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.benchmark import estimate as estimator
from restoration.codecs import output as outputlib
from restoration.core import scratch
from restoration.core.errors import UserInputError
from restoration.lab import common, cost
from restoration.models.auto import AUTO
from restoration.pipelines import batch, equal_quality, sr

# -- the form --------------------------------------------------------------------------------------


def job_choices() -> list[tuple[str, str]]:
    return [(job.capitalize(), job) for job in batch.JOBS]


def lossy_codec_choices() -> list[tuple[str, str]]:
    """The codecs a convert job can write at a setting, a size or a quality: every lossy one."""
    return [(c.label, c.name) for c in codeclib.CODECS.values() if c.knob is not None]


def input_file_types() -> list[str]:
    """What the upload takes: every format the input door reads, and zip archives."""
    return [*common.input_extensions(), ".zip"]


CONVERT_MODES = ("quality", "target_bpp", "target_quality")


def form_settings(
    job: str,
    codec: str = "avif",
    mode: str = "quality",
    value: float | None = None,
    quality_metric: str = "ssimulacra2",
    model: str = AUTO,
    output: str = outputlib.DEFAULT,
    scale: int = 4,
    restore: str = AUTO,
) -> str:
    """The settings JSON a form describes (the Batch tab's fields), in the form ``run`` takes."""
    if job == "convert":
        settings: dict = {"codec": codec}
        if mode == "target_quality":
            settings["target_quality"] = f"{quality_metric}={value:g}"
        elif mode == "target_bpp":
            settings["target_bpp"] = value
        elif value is not None and codeclib.get(codec).knob is not None:
            settings[codeclib.get(codec).knob.name] = value
    elif job == "restore":
        settings = {"model": model, "format": output}
    else:
        settings = {"scale": int(scale), "model": model, "restore": restore, "format": output}
    return json.dumps(settings)


# -- the batch -------------------------------------------------------------------------------------


def run_batch(files, job: str, settings, progress: Callable[[float, str], None] | None = None):
    """One job on every uploaded image or zip member (``batch.run``); (the summary, the page's
    table, the zip of results and results.csv, the CSV alone)."""
    paths = [getattr(f, "name", f) for f in (files or [])]
    if not paths:
        raise UserInputError("upload images or a zip archive first")
    result = batch.run(paths, job, settings, progress=progress)
    archive, csv_path = write(result, scratch.folder("batch-"))
    return result.summary(), table(result), str(archive), str(csv_path)


TABLE_HEADERS = ["file", "status", "output", "output bytes", "note"]
TABLE_ORDER = ["file", "status", "note", "output", "output bytes"]  # the page's first view: why a file failed


def table(run: batch.BatchRun) -> dict:
    """The page's table: a few columns (the CSV has them all), headed as the other tables are
    (a metric by the metric table's header); the last says why a file failed, or what ran."""
    extra = {"convert": ["setting", "bpp", "psnr", "ssim"], "restore": ["seconds"], "upscale": ["seconds"]}
    keys = ["file", "status", "output", "output_bytes", *extra[run.settings.job]]
    headers = [metriclib.header(k) if k in metriclib.METRICS else k.replace("_", " ") for k in keys]
    data = [[table_cell(row.get(k)) for k in keys] + [row.get("error") or row.get("note") or ""] for row in run.rows]
    return {"headers": [*headers, "note"], "data": data}


def table_cell(value):
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 4)
    return value


def write(run: batch.BatchRun, folder: Path) -> tuple[Path, Path]:
    """(the zip of the result files and results.csv, the CSV alone) in ``folder``."""
    csv_path = folder / "results.csv"
    csv_path.write_text(run.csv_text())
    return run.write_zip(folder / "results.zip"), csv_path


# -- the estimate ----------------------------------------------------------------------------------


def batch_estimate(files, job: str, settings_text) -> str:
    """Before a batch: about how long it will take here, from the same model of the work as each
    tab's (``lab.cost``): per file, a convert job's encode and decode (a size target's bisection;
    an equal-quality search's steps, each with its metric), or the model (auto: its plan for the
    first file) and the result written in its format; the images' sizes from their headers."""
    paths = [getattr(f, "name", f) for f in (files or [])]
    try:
        settings = batch.parse_settings(job, settings_text)
        count, mp = estimator.megapixels(paths, False, skip_unreadable=True)
    except (UserInputError, OSError, ValueError, KeyError):
        return ""  # the run says what is wrong
    if not count:
        return ""
    pixels = mp * 1e6 / count
    first = next((p for p in paths if not str(p).lower().endswith(".zip")), None)
    one = cost.Estimate(seconds=0.0)
    if job == "convert":
        codec, target = settings.codec, settings.target
        names = ["psnr", "ssim"] + ([target.metric] if isinstance(target, equal_quality.QualityTarget) else [])
        once, measure = cost.codec_rate(codec.name).at(pixels), cost.metrics_seconds(names, pixels)
        steps = codec.size_search_steps() if target is not None and codec.knob is not None else 0
        one.add(
            codec.name,
            steps * (once + measure)
            if isinstance(target, equal_quality.QualityTarget)
            else steps * once + once + measure,
        )
    else:
        low, scale = pixels, (settings.scale if job == "upscale" else 1)
        if job == "upscale" and settings.restore != sr.NO_RESTORE:
            cost.add_model(one, settings.restore, low, path=first, deblur=False)
        cost.add_model(one, settings.model, low, path=first)
        one.add("written", cost.output_seconds(low * scale * scale, settings.output.codec.name))
    work = cost.Estimate()
    work.add("files", count * one.seconds)
    missing = f" (not counted: {', '.join(one.not_counted)}: not on this machine)" if one.not_counted else ""
    return f"{count} file(s) ({mp:.2g} MP): about {common.duration(work.seconds)} here{missing}."
