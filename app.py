"""Restoration Lab: the Gradio app. It only wires UI components to the ``restoration`` package."""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile

import gradio as gr

from restoration import charts, codecs, examples, lab, lab_sr
from restoration import image as imagelib
from restoration import metrics as metriclib
from restoration.errors import UserInputError

log = logging.getLogger("restoration.app")
DEFAULT_CODECS = ["jpeg", "webp", "avif", "jpegxl", "jpeg2000"]
SIZE_MODES = [("Each codec's own settings", "settings"), ("Target bits per pixel", "bpp"),
              ("Target size (KiB)", "KiB")]
RD_METRICS = [(metriclib.METRICS[m].label, m) for m in ("psnr", "psnr_y", "ssim", "ms_ssim")]


def user_facing(fn):
    """User errors become a clear message in the page; bugs are logged with their traceback.
    Either way the server keeps serving."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserInputError as exc:
            raise gr.Error(str(exc)) from None
        except gr.Error:
            raise
        except Exception as exc:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Internal error ({type(exc).__name__}): {exc}") from exc

    return wrapper


def image_upload(**kwargs) -> gr.Image:
    """gr.Image (type="filepath") handing the upload over untouched: gr.Image opens it with Pillow
    first, so a bad file (empty, not an image, a bomb...) failed with Gradio's generic error, not
    ``image.load``'s message. Not a subclass: Gradio writes a .pyi beside a component subclass."""
    component = gr.Image(**kwargs)
    preprocess = component.preprocess

    def uploaded_file(payload):
        if payload is not None and payload.path is not None:
            return str(payload.path)
        return preprocess(payload)  # nothing uploaded, or a data: URL

    component.preprocess = uploaded_file
    return component


def _param_component(param: codecs.Param):
    if param.choices:
        return gr.Dropdown(list(param.choices), value=param.default, label=param.name, info=param.help)
    if param.kind is bool:
        return gr.Checkbox(value=param.default, label=param.name, info=param.help)
    step = 1 if param.kind is int else (0.5 if param.high - param.low > 100 else 0.1)
    return gr.Slider(param.low, param.high, value=param.default, step=step, label=param.name, info=param.help)


# -- handlers ------------------------------------------------------------------------------------
@user_facing
def load_example(name: str):
    array = examples.load_example(name)
    path = os.path.join(tempfile.mkdtemp(prefix="example-"), f"{name.split(' ')[0]}.png")
    imagelib.to_pil(array).save(path)
    return path


def make_compare(param_keys: list[tuple[str, str]]):
    @user_facing
    def compare(image_path, codec_names, size_mode, target_value, *param_values,
                progress=gr.Progress()):
        image = lab.load_input(image_path)
        values = dict(zip(param_keys, param_values))
        settings = {name: {p: v for (c, p), v in values.items() if c == name} for name in codec_names or []}
        target = lab.target_from_ui(size_mode, target_value)
        results = lab.compare(image, settings, target, progress=lambda f, d: progress(f, desc=d))
        views = {lab.ORIGINAL: image, **{lab.result_label(r): r.decoded for r in results}}
        labels = list(views)
        rows = [r.row() for r in results]
        status = f"{image.shape[1]}x{image.shape[0]} px, {len(results)} codec(s)."
        if target is not None:
            missed = [r.codec for r in results if r.target_met is False]
            status += f" Target {target.describe()}" + (f"; not reachable for: {', '.join(missed)}" if missed else "; met by all.")
        return (
            lab.table_rows(results), charts.bars_figure(rows), lab.write_encoded(results), views,
            gr.update(choices=labels, value=labels[0]), gr.update(choices=labels, value=labels[1]),
            (views[labels[0]], views[labels[1]]), status,
        )

    return compare


@user_facing
def compare_view(views, left, right, zoom_factor, center_x, center_y):
    if not views:
        raise UserInputError("run a comparison first")
    if left not in views or right not in views:
        raise UserInputError("choose two images from the comparison")
    pick = lambda label: lab.zoom(views[label], int(zoom_factor), center_x, center_y)
    return pick(left), pick(right)


