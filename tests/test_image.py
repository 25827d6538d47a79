"""restoration.core.image.load: every input ends as C-contiguous uint8 HxWx3, or a clear ImageError."""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from conftest import encode_pil
from PIL import Image

from restoration.codecs import reader
from restoration.core import image as imagelib
from restoration.core.errors import UserInputError
from restoration.core.image import ImageError, load


def assert_canonical(array: np.ndarray, height: int, width: int) -> None:
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.uint8
    assert array.shape == (height, width, 3)
    assert array.flags.c_contiguous


def png_with_size(png: bytes, width: int, height: int) -> bytes:
    """Rewrite a PNG's IHDR width/height (and its CRC); the pixel data stays tiny."""
    assert png[12:16] == b"IHDR"
    fields = struct.pack(">II", width, height) + png[24:29]  # depth, colour, compression, filter, interlace
    chunk = b"IHDR" + fields
    return png[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]


@pytest.fixture()
def small_png(astro128) -> bytes:
    return encode_pil(Image.fromarray(astro128[:32, :48]), "PNG")


def test_image_error_is_a_user_error():
    assert issubclass(ImageError, UserInputError)


# -- files ------------------------------------------------------------------------------------


def test_load_path_bytes_and_file_object_agree(write_image, astro128):
    path = write_image(astro128, "a.png")
    from_path = load(path)
    assert_canonical(from_path, 128, 128)
    assert np.array_equal(from_path, astro128)
    assert np.array_equal(load(str(path)), astro128)
    assert np.array_equal(load(path.read_bytes()), astro128)
    assert np.array_equal(load(bytearray(path.read_bytes())), astro128)
    with open(path, "rb") as handle:
        assert np.array_equal(load(handle), astro128)
    assert np.array_equal(load(Image.open(path)), astro128)


@pytest.mark.parametrize("fmt,ext", [("BMP", "bmp"), ("TIFF", "tif"), ("PPM", "ppm"), ("WEBP", "webp")])
def test_load_other_lossless_formats(fmt, ext, write_image, odd_image):
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    path = write_image(odd_image, f"x.{ext}", format=fmt, **kwargs)
    result = load(path)
    assert_canonical(result, 37, 53)
    assert np.array_equal(result, odd_image)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load(path)
    with pytest.raises(ImageError, match="empty"):
        load(b"")


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no such file") as info:
        load(tmp_path / "nope.png")
    assert "nope.png" in str(info.value)


