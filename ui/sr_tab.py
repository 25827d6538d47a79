"""The Super-resolution tab: x2/x4 upscaling by every chosen model, measured by the published
protocol when the upload is taken as the high-resolution original."""

from __future__ import annotations

import functools

import gradio as gr

from restoration.core import examples
from restoration.lab import common
from restoration.lab import sr as lab
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
def upscale(
    image_path,
    scale,
    model_ids,
    from_hr,
    self_ensemble=False,
    outscale=0,
    restore="auto",
    model_file=None,
    output_format="png",
    progress=gr.Progress(track_tqdm=True),
):  # a Hub download shows its bar
    """Upscale one image with each chosen sr model (measured when the upload is taken as HR);
    ``restore`` cleans a low-resolution upload first: auto, none or a restoration model id;
    ``model_file`` adds an upscaler of your own (its scale must be the chosen one)."""
    model_ids = common.model_file_ids(list(model_ids or []), model_file, "sr", int(scale))
    run, views = lab.upscale(
        image_path,
        scale,
        model_ids,
        bool(from_hr),
        progress=steps(progress),
        self_ensemble=bool(self_ensemble),
        outscale=outscale,
        restore=restore or None,
    )
    return (
        lab.gallery(run),
        lab.table(run),
        lab.write_outputs(run, views, output_format or "png"),
        *shown_views(views, *lab.default_pair(run, views)),
        lab.note(run),
    )


@user_facing
def sr_models(scale):
    return gr.update(choices=lab.model_choices(scale), value=lab.default_models(scale))


def upscale_estimate(image_path, model_ids, from_hr, scale, self_ensemble, restore="auto", output_format="png"):
    """About how long Upscale will take: bicubic, the clean-first step (auto: its plan for this
    file), each model, the metrics and error maps against an original, the pictures the page gets."""
    return lab.upscale_estimate(
        image_path, scale, list(model_ids or []), bool(from_hr), bool(self_ensemble), restore, output_format or "png"
    )


def any_scale_models(known: list[str], payload) -> list[str]:
    """The models picker's value, each a model of some scale (Gradio's words when one is not)."""
    values = [str(v) for v in payload or []]
    for value in values:
        if value not in known:
            raise gr.Error(f"Value: {value!r} is not in the list of choices: {known}")
    return values


def example_as_original(name: str):
    """An example is a high-resolution photo: load it and tick "treat upload as high-resolution",
    so it is downscaled first and the results are measured against it. A cleared choice (a new
    upload) changes neither."""
    if not name:
        return gr.update(), gr.update()
    return load_example(name), True


def build(demo: gr.Blocks) -> None:
    views = gr.State({}, time_to_live=VIEWS_TTL_S)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            # One label for both uses: changing it with gr.update would make Gradio rebuild the
            # component for the session without image_upload's own file check.
            sr_input = image_upload(
                label="Image to upscale (upload or paste)",
                type="filepath",
                image_mode=None,
                sources=["upload", "clipboard"],
                height=200,
            )
            sr_example = gr.Dropdown(list(examples.EXAMPLES), value=None, label="Example high-resolution image")
            sr_from_hr = gr.Checkbox(
                value=False,
                label="Treat upload as high-resolution",
                info="Downscale it first (MATLAB bicubic, the published protocol) and measure Y-PSNR/SSIM against it",
            )
            with gr.Row(equal_height=True):
                sr_scale = gr.Radio([("x2", 2), ("x4", 4)], value=4, label="Scale", scale=1, min_width=120)
                # Upscaling magnifies compression artifacts and noise: auto removes them where it finds
                # them (a high-resolution upload is never cleaned).
                sr_restore = gr.Dropdown(
                    lab.restore_choices(),
                    value="auto",
                    label="Clean first (auto: where noise or compression is found)",
                    scale=2,
                    min_width=200,
                )
            # Built with every scale's models, so that the API (validated against the initial
            # choices) takes x2 ones too; on load and on a scale change the page lists this scale's.
            sr_model_ids = gr.Dropdown(
                lab.model_choices(2) + lab.model_choices(4),
                multiselect=True,
                value=lab.default_models(4),
                label="Models at this scale",
            )
            # Checked against every scale's models, not the session's: an estimate queued just
            # before a scale change re-lists them carries the previous scale's, and Gradio's own
            # check would answer it with an error toast. The run checks each id's scale.
            sr_model_ids.preprocess = functools.partial(any_scale_models, [v for _, v in sr_model_ids.choices])
            run_upscale = gr.Button("Upscale", variant="primary")
            estimate_note = gr.Markdown()
            with gr.Accordion("Options", open=False):
                sr_ensemble = self_ensemble_box()
                sr_outscale = gr.Number(
                    value=0,
                    minimum=0,
                    maximum=8,
                    label="Output scale (0: the model's)",
                    info="e.g. 3.5: an x4 result resized by Lanczos, as Real-ESRGAN's --outscale",
                )
            with gr.Accordion("Your own model, result format", open=False):
                model_file, model_note = model_file_upload()
                output_format = output_format_choice()
        outputs = results_panel(views, lab.HEADERS, "Metrics and time", "Upscaled images (PNG)")
    sr_example.change(example_as_original, sr_example, [sr_input, sr_from_hr], api_visibility="private")
    sr_scale.change(sr_models, sr_scale, sr_model_ids, api_visibility="private")
    demo.load(sr_models, sr_scale, sr_model_ids, api_visibility="private")
    estimate_inputs = [sr_input, sr_model_ids, sr_from_hr, sr_scale, sr_ensemble, sr_restore, output_format]
    gr.on(
        [c.change for c in estimate_inputs if c is not sr_scale],
        upscale_estimate,
        estimate_inputs,
        estimate_note,
        api_visibility="private",
        trigger_mode="always_last",
    )  # a scale change changes the models
    run = run_upscale.click(
        upscale,
        [sr_input, sr_scale, sr_model_ids, sr_from_hr, sr_ensemble, sr_outscale, sr_restore, model_file, output_format],
        outputs,
        api_name="upscale",
        **heavy(),
    )
    run.then(upscale_estimate, estimate_inputs, estimate_note, api_visibility="private")  # the run's own timings
    clear_on_failure(run, outputs)
    clear_on_upload(sr_input, outputs, sr_example)
