"""A benchmark report from stored runs: figures, tables, CSV, JSON and one self-contained HTML
file (plotly's JavaScript embedded once, no network needed to open it)."""

from __future__ import annotations

import csv
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from restoration import metrics as metriclib
from restoration.benchmark import charts, dashboards, panel
from restoration.benchmark.store import Store
from restoration.core import scratch
from restoration.core.errors import UserInputError

CSV_COLUMNS = (
    "run",
    "dataset",
    "image",
    "kind",
    "codec",
    "setting",
    "model",
    "model_sha256",
    "scale",
    "bytes",
    *metriclib.METRICS,
    "ssim_y",
    "restore_ms",
    "width",
    "height",
    "target_bpp",
    "params",
    "image_hash",
    "key",
    "note",
)


@dataclass
class Report:
    runs: list[dict]
    rows: list[dict] = field(repr=False)
    figures: dict = field(repr=False)  # name -> plotly figure
    bd: list[list]
    methods: list[list]
    panel: list[list]

    def summary(self) -> dict:
        return {
            "runs": [r["id"] for r in self.runs],
            "rows": len(self.rows),
            "datasets": sorted({r["dataset"] for r in self.rows}),
            "bd_rows": len(self.bd),
        }


def pick_runs(store, run_ids) -> list[int]:
    """The asked runs (ids or strings such as "3" or "3: ..."), or the latest one."""
    runs = store.runs()
    if not runs:
        raise UserInputError(f"{store.path.name} holds no benchmark run yet")  # its name: not the server's folders
    if not run_ids:
        return [runs[-1]["id"]]
    return parse_run_ids(run_ids)


def parse_run_ids(run_ids) -> list[int]:
    """Run ids as given (ints, "3" or a listing's "3: ..."), each a whole number of at most 18
    digits (no "²", no 5,000 digits that int() or SQLite refuse); one message for anything else."""
    picked = []
    for value in run_ids or ():
        text = str(value).split(":")[0].strip()
        if isinstance(value, bool) or not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise UserInputError(f"not a run id: {str(value)[:40]!r} (run ids are whole numbers, as /runs lists them)")
        picked.append(int(text))
    return list(dict.fromkeys(picked))


def build(db=None, run_ids=None, bd_metrics=None, bd_method: str = "akima") -> Report:
    """The report of the chosen runs (default: the latest). Its rate-distortion figures
    (``rd_<metric>``) and BD table cover ``dashboards.bd_metrics`` (the table's metrics for BD-rate
    that these runs measured or compute by default); ``bd_metrics`` narrows the BD table."""
    with Store(db, create=False) as store:
        ids = pick_runs(store, run_ids)
        rows = store.rows(ids)
        runs = [without_host(store.run(i)) for i in ids]
    curves = dashboards.curves(rows)
    figures = {f"rd_{m}": charts.rd_figure(rows, m) for m in dashboards.bd_metrics(curves)}
    figures["formats"] = charts.bars_figure(rows, per_format=True)
    figures["heatmap"] = charts.heatmap_figure(rows)
    return Report(
        runs,
        rows,
        figures,
        dashboards.bd_table(curves, bd_metrics, bd_method),
        dashboards.method_table(rows),
        panel.scores(db),
    )


SPREADSHEET_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as the start of a formula


