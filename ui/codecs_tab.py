"""The Codec comparison tab: every chosen codec on one image at its own settings or at equal size,
a table, a split view with zoom, the encoded files and a rate-distortion sweep."""

from __future__ import annotations

import gradio as gr

from restoration.core import examples
from restoration.lab import codecs as lab
from restoration.lab import common
from ui.common import (
    VIEWS_TTL_S,
    clear_on_failure,
    clear_on_upload,
    compare_controls,
    fitted_table,
    heavy,
    image_upload,
    load_example,
    param_component,
    shown_views,
    steps,
    user_facing,
    wire_compare,
)

DEFAULT_CODECS = ["jpeg", "webp", "avif", "jpegxl", "jpeg2000"]
# Short enough to read whole in the box (a longer choice is cut: "Equal quality: SSIMULAC").
SIZE_MODES = [
    ("Each codec's own settings", "settings"),
    ("Equal size: bpp ≤", "bpp"),
    ("Equal size: KiB ≤", "KiB"),
    ("Equal quality: SSIMU2 ≥", "quality:ssimulacra2"),
    ("Equal quality: PSNR dB ≥", "quality:psnr"),
    ("Equal quality: FLIP ≤", "quality:flip"),
]
TARGET_DEFAULTS = {"bpp": 0.5, "KiB": 20, "quality:ssimulacra2": 80, "quality:psnr": 40, "quality:flip": 0.05}


def make_compare(param_keys: list[tuple[str, str]]):
    @user_facing
    def compare_codecs(
        image_path, codec_names, size_mode, target_value, perceptual, *param_values, progress=gr.Progress()
    ):
        source = common.read_input(image_path)
        image = source.image
        values = dict(zip(param_keys, param_values))
        settings = {name: {p: v for (c, p), v in values.items() if c == name} for name in codec_names or []}
        target = lab.target_from_ui(size_mode, target_value)
        results = lab.compare(image, settings, target, progress=steps(progress), perceptual=bool(perceptual))
        views = lab.compare_views(image, results, perceptual=bool(perceptual))
        return (
            lab.table(results),
            lab.bars_chart(results),
            lab.write_encoded(results),
            *shown_views(views),  # first the original and the first result
            lab.status_line(image, results, target, source.note),
        )

    return compare_codecs


@user_facing
def sweep(image_path, codec_names, qualities_text, bpps_text, metric, progress=gr.Progress()):
    image = common.load_input(image_path)
    rows = lab.sweep(
        image,
        list(codec_names or []),
        common.parse_numbers(qualities_text),
        common.parse_numbers(bpps_text),
        progress=steps(progress),
        metric=metric,
    )
    return lab.rd_chart(rows, metric), rows, rows, lab.bd_against_jpeg(rows, metric)


@user_facing
def rd_chart(rows, metric):
    """Another quality axis for the same sweep (an on-demand metric needs the sweep run again)."""
    return lab.rd_chart(rows or [], metric), lab.bd_against_jpeg(rows or [], metric)


@user_facing
def compress_api(image_path, codec_name, params_json, target_bpp, target_bytes):
    """One codec, one image: the encoded file, the decoded image and the metrics row."""
    return lab.compress_one(image_path, codec_name, params_json, target_bpp, target_bytes)


def compare_estimate(image_path, codec_names, size_mode, perceptual):
    return lab.compare_estimate(image_path, list(codec_names or []), size_mode or "settings", bool(perceptual))


def sweep_estimate(image_path, codec_names, qualities_text, bpps_text, metric):
    return lab.sweep_estimate(image_path, list(codec_names or []), qualities_text, bpps_text, metric or "psnr")


def show_target(mode):
    """The target field for the chosen mode, with a typical value ("high quality" for a score)."""
    return gr.update(visible=mode != "settings", value=TARGET_DEFAULTS.get(mode))


