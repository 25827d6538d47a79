"""The benchmark runner: images x codecs x settings (x restoration models), and SR runs.

The unit of work is a pure task, ``run_task(task, image) -> rows``: one codec setting on one
image (the codec's row, then one row per restoration model applied to that decoding), or one
super-resolution model at one scale. Tasks run inline, on a local process pool (the default,
one worker per core) or on a Dask cluster (``dask://HOST:PORT``); only this process writes the
rows to the store. A row is keyed by the image's pixel hash and its whole configuration
(codec, settings, model and weights sha256, library versions), so a later run reuses it, and a
run that was interrupted resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

import numpy as np

from restoration.pipelines import evaluate
from restoration import metrics as metriclib
from restoration.bench.inputs import BenchImage
from restoration.core.errors import UserInputError
from restoration.bench.provenance import library_digest, model_sha256, provenance

SCHEMA = 2  # 2: learned codecs and dictionaries key their rows on their weights
Progress = Callable[[int, int, str], None]
DASK_CONNECT_TIMEOUT = "10s"
POOL_MIN_TASKS = 8  # fewer tasks run in this process: starting workers (and torch in each) costs seconds


@dataclass(frozen=True)
class BenchConfig:
    codecs: tuple[str, ...] = ()
    qualities: tuple[float, ...] | None = None
    bpps: tuple[float, ...] | None = None
    models: tuple[str, ...] = ()  # restoration models applied after decoding (lossy codecs)
    sr_scale: int | None = None
    sr_models: tuple[str, ...] = ()

    def checked(self) -> "BenchConfig":
        """Every mistake reported before any work; model names resolved ("default")."""
        from restoration import codecs as codeclib
        from restoration.models import restorers
        from restoration.pipelines import sr

        if self.qualities is not None and self.bpps is not None:
            raise UserInputError("give qualities or bpp targets, not both")
        if not self.codecs and not self.sr_scale:
            raise UserInputError("choose at least one codec, or a super-resolution scale")
        codec_names = tuple(dict.fromkeys(codeclib.get(c).name for c in self.codecs))
        if self.models and not codec_names:
            raise UserInputError("restoration models run on decoded images: choose at least one codec")
        models = []
        for model in self.models:
            spec = restorers.default_for("jpeg") if model == "default" else restorers.get(model)
            if spec.scale != 1 or "sr" in spec.tasks:
                raise UserInputError(f"{spec.id} is a super-resolution model: use it with --sr-models")
            models.append(restorers.require_ready(spec.id).id)
        if self.sr_models and not self.sr_scale:
            raise UserInputError("super-resolution models need a scale (--sr-scale 2 or 4)")
        sr_models: list[str] = []
        if self.sr_scale:
            scale = sr.check_scale(int(self.sr_scale))
            # The bicubic baseline always runs: it is what every SR table is read against.
            for model in (sr.baseline_id(scale), *self.sr_models):
                sr_models.append(restorers.require_ready(sr.check_model(model, scale)).id)
        for values, what in ((self.qualities, "quality"), (self.bpps, "bpp target")):
            if values is not None and not values:
                raise UserInputError(f"give at least one {what}")
        return replace(self, codecs=codec_names, models=tuple(dict.fromkeys(models)),
                       sr_scale=int(self.sr_scale) if self.sr_scale else None,
                       sr_models=tuple(dict.fromkeys(sr_models)),
                       qualities=None if self.qualities is None else tuple(float(q) for q in self.qualities),
                       bpps=None if self.bpps is None else tuple(float(b) for b in self.bpps))

    def describe(self) -> dict:
        return {"codecs": list(self.codecs), "qualities": None if self.qualities is None else list(self.qualities),
                "bpps": None if self.bpps is None else list(self.bpps), "models": list(self.models),
                "sr_scale": self.sr_scale, "sr_models": list(self.sr_models)}


@dataclass(frozen=True)
class Task:
    """One unit of work: what to run on the image with hash ``image_hash``. ``models`` are the
    restoration models (id, expected weights sha256) applied to the decoded image."""

    image_hash: str
    config: dict = field(hash=False)
    models: tuple[tuple[str, str | None], ...] = ()
    libs: str = ""

    def key(self, extra: dict | None = None) -> str:
        body = {"image": self.image_hash, "schema": SCHEMA, "libs": self.libs, **self.config, **(extra or {})}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def model_key(self, model: str, sha: str | None) -> str:
        return self.key({"kind": "restore", "model": model, "model_sha256": sha})

    def keys(self) -> list[str]:
        return [self.key()] + [self.model_key(m, sha) for m, sha in self.models]


def plan(images: list[BenchImage], config: BenchConfig) -> list[Task]:
    """One task per (distinct image, codec setting) and per (distinct image, sr model)."""
    libs = library_digest()
    points = evaluate.sweep_plan(config.codecs, config.qualities, config.bpps) if config.codecs else []
    models = tuple((m, model_sha256(m)) for m in config.models)
    tasks: list[Task] = []
    for image_hash in dict.fromkeys(im.hash for im in images):
        for point in points:
            codec = point.codec
            params = codec.resolve(point.params)
            lossless = codec.is_lossless(params)
            cfg = {"kind": "codec", "codec": codec.name, "params": params,
                       "target_bpp": None if point.target is None else point.target.bpp}
            if codec.weights_sha256() is not None:
                cfg["codec_sha256"] = codec.weights_sha256()
            tasks.append(Task(image_hash, cfg, () if lossless else models, libs))
        for model in config.sr_models:
            tasks.append(Task(image_hash, {"kind": "sr", "scale": config.sr_scale, "model": model,
                                           "model_sha256": model_sha256(model)}, (), libs))
    return tasks


# -- the pure task ---------------------------------------------------------------------------------
_STATS: dict[str, metriclib.ReferenceStats] = {}
_LOADED: dict[str, str | None] = {}  # model id -> sha256 of the weights this process loaded


def _reference_stats(image_hash: str, image: np.ndarray) -> metriclib.ReferenceStats:
    if image_hash not in _STATS:
        if len(_STATS) >= 2:  # tasks arrive grouped by image: keep the last two
            _STATS.pop(next(iter(_STATS)))
        _STATS[image_hash] = metriclib.ReferenceStats(image)
    return _STATS[image_hash]


def _checked_model(model: str, expected: str | None) -> str | None:
    """The sha256 of the weights this process runs for ``model``; refuses a mismatch with the plan."""
    if model not in _LOADED:
        _LOADED[model] = model_sha256(model)  # read just before the first load, which verifies it
    if _LOADED[model] != expected:
        raise UserInputError(f"the weights of {model} changed during the run (planned sha256 {expected}, this "
                             f"worker runs {_LOADED[model]}); run the benchmark again")
    return _LOADED[model]


def _numbers(metrics: dict) -> dict:
    return {k: evaluate.json_number(v) for k, v in metrics.items()}


def run_task(task: Task, image: np.ndarray) -> list[dict]:
    """(image, configuration) -> rows. Pure: depends only on its arguments (and the installed
    libraries and weights, which it checks against the task)."""
    if task.libs != library_digest():
        raise UserInputError("this worker's codec or library versions differ from the planning machine's")
    if task.config["kind"] == "sr":
        return [_run_sr(task, image)]
    return _run_codec(task, image)


def _run_codec(task: Task, image: np.ndarray) -> list[dict]:
    from restoration import codecs as codeclib

    cfg = task.config
    codec = codeclib.get(cfg["codec"])
    stats = _reference_stats(task.image_hash, image)
    target = None if cfg["target_bpp"] is None else evaluate.Target(bpp=cfg["target_bpp"])
    result = evaluate.compress(image, codec, cfg["params"], target, metriclib.names(), stats)
    if codec.is_lossless(result.params):
        setting, value = "lossless", None
    else:
        value = result.params[codec.knob.name]
        setting = f"{codec.knob.name}={value}" if target is None else f"<={cfg['target_bpp']:g} bpp"
    base = {"kind": "codec", "key": task.key(), "image_hash": task.image_hash, "codec": codec.name,
            "setting": setting, "setting_value": value if target is None else cfg["target_bpp"],
            "params": result.params, "target_bpp": cfg["target_bpp"], "bytes": result.nbytes,
            "width": result.width, "height": result.height, **_numbers(result.metrics),
            "restore_ms": None, "model": None, "model_sha256": None, "scale": None}
    rows = [base]
    for model, expected in task.models:
        rows.append(_restore_row(task, image, stats, base, result, model, expected))
    return rows


def _restore_row(task, image, stats, base, result, model, expected) -> dict:
    from restoration.pipelines import restore as restorelib

    sha = _checked_model(model, expected)
    restored = restorelib.restore_one(result.decoded, model, image, data=result.data, metric_names=metriclib.names("fidelity"),
                                      reference_stats=stats)
    row = {**base, "kind": "restore", "key": task.model_key(model, expected), **_numbers(restored.after),
           "restore_ms": 1000.0 * restored.seconds, "model": model, "model_sha256": sha}
    if "note" in restored.extra:
        row["note"] = restored.extra["note"]
    return row


def _run_sr(task: Task, image: np.ndarray) -> dict:
    from restoration.pipelines import sr

    cfg = task.config
    scale, model = cfg["scale"], cfg["model"]
    sha = _checked_model(model, cfg["model_sha256"])
    hr, lr = sr.make_lr(image, scale)
    result = sr.run(lr, model, scale, hr)
    rgb = metriclib.measure(metriclib.Sample(hr, result.image, shave=scale), ("psnr", "ssim", "ms_ssim"))
    return {"kind": "sr", "key": task.key(), "image_hash": task.image_hash, "codec": None,
            "setting": f"x{scale}", "setting_value": scale, "params": {}, "target_bpp": None, "bytes": None,
            "width": hr.shape[1], "height": hr.shape[0], "bpp": None, "ratio": None,
            **_numbers(rgb), **_numbers(result.metrics), "encode_ms": None, "decode_ms": None,
            "restore_ms": 1000.0 * result.seconds, "model": model, "model_sha256": sha, "scale": scale}


# -- executors -------------------------------------------------------------------------------------
def _init_worker() -> None:
    """One thread per worker process: the pool itself fills the cores."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import cv2

    cv2.setNumThreads(1)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def execute(jobs: list[tuple[Task, np.ndarray]], executor: str = "local",
            workers: int | None = None) -> Iterator[tuple[Task, list[dict]]]:
    """Run the tasks; yield (task, rows) as each finishes (in any order)."""
    workers = workers or default_workers()
    if executor.startswith("dask://"):
        yield from _dask(jobs, executor[len("dask://"):], workers)
    elif executor != "local":
        raise UserInputError(f"unknown executor {executor!r}: use local or dask://HOST:PORT")
    elif workers < 2 or len(jobs) < max(POOL_MIN_TASKS, 2 * workers):  # a pool's start-up would cost more
        for task, image in jobs:
            yield task, run_task(task, image)
    else:
        yield from _process_pool(jobs, workers)


