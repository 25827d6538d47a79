"""What every tab shares: the error wrapper, the upload component, a codec parameter's control,
the example loader, the compare view and the results panel."""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import logging
import os
import tempfile
from pathlib import Path

import gradio as gr
from gradio import processing_utils
from gradio.context import LocalContext

from restoration.core import budget, examples, memory, scratch
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError
from restoration.lab import common as lab_common
from restoration.lab import tables
from ui import compare

log = logging.getLogger("restoration.app")


def heavy() -> dict:
    """Event options of every handler that decodes, encodes or runs models: one shared queue slot
    group (Gradio's concurrency_id), so at most RESTORATION_CONCURRENCY (default 2) such jobs run at
    once in the whole server, not that many per endpoint; the rest wait in the queue."""
    return {"concurrency_id": "heavy", "concurrency_limit": int(os.environ.get("RESTORATION_CONCURRENCY", "2"))}


def user_facing(fn):
    """User errors become a clear message in the page, kept until closed (a failed run's note
    points to it); bugs are logged with their traceback. Either way the server keeps serving.
    Each call is one request of ``core.budget``: its pixel claims are released when it ends, and
    its steps stop once it runs past its time limit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with budget.request(on_wait=say_waiting, cancelled=cancelled):  # budget.check() sees a cancel too
                return fn(*args, **kwargs)
        except UserInputError as exc:  # the person's to fix: their message, one line in the log, no traceback
            log.info("refused %s: %s", fn.__name__, exc)
            error = gr.Error(str(exc), duration=None, print_exception=False)
        except gr.Error as exc:  # raised as the person's message too (a data: URL's): one line, no traceback
            log.info("refused %s: %s", fn.__name__, exc)
            error = gr.Error(exc.message, duration=exc.duration, print_exception=False, title=exc.title)
        except Exception as exc:
            log.exception("unexpected error in %s", fn.__name__)
            error = gr.Error(f"Internal error ({type(exc).__name__}): {exc}", duration=None, print_exception=False)
        # Raised here, not inside a handler: there it would carry the error it handles, whose
        # traceback holds the request's frames and every array in them for as long as Gradio
        # keeps the error (gigabytes after a large request stopped at its time limit).
        raise error

    return wrapper


VIEWS_TTL_S = 1800  # a session drops the paths of its result images this long after its last run


def say_waiting(used: int, limit: int, need) -> None:
    """A request waits for memory: say so in the page (a notice, not an error), and for what."""
    gr.Info(
        f"Waiting for memory: running requests hold {memory.size_text(used)} of the server's "
        f"{memory.size_text(limit)} and {need.what} needs {memory.size_text(need.bytes)}; it starts as soon "
        "as they free enough (at most 5 minutes).",
        duration=10,
    )


def steps(progress):
    """A pipeline's progress callback: the page's bar, and between steps the request's time limit
    and its cancellation (a cancelled job stops at its next step instead of running on)."""

    def report(fraction, description):
        budget.check()
        if cancelled():
            raise UserInputError("the request was cancelled")
        progress(fraction, desc=description)

    return report


def cancelled() -> bool:
    """Whether Gradio no longer runs this request's event (the caller cancelled it, or left): its
    queue drops a cancelled event from the active jobs while the worker thread runs on. Reads
    Gradio's queue (6.x); outside an event, or if that changes, False (nothing is stopped)."""
    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or event_id is None or not hasattr(queue, "active_jobs"):
        return False
    return not any(getattr(event, "_id", None) == event_id for job in queue.active_jobs if job for event in job)


def image_upload(**kwargs) -> gr.Image:
    """gr.Image (type="filepath") handing the upload over untouched: gr.Image opens it with Pillow
    first, so a bad file (empty, not an image, a bomb...) would fail with Gradio's generic error, not
    ``image.load``'s message. Not a subclass: Gradio writes a .pyi beside a component subclass.
    Never send it a property update (``gr.update(label=...)``): Gradio then rebuilds the component
    for that session from its constructor, without this preprocess (a bad file then fails with no
    message). A new value alone is fine."""
    component = gr.Image(**kwargs)
    preprocess = component.preprocess

    def uploaded_file(payload):
        if payload is not None and payload.path is not None:
            return str(payload.path)
        if payload is not None and (payload.url or "").startswith("data:"):
            return data_url_file(payload.url)
        return preprocess(payload)  # nothing uploaded

    component.preprocess = uploaded_file
    # A bad file is told at once, not only when the run button is pressed.
    component.upload(check_upload, component, None, api_visibility="private")
    return component


@user_facing
def check_upload(path) -> None:
    """Read an upload as a run would (``lab.common.read_input``), for its message if it is not
    one, and a notice of what reading it converts (16 bits, grey, transparency...)."""
    if path is not None:
        source = lab_common.read_input(path)
        if source.note:
            gr.Info(f"{source.name}: {source.note}", duration=10)