def build(demo: gr.Blocks) -> None:
    """Lay out the tab inside the current ``gr.Tab`` and wire its events."""
    views, sweep_rows = gr.State({}, time_to_live=VIEWS_TTL_S), gr.State([], time_to_live=VIEWS_TTL_S)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            source = image_upload(
                label="Original (upload, paste or pick an example)",
                type="filepath",
                image_mode=None,
                sources=["upload", "clipboard"],
                height=200,
            )
            example = gr.Dropdown(list(examples.EXAMPLES), value=None, label="Example image (scikit-image)")
            codec_names = gr.CheckboxGroup(lab.codec_choices(), value=DEFAULT_CODECS, label="Codecs")
            with gr.Row():
                size_mode = gr.Dropdown(SIZE_MODES, value="settings", label="Compare at", scale=3, min_width=200)
                target_value = gr.Number(value=0.5, label="Target", minimum=0, visible=False, scale=1, min_width=80)
            perceptual = gr.Checkbox(
                value=False, label="Perceptual metrics and maps (SSIMULACRA 2, FLIP, ColorVideoVDP: ~1.5 s a codec)"
            )
            run = gr.Button("Compress", variant="primary")
            estimate_note = gr.Markdown()
            param_keys, param_inputs = [], []
            with gr.Accordion("Codec settings", open=False):
                # A choice that wraps, not one tab per codec: eleven tabs hid eight behind an overflow menu.
                choices = lab.codec_choices()
                settings_of = gr.Radio(choices, value=choices[0][1], label="Settings of")
                setting_groups, codec_order = [], []
                for name, params in lab.codec_params():
                    with gr.Group(visible=name == settings_of.value) as group:
                        for param in params:
                            param_keys.append((name, param.name))
                            param_inputs.append(param_component(param))
                    setting_groups.append(group)
                    codec_order.append(name)
        with gr.Column(scale=2):
            status = gr.Markdown()
            table = fitted_table("Results", lab.table_headers(), lab.table_order(), lab.TABLE_HIDDEN, max_height=420)
            left, right, view = compare_controls("|error| and FLIP entries are error maps against the original")
            downloads = gr.File(label="Encoded files", file_count="multiple", interactive=False)
            bars = gr.Plot(label="Size, ratio, quality and speed")
    with gr.Accordion("Rate-distortion sweep", open=False):
        with gr.Row():
            qualities = gr.Textbox(
                label="Qualities (blank: each codec's default sweep)", placeholder="e.g. 10,20,40,60,80,95"
            )
            target_bpps = gr.Textbox(label="…or equal-size bpp targets", placeholder="e.g. 0.25,0.5,1")
            rd_metric = gr.Radio(lab.rd_metric_choices(), value="psnr", label="Quality axis")
            run_sweep = gr.Button("Run sweep")
        sweep_note = gr.Markdown()
        rd_plot = gr.Plot(label="Rate-distortion")
        bd_table = fitted_table(
            f"BD-rate against JPEG on the chosen quality axis ({lab.BD_SIGNS})",
            lab.bd_against_jpeg([], "psnr")["headers"],
            wide=True,
        )
        with gr.Accordion("Sweep data (JSON rows)", open=False):
            sweep_json = gr.JSON(label="One row per codec setting")
    _api_only_compress()

    example.change(load_example, example, source, api_visibility="private")
    settings_of.change(
        lambda name: [gr.update(visible=c == name) for c in codec_order],
        settings_of,
        setting_groups,
        api_visibility="private",
        queue=False,
    )
    size_mode.change(show_target, size_mode, target_value, api_visibility="private")
    results = [table, bars, downloads, views, left, right, view, status]
    compared = run.click(
        make_compare(param_keys),
        [source, codec_names, size_mode, target_value, perceptual, *param_inputs],
        results,
        api_name="compare",
        **heavy(),
    )
    clear_on_failure(compared, results)
    wire_compare(views, left, right, view)
    estimate_inputs = [source, codec_names, size_mode, perceptual]
    compared.then(compare_estimate, estimate_inputs, estimate_note, api_visibility="private")  # the run's own timings
    gr.on(
        [c.change for c in estimate_inputs],
        compare_estimate,
        estimate_inputs,
        estimate_note,
        api_visibility="private",
        trigger_mode="always_last",
    )
    swept = run_sweep.click(
        sweep,
        [source, codec_names, qualities, target_bpps, rd_metric],
        [rd_plot, sweep_rows, sweep_json, bd_table],
        api_name="sweep",
        **heavy(),
    )
    clear_on_failure(swept, [rd_plot, sweep_rows, sweep_json, bd_table])
    sweep_inputs = [source, codec_names, qualities, target_bpps, rd_metric]
    gr.on(
        [c.change for c in sweep_inputs],
        sweep_estimate,
        sweep_inputs,
        sweep_note,
        api_visibility="private",
        trigger_mode="always_last",
    )
    swept.then(sweep_estimate, sweep_inputs, sweep_note, api_visibility="private")  # refined by the run
    clear_on_upload(source, [*results, rd_plot, sweep_rows, sweep_json, bd_table], example)
    rd_metric.change(rd_chart, [sweep_rows, rd_metric], [rd_plot, bd_table], api_visibility="private")


def _api_only_compress() -> None:
    """The /compress endpoint: one codec, one image, for the Python client."""
    with gr.Column(visible=False):
        image, codec = gr.File(type="filepath"), gr.Textbox(value="jpeg")
        params, bpp, nbytes = gr.Textbox(value="{}"), gr.Number(value=None), gr.Number(value=None)
        encoded, decoded, row = gr.File(), gr.Image(format="png", type="numpy"), gr.JSON()
        button = gr.Button()
    button.click(
        compress_api, [image, codec, params, bpp, nbytes], [encoded, decoded, row], api_name="compress", **heavy()
    )
