"""The batch action: one job on many images (files, folders or zip archives), out comes a zip of
the result files, a CSV of each file's sizes and metrics, and a summary line.

The jobs are the lab's own single-image actions: ``convert`` (one codec at its settings, at a size
or at equal quality: ``evaluate.compress`` / ``equal_quality.search``; a lossless codec given a size
runs lossless with a note, by the compare action's rule ``compare.lossless_here``), ``restore``
(``pipelines.restore.restore_one``, auto by default) and ``upscale`` (``sr.clean_first`` then
``sr.run``). The app's Batch tab, its ``/batch`` endpoint and ``restoration batch`` call ``run``.

Images are listed from their headers first (a zip's members too, with caps on their number and
size), then decoded one at a time and released; the request's memory budget holds the largest
image's working set once, not the sum. A file that cannot be read or processed gets its reason
in its CSV row and the others go on.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from restoration import codecs as codeclib
from restoration import metrics as metriclib
from restoration.codecs import archive as archivelib
from restoration.codecs import output as outputlib
from restoration.codecs import reader
from restoration.core import budget, memory
from restoration.core.errors import UserInputError
from restoration.models import restorers
from restoration.models.auto import AUTO
from restoration.pipelines import compare as comparelib
from restoration.pipelines import equal_quality, evaluate, sr
from restoration.pipelines import restore as restorelib

JOBS = ("convert", "restore", "upscale")
MAX_FILES = 500
MAX_MEMBER_BYTES = archivelib.MAX_MEMBER_BYTES  # per zip member; codecs.archive checks it
MAX_SETTINGS_CHARS = 4096
MAX_SETTINGS_DEPTH = 8
SPREADSHEET_FORMULA = ("=", "+", "-", "@", "\t", "\r")


# -- settings --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """A job's settings, checked before any image is read."""

    job: str
    codec: codeclib.Codec | None = None  # convert
    params: dict = field(default_factory=dict)  # convert: the codec's own parameters
    target: object = None  # convert: codecs.Target (size) or equal_quality.QualityTarget
    model: str | None = None  # restore / upscale
    scale: int = 4  # upscale
    restore: str = AUTO  # upscale: the step before
    output: outputlib.OutputFormat | None = None  # restore / upscale: how results are written
    note: str = ""  # convert: how the run differs from the request (a lossless codec given a size)

    def describe(self) -> str:
        if self.job == "convert":
            aim = (
                f" at {self.target.text()}"
                if isinstance(self.target, equal_quality.QualityTarget)
                else f" within {next(iter(self.target.describe().values())):g} {next(iter(self.target.describe()))}"
                if self.target is not None
                else f" {self.codec.setting_label(self.params)}"
            )
            return f"convert to {self.codec.label}{aim}"
        if self.job == "restore":
            return f"restore with {self.model}, written as {self.output.label()}"
        return (
            f"upscale x{self.scale} with {self.model} (clean first: {self.restore}), written as {self.output.label()}"
        )


KEYS = {
    "convert": {"codec", "target_bpp", "target_bytes", "target_quality", "params"},
    "restore": {"model", "format"},
    "upscale": {"scale", "model", "restore", "format"},
}


def parse_settings(job: str, text: str | dict | None) -> Settings:
    """The job's settings from JSON text (the API's and the CLI's form) or a dict; one clear
    message for any mistake. A convert job's other keys are the codec's parameters."""
    if job not in JOBS:
        raise UserInputError(f"unknown batch job {job!r}; choose from {', '.join(JOBS)}")
    values = _json_object(text)
    if job == "convert":
        return _convert_settings(values)
    unknown = set(values) - KEYS[job]
    if unknown:
        raise UserInputError(f"{job} settings take {', '.join(sorted(KEYS[job]))}; not {', '.join(sorted(unknown))}")
    output = outputlib.parse_format(_text(values.get("format", outputlib.DEFAULT), "format"))
    if job == "restore":
        model = _text(values.get("model", AUTO), "model")
        _restoration_model(model)
        return Settings(job, model=model, output=output)
    scale = values.get("scale", 4)
    if isinstance(scale, bool) or scale not in sr.SCALES:
        raise UserInputError(f"upscale settings: scale is {' or '.join(map(str, sr.SCALES))}, got {scale!r}")
    model = sr.check_model(_text(values["model"], "model"), scale) if "model" in values else sr.default_model(scale)
    restore = _text(values.get("restore", AUTO), "restore")
    if restore not in (AUTO, sr.NO_RESTORE):
        _restoration_model(restore)
    return Settings(job, model=model, scale=int(scale), restore=restore, output=output)


