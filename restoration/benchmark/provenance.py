"""Where and with what a benchmark row was computed: versions, machine, date, weights."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import shlex
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from PIL import features

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.core import plugins  # noqa: F401  the AVIF and JPEG XL plugins, whose versions are read
from restoration.models import hub, restorers

PROJECT = "restoration-lab"
# What the models, degradations and metrics' arithmetic run on. The codecs and metrics name their
# own packages (``Codec.packages``, ``Metric.packages``), so a codec or metric added to its
# registry is recorded without an edit here.
RUNTIME_DISTRIBUTIONS = ("numpy", "opencv-python-headless", "torch", "scikit-image", "scipy")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def distributions() -> tuple[str, ...]:
    """Every distribution whose version decides a row's numbers (the project's own first): the
    runtime's, and those the registered codecs and metrics declare. The project's version does not
    decide a number (a release does not change a stored number; a change of method bumps
    ``runner.SCHEMA`` instead), so it is recorded but left out of ``library_digest``."""
    declared = {*RUNTIME_DISTRIBUTIONS, *codeclib.packages(), *metriclib.packages()}
    return (PROJECT, *sorted(declared - {PROJECT}))


@lru_cache(maxsize=8)
def _pillow_versions(names: tuple[str, ...]) -> tuple[tuple[str, str | None], ...]:
    return tuple((name, features.version(name)) for name in names)


@lru_cache(maxsize=8)
def _versions(dists: tuple[str, ...]) -> tuple[tuple[str, str | None], ...]:
    return tuple((dist, _version(dist)) for dist in dists)


def codec_versions() -> dict:
    """The version of each Pillow library a registered codec codes with (libjpeg-turbo, OpenJPEG, ...)."""
    return dict(_pillow_versions(codeclib.pillow_features()))


def library_versions() -> dict:
    """The version of each distribution in ``distributions`` (None: not installed)."""
    return dict(_versions(distributions()))


def library_digest() -> str:
    """A short digest of every version that decides a row's numbers (part of each row's key)."""
    versions = {"codecs": codec_versions(), **{d: v for d, v in library_versions().items() if d != PROJECT}}
    return hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:16]


def model_sha256(model_id: str) -> str | None:
    """The digest of the weights a registered model loads (``RestorerSpec.sha256``)."""
    return restorers.get(model_id).sha256()


def model_commit(model_id: str) -> str | None:
    """For a Hub model, the commit its cached file was resolved to (the Hub cache's
    snapshots/<commit>/ folder), so a row names the exact revision even when the manifest says
    "main"; None for our own and classical models, or a Hub file not downloaded."""
    try:
        item = hub.entry(model_id)
    except hub.HubError:
        return None
    path = hub.cached_path(item)
    return hub.resolved_commit(path) if path else None


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), for benchmark headers: timings and whether
    bf16 is native depend on it."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine() or "unknown CPU"


def command_line(script: str, argv: list[str] | None = None) -> str:
    """The command that reproduces a benchmark run, for its report: ``python script`` and its
    arguments (default: this process's), after ``RESTORATION_BF16=...`` when that forced the precision."""
    forced = os.environ.get("RESTORATION_BF16")
    return " ".join(
        [
            *([f"RESTORATION_BF16={forced}"] if forced else []),
            "python",
            script,
            *map(shlex.quote, sys.argv[1:] if argv is None else argv),
        ]
    )


def machine_description() -> str:
    """One line naming the machine, the same in every benchmark header: '2-core AMD EPYC (x86_64)'."""
    return f"{os.cpu_count()}-core {cpu_name()} ({platform.machine()})"


def provenance(executor: str = "local", workers: int | None = None) -> dict:
    return {
        "package": _version(PROJECT),
        "libraries": library_versions(),
        "codecs": codec_versions(),
        "library_digest": library_digest(),
        "machine": {
            "node": platform.node(),
            "system": platform.platform(),
            "arch": platform.machine(),
            "cpu": cpu_name(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "executor": executor,
        "workers": workers,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def publish(lines: list[str], out=None) -> str:
    """A benchmark's markdown: printed, and written to ``out`` when given."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        Path(out).write_text(text)
    return text
