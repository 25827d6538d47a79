"""Bad and unusual input through every restore, degrade and upscale entry: the live app's API
(gradio_client) and the CLI (``cli.main`` in-process). A bad input gets one clear line (a gr.Error
message; exit status 2 and one ``error:`` line), an unusual but valid one works, the server keeps
serving, and nothing is written outside temporary folders and the chosen output folder."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from restoration.core import image as imagelib

gradio_client = pytest.importorskip("gradio_client")
from cli_run import run_cli  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from live_app import serving  # noqa: E402

BASE = np.ascontiguousarray(skimage.data.astronaut()[100:124, 180:212])  # 24x32


def _encode(image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header declares width x height."""
    png = _encode(BASE[:8, :8], "PNG")
    chunk = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _files() -> dict[str, bytes]:
    png, palette = _encode(BASE, "PNG"), Image.fromarray(BASE).convert("P")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, shown rotated
    return {
        "empty.png": b"",
        "truncated.png": png[: len(png) // 2],
        "truncated.jpg": _encode(BASE, "JPEG")[:400],
        "notes.png": b"this is not an image\n" * 4,
        "bomb.png": _png_claiming(100_000, 100_000),
        "over_limit.png": _png_claiming(10_000, 5_000),
        "not_images.zip": _zip({"a.txt": b"hello", "b.csv": b"1,2"}),
        "images.zip": _zip({"a.png": png}),
        "tall.png": _encode(np.resize(BASE, (5000, 1, 3)), "PNG"),
        "wide.png": _encode(np.resize(BASE, (1, 5000, 3)), "PNG"),
        "one.png": _encode(BASE[:1, :1], "PNG"),
        "deep16.png": _encode(BASE[..., 0].astype(np.uint16) * 257, "PNG"),
        "cmyk.jpg": _encode(Image.fromarray(BASE).convert("CMYK"), "JPEG", quality=90),
        "palette.png": _encode(palette, "PNG"),
        "alpha.png": _encode(np.dstack([BASE, np.full(BASE.shape[:2], 128, np.uint8)]), "PNG"),
        "grey.png": _encode(BASE[..., 1], "PNG"),
        "rotated.jpg": _encode(BASE, "JPEG", exif=exif, quality=90),
        "animated.gif": _encode(palette, "GIF", save_all=True, append_images=[palette.rotate(180)]),
    }


REFUSED = {  # file -> what its one-line message says, on every path
    "empty.png": "the file is empty",
    "truncated.png": "truncated or corrupt",
    "truncated.jpg": "truncated or corrupt",
    "notes.png": "not a recognised image format",
    "bomb.png": "RESTORATION_MAX_PIXELS",
    "over_limit.png": "10000x5000 is 50,000,000 pixels",
    "not_images.zip": "a zip archive",
    "images.zip": "a zip archive",
    # A side under 8 px (core.image.MIN_SIDE) is refused at the input door, on every path.
    "tall.png": "1x5000 is too small; each side needs at least 8 px",
    "wide.png": "5000x1 is too small",
    "one.png": "1x1 is too small",
}
ENDPOINTS = ("restore", "degrade", "upscale", "upscale_hr")
CASES = [(name, endpoint) for name in _files() for endpoint in ENDPOINTS]


def expected_error(name: str, endpoint: str) -> str | None:
    return REFUSED.get(name)


def expected_shape(path: Path, endpoint: str) -> tuple:
    h, w, _ = imagelib.load(path).shape
    return (2 * h, 2 * w, 3) if endpoint == "upscale" else (h, w, 3)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    for name, data in _files().items():
        (folder / name).write_bytes(data)
    return folder


# -- the API of the live app -------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The server's working folder, which must stay empty: outputs go to temporary folders only."""
    folder = tmp_path_factory.mktemp("server-cwd")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        yield folder


@pytest.fixture(scope="module")
def client(workdir):
    import app

    with serving(app.build()) as url:
        yield Client(url, verbose=False)


def call_api(client, endpoint: str, path: Path):
    upload = handle_file(str(path))
    if endpoint == "restore":
        return client.predict(upload, None, ["gaussian", "median"], 0, api_name="/restore")
    if endpoint == "degrade":
        return client.predict(upload, "codec", "jpeg", 10, 0, 25, 1.0, api_name="/degrade")
    return client.predict(upload, 2, ["bicubic-x2"], endpoint == "upscale_hr", api_name="/upscale")


def written_files(endpoint: str, result) -> list[str]:
    return [result[0]] if endpoint == "degrade" else list(result[2])


@pytest.mark.parametrize("name, endpoint", CASES)
def test_api(client, inputs, name, endpoint):
    message = expected_error(name, endpoint)
    if message:
        with pytest.raises(Exception, match=message) as info:
            call_api(client, endpoint, inputs / name)
        assert "\n" not in str(info.value) and "/tmp" not in str(info.value)  # the file's name, not its path
        return
    files = written_files(endpoint, call_api(client, endpoint, inputs / name))
    assert np.asarray(Image.open(files[0])).shape == expected_shape(inputs / name, endpoint)


@pytest.mark.parametrize(
    "endpoint, args, message",
    [
        ("/restore", ("IMG", None, ["nosuch"], 0), "not in the list of choices"),
        ("/restore", ("IMG", None, ["gaussian"], -3), "less than minimum value 0"),
        ("/upscale", ("IMG", 2, ["nosuch"], False), "not in the list of choices"),
        ("/upscale", ("IMG", 3, ["bicubic-x2"], False), "not in the list of choices"),
        ("/upscale", ("IMG", 2, ["bicubic-x4"], False), "upscales x4, not x2"),
        ("/degrade", ("IMG", "codec", "jpeg", 500, 0, 25, 1.0), "greater than maximum value 100"),
        ("/degrade", ("IMG", "codec", "jpeg", 0, 0, 25, 1.0), "less than minimum value 1"),
        ("/degrade", ("IMG", "noise", "jpeg", 10, 0, 500, 1.0), "greater than maximum value 75"),
        ("/degrade", ("IMG", "codec", "jpeg", 10, -1, 25, 1.0), "the target size must be positive"),
    ],
)
def test_api_bad_settings(client, inputs, endpoint, args, message):
    args = [handle_file(str(inputs / "alpha.png")) if a == "IMG" else a for a in args]
    with pytest.raises(Exception, match=message) as info:
        client.predict(*args, api_name=endpoint)
    assert "\n" not in str(info.value)


def test_server_still_serves_and_wrote_nothing_in_its_folder(client, inputs, workdir):
    for endpoint in ENDPOINTS:
        assert written_files(endpoint, call_api(client, endpoint, inputs / "alpha.png"))
    assert list(workdir.iterdir()) == []


def test_upload_size_limit_is_a_launch_option(monkeypatch):
    import app

    assert app.launch_options()["max_file_size"] == 50 * 2**20
    monkeypatch.setenv("RESTORATION_MAX_UPLOAD_MB", "5")
    assert app.launch_options()["max_file_size"] == 5 * 2**20


# -- the CLI -----------------------------------------------------------------------------------

CLI_ARGS = {
    "restore": ["restore", "{f}", "--task", "denoise", "--model", "gaussian"],
    "degrade": ["degrade", "{f}", "--codec", "jpeg", "--quality", "10"],
    "upscale": ["upscale", "{f}", "--scale", "2", "--model", "bicubic-x2"],
    "upscale_hr": ["upscale", "{f}", "--scale", "2", "--model", "bicubic-x2", "--from-hr"],
}


def assert_one_error_line(code: int, err: str, message: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


@pytest.mark.parametrize("name, endpoint", CASES)
def test_cli(capsys, tmp_path, inputs, name, endpoint):
    out = tmp_path / "out"
    args = [a.format(f=inputs / name) for a in CLI_ARGS[endpoint]]
    code, _, err = run_cli(capsys, *args, "--out-dir", out)
    message = expected_error(name, endpoint)
    if message:
        assert_one_error_line(code, err, message)
        assert not out.exists()
        return
    assert code == 0, err
    written = list(out.iterdir())
    assert len(written) == 1 and np.asarray(Image.open(written[0])).shape == expected_shape(inputs / name, endpoint)


@pytest.mark.parametrize(
    "args, message",
    [
        (["restore", "IMG", "--task", "denoise", "--model", "nosuch"], "unknown model 'nosuch'"),
        (
            ["restore", "IMG", "--task", "denoise", "--model", "gaussian", "--sigma", "-3"],
            "sigma must be from 0 to 255",
        ),
        (["upscale", "IMG", "--scale", "2", "--model", "nosuch"], "unknown model 'nosuch'"),
        (["upscale", "IMG", "--scale", "3"], "invalid choice: 3"),
        (["degrade", "IMG", "--codec", "jpeg", "--quality", "500"], "quality: 500 is outside [1, 100]"),
        (["degrade", "IMG", "--codec", "jpeg", "--quality", "-5"], "quality: -5 is outside [1, 100]"),
        (["degrade", "IMG", "--noise", "500"], "noise sigma 500.0 is outside [0, 255]"),
        (["degrade", "IMG", "--blur", "-1"], "blur sigma -1.0 is outside [0, 50]"),
        (["degrade", "IMG", "--downscale", "0"], "downscale factor 0 is outside [1, 16]"),
    ],
)
def test_cli_bad_settings(capsys, tmp_path, inputs, args, message):
    args = [str(inputs / "alpha.png") if a == "IMG" else a for a in args]
    code, _, err = run_cli(capsys, *args, "--out-dir", tmp_path / "out")
    assert_one_error_line(code, err, message)
    assert not (tmp_path / "out").exists()


def test_cli_folder_skips_non_images_by_name(capsys, tmp_path, inputs):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.png").write_bytes((inputs / "alpha.png").read_bytes())
    (folder / "notes.txt").write_text("hello")
    (folder / "photos.zip").write_bytes((inputs / "images.zip").read_bytes())
    code, _, err = run_cli(
        capsys, "upscale", folder, "--scale", "2", "--model", "bicubic-x2", "--out-dir", tmp_path / "o"
    )
    assert code == 0 and [p.name for p in (tmp_path / "o").iterdir()] == ["a_bicubic-x2.png"]
    assert err.splitlines() == [
        f"note: {folder / 'a.png'}: transparency composited over white",
        f"skipped {folder / 'notes.txt'}: not an image file",
        f"skipped {folder / 'photos.zip'}: not an image file",
    ]
    (folder / "a.png").unlink()
    code, _, err = run_cli(capsys, "restore", folder, "--task", "denoise", "--out-dir", tmp_path / "o2")
    assert_one_error_line(code, err, "no images found in")
    assert "notes.txt, photos.zip" in err and not (tmp_path / "o2").exists()


def test_benchmark_inputs_name_a_zip_without_images(inputs):
    """The benchmark runner (Dashboards tab, `bench`) is what takes zip archives."""
    from restoration.benchmark import inputs as bench_inputs
    from restoration.core.errors import UserInputError

    assert [i.name for i in bench_inputs.collect([inputs / "images.zip"])] == ["a"]
    with pytest.raises(UserInputError, match="not_images.zip: the zip archive holds no image files"):
        bench_inputs.collect([inputs / "images.zip", inputs / "not_images.zip"])


def test_benchmark_input_messages_name_the_file_not_the_server_folder(tmp_path):
    """An upload to the Dashboards tab lives in Gradio's temporary folder: its message names the file."""
    from restoration.benchmark import inputs as bench_inputs
    from restoration.core.errors import UserInputError

    (tmp_path / "bad.png").write_bytes(b"this is not an image")
    (tmp_path / "bad.zip").write_bytes(b"nor is this a zip archive")
    for name, message in [("bad.png", "not a recognised image format"), ("bad.zip", "not a valid zip archive")]:
        with pytest.raises(UserInputError) as caught:
            bench_inputs.collect([tmp_path / name])
        assert str(caught.value).startswith(f"{name}: {message}") and str(tmp_path) not in str(caught.value)
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(png, "PNG")
    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as archive:
        archive.writestr("x.png", b"this is not an image")  # refused from its header
        archive.writestr("y.png", png.getvalue()[:2000])  # a good header, then cut short: refused decoding
    for member, message in [("x.png", "not a recognised image format"), ("y.png", "the image data is truncated")]:
        with zipfile.ZipFile(tmp_path / "one.zip", "w") as archive:
            archive.writestr(member, zipfile.ZipFile(tmp_path / "photos.zip").read(member))
        with pytest.raises(UserInputError) as caught:
            bench_inputs.collect([tmp_path / "one.zip"])
        assert str(caught.value).startswith(f"one.zip:{member}: {message}")  # the member named once


@pytest.mark.slow
def test_request_bodies_over_the_limit_are_refused_and_the_server_keeps_serving(monkeypatch):
    """A JSON call's body (an image as a data: URL, deeply nested JSON) has a limit too: 413 by
    its declared length, and 413 while it streams when it declares none; uploads keep Gradio's."""
    import http.client

    from live_app import launch

    import app

    monkeypatch.setenv("RESTORATION_MAX_BODY_MB", "1")
    options = app.launch_options()
    demo = app.build()
    port = launch(demo, app_kwargs=options["app_kwargs"])
    try:

        def post(body, chunked=False):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Content-Type": "application/json"}
            if chunked:
                connection.request(
                    "POST", "/gradio_api/queue/join", body=iter([body]), headers=headers, encode_chunked=True
                )
            else:
                connection.request("POST", "/gradio_api/queue/join", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()

        status, text = post(b"[" * (2 * 2**20))
        assert status == 413 and b"over 1 MB" in text
        assert post(b"{" + b" " * (2 * 2**20) + b"}", chunked=True)[0] == 413
        assert post(b'{"data": [], "fn_index": 99999, "session_hash": "x"}')[0] != 413  # small: reaches the app
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/")
        assert connection.getresponse().status == 200
    finally:
        demo.close()
