"""Super-resolution foundation: MATLAB imresize, the SR protocol (Set5/Set14 bicubic numbers),
the sr registry entries, the ``upscale`` CLI contract and the app's ``/upscale`` endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from restoration import cli, metrics
from restoration.core import image as imagelib
from restoration.core import resize
from restoration.core.errors import UserInputError
from restoration.models import restorers, runtime
from restoration.pipelines import sr

BENCH = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "bench"
SQUARE = np.arange(64, dtype=np.float64).reshape(8, 8)  # MATLAB: reshape(0:63, 8, 8)'

# -- MATLAB imresize ---------------------------------------------------------------------------


def test_bicubic_downscale_matches_matlab_output():
    # imresize(reshape(0:63,8,8)', [4 4]) and [2 2], 'bicubic', antialiasing on, run in MATLAB
    # (the reference answers of sanghyun-son/bicubic_pytorch, test_answer/down_down_x{2,4}_aa.mat).
    x2 = np.array(
        [
            [4.042969, 6.082031, 8.105469, 10.144531],
            [20.355469, 22.394531, 24.417969, 26.457031],
            [36.542969, 38.582031, 40.605469, 42.644531],
            [52.855469, 54.894531, 56.917969, 58.957031],
        ]
    )
    x4 = np.array([[12.383789, 16.631836], [46.368164, 50.616211]])
    np.testing.assert_allclose(resize.imresize(SQUARE, 1 / 2), x2, atol=1e-6)
    np.testing.assert_allclose(resize.imresize(SQUARE, 1 / 4), x4, atol=1e-6)


def test_downscale_without_antialiasing_matches_octave():
    small = np.arange(16, dtype=np.float64).reshape(4, 4)
    np.testing.assert_allclose(
        resize.imresize(small, 0.5, "bicubic", antialiasing=False), [[2.1875, 4.3125], [10.6875, 12.8125]]
    )
    np.testing.assert_allclose(resize.imresize(small, 0.5, "bilinear", antialiasing=False), [[2.5, 4.5], [10.5, 12.5]])


def test_bicubic_upscale_hand_computed():
    # x2: output 1 samples input position u = 1/2 + 0.25 = 0.75 (1-based). Keys a=-0.5 weights at
    # distances 1.75, 0.75, 0.25, 1.25 are -0.0234375, 0.2265625, 0.8671875, -0.0703125 on inputs
    # (symmetric padding) 2, 1, 1, 2: 0.90625. Output 2 (u = 1.25) mirrors them onto 1, 1, 2, 3.
    row = resize.imresize(np.array([[1.0, 2.0, 3.0, 4.0]]), 2)
    assert row.shape == (2, 8)
    assert row[0, 0] == pytest.approx(0.90625)
    assert row[0, 1] == pytest.approx(-0.0703125 * 1 + 0.8671875 * 1 + 0.2265625 * 2 - 0.0234375 * 3)
    np.testing.assert_array_equal(row[0], row[1])
    np.testing.assert_allclose(row[0] + row[0, ::-1], 5.0)  # a ramp stays point-symmetric


@pytest.mark.parametrize("factor", [2, 3, 4])
@pytest.mark.parametrize("method", resize.METHODS)
def test_shapes_types_and_constants(method, factor):
    image = np.random.default_rng(factor).integers(0, 256, (24, 36, 3), dtype=np.uint8)
    up = resize.upscale(image, factor, method)
    down = resize.downscale(image, factor, method)
    assert up.shape == (24 * factor, 36 * factor, 3) and up.dtype == np.uint8
    assert down.shape == (24 // factor, 36 // factor, 3) and down.dtype == np.uint8
    flat = np.full((12, 9, 3), 77, np.uint8)
    assert (resize.upscale(flat, factor, method) == 77).all()
    assert resize.downscale(np.full((12, 12), 200.0), factor, method) == pytest.approx(200.0)


def test_nearest_repeats_pixels_and_uint8_rounds_half_away_from_zero():
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize.nearest(image, 4), image.repeat(4, 0).repeat(4, 1))
    np.testing.assert_array_equal(resize._round_uint8(np.array([0.5, 1.5, 2.5, -3.0, 255.6])), [1, 2, 3, 0, 255])


def test_bad_resize_arguments():
    with pytest.raises(UserInputError, match="unknown interpolation"):
        resize.imresize(np.zeros((4, 4)), 2, "cubic-spline")
    with pytest.raises(UserInputError, match="integer"):
        resize.upscale(np.zeros((4, 4, 3), np.uint8), 2.5)


# -- protocol ----------------------------------------------------------------------------------


def test_crop_lr_and_measure():
    image = skimage.data.astronaut()[:101, :130]
    hr, lr = sr.make_lr(image, 4)
    assert hr.shape == (100, 128, 3) and lr.shape == (25, 32, 3)
    assert sr.measure(hr, hr, 4)["psnr_y"] == float("inf")
    m = sr.measure(resize.bicubic(lr, 4), hr, 4)
    assert 20 < m["psnr_y"] < 40 and 0 < m["ssim_y"] < 1
    with pytest.raises(UserInputError, match="smaller than the scale"):
        sr.crop_to_multiple(image[:3], 4)


def test_ssim_y_is_ssim_of_the_luma_plane():
    from skimage.metrics import structural_similarity

    a = skimage.data.astronaut()[:64, :80]
    b = np.clip(a.astype(int) + np.random.default_rng(1).integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    ya, yb = metrics.luma_bt601(a), metrics.luma_bt601(b)
    expected = structural_similarity(
        ya, yb, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert metrics.ssim_y(metrics.Sample(a, b)) == pytest.approx(expected, abs=1e-5)


PUBLISHED = [
    ("Set5", 2, 33.66, 0.9299),
    ("Set14", 2, 30.24, 0.8688),
    ("Set5", 4, 28.42, 0.8104),
    ("Set14", 4, 26.00, 0.7027),
]


@pytest.mark.parametrize("name, scale, psnr, ssim", PUBLISHED)
@pytest.mark.slow
def test_bicubic_reproduces_published_numbers(name, scale, psnr, ssim):
    paths = sorted((BENCH / name).glob("*.png"))
    if not paths:
        pytest.skip(f"{BENCH / name} is not here")
    rows = []
    for path in paths:
        hr, lr = sr.make_lr(imagelib.load(path), scale)
        rows.append(sr.run(lr, f"bicubic-x{scale}", scale, hr, sr.is_grey_file(path)).metrics)
    assert np.mean([r["psnr_y"] for r in rows]) == pytest.approx(psnr, abs=0.1)
    assert np.mean([r["ssim_y"] for r in rows]) == pytest.approx(ssim, abs=0.002)


# -- registry ----------------------------------------------------------------------------------


def test_sr_registry_entries():
    for method in ("nearest", "bilinear", "bicubic", "lanczos"):
        for scale in (2, 4):
            spec = restorers.get(f"{method}-x{scale}")
            assert spec.tasks == ("sr",) and spec.scale == scale and spec.source == "classical"
            assert spec.status() == "ready"
    own = [
        s
        for s in restorers.for_task("sr")
        if s.source == "own" and s.status() == "ready" and s.scale == 4 and not s.perceptual
    ]
    assert sr.default_model(4) == (own[0].id if own else "bicubic-x4")
    assert all(s.scale == 2 for s in sr.ready_models(2))


def test_restore_runs_interpolation_exactly():
    lr = skimage.data.astronaut()[:40, :56]
    result = restorers.restore(lr, "bicubic-x4")
    np.testing.assert_array_equal(result.image, resize.bicubic(lr, 4))
    with pytest.raises(UserInputError, match="upscales x4, not x2"):
        sr.upscale(lr, "bicubic-x4", 2)
    with pytest.raises(UserInputError, match="does not do super-resolution"):
        sr.upscale(lr, "gaussian", 2)


def test_torch_restorer_scale_tiled_equals_whole():
    class Upsample2(torch.nn.Module):  # pointwise after repetition: tiling must be exact
        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest") * 0.5 + 0.25

    runner = runtime.TorchRestorer(Upsample2(), scale=2, multiple=4, bf16=False)
    image = np.random.default_rng(0).random((70, 90, 3), dtype=np.float32)
    whole, tiled = runner(image, tile=1024), runner(image, tile=32, overlap=8)
    assert whole.shape == tiled.shape == (140, 180, 3)
    np.testing.assert_allclose(tiled, whole, atol=1e-6)


@pytest.mark.parametrize("method", resize.METHODS)
@pytest.mark.parametrize("factor", [2, 4])
def test_interpolation_tiled_is_exactly_untiled(method, factor):
    image = np.random.default_rng(1).integers(0, 256, (75, 101, 3), dtype=np.uint8)
    np.testing.assert_array_equal(
        resize.upscale_tiled(image, factor, method, tile=32), resize.upscale(image, factor, method)
    )


@pytest.mark.slow
def test_sr_network_uint8_tiling():
    """restore_uint8 (bands of tiles, rounded as they finish) gives the pixels of the float path,
    and tiled agrees with untiled away from the borders."""

    class SubPixel(torch.nn.Module):  # nearest x2 plus a sub-pixel convolution residual
        def __init__(self):
            super().__init__()
            self.conv, self.shuffle = torch.nn.Conv2d(3, 12, 5, padding=2), torch.nn.PixelShuffle(2)

        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2) + 0.2 * self.shuffle(self.conv(x))

    torch.manual_seed(0)
    runner = runtime.TorchRestorer(SubPixel().eval(), scale=2, multiple=4, bf16=False)
    image = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    whole = runner.restore_uint8(image, tile=1024)
    tiled = runner.restore_uint8(image, tile=32, overlap=8)
    np.testing.assert_array_equal(tiled, imagelib.from_float(runner(imagelib.to_float(image), tile=32, overlap=8)))
    assert whole.shape == tiled.shape == (140, 180, 3)
    inner = np.abs(whole.astype(int) - tiled)[8:-8, 8:-8]
    # Tiles are zero-padded at their own edges, which the blending ramps weigh down (as in
    # test_restoration's U-Net check: within 0.05 of the range, far less on average).
    assert inner.max() <= 0.05 * 255 and inner.mean() < 0.5


# -- CLI ---------------------------------------------------------------------------------------


@pytest.fixture()
def hr_png(write_image) -> Path:
    return write_image(skimage.data.astronaut()[100:198, 180:282], "hr.png")  # 98x102: crops to 96x100


def run_main(capsys, *args) -> tuple[int, list[dict] | str, str]:
    """(exit code, JSON rows with --json else the text printed, stderr)."""
    code = cli.main([*map(str, args)])
    captured = capsys.readouterr()
    if "--json" not in args:
        return code, captured.out, captured.err
    return code, [json.loads(line) for line in captured.out.splitlines() if line.strip()], captured.err


def test_cli_from_hr_json_row(capsys, tmp_path, hr_png):
    code, rows, _ = run_main(
        capsys,
        "upscale",
        hr_png,
        "--scale",
        "4",
        "--from-hr",
        "--model",
        "lanczos-x4",
        "--out-dir",
        tmp_path / "out",
        "--json",
    )
    assert code == 0 and len(rows) == 1
    row = rows[0]
    assert {
        "image",
        "model",
        "scale",
        "input_width",
        "input_height",
        "width",
        "height",
        "seconds",
        "psnr_y",
        "ssim_y",
        "bicubic_psnr_y",
        "bicubic_ssim_y",
        "psnr_y_gain",
        "from_hr",
        "reference",
        "file",
    } <= set(row)
    assert (row["model"], row["scale"], row["from_hr"]) == ("lanczos-x4", 4, True)
    assert (row["input_width"], row["input_height"], row["width"], row["height"]) == (25, 24, 100, 96)
    assert row["psnr_y_gain"] == pytest.approx(row["psnr_y"] - row["bicubic_psnr_y"])
    assert np.asarray(Image.open(row["file"])).shape == (96, 100, 3)


@pytest.mark.slow
def test_cli_ref_default_model_and_out(capsys, tmp_path, hr_png):
    hr, lr = sr.make_lr(imagelib.load(hr_png), 2)
    Image.fromarray(lr).save(tmp_path / "lr.png")
    code, rows, _ = run_main(
        capsys, "upscale", tmp_path / "lr.png", "--scale", "2", "--ref", hr_png, "--out", tmp_path / "up.png", "--json"
    )
    assert code == 0 and rows[0]["model"] == sr.default_model(2) and rows[0]["file"] == str(tmp_path / "up.png")
    if rows[0]["model"] == "bicubic-x2":
        assert rows[0]["psnr_y"] == rows[0]["bicubic_psnr_y"] and rows[0]["psnr_y_gain"] == 0
    code, text, _ = run_main(capsys, "upscale", tmp_path / "lr.png", "--scale", "2", "--out-dir", tmp_path)
    destination = tmp_path / f"lr_{sr.default_model(2)}.png"
    assert code == 0 and text.startswith("lr.png: ") and text.strip().endswith(str(destination))
    assert destination.is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scale", "2", "--model", "bicubic-x4"], "upscales x4, not x2"),
        (["--scale", "4", "--model", "dncnn"], "does not do super-resolution"),
        (["--scale", "4", "--model", "nosuch"], "unknown model"),
        (["--scale", "2", "--ref", "HR", "HR"], "1 images but 2 references"),
        (["--scale", "4", "--ref", "HR"], "the reference is 100x96 but x4 of the 102x98 input is 408x392"),
    ],
)
@pytest.mark.slow
def test_cli_user_errors(capsys, tmp_path, hr_png, args, message):
    args = [str(hr_png) if a == "HR" else a for a in args]
    code, rows, err = run_main(capsys, "upscale", hr_png, *args, "--out-dir", tmp_path, "--json")
    assert code == 2 and rows == [] and err.startswith("error: ") and message in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scale", "3"], "invalid choice"),
        (["--scale", "2", "--from-hr", "--ref", "x.png"], "not allowed with"),
        (["--scale", "2"], "one of the arguments --out --out-dir is required"),
    ],
)
@pytest.mark.slow
def test_cli_usage_errors_are_one_line(tmp_path, hr_png, args, message):
    proc = subprocess.run(
        [sys.executable, "-m", "restoration", "upscale", str(hr_png), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and message in proc.stderr


@pytest.mark.slow
def test_cli_not_an_image(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    proc = subprocess.run(
        [sys.executable, "-m", "restoration", "upscale", str(text), "--scale", "2", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "not a recognised image format" in proc.stderr and proc.stderr.count("\n") == 1


# -- app ---------------------------------------------------------------------------------------


from live_app import serving  # noqa: E402


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("gradio_client")
    from gradio_client import Client

    import app

    with serving(app.build()) as url:
        yield Client(url, verbose=False)


@pytest.mark.slow
def test_app_upscale_endpoint(client, hr_png):
    from gradio_client import handle_file

    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert "/upscale" in names and not {"/upscale_view", "/sr_models"} & names  # the page's own events are private
    gallery, table, files, left, right, view, note = client.predict(
        handle_file(str(hr_png)), 2, ["nearest-x2", "bicubic-x2"], True, api_name="/upscale"
    )
    assert [row[0] for row in table["data"]] == ["nearest-x2", "bicubic-x2"]
    nearest, bicubic = table["data"]
    assert nearest[2] == bicubic[2] == "102x98"
    assert bicubic[5] == 0 and nearest[5] == pytest.approx(nearest[3] - bicubic[3], abs=2e-3)
    assert [Path(f).name for f in files] == ["nearest-x2.png", "bicubic-x2.png"]
    assert np.asarray(Image.open(files[1])).shape == (98, 102, 3)
    assert (left["value"], right["value"]) == ("bicubic-x2", "nearest-x2")
    assert len(gallery) == 2 and "MATLAB bicubic" in note
    # The compare view: the default pair as two served PNGs at the output size.
    assert (view["a_label"], view["b_label"], view["w"], view["h"]) == ("bicubic-x2", "nearest-x2", 102, 98)
    assert view["a"].startswith("gradio_api/file=") and view["a"].endswith(".png")


def test_app_upscale_low_resolution_upload_and_errors(client, hr_png):
    from gradio_client import handle_file

    _, table, _, _, _, _, note = client.predict(handle_file(str(hr_png)), 4, ["bicubic-x4"], False, api_name="/upscale")
    assert table["data"][0][2] == "408x392" and "No high-resolution" in note
    assert table["headers"] == ["model", "seconds", "output", "note"]  # nothing to measure against: no metric columns
    with pytest.raises(Exception, match="upscales x4, not x2"):
        client.predict(handle_file(str(hr_png)), 2, ["bicubic-x4"], True, api_name="/upscale")
    with pytest.raises(Exception, match="choose at least one model"):
        client.predict(handle_file(str(hr_png)), 2, [], True, api_name="/upscale")
    from ui import sr_tab

    update = sr_tab.sr_models(2)
    from restoration.models import restorers

    # Every x2 model, Hub ones included (with their status), so none is hidden offline.
    assert [v for _, v in update["choices"]] == [s.id for s in restorers.for_task("sr") if s.scale == 2]
    assert any("not downloaded" in label for label, _ in update["choices"])
    assert update["value"] == ["bicubic-x2", sr.default_model(2)]


@pytest.mark.slow
def test_app_upscale_self_ensemble(client, hr_png):
    """The optional last input: the network's row and caption say it was averaged; interpolation
    ignores it (the same pixels as without)."""
    from gradio_client import handle_file

    gallery, table, files, *_ = client.predict(
        handle_file(str(hr_png)), 2, ["bicubic-x2", "subpixel-ca-sr-x2"], True, True, api_name="/upscale"
    )
    bicubic, network = table["data"]
    assert network[0] == "subpixel-ca-sr-x2" and network[3] > bicubic[3]
    assert gallery[1]["caption"].startswith("subpixel-ca-sr-x2 (self-ensemble)")
    plain_files = client.predict(
        handle_file(str(hr_png)), 2, ["bicubic-x2", "subpixel-ca-sr-x2"], True, api_name="/upscale"
    )[2]
    np.testing.assert_array_equal(np.asarray(Image.open(files[0])), np.asarray(Image.open(plain_files[0])))
    assert np.abs(np.asarray(Image.open(files[1]), int) - np.asarray(Image.open(plain_files[1]))).max() > 0


@pytest.mark.slow
def test_outscale_resizes_every_result_like_real_esrgan(tmp_path):
    """An output scale other than the model's: the x2 results resized to 1.5x the input (Lanczos),
    in the tab's pipeline and the CLI; refused where a measurement needs the model's own scale."""
    import numpy as np
    from PIL import Image

    from restoration.core.errors import UserInputError
    from restoration.lab import sr as lab_sr
    from restoration.pipelines import sr

    path = tmp_path / "lr.png"
    Image.fromarray((np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)).save(path)
    run, views = lab_sr.upscale(str(path), 2, ["bicubic-x2", "nearest-x2"], False, outscale=1.5)
    assert {label: view.shape for label, view in views.items()} == {
        "bicubic-x2": (60, 90, 3),
        "nearest-x2": (60, 90, 3),
    }
    assert [row[2] for row in lab_sr.table_rows(run)] == ["90x60", "90x60"]
    with pytest.raises(UserInputError, match="low-resolution upload"):
        lab_sr.upscale(str(path), 2, ["bicubic-x2"], True, outscale=1.5)
    for bad in (0.5, 9, float("nan"), True):
        with pytest.raises(UserInputError, match="from 1 to 8"):
            sr.check_outscale(bad)
    out = tmp_path / "big.png"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "restoration",
            "upscale",
            str(path),
            "--scale",
            "2",
            "--model",
            "bicubic-x2",
            "--outscale",
            "3",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (180, 120)
