"""The doors every call comes in by: one route, the queue, and one clear message for
every bad value before any work starts.

- **The queue only.** Gradio opens its REST routes (``/gradio_api/run/<name>``) unless told not to,
  and a direct call skips the queue, its concurrency groups and its size limit. ``guard`` closes
  them (``api_open = False``, what a Hugging Face Space gets by default): a queued event called
  there is refused with 404; the Python client, the page and ``/gradio_api/call`` go through the
  queue. Only events that never queue (``queue=False``: the failure handlers' blanks, the batch
  form's settings text) stay callable there, and they do no work.
- **Page-only events** (``api_visibility="private"``) cannot be told from a script: the page and
  any client speak the same protocol (``fn_index`` and a session id), so a refusal would only stop
  the honest. They are made cheap and bounded instead: each queued one runs in the ``page``
  concurrency group, one at a time in the whole server (a lane beside the heavy jobs, so a busy
  server still answers them), and the costly ones reuse their results (``lab.dashboards.report``,
  ``ui.common.load_example``).
- **Values checked by kind before Gradio reads them** (``check_value``): a number is a finite
  int or float (not NaN, inf, a string or true), a checkbox true or false, text a string of at most
  ``MAX_TEXT`` characters, a choice one value and a multiple choice a list of them, a file an
  upload of this server (a FileData whose ``path`` Gradio's upload route wrote; never a URL or a
  server path; an image may also be a ``data:`` URL), a table or JSON value at most ``MAX_ITEMS``
  values. Too few values for an event is one message.
  Whatever Gradio's own reading then raises is one message too, naming the parameter.

Refusals and user errors are logged as one line (``restoration.app``), never with a traceback;
only bugs in a handler keep theirs (``ui.common.user_facing``).
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import re

import gradio as gr

log = logging.getLogger("restoration.app")

MAX_TEXT = 65_536  # characters in one text value (the longest legitimate one is a batch's 4 KiB settings)
MAX_ITEMS = 200_000  # values in one table or JSON input (a results table of 64 settings x 30 columns is 2,000)
MAX_DEPTH = 16
PAGE_LANE = {"concurrency_id": "page", "concurrency_limit": 1}
UPLOAD_HINT = (
    "upload the file first (POST /gradio_api/upload, or handle_file in the Python client) and pass "
    "the FileData it returns; a URL or a path on the server is not read"
)

NUMBERS = (gr.Number, gr.Slider)
CHOICES = (gr.Dropdown, gr.Radio)
FILES = (gr.File, gr.Image)
SKIPPED = (gr.State,)  # its value is the session's, never the caller's


class Refused(gr.Error):
    """A value refused at the door: one line in the page and the client, none in the log's tracebacks."""

    def __init__(self, message: str):
        super().__init__(message, duration=None, print_exception=False)


def guard(demo: gr.Blocks) -> gr.Blocks:
    """Close the direct routes, put page-only events in their lane, and check every event's values
    before Gradio preprocesses them (an instance attribute over ``Blocks.preprocess_data``, which
    every route's call goes through)."""
    demo.api_open = False  # what queue(api_open=False) sets; here so that every launch of build() has it
    for fn in demo.fns.values():
        if fn.api_visibility == "private" and fn.queue and fn.fn is not None and fn.concurrency_id != "heavy":
            fn.concurrency_id, fn.concurrency_limit = PAGE_LANE["concurrency_id"], PAGE_LANE["concurrency_limit"]
    for block in demo.blocks.values():
        if isinstance(block, gr.components.Component):
            own = "preprocess" in vars(block)  # the app's own reading (ui.common.image_upload)
            _tag_errors(block)
            block.door_own_preprocess = own
    original = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        check_inputs(block_fn, inputs)
        keep_own_preprocess(block_fn, state)
        try:
            return await original(block_fn, inputs, state, explicit_call)
        except Refused:
            raise
        except gr.Error as exc:  # Gradio's own checks (a choice, a bound): its words, without a traceback
            raise refused(block_fn, _index(block_fn, exc), exc.message) from None
        except Exception as exc:  # noqa: BLE001 -- anything else Gradio's reading raised is the value's fault
            if type(exc).__name__ == "InvalidPathError":  # a FileData path Gradio's upload route did not write
                raise refused(block_fn, _first_file(block_fn, inputs), UPLOAD_HINT) from None
            raise refused(block_fn, _index(block_fn, exc), _gradio_reason(exc)) from None

    demo.preprocess_data = preprocess_data
    return demo


