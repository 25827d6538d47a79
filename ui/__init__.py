"""The Gradio app's user interface: one module per tab, each only wiring components to the
functions of its tab's module in ``restoration.lab`` (the app-facing layer: ``ui`` reaches the
package only through it and ``restoration.core``); ``app.py`` (the Spaces entry point) calls ``main``."""

from __future__ import annotations

import logging
import os
import threading

import gradio as gr
from starlette.middleware import Middleware

from restoration.core import scratch
from restoration.lab import common as lab_common
from restoration.lab import cost
from ui import batch_tab, codecs_tab, dashboards_tab, doors, limits, restore_tab, sr_tab
from ui.common import atomic_image_cache

TABS = (
    ("Codec comparison", codecs_tab.build),
    ("Restoration", restore_tab.build),
    ("Super-resolution", sr_tab.build),
    ("Batch", batch_tab.build),
    ("Dashboards", dashboards_tab.build),
)


def build() -> gr.Blocks:
    atomic_image_cache()
    # delete_cache: files Gradio stored for requests (uploads, outputs) older than an hour go, checked hourly.
    with gr.Blocks(title="Restoration Lab", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# Restoration Lab\nCompare image codecs at equal settings or equal size, restore and "
            "upscale images, with metrics you can check against scikit-image."
        )
        for title, build_tab in TABS:
            with gr.Tab(title):
                build_tab(demo)
    # One door: the REST routes closed, page-only events in their own lane, every value
    # checked by kind before Gradio reads it (ui/doors.py).
    return doors.guard(demo)


def configure_queue(demo: gr.Blocks) -> gr.Blocks:
    # The limit is per event (compress, restore, upscale... each run at most 2 at once): about one
    # worker per core, since each request pins torch/OpenCV to one thread. Beyond 64 waiting
    # requests callers are refused at once rather than queued for minutes (bench/load_test.py).
    # api_open=False: a direct POST to /gradio_api/run/<name> would skip the queue and these limits.
    return demo.queue(
        default_concurrency_limit=int(os.environ.get("RESTORATION_CONCURRENCY", "2")), max_size=64, api_open=False
    )


def launch_options() -> dict:
    """``python app.py``'s launch options. Uploads over RESTORATION_MAX_UPLOAD_MB (default 50) are
    refused by Gradio before they are stored; other request bodies over RESTORATION_MAX_BODY_MB
    (default: a data: URL of the largest upload) with 413 (``ui.limits``). RESTORATION_MCP=1 also
    serves the named endpoints as MCP tools at /gradio_api/mcp/ (needs the mcp package); unset,
    None leaves GRADIO_MCP_SERVER in charge."""
    upload_mb = float(os.environ.get("RESTORATION_MAX_UPLOAD_MB", "50"))
    return {
        "theme": gr.themes.Soft(),
        "mcp_server": True if os.environ.get("RESTORATION_MCP") == "1" else None,
        "max_file_size": int(upload_mb * 1024 * 1024),
        "app_kwargs": {"middleware": [Middleware(limits.BodyLimit)]},
    }


def own_temp_folder() -> str:
    """Gradio's cache (uploads, outputs) in a folder of this process under the lab's temporary root
    (``scratch.process_folder``), unless the operator set ``GRADIO_TEMP_DIR``: a stopped server's
    cache is then removed by the next one at start. Before ``build``: components read it when made."""
    folder = str(scratch.process_folder("gradio"))
    return os.environ.setdefault("GRADIO_TEMP_DIR", folder)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    lab_common.configure_threads()  # not `common`: importing ui.common rebinds that name in this package
    own_temp_folder()
    demo = build()
    configure_queue(demo)
    # The estimates' calibration (a few seconds), while the page loads rather than at its first estimate.
    threading.Thread(target=cost.calibrate, args=(codecs_tab.DEFAULT_CODECS,), daemon=True, name="calibrate").start()
    demo.launch(**launch_options())
