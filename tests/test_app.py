"""Launch the real app on 127.0.0.1 and call its named endpoints with gradio_client."""

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
import gradio as gr  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from live_app import serving  # noqa: E402

from restoration.core.errors import UserInputError  # noqa: E402
from ui.common import user_facing  # noqa: E402


@pytest.fixture(scope="module")
def client():
    import app

    with serving(app.build()) as url:
        yield Client(url, verbose=False)


@pytest.fixture(scope="module")
def chelsea_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "chelsea.png"
    Image.fromarray(skimage.data.chelsea()[:200, :256]).save(path)
    return path


@pytest.mark.slow
def test_named_endpoints(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    # Exactly the user-facing jobs; the page's own helper events (zoom, examples, chart redraws) are private.
    assert names == {
        "/compress",
        "/sweep",
        "/compare",
        "/degrade",
        "/restore",
        "/upscale",
        "/batch",
        "/bench",
        "/report",
        "/runs",
        "/panel_pair",
        "/panel_vote",
        "/panel_scores",
    }


def test_compress_endpoint_returns_real_file_and_metrics(client, chelsea_png):
    encoded, decoded, row = client.predict(
        handle_file(str(chelsea_png)), "webp", json.dumps({"quality": 40}), None, None, api_name="/compress"
    )
    data = Path(encoded).read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert row["bytes"] == len(data) and row["codec"] == "webp" and row["params"]["quality"] == 40
    assert 25 < row["psnr"] < 50 and 0.5 < row["ssim"] <= 1
    assert np.asarray(Image.open(decoded)).shape == (200, 256, 3)


def test_compress_endpoint_target_bpp(client, chelsea_png):
    _, _, row = client.predict(handle_file(str(chelsea_png)), "jpeg", "{}", 0.5, None, api_name="/compress")
    assert row["target_met"] is True and row["bpp"] <= 0.5


def test_sweep_endpoint_rows(client, chelsea_png):
    figure, rows, bd = client.predict(
        handle_file(str(chelsea_png)), ["jpeg", "png"], "10,60", "", "psnr", api_name="/sweep"
    )
    assert bd["data"] == [] or all(row[0] != "JPEG" for row in bd["data"])  # PNG is lossless: one point
    assert [(r["codec"], r["params"].get("quality")) for r in rows] == [("jpeg", 10), ("jpeg", 60), ("png", None)]
    assert rows[0]["bpp"] < rows[1]["bpp"] and rows[0]["psnr"] < rows[1]["psnr"]
    assert rows[2]["psnr"] == "inf"
    assert "JPEG" in figure["plot"]


def test_sweep_on_a_perceptual_axis_computes_it_and_gives_bd_rate(client, chelsea_png):
    """FLIP (lower is better) as the quality axis: computed for every point, and WebP's BD-rate
    against JPEG on it comes out negative (fewer bytes for the same perceived difference)."""
    figure, rows, bd = client.predict(
        handle_file(str(chelsea_png)), ["jpeg", "webp"], "20,40,60,80", "", "flip", api_name="/sweep"
    )
    assert all(isinstance(r["flip"], float) for r in rows)
    assert bd["headers"][1] == "BD-rate vs JPEG on FLIP"
    ((label, rate, delta, points),) = bd["data"]
    assert label == "WebP" and points == 4 and rate.endswith("%") and float(rate[:-2]) < 0 and delta > 0


@pytest.mark.slow
def test_compare_endpoint_with_all_settings(client, chelsea_png):
    from restoration import codecs

    defaults = [p.default for c in codecs.CODECS.values() for p in c.params]
    table, *_ = client.predict(
        handle_file(str(chelsea_png)), ["jpeg", "png"], "settings", 0.5, True, *defaults, api_name="/compare"
    )
    assert [row[0] for row in table["data"]] == ["jpeg", "png"]
    score = table["headers"].index("SSIMU2")  # the on-demand perceptual metrics, asked for
    assert 30 < table["data"][0][score] < 100 and table["data"][1][score] == 100.0
    flip = table["headers"].index("FLIP")
    assert 0 < table["data"][0][flip] < 0.3 and table["data"][1][flip] == 0.0


@pytest.mark.parametrize(
    "codec, params, message",
    [
        ("nosuch", "{}", "unknown codec"),
        ("jpeg", '{"quality": 500}', "outside"),
        ("jpeg", "not json", "JSON"),
    ],
)
def test_bad_requests_get_clear_errors_and_server_survives(client, chelsea_png, codec, params, message):
    with pytest.raises(Exception, match=message):
        client.predict(handle_file(str(chelsea_png)), codec, params, None, None, api_name="/compress")
    _, _, row = client.predict(handle_file(str(chelsea_png)), "png", "{}", None, None, api_name="/compress")
    assert row["psnr"] == "inf"


def test_non_image_upload_is_refused_clearly(client, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    with pytest.raises(Exception, match="not a recognised image format"):
        client.predict(handle_file(str(text)), "jpeg", "{}", None, None, api_name="/compress")


def test_compare_endpoint_at_equal_quality_recommends_a_codec(client, chelsea_png):
    from restoration import codecs

    defaults = [p.default for c in codecs.CODECS.values() for p in c.params]
    table, *_, status = client.predict(
        handle_file(str(chelsea_png)), ["jpeg", "webp"], "quality:psnr", 34, False, *defaults, api_name="/compare"
    )
    psnr, target = table["headers"].index("PSNR dB"), table["headers"].index("target")
    assert all(row[psnr] >= 34 and row[target] == "met" for row in table["data"])
    assert status.split(" codec(s). ")[1].startswith("Smallest file at PSNR dB ≥ 34:")


def test_restore_endpoint_is_told_the_codec_and_strength(client, chelsea_png):
    """/degrade makes an AVIF (shown as a PNG); /restore is told its codec and strength (as the tab
    fills them from the chain), and each quality-aware model's row says what it made of them."""
    degraded, applied = client.predict(
        handle_file(str(chelsea_png)), "chain", "jpeg", 10, 0, 25, 1.0, 2, "avif:q=30", api_name="/degrade"
    )
    assert applied["codec_file"] == "degraded.avif" and degraded.endswith(".png")
    models = ["deeprecnet-qa-codecs", "dncnn"]
    *_, note = client.predict(handle_file(degraded), None, models, 0, False, 30, "avif", api_name="/restore")
    assert "Codec of the input: AVIF" in note
    assert "deeprecnet-qa-codecs: told avif file, strength 30" in note


@pytest.mark.parametrize(
    "problem", [UserInputError("too big"), gr.Error("a data: URL is refused"), ValueError("a bug")]
)
def test_an_error_keeps_nothing_of_the_request_that_raised_it(problem):
    """The page's error carries no other exception: one it was raised from would keep the
    request's frames, and every array in them, for as long as Gradio keeps the error."""

    @user_facing
    def work():
        arrays = [np.zeros((64, 64, 3), np.uint8)]  # what a request holds when it fails
        assert arrays
        raise problem

    with pytest.raises(gr.Error) as info:
        work()
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert getattr(problem, "message", str(problem)) in info.value.message
