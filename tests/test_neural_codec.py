"""The learned codec: real bitstreams (tiny random networks), and the shipped rate points."""

import numpy as np
import pytest
import torch
from conftest import rd_losses

from restoration import codecs, metrics
from restoration.codecs import learned as nc
from restoration.core import budget
from restoration.core.errors import UserInputError
from restoration.pipelines import evaluate


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    net = nc.NeuralCodecNet(channels=8, latent=8, rate_points=3)
    with torch.no_grad():  # spread the gains so the rate points differ even untrained
        net.gain.copy_(torch.tensor([[10.0], [100.0], [1000.0]]).repeat(1, 8))
        net.inverse_gain.copy_(1 / net.gain)
    return net


def test_round_trip_is_deterministic_and_decodes_from_bytes_alone(tiny, odd_image):
    encoder = nc.CodecModel(tiny)
    data = encoder.compress(odd_image, 2)
    assert data == encoder.compress(odd_image, 2)
    decoder = nc.CodecModel(nc.NeuralCodecNet(**tiny.config))  # fresh object, same weights
    decoder.net.load_state_dict(tiny.state_dict())
    decoder = nc.CodecModel(decoder.net)
    first, second = decoder.decompress(bytes(data)), encoder.decompress(data)
    assert first.shape == odd_image.shape and first.dtype == np.uint8
    assert np.array_equal(first, second)


def test_header_records_size_and_rate_point(tiny, odd_image):
    data = nc.CodecModel(tiny).compress(odd_image, 3)
    magic, version, point, height, width = nc.parse_header(data)
    assert (magic, version, point, height, width) == (b"RL", nc.VERSION, 3, *odd_image.shape[:2])
    assert (len(data) - nc.HEADER.size) % 4 == 0


def test_larger_gain_gives_more_bytes(tiny, astro128):
    model = nc.CodecModel(tiny)
    sizes = [len(model.compress(astro128, point)) for point in (1, 2, 3)]
    assert sizes[0] < sizes[1] < sizes[2]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d[:5], "no RL header"),
        (lambda d: b"XX" + d[2:], "no RL header"),
        (lambda d: d[:2] + bytes([99]) + d[3:], "version 99"),
        (lambda d: d[:-1], "truncated"),
        (lambda d: d[:3] + bytes([9]) + d[4:], "bad header"),
    ],
)
def test_corrupt_streams_are_refused_clearly(tiny, astro128, mutate, message):
    model = nc.CodecModel(tiny)
    with pytest.raises(UserInputError, match=message):
        model.decompress(mutate(model.compress(astro128, 1)))


def test_too_large_an_image_is_refused_before_any_work(tiny, monkeypatch):
    monkeypatch.setattr(nc, "MAX_PIXELS", 100)
    with pytest.raises(UserInputError, match="at most 100 pixels"):
        nc.CodecModel(tiny).compress(np.zeros((10, 11, 3), np.uint8), 1)


def test_a_large_image_is_coded_in_tiles_to_the_whole_images_stream(tiny, chelsea, monkeypatch):
    """Tiles of 64 pixels (an odd-width image, 5 x 8 of them) give the stream the image coded whole
    gives and its decoding to float rounding; every tile checks the request, so a cancel stops it."""
    model = nc.CodecModel(tiny)
    whole = model.compress(chelsea, 2)
    whole_image = model.decompress(whole)
    monkeypatch.setattr(nc, "TILE", 64)
    checks = []
    monkeypatch.setattr(budget, "check", lambda: checks.append(1))
    tiled = model.compress(chelsea, 2)
    decoded = model.decompress(tiled)
    assert len(checks) == 2 * 5 * 8
    assert abs(len(tiled) - len(whole)) <= 0.002 * len(whole)
    assert decoded.shape == chelsea.shape and np.abs(decoded.astype(int) - whole_image).max() <= 1
    assert metrics.psnr(metrics.Sample(chelsea, decoded)) == pytest.approx(
        metrics.psnr(metrics.Sample(chelsea, whole_image)), abs=0.01
    )
    monkeypatch.undo()
    monkeypatch.setattr(nc, "TILE", 64)
    with budget.request(cancelled=lambda: True), pytest.raises(UserInputError, match="cancelled"):
        model.compress(chelsea, 2)


def test_probability_tables_are_distributions(tiny):
    tables = tiny.density.probability_tables(radius=16)
    assert tables.shape == (8, 33)
    assert np.allclose(tables.sum(axis=1), 1.0) and (tables > 0).all()


def test_rate_estimate_tracks_real_bytes(tiny, astro128):
    """The density's bit estimate and the range coder's output agree within a few percent."""
    model = nc.CodecModel(tiny)
    x = torch.from_numpy(astro128).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        symbols = torch.round(tiny.latents(x, 1))
        estimate_bits = -torch.log2(tiny.density.likelihood(symbols)).sum().item()
    real_bits = 8 * (len(model.compress(astro128, 2)) - nc.HEADER.size)
    assert abs(real_bits - estimate_bits) / estimate_bits < 0.05


@pytest.mark.slow
def test_training_step_lowers_the_rd_loss():
    torch.manual_seed(0)
    losses = rd_losses(nc.NeuralCodecNet(channels=8, latent=8, rate_points=2), size=32)
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]


# -- the shipped network ----------------------------------------------------------------------------
needs_weights = pytest.mark.skipif(nc.manifest_entry() is None, reason="weights/neural-codec not trained yet")


@needs_weights
def test_shipped_rate_points_trade_bytes_for_quality(astro256):
    rows = [evaluate.compress(astro256, "neural", {"quality": q}, metric_names=["psnr", "bpp"]) for q in range(1, 6)]
    sizes = [r.nbytes for r in rows]
    psnrs = [r.metrics["psnr"] for r in rows]
    assert sizes == sorted(sizes) and len(set(sizes)) == 5
    assert psnrs == sorted(psnrs)
    for row in rows:  # bpp comes from the bytes
        assert row.metrics["bpp"] == pytest.approx(8 * row.nbytes / (256 * 256))


@needs_weights
def test_shipped_codec_beats_jpeg_at_equal_size(astro256):
    """At JPEG quality 50's size, the learned codec's best fitting rate point has a higher PSNR."""
    jpeg = evaluate.compress(astro256, "jpeg", {"quality": 50}, metric_names=["psnr"])
    ours = evaluate.compress(astro256, "neural", target=evaluate.Target(bytes=jpeg.nbytes), metric_names=["psnr"])
    assert ours.nbytes <= jpeg.nbytes
    assert ours.metrics["psnr"] > jpeg.metrics["psnr"]


@needs_weights
def test_registry_entry_sniffs_and_refuses_garbage(astro128):
    codec = codecs.get("neural")
    data = codec.encode(astro128, quality=2)
    assert codecs.sniff(data) is codec
    with pytest.raises(codecs.CodecError):
        codec.decode(data[:-3])  # the stream is 8 header bytes + 32-bit words
    assert metrics.psnr(metrics.Sample(astro128, codec.decode(data))) > 20