def _process_pool(jobs, workers):
    import multiprocessing
    import sys
    import threading
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # fork starts workers at once, but a forked copy of a process that already runs torch's
    # thread pool or other threads (a server) can deadlock: those get fresh (spawned) workers.
    safe_to_fork = "torch" not in sys.modules and threading.active_count() == 1 and os.name == "posix"
    context = multiprocessing.get_context("fork" if safe_to_fork else "spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker)
    pending: dict = {}
    queue = iter(jobs)
    try:
        for task, image in queue:  # keep at most two tasks per worker in flight
            pending[pool.submit(run_task, task, image)] = task
            if len(pending) < 2 * workers:
                continue
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)


def _dask(jobs, address: str, workers: int):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise UserInputError("the dask executor needs dask.distributed: pip install 'dask[distributed]'") from None
    if not address:
        raise UserInputError("give the scheduler as dask://HOST:PORT")
    try:
        client = Client(f"tcp://{address}" if "://" not in address else address, timeout=DASK_CONNECT_TIMEOUT)
    except OSError as exc:
        raise UserInputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        window = 2 * max(workers, len(client.scheduler_info(n_workers=-1).get("workers", {})), 1)
        scattered: dict[str, object] = {}
        pending: dict = {}
        completed = as_completed()
        queue = iter(jobs)

        def submit(task, image):
            if task.image_hash not in scattered:  # each image travels to the cluster once
                scattered[task.image_hash] = client.scatter(image)
            future = client.submit(run_task, task, scattered[task.image_hash], pure=False)
            pending[future] = task
            completed.add(future)

        for task, image in queue:
            submit(task, image)
            if len(pending) >= window:
                break
        for future in completed:
            task = pending.pop(future)
            yield task, future.result()
            for next_task, next_image in queue:
                submit(next_task, next_image)
                break
    finally:
        client.close()