def data_url_file(url: str) -> str:
    """A ``data:`` URL's bytes, exactly as sent, in a temporary file that ``image.load`` then checks
    like any upload (Gradio's own preprocessing would decode and re-encode it, lossy for some
    inputs, before any of our checks); refused above the upload limit before decoding."""
    limit = float(os.environ.get("RESTORATION_MAX_UPLOAD_MB", "50")) * 2**20
    header, _, body = url.partition(",")
    if ";base64" not in header:
        raise gr.Error("a data: URL image must be base64-encoded; better, upload the file itself")
    if len(body) * 3 / 4 > limit:
        raise gr.Error(f"the data: URL holds more than the {limit / 2**20:g} MB upload limit")
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise gr.Error("the data: URL is not valid base64") from None
    path = scratch.folder("upload-") / "data-url.bin"
    path.write_bytes(data)
    return str(path)


def param_component(param):
    """The control of a codec's parameter (a ``codecs.Param``: ``lab.codecs.codec_params``)."""
    if param.choices:
        return gr.Dropdown(list(param.choices), value=param.default, label=param.name, info=param.help)
    if param.kind is bool:
        return gr.Checkbox(value=param.default, label=param.name, info=param.help)
    step = 1 if param.kind is int else (0.5 if param.high - param.low > 100 else 0.1)
    return gr.Slider(param.low, param.high, value=param.default, step=step, label=param.name, info=param.help)


@user_facing
def load_example(name: str):
    if not name:  # the choice was cleared (a new upload): the upload stays
        return gr.update()
    if name not in examples.EXAMPLES:
        raise UserInputError(f"unknown example {name!r}; choose from {', '.join(examples.EXAMPLES)}")
    # Written once per example (a folder named by it): a page-only event answers any caller, and a
    # new PNG on every call would let any caller fill the disk.
    folder, written = scratch.keyed("example-", name)
    path = folder / f"{name.split(' ')[0]}.png"
    if not written:
        imagelib.to_pil(examples.load_example(name)).save(path)
        scratch.mark_complete(folder)
    return str(path)


def shown_views(views: dict, left: str | None = None, right: str | None = None) -> tuple:
    """A run's compare-view outputs, in the order the tabs list them: the views kept for the
    session (``lab.common.keep_views``), both pickers (``left`` and ``right`` when kept, else the
    first two kept) and the viewer's value (it says why when nothing could be kept)."""
    kept = lab_common.keep_views(views)
    labels = list(kept)
    left, right = lab_common.kept_pair(kept, left, right)
    shown = compare.value(kept, left, right) if labels else compare.empty(lab_common.NOT_KEPT)
    return kept, gr.update(choices=labels, value=left), gr.update(choices=labels, value=right), shown


@user_facing
def compare_view(views, left, right):
    if not views or left is None or right is None:  # the pickers emptied (a failed run): nothing to show
        return gr.update()
    return compare.value(views, left, right)


def self_ensemble_box() -> gr.Checkbox:
    return gr.Checkbox(
        value=False,
        label="Self-ensemble (networks only)",
        info="Average the network over 8 flips/rotations: a little more fidelity, 8x the time",
    )


FAILED = (
    "No result: the run stopped with an error (its message is at the top right). "
    "Change the input or the options and run again."
)
FAILED_VIEW = "No result: the run failed."


def clear_on_failure(event, outputs: list) -> None:
    """After a failed run the previous run's results would stay on screen under Gradio's error
    badges, where they read as this run's: clear them (each State back to its start, pickers
    emptied); a note and the compare view say why."""

    def cleared():
        return [blank(component) for component in outputs]

    event.failure(cleared, None, outputs, api_visibility="private", queue=False)


NEW_INPUT = "A new image: run again for its results."


def clear_on_upload(image, outputs: list, example=None) -> None:
    """A new upload: the last run's results (another image's) leave the page, and so does the
    example's name in ``example``; the compare view and the status say why."""

    def cleared():
        fresh = [
            compare.empty(NEW_INPUT)
            if isinstance(c, gr.HTML)
            else NEW_INPUT
            if isinstance(c, gr.Markdown)
            else blank(c)
            for c in outputs
        ]
        return fresh + ([gr.update(value=None)] if example is not None else [])

    targets = [*outputs, *([example] if example is not None else [])]
    image.upload(cleared, None, targets, api_visibility="private", queue=False)


def blank(component):
    """What ``component`` shows when there is no result."""
    if isinstance(component, gr.State):
        return copy.deepcopy(component.value)
    if isinstance(component, gr.Dropdown):
        return gr.update(choices=[], value=None)
    if isinstance(component, gr.HTML):  # the compare view
        return compare.empty(FAILED_VIEW)
    if isinstance(component, gr.Markdown):
        return FAILED
    return None


def results_panel(
    views: gr.State, headers: list[str], table_label: str, files_label: str, order: list[str] | None = None
):
    """The right-hand column the Restoration and Super-resolution tabs share: a note, a metrics
    table that fits (``fitted_table``: ``order``, its columns by importance), the compare view
    between any two results or error maps (wired here), a gallery of every result (folded), and
    the PNG downloads."""
    with gr.Column(scale=2):
        note = gr.Markdown()
        table = fitted_table(table_label, headers, order)
        left, right, view = compare_controls("|error| and FLIP entries are error maps against the reference")
        with gr.Accordion("All results side by side", open=False):
            # height "auto": the grid grows with its images, so their captions are never cut off
            gallery = gr.Gallery(label="Results", columns=3, height="auto", format="png", object_fit="contain")
        files = gr.File(label=files_label, file_count="multiple", interactive=False)
    wire_compare(views, left, right, view)
    # In the order the restore and upscale handlers return them.
    return [gallery, table, files, views, left, right, view, note]