def _json_object(text) -> dict:
    if text is None or text == "":
        return {}
    if isinstance(text, dict):
        return text
    if not isinstance(text, str) or len(text) > MAX_SETTINGS_CHARS:
        raise UserInputError(f"the settings are a JSON object of at most {MAX_SETTINGS_CHARS} characters")
    if _depth(text) > MAX_SETTINGS_DEPTH:
        raise UserInputError(f"the settings are not valid JSON here (nested deeper than {MAX_SETTINGS_DEPTH} levels)")
    try:
        values = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UserInputError(f"the settings are not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(values, dict):
        raise UserInputError('the settings are a JSON object, e.g. {"codec": "avif", "quality": 50}')
    return values


def _depth(text: str) -> int:
    """The deepest nesting of brackets outside strings (JSON's parser recurses once per level)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped, in_string = (not escaped and char == "\\"), in_string and (escaped or char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _text(value, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserInputError(f"settings: {key} is a name, got {value!r}")
    return value.strip()


def _restoration_model(model_id: str) -> None:
    spec = restorers.get(model_id)
    if spec.scale != 1 or "sr" in spec.tasks:
        raise UserInputError(f"{spec.id} is an upscaler; use the upscale job")


def _convert_settings(values: dict) -> Settings:
    if "codec" not in values:
        raise UserInputError('convert settings need a codec, e.g. {"codec": "avif", "quality": 50}')
    codec = codeclib.get(_text(values["codec"], "codec"))
    reason = codec.unavailable_reason()
    if reason:
        raise UserInputError(f"{codec.label} cannot run here: {reason}")
    params = {k: v for k, v in values.items() if k not in KEYS["convert"]}
    params.update(values.get("params") or {})
    codec.resolve(params)  # names and ranges, before any file is read
    targets = [k for k in ("target_bpp", "target_bytes", "target_quality") if k in values]
    if len(targets) > 1:
        raise UserInputError("give one target: target_bpp, target_bytes or target_quality")
    target = None
    if targets == ["target_quality"]:
        target = comparelib.parse_target("quality", _text(values["target_quality"], "target_quality"))
    elif targets:
        number = values[targets[0]]
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise UserInputError(f"{targets[0]} is a number, got {number!r}")
        target = comparelib.parse_target(targets[0].removeprefix("target_"), number)
        if comparelib.lossless_here(codec, params):  # as the compare action: it runs at its settings
            return Settings("convert", codec=codec, params=params, note=comparelib.lossless_note(codec))
    return Settings("convert", codec=codec, params=params, target=target)


# -- the files -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One image of the batch: a file, or a member of a zip archive."""

    name: str  # what the CSV and messages call it
    path: str
    member: str = ""

    def read(self) -> bytes:
        if not self.member:
            return Path(self.path).read_bytes()
        with zipfile.ZipFile(self.path) as archive:  # checked and read a chunk at a time (codecs.archive)
            return archivelib.read(archive, archive.getinfo(self.member), self.name)


def items(paths) -> tuple[list[Item], list[tuple[str, str]]]:
    """(the images to process, (name, why) for each file that is skipped); files, folders and zip
    archives, in the order given."""
    found, skipped = [], []
    for raw in paths:
        path = Path(raw)
        if path.suffix.lower() == ".zip" and path.is_file():
            members, rejected = _zip_items(path)
            found += members
            skipped += rejected
        elif path.is_dir():
            found += [Item(p.name, str(p)) for p in reader.list_images([path])]
        elif path.is_file():
            found.append(Item(path.name, str(path)))
        else:
            raise UserInputError(f"{path.name}: no such file or folder")
    if not found:
        why = "; ".join(f"{name}: {reason}" for name, reason in skipped[:3])
        raise UserInputError(
            "no images in the batch: give image files, folders or zip archives"
            + (f" (skipped {len(skipped)}: {why}{'; ...' if len(skipped) > 3 else ''})" if why else "")
        )
    if len(found) > MAX_FILES:
        raise UserInputError(f"{len(found)} images; a batch takes at most {MAX_FILES}")
    return found, skipped


def _zip_items(path: Path) -> tuple[list[Item], list[tuple[str, str]]]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UserInputError(f"{path.name}: not a valid zip archive") from None
    found, skipped = [], []
    with archive:
        for member in sorted(archive.infolist(), key=lambda m: m.filename):
            name = f"{path.name}:{member.filename}"
            if member.is_dir() or "__MACOSX" in member.filename or Path(member.filename).name.startswith("."):
                continue
            if Path(member.filename).suffix.lower() not in reader.extensions():
                skipped.append((name, "not an image file"))
            else:
                try:  # its declared method, size and ratio, before any of it is unpacked
                    archivelib.check_member(member, name)
                except UserInputError as exc:
                    skipped.append((name, str(exc).removeprefix(f"{name}: ")))
                    continue
                found.append(Item(name, str(path), member.filename))
    return found, skipped


# -- the run ---------------------------------------------------------------------------------------
@dataclass
class BatchRun:
    settings: Settings
    rows: list[dict]
    files: dict[str, bytes] = field(repr=False)  # result file name -> bytes
    seconds: float = 0.0

    @property
    def done(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "ok"]

    def summary(self) -> str:
        failed = len(self.rows) - len(self.done)
        text = f"{len(self.done)} of {len(self.rows)} files: {self.settings.describe()} in {self.seconds:.1f} s."
        if self.settings.note:
            text += f" {self.settings.note}."
        if self.done:
            before = sum(r["input_bytes"] for r in self.done)
            after = sum(r["output_bytes"] for r in self.done)
            kinds = {r["input_format"] for r in self.done}
            yours = f"your {next(iter(kinds))} files" if len(kinds) == 1 else "your files"
            change = 100 * (1 - after / before) if before else 0.0
            text += (
                f" {abs(change):.0f} % {'smaller' if change >= 0 else 'larger'} than {yours} "
                f"({before / 1024:.0f} KiB → {after / 1024:.0f} KiB)"
            )
            if isinstance(self.settings.target, equal_quality.QualityTarget):
                met = sum(bool(r.get("target_met")) for r in self.done)
                text += f" at {self.settings.target.text()} ({met} of {len(self.done)} reached it)"
            text += "."
        if failed:
            text += (
                f" {failed} not processed: "
                + "; ".join(f"{r['file']}: {r['error']}" for r in self.rows if r["status"] != "ok")[:300]
            )
        return text

    def csv_text(self) -> str:
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, extrasaction="ignore")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})
        return buffer.getvalue()

    def write_zip(self, destination: Path) -> Path:
        """The result files and ``results.csv`` in one zip archive."""
        with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in self.files.items():
                archive.writestr(name, data)
            archive.writestr("results.csv", self.csv_text())
        return destination


