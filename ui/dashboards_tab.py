"""The Dashboards tab: stored benchmark runs as charts and tables (a shipped example run until the
user has one), the benchmark runner, the blind panel and the metric table, each its own sub-tab.

Only wiring: the work is in ``restoration.lab.dashboards`` (over the benchmark runner, its report
and the blind panel). Rows and votes go to the SQLite file ``$RESTORATION_DB`` (default
``runs/bench.sqlite``). Named endpoints: /bench, /report, /runs, /panel_pair, /panel_vote,
/panel_scores.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from restoration.core import examples
from restoration.lab import dashboards as lab
from ui import compare
from ui.common import clear_on_failure, fitted_table, heavy, image_upload, steps, user_facing
from ui.doors import client_address

DEFAULT_CODECS = ["jpeg", "webp", "avif"]


@user_facing
def bench(
    files,
    use_examples,
    codec_names,
    qualities,
    bpps,
    models,
    sr_scale,
    sr_models,
    perceptual=False,
    progress=gr.Progress(),
):
    summary = lab.bench(
        files,
        use_examples,
        codec_names,
        qualities,
        bpps,
        models,
        sr_scale,
        sr_models,
        progress=steps(progress),
        perceptual=bool(perceptual),
    )
    return summary, gr.update(choices=lab.run_choices(), value=[str(summary["run"])])


@user_facing
def report(run_ids):
    built, files = lab.report(run_ids)
    return (
        *lab.rd_figures(built),
        built.bd,
        built.figures["formats"],
        built.figures["heatmap"],
        built.methods,
        [str(files[k]) for k in ("html", "csv", "json")],
        built.summary(),
        lab.source_note(),
    )


@user_facing
def bench_estimate(files, use_examples, codec_names, qualities, bpps, models, sr_scale, sr_models, perceptual=False):
    return lab.bench_estimate(
        files, use_examples, codec_names, qualities, bpps, models, sr_scale, sr_models, perceptual=bool(perceptual)
    )


@user_facing
def runs():
    choices = lab.run_choices()
    return gr.update(choices=choices, value=[choices[0][1]] if choices else [])


@user_facing
def pair(image_path, example, task, models, codec, quality, scale):
    shown = lab.panel_pair(image_path, example, task, models, codec, quality, scale)
    view = compare.value({"A": shown.a, "B": shown.b}, "A", "B")
    return (shown.input, shown.a, shown.b, shown.id, shown.token, f"Pair {shown.id}: which looks better, A or B?", view)


@user_facing
def vote(pair_id, token, preference, score_a, score_b, request: gr.Request = None):
    """The vote's note only: the score table is refreshed on its own, so a vote never shows how
    the table moved (which would tell which model was A). The rate limit counts per client address."""
    return lab.panel_vote(pair_id, token, preference, score_a, score_b, voter=client_address(request))


def panel_models(task):
    return gr.update(choices=lab.panel_model_choices(task), value=[])


@user_facing
def scores():
    return lab.panel_scores()


def _dashboards() -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.note = gr.Markdown()
    with gr.Row():
        ui.run_ids = gr.Dropdown(
            [], value=[], multiselect=True, allow_custom_value=True, scale=4, label="Stored runs (one or more)"
        )
        ui.refresh = gr.Button("Refresh list", scale=1)
        ui.show = gr.Button("Show", variant="primary", scale=1)
    panels = lab.rd_panels()  # one rate-distortion chart per BD metric of the table, headline ones on top
    with gr.Row():
        ui.rd = [gr.Plot(label=title) for _, title, top in panels if top]
    ui.bd = fitted_table(f"BD-rate: bytes at equal quality ({lab.BD_SIGNS})", lab.bd_headers(), wide=True)
    with gr.Accordion("More charts and tables, the report files", open=False):
        ui.rd += [gr.Plot(label=title) for _, title, top in panels if not top]
        ui.formats, ui.heatmap = gr.Plot(label="Per format"), gr.Plot(label="Metric heatmap")
        ui.methods = fitted_table("Per data set and method", lab.method_headers(), wide=True)
        ui.summary = gr.JSON(label="Selection")
        ui.downloads = gr.File(
            label="Report (HTML), rows (CSV), rows and tables (JSON)", file_count="multiple", interactive=False
        )
    ui.outputs = [
        *ui.rd,
        ui.bd,
        ui.formats,
        ui.heatmap,
        ui.methods,
        ui.downloads,
        ui.summary,
        ui.note,
    ]
    return ui


def _runner() -> SimpleNamespace:
    ui = SimpleNamespace()
    gr.Markdown(
        "Images x codecs x settings, optionally restored after decoding, and super-resolution. "
        "Rows are stored (and reused by later runs) in `$RESTORATION_DB` (default `runs/bench.sqlite`); "
        "the CLI does the same: `restoration bench DIR --codecs ... --db FILE`."
    )
    with gr.Row():
        with gr.Column():
            ui.files = gr.File(label="Images or zip archives", file_count="multiple", file_types=["image", ".zip"])
            ui.use_examples = gr.Checkbox(value=False, label=f"Add the example set ({lab.example_count()} images)")
            ui.codec_names = gr.CheckboxGroup(lab.codec_choices(), value=DEFAULT_CODECS, label="Codecs")
            with gr.Row():
                ui.qualities = gr.Textbox(value="20,40,60,80", label="Qualities (blank: each codec's sweep)")
                ui.bpps = gr.Textbox(value="", label="…or bpp targets", placeholder="e.g. 0.25,0.5,1")
        with gr.Column():
            ui.models = gr.Dropdown(
                lab.restoration_choices(),
                value=[],
                multiselect=True,
                label="Restoration models applied after decoding",
            )
            ui.sr_scale = gr.Radio([("none", 0), ("x2", 2), ("x4", 4)], value=0, label="Super-resolution scale")
            ui.sr_models = gr.Dropdown(
                lab.sr_choices(),
                value=[],
                multiselect=True,
                label="SR models at that scale (bicubic always runs)",
            )
            ui.perceptual = gr.Checkbox(
                value=False,
                label="Perceptual metrics (SSIMULACRA 2, FLIP, ColorVideoVDP)",
                info="~1.5 s more a codec setting on 768x512; their BD-rates in the tables",
            )
            ui.estimate = gr.Markdown("Add images or the example set to see an estimate.")
            ui.run = gr.Button("Run benchmark", variant="primary")
            ui.summary = gr.JSON(label="Run summary")
    ui.inputs = [
        ui.files,
        ui.use_examples,
        ui.codec_names,
        ui.qualities,
        ui.bpps,
        ui.models,
        ui.sr_scale,
        ui.sr_models,
        ui.perceptual,
    ]
    return ui


def _panel() -> SimpleNamespace:
    ui = SimpleNamespace()
    gr.Markdown(
        "Two results of the same input by two models, in random order and without their names. "
        "Pick the one you prefer (or rate each 1-5); the scores below count every vote, and show once "
        f"{lab.panel_min_votes()} votes are in (sooner, a score that moved would tell whose result "
        "was which)."
    )
    with gr.Row():
        with gr.Column():
            image = image_upload(
                label="Image (or pick an example)",
                type="filepath",
                image_mode=None,
                sources=["upload", "clipboard"],
                height=200,
            )  # through image.load, as every tab
            with gr.Row():
                example = gr.Dropdown(list(examples.EXAMPLES), value="astronaut", label="Example image")
                task = gr.Radio(list(lab.PANEL_TASKS), value="restoration", label="Task")
            # Built with both tasks' models (the API checks against these); the page shows one task's.
            models = gr.Dropdown(
                lab.restoration_choices() + lab.sr_choices(),
                value=[],
                multiselect=True,
                label="Models to compare (two are drawn per pair)",
            )
            with gr.Row():
                codec = gr.Dropdown(lab.lossy_codec_choices(), value="jpeg", label="Degrade with")
                quality = gr.Slider(1, 100, value=15, step=1, label="Quality")
                scale = gr.Radio([("x2", 2), ("x4", 4)], value=4, label="SR scale")
            ui.new = gr.Button("Show a pair", variant="primary")
        with gr.Column(scale=2):
            ui.note = gr.Markdown()
            ui.view = compare.viewer()  # A left, B right: one frame, the same pan and zoom for both
            with gr.Accordion("A and B side by side", open=False):
                with gr.Row():
                    ui.a = gr.Image(
                        label="A", type="numpy", format="png", interactive=False, height=420, buttons=["fullscreen"]
                    )
                    ui.b = gr.Image(
                        label="B", type="numpy", format="png", interactive=False, height=420, buttons=["fullscreen"]
                    )
            with gr.Accordion("What both were given", open=False):
                ui.input = gr.Image(label="Input", type="numpy", format="png", interactive=False, height=260)
            ui.id = gr.Number(value=None, label="Pair", precision=0, visible=False)  # the note names it
            ui.token = gr.Textbox(value="", visible=False)  # the pair's vote token, from /panel_pair
            with gr.Row():
                ui.pref = gr.Radio(list(lab.PANEL_PREFERENCES), value=None, label="Preferred")
                ui.score_a = gr.Radio([1, 2, 3, 4, 5], value=None, label="Score A (optional)")
                ui.score_b = gr.Radio([1, 2, 3, 4, 5], value=None, label="Score B (optional)")
            ui.vote = gr.Button("Submit vote")
            ui.voted = gr.Markdown()  # the vote's note, beside its button
    ui.scores = fitted_table("Score per model", lab.PANEL_SCORE_HEADERS, wide=True)
    ui.refresh = gr.Button("Refresh scores")
    ui.inputs = [image, example, task, models, codec, quality, scale]
    task.change(panel_models, task, models, api_visibility="private")  # never restoration and SR mixed
    ui.task, ui.models = task, models
    return ui


def build(demo: gr.Blocks) -> None:
    """Lay out the tab inside the current ``gr.Tab`` and wire its events: one sub-tab per job, so
    each opens with its controls and its button on the first screen."""
    with gr.Tabs() as pages:
        with gr.Tab("Results", id="results"):
            dash = _dashboards()
        with gr.Tab("Run a benchmark", id="run"):
            run = _runner()
        with gr.Tab("Blind panel", id="panel"):
            blind = _panel()
        with gr.Tab("Metrics", id="metrics"):
            gr.Markdown("Every metric this lab computes, with its direction and range.")
            fitted_table("Metric table", lab.METRIC_TABLE_HEADERS, wide=True, value=lab.metric_table())
    gr.on([c.change for c in run.inputs], bench_estimate, run.inputs, run.estimate, api_visibility="private")
    ran = run.run.click(bench, run.inputs, [run.summary, dash.run_ids], api_name="bench", **heavy())
    clear_on_failure(ran, [run.summary])  # not the last run's summary under an error badge
    ran.success(report, dash.run_ids, dash.outputs, api_name="bench_report", api_visibility="private").success(
        show_results, None, pages, api_visibility="private"
    )  # the new run's charts, in front
    dash.show.click(report, dash.run_ids, dash.outputs, api_name="report")
    dash.refresh.click(runs, None, dash.run_ids, api_name="runs")
    demo.load(runs, None, dash.run_ids, api_visibility="private").then(
        report, dash.run_ids, dash.outputs, api_name="load_report", api_visibility="private"
    )
    shown = blind.new.click(
        pair,
        blind.inputs,
        [blind.input, blind.a, blind.b, blind.id, blind.token, blind.note, blind.view],
        api_name="panel_pair",
        **heavy(),
    )
    shown.success(fresh_ballot, None, [blind.voted, blind.pref, blind.score_a, blind.score_b], api_visibility="private")
    clear_on_failure(shown, [blind.input, blind.a, blind.b, blind.id, blind.token, blind.note, blind.view])
    blind.vote.click(
        vote, [blind.id, blind.token, blind.pref, blind.score_a, blind.score_b], blind.voted, api_name="panel_vote"
    )
    blind.refresh.click(scores, None, blind.scores, api_name="panel_scores")
    demo.load(panel_models, blind.task, blind.models, api_visibility="private")


def fresh_ballot():
    """A new pair: the last vote's note and choices go (a choice left over would be cast for it)."""
    return "", None, None, None


def show_results():
    return gr.Tabs(selected="results")
