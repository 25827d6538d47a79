"""What the Dashboards tab does, free of any UI code (the app only wires it): run a benchmark
from uploads or the example set, list stored runs, build a report, serve the blind panel."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.bench import store as storelib
from restoration.codecs import output as outputlib
from restoration.core import budget, memory, scratch
from restoration.core.errors import UserInputError
from restoration.models.auto import AUTO
from restoration.pipelines import cost, evaluate, sr
from restoration.pipelines.evaluate import RESTORE_METRICS
from restoration.pipelines.lab import load_input, parse_numbers


def restoration_choices() -> list[tuple[str, str]]:
    """Ready models that restore at scale 1 (artifact removal, denoising)."""
    from restoration.models import restorers

    return [s.choice() for s in restorers.ready(scale=1) if "sr" not in s.tasks]


def sr_choices() -> list[tuple[str, str]]:
    from restoration.pipelines import sr

    return [s.choice() for scale in sr.SCALES for s in sr.ready_models(scale)]


def run_choices(db=None) -> list[tuple[str, str]]:
    """Stored runs, newest first, as (label, id)."""
    path = db or storelib.default_path()
    if not Path(path).is_file():
        return []
    with storelib.Store(path) as store:
        runs = store.runs()
    choices = []
    for run in reversed(runs):
        c = run["config"]
        datasets = ", ".join(sorted({im["dataset"] for im in run["images"]}))
        what = (
            ", ".join(codeclib.get(name).label if name in codeclib.CODECS else name for name in c["codecs"])
            + (f" +{','.join(c['models'])}" if c["models"] else "")
            + (f" sr x{c['sr_scale']}" if c["sr_scale"] else "")
        )
        choices.append(
            (
                f"{run['id']}: {datasets} · {what} · {run['rows']} rows · {run['status']} {run['created'][:16]}",
                str(run["id"]),
            )
        )
    return choices


def bench(
    files,
    use_examples: bool,
    codec_names,
    qualities_text: str | None,
    bpps_text: str | None,
    models,
    sr_scale,
    sr_models,
    progress: Callable[[float, str], None] | None = None,
    db=None,
    perceptual: bool = False,
) -> dict:
    """Uploaded files (images or zips) and/or the example set -> a stored run; its summary."""
    from restoration.bench import inputs as bench_inputs
    from restoration.bench import runner

    qualities, bpps = parse_numbers(qualities_text), parse_numbers(bpps_text)
    evaluate.check_settings(qualities, bpps)
    scale = int(sr_scale) if sr_scale else None
    config = runner.BenchConfig(
        tuple(codec_names or ()),
        None if qualities is None else tuple(qualities),
        None if bpps is None else tuple(bpps),
        tuple(models or ()),
        scale,
        tuple(sr_models or ()) if scale else (),
        perceptual,
    ).checked()
    paths = [getattr(f, "name", f) for f in (files or [])]
    # One image is worked on at a time: the largest, from the headers, claimed before any is decoded.
    largest = bench_inputs.largest_pixels(paths, examples=bool(use_examples))
    steps = [("codec", c) for c in config.codecs] + [("model", m) for m in (*config.models, *config.sr_models)]
    budget.claim(
        memory.need(
            f"this benchmark (largest image {largest / 1e6:.1f} MP)",
            largest * (scale * scale if scale else 1),
            [*steps, ("metric", "ms_ssim")],
            kept=2,
        )
    )
    images = bench_inputs.collect(paths, examples=bool(use_examples), dataset="upload")
    report = None if progress is None else (lambda done, total, text: progress(done / max(total, 1), text))
    return runner.bench(images, config, db or storelib.default_path(), progress=report).describe()


# A small stored run shipped with the lab (``python bench/example_run.py``): what the Dashboards
# tab shows until the user's own database holds a run.
EXAMPLE_DB = Path(__file__).resolve().parent / "example_bench.sqlite"


def has_runs(db=None) -> bool:
    path = Path(db or storelib.default_path())
    if not path.is_file():
        return False
    with storelib.Store(path) as store:
        return bool(store.runs())


def dashboard_source(db=None) -> tuple[Path, bool]:
    """(the database the dashboards read, whether it is the shipped example). The example is read
    from a temporary copy: opening a store writes to it (its journal), never to the package."""
    path = Path(db or storelib.default_path())
    if has_runs(path) or not EXAMPLE_DB.is_file():
        return path, False
    return _example_copy(), True


@functools.lru_cache(maxsize=1)
def _example_copy() -> Path:
    copy = Path(tempfile.mkdtemp(prefix="example-bench-")) / EXAMPLE_DB.name  # kept for the process
    shutil.copyfile(EXAMPLE_DB, copy)
    return copy


def estimate(
    files,
    use_examples: bool,
    codec_names,
    qualities_text: str | None,
    bpps_text: str | None,
    models,
    sr_scale,
    sr_models,
    db=None,
    perceptual: bool = False,
) -> str:
    """Before a run: how many tasks it holds and about how long it will take here, from a model of
    its work (``pipelines.cost``): per image, each codec setting's encode and decode (a bpp target's
    bisection of encodes) and its metrics, each restoration model on each lossy decoding and its
    metrics, each upscaler and its metrics; the pool's start where one is used, and the report."""
    from restoration.bench import estimate as estimator
    from restoration.bench import executors

    images, mp = estimator.megapixels(files, bool(use_examples))
    if not images:
        return "Add images or the example set to see an estimate."
    qualities, bpps = parse_numbers(qualities_text), parse_numbers(bpps_text)
    pixels = mp * 1e6 / images  # an average image: fixed costs count once per image
    work = cost.Estimate()
    per_image = lossy = 0
    measure = cost.metrics_seconds(metriclib.names(on_demand=perceptual), pixels)
    for codec in dict.fromkeys(codeclib.get(name) for name in codec_names or ()):
        settings = len(evaluate.sweep_plan([codec.name], qualities, bpps))  # JPEG 2000: its own rates
        encodes = 1 + (codec.size_search_steps() if bpps and codec.knob is not None else 0)
        work.add(codec.name, images * settings * (encodes * cost.codec_rate(codec.name).at(pixels) + measure))
        per_image += settings
        lossy += 0 if codec.knob is None else settings
    restored = 2 * cost.metrics_seconds(metriclib.names("fidelity"), pixels)  # before and after
    for model in dict.fromkeys(models or ()):
        one = cost.Estimate(seconds=0.0)
        cost.add_model(one, model, pixels)
        work.not_counted += one.not_counted
        work.add(model, images * lossy * (one.seconds + restored))
        per_image += lossy
    if sr_scale:
        scale = int(sr_scale)
        for model in dict.fromkeys([sr.baseline_id(scale), *(sr_models or ())]):
            one = cost.model_seconds(model, pixels / scale / scale)
            if one is None:
                work.not_counted.append(model)
            else:
                work.add(model, images * one)
            work.add("metrics", images * cost.metrics_seconds(("psnr", "ssim", "ms_ssim", "psnr_y"), pixels))
            per_image += 1
    count = images * per_image
    if executors.uses_pool(count, mp * per_image):
        work.add("pool", executors.POOL_START_S)
    work.add("report", REPORT_S)
    missing = f" (not counted: {', '.join(work.not_counted)}: not on this machine)" if work.not_counted else ""
    own = [
        codeclib.get(name)
        for name in dict.fromkeys(codec_names or ())
        if qualities and codeclib.get(name).knob and codeclib.get(name).knob.name != "quality"
    ]
    told = "".join(
        f" {c.label} runs at its own {len(c.knob.sweep)} {c.knob.name}s: its setting is not a quality." for c in own
    )
    return (
        f"{count} tasks on {images} image(s) ({mp:.2g} MP): about {duration(work.seconds)} here{missing}; "
        f"rows already stored are reused.{told}"
    )


