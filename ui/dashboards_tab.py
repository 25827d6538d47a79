"""The Dashboards tab: benchmark runner, dashboards and the blind panel.

Only wiring: the work is in ``restoration.bench.lab``, ``restoration.bench.report`` and
``restoration.bench.panel``. Rows and votes go to the SQLite file ``$RESTORATION_DB`` (default
``runs/bench.sqlite``). Named endpoints: /bench, /report, /runs, /panel_pair, /panel_vote,
/panel_scores.
"""

from __future__ import annotations

import gradio as gr

from restoration import codecs
from restoration import metrics as metriclib
from restoration.core import examples
from restoration.bench import lab as lab_bench
from restoration.bench import panel
from restoration.bench.dashboards import BD_HEADERS, METHOD_HEADERS
from ui.common import user_facing

DEFAULT_CODECS = ["jpeg", "webp", "avif"]


def build(demo: gr.Blocks) -> None:
    """Lay out the tab's contents inside the current ``gr.Tab`` and wire its events."""

    @user_facing
    def bench(files, use_examples, codec_names, qualities, bpps, models, sr_scale, sr_models, progress=gr.Progress()):
        summary = lab_bench.bench(files, use_examples, codec_names, qualities, bpps, models, sr_scale, sr_models,
                                  progress=lambda f, d: progress(f, desc=d))
        return summary, gr.update(choices=lab_bench.run_choices(), value=[str(summary["run"])])

    @user_facing
    def report(run_ids):
        built, files = lab_bench.report(run_ids)
        f = built.figures
        return (f["rd_psnr"], f["rd_ssim"], f["rd_ms_ssim"], built.bd, f["formats"], f["heatmap"], built.methods,
                [str(files[k]) for k in ("html", "csv", "json")], built.summary())

    @user_facing
    def runs():
        choices = lab_bench.run_choices()
        return gr.update(choices=choices, value=[choices[0][1]] if choices else [])

    @user_facing
    def pair(image_path, example, task, models, codec, quality, scale):
        shown = lab_bench.panel_pair(image_path, example, task, models, codec, quality, scale)
        return shown.input, shown.a, shown.b, shown.id, f"Pair {shown.id}: which looks better, A or B?"

    @user_facing
    def vote(pair_id, preference, score_a, score_b):
        return lab_bench.panel_vote(pair_id, preference, score_a, score_b), lab_bench.panel_scores()

    @user_facing
    def scores():
        return lab_bench.panel_scores()

    with gr.Accordion("Run a benchmark", open=True):
        gr.Markdown("Images x codecs x settings, optionally restored after decoding, and super-resolution. "
                    "Rows are stored (and reused by later runs) in `$RESTORATION_DB` (default `runs/bench.sqlite`); "
                    "the CLI does the same: `restoration bench DIR --codecs ... --db FILE`.")
        with gr.Row():
            with gr.Column():
                files = gr.File(label="Images or zip archives", file_count="multiple", file_types=["image", ".zip"])
                use_examples = gr.Checkbox(value=False, label=f"Add the example set ({len(examples.EXAMPLES)} images)")
                codec_names = gr.CheckboxGroup([(c.label, c.name) for c in codecs.CODECS.values()],
                                               value=DEFAULT_CODECS, label="Codecs")
                with gr.Row():
                    qualities = gr.Textbox(value="20,40,60,80", label="Qualities (blank: each codec's sweep)")
                    bpps = gr.Textbox(value="", label="…or bpp targets", placeholder="e.g. 0.25,0.5,1")
            with gr.Column():
                models = gr.CheckboxGroup(lab_bench.restoration_choices(), value=[],
                                          label="Restoration models applied after decoding")
                sr_scale = gr.Radio([("none", 0), ("x2", 2), ("x4", 4)], value=0, label="Super-resolution scale")
                sr_models = gr.CheckboxGroup(lab_bench.sr_choices(), value=[],
                                             label="SR models at that scale (bicubic always runs)")
                run_bench = gr.Button("Run benchmark", variant="primary")
                summary = gr.JSON(label="Run summary")
    with gr.Accordion("Dashboards", open=True):
        with gr.Row():
            run_ids = gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True, scale=4,
                                  label="Stored runs (one or more)")
            refresh = gr.Button("Refresh list", scale=1)
            show = gr.Button("Show", variant="primary", scale=1)
        report_summary = gr.JSON(label="Selection")
        rd_psnr, rd_ssim, rd_msssim = gr.Plot(label="PSNR vs bpp"), gr.Plot(label="SSIM vs bpp"), gr.Plot(
            label="MS-SSIM vs bpp")
        bd = gr.Dataframe(headers=BD_HEADERS, label="BD-rate: bytes at equal quality (negative: test is smaller)",
                          interactive=False, wrap=True)
        formats, heatmap = gr.Plot(label="Per format"), gr.Plot(label="Metric heatmap")
        methods = gr.Dataframe(headers=METHOD_HEADERS, label="Per data set and method", interactive=False, wrap=True)
        downloads = gr.File(label="Report (HTML), rows (CSV), rows and tables (JSON)", file_count="multiple",
                            interactive=False)
    with gr.Accordion("Blind panel: which result looks better?", open=False):
        gr.Markdown("Two results of the same input by two models, in random order and without their names. "
                    "Pick the one you prefer (or rate each 1-5); the scores below count every vote.")
        with gr.Row():
            with gr.Column():
                p_image = gr.Image(label="Image (or pick an example)", type="filepath", sources=["upload", "clipboard"],
                                   height=200)
                p_example = gr.Dropdown(list(examples.EXAMPLES), value="astronaut", label="Example image")
                p_task = gr.Radio(list(panel.TASKS), value="restoration", label="Task")
                p_models = gr.CheckboxGroup(lab_bench.restoration_choices() + lab_bench.sr_choices(),
                                            label="Models to compare (two are drawn per pair)")
                with gr.Row():
                    p_codec = gr.Dropdown([(c.label, c.name) for c in codecs.CODECS.values() if c.knob], value="jpeg",
                                          label="Degrade with")
                    p_quality = gr.Slider(1, 100, value=15, step=1, label="Quality")
                    p_scale = gr.Radio([("x2", 2), ("x4", 4)], value=4, label="SR scale")
                p_new = gr.Button("Show a pair", variant="primary")
            with gr.Column(scale=2):
                p_note = gr.Markdown()
                with gr.Row():
                    p_input = gr.Image(label="Input", type="numpy", format="png", interactive=False)
                    p_a = gr.Image(label="A", type="numpy", format="png", interactive=False)
                    p_b = gr.Image(label="B", type="numpy", format="png", interactive=False)
                p_id = gr.Number(value=None, label="Pair", interactive=False, precision=0)
                with gr.Row():
                    p_pref = gr.Radio(list(panel.PREFERENCES), value=None, label="Preferred")
                    p_score_a = gr.Radio([1, 2, 3, 4, 5], value=None, label="Score A (optional)")
                    p_score_b = gr.Radio([1, 2, 3, 4, 5], value=None, label="Score B (optional)")
                p_vote = gr.Button("Submit vote")
        p_scores = gr.Dataframe(headers=panel.SCORE_HEADERS, label="Score per model", interactive=False)
        p_refresh = gr.Button("Refresh scores")

    report_outputs = [rd_psnr, rd_ssim, rd_msssim, bd, formats, heatmap, methods, downloads, report_summary]
    run_bench.click(bench, [files, use_examples, codec_names, qualities, bpps, models, sr_scale, sr_models],
                    [summary, run_ids], api_name="bench").then(report, run_ids, report_outputs, api_name="bench_report", api_visibility="private")
    show.click(report, run_ids, report_outputs, api_name="report")
    refresh.click(runs, None, run_ids, api_name="runs")
    demo.load(runs, None, run_ids, api_visibility="private")
    p_new.click(pair, [p_image, p_example, p_task, p_models, p_codec, p_quality, p_scale],
                [p_input, p_a, p_b, p_id, p_note], api_name="panel_pair")
    p_vote.click(vote, [p_id, p_pref, p_score_a, p_score_b], [p_note, p_scores], api_name="panel_vote")
    p_refresh.click(scores, None, p_scores, api_name="panel_scores")
    with gr.Accordion("Metrics this lab computes", open=False):
        gr.Dataframe(
            [[m.name, m.label, m.unit, "lower" if m.lower_better else "higher", f"[{m.low}, {m.high}]",
              m.unavailable_reason() or "available"] for m in metriclib.METRICS.values()],
            headers=["metric", "label", "unit", "better", "range", "status"], interactive=False)
