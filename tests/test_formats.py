"""Every file the lab writes, it reads (issue point 1), and results in the format asked for (point 5).

Input: one file per lossy codec of the registry, written by ``restoration degrade`` (the codec's
real bytes), read back through the input door three ways: ``codecs.reader``, the CLI's
``restore`` and the app's web reader (``lab.read_input``); 16-bit and grey files give their
one-line note; a side under 8 px is refused in one line. Output: ``--out y.webp`` / ``y.jxl``
write lossless files, ``--out-format`` a codec at a setting, ``encode_result`` the same from Python.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_run import run_cli  # noqa: E402
from PIL import Image

from restoration import codecs as codeclib
from restoration.codecs import jpeg_quality, learned, output, reader
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError
from restoration.lab import common as lab

LOSSY = [name for name, codec in codeclib.CODECS.items() if codec.knob is not None]


def assert_one_error_line(code: int, err: str, message: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


@pytest.fixture()
def photo(write_image, astro128) -> Path:
    return write_image(np.ascontiguousarray(astro128[:48, :64]), "photo.png")


def encode_pil(image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


# -- accepted formats --------------------------------------------------------------------------


def test_accepted_formats_and_extensions_come_from_the_registry():
    available = [c for c in codeclib.CODECS.values() if c.unavailable_reason() is None]
    assert {c.pillow_format for c in available if c.pillow_format} <= set(reader.formats())
    assert set(imagelib.CONTAINER_FORMATS) <= set(reader.formats())
    assert set(reader.formats()) <= set(imagelib.ACCEPTED_FORMATS)  # a plain load opens them too
    assert {c.extension for c in codeclib.CODECS.values()} <= reader.extensions()
    assert {".rlh", ".rlc", ".heic", ".heif", ".jpg", ".jpeg", ".tif", ".tiff", ".jxl", ".jp2"} <= reader.extensions()
    assert ".txt" not in reader.extensions() and ".zip" not in reader.extensions()


@pytest.mark.slow
def test_the_doors_load_without_torch(tmp_path, astro128):
    """Reading and writing an ordinary file never loads torch (only a learned codec's file does)."""
    Image.fromarray(astro128).save(tmp_path / "a.png")
    code = (
        "import sys\n"
        "from restoration.codecs import output, reader\n"
        f"image = reader.load({str(tmp_path / 'a.png')!r})\n"
        "output.encode_result(image, 'webp'); reader.extensions()\n"
        "print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr


def test_the_learned_codecs_header_is_read_without_torch_as_the_codec_writes_it():
    assert codeclib.LearnedCodec.header.format == learned.HEADER.format


def test_a_folder_lists_heic_and_learned_codec_files(tmp_path, astro128):
    for name in ("a.heic", "b.rlh", "c.HEIF", "d.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("hello")
    skipped = []
    found = reader.list_images([tmp_path], on_skip=skipped.append)
    assert [p.name for p in found] == ["a.heic", "b.rlh", "c.HEIF", "d.png"] and [p.name for p in skipped] == [
        "notes.txt"
    ]


def test_heic_opens_through_the_plain_loader_too(astro128):
    if codeclib.get("heic").unavailable_reason():
        pytest.skip(codeclib.get("heic").unavailable_reason())
    data = codeclib.get("heic").encode(astro128, quality=90)
    assert imagelib.load(data).shape == astro128.shape
    assert reader.read(data, name="x.heic").codec == "heic"


@pytest.mark.parametrize("name", LOSSY)
def test_every_lossy_codec_file_reads_back_through_the_input_door(capsys, tmp_path, photo, name):
    codec = codeclib.get(name)
    if codec.unavailable_reason():
        pytest.skip(f"{name}: {codec.unavailable_reason()}")
    setting = codec.knob.sweep[len(codec.knob.sweep) // 2]
    written = tmp_path / f"x{codec.extension}"
    code, _, err = run_cli(capsys, "degrade", photo, "--chain", f"{name}:q={setting}", "--out", written)
    assert code == 0, err
    data = written.read_bytes()
    expected = codec.decode(data)

    source = reader.read(written)  # the reader
    assert np.array_equal(source.image, expected) and source.data == data and source.note is None
    assert codeclib.get(source.codec).extension == codec.extension  # jpegli's file is a JPEG

    web = lab.read_input(str(written))  # the app's uploads and API
    assert np.array_equal(web.image, expected) and web.name == written.name

    out = tmp_path / "restored"
    code, _, err = run_cli(
        capsys, "restore", written, "--task", "jpeg", "--model", "gaussian", "--sigma", "5", "--out-dir", out, "--json"
    )
    assert code == 0, err
    restored = list(out.iterdir())
    assert len(restored) == 1 and imagelib.load(restored[0]).shape == expected.shape


def test_a_file_that_is_no_image_names_the_learned_formats_too():
    with pytest.raises(
        UserInputError, match=r"notes.png: not a recognised image format \(accepted: PNG, JPEG.*HEIF.*RLH"
    ):
        reader.read(b"this is not an image", name="notes.png")
    with pytest.raises(UserInputError, match="x.pcx: not a recognised image format"):  # Pillow reads PCX; the lab not
        reader.read(encode_pil(Image.new("RGB", (8, 8)), "PCX"), name="x.pcx")


# -- what reading converts ---------------------------------------------------------------------


def test_sixteen_bit_and_grey_inputs_give_their_note(capsys, tmp_path, astro128):
    deep = astro128.astype(np.uint16) * 257
    files = {
        "deep.png": (cv2.imencode(".png", deep[..., ::-1])[1].tobytes(), "16-bit PNG: converted to 8 bits per channel"),
        "deep_grey.png": (encode_pil(deep[..., 1], "PNG"), "16-bit grey PNG: converted to 8-bit RGB"),
        "grey.png": (encode_pil(astro128[..., 1], "PNG"), "grey image: coded as RGB"),
        "plain.png": (encode_pil(astro128, "PNG"), None),
    }
    for name, (data, note) in files.items():
        (tmp_path / name).write_bytes(data)
        source = reader.read(tmp_path / name)
        assert source.note == note, name
        assert source.image.dtype == np.uint8 and source.image.shape == astro128.shape  # canonical: 8-bit RGB
        assert lab.read_input(str(tmp_path / name)).note == note
    assert np.array_equal(reader.read(tmp_path / "deep.png").image, astro128)  # 16 bits rounded, not cut
    assert reader.read(tmp_path / "grey.png").grey and not reader.read(tmp_path / "deep.png").grey

    code, _, err = run_cli(
        capsys,
        "restore",
        tmp_path / "deep.png",
        "--task",
        "denoise",
        "--model",
        "gaussian",
        "--out-dir",
        tmp_path / "out",
    )
    assert code == 0 and err.splitlines() == [
        f"note: {tmp_path / 'deep.png'}: 16-bit PNG: converted to 8 bits per channel"
    ]


def test_other_conversions_are_told_in_one_line(astro128):
    rgba = np.dstack([astro128, np.full(astro128.shape[:2], 100, np.uint8)])
    opaque = np.dstack([astro128, np.full(astro128.shape[:2], 255, np.uint8)])
    frames = [Image.fromarray(astro128).convert("P"), Image.fromarray(astro128[::-1]).convert("P")]
    cases = {
        "transparency composited over white": encode_pil(rgba, "PNG"),
        "CMYK JPEG: converted to RGB": encode_pil(Image.fromarray(astro128).convert("CMYK"), "JPEG"),
        "the first of its 2 frames used": encode_pil(frames[0], "GIF", save_all=True, append_images=frames[1:]),
    }
    for note, data in cases.items():
        assert reader.read(data).note == note
    assert reader.read(encode_pil(opaque, "PNG")).note is None  # an all-opaque alpha changes nothing
    assert (
        reader.read(np.asarray(astro128[..., 0], np.uint16) * 257).note == "16-bit grey image: converted to 8-bit RGB"
    )


def test_a_side_under_8_px_is_refused_in_one_line_at_the_input_door(capsys, tmp_path, astro128):
    assert imagelib.MIN_SIDE == 8
    small = tmp_path / "thin.png"
    small.write_bytes(encode_pil(np.ascontiguousarray(astro128[:7, :100]), "PNG"))
    message = "thin.png: 100x7 is too small; each side needs at least 8 px"
    with pytest.raises(UserInputError, match=message):
        reader.read(small, name="thin.png")
    with pytest.raises(UserInputError, match=message):
        lab.read_input(str(small))
    for command in (
        ["restore", small, "--task", "denoise", "--model", "gaussian"],
        ["upscale", small, "--scale", "2", "--model", "bicubic-x2"],
    ):
        code, _, err = run_cli(capsys, *command, "--out-dir", tmp_path / "out")
        assert_one_error_line(code, err, "100x7 is too small; each side needs at least 8 px")
    assert not (tmp_path / "out").exists()
    assert reader.read(np.ascontiguousarray(astro128[:8, :100])).image.shape == (8, 100, 3)
    assert imagelib.load(small).shape == (7, 100, 3)  # internal steps may make small images


def test_a_learned_codec_file_is_sized_from_its_header_before_decoding(astro128):
    codec = codeclib.get("neural-hp")
    if codec.unavailable_reason():
        pytest.skip(codec.unavailable_reason())
    data = codec.encode(astro128[:32, :48], quality=2)
    assert reader.header_size(data) == (48, 32)
    with pytest.raises(UserInputError, match="x.rlh: 48x32 is 1,536 pixels; the limit is 1,000"):
        reader.read(data, name="x.rlh", max_pixels=1000)
    with pytest.raises(UserInputError, match="cut.rlh: not a Learned"):
        reader.read(data[:5], name="cut.rlh")


# -- output formats ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, extension", [("png", ".png"), ("webp", ".webp"), ("jxl", ".jxl"), ("jpegxl", ".jxl")])
def test_lossless_output_formats_keep_every_pixel(astro128, fmt, extension):
    data, ext = output.encode_result(astro128, fmt)
    assert ext == extension and np.array_equal(reader.load(data), astro128)
    assert output.parse_format(fmt).lossless


def test_lossy_output_formats_take_a_setting(astro128):
    data, ext = output.encode_result(astro128, "jpeg:q=90")
    assert ext == ".jpg" and jpeg_quality.estimate(data).quality == 90
    assert output.encode_result(astro128, "avif", "q=60")[1] == ".avif"
    assert output.encode_result(astro128, "avif:q=60")[0] == output.encode_result(astro128, "avif", "q=60")[0]
    assert (
        not output.parse_format("webp:q=80").lossless and output.parse_format("webp:q=80").text() == "webp:quality=80"
    )
    for bad, message in [
        ("png:q=3", "png is lossless"),
        ("jpeg:q=500", r"quality: 500 is outside \[1, 100\]"),
        ("nosuch", "unknown codec 'nosuch'"),
        ("avif:bpp=x", "bpp 'x' is not a number"),
    ]:
        with pytest.raises(UserInputError, match=message):
            output.parse_format(bad)


def test_the_extension_chooses_the_format():
    chosen = {
        name: output.format_for_path(f"y{name}").text()
        for name in (".png", ".webp", ".jxl", ".jpg", ".jpeg", ".avif", ".heic", ".heif", ".jp2", ".rlh")
    }
    assert chosen == {
        ".png": "png",
        ".webp": "webp",
        ".jxl": "jpegxl",
        ".jpg": "jpeg",
        ".jpeg": "jpeg",
        ".avif": "avif",
        ".heic": "heic",
        ".heif": "heic",
        ".jp2": "jpeg2000",
        ".rlh": "neural-hp",
    }
    with pytest.raises(UserInputError, match="y.tif: cannot write .tif"):
        output.format_for_path("y.tif")


def test_restore_writes_the_format_its_out_file_names(capsys, tmp_path, photo):
    base = ["restore", photo, "--task", "denoise", "--model", "gaussian", "--sigma", "10"]
    assert run_cli(capsys, *base, "--out", tmp_path / "y.png")[0] == 0
    result = imagelib.load(tmp_path / "y.png")
    for name, magic in (("y.webp", b"VP8L"), ("y.jxl", None)):
        code, _, err = run_cli(capsys, *base, "--out", tmp_path / name)
        assert code == 0, err
        data = (tmp_path / name).read_bytes()
        assert magic is None or data[12:16] == magic  # VP8L: WebP's lossless bitstream
        assert np.array_equal(reader.load(data), result), name

    code, out, err = run_cli(capsys, *base, "--out-format", "jpeg:q=90", "--out-dir", tmp_path / "jpegs", "--json")
    assert code == 0, err
    row = json.loads(out.splitlines()[0])
    assert row["file"].endswith(".jpg") and jpeg_quality.estimate(Path(row["file"]).read_bytes()).quality == 90

    code, _, err = run_cli(capsys, *base, "--out", tmp_path / "z.png", "--out-format", "jpeg:q=90")
    assert_one_error_line(code, err, "--out z.png names a .png file but --out-format jpeg:q=90 writes .jpg")
    code, _, err = run_cli(capsys, *base, "--out", tmp_path / "z.tif")
    assert_one_error_line(code, err, "z.tif: cannot write .tif")
    assert not (tmp_path / "z.png").exists() and not (tmp_path / "z.tif").exists()


def test_upscale_writes_a_lossy_codec_at_a_setting(capsys, tmp_path, photo):
    code, _, err = run_cli(
        capsys,
        "upscale",
        photo,
        "--scale",
        "2",
        "--model",
        "bicubic-x2",
        "--restore",
        "none",
        "--out-format",
        "avif:q=60",
        "--out-dir",
        tmp_path / "out",
    )
    assert code == 0, err
    (written,) = (tmp_path / "out").iterdir()
    assert written.suffix == ".avif" and reader.read(written).codec == "avif"
    assert reader.load(written).shape == (96, 128, 3)


def test_the_app_writes_results_in_a_chosen_format(astro128):
    views = {"a": np.ascontiguousarray(astro128)}
    (path,) = lab.write_results(views, ["a"], "webp")
    assert path.endswith("a.webp") and np.array_equal(reader.load(path), astro128)
    assert ("WebP lossless", "webp") in output.choices() and ("AVIF quality=60", "avif:quality=60") in output.choices()
