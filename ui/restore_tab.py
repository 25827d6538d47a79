"""The Restoration tab: degrade a clean image by a chain of steps (or upload a degraded one), run
several restorers side by side, and compare them in a table and a split view."""

from __future__ import annotations

import gradio as gr

from restoration.core import examples
from restoration.core.errors import UserInputError
from restoration.lab import common
from restoration.lab import restore as lab
from ui.common import (
    VIEWS_TTL_S,
    clear_on_failure,
    clear_on_upload,
    heavy,
    image_upload,
    load_example,
    model_file_upload,
    output_format_choice,
    results_panel,
    self_ensemble_box,
    shown_views,
    steps,
    user_facing,
)


@user_facing
def degrade(reference_path, kind, codec_name, quality, bpp, sigma, blur, factor=2, chain=""):
    """Degrade a clean image by a chain of steps: returns the degraded file (the codec's real bytes
    when the browser shows them, else a PNG of its pixels) and what was applied."""
    image = common.load_input(reference_path)
    steps = lab.make_degradation(kind, codec_name, quality, bpp, sigma, blur, factor, chain)
    return lab.degrade_file(image, steps)


@user_facing
def add_step(kind, codec_name, quality, bpp, sigma, blur, factor, chain):
    """Append the step the form describes to the chain (the chain kind is then selected)."""
    if kind == "chain":
        return gr.update(), chain
    step = lab.make_degradation(kind, codec_name, quality, bpp, sigma, blur, factor)
    return "chain", ", ".join(part for part in (chain.strip(), step.text()) if part)


@user_facing
def restore(
    degraded_path,
    reference_path,
    model_ids,
    sigma,
    self_ensemble=False,
    strength=0,
    codec="",
    model_file=None,
    output_format="png",
    progress=gr.Progress(track_tqdm=True),
):  # a Hub download shows its bar
    """Restore with each chosen model ("auto": chosen from the image) and, with ``model_file``, a
    model file of your own (spandrel recognises it); results are written as ``output_format``."""
    model_ids = common.model_file_ids(list(model_ids or []), model_file, "jpeg")
    run, views = lab.restore(
        degraded_path,
        reference_path,
        model_ids,
        sigma,
        progress=steps(progress),
        self_ensemble=bool(self_ensemble),
        strength=strength or None,
        codec=codec or None,
    )
    if not run.results:
        raise UserInputError("No model gave a result: " + "; ".join(f"{m}: {why}" for m, why in run.failures.items()))
    gallery = [(views[r.model], lab.restore_caption(r)) for r in run.results]
    files = lab.write_outputs(run, views, output_format or "png")
    return (
        gallery,
        lab.restore_table(run),
        files,
        *shown_views(views, *lab.default_pair(run, views)),
        lab.restore_note(run),
    )


def known_sigma(info):
    """The noise the Degrade step added (the sum of its noise steps' sigmas, in quadrature), for
    the models that take a noise level; unchanged when the chain added none."""
    sigma = lab.chain_sigma(info)
    return gr.update() if sigma is None else sigma


def known_compression(info):
    """The strength and codec of the Degrade step's last codec, for the quality-aware models."""
    return lab.chain_compression(info)


def restore_estimate(
    degraded_path, model_ids, self_ensemble, reference_path=None, strength=0, codec="", output_format="png"
):
    """About how long Restore will take: each model (auto: what its plan for this file runs), the
    metrics and error maps when there is an original, the pictures the page gets."""
    return lab.restore_estimate(
        degraded_path,
        list(model_ids or []),
        bool(self_ensemble),
        bool(reference_path),
        codec or None,
        strength or None,
        output_format or "png",
    )