def compare_controls(info: str = ""):
    """Left/right pickers above the compare view; returns (left, right, view)."""
    with gr.Row():
        left = gr.Dropdown([], label="Left", info=info or None)
        right = gr.Dropdown([], label="Right")
    return left, right, compare.viewer()


def wire_compare(views: gr.State, left, right, view) -> None:
    gr.on([left.change, right.change], compare_view, [views, left, right], view, api_visibility="private")


def atomic_image_cache() -> None:
    """Gradio 6.31's save_pil_to_cache rewrites its content-addressed file in place, so a second
    request with an identical output image truncates it while the first is still downloading it
    (bench/load_test.py saw empty downloads). Write under a temporary name and rename instead, as
    gradio's own save_file_to_cache does; a reader keeps the old, complete file."""

    def save_pil_to_cache(img, cache_dir, name="image", format="webp"):
        data = processing_utils.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / processing_utils.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        target = (folder / f"{name}.{format}").resolve()
        fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(staging, target)
        except BaseException:
            Path(staging).unlink(missing_ok=True)  # no half-written staging files left in the cache
            raise
        return str(target)

    processing_utils.save_pil_to_cache = save_pil_to_cache


@user_facing
def model_file_note(path):
    """What an uploaded model file is (architecture, scale, parameters, sha256), before it runs."""
    return lab_common.describe_model_file(path)


def model_file_upload() -> tuple[gr.File, gr.Markdown]:
    """A model file of your own (.safetensors, or .pth/.pt read without running pickled code): told
    what spandrel recognised on upload, or one line why it cannot run."""
    upload = gr.File(
        label="Model file (.safetensors, .pth, .pt)", file_types=[".safetensors", ".pth", ".pt"], type="filepath"
    )
    note = gr.Markdown()
    upload.change(model_file_note, upload, note, api_visibility="private")
    return upload, note


def output_format_choice() -> gr.Dropdown:
    """How the results are written for download: PNG, lossless WebP or JPEG XL, or a codec at a setting."""
    return gr.Dropdown(
        lab_common.output_format_choices(), value=lab_common.DEFAULT_OUTPUT_FORMAT, label="Download results as"
    )


MAIN_COLUMNS = "main columns"


def fitted_table(
    label: str,
    headers: list[str],
    order: list[str] | None = None,
    hidden: tuple[str, ...] = (),
    wide: bool = False,
    value: list[list] | None = None,
    **options,
) -> gr.Dataframe:
    """A result table that fits its frame at 1400x1000 (``lab.tables``): the handlers' table,
    every column, goes to the returned Dataframe, which the API sends and the page keeps hidden; the
    page shows the table's most important columns (``order``; never ``hidden`` ones) at widths where
    headers wrap between words and notes wrap in full, and "more columns" the rest. ``wide``: the
    table spans the page instead of a tab's results column; ``value``: its rows from the start."""
    frame = tables.WIDE_FRAME_PX if wide else tables.FRAME_PX
    full = gr.Dataframe(value, headers=headers, interactive=False, visible="hidden")
    full.preprocess = raw_table
    first = tables.pages({"headers": headers, "data": value or []}, order, hidden, frame)[0]
    view = gr.Dataframe(
        first["data"] or None,
        headers=first["headers"],
        column_widths=first["widths"],
        label=label,
        interactive=False,
        wrap=True,
        **options,
    )
    pick = gr.Radio([MAIN_COLUMNS], value=MAIN_COLUMNS, show_label=False, container=False, visible=False)

    def show(value, chosen):
        if not value or not value.get("headers"):  # no result (a failed run, a new upload): the empty table
            value = {"headers": headers, "data": []}
        views = tables.pages(value, order, hidden, frame)
        names = [MAIN_COLUMNS] + [f"more columns ({', '.join(h for h in v['headers'][1:])})" for v in views[1:]]
        index = names.index(chosen) if chosen in names else 0
        page = views[index]
        return (
            gr.update(value={"headers": page["headers"], "data": page["data"]}, column_widths=page["widths"]),
            gr.update(choices=names, value=names[index], visible=len(views) > 1),
        )

    gr.on([full.change, pick.input], show, [full, pick], [view, pick], api_visibility="private", queue=False)
    return full


def raw_table(payload) -> dict | None:
    """A Dataframe's value as sent, {"headers", "data"} (its pandas form makes a missing number NaN
    and a column of whole numbers with a gap floats); rows with no cell filled are left out."""
    if payload is None:
        return None
    rows = [row for row in (payload.data or []) if any(cell not in (None, "") for cell in row)]
    return {"headers": list(payload.headers or []), "data": rows}
