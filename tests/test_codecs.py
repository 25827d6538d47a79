"""Codecs: real bytes, round trips, lossless exactness, quality knobs, target sizes, parameters."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import codec_params

from restoration import codecs, metrics
from restoration.core.errors import UserInputError
from restoration.pipelines import evaluate

ALL = list(codecs.CODECS)
LOSSY = [name for name, c in codecs.CODECS.items() if c.can_be_lossy]
# Codecs with a fine-grained knob. The learned codecs have five and seven rate points, so byte
# budgets fall between them; their own rate and budget behaviour is tested in test_neural_codec.py
# and test_hyperprior_codec.py.
SLOW_SEARCH = ("heic", "neural", "neural-hp")  # seconds per encode at these sizes: the full suite runs them
FINE = [name for name in LOSSY if name not in ("neural", "neural-hp")]
# Every codec's lossless mode, as it declares it (PNG and OxiPNG: {}; WebP, JPEG XL, JPEG 2000 a setting).
LOSSLESS_SETTINGS = [(n, c.lossless_settings()) for n, c in codecs.CODECS.items() if c.lossless_settings() is not None]


def psnr(a, b) -> float:
    return metrics.psnr(metrics.Sample(a, b))


REQUIRED = {"jpeg", "jpeg2000", "webp", "avif", "jpegxl", "png", "neural", "neural-hp", "heic", "jpegli", "oxipng"}


def test_registry_has_the_six_codecs_ours_and_the_shipped_encoders():
    """The shipped codecs are there (a codec registered beside them is welcome: every test below
    runs over the whole registry)."""
    assert REQUIRED <= set(codecs.CODECS)
    assert {"png", "oxipng", "webp", "jpegxl", "jpeg2000"} <= {n for n, _ in LOSSLESS_SETTINGS}
    assert REQUIRED - {"png", "oxipng"} <= set(LOSSY)
    assert codecs.CODECS["png"].knob is None and codecs.CODECS["oxipng"].knob is None


@pytest.mark.parametrize("name", ALL)
def test_every_codec_declares_what_the_lab_reads_from_the_registry(name):
    codec = codecs.CODECS[name]
    assert codec.label and codec.extension.startswith(".") and "/" in codec.mime
    assert codec.extension in codec.file_extensions() and all(e.startswith(".") for e in codec.file_extensions())
    assert codec.packages, "the distributions that decide its bytes, for the benchmark's provenance"
    assert all(codecs.get(alias) is codec for alias in codec.aliases)
    assert codecs.by_extension()[codec.extension].extension == codec.extension  # jpegli's .jpg is a JPEG
    lossless = codec.lossless_settings()
    if lossless is not None:
        assert codec.is_lossless(codec.resolve(lossless))
    assert not codec.lossless_output or lossless is not None


def test_oxipng_is_smaller_than_zlib_at_the_same_pixels(astro128):
    png, oxi = codecs.get("png").encode(astro128, compress_level=9), codecs.get("oxipng").encode(astro128, level=4)
    assert len(oxi) < len(png) and np.array_equal(codecs.get("oxipng").decode(oxi), astro128)


def test_jpegli_writes_an_ordinary_jpeg(astro128):
    data = codecs.get("jpegli").encode(astro128, quality=60)
    assert data[:3] == b"\xff\xd8\xff" and codecs.get("jpeg").decode(data).shape == astro128.shape


def test_a_codec_whose_package_is_missing_says_so(monkeypatch, astro128):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pillow_heif" else real(name, *a))
    heic = codecs.get("heic")
    assert heic.unavailable_reason() == "needs the pillow-heif package"
    with pytest.raises(UserInputError, match="heic is not available here: needs the pillow-heif package"):
        heic.encode(astro128)


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", codec_params(ALL))
def test_round_trip_real_bytes(name, astro256):
    codec = codecs.get(name)
    data = codec.encode(astro256)
    assert isinstance(data, bytes) and len(data) > 100
    assert codecs.sniff(data).pillow_format == codec.pillow_format  # jpegli and OxiPNG write JPEG and PNG
    decoded = codec.decode(data)
    assert decoded.shape == astro256.shape
    assert decoded.dtype == np.uint8 and decoded.flags.c_contiguous
    if codec.is_lossless(codec.resolve()):
        assert np.array_equal(decoded, astro256)
    else:
        # Default settings are mid-quality: clearly lossy, clearly not garbage.
        assert 25.0 < psnr(astro256, decoded) < 45.0
        assert len(data) < astro256.nbytes / 4


@pytest.mark.parametrize("name", codec_params(ALL))
def test_round_trip_odd_size(name, odd_image):
    codec = codecs.get(name)
    data = codec.encode(odd_image)
    assert codecs.sniff(data).pillow_format == codec.pillow_format
    decoded = codec.decode(data)
    assert decoded.shape == (37, 53, 3) and decoded.dtype == np.uint8
    # JPEG 2000's default is a fixed ratio (24:1): ~245 bytes here, mostly headers, so only the
    # coarsest band survives. The others spend bits by quality and stay well above 30 dB.
    assert psnr(odd_image, decoded) > (15.0 if name == "jpeg2000" else 30.0)


def test_sniff_rejects_non_images():
    assert codecs.sniff(b"") is None
    assert codecs.sniff(b"definitely not an image" * 10) is None


@pytest.mark.parametrize("name", codec_params(ALL))
def test_decode_garbage_is_a_clear_error(name):
    with pytest.raises(codecs.CodecError, match=f"{name} could not decode"):
        codecs.get(name).decode(b"\x00garbage bytes" * 20)


def test_decode_refuses_another_codecs_bytes(astro128):
    png = codecs.get("png").encode(astro128)
    with pytest.raises(UserInputError, match="jpeg could not decode"):
        codecs.get("jpeg").decode(png)


# -- lossless exactness ----------------------------------------------------------------------


@pytest.mark.parametrize("name,params", LOSSLESS_SETTINGS, ids=[n for n, _ in LOSSLESS_SETTINGS])
@pytest.mark.parametrize("which", ["astro128", "noise64", "odd_image"])
def test_lossless_is_bit_exact(name, params, which, request):
    image = request.getfixturevalue(which)
    codec = codecs.get(name)
    assert codec.is_lossless(codec.resolve(params))
    data = codec.encode(image, **params)
    assert codecs.sniff(data).pillow_format == codec.pillow_format  # OxiPNG writes a PNG
    decoded = codec.decode(data)
    assert decoded.shape == image.shape
    assert np.array_equal(decoded, image)
    assert psnr(image, decoded) == float("inf")


@pytest.mark.parametrize("name,params", LOSSLESS_SETTINGS, ids=[n for n, _ in LOSSLESS_SETTINGS])
def test_lossless_beats_raw_on_a_photo_but_not_on_noise(name, params, astro128, noise64):
    codec = codecs.get(name)
    assert len(codec.encode(astro128, **params)) < 0.8 * astro128.nbytes
    # Random noise is incompressible: a lossless coder cannot go meaningfully below raw size.
    assert len(codec.encode(noise64, **params)) > 0.95 * noise64.nbytes


# -- quality knob ----------------------------------------------------------------------------

KNOB_VALUES = {
    "jpeg": [10, 30, 60, 90],
    "webp": [10, 30, 60, 90],
    "avif": [10, 30, 60, 90],
    "jpegxl": [10, 30, 60, 90],
    "jpeg2000": [128, 64, 24, 12],  # compression ratio: smaller ratio = higher quality
    "heic": [10, 30, 60, 90],
    "jpegli": [10, 30, 60, 90],
}


@pytest.mark.parametrize("name", codec_params(FINE, slow=SLOW_SEARCH))
def test_quality_knob_is_monotonic(name, astro256):
    codec = codecs.get(name)
    knob = codec.knob.name
    sizes, psnrs = [], []
    for value in KNOB_VALUES[name]:
        data = codec.encode(astro256, **{knob: value})
        sizes.append(len(data))
        psnrs.append(psnr(astro256, codec.decode(data)))
    # Settings are far apart, so size and PSNR both strictly increase with quality.
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), sizes
    assert psnrs == sorted(psnrs), psnrs
    assert psnrs[-1] - psnrs[0] > 6.0, psnrs
    assert sizes[-1] > 3 * sizes[0], sizes


@pytest.mark.parametrize("name", codec_params(LOSSY))
def test_default_sweep_runs_low_to_high_quality(name, astro128):
    """Knob.sweep is documented as 'low to high quality': file size must grow along it."""
    codec = codecs.get(name)
    knob = codec.param(codec.knob.name)
    for value in codec.knob.sweep:
        assert knob.coerce(value) == value  # every sweep value is a valid setting
    sizes = [len(codec.encode(astro128, **{knob.name: v})) for v in codec.knob.sweep]
    assert sizes[-1] > sizes[0]
    # Allow tiny plateaus between neighbours (rate control granularity), not reversals.
    for smaller, larger in zip(sizes, sizes[1:]):
        assert larger >= 0.98 * smaller, sizes
    if codec.knob.size_grows:
        assert list(codec.knob.sweep) == sorted(codec.knob.sweep)
    else:
        assert list(codec.knob.sweep) == sorted(codec.knob.sweep, reverse=True)


# -- target size -----------------------------------------------------------------------------

# Lower bound on bytes / budget: the knob is discrete (int quality) or bisected, so the best
# fit can sit a step below the budget. JPEG 2000 allocates rate directly: within a few percent.
FILL = {"jpeg": 0.85, "webp": 0.85, "avif": 0.85, "jpegxl": 0.85, "jpeg2000": 0.95, "heic": 0.85, "jpegli": 0.85}


@pytest.mark.parametrize("name", codec_params(FINE, slow=SLOW_SEARCH))
@pytest.mark.parametrize("bpp", [0.6, 1.0, 2.0])
def test_encode_to_size_fills_the_budget(name, bpp, astro256):
    codec = codecs.get(name)
    budget = int(bpp * 256 * 256 / 8)
    encoded = codec.encode_to_size(astro256, budget)
    assert encoded.target_bytes == budget
    assert encoded.target_met is True
    assert FILL[name] * budget <= len(encoded.data) <= budget, (len(encoded.data), budget)
    # The returned params reproduce the returned bytes.
    assert codec.encode(astro256, **encoded.params) == encoded.data
    assert codec.decode(encoded.data).shape == astro256.shape
    knob = codec.param(codec.knob.name)
    if knob.kind is int and name != "jpeg2000":
        # Best fit: one step up in quality is bigger than the budget (or no bigger than what we got).
        value = encoded.params[knob.name]
        if value < knob.high:
            next_size = len(codec.encode(astro256, **{**encoded.params, knob.name: value + 1}))
            assert not (len(encoded.data) < next_size <= budget)


@pytest.mark.parametrize("name", codec_params(LOSSY, slow=SLOW_SEARCH))
def test_encode_to_size_more_budget_more_quality(name, astro256):
    codec = codecs.get(name)
    small = codec.encode_to_size(astro256, 4000)
    large = codec.encode_to_size(astro256, 16000)
    assert len(small.data) < len(large.data)
    assert psnr(astro256, codec.decode(small.data)) < psnr(astro256, codec.decode(large.data))


LOWEST = {
    "jpeg": {"quality": 1},
    "webp": {"quality": 0},
    "avif": {"quality": 0},
    "jpegxl": {"quality": 0.0},
    "jpeg2000": {"rate": 2000.0},
    "heic": {"quality": 1},
    "jpegli": {"quality": 1},
}


@pytest.mark.parametrize("name", codec_params(FINE))
def test_encode_to_size_impossible_budget_returns_smallest(name, astro256):
    codec = codecs.get(name)
    encoded = codec.encode_to_size(astro256, 60)
    assert encoded.target_met is False
    assert len(encoded.data) > 60
    lowest = codec.encode(astro256, **LOWEST[name])
    assert len(encoded.data) <= len(lowest)
    assert codec.decode(encoded.data).shape == astro256.shape


@pytest.mark.parametrize("name,params", [("png", {}), ("webp", {"lossless": True}), ("jpegxl", {"lossless": True})])
def test_encode_to_size_refuses_lossless(name, params, astro128):
    with pytest.raises(UserInputError, match="lossless"):
        codecs.get(name).encode_to_size(astro128, 5000, **params)


@pytest.mark.parametrize("name", codec_params(LOSSY))
def test_encode_to_size_refuses_zero_budget(name, astro128):
    with pytest.raises(UserInputError, match="at least 1 byte"):
        codecs.get(name).encode_to_size(astro128, 0)


@pytest.mark.parametrize("name", codec_params(FINE))
def test_evaluate_compress_with_bpp_target(name, astro256):
    result = evaluate.compress(astro256, name, target=evaluate.Target(bpp=0.8), metric_names=["psnr", "bpp"])
    budget = int(0.8 * 256 * 256 / 8)
    assert result.target_met is True
    assert FILL[name] * budget <= result.nbytes <= budget
    assert result.metrics["bpp"] == pytest.approx(8 * result.nbytes / (256 * 256))
    assert result.metrics["bpp"] <= 0.8
    assert result.metrics["psnr"] > 24.0
    row = result.row()
    assert row["target"] == {"bpp": 0.8} and row["target_met"] is True
    assert row["bytes"] == result.nbytes
    assert np.array_equal(result.decoded, codecs.get(name).decode(result.data))


def test_evaluate_compress_impossible_target_is_reported(astro128):
    result = evaluate.compress(astro128, "jpeg", target=evaluate.Target(bytes=50), metric_names=["psnr"])
    assert result.target_met is False
    assert result.row()["target_met"] is False
    assert result.nbytes > 50


def test_evaluate_compress_lossless_row(astro128):
    result = evaluate.compress(astro128, "png", metric_names=["psnr", "ssim", "bpp", "ratio"])
    row = result.row()
    assert row["psnr"] == "inf"  # JSON-safe infinity
    assert row["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert row["ratio"] == pytest.approx(astro128.nbytes / result.nbytes)
    assert "target" not in row


@pytest.mark.parametrize("kwargs", [{}, {"bytes": 10, "bpp": 1.0}, {"bytes": 0}, {"bpp": 0.0}, {"bpp": -1.0}])
def test_target_validation(kwargs):
    with pytest.raises(UserInputError):
        evaluate.Target(**kwargs)


def test_target_budget():
    image = np.zeros((100, 80, 3), np.uint8)
    assert evaluate.Target(bpp=1.0).budget(image) == 1000
    assert evaluate.Target(bytes=1234).budget(image) == 1234
    assert evaluate.Target(bpp=1e-9).budget(image) == 1


# -- parameters ------------------------------------------------------------------------------


def test_aliases_and_unknown_codec():
    assert codecs.get("jpg") is codecs.CODECS["jpeg"]
    assert codecs.get(" JPG ") is codecs.CODECS["jpeg"]
    assert codecs.get("jxl") is codecs.CODECS["jpegxl"]
    assert codecs.get("jp2") is codecs.CODECS["jpeg2000"]
    with pytest.raises(UserInputError, match=r"unknown codec 'bmp'.*jpeg.*png"):
        codecs.get("bmp")


@pytest.mark.parametrize(
    "name,params,message",
    [
        ("jpeg", {"quality": 101}, r"quality: 101 is outside \[1, 100\]"),
        ("jpeg", {"quality": 0}, r"quality: 0 is outside \[1, 100\]"),
        ("webp", {"quality": -1}, r"quality: -1 is outside \[0, 100\]"),
        ("jpegxl", {"distance": 30}, r"distance: 30.0 is outside \[0.0, 25.0\]"),
        ("jpeg2000", {"rate": 0.5}, r"rate: 0.5 is outside"),
        ("jpeg", {"nosuch": 1}, r"jpeg has no parameter 'nosuch' \(it has: quality, subsampling"),
        ("png", {"quality": 50}, r"png has no parameter 'quality' \(it has: compress_level\)"),
        ("jpeg", {"subsampling": "4:1:1"}, r"subsampling: '4:1:1' is not one of 4:4:4, 4:2:2, 4:2:0"),
        ("jpeg2000", {"mode": "fast"}, r"mode: 'fast' is not one of rate, psnr, lossless"),
        ("avif", {"encoder": "x265"}, r"encoder: 'x265' is not one of"),
        ("jpeg", {"quality": "abc"}, r"quality: 'abc' is not a valid int"),
        ("jpeg", {"quality": 50.5}, r"is not a valid int"),
        ("jpegxl", {"quality": "high"}, r"quality: 'high' is not a valid float"),
        ("jpegxl", {"quality": float("nan")}, r"not a valid float"),
        ("webp", {"lossless": "maybe"}, r"lossless: 'maybe' is not a valid bool"),
    ],
)
def test_bad_params_raise_user_input_error(name, params, message, astro128):
    codec = codecs.get(name)
    with pytest.raises(UserInputError, match=message):
        codec.resolve(params)
    with pytest.raises(UserInputError, match=message):
        codec.encode(astro128[:16, :16], **params)


@pytest.mark.parametrize("value", ["inf", float("inf"), "-inf"])
def test_infinite_int_param_is_a_user_error(value):
    with pytest.raises(UserInputError, match="not a valid int"):
        codecs.get("jpeg").resolve({"quality": value})


def test_params_parse_cli_text():
    jpeg = codecs.get("jpeg")
    resolved = jpeg.resolve({"quality": "50", "progressive": "yes", "optimize": "0"})
    assert resolved == {"quality": 50, "subsampling": "4:2:0", "progressive": True, "optimize": False}
    assert isinstance(resolved["quality"], int)
    assert jpeg.resolve({"quality": 50.0})["quality"] == 50
    assert codecs.get("jpegxl").resolve({"distance": "1.5"})["distance"] == 1.5


@pytest.mark.parametrize("name", codec_params(ALL))
def test_defaults_and_description_are_consistent(name):
    codec = codecs.get(name)
    defaults = codec.resolve()
    assert codec.resolve(dict(defaults)) == defaults  # every default passes its own validation
    spec = codec.describe()
    assert spec["name"] == name and spec["extension"].startswith(".")
    assert [p["name"] for p in spec["params"]] == list(defaults)
    for p in spec["params"]:
        if "min" in p:
            assert p["min"] <= p["default"] <= p["max"]
        if "choices" in p:
            assert p["default"] in p["choices"]
    assert spec["lossless_only"] == (codec.knob is None)


@pytest.mark.parametrize(
    "name,params",
    [
        ("jpeg", {"subsampling": "4:4:4"}),
        ("jpeg", {"progressive": True}),
        ("avif", {"subsampling": "4:4:4"}),
        ("webp", {"method": 6}),
    ],
)
def test_non_knob_params_reach_the_encoder(name, params, astro128):
    codec = codecs.get(name)
    assert codec.encode(astro128, **params) != codec.encode(astro128)


def test_jpeg2000_psnr_mode_hits_its_target(astro256):
    codec = codecs.get("jpeg2000")
    decoded = codec.decode(codec.encode(astro256, mode="psnr", psnr=34.0))
    assert psnr(astro256, decoded) == pytest.approx(34.0, abs=1.5)


def test_jpeg2000_rate_is_compression_ratio(astro256):
    data = codecs.get("jpeg2000").encode(astro256, rate=32)
    assert astro256.nbytes / len(data) == pytest.approx(32, rel=0.05)


# -- JPEG XL distance <-> quality ------------------------------------------------------------


def libjxl_distance_from_quality(quality: float) -> float:
    """libjxl's JxlEncoderDistanceFromQuality, transcribed."""
    if quality >= 100:
        return 0.0
    if quality >= 30:
        return 0.1 + (100 - quality) * 0.09
    return 53.0 / 3000.0 * quality * quality - 23.0 / 20.0 * quality + 25.0


