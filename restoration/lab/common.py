"""What every tab shares, free of any UI code: the web's input door (an upload read through
``codecs.reader`` once its decoding is claimed from the request's memory budget), form fields
parsed (numbers, JSON objects), error maps, tables without empty columns, an estimate in words,
result files written for download, a model file of the user's own, and the server's threads."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import cv2
import numpy as np

from restoration import codecs as codeclib
from restoration.codecs import output as outputlib
from restoration.codecs import reader
from restoration.core import budget, memory, plugins, scratch
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError
from restoration.metrics import perceptual
from restoration.models import user_model

# -- the server's threads ------------------------------------------------------------------------


def configure_threads(threads: int | None = None) -> int:
    """Pin torch and OpenCV thread pools, and the AVIF and JPEG XL codecs' (``core.plugins``); on 2
    shared cores one thread per request is faster, and two heavy jobs at once leave a core's share
    for a small request. ``OMP_NUM_THREADS`` (unless the operator set it) reaches the OpenMP
    libraries loaded later (FLIP's) and the worker processes (``core.worker``), which also read
    ``RESTORATION_CODEC_THREADS``."""
    threads = threads or int(os.environ.get("RESTORATION_THREADS", "1"))
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ["RESTORATION_CODEC_THREADS"] = str(threads)
    plugins.limit_threads(threads)
    return threads


# -- the web's input door --------------------------------------------------------------------------


def read_input(path_or_array, name: str | None = None) -> reader.Input:
    """An uploaded image through the input door (``codecs.reader``: every format the codecs read, a
    side under 8 px refused in one line); its ``note`` says what was converted (16 bits, grey, ...),
    for the page to show. A message about it names the file (or ``name``), not the server's
    temporary folder. Its decoding claims the request's memory from the header, before decoding."""
    if path_or_array is None:
        raise UserInputError("upload an image or choose an example first")
    if isinstance(path_or_array, (str, os.PathLike)):
        name = name or Path(path_or_array).name
        try:
            with open(path_or_array, "rb") as handle:
                head = handle.read(1 << 16)
            width, height = reader.header_size(head, name=name)
        except (OSError, UserInputError):
            return read_and_claim(path_or_array, name)  # the reader says what is wrong with the file
        if width * height > imagelib.MAX_PIXELS:
            return reader.read(path_or_array, name=name)  # refused from its header, in the reader's words
        budget.claim(decode_need(width * height, head))  # before decoding: it waits here while the server is full
        return reader.read(path_or_array, name=name)
    return read_and_claim(path_or_array, name)


def load_input(path_or_array) -> np.ndarray:
    """An uploaded image's pixels (``read_input``)."""
    return read_input(path_or_array).image


def read_and_claim(source, name: str | None = None) -> reader.Input:
    """An image whose header could not be read first (an array, a file the reader refuses): read,
    then its decoding claimed."""
    read = reader.read(source, name=name)
    budget.claim(decode_need(read.image.shape[0] * read.image.shape[1]))
    return read


def decode_need(pixels: int, head: bytes | None = None) -> memory.Need:
    """What reading an upload of ``pixels`` needs (its decoder's working set and the image), by the
    codec its first bytes (``head``) name; a measured codec counts its encode and decode, an upper bound."""
    kind = codeclib.sniff(head) if head else None
    name = kind.name if kind is not None and memory.measured("codec", kind.name) else "png"
    steps = [("codec", name)] if name != "png" else [("decode", "png")]
    return memory.need(f"reading a {pixels / 1e6:.1f} MP image", pixels, steps)


def input_extensions() -> list[str]:
    """The file extensions an upload may have: every format the input door reads."""
    return sorted(reader.extensions())


# -- form fields -----------------------------------------------------------------------------------


def parse_numbers(text: str | None) -> list[float] | None:
    """'10, 20,40' -> [10, 20, 40]; empty -> None (use defaults). NaN and infinities are refused."""
    if text is None or not str(text).strip():
        return None
    try:
        numbers = [float(part) for part in str(text).replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise UserInputError(f"expected comma-separated numbers, got {str(text)[:60]!r}") from None
    if not all(math.isfinite(n) for n in numbers):
        raise UserInputError(f"expected finite numbers, got {str(text)[:60]!r}")
    return numbers


MAX_JSON_CHARS = 4096
MAX_JSON_DEPTH = 8


def json_object(text, what: str) -> dict:
    """A JSON object given as text (a codec's parameters): at most ``MAX_JSON_CHARS`` characters
    and ``MAX_JSON_DEPTH`` levels, numbers finite; one clear message for anything else (a text
    nested 100,000 deep raised RecursionError)."""
    if text is None or not str(text).strip():
        return {}
    if not isinstance(text, str) or len(text) > MAX_JSON_CHARS:
        raise UserInputError(f"{what} must be a JSON object of at most {MAX_JSON_CHARS} characters")

    def finite(token: str):
        raise UserInputError(f"{what}: numbers must be finite, got {token}")

    too_deep = UserInputError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        value = json.loads(text, parse_constant=finite)
    except RecursionError:
        raise too_deep from None
    except UserInputError:
        raise
    except ValueError as exc:
        raise UserInputError(f"{what} is not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(value, dict):
        raise UserInputError(f'{what} must be a JSON object such as {{"quality": 50}}')
    pending = [(value, 1)]  # walked without recursion: a deep value must not overflow the stack here
    while pending:
        item, level = pending.pop()
        if level > MAX_JSON_DEPTH:
            raise too_deep
        if isinstance(item, float) and not math.isfinite(item):
            raise UserInputError(f"{what}: numbers must be finite")  # 1e999 reads as inf
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        pending += [(child, level + 1) for child in children]
    return value


# -- error maps ------------------------------------------------------------------------------------

ERROR_PREFIX = "|error| "
ERROR_GAIN = 4.0  # an |error| map's colour saturates at a mean difference of 255 / 4 = 64 levels
FLIP_PREFIX = "FLIP "
# A FLIP map's colour saturates here: at FLIP's own scale (1 = white) a codec's map, mostly under
# 0.1, would be nearly black; one scale for every map keeps them comparable.
FLIP_TOP = 0.25


def colourised(values: np.ndarray, colour_map: int) -> np.ndarray:
    """Values in [0, 1] through an OpenCV colour map, as uint8 RGB."""
    scaled = np.clip(values * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(cv2.cvtColor(cv2.applyColorMap(scaled, colour_map), cv2.COLOR_BGR2RGB))


def error_map(reference: np.ndarray, image: np.ndarray, gain: float = ERROR_GAIN) -> np.ndarray:
    """Where an image differs from the reference, as a heat image a person can read: the mean
    absolute RGB difference per pixel, times ``gain`` (a difference of 64 levels saturates),
    through the inferno colour map (black: identical, yellow: far off)."""
    diff = np.abs(reference.astype(np.int16) - image.astype(np.int16)).mean(axis=2)
    return colourised(diff * gain / 255, cv2.COLORMAP_INFERNO)


def flip_error_map(reference: np.ndarray, image: np.ndarray) -> np.ndarray:
    """FLIP's perceived difference per pixel through the magma colour map its paper shows, on a
    scale that saturates at ``FLIP_TOP`` (black: no perceived difference)."""
    error, _ = perceptual.flip_map(reference, image, colour=False)
    return colourised(np.asarray(error, np.float32) / FLIP_TOP, cv2.COLORMAP_MAGMA)


def map_scale(label: str) -> dict | None:
    """The colour scale of an error-map view, for the compare view's legend: its colours from no
    difference up, and what each end means; None for a picture."""
    if label.startswith(ERROR_PREFIX):
        colour_map, high = cv2.COLORMAP_INFERNO, f"mean |difference| ≥ {255 / ERROR_GAIN:.0f} of 255"
    elif label.startswith(FLIP_PREFIX):
        colour_map, high = cv2.COLORMAP_MAGMA, f"FLIP ≥ {FLIP_TOP:g} (perceived difference)"
    else:
        return None
    stops = colourised(np.linspace(0, 1, 9)[None, :], colour_map)[0]
    return {
        "kind": label.split(" ")[0],
        "colours": ["#" + "".join(f"{int(v):02x}" for v in c) for c in stops],
        "low": "no difference",
        "high": high,
    }


def with_error_maps(
    views: dict[str, np.ndarray], reference_label: str, labels: list[str], flip: bool = True
) -> dict[str, np.ndarray]:
    """The views plus an error map of each labelled result against the reference view: the
    absolute difference, and (``flip``, when its package is installed) FLIP's perceived
    difference map."""
    reference = views[reference_label]
    same = [label for label in labels if views[label].shape == reference.shape]
    maps = {f"{ERROR_PREFIX}{label}": error_map(reference, views[label]) for label in same}
    if flip and perceptual.Flip().unavailable_reason() is None:
        maps.update({f"{FLIP_PREFIX}{label}": flip_error_map(reference, views[label]) for label in same})
    return {**views, **maps}


def keep_views(views: dict[str, np.ndarray]) -> dict[str, str]:
    """A run's views kept for the session's later events (the compare view's pickers) as files in
    a scratch folder (label -> .npy path), not in the session's memory: what sessions hold between
    runs is then bounded by the scratch quota on disk (``core.scratch``), not left outside the
    memory budget (a 16 MP comparison's views are ~0.35 GB). One run keeps at most a quarter of
    the quota, in the views' order (the images before their error maps): the pickers offer what
    was kept, and the run's own files are never what its next folder evicts."""
    folder = scratch.folder("views-")
    room, kept = scratch.quota() // 4, {}
    for number, (label, image) in enumerate(views.items()):
        if image.nbytes > room:
            break
        path = folder / f"{number}.npy"
        np.save(path, np.ascontiguousarray(image), allow_pickle=False)
        kept[label], room = str(path), room - image.nbytes
    return kept


def kept_pair(kept: dict, left: str, right: str) -> tuple[str | None, str | None]:
    """The compare view's first pair: ``left`` and ``right`` when both were kept (``keep_views``),
    else the first kept views (None when none was)."""
    if left in kept and right in kept:
        return left, right
    labels = list(kept)
    return tuple((labels + labels[-1:])[:2]) if labels else (None, None)


NOT_KEPT = "The server's temporary space (RESTORATION_TMP_QUOTA) is too small to keep this run's images for the view."


def view(views: dict, label: str) -> np.ndarray:
    """One view: the image itself, or the one ``keep_views`` kept (read from its file, mapped)."""
    kept = views[label]
    if isinstance(kept, np.ndarray):
        return kept
    try:
        return np.load(kept, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise UserInputError(
            "this run's images were cleared from the server's temporary space (it keeps them up to an hour, "
            "less when it is full): run it again"
        ) from None


# -- tables ----------------------------------------------------------------------------------------


def without_empty_columns(headers: list[str], rows: list[list], always=()) -> dict:
    """A table as {"headers", "data"} without the columns empty in every row (but ``always``): a
    metric nobody asked for, or one that needs a reference there was none of, would be a column of
    blanks whose header the narrow column stacks letter by letter."""
    keep = [i for i, header in enumerate(headers) if header in always or any(row[i] not in (None, "") for row in rows)]
    return {"headers": [headers[i] for i in keep], "data": [[row[i] for i in keep] for row in rows]}


# -- estimates in words ----------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """Seconds as a person reads them: "0.0034 s", "2.5 s", "12 s", "3.5 min"."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def estimate_text(pixels: tuple[int, int], work) -> str:
    """An estimate (a ``cost.Estimate``) in words: "Estimate for 768×512: about 12 s." and the
    models it could not count."""
    text = f"Estimate for {pixels[0]}×{pixels[1]}: about {duration(work.seconds)}"
    if work.not_counted:
        text += f" (not counted: {', '.join(dict.fromkeys(work.not_counted))}: not on this machine)"
    limit = budget.time_limit_s()
    if work.seconds > limit:  # said before the run, not after the server stops it at its limit
        text += (
            f". That is over the {duration(limit)} this server allows a request, so it would be stopped: "
            "choose less (fewer codecs, models or metrics, a smaller image) or run it with the command-line tool"
        )
    return text + "."


# -- results for download --------------------------------------------------------------------------


def output_format_choices() -> list[tuple[str, str]]:
    """The formats results can be written in (``codecs.output``), for a menu."""
    return outputlib.choices()


DEFAULT_OUTPUT_FORMAT = outputlib.DEFAULT


def write_results(views: dict[str, np.ndarray], names: list[str], fmt: str = outputlib.DEFAULT) -> list[str]:
    """The named views as files for download, in an output format (``codecs.output``: "png",
    "webp" or "jpegxl" lossless, or a codec at a setting such as "avif:q=60";
    ``output_format_choices`` lists a menu's)."""
    chosen = outputlib.parse_format(fmt)  # a bad format refused before anything is written
    folder = scratch.folder("restored-")
    paths = []
    for name in names:
        data, extension = outputlib.encode_result(views[name], chosen)
        path = folder / f"{name}{extension}"
        path.write_bytes(data)
        paths.append(str(path))
    return paths


# -- a model file of the user's own ----------------------------------------------------------------


def model_file_ids(model_ids: list[str], model_file, task: str, scale: int | None = None) -> list[str]:
    """The chosen model ids and, when a model file was uploaded, its id (``models.user_model``:
    spandrel recognises it; one clear line when it does not, or when it does not fit the task)."""
    if not model_file:
        return list(model_ids)
    model = user_model.inspect(model_file, name=Path(str(model_file)).name)
    model.require(task=task, scale=scale)
    return [*model_ids, model.id]


def describe_model_file(model_file) -> str:
    """The line a page shows for an uploaded model file before it runs."""
    if not model_file:
        return ""
    model = user_model.inspect(model_file, name=Path(str(model_file)).name)
    return f"**Your model:** {Path(str(model_file)).name}: {model.describe()}; it runs with the others."