@user_facing
def sweep(image_path, codec_names, qualities_text, bpps_text, metric, progress=gr.Progress()):
    image = lab.load_input(image_path)
    rows = lab.sweep(image, list(codec_names or []), lab.parse_numbers(qualities_text),
                     lab.parse_numbers(bpps_text), progress=lambda f, d: progress(f, desc=d))
    return charts.rd_figure(rows, metric), rows, rows


@user_facing
def rd_chart(rows, metric):
    return charts.rd_figure(rows or [], metric)


@user_facing
def compress_api(image_path, codec_name, params_json, target_bpp, target_bytes):
    """One codec, one image: the encoded file, the decoded image and the metrics row."""
    image = lab.load_input(image_path)
    try:
        params = json.loads(params_json) if params_json and str(params_json).strip() else {}
    except json.JSONDecodeError as exc:
        raise UserInputError(f"params must be a JSON object: {exc}") from None
    if not isinstance(params, dict):
        raise UserInputError("params must be a JSON object such as {\"quality\": 50}")
    target = lab.target_from_ui("bpp", target_bpp) if target_bpp else (
        lab.target_from_ui("KiB", target_bytes / 1024) if target_bytes else None)
    result = lab.compare(image, {codecs.get(codec_name).name: params}, target)[0]
    return lab.write_encoded([result])[0], result.decoded, result.row()


@user_facing
def degrade(reference_path, kind, codec_name, quality, bpp, sigma, blur):
    """Degrade a clean image: returns the degraded file (real JPEG bytes for a JPEG round trip)."""
    image = lab.load_input(reference_path)
    step = lab.make_degradation(kind, codec_name, quality, bpp, sigma, blur)
    return lab.degrade_to_file(image, step), step.describe()


@user_facing
def restore(degraded_path, reference_path, model_ids, sigma, self_ensemble=False, progress=gr.Progress()):
    results, views, estimate = lab.restore_many(degraded_path, reference_path, list(model_ids or []), sigma,
                                                progress=lambda f, d: progress(f, desc=d),
                                                self_ensemble=bool(self_ensemble))
    labels = list(views)
    note = f"Estimated JPEG quality of the input: {estimate.quality}" + ("" if estimate.exact else " (approximate tables)") \
        if estimate else "Input is not a JPEG file: no quality estimate."
    if "Reference" not in views:
        note += " No pixel-aligned reference: PSNR/SSIM not shown."
    note += "".join(f" {r.model}: {r.extra['note']}." for r in results if "note" in r.extra)
    gallery = [(views[r.model], lab.restore_caption(r)) for r in results]
    return (gallery, lab.restore_table(results), lab.write_pngs(views, [r.model for r in results]), views,
            gr.update(choices=labels, value=labels[0]), gr.update(choices=labels, value=labels[-1]),
            (views[labels[0]], views[labels[-1]]), note)


@user_facing
def upscale(image_path, scale, model_ids, from_hr, self_ensemble=False, progress=gr.Progress()):
    """Upscale one image with each chosen sr model (measured when the upload is taken as HR)."""
    run = lab_sr.upscale_many(image_path, scale, list(model_ids or []), bool(from_hr),
                              progress=lambda f, d: progress(f, desc=d), self_ensemble=bool(self_ensemble))
    labels = list(run.views)
    left, right = lab_sr.default_pair(run)
    return (lab_sr.gallery(run), lab_sr.table_rows(run.results), lab_sr.write_outputs(run), run.views,
            gr.update(choices=labels, value=left), gr.update(choices=labels, value=right),
            (run.views[left], run.views[right]), lab_sr.note(run))


@user_facing
def sr_models(scale):
    return gr.update(choices=lab_sr.model_choices(scale), value=lab_sr.default_models(scale))


def self_ensemble_box() -> gr.Checkbox:
    return gr.Checkbox(value=False, label="Self-ensemble (networks only)",
                       info="Average the network over 8 flips/rotations: a little more fidelity, 8x the time")


def _model_choices():
    from restoration import restorers

    return [(f"{s.id} ({s.source}{'' if s.status() == 'ready' else ': ' + s.status()})", s.id)
            for s in restorers.REGISTRY.values() if s.scale == 1]