def client_address(request) -> str | None:
    """Who a request comes from, for per-client limits (the blind panel's votes): the address the
    connection comes from; behind a trusted proxy (a Hugging Face Space, or
    ``RESTORATION_TRUSTED_PROXY=1``) the last address of X-Forwarded-For, which the proxy wrote
    (the earlier ones are the caller's to forge). Without a request (the library), None."""
    if request is None:
        return None
    headers = getattr(request, "headers", None) or {}
    forwarded = headers.get("x-forwarded-for") if hasattr(headers, "get") else None
    if forwarded and (os.environ.get("SPACE_ID") or os.environ.get("RESTORATION_TRUSTED_PROXY") == "1"):
        return forwarded.split(",")[-1].strip()
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or getattr(request, "session_hash", None)


def keep_own_preprocess(block_fn, state) -> None:
    """Gradio 6 rebuilds a component for a session from its constructor whenever an event sends it
    an update (even ``gr.update()`` or ``gr.skip()``: clearing the example picker on upload did),
    and the rebuilt one lacks a preprocess the app gave the instance (``ui.common.image_upload``:
    a bad upload then failed with PIL's error, not the reader's). The session's copy gets it back
    before Gradio reads the value; components read the Gradio way are left as rebuilt (their
    choices may have changed)."""
    if state is None:
        return
    for block in block_fn.inputs:
        if not getattr(block, "door_own_preprocess", False) or block._id not in state:
            continue  # a component with Gradio's own reading is read by the session's copy, as rebuilt
        own = block.__dict__["preprocess"]
        current = state[block._id]
        if current is not block and isinstance(current, type(block)) and current.__dict__.get("preprocess") is not own:
            current.preprocess = own


def refused(block_fn, index: int | None, problem: str) -> Refused:
    where = f"/{block_fn.api_name or block_fn.name}"
    name = parameter_name(block_fn, index) if index is not None else None
    message = f"{where}: {name}: {problem}" if name else f"{where}: {problem}"
    log.info("refused %s", message)
    return Refused(message)