def _csv_cell(value):
    """A value as a CSV cell; text that a spreadsheet would run as a formula starts with a quote."""
    if isinstance(value, float):
        return "" if not math.isfinite(value) else round(value, 4)
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    if isinstance(value, str) and value.startswith(SPREADSHEET_FORMULA):
        return "'" + value
    return value


def run(paths, job: str, settings_text, progress: Callable[[float, str], None] | None = None) -> BatchRun:
    """The job on every image; a file that fails is a row saying why, and the rest go on."""
    settings = parse_settings(job, settings_text)
    found, skipped = items(paths)
    _claim_largest(found, settings)
    rows = [{"file": name, "status": "skipped", "error": why} for name, why in skipped]
    files: dict[str, bytes] = {}
    start = time.perf_counter()
    for i, item in enumerate(found):
        if progress:
            progress(i / len(found), _eta(i, len(found), time.perf_counter() - start, item.name))
        budget.check()
        try:
            row, data, extension = JOB_RUNNERS[job](item, settings)
        except UserInputError as exc:
            rows.append({"file": item.name, "status": "error", "error": str(exc).removeprefix(f"{item.name}: ")})
            continue
        except (OSError, zipfile.BadZipFile) as exc:  # the file went away, or its archive member is corrupt
            rows.append({"file": item.name, "status": "error", "error": f"cannot read it ({exc})"})
            continue
        name = _unique(Path(item.member or item.name).stem + extension, files)
        files[name] = data
        rows.append({"file": item.name, "status": "ok", "output": name, **row, "output_bytes": len(data)})
    return BatchRun(settings, rows, files, time.perf_counter() - start)


def _eta(done: int, total: int, elapsed: float, name: str) -> str:
    left = f", about {elapsed / done * (total - done):.0f} s left" if done else ""
    return f"{done + 1} of {total}: {name}{left}"


def _unique(name: str, taken: dict) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".") or "image"
    stem, suffix, n = Path(safe).stem, Path(safe).suffix, 2
    while safe in taken:
        safe, n = f"{stem}-{n}{suffix}", n + 1
    return safe