# -- layout ----------------------------------------------------------------------------------------
def _results_panel(views: gr.State, headers: list[str], table_label: str, files_label: str, view_api: str):
    """The right-hand column the Restoration and Super-resolution tabs share: a note, a gallery,
    a metrics table, a split slider between any two results (wired here) and the PNG downloads."""
    with gr.Column(scale=2):
        note = gr.Markdown()
        gallery = gr.Gallery(label="Results", columns=3, height=360, format="png")
        table = gr.Dataframe(headers=headers, interactive=False, label=table_label)
        with gr.Row():
            left = gr.Dropdown([], label="Left")
            right = gr.Dropdown([], label="Right")
        slider = gr.ImageSlider(label="Compare", format="png", type="numpy", interactive=False, max_height=640)
        files = gr.File(label=files_label, file_count="multiple", interactive=False)
    gr.on([left.change, right.change], compare_view,
          [views, left, right, gr.State(1), gr.State(50), gr.State(50)], slider, api_name=view_api)
    # In the order the restore and upscale handlers return them.
    return [gallery, table, files, views, left, right, slider, note]


def build() -> gr.Blocks:
    with gr.Blocks(title="Restoration Lab") as demo:
        gr.Markdown("# Restoration Lab\nCompare image codecs at equal settings or equal size, "
                    "with metrics you can check against scikit-image.")
        with gr.Tab("Codec comparison"):
            views = gr.State({})
            sweep_rows = gr.State([])
            with gr.Row():
                with gr.Column(scale=1, min_width=320):
                    source = image_upload(label="Original (upload, paste or pick an example)", type="filepath",
                                      image_mode=None, sources=["upload", "clipboard"], height=280)
                    example = gr.Dropdown(list(examples.EXAMPLES), value=None, label="Example image (scikit-image)")
                    codec_names = gr.CheckboxGroup([(c.label, c.name) for c in codecs.CODECS.values()],
                                                   value=DEFAULT_CODECS, label="Codecs")
                    size_mode = gr.Radio(SIZE_MODES, value="settings", label="Size")
                    target_value = gr.Number(value=0.5, label="Target (bpp or KiB, as chosen above)", minimum=0)
                    param_keys, param_inputs = [], []
                    for codec in codecs.CODECS.values():
                        with gr.Accordion(f"{codec.label} settings", open=False):
                            for param in codec.params:
                                param_keys.append((codec.name, param.name))
                                param_inputs.append(_param_component(param))
                    run = gr.Button("Compress", variant="primary")
                with gr.Column(scale=2):
                    status = gr.Markdown()
                    table = gr.Dataframe(headers=lab.TABLE_HEADERS, label="Results", interactive=False, wrap=True)
                    with gr.Row():
                        left = gr.Dropdown([], label="Left")
                        right = gr.Dropdown([], label="Right")
                    with gr.Row():
                        zoom_factor = gr.Radio([1, 2, 4, 8], value=1, label="Zoom")
                        center_x = gr.Slider(0, 100, value=50, step=1, label="Zoom centre x (%)")
                        center_y = gr.Slider(0, 100, value=50, step=1, label="Zoom centre y (%)")
                    slider = gr.ImageSlider(label="Compare (drag the handle)", format="png", type="numpy",
                                            interactive=False, max_height=640)
                    downloads = gr.File(label="Encoded files", file_count="multiple", interactive=False)
                    bars = gr.Plot(label="Size, ratio, quality and speed")
            with gr.Accordion("Rate-distortion sweep", open=True):
                with gr.Row():
                    qualities = gr.Textbox(label="Qualities (blank: each codec's default sweep)",
                                           placeholder="e.g. 10,20,40,60,80,95")
                    target_bpps = gr.Textbox(label="…or equal-size bpp targets", placeholder="e.g. 0.25,0.5,1")
                    rd_metric = gr.Radio(RD_METRICS, value="psnr", label="Quality axis")
                    run_sweep = gr.Button("Run sweep")
                rd_plot = gr.Plot(label="Rate-distortion")
                with gr.Accordion("Sweep data (JSON rows)", open=False):
                    sweep_json = gr.JSON(label="One row per codec setting")

            with gr.Column(visible=False):  # API-only endpoint: one codec, one image
                api_image = gr.File(type="filepath")
                api_codec = gr.Textbox(value="jpeg")
                api_params = gr.Textbox(value="{}")
                api_bpp = gr.Number(value=None)
                api_bytes = gr.Number(value=None)
                api_file = gr.File()
                api_decoded = gr.Image(format="png", type="numpy")
                api_row = gr.JSON()
                api_button = gr.Button()

            example.change(load_example, example, source, api_name="load_example")
            compare_outputs = [table, bars, downloads, views, left, right, slider, status]
            run.click(make_compare(param_keys), [source, codec_names, size_mode, target_value, *param_inputs],
                      compare_outputs, api_name="compare")
            view_inputs = [views, left, right, zoom_factor, center_x, center_y]
            gr.on([left.change, right.change, zoom_factor.change, center_x.release, center_y.release],
                  compare_view, view_inputs, slider, api_name="compare_view")
            run_sweep.click(sweep, [source, codec_names, qualities, target_bpps, rd_metric],
                            [rd_plot, sweep_rows, sweep_json], api_name="sweep")
            rd_metric.change(rd_chart, [sweep_rows, rd_metric], rd_plot, api_name="rd_chart")
            api_button.click(compress_api, [api_image, api_codec, api_params, api_bpp, api_bytes],
                             [api_file, api_decoded, api_row], api_name="compress")

        with gr.Tab("Restoration"):
            restore_views = gr.State({})
            with gr.Row():
                with gr.Column(scale=1, min_width=320):
                    clean = image_upload(label="Clean reference (optional)", type="filepath", image_mode=None,
                                     sources=["upload", "clipboard"], height=220)
                    clean_example = gr.Dropdown(list(examples.EXAMPLES), value=None, label="Example image")
                    with gr.Accordion("Degrade it", open=True):
                        kind = gr.Radio(list(lab.DEGRADATIONS), value="codec", label="Degradation")
                        deg_codec = gr.Dropdown([(c.label, c.name) for c in codecs.CODECS.values() if c.knob],
                                                value="jpeg", label="Codec")
                        deg_quality = gr.Slider(1, 100, value=10, step=1, label="Quality (JPEG/WebP/AVIF/JXL)")
                        deg_bpp = gr.Number(value=0, label="…or target bpp (0: use quality; JPEG 2000 needs this)")
                        deg_sigma = gr.Slider(0, 75, value=25, step=1, label="Noise sigma (0-255)")
                        deg_blur = gr.Slider(0, 5, value=1.0, step=0.1, label="Blur sigma (px)")
                        run_degrade = gr.Button("Degrade")
                        deg_info = gr.JSON(label="Degradation applied")
                    degraded = image_upload(label="Degraded input (or upload one)", type="filepath", image_mode=None,
                                        sources=["upload", "clipboard"], height=220)
                    models = gr.CheckboxGroup(_model_choices(), value=["deeprecnet", "bilateral"], label="Models")
                    restore_sigma = gr.Number(value=0, minimum=0, maximum=255,
                                              label="Noise sigma for classical filters (0: estimate)")
                    restore_ensemble = self_ensemble_box()
                    run_restore = gr.Button("Restore", variant="primary")
                restore_outputs = _results_panel(restore_views, lab.RESTORE_HEADERS, "Metrics",
                                                 "Restored images (PNG)", "restore_view")
            clean_example.change(load_example, clean_example, clean, api_name="load_restoration_example")
            run_degrade.click(degrade, [clean, kind, deg_codec, deg_quality, deg_bpp, deg_sigma, deg_blur],
                              [degraded, deg_info], api_name="degrade")
            run_restore.click(restore, [degraded, clean, models, restore_sigma, restore_ensemble], restore_outputs,
                              api_name="restore")
        with gr.Tab("Super-resolution"):
            sr_views = gr.State({})
            with gr.Row():
                with gr.Column(scale=1, min_width=320):
                    sr_input = image_upload(label="Low-resolution image (upload or paste)", type="filepath",
                                        image_mode=None, sources=["upload", "clipboard"], height=260)
                    sr_example = gr.Dropdown(list(examples.EXAMPLES), value=None,
                                             label="Example high-resolution image")
                    sr_from_hr = gr.Checkbox(value=False, label="Treat upload as high-resolution",
                                             info="Downscale it first (MATLAB bicubic, the published protocol) "
                                                  "and measure Y-PSNR/SSIM against it")
                    sr_scale = gr.Radio([("x2", 2), ("x4", 4)], value=4, label="Scale")
                    # Built with every scale's models, so that the API (validated against the
                    # initial choices) takes x2 ones too; the scale radio narrows the list in the page.
                    sr_model_ids = gr.CheckboxGroup(lab_sr.model_choices(2) + lab_sr.model_choices(4),
                                                    value=lab_sr.default_models(4), label="Models (ready at this scale)")
                    sr_ensemble = self_ensemble_box()
                    run_upscale = gr.Button("Upscale", variant="primary")
                upscale_outputs = _results_panel(sr_views, lab_sr.HEADERS, "Metrics and time",
                                                 "Upscaled images (PNG)", "upscale_view")
            sr_example.change(load_example, sr_example, sr_input, api_name="load_sr_example")
            sr_scale.change(sr_models, sr_scale, sr_model_ids, api_name="sr_models")
            run_upscale.click(upscale, [sr_input, sr_scale, sr_model_ids, sr_from_hr, sr_ensemble], upscale_outputs,
                              api_name="upscale")
        with gr.Tab("Dashboards"):
            import app_dashboards  # benchmark runner, dashboards, blind panel (issue #5)

            app_dashboards.build(demo, user_facing)
            with gr.Accordion("Metrics this lab computes", open=False):
                gr.Dataframe(
                    [[m.name, m.label, m.unit, "lower" if m.lower_better else "higher", f"[{m.low}, {m.high}]",
                      m.unavailable_reason() or "available"] for m in metriclib.METRICS.values()],
                    headers=["metric", "label", "unit", "better", "range", "status"], interactive=False)
    return demo


