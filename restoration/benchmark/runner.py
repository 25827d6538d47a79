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
import time
from dataclasses import dataclass, replace
from typing import Callable

from restoration import codecs as codeclib
from restoration.benchmark.executors import default_workers, execute
from restoration.benchmark.inputs import BenchImage
from restoration.benchmark.provenance import library_digest, model_sha256, provenance
from restoration.benchmark.store import Store
from restoration.benchmark.tasks import SCHEMA, Task, run_task  # noqa: F401  (public names of the runner)
from restoration.core.errors import UserInputError
from restoration.models import restorers
from restoration.pipelines import evaluate, sr

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class BenchConfig:
    codecs: tuple[str, ...] = ()
    qualities: tuple[float, ...] | None = None
    bpps: tuple[float, ...] | None = None
    models: tuple[str, ...] = ()  # restoration models applied after decoding (lossy codecs)
    sr_scale: int | None = None
    sr_models: tuple[str, ...] = ()
    perceptual: bool = False  # also the on-demand metrics (SSIMULACRA 2, FLIP, ColorVideoVDP) of codec rows

    def checked(self) -> "BenchConfig":
        """Every mistake reported before any work; model names resolved ("default")."""
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
        return replace(
            self,
            codecs=codec_names,
            models=tuple(dict.fromkeys(models)),
            sr_scale=int(self.sr_scale) if self.sr_scale else None,
            sr_models=tuple(dict.fromkeys(sr_models)),
            qualities=None if self.qualities is None else tuple(float(q) for q in self.qualities),
            bpps=None if self.bpps is None else tuple(float(b) for b in self.bpps),
        )

    def describe(self) -> dict:
        return {
            "codecs": list(self.codecs),
            "qualities": None if self.qualities is None else list(self.qualities),
            "bpps": None if self.bpps is None else list(self.bpps),
            "models": list(self.models),
            "sr_scale": self.sr_scale,
            "sr_models": list(self.sr_models),
            **({"perceptual": True} if self.perceptual else {}),
        }


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
            cfg = {
                "kind": "codec",
                "codec": codec.name,
                "params": params,
                "target_bpp": None if point.target is None else point.target.bpp,
            }
            if codec.weights_sha256() is not None:
                cfg["codec_sha256"] = codec.weights_sha256()
            if config.perceptual:  # its own key: a stored row without these metrics is not reused for it
                cfg["perceptual"] = True
            tasks.append(Task(image_hash, cfg, () if lossless else models, libs))
        for model in config.sr_models:
            tasks.append(
                Task(
                    image_hash,
                    {"kind": "sr", "scale": config.sr_scale, "model": model, "model_sha256": model_sha256(model)},
                    (),
                    libs,
                )
            )
    return tasks


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
        return {
            "run": self.run_id,
            "rows": self.rows,
            "computed": self.computed,
            "reused": self.reused,
            "seconds": round(self.seconds, 3),
            "resumed": self.resumed,
            "db": self.db,
        }


def bench(
    images: list[BenchImage],
    config: BenchConfig,
    db=None,
    executor: str = "local",
    workers: int | None = None,
    progress: Progress | None = None,
) -> BenchResult:
    """Run (or resume) a benchmark into the store at ``db``; stored rows are reused."""
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
        run_id, resumed = store.start_run(
            config.describe(), config_hash, described, provenance(executor, workers or default_workers())
        )
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
            jobs.append((replace(task, models=missing), names[task.image_hash][0]))  # decoded when run
        store.link(run_id, links)  # one transaction for every reused row
        if progress:
            progress(
                done,
                len(tasks),
                f"starting: {len(tasks) - done} of {len(tasks)} tasks to compute ({done} stored by earlier runs)",
            )
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
