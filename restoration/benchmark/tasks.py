"""The unit of benchmark work, a pure task: ``run_task(task, image) -> rows``, one codec setting on
one image (its row, then a row per restoration model applied to that decoding), or one
super-resolution model at one scale. It depends only on its arguments and on the installed
libraries and weights, which it checks against the task (so any worker may run it)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.benchmark.provenance import library_digest, model_commit, model_sha256
from restoration.core.errors import UserInputError
from restoration.pipelines import evaluate, sr
from restoration.pipelines import restore as restorelib

SCHEMA = 2  # 2: learned codecs and dictionaries key their rows on their weights


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
        raise UserInputError(
            f"the weights of {model} changed during the run (planned sha256 {expected}, this "
            f"worker runs {_LOADED[model]}); run the benchmark again"
        )
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
    cfg = task.config
    codec = codeclib.get(cfg["codec"])
    stats = _reference_stats(task.image_hash, image)
    target = None if cfg["target_bpp"] is None else evaluate.Target(bpp=cfg["target_bpp"])
    names = metriclib.names(on_demand=bool(cfg.get("perceptual")))
    result = evaluate.compress(image, codec, cfg["params"], target, names, stats)
    if codec.is_lossless(result.params):
        setting, value = "lossless", None
    else:
        value = result.params[codec.knob.name]
        setting = codec.setting_label(result.params) if target is None else f"<={cfg['target_bpp']:g} bpp"
    base = {
        "kind": "codec",
        "key": task.key(),
        "image_hash": task.image_hash,
        "codec": codec.name,
        "setting": setting,
        "setting_value": value if target is None else cfg["target_bpp"],
        "params": result.params,
        "target_bpp": cfg["target_bpp"],
        "bytes": result.nbytes,
        "width": result.width,
        "height": result.height,
        **_numbers(result.metrics),
        "restore_ms": None,
        "model": None,
        "model_sha256": None,
        "scale": None,
    }
    rows = [base]
    for model, expected in task.models:
        rows.append(_restore_row(task, image, stats, base, result, model, expected))
    return rows


def _restore_row(task, image, stats, base, result, model, expected) -> dict:
    sha = _checked_model(model, expected)
    restored = restorelib.restore_one(
        result.decoded, model, image, data=result.data, metric_names=metriclib.names("fidelity"), reference_stats=stats
    )
    row = {
        **base,
        "kind": "restore",
        "key": task.model_key(model, expected),
        **_numbers(restored.after),
        "restore_ms": 1000.0 * restored.seconds,
        "model": model,
        "model_sha256": sha,
        "model_commit": model_commit(model),
    }
    if "note" in restored.extra:
        row["note"] = restored.extra["note"]
    return row


def _run_sr(task: Task, image: np.ndarray) -> dict:
    cfg = task.config
    scale, model = cfg["scale"], cfg["model"]
    sha = _checked_model(model, cfg["model_sha256"])
    hr, lr = sr.make_lr(image, scale)
    result = sr.run(lr, model, scale, hr)
    rgb = metriclib.measure(metriclib.Sample(hr, result.image, shave=scale), ("psnr", "ssim", "ms_ssim"))
    return {
        "kind": "sr",
        "key": task.key(),
        "image_hash": task.image_hash,
        "codec": None,
        "setting": f"x{scale}",
        "setting_value": scale,
        "params": {},
        "target_bpp": None,
        "bytes": None,
        "width": hr.shape[1],
        "height": hr.shape[0],
        "bpp": None,
        "ratio": None,
        **_numbers(rgb),
        **_numbers(result.metrics),
        "encode_ms": None,
        "decode_ms": None,
        "restore_ms": 1000.0 * result.seconds,
        "model": model,
        "model_sha256": sha,
        "scale": scale,
        "model_commit": model_commit(model),
    }