def _claim_largest(found: list[Item], settings: Settings) -> None:
    """Hold the largest image's pixels (its output's, for an upscale) in the request's budget
    once: the images are processed one at a time. Headers that cannot be read are left to the
    file's own row."""
    largest = 0
    for item in found:
        try:
            head = _head(item)
            width, height = reader.header_size(head, name=item.name)
        except (OSError, UserInputError, KeyError, zipfile.BadZipFile):
            continue
        largest = max(largest, width * height)
    if settings.job == "convert":
        steps, alongside = [("codec", settings.codec.name)], [("metric", "psnr"), ("metric", "ssim")]
        if isinstance(settings.target, equal_quality.QualityTarget):
            alongside.append(("metric", settings.target.metric))
    else:
        steps, alongside = restorelib.memory_steps([settings.model]), []
        if settings.job == "upscale" and settings.restore != sr.NO_RESTORE:
            steps += restorelib.memory_steps([settings.restore])
    pixels = largest * (settings.scale**2 if settings.job == "upscale" else 1)
    budget.claim(
        memory.need(f"this batch (largest image {largest / 1e6:.1f} MP)", pixels, [*steps, *alongside], kept=2)
    )


def _head(item: Item) -> bytes:
    if not item.member:
        with open(item.path, "rb") as handle:
            return handle.read(1 << 16)
    with zipfile.ZipFile(item.path) as archive:
        return archivelib.head(archive, archive.getinfo(item.member), item.name)


def _read(item: Item) -> tuple[reader.Input, bytes]:
    data = item.read()
    return reader.read(data, name=item.name), data


def _input_format(source: reader.Input) -> str:
    """The label of the codec that wrote the file, as the input door found it."""
    return codeclib.get(source.codec).label if source.codec else "image"


def _convert(item: Item, settings: Settings) -> tuple[dict, bytes, str]:
    source, data = _read(item)
    image = source.image
    names = [m for m in ("psnr", "ssim") if m in metriclib.METRICS]
    if isinstance(settings.target, equal_quality.QualityTarget):
        result = equal_quality.search(image, settings.codec, settings.target, settings.params, names)
    else:
        result = evaluate.compress(image, settings.codec, settings.params, settings.target, names)
    row = {
        "input_format": _input_format(source),
        "input_bytes": len(data),
        "width": image.shape[1],
        "height": image.shape[0],
        "codec": settings.codec.label,
        "setting": settings.codec.setting_label(result.params),
        "bpp": round(8 * result.nbytes / (image.shape[0] * image.shape[1]), 4),
        **{name: result.metrics.get(name) for name in result.metrics},
        **({"target_met": result.target_met} if result.target is not None else {}),
    }
    note = "; ".join(text for text in (source.note, settings.note) if text)
    if note:
        row["note"] = note
    return row, result.data, settings.codec.extension


def _restore(item: Item, settings: Settings) -> tuple[dict, bytes, str]:
    source, data = _read(item)
    with budget.covered():  # by the batch's claim for its largest image
        run = restorelib.restore_image(source.image, [settings.model], data=data)
    if not run.results:
        raise UserInputError(next(iter(run.failures.values())))
    result = run.results[0]
    encoded, extension = outputlib.encode_result(result.image, settings.output)
    row = {
        "input_format": _input_format(source),
        "input_bytes": len(data),
        "width": result.image.shape[1],
        "height": result.image.shape[0],
        "model": settings.model,
        "seconds": round(result.seconds, 3),
        "note": result.extra.get("note", ""),
    }
    return row, encoded, extension


def _upscale(item: Item, settings: Settings) -> tuple[dict, bytes, str]:
    source, data = _read(item)
    with budget.covered():  # by the batch's claim for its largest image
        run = sr.upscale_image(source.image, settings.scale, [settings.model], data=data, restore=settings.restore)
    result = run.results[0]  # upscale_image raises when its one model gave none
    encoded, extension = outputlib.encode_result(result.image, settings.output)
    row = {
        "input_format": _input_format(source),
        "input_bytes": len(data),
        "width": result.image.shape[1],
        "height": result.image.shape[0],
        "model": settings.model,
        "seconds": round(result.seconds + run.cleaned.seconds, 3),
        "note": run.cleaned.note,
    }
    return row, encoded, extension


JOB_RUNNERS: dict[str, Callable[[Item, Settings], tuple[dict, bytes, str]]] = {
    "convert": _convert,
    "restore": _restore,
    "upscale": _upscale,
}