def _atomic_image_cache() -> None:
    """Gradio 6.31's save_pil_to_cache rewrites its content-addressed file in place, so a second
    request with an identical output image truncates it while the first is still downloading it
    (bench/load_test.py saw empty downloads). Write under a temporary name and rename instead, as
    gradio's own save_file_to_cache does; a reader keeps the old, complete file."""
    from pathlib import Path

    from gradio import processing_utils as pu

    def save_pil_to_cache(img, cache_dir, name="image", format="webp"):
        data = pu.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / pu.hash_bytes(data)
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

    pu.save_pil_to_cache = save_pil_to_cache


_atomic_image_cache()


def configure_queue(demo: gr.Blocks) -> gr.Blocks:
    # The limit is per event (compress, restore, upscale... each run at most 2 at once): about one
    # worker per core, since each request pins torch/OpenCV to one thread. Beyond 64 waiting
    # requests callers are refused at once rather than queued for minutes (bench/load_test.py).
    return demo.queue(default_concurrency_limit=int(os.environ.get("RESTORATION_CONCURRENCY", "2")), max_size=64)


def launch_options() -> dict:
    """``python app.py``'s launch options. Uploads over RESTORATION_MAX_UPLOAD_MB (default 50) are
    refused by Gradio before they are stored. RESTORATION_MCP=1 also serves the named endpoints as
    MCP tools at /gradio_api/mcp/ (needs the mcp package); unset, None leaves GRADIO_MCP_SERVER in charge."""
    upload_mb = float(os.environ.get("RESTORATION_MAX_UPLOAD_MB", "50"))
    return {"theme": gr.themes.Soft(), "mcp_server": True if os.environ.get("RESTORATION_MCP") == "1" else None,
            "max_file_size": int(upload_mb * 1024 * 1024)}


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    lab.configure_threads()
    demo = build()
    configure_queue(demo)
    demo.launch(**launch_options())


if __name__ == "__main__":
    main()