# -- the whole run ---------------------------------------------------------------------------------
@dataclass
class BenchResult:
    run_id: int
    rows: int
    computed: int
    reused: int
    seconds: float
    resumed: bool
    db: str

    def describe(self) -> dict:
        return {"run": self.run_id, "rows": self.rows, "computed": self.computed, "reused": self.reused,
                "seconds": round(self.seconds, 3), "resumed": self.resumed, "db": self.db}


def bench(images: list[BenchImage], config: BenchConfig, db=None, executor: str = "local",
          workers: int | None = None, progress: Progress | None = None) -> BenchResult:
    """Run (or resume) a benchmark into the store at ``db``; stored rows are reused."""
    from restoration.bench.store import Store

    config = config.checked()
    if executor != "local" and not executor.startswith("dask://"):
        raise UserInputError(f"unknown executor {executor!r}: use local or dask://HOST:PORT")
    tasks = plan(images, config)
    names: dict[str, list[BenchImage]] = {}
    for im in images:
        names.setdefault(im.hash, []).append(im)
    described = [im.describe() for im in images]
    config_hash = hashlib.sha256(json.dumps([config.describe(), described], sort_keys=True).encode()).hexdigest()
    start = time.perf_counter()
    with Store(db) as store:
        run_id, resumed = store.start_run(config.describe(), config_hash, described,
                                          provenance(executor, workers or default_workers()))
        found = store.lookup([key for task in tasks for key in task.keys()])
        jobs, links, reused, done = [], [], 0, 0
        for task in tasks:
            keys = task.keys()
            have = [k for k in keys if k in found]
            links.extend((key, im.name, im.dataset) for im in names[task.image_hash] for key in have)
            reused += len(have)
            if len(have) == len(keys):
                done += 1
                continue
            missing = tuple((m, sha) for m, sha in task.models if task.model_key(m, sha) not in found)
            jobs.append((replace(task, models=missing), names[task.image_hash][0].image))
        store.link(run_id, links)  # one transaction for every reused row
        if progress:
            progress(done, len(tasks), f"{done} of {len(tasks)} tasks already stored")
        computed, status = 0, "interrupted"
        try:
            for task, rows in execute(jobs, executor, workers):
                store.add(run_id, rows, [(im.name, im.dataset) for im in names[task.image_hash]])
                computed += sum(1 for r in rows if r["key"] not in found)
                done += 1
                if progress:
                    progress(done, len(tasks), f"{rows[0]['codec'] or rows[0]['model']} {rows[0]['setting']}")
            status = "finished"
        except Exception:
            status = "failed"
            raise
        finally:
            store.end_run(run_id, status, time.perf_counter() - start, computed, reused)
        total = store.db.execute("SELECT COUNT(*) FROM run_rows WHERE run_id = ?", (run_id,)).fetchone()[0]
    return BenchResult(run_id, total, computed, reused, time.perf_counter() - start, resumed, str(store.path))
