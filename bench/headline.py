"""Write docs/headline.md and its rate-distortion chart from a stored benchmark run.

    python -m restoration bench ../shared/data/bench/Kodak24 --bpp 0.25,0.375,0.5,0.625,0.75,1,1.5,2 \
        --models default --db runs/headline.sqlite
    python bench/headline.py --db runs/headline.sqlite [--run ID] [--out docs/headline.md] [--png docs/headline_rd.png]

The chart is the report's figure (``restoration.benchmark.charts.rd_figure``) exported with kaleido
when it is installed (it drives a local Chromium: set BROWSER_PATH=/usr/bin/chromium), else its
traces drawn with matplotlib.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration.benchmark import (  # noqa: E402
    charts,
    dashboards,
    report,  # noqa: E402
)
from restoration.benchmark.store import Store  # noqa: E402


def write_png(rows: list[dict], path: Path) -> str:
    figure = charts.rd_figure(rows, "psnr")
    figure.update_layout(title="Kodak24: PSNR vs bpp per codec (mean of 24 images per target); dashed: + restoration")
    try:
        import kaleido  # noqa: F401
    except ImportError:
        kaleido = None
    if kaleido is not None:
        os.environ.setdefault("BROWSER_PATH", "/usr/bin/chromium")
        figure.write_image(path, width=1000, height=600, scale=1.5)
        return "plotly + kaleido"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6), dpi=150)
    for trace in figure.data:
        ax.plot(
            trace.x,
            trace.y,
            "--" if trace.line.dash == "dash" else "-",
            marker="d" if trace.marker.symbol == "diamond" else "o",
            color=trace.line.color,
            label=trace.name,
        )
    ax.set(xlabel="bits per pixel", ylabel=figure.layout.yaxis.title.text, title=figure.layout.title.text)
    ax.grid(alpha=0.3)
    ax.legend(ncol=2, fontsize=8)
    fig.savefig(path, bbox_inches="tight")
    return "matplotlib"


def fmt(value, digits=2, unit=""):
    return "—" if value is None else f"{value:.{digits}f}{unit}"


def chosen_run(db: Path, run_id: int | None) -> tuple[dict, list[dict]]:
    """The run to report (the first finished one unless named) and every finished run like it."""
    with Store(db, create=False) as store:
        runs = store.runs()
    run = next(r for r in runs if r["id"] == run_id) if run_id else next(r for r in runs if r["status"] == "finished")
    same = [
        r for r in runs if r["config"] == run["config"] and r["images"] == run["images"] and r["status"] == "finished"
    ]
    return run, same


def intro_lines(args, run: dict, model: str | None, built, renderer: str) -> list[str]:
    c = run["config"]
    shas = sorted({r["model_sha256"] for r in built.rows if r["kind"] == "restore" and r["model_sha256"]})
    weights = "" if not shas else f" (weights sha256 `{shas[0][:16]}…`)" if len(shas) == 1 else f" (weights {shas})"
    lossy = [r for r in built.rows if r["kind"] == "codec" and r["setting"] != "lossless"]
    run_option = f" --run {args.run}" if args.run else ""
    return [
        "# Headline: six codecs and restoration on Kodak24",
        "",
        f"Made with `{args.command}`" if args.command else "",
        "",
        f"Then `python bench/headline.py --db {args.db}{run_option}` wrote this page and the chart ({renderer}).",
        "",
        f"{len(run['images'])} images, codecs {', '.join(c['codecs'])}, "
        + (
            f"bpp targets {', '.join(f'{b:g}' for b in c['bpps'])}"
            if c["bpps"]
            else f"qualities {c['qualities'] or 'each codec’s default sweep'}"
        )
        + f"; {len(lossy)} lossy codec rows, each also restored by `{model}`"
        + weights
        + ".",
    ]


def run_time_lines(args, run: dict, same: list[dict]) -> list[str]:
    p = run["provenance"]
    machine, libraries = p["machine"], p["libraries"]
    return [
        "",
        "## Run time",
        "",
        "| run | rows | computed | reused | seconds | status |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r['id']} | {r['rows']} | {r['computed']} | {r['reused']} | {fmt(r['seconds'], 1)} | {r['status']} |"
            for r in same
        ],
        "",
        "Seconds: the runner's own time, from the plan to the last stored row (images already loaded). "
        + args.timing_note,
        "",
        f"Machine: {machine['system']}, {machine['cpus']} CPU cores "
        f"({machine.get('cpu', 'model not recorded')}){args.machine_note}, executor `{p['executor']}` with "
        f"{p['workers']} workers; restoration-lab {p['package']}, "
        f"codecs {', '.join(f'{k} {v}' for k, v in p['codecs'].items())}, "
        f"pillow-avif-plugin {libraries['pillow-avif-plugin']}, pillow-jxl-plugin {libraries['pillow-jxl-plugin']}, "
        f"torch {libraries['torch']}. Date {p['date']}.",
    ]


def bd_lines(png: Path, model: str | None, curves, table: dict) -> list[str]:
    lines = [
        "",
        "## Rate-distortion",
        "",
        f"![PSNR vs bpp]({png.name})",
        "",
        "Each point: bpp and PSNR-RGB averaged over the images for one target; dashed: the same decoded "
        f"images after `{model}`. PNG (lossless) is left out of the chart.",
        "",
        "## BD-rate between codecs (anchor JPEG)",
        "",
        "Bytes at equal quality, Akima interpolation of log-rate over quality (the `bjontegaard` package) on the "
        "averaged curves; negative: fewer bytes than the anchor.",
        "",
        "| codec | BD-rate (PSNR) | BD-PSNR dB | BD-rate (MS-SSIM) | overlap (PSNR) |",
        "|---|---|---|---|---|",
    ]
    for codec in [cv.label for cv in curves if cv.model is None and cv.codec != "jpeg"]:
        psnr, ms = table.get((codec, "psnr")), table.get((codec, "ms_ssim"))
        lines.append(
            f"| {codec} | {fmt(psnr and psnr[4], 1, ' %')} | {fmt(psnr and psnr[5], 2)} | "
            f"{fmt(ms and ms[4], 1, ' %')} | {fmt(psnr and psnr[7], 2)} |"
        )
    return lines


def savings_lines(model: str | None, curves, table: dict) -> list[str]:
    lines = [
        "",
        f"## What `{model}` saves at equal PSNR",
        "",
        "Each codec against itself plus restoration: BD-rate, and the mean bytes per image saved over the "
        "PSNR range both curves cover.",
        "",
        "| codec | BD-rate (PSNR) | bytes saved / image | BD-PSNR dB (gain at equal rate) | BD-rate (MS-SSIM) | overlap |",
        "|---|---|---|---|---|---|",
    ]
    for curve in [cv for cv in curves if cv.model]:
        psnr, ms = table.get((curve.label, "psnr")), table.get((curve.label, "ms_ssim"))
        lines.append(
            f"| {dashboards.codec_label(curve.codec)} | {fmt(psnr and psnr[4], 1, ' %')} | "
            f"{'—' if not psnr or psnr[6] is None else f'{psnr[6]:,}'} | {fmt(psnr and psnr[5], 2)} | "
            f"{fmt(ms and ms[4], 1, ' %')} | {fmt(psnr and psnr[7], 2)} |"
        )
    return lines


def gain_lines(model: str | None, curves) -> list[str]:
    """The model's PSNR gain at each target, per codec (absent when nothing was restored)."""
    plain = {cv.codec: cv for cv in curves if cv.model is None}
    restored = [cv for cv in curves if cv.model and cv.codec in plain]
    if not restored:
        return []
    settings = [p["setting"] for p in plain[restored[0].codec].points]
    lines = [
        "",
        "BD-rate averages log-rate, so the many small files at low rates weigh as much as the few "
        "large ones; bytes saved averages bytes, so the high rates dominate it. Where they disagree "
        "in sign, the model helps at low rates and costs PSNR at high ones. PSNR gain of "
        f"`{model}` at each target (dB, mean of the images):",
        "",
        "| codec | " + " | ".join(settings) + " |",
        "|---" * (len(settings) + 1) + "|",
    ]
    for curve in restored:
        before = {p["setting"]: p["psnr"] for p in plain[curve.codec].points}
        gains = [
            None if before.get(p["setting"]) is None or p["psnr"] is None else p["psnr"] - before[p["setting"]]
            for p in curve.points
        ]
        lines.append(
            f"| {dashboards.codec_label(curve.codec)} | "
            + " | ".join("—" if g is None else f"{g:+.2f}" for g in gains)
            + " |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--run", type=int, help="the run to report (default: the first finished one)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "headline.md")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "headline_rd.png")
    parser.add_argument("--command", default="", help="the bench command that made the run, quoted in the doc")
    parser.add_argument("--machine-note", default="", help="e.g. what else ran on the machine meanwhile")
    parser.add_argument("--timing-note", default="", help="a sentence under the run-time table")
    args = parser.parse_args()

    run, same = chosen_run(args.db, args.run)
    built = report.build(args.db, [run["id"]], bd_metrics=("psnr", "ms_ssim"))
    curves = dashboards.curves(built.rows)
    args.png.parent.mkdir(parents=True, exist_ok=True)
    renderer = write_png(built.rows, args.png)
    model = run["config"]["models"][0] if run["config"]["models"] else None
    table = {(row[2], row[3]): row for row in built.bd}
    lines = (
        intro_lines(args, run, model, built, renderer)
        + run_time_lines(args, run, same)
        + bd_lines(args.png, model, curves, table)
        + savings_lines(model, curves, table)
        + gain_lines(model, curves)
        + [
            "",
            "Full tables, the per-format figures and the provenance: "
            f"`python -m restoration report --db {args.db} --run {run['id']} --out report.html`.",
            "",
        ]
    )
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
