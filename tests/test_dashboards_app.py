"""The Dashboards tab's named endpoints (/bench, /report, /runs, /panel_*) against a live app."""

import os
from pathlib import Path

import pytest
import skimage.data
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from live_app import serving  # noqa: E402

from restoration.lab import dashboards as lab  # noqa: E402


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("db") / "bench.sqlite"


@pytest.fixture(scope="module")
def client(db):
    import app

    before = os.environ.get("RESTORATION_DB")
    os.environ["RESTORATION_DB"] = str(db)  # read by every handler at call time
    try:
        with serving(app.build()) as url:
            yield Client(url, verbose=False)
    finally:
        if before is None:
            os.environ.pop("RESTORATION_DB", None)
        else:
            os.environ["RESTORATION_DB"] = before


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("crops")
    paths = [folder / "astro.png", folder / "coffee.png"]
    Image.fromarray(skimage.data.astronaut()[100:276, 150:326]).save(paths[0])
    Image.fromarray(skimage.data.coffee()[50:226, 200:376]).save(paths[1])
    return paths


def test_dashboard_endpoints_are_named(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/bench", "/report", "/runs", "/panel_pair", "/panel_vote", "/panel_scores"} <= names


def test_bench_then_report(client, crops, db):
    summary, runs = client.predict(
        [handle_file(str(p)) for p in crops], False, ["jpeg", "png"], "20,60", "", [], 0, [], api_name="/bench"
    )
    assert summary["rows"] == 2 * 3 and summary["computed"] == 6 and summary["reused"] == 0
    assert db.is_file() and runs["value"] == [str(summary["run"])]  # the run list, updated and selected
    again, _ = client.predict(
        [handle_file(str(p)) for p in crops], False, ["jpeg", "png"], "20,60", "", [], 0, [], api_name="/bench"
    )
    assert again["reused"] == 6 and again["computed"] == 0 and again["run"] != summary["run"]

    *rd, bd, formats, heatmap, methods, files, selection, note = client.predict(
        [str(summary["run"])], api_name="/report"
    )
    panels = dict(zip([name for name, *_ in lab.rd_panels()], rd))  # one per BD metric of the table
    rd_psnr = panels["psnr"]
    assert "JPEG" in panels["ssim"]["plot"] and "JPEG" in panels["ms_ssim"]["plot"]
    assert "tick the perceptual metrics" in panels["ssimulacra2"]["plot"]  # not measured: the chart says why
    assert "your stored runs" in note
    assert selection["rows"] == 6 and selection["datasets"] == ["upload"]
    assert "JPEG" in rd_psnr["plot"] and "PNG" in formats["plot"]
    assert [row[1] for row in methods["data"]] == ["JPEG", "PNG"]
    html = Path(next(f for f in files if f.endswith(".html"))).read_text()
    assert "<script src=" not in html and "Plotly" in html and "Per data set and method" in html
    assert sum(1 for _ in open(next(f for f in files if f.endswith(".csv")))) == 1 + 6


def test_report_errors_are_clear(client):
    with pytest.raises(Exception, match="no run 999"):
        client.predict(["999"], api_name="/report")
    with pytest.raises(Exception, match="codec"):
        client.predict([], True, [], "", "", [], 0, [], api_name="/bench")


def test_blind_panel_pair_vote_scores(client):
    models = ["bilateral", "gaussian"]
    given, a, b, pair_id, token, note, view = client.predict(
        None, "astronaut", "restoration", models, "jpeg", 15, 4, api_name="/panel_pair"
    )
    assert pair_id >= 1 and "bilateral" not in note and "gaussian" not in note
    # The compare view shows A against B under those names only; its files are named by content.
    assert (view["a_label"], view["b_label"]) == ("A", "B") and "bilateral" not in str(view)
    assert all(Image.open(p).size == (256, 256) for p in (given, a, b))
    with pytest.raises(Exception, match="token"):
        client.predict(pair_id, "forged", "A", 4, None, api_name="/panel_vote")
    note = client.predict(pair_id, token, "A", 4, None, api_name="/panel_vote")
    assert "recorded" in note  # and no score table with it: it would tell which model was A
    with pytest.raises(Exception, match="has its vote already"):
        client.predict(pair_id, token, "B", None, None, api_name="/panel_vote")
    assert client.predict(api_name="/panel_scores")["data"] in ([], [[]])  # hidden until enough votes
    with pytest.raises(Exception, match="preference or a score"):
        client.predict(pair_id, token, None, None, None, api_name="/panel_vote")