@pytest.mark.parametrize("quality,distance", [(90, 1.0), (30, 6.4), (0, 25.0), (100, 0.0)])
def test_jxl_quality_from_distance_known_points(quality, distance):
    assert codecs.jxl_quality_from_distance(distance) == pytest.approx(quality, abs=1e-9)
    assert libjxl_distance_from_quality(quality) == pytest.approx(distance, abs=1e-9)


@pytest.mark.parametrize("quality", [0.5, 5, 12.5, 20, 29.9, 30.1, 45, 75, 99.5])
def test_jxl_quality_from_distance_inverts_libjxl(quality):
    assert codecs.jxl_quality_from_distance(libjxl_distance_from_quality(quality)) == pytest.approx(quality, abs=1e-6)


def test_jxl_distance_matches_quality_bytes(astro128):
    jxl = codecs.get("jpegxl")
    assert jxl.encode(astro128, distance=1.0) == jxl.encode(astro128, quality=90)
    assert jxl.encode(astro128, distance=3.0, quality=10) == jxl.encode(astro128, quality=jxl_q(3.0))
    assert jxl.encode(astro128, distance=1.0) != jxl.encode(astro128, distance=3.0)


def jxl_q(distance):
    return codecs.jxl_quality_from_distance(distance)


@pytest.mark.parametrize("params", [{"quality": 100}, {"distance": 0.05}])
def test_jxl_accepts_its_whole_declared_range(params, astro128):
    jxl = codecs.get("jpegxl")
    data = jxl.encode(astro128, **params)
    assert psnr(astro128, jxl.decode(data)) > 45.0
