"""What the Dashboards tab does, free of any UI code (the app only wires it): run a benchmark
from uploads or the example set, list stored runs, build a report, serve the blind panel."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from restoration.core import budget, memory
from restoration.codecs import reader
from restoration.core import scratch
from restoration.bench import store as storelib
from restoration.core.errors import UserInputError
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
        what = ",".join(c["codecs"]) + (f" +{','.join(c['models'])}" if c["models"] else "") + (
            f" sr x{c['sr_scale']}" if c["sr_scale"] else "")
        choices.append((f"{run['id']}: {datasets} · {what} · {run['rows']} rows · {run['status']} "
                        f"{run['created'][:16]}", str(run["id"])))
    return choices


def bench(files, use_examples: bool, codec_names, qualities_text: str | None, bpps_text: str | None,
          models, sr_scale, sr_models, progress: Callable[[float, str], None] | None = None, db=None,
          perceptual: bool = False) -> dict:
    """Uploaded files (images or zips) and/or the example set -> a stored run; its summary."""
    from restoration.bench import inputs as bench_inputs
    from restoration.bench import runner

    from restoration.pipelines import evaluate

    qualities, bpps = parse_numbers(qualities_text), parse_numbers(bpps_text)
    evaluate.check_settings(qualities, bpps)
    scale = int(sr_scale) if sr_scale else None
    config = runner.BenchConfig(tuple(codec_names or ()), None if qualities is None else tuple(qualities),
                                None if bpps is None else tuple(bpps), tuple(models or ()), scale,
                                tuple(sr_models or ()) if scale else (), perceptual).checked()
    paths = [getattr(f, "name", f) for f in (files or [])]
    images = bench_inputs.collect(paths, examples=bool(use_examples), dataset="upload")
    largest = max(i.pixel_count for i in images)  # one image is worked on at a time
    steps = [("codec", c) for c in config.codecs] + [("model", m) for m in (*config.models, *config.sr_models)]
    budget.claim(memory.need(f"this benchmark (largest image {largest / 1e6:.1f} MP)",
                             largest * (scale * scale if scale else 1), steps, [("metric", "ms_ssim")], kept=2))
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


def estimate(files, use_examples: bool, codec_names, qualities_text: str | None, bpps_text: str | None,
             models, sr_scale, sr_models, db=None, perceptual: bool = False) -> str:
    """Before a run: how many tasks it holds and about how long it will take here, from the
    timings stored runs measured (the user's, else the shipped example)."""
    from restoration import codecs as codeclib
    from restoration.bench import estimate as estimator
    from restoration.bench import executors

    images, mp = estimator.megapixels(files, bool(use_examples))
    if not images:
        return "Add images or the example set to see an estimate."
    qualities, bpps = parse_numbers(qualities_text), parse_numbers(bpps_text)
    tasks: dict[str, int] = {}
    lossy = 0
    for name in dict.fromkeys(codec_names or ()):
        codec = codeclib.get(name)
        settings = 1 if codec.knob is None else len(qualities or bpps or codec.knob.sweep)
        tasks[codec.name] = settings
        lossy += 0 if codec.knob is None else settings
    for model in models or ():
        tasks[model] = lossy
    if sr_scale:
        from restoration.pipelines import sr

        for model in dict.fromkeys([sr.baseline_id(int(sr_scale)), *(sr_models or ())]):
            tasks[model] = 1
    seconds = estimator.estimate(tasks, mp, dashboard_source(db)[0])
    if perceptual:  # every codec row also gets the on-demand metrics
        seconds += sum(tasks[codeclib.get(name).name] for name in dict.fromkeys(codec_names or ())) * mp * \
            estimator.PERCEPTUAL_S_PER_MP
    per_image = sum(tasks.values())
    count = images * per_image
    if executors.uses_pool(count, mp * per_image):
        seconds += executors.POOL_START_S
    return (f"{count} tasks on {images} image(s) ({mp:.2g} MP): about {duration(seconds)} here, from the "
            "timings of stored runs; rows already stored are reused.")


def duration(seconds: float) -> str:
    """Seconds as a person reads them: "0.0034 s", "2.5 s", "12 s", "3.5 min"."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def run_estimate(image_path, model_ids, self_ensemble: bool = False, scale: int = 1, db=None) -> str:
    """Before a Restoration or Super-resolution run: about how long it will take here, per model,
    from this server's latest runs of each model, else the timings stored benchmark runs measured;
    a model timed by neither is named as such. ``scale`` > 1: the upload is the high-resolution
    original, downscaled by it first."""
    from restoration.bench import estimate as estimator
    from restoration.models import timing

    if not image_path or not model_ids:
        return ""
    try:
        width, height = reader.file_header_size(image_path)
    except (OSError, UserInputError):
        return ""
    mp = width * height / 1e6 / (scale * scale)
    stored = estimator.timings(str(dashboard_source(db)[0]))
    models, seconds, unknown = list(dict.fromkeys(model_ids)), 0.0, []
    for model in models:
        rate = timing.seconds_per_mp(model, self_ensemble)
        if rate is None and model in stored:
            rate = stored[model] * (8 if self_ensemble else 1)  # a stored benchmark's single pass
        if rate is None:
            unknown.append(model)
        else:
            seconds += rate * mp
    text = f"Estimate for {width}×{height}: about {duration(seconds)}" if len(unknown) < len(models) else ""
    if unknown:
        text += ("; " if text else "Estimate: ") + f"not yet timed here: {', '.join(unknown)} (timed on first run)"
    return text + "."


def codec_estimate(image_path, codec_names, with_target: bool, perceptual: bool, db=None) -> str:
    """Before a codec comparison: about how long it will take here, from the encode + decode
    seconds per megapixel of each codec's latest comparisons in this server, else of stored runs
    (a size target bisects the knob: several encodes); codecs timed by neither are named."""
    from restoration import codecs as codeclib
    from restoration.bench import estimate as estimator
    from restoration.models import timing

    if not image_path or not codec_names:
        return ""
    try:
        width, height = reader.file_header_size(image_path)
    except (OSError, UserInputError):
        return ""
    mp, stored = width * height / 1e6, estimator.timings(str(dashboard_source(db)[0]))
    seconds, unknown = 0.0, []
    for codec in dict.fromkeys(codeclib.get(name) for name in codec_names):
        encodes = codec.size_search_steps() if with_target and codec.knob is not None else 1
        seconds += mp * (estimator.METRICS_S_PER_MP + (estimator.PERCEPTUAL_S_PER_MP if perceptual else 0))
        rate = timing.seconds_per_mp(codec.name)
        rate = stored.get(codec.name) if rate is None else rate
        if rate is not None:
            seconds += encodes * rate * mp
        else:
            unknown.append(codec.label)
    text = f"Estimate for {width}×{height}: about {duration(seconds)}"
    return text + (f" (not yet timed: {', '.join(unknown)})." if unknown else ".")


def report(run_ids, db=None):
    """(report, {"csv", "json", "html"} paths) for the chosen runs (default: the latest); the
    shipped example run while the user's database holds none."""
    from restoration.bench import report as reportlib

    reportlib.parse_run_ids(run_ids)  # a bad id is told even while the example run is shown
    path, example = dashboard_source(db)
    if not path.is_file():
        raise UserInputError("no benchmark has been run yet: run one in the \"Run a benchmark\" tab first")
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
        return ("Showing the **example run** shipped with the lab (the eight example images, five codecs at four "
                "qualities, restored by the default model, and x4 super-resolution; made by "
                "`python bench/example_run.py`). Run your own in the *Run a benchmark* tab: its charts replace these.")
    return "Showing your stored runs (pick one or more and press *Show*)."


def panel_pair(image_path, example: str | None, task: str, models, codec: str, quality, scale, db=None):
    from restoration.core import examples
    from restoration.bench import panel

    if image_path:
        image = load_input(image_path)  # through the request's pixel budget, as every tab's input
    elif example:
        image = examples.load_example(example)
    else:
        raise UserInputError("upload an image or choose an example first")
    return panel.make_pair(image, task, list(models or []), db or storelib.default_path(), codec=codec,
                           quality=int(quality), scale=int(scale))


def panel_vote(pair_id, token: str | None, preference: str | None, score_a, score_b, db=None) -> str:
    from restoration.bench import panel

    if pair_id is None or pair_id == 0:
        raise UserInputError("show a pair first")
    vote_id = panel.vote(int(pair_id), token, preference or None, score_a or None, score_b or None,
                         db or storelib.default_path())
    return (f"Vote {vote_id} recorded for pair {int(pair_id)}. Show a new pair to go on (the scores appear once "
            f"{panel.MIN_VOTES_FOR_SCORES} votes are in, and never tell which side a pair's model was).")


def panel_scores(db=None) -> list[list]:
    from restoration.bench import panel

    return panel.scores(db or storelib.default_path())
