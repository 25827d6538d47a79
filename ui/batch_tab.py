"""The Batch tab: many images or a zip in, one job on all of them (convert, restore, upscale),
out comes a zip of the files, a CSV of each file's sizes and metrics, and a summary line."""

from __future__ import annotations

import gradio as gr

from restoration import codecs
from restoration.bench import lab as lab_bench
from restoration.codecs import output as outputlib
from restoration.codecs import reader
from restoration.core import scratch
from restoration.core.errors import UserInputError
from restoration.models.auto import AUTO
from restoration.pipelines import batch, lab_sr
from ui.common import clear_on_failure, fitted_table, heavy, steps, user_facing
from ui.restore_tab import model_choices


@user_facing
def run_batch(files, job, settings, progress=gr.Progress()):
    """One job on every uploaded image or zip member: (summary, table, zip of results, CSV)."""
    paths = [getattr(f, "name", f) for f in (files or [])]
    if not paths:
        raise UserInputError("upload images or a zip archive first")
    result = batch.run(paths, job, settings, progress=steps(progress))
    archive, csv_path = batch.write(result, scratch.folder("batch-"))
    return result.summary(), batch.table(result), str(archive), str(csv_path)


def estimate(files, job, settings):
    """About how long the batch will take here (``bench.lab.batch_estimate``)."""
    return lab_bench.batch_estimate(files, job, settings)


def show_fields(job):
    return [
        gr.update(visible=job == "convert"),
        gr.update(visible=job == "restore"),
        gr.update(visible=job == "upscale"),
        gr.update(visible=job != "convert"),
    ]


def upscaler_choices(scale):
    return gr.update(choices=lab_sr.model_choices(scale), value=lab_sr.default_models(scale)[-1])


def settings_json(job, codec, mode, value, metric, model, output, scale, sr_model, restore):
    return batch.form_settings(
        job, codec, mode, value, metric, model if job == "restore" else sr_model, output, scale, restore
    )


def build(demo: gr.Blocks) -> None:
    lossy = [(c.label, c.name) for c in codecs.CODECS.values() if c.knob is not None]
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            files = gr.File(
                label="Images or zip archives", file_count="multiple", file_types=[*sorted(reader.extensions()), ".zip"]
            )
            job = gr.Radio(
                [("Convert", "convert"), ("Restore", "restore"), ("Upscale", "upscale")], value="convert", label="Job"
            )
            with gr.Group(visible=True) as convert_fields:
                codec = gr.Dropdown(lossy, value="avif", label="Codec")
                mode = gr.Radio(
                    [
                        ("At a setting", "quality"),
                        ("At a size (bpp)", "target_bpp"),
                        ("At equal quality", "target_quality"),
                    ],
                    value="target_quality",
                    label="How",
                )
                with gr.Row():
                    metric = gr.Dropdown(
                        [("SSIMULACRA 2", "ssimulacra2"), ("PSNR", "psnr")],
                        value="ssimulacra2",
                        label="Quality metric (equal quality)",
                    )
                    value = gr.Number(value=80, label="Value (quality, bpp or score)")
            with gr.Group(visible=False) as restore_fields:
                model = gr.Dropdown(model_choices(), value=AUTO, label="Model")
            with gr.Group(visible=False) as upscale_fields:
                scale = gr.Radio([("x2", 2), ("x4", 4)], value=4, label="Scale")
                sr_model = gr.Dropdown(
                    lab_sr.model_choices(2) + lab_sr.model_choices(4),
                    value=lab_sr.default_models(4)[-1],
                    label="Upscaler",
                )
                restore = gr.Dropdown(lab_sr.restore_choices(), value=AUTO, label="Clean first")
            output = gr.Dropdown(outputlib.choices(), value=outputlib.DEFAULT, label="Write results as", visible=False)
            with gr.Accordion("Settings as JSON (what the /batch endpoint takes)", open=False):
                settings = gr.Textbox(
                    value=batch.form_settings("convert", "avif", "target_quality", 80), label="Settings", lines=2
                )
            run = gr.Button("Run batch", variant="primary")
            estimate_note = gr.Markdown()
        with gr.Column(scale=2):
            summary = gr.Markdown()
            table = fitted_table("Each file", batch.TABLE_HEADERS, batch.TABLE_ORDER)
            with gr.Row():
                archive = gr.File(label="Results (zip: files and results.csv)", interactive=False)
                csv_file = gr.File(label="results.csv", interactive=False)
    form = [job, codec, mode, value, metric, model, output, scale, sr_model, restore]
    job.change(show_fields, job, [convert_fields, restore_fields, upscale_fields, output], api_visibility="private")
    scale.change(upscaler_choices, scale, sr_model, api_visibility="private")
    gr.on(
        [c.change for c in form],
        settings_json,
        form,
        settings,
        api_visibility="private",
        trigger_mode="always_last",
        queue=False,
    )  # at once: the run button reads it next
    outputs = [summary, table, archive, csv_file]
    event = run.click(run_batch, [files, job, settings], outputs, api_name="batch", **heavy())
    clear_on_failure(event, outputs)
    gr.on(
        [files.change, job.change, settings.change],
        estimate,
        [files, job, settings],
        estimate_note,
        api_visibility="private",
        trigger_mode="always_last",
    )
    event.then(estimate, [files, job, settings], estimate_note, api_visibility="private")  # refined by the run