def parameter_name(block_fn, index: int) -> str:
    """What the API calls input ``index``: the handler's parameter name, else the component's label."""
    try:
        positional = [
            p.name
            for p in inspect.signature(block_fn.fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        positional = []
    if index < len(positional):
        return positional[index]
    block = block_fn.inputs[index] if index < len(block_fn.inputs) else None
    return getattr(block, "label", None) or f"input {index + 1}"


def check_inputs(block_fn, inputs) -> None:
    """Every value of one call, by its component's kind; the first bad one is refused."""
    if not isinstance(inputs, list):
        raise refused(block_fn, None, "the data must be a list of values")
    wanted = len(block_fn.inputs)
    if len(inputs) < wanted:
        raise refused(block_fn, None, f"takes {wanted} values, got {len(inputs)}")
    for index, (block, value) in enumerate(zip(block_fn.inputs, inputs)):
        problem = check_value(block, value)
        if problem:
            raise refused(block_fn, index, problem)


def check_value(block, value) -> str | None:
    """Why ``value`` cannot be ``block``'s input, or None when its kind is right (Gradio then checks
    choices and bounds)."""
    if isinstance(block, SKIPPED):
        return None
    if value is None:  # "none" is a value for all but a slider (the page always sends its position)
        return "must be a finite number, got None" if isinstance(block, gr.Slider) else None
    if isinstance(block, NUMBERS):
        return None if finite_number(value) else f"must be a finite number, got {shown(value)}"
    if isinstance(block, gr.Checkbox):
        return None if isinstance(value, bool) else f"must be true or false, got {shown(value)}"
    if isinstance(block, gr.Textbox):
        if not isinstance(value, str):
            return f"must be text, got {shown(value)}"
        return None if len(value) <= MAX_TEXT else f"is {len(value):,} characters; at most {MAX_TEXT:,}"
    if isinstance(block, gr.CheckboxGroup) or isinstance(block, gr.Dropdown) and block.multiselect:
        if not isinstance(value, list) or not all(scalar(v) for v in value):
            return f"must be a list of its choices, got {shown(value)}"
        return None
    if isinstance(block, CHOICES):
        return None if scalar(value) else f"must be one of its choices, got {shown(value)}"
    if isinstance(block, FILES):
        many = isinstance(block, gr.File) and block.file_count in ("multiple", "directory")
        items = value if many and isinstance(value, list) else [value]
        for item in items:
            problem = file_problem(item, image=isinstance(block, gr.Image))
            if problem:
                return problem
        return None
    return size_problem(value)  # a table, a JSON value: bounded, as text is


def size_problem(value) -> str | None:
    """A nested value (a table, JSON) of more than ``MAX_ITEMS`` items or ``MAX_DEPTH`` levels:
    page-only events that never queue take tables, and their work grows with them."""
    pending, items = [(value, 1)], 0
    while pending:
        item, depth = pending.pop()
        items += 1
        if items > MAX_ITEMS or depth > MAX_DEPTH:
            return f"holds more than {MAX_ITEMS:,} values or {MAX_DEPTH} levels"
        if isinstance(item, dict):
            pending += [(child, depth + 1) for child in item.values()]
        elif isinstance(item, list):
            pending += [(child, depth + 1) for child in item]
        elif isinstance(item, str) and len(item) > MAX_TEXT:
            return f"holds a text of {len(item):,} characters; at most {MAX_TEXT:,}"
    return None


def file_problem(value, image: bool) -> str | None:
    """A file input must be an upload of this server: a FileData with a local ``path`` (Gradio then
    checks it is in its upload folder) or, for an image, a ``data:`` URL."""
    if not isinstance(value, dict):
        return f"must be an uploaded file; {UPLOAD_HINT}; got {shown(value)}"
    path, url = value.get("path"), value.get("url")
    if isinstance(path, str) and path and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path):
        return None
    if image and not path and isinstance(url, str) and url.startswith("data:"):
        return None
    return UPLOAD_HINT


def finite_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond any float
        return False


def scalar(value) -> bool:
    return isinstance(value, str) or finite_number(value)


def shown(value) -> str:
    """A value as a message quotes it: short, one line."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = repr(value) if not isinstance(value, (list, dict)) else type(value).__name__
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."


def _tag_errors(block) -> None:
    """Mark what ``block.preprocess`` raises with the block's id: Gradio's own checks (a choice, a
    bound) do not say which input they refused."""
    preprocess = block.preprocess

    def tagged(payload):
        try:
            return preprocess(payload)
        except Exception as exc:
            exc.door_block = block._id
            raise

    block.preprocess = tagged


def _index(block_fn, exc: BaseException) -> int | None:
    """The input that raised: tagged by ``_tag_errors``, else the one Gradio's message names."""
    for error in (exc, exc.__cause__):
        tag = getattr(error, "door_block", None)
        if tag is not None:
            return next((i for i, block in enumerate(block_fn.inputs) if block._id == tag), None)
    found = re.search(r"at index (\d+)", str(exc))
    return int(found.group(1)) if found else None


def _first_file(block_fn, inputs) -> int | None:
    """The first file input given a value (the one Gradio's path check refused, in practice)."""
    return next(
        (i for i, (block, value) in enumerate(zip(block_fn.inputs, inputs)) if isinstance(block, FILES) and value), None
    )


def _gradio_reason(exc: BaseException) -> str:
    """Gradio's reading error in one line, without the value it quotes or its advice to the developer."""
    original = exc.__cause__ or exc
    return f"not a value this input reads ({type(original).__name__})"