# The report and charts the page shows after a run: 0.1-0.3 s to build, 1.5 s the first time (plotly's
# import), and their drawing in the page (0.5-2 s in Chromium on a 2-core machine).
REPORT_S = 0.9


def duration(seconds: float) -> str:
    """Seconds as a person reads them: "0.0034 s", "2.5 s", "12 s", "3.5 min"."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def estimate_text(pixels: tuple[int, int], work: cost.Estimate) -> str:
    """An estimate in words: "Estimate for 768×512: about 12 s." and the models it could not count."""
    text = f"Estimate for {pixels[0]}×{pixels[1]}: about {duration(work.seconds)}"
    if work.not_counted:
        text += f" (not counted: {', '.join(dict.fromkeys(work.not_counted))}: not on this machine)"
    return text + "."


def restore_work(
    image_path,
    model_ids,
    self_ensemble: bool = False,
    reference: bool = False,
    codec: str | None = None,
    strength: float | None = None,
    output_format: str = outputlib.DEFAULT,
) -> tuple[tuple[int, int], cost.Estimate] | None:
    """The work of a Restoration run (``pipelines.cost``): each model on the input (auto: the
    models its plan for this file runs), with a reference the metrics and error maps of the input
    and of each result, and each result sent to the page and written for download."""
    size = cost.header_pixels(image_path) if image_path else None
    if size is None or not model_ids:
        return None
    pixels, models = size[0] * size[1], list(dict.fromkeys(model_ids))
    work = cost.Estimate()
    for model in models:
        cost.add_model(work, model, pixels, self_ensemble, path=image_path, codec=codec, strength=strength)
    results = len(models) - len(work.not_counted)
    if reference:
        work.add("metrics", cost.metrics_seconds(RESTORE_METRICS, pixels) * (results + 1))
        work.add("error maps", cost.error_maps_seconds(pixels, flip=True) * (results + 1))
    work.add("page", cost.shown_seconds(results, pixels, output_format))
    return size, work


def run_estimate(
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
    return "" if found is None else estimate_text(*found)


def sr_work(
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


def sr_estimate(
    image_path,
    scale,
    model_ids,
    from_hr: bool = False,
    self_ensemble: bool = False,
    restore: str | None = AUTO,
    output_format: str = outputlib.DEFAULT,
) -> str:
    """Before a Super-resolution run: about how long it will take here (``sr_work``)."""
    found = sr_work(image_path, scale, model_ids, from_hr, self_ensemble, restore, output_format)
    return "" if found is None else estimate_text(*found)


def codec_work(
    image_path, codec_names, mode="settings", perceptual: bool = False
) -> tuple[tuple[int, int], cost.Estimate] | None:
    """The work of a codec comparison (``mode`` as the tab's "Compare at": "settings", "bpp",
    "KiB" or "quality:<metric>"): each codec's encode and decode and the table's metrics; a size
    target's bisection of encodes; an equal-quality search's steps, each an encode, a decode and
    the metrics with the searched one; the error maps, and the compare view's two pictures."""
    size = cost.header_pixels(image_path) if image_path else None
    if size is None or not codec_names:
        return None
    mode = {True: "bpp", False: "settings"}.get(mode, mode) if isinstance(mode, bool) else (mode or "settings")
    pixels = size[0] * size[1]
    names = metriclib.names(on_demand=perceptual)
    searched = mode.removeprefix("quality:") if mode.startswith("quality:") else None
    if searched and searched not in names:
        names = [*names, searched]
    measure = cost.metrics_seconds(names, pixels)
    work = cost.Estimate()
    for codec in dict.fromkeys(codeclib.get(name) for name in codec_names):
        once = cost.codec_rate(codec.name).at(pixels)
        steps = codec.size_search_steps() if codec.knob is not None and mode != "settings" else 0
        if searched and steps:
            work.add(codec.name, steps * (once + measure))
        else:
            work.add(codec.name, steps * once + once + measure)
        work.add("error maps", cost.error_maps_seconds(pixels, flip=perceptual))
    work.add("page", 2 * cost.png_rate().at(pixels) + cost.CHART_S)  # the compare view's pictures, the bars
    return size, work