def build(demo: gr.Blocks) -> None:
    views = gr.State({}, time_to_live=VIEWS_TTL_S)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            with gr.Row():
                clean = image_upload(
                    label="Original", type="filepath", image_mode=None, sources=["upload", "clipboard"], height=170
                )
                degraded = image_upload(
                    label="Degraded", type="filepath", image_mode=None, sources=["upload", "clipboard"], height=170
                )
            clean_example = gr.Dropdown(list(examples.EXAMPLES), value=None, label="Example image")
            with gr.Row(equal_height=True):
                chain = gr.Textbox(
                    value="jpeg:q=10",
                    label="Degradation chain (applied in order)",
                    scale=3,
                    placeholder="e.g. downscale:2, jpeg:q=30, noise:10",
                )
                run_degrade = gr.Button("Degrade", scale=1)
            with gr.Accordion("Build the chain step by step", open=False):
                kind = gr.Radio(list(lab.DEGRADATIONS), value="chain", label="Step (chain: use the text above)")
                with gr.Row():
                    deg_codec = gr.Dropdown(lab.degrade_codec_choices(), value="jpeg", label="Codec")
                    deg_quality = gr.Slider(1, 100, value=10, step=1, label="Quality")
                    deg_bpp = gr.Number(value=0, label="…or target bpp (0: quality)")
                with gr.Row():
                    deg_sigma = gr.Slider(0, 75, value=25, step=1, label="Noise sigma (0-255)")
                    deg_blur = gr.Slider(0, 5, value=1.0, step=0.1, label="Blur sigma (px)")
                    deg_factor = gr.Radio([2, 3, 4], value=2, label="Downscale")
                add = gr.Button("Add step to chain", size="sm")
            models = gr.Dropdown(
                lab.model_choices(),
                value=[lab.DEFAULT_MODEL],
                multiselect=True,
                label="Models (each runs on its own)",
                info="Auto reads the file and the pixels and runs the matching models in order; add others to compare",
            )
            run_restore = gr.Button("Restore", variant="primary")
            estimate_note = gr.Markdown()
            deg_info = gr.JSON(label="Degradation applied")
            with gr.Accordion("Options", open=False):
                restore_sigma = gr.Number(
                    value=0,
                    minimum=0,
                    maximum=255,
                    label="Noise sigma for classical filters, DRUNet and SwinIR denoising (0: estimate)",
                    info="Set from the chain when Degrade added noise",
                )
                restore_ensemble = self_ensemble_box()
                strength = gr.Slider(
                    0,
                    100,
                    value=0,
                    step=1,
                    label="Strength (quality-aware models)",
                    info="0: read from the file (a JPEG's quality, a JPEG 2000's ratio); else restore as "
                    "if saved at this quality (lower = stronger). Set from the chain",
                )
                input_codec = gr.Dropdown(
                    lab.input_codec_choices(),
                    value="",
                    label="Codec that made the input",
                    info="Read from the file when it says; set from the chain",
                )
            with gr.Accordion("Your own model, result format", open=False):
                model_file, model_note = model_file_upload()
                output_format = output_format_choice()
        outputs = results_panel(views, lab.restore_headers(), "Metrics", "Restored images (PNG)", lab.restore_order())
    form = [kind, deg_codec, deg_quality, deg_bpp, deg_sigma, deg_blur, deg_factor, chain]
    clean_example.change(load_example, clean_example, clean, api_visibility="private")
    add.click(add_step, form, [kind, chain], api_visibility="private")
    run_degrade.click(degrade, [clean, *form], [degraded, deg_info], api_name="degrade", **heavy())
    deg_info.change(known_sigma, deg_info, restore_sigma, api_visibility="private")
    deg_info.change(known_compression, deg_info, [strength, input_codec], api_visibility="private")
    degraded.upload(lambda: (0, ""), None, [strength, input_codec], api_visibility="private")  # another file
    estimate_inputs = [degraded, models, restore_ensemble, clean, strength, input_codec, output_format]
    gr.on(
        [c.change for c in estimate_inputs],
        restore_estimate,
        estimate_inputs,
        estimate_note,
        api_visibility="private",
        trigger_mode="always_last",
    )
    run = run_restore.click(
        restore,
        [degraded, clean, models, restore_sigma, restore_ensemble, strength, input_codec, model_file, output_format],
        outputs,
        api_name="restore",
        **heavy(),
    )
    run.then(restore_estimate, estimate_inputs, estimate_note, api_visibility="private")  # the run's own timings
    clear_on_failure(run, outputs)
    clear_on_upload(clean, outputs, clean_example)
    clear_on_upload(degraded, outputs)