def _csv_value(value):
    """A cell: JSON for a dict or list; text a spreadsheet would run as a formula (an image or zip
    member named "=HYPERLINK(...)") quoted with a leading apostrophe, as the batch's CSV does."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value.startswith(SPREADSHEET_FORMULA):
        return "'" + value
    return "" if value is None else value


def write_csv(rows: list[dict], path) -> Path:
    path = Path(path)
    with _open(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([_csv_value(row.get(c)) for c in CSV_COLUMNS])
    return path


def write_json(report: Report, path) -> Path:
    path = Path(path)
    body = {
        "runs": report.runs,
        "rows": report.rows,
        "bd_rate": [dict(zip(dashboards.BD_HEADERS, r)) for r in report.bd],
        "methods": [dict(zip(dashboards.METHOD_HEADERS, r)) for r in report.methods],
    }
    with _open(path) as handle:
        json.dump(body, handle, indent=1, allow_nan=False)
    return path


def _open(path: Path):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"cannot write {Path(path).name}: {exc.strerror or exc}") from None


def _table(headers, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if c is None else str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def without_host(run: dict) -> dict:
    """A run as shown to users: no host name or kernel version (what a stranger could use to aim at
    the server) unless the operator sets RESTORATION_SHOW_HOST=1; the CPU, core count, architecture
    and library versions, which decide the numbers, stay."""
    if os.environ.get("RESTORATION_SHOW_HOST") == "1":
        return run
    machine = {k: v for k, v in run["provenance"].get("machine", {}).items() if k not in ("node", "system")}
    return {**run, "provenance": {**run["provenance"], "machine": machine}}


def _run_rows(runs: list[dict]) -> list[list]:
    rows = []
    for run in runs:
        p, c = run["provenance"], run["config"]
        setting = f"qualities {c['qualities']}" if c["qualities"] else (f"bpp {c['bpps']}" if c["bpps"] else "defaults")
        rows.append(
            [
                run["id"],
                run["created"],
                run["status"],
                run["rows"],
                run["computed"],
                run["reused"],
                None if run["seconds"] is None else round(run["seconds"], 1),
                ", ".join(c["codecs"]) + f" ({setting})",
                ", ".join(c["models"]) or "-",
                f"x{c['sr_scale']}: {', '.join(c['sr_models'])}" if c["sr_scale"] else "-",
                f"restoration-lab {p['package']}, {p['machine'].get('system', p['machine'].get('arch'))}, "
                f"{p['machine']['cpus']} CPUs "
                f"({p['machine'].get('cpu', 'model not recorded')}), "
                f"{p['executor']} x{p['workers']}",
                json.dumps(p["codecs"]),
            ]
        )
    return rows


RUN_HEADERS = [
    "run",
    "created (UTC)",
    "status",
    "rows",
    "computed",
    "reused",
    "seconds",
    "codecs",
    "models",
    "super-resolution",
    "machine",
    "codec libraries",
]
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
    "margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}"
    "th{background:#f3f3f3}h2{margin-top:2em}"
)


def write_html(report: Report, path) -> Path:
    """One file: every figure (plotly.js inlined once), the tables and the runs' provenance."""
    path = Path(path)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Restoration Lab benchmark report</title>"
        f"<style>{_STYLE}</style></head><body><h1>Restoration Lab benchmark report</h1>",
        f"<p>{len(report.rows)} rows from run(s) {', '.join(str(r['id']) for r in report.runs)}; data sets: "
        f"{html.escape(', '.join(sorted({r['dataset'] for r in report.rows})))}.</p>",
        "<h2>Runs and provenance</h2>",
        _table(RUN_HEADERS, _run_rows(report.runs)),
    ]
    first = True

    def figure(name):
        nonlocal first
        text = report.figures[name].to_html(full_html=False, include_plotlyjs="inline" if first else False)
        first = False
        return text

    parts.append("<h2>Rate-distortion</h2>")
    parts.extend(figure(name) for name in report.figures if name.startswith("rd_"))
    parts += [
        "<h2>BD-rate (bytes at equal quality)</h2>",
        f"<p>{dashboards.BD_SIGNS[0].upper()}{dashboards.BD_SIGNS[1:]}. Akima interpolation of log-rate over "
        "quality on the per-setting mean curves; bytes per image is the BD-rate applied to the anchor's mean "
        "bytes over the overlapping quality range.</p>",
        _table(dashboards.BD_HEADERS, report.bd),
        "<h2>Per format</h2>",
        figure("formats"),
        figure("heatmap"),
        "<h2>Per data set and method (means over images and settings)</h2>",
        _table(dashboards.METHOD_HEADERS, report.methods),
    ]
    if report.panel:
        parts += ["<h2>Blind panel</h2>", _table(panel.SCORE_HEADERS, report.panel)]
    parts.append("</body></html>")
    with _open(path) as handle:
        handle.write("\n".join(parts))
    return path


def write_all(report: Report, folder=None, stem: str = "bench") -> dict[str, Path]:
    folder = Path(folder) if folder else scratch.folder("report-")
    return {
        "csv": write_csv(report.rows, folder / f"{stem}.csv"),
        "json": write_json(report, folder / f"{stem}.json"),
        "html": write_html(report, folder / f"{stem}.html"),
    }