def test_text_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n" * 20)
    with pytest.raises(ImageError, match="not a recognised image format") as info:
        load(path)
    assert "notes.png" in str(info.value)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(fmt, astro128):
    data = encode_pil(Image.fromarray(astro128), fmt)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load(data[: len(data) // 2])


def test_unsupported_source_type():
    with pytest.raises(ImageError, match="cannot load an image from a int"):
        load(42)


# -- size limit -------------------------------------------------------------------------------


@pytest.mark.parametrize("width,height", [(100_000, 100_000), (10_000, 5_000)])
def test_huge_header_refused_before_decoding(small_png, width, height):
    bomb = png_with_size(small_png, width, height)
    assert struct.unpack(">II", bomb[16:24]) == (width, height)
    assert zlib.crc32(bomb[12:29]) == struct.unpack(">I", bomb[29:33])[0]  # a valid IHDR chunk
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ImageError, match="limit") as info:
            load(bomb)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 20 * 2**20  # nothing like width*height*3 bytes was allocated
    message = str(info.value)
    assert "pixels" in message or "megapixels" in message
    if width * height < 89_478_485 * 2:  # below Pillow's own bomb limit: our message
        assert f"{width}x{height}" in message and "RESTORATION_MAX_PIXELS" in message


def test_max_pixels_argument(small_png, astro128):
    assert_canonical(load(small_png, max_pixels=32 * 48), 32, 48)
    with pytest.raises(ImageError, match="limit") as info:
        load(small_png, max_pixels=32 * 48 - 1)
    assert "32x48" in str(info.value) or "48x32" in str(info.value)
    with pytest.raises(ImageError, match="limit"):
        load(astro128, max_pixels=1000)  # arrays too
    with pytest.raises(ImageError, match="limit"):
        load(Image.fromarray(astro128), max_pixels=1000)  # PIL images too


def test_small_limit_message_shows_real_numbers(small_png):
    with pytest.raises(ImageError) as info:
        load(small_png, max_pixels=1000)
    assert "limit is 0.0" not in str(info.value)


# -- unusual files ----------------------------------------------------------------------------


def test_16_bit_png(write_image):
    gradient = (np.arange(8 * 300, dtype=np.uint32).reshape(8, 300) * 27).astype(np.uint16)
    gradient[0, 0], gradient[0, 1] = 0, 65535
    pil = Image.fromarray(gradient)
    assert pil.mode.startswith("I;16")
    path = write_image(pil, "deep.png")
    assert Image.open(path).mode.startswith("I")
    result = load(path)
    assert_canonical(result, 8, 300)
    expected = np.rint(gradient / 257.0)
    assert np.abs(result[..., 0].astype(int) - expected).max() == 0
    assert np.array_equal(result[..., 0], result[..., 2])  # grey
    assert result[0, 0, 0] == 0 and result[0, 1, 0] == 255


def test_cmyk_jpeg(write_image):
    cmyk = Image.new("CMYK", (24, 16), (0, 0, 0, 0))  # white
    cmyk.paste((0, 255, 255, 0), (0, 0, 12, 16))  # left half red
    path = write_image(cmyk, "cmyk.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    result = load(path)
    assert_canonical(result, 16, 24)
    assert np.abs(result[8, 3].astype(int) - [255, 0, 0]).max() <= 8
    assert np.abs(result[8, 20].astype(int) - [255, 255, 255]).max() <= 8


@pytest.fixture()
def palette_image() -> Image.Image:
    index = np.zeros((8, 10), np.uint8)
    index[4:] = 1
    index[0, 0] = 2
    pil = Image.fromarray(index, mode="P")
    pil.putpalette([10, 20, 30, 200, 100, 50, 0, 255, 0] + [0] * (256 * 3 - 9))
    return pil


def test_palette_gif(palette_image, write_image):
    path = write_image(palette_image, "p.gif")
    assert Image.open(path).mode == "P"
    result = load(path)
    assert_canonical(result, 8, 10)
    assert result[1, 1].tolist() == [10, 20, 30]
    assert result[6, 6].tolist() == [200, 100, 50]
    assert result[0, 0].tolist() == [0, 255, 0]


def test_palette_gif_with_transparency(palette_image, write_image):
    path = write_image(palette_image, "t.gif", transparency=2)
    assert Image.open(path).info.get("transparency") == 2
    result = load(path)
    assert_canonical(result, 8, 10)
    assert result[0, 0].tolist() == [255, 255, 255]  # transparent index -> white
    assert result[1, 1].tolist() == [10, 20, 30]
    assert result[6, 6].tolist() == [200, 100, 50]


def test_animated_gif_uses_first_frame(palette_image, write_image):
    second = palette_image.copy()
    second.putpalette([90, 90, 90] * 256)
    path = write_image(palette_image, "anim.gif", save_all=True, append_images=[second])
    assert Image.open(path).n_frames == 2
    result = load(path)
    assert result[1, 1].tolist() == [10, 20, 30]


def test_rgba_png_composited_over_white(write_image):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[0, 0, 3] = 0
    rgba[1, 1, 3] = 255
    rgba[2, 2, 3] = 128
    path = write_image(Image.fromarray(rgba, "RGBA"), "rgba.png")
    result = load(path)
    assert_canonical(result, 4, 5)
    assert result[0, 0].tolist() == [255, 255, 255]
    assert result[1, 1].tolist() == [10, 20, 30]
    expected = np.array([10, 20, 30]) * 128 / 255 + 255 * (1 - 128 / 255)
    assert np.abs(result[2, 2] - expected).max() <= 1


def test_grey_alpha_png(write_image):
    la = np.zeros((3, 4, 2), np.uint8)
    la[..., 0] = 100
    la[0, 0, 1] = 0
    la[1, 1, 1] = 255
    path = write_image(Image.fromarray(la, "LA"), "la.png")
    result = load(path)
    assert_canonical(result, 3, 4)
    assert result[0, 0].tolist() == [255, 255, 255]
    assert result[1, 1].tolist() == [100, 100, 100]


def test_greyscale_and_bilevel_png(write_image):
    grey = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (3, 1))
    result = load(write_image(grey, "grey.png"))
    assert_canonical(result, 3, 25)
    assert np.array_equal(result[..., 1], grey)
    bilevel = Image.fromarray(grey > 100).convert("1")
    result = load(write_image(bilevel, "one.png"))
    assert set(np.unique(result).tolist()) == {0, 255}


def test_exif_rotated_jpeg(write_image, astro128):
    upright = np.ascontiguousarray(astro128[:64, :96])
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = write_image(upright, "rot.jpg", exif=exif, quality=95)
    assert Image.open(path).size == (96, 64)  # stored sideways
    result = load(path)
    assert_canonical(result, 96, 64)
    clockwise = np.rot90(upright, k=-1).astype(int)
    counter = np.rot90(upright, k=1).astype(int)
    assert np.abs(result.astype(int) - clockwise).mean() < 4  # only JPEG loss
    assert np.abs(result.astype(int) - counter).mean() > 20


# -- numpy arrays -----------------------------------------------------------------------------


def test_float_array_in_unit_range():
    array = np.array([[0.0, 0.5, 1.0, 1.5, -0.2]])
    result = load(array)
    assert_canonical(result, 1, 5)
    assert result[0, :, 0].tolist() == [0, 128, 255, 255, 0]
    assert load(np.float32(0.25) * np.ones((2, 2, 3), np.float32))[0, 0].tolist() == [64, 64, 64]


def test_uint16_array():
    result = load(np.array([[0, 257, 32896, 65535]], np.uint16))
    assert_canonical(result, 1, 4)
    assert result[0, :, 0].tolist() == [0, 1, 128, 255]


def test_bool_array():
    result = load(np.array([[True, False], [False, True]]))
    assert_canonical(result, 2, 2)
    assert result[..., 0].tolist() == [[255, 0], [0, 255]]


def test_grey_arrays(astro128):
    grey = np.ascontiguousarray(astro128[..., 1])
    for array in (grey, grey[:, :, None]):
        result = load(array)
        assert_canonical(result, 128, 128)
        assert all(np.array_equal(result[..., c], grey) for c in range(3))


def test_rgba_array():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = 40
    rgba[0, 0, 3] = 255
    result = load(rgba)
    assert_canonical(result, 2, 2)
    assert result[0, 0].tolist() == [40, 40, 40]
    assert result[1, 1].tolist() == [255, 255, 255]


def test_non_contiguous_array_becomes_contiguous(astro128):
    view = astro128[::2, ::3]
    assert not view.flags.c_contiguous
    result = load(view)
    assert_canonical(result, 64, 43)
    assert np.array_equal(result, view)
    bgr = astro128[:, :, ::-1]
    assert load(bgr).flags.c_contiguous


@pytest.mark.parametrize(
    "array,message",
    [
        (np.zeros((4, 4, 2), np.uint8), r"expected an HxW, HxWx3 or HxWx4 array, got shape \(4, 4, 2\)"),
        (np.zeros((2, 4, 4, 3), np.uint8), r"got shape \(2, 4, 4, 3\)"),
        (np.zeros(12, np.uint8), r"got shape \(12,\)"),
        (np.zeros((0, 4, 3), np.uint8), r"no pixels"),
        (np.array([[0.5, np.nan]]), r"NaN or infinite"),
        (np.array([[0.5, np.inf]], np.float32), r"NaN or infinite"),
        (np.array([["a", "b"]]), r"unsupported array dtype"),
    ],
)
def test_bad_arrays(array, message):
    with pytest.raises(ImageError, match=message):
        load(array)


# -- helpers ----------------------------------------------------------------------------------


def test_float_round_trip(astro128):
    as_float = imagelib.to_float(astro128)
    assert as_float.dtype == np.float32 and 0.0 <= as_float.min() and as_float.max() <= 1.0
    assert np.array_equal(imagelib.from_float(as_float), astro128)


def test_list_images(tmp_path, write_image, astro128):
    write_image(astro128, "b.png")
    write_image(astro128, "a.jpg")
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "sub").mkdir()
    found = reader.list_images([tmp_path])
    assert [p.name for p in found] == ["a.jpg", "b.png"]
    assert reader.list_images([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]  # explicit files kept
    with pytest.raises(ImageError, match="no such file or folder"):
        reader.list_images([tmp_path / "missing"])
    with pytest.raises(ImageError, match="no images found"):
        reader.list_images([tmp_path / "sub"])


def test_loaded_array_never_aliases_the_callers_buffer(astro128):
    mine = np.array(astro128)  # writable uint8 HxWx3: the case that could be passed through
    loaded = load(mine)
    assert np.array_equal(loaded, mine) and not np.shares_memory(loaded, mine)
    loaded[0, 0] = 0
    assert mine[0, 0].tolist() == astro128[0, 0].tolist()
