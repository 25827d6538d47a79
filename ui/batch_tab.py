"""The Batch tab: many images or a zip in, one job on all of them (convert, restore, upscale),
out comes a zip of the files, a CSV of each file's sizes and metrics, and a summary line."""

from __future__ import annotations

import gradio as gr

from restoration.lab import batch as lab
from restoration.lab import common
from restoration.lab import restore as lab_restore
from restoration.lab import sr as lab_sr
from ui.common import clear_on_failure, fitted_table, heavy, steps, user_facing


@user_facing
def run_batch(files, job, settings, progress=gr.Progress()):
    """One job on every uploaded image or zip member: (summary, table, zip of results, CSV)."""
    return lab.run_batch(files, job, settings, progress=steps(progress))


def batch_estimate(files, job, settings):
    """About how long the batch will take here (``lab.batch.batch_estimate``)."""
    return lab.batch_estimate(files, job, settings)


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
    return lab.form_settings(
        job, codec, mode, value, metric, model if job == "restore" else sr_model, output, scale, restore
    )


def build(demo: gr.Blocks) -> None:
    lossy = lab.lossy_codec_choices()
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            files = gr.File(label="Images or zip archives", file_count="multiple", file_types=lab.input_file_types())
            job = gr.Radio(lab.job_choices(), value="convert", label="Job")
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
                model = gr.Dropdown(lab_restore.model_choices(), value=lab_restore.DEFAULT_MODEL, label="Model")
            with gr.Group(visible=False) as upscale_fields:
                scale = gr.Radio([("x2", 2), ("x4", 4)], value=4, label="Scale")
                sr_model = gr.Dropdown(
                    lab_sr.model_choices(2) + lab_sr.model_choices(4),
                    value=lab_sr.default_models(4)[-1],
                    label="Upscaler",
                )
                restore = gr.Dropdown(lab_sr.restore_choices(), value=lab_sr.DEFAULT_RESTORE, label="Clean first")
            output = gr.Dropdown(
                common.output_format_choices(),
                value=common.DEFAULT_OUTPUT_FORMAT,
                label="Write results as",
                visible=False,
            )
            with gr.Accordion("Settings as JSON (what the /batch endpoint takes)", open=False):
                settings = gr.Textbox(
                    value=lab.form_settings("convert", "avif", "target_quality", 80), label="Settings", lines=2
                )
            run = gr.Button("Run batch", variant="primary")
            estimate_note = gr.Markdown()
        with gr.Column(scale=2):
            summary = gr.Markdown()
            table = fitted_table("Each file", lab.TABLE_HEADERS, lab.TABLE_ORDER)
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
        batch_estimate,
        [files, job, settings],
        estimate_note,
        api_visibility="private",
        trigger_mode="always_last",
    )
    event.then(batch_estimate, [files, job, settings], estimate_note, api_visibility="private")  # refined by the run