def sweep_estimate(image_path, codec_names, qualities_text, bpps_text, metric: str = "psnr") -> str:
    """Before a rate-distortion sweep: each point of its plan (``evaluate.sweep_plan``: JPEG 2000 at
    its own rates) an encode and a decode (a bpp target's bisection of encodes) and the table's
    metrics with the chosen quality axis."""
    size = cost.header_pixels(image_path) if image_path else None
    if size is None or not codec_names:
        return ""
    try:
        plan = evaluate.sweep_plan(
            codec_names, parse_numbers(qualities_text), parse_numbers(bpps_text), limit=evaluate.MAX_SETTINGS
        )
    except UserInputError:
        return ""  # the run says what is wrong
    pixels = size[0] * size[1]
    names = list(dict.fromkeys([*evaluate.default_metric_names(), metric]))
    measure = cost.metrics_seconds(names, pixels)
    work = cost.Estimate()
    for point in plan:
        encodes = 1 + (point.codec.size_search_steps() if point.target is not None else 0)
        work.add(point.codec.name, encodes * cost.codec_rate(point.codec.name).at(pixels) + measure)
    work.add("page", cost.CHART_S)  # the rate-distortion chart
    return estimate_text(size, work)


def codec_estimate(image_path, codec_names, mode="settings", perceptual: bool = False) -> str:
    """Before a codec comparison: about how long it will take here (``codec_work``)."""
    found = codec_work(image_path, codec_names, mode, perceptual)
    return "" if found is None else estimate_text(*found)


