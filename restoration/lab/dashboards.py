"""What the Dashboards tab does, free of any UI code (``ui/dashboards_tab.py`` only wires it): run
a benchmark from uploads or the example set, list stored runs, build a report (the shipped example
run until the user's database holds one), serve the blind panel, and the estimate under the
benchmark's button; its pickers and its tables' headers."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.benchmark import charts, dashboards, executors, panel, runner
from restoration.benchmark import estimate as estimator
from restoration.benchmark import inputs as bench_inputs
from restoration.benchmark import report as reportlib
from restoration.benchmark import store as storelib
from restoration.core import budget, examples, memory, scratch
from restoration.core.errors import UserInputError
from restoration.lab import common, cost
from restoration.models import restorers
from restoration.pipelines import evaluate, sr

# -- pickers and headers ---------------------------------------------------------------------------


def restoration_choices() -> list[tuple[str, str]]:
    """Ready models that restore at scale 1 (artifact removal, denoising)."""
    return [s.choice() for s in restorers.ready(scale=1) if "sr" not in s.tasks]


def sr_choices() -> list[tuple[str, str]]:
    """Ready upscalers at every scale the tab offers."""
    return [s.choice() for scale in sr.SCALES for s in sr.ready_models(scale)]


def panel_model_choices(task: str) -> list[tuple[str, str]]:
    """The models the blind panel draws from for a task: upscalers or restoration models, never both."""
    return sr_choices() if task == "super-resolution" else restoration_choices()


def codec_choices() -> list[tuple[str, str]]:
    """Every registered codec as (label, name)."""
    return [(c.label, c.name) for c in codeclib.CODECS.values()]


def lossy_codec_choices() -> list[tuple[str, str]]:
    """The codecs that can degrade the panel's input: every lossy one."""
    return [(c.label, c.name) for c in codeclib.CODECS.values() if c.knob]


def example_count() -> int:
    return len(examples.EXAMPLES)


def bd_headers() -> list[str]:
    """The BD-rate table's headers (``bench.dashboards``)."""
    return list(dashboards.BD_HEADERS)


def method_headers() -> list[str]:
    """The per data set and method table's headers (``bench.dashboards``)."""
    return list(dashboards.METHOD_HEADERS)


def rd_panels() -> list[tuple[str, str, bool]]:
    """The rate-distortion charts as the page lays them out, from the metric table: (metric, title,
    whether it is on top) for every metric it marks for BD-rate; on top: the headline metrics
    computed by default, the others a click away."""
    chosen = [m for m in metriclib.METRICS.values() if m.bd]
    return [(m.name, f"{charts.label(m.name)} vs bpp", m.headline and not m.on_demand) for m in chosen]


def rd_figures(built: reportlib.Report) -> list:
    """One figure per ``rd_panels`` entry: the report's, or for a metric its runs did not measure
    (an on-demand one), the chart that says why."""
    return [
        built.figures[f"rd_{name}"] if f"rd_{name}" in built.figures else charts.rd_figure(built.rows, name)
        for name, *_ in rd_panels()
    ]


BD_SIGNS = dashboards.BD_SIGNS  # what a BD-rate's sign means, for the table's label
PANEL_TASKS = panel.TASKS
PANEL_PREFERENCES = panel.PREFERENCES
PANEL_SCORE_HEADERS = panel.SCORE_HEADERS


def panel_min_votes() -> int:
    """Votes before the panel's scores show (sooner, a score that moved would tell whose result was which)."""
    return panel.MIN_VOTES_FOR_SCORES


METRIC_TABLE_HEADERS = ["metric", "label", "unit", "better", "range", "status"]


def metric_table() -> list[list]:
    """Every metric this lab computes, with its direction, range and whether it can run here."""
    return [
        [
            m.name,
            m.label,
            m.unit,
            "lower" if m.lower_better else "higher",
            f"[{m.low}, {m.high}]",
            m.unavailable_reason() or "available",
        ]
        for m in metriclib.METRICS.values()
    ]


# -- the benchmark and its stored runs -------------------------------------------------------------


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
    qualities, bpps = common.parse_numbers(qualities_text), common.parse_numbers(bpps_text)
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
EXAMPLE_DB = Path(storelib.__file__).resolve().parent / "example_bench.sqlite"  # package data of bench


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


# -- the estimate ----------------------------------------------------------------------------------


def bench_estimate(
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
    its work (``lab.cost``): per image, each codec setting's encode and decode (a bpp target's
    bisection of encodes) and its metrics, each restoration model on each lossy decoding and its
    metrics, each upscaler and its metrics; the pool's start where one is used, and the report."""
    images, mp = estimator.megapixels(files, bool(use_examples))
    if not images:
        return "Add images or the example set to see an estimate."
    qualities, bpps = common.parse_numbers(qualities_text), common.parse_numbers(bpps_text)
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
        f"{count} tasks on {images} image(s) ({mp:.2g} MP): about {common.duration(work.seconds)} here{missing}; "
        f"rows already stored are reused.{told}"
    )


# -- the report and the blind panel ---------------------------------------------------------------

# The report and charts the page shows after a run: 0.1-0.3 s to build, 1.5 s the first time (plotly's
# import), and their drawing in the page (0.5-2 s in Chromium on a 2-core machine).
REPORT_S = 0.9


def report(run_ids, db=None):
    """(report, {"csv", "json", "html"} paths) for the chosen runs (default: the latest); the
    shipped example run while the user's database holds none."""
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
    """Two models' results on the same input, for the blind panel (``bench.panel.make_pair``): the
    upload read through the web's input door, or an example."""
    if image_path:
        image = common.load_input(image_path)  # through the request's memory budget, as every tab's input
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
    return panel.scores(db or storelib.default_path())