def batch_estimate(files, job: str, settings_text) -> str:
    """Before a batch: about how long it will take here, from the same model of the work as each
    tab's (``pipelines.cost``): per file, a convert job's encode and decode (a size target's
    bisection; an equal-quality search's steps, each with its metric), or the model (auto: its plan
    for the first file) and the result written in its format; the images' sizes from their headers."""
    from restoration.bench import estimate as estimator
    from restoration.pipelines import batch, equal_quality

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
    return f"{count} file(s) ({mp:.2g} MP): about {duration(work.seconds)} here{missing}."


def report(run_ids, db=None):
    """(report, {"csv", "json", "html"} paths) for the chosen runs (default: the latest); the
    shipped example run while the user's database holds none."""
    from restoration.bench import report as reportlib

    reportlib.parse_run_ids(run_ids)  # a bad id is told even while the example run is shown
    path, example = dashboard_source(db)
    if not path.is_file():
        raise UserInputError('no benchmark has been run yet: run one in the "Run a benchmark" tab first')
    built = reportlib.build(path, [] if example else list(run_ids or []))
    # Named by content (the database's state and the runs shown): the same report is written once.
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_mtime_ns}:{stat.st_size}:{built.summary()['runs']}"
    folder, written = scratch.keyed("bench-report-", key)
    files = {kind: folder / f"bench.{kind}" for kind in ("csv", "json", "html")}
    if not written:
        files = reportlib.write_all(built, folder)
        scratch.mark_complete(folder)
    return built, files


def source_note(db=None) -> str:
    _, example = dashboard_source(db)
    if example:
        return (
            "Showing the **example run** shipped with the lab (the eight example images, five codecs at four "
            "qualities, restored by the default model, and x4 super-resolution; made by "
            "`python bench/example_run.py`). Run your own in the *Run a benchmark* tab: its charts replace these."
        )
    return "Showing your stored runs (pick one or more and press *Show*)."


def panel_pair(image_path, example: str | None, task: str, models, codec: str, quality, scale, db=None):
    from restoration.bench import panel
    from restoration.core import examples

    if image_path:
        image = load_input(image_path)  # through the request's memory budget, as every tab's input
    elif example:
        image = examples.load_example(example)
    else:
        raise UserInputError("upload an image or choose an example first")
    return panel.make_pair(
        image,
        task,
        list(models or []),
        db or storelib.default_path(),
        codec=codec,
        quality=int(quality),
        scale=int(scale),
    )


def panel_vote(
    pair_id, token: str | None, preference: str | None, score_a, score_b, db=None, voter: str | None = None
) -> str:
    """One vote; ``voter`` (the client's address in the app) is who the rate limit counts."""
    from restoration.bench import panel

    if pair_id is None or pair_id == 0:
        raise UserInputError("show a pair first")
    if (
        isinstance(pair_id, bool)
        or not isinstance(pair_id, (int, float))
        or pair_id != int(pair_id)
        or not 0 < pair_id < 2**53
    ):
        raise UserInputError(f"a pair is a whole number from 1, as /panel_pair gives it; got {pair_id!r}")
    vote_id = panel.vote(
        int(pair_id),
        token,
        preference or None,
        score_a or None,
        score_b or None,
        db or storelib.default_path(),
        voter=voter,
    )
    return (
        f"Vote {vote_id} recorded for pair {int(pair_id)}. Show a new pair to go on (the scores appear once "
        f"{panel.MIN_VOTES_FOR_SCORES} votes are in, and never tell which side a pair's model was)."
    )


def panel_scores(db=None) -> list[list]:
    from restoration.bench import panel

    return panel.scores(db or storelib.default_path())
