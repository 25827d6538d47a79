"""The hyperprior learned codec (v2): real bitstreams from tiny random networks, and the shipped
rate points when weights/neural-hp is present."""

import numpy as np
import pytest
import torch
from conftest import rd_losses

from restoration import codecs, metrics
from restoration.codecs import hyperprior as hp
from restoration.codecs import learned
from restoration.core import budget
from restoration.core.errors import UserInputError
from restoration.pipelines import evaluate
from restoration.training import codec as nct


@pytest.fixture(scope="module", params=[False, True], ids=["hyperprior", "checkerboard"])
def tiny(request):
    torch.manual_seed(0)
    net = hp.HyperpriorNet(channels=8, latent=8, hyper=8, rate_points=3, context=request.param)
    with torch.no_grad():  # spread the gains so the rate points differ even untrained
        net.gain.copy_(torch.tensor([[10.0], [100.0], [1000.0]]).repeat(1, 8))
        net.inverse_gain.copy_(1 / net.gain)
        if net.has_context:  # its last layer starts at zero (the hyperprior alone): make it count
            torch.nn.init.normal_(net.context_parameters[-1].weight, std=0.3)
    return net


def _parameters(net, y):
    """(z, means, scales) at every latent as the coder sees them (the context's from the anchors)."""
    z = torch.round(net.side(y))
    means, scales = net.y_parameters(net.hyper_parameters(z), y)
    return z, means, scales


def test_round_trip_is_deterministic_and_decodes_from_bytes_alone(tiny, odd_image):
    encoder = hp.HyperpriorCodec(tiny)
    data = encoder.compress(odd_image, 2)
    assert data == encoder.compress(odd_image, 2)
    fresh = hp.HyperpriorNet(**tiny.config)
    fresh.load_state_dict(tiny.state_dict())
    decoded = hp.HyperpriorCodec(fresh).decompress(bytes(data))
    assert decoded.shape == odd_image.shape and decoded.dtype == np.uint8
    assert np.array_equal(decoded, encoder.decompress(data))


def test_decoder_sees_the_encoders_latents(tiny, astro128):
    """The decoded latents equal round(y - mean) + mean: what the encoder quantised."""
    codec = hp.HyperpriorCodec(tiny)
    x = torch.from_numpy(astro128).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y = tiny.latents(x, 2)
        _, means, _ = _parameters(tiny, y)
        expected = tiny.reconstruct(torch.round(y - means) + means, 2)[0].permute(1, 2, 0).numpy()
    decoded = codec.decompress(codec.compress(astro128, 3))
    assert np.abs(decoded.astype(float) - np.clip(expected * 255, 0, 255)).max() <= 1.0


def test_a_large_image_is_coded_in_tiles_to_the_whole_images_stream(tiny, chelsea, monkeypatch):
    """The transforms over tiles of 64 pixels (an odd-width image, 5 x 8 of them), the hyperprior
    and the context over the whole latent grid: the stream the image coded whole gives, and its
    decoding to float rounding; every tile checks the request."""
    codec = hp.HyperpriorCodec(tiny)
    whole = codec.compress(chelsea, 2)
    whole_image = codec.decompress(whole)
    monkeypatch.setattr(learned, "TILE", 64)
    checks = []
    monkeypatch.setattr(budget, "check", lambda: checks.append(1))
    tiled = codec.compress(chelsea, 2)
    decoded = codec.decompress(tiled)
    assert len(checks) == 2 * 5 * 8
    assert abs(len(tiled) - len(whole)) <= 0.002 * len(whole)
    assert decoded.shape == chelsea.shape and np.abs(decoded.astype(int) - whole_image).max() <= 1
    assert metrics.psnr(metrics.Sample(chelsea, decoded)) == pytest.approx(
        metrics.psnr(metrics.Sample(chelsea, whole_image)), abs=0.01
    )


def test_header_records_size_and_rate_point(tiny, odd_image):
    codec = hp.HyperpriorCodec(tiny)
    data = codec.compress(odd_image, 3)
    assert codec.version == (hp.CONTEXT_VERSION if tiny.has_context else hp.VERSION)
    assert hp.parse_header(data, codec.version) == (b"RH", codec.version, 3, *odd_image.shape[:2])
    assert (len(data) - hp.HEADER.size) % 4 == 0


def test_larger_gain_gives_more_bytes(tiny, astro128):
    model = hp.HyperpriorCodec(tiny)
    sizes = [len(model.compress(astro128, point)) for point in (1, 2, 3)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_rate_estimate_tracks_real_bytes(tiny, astro128):
    """The training loss's bit estimate (y and z) and the range coder's output agree closely (at the
    lowest rate point, where this random network's scales fit its residuals: far outliers cost the
    coder's leaky floor, not the estimate's)."""
    model = hp.HyperpriorCodec(tiny)
    x = torch.from_numpy(astro128).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y = tiny.latents(x, 0)
        z, means, scales = _parameters(tiny, y)
        assert (y - means).abs().max() < hp.Y_RADIUS and z.abs().max() < hp.Z_RADIUS  # nothing clamped
        bits = -torch.log2(hp.gaussian_likelihood(torch.round(y - means) + means, means, scales)).sum()
        bits += -torch.log2(tiny.density.likelihood(z)).sum()
    real_bits = 8 * (len(model.compress(astro128, 1)) - hp.HEADER.size)
    assert abs(real_bits - bits.item()) / bits.item() < 0.05


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d[:5], "no RH header"),
        (lambda d: b"RL" + d[2:], "no RH header"),
        (lambda d: d[:2] + bytes([99]) + d[3:], "version 99"),
        (lambda d: d[:-1], "truncated"),
        (lambda d: d[:3] + bytes([9]) + d[4:], "bad header"),
    ],
)
def test_corrupt_streams_are_refused_clearly(tiny, astro128, mutate, message):
    model = hp.HyperpriorCodec(tiny)
    with pytest.raises(UserInputError, match=message):
        model.decompress(mutate(model.compress(astro128, 1)))


def test_too_large_an_image_is_refused_before_any_work(tiny, monkeypatch):
    monkeypatch.setattr(hp, "MAX_PIXELS", 100)
    with pytest.raises(UserInputError, match="at most 100 pixels"):
        hp.HyperpriorCodec(tiny).compress(np.zeros((10, 11, 3), np.uint8), 1)


@pytest.mark.parametrize("context", [False, True])
@pytest.mark.slow
def test_training_step_lowers_the_rd_loss(context):
    torch.manual_seed(0)
    net = hp.HyperpriorNet(channels=8, latent=8, hyper=8, rate_points=2, latent_scale=20.0, context=context)
    losses = rd_losses(net, size=64)
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]


def test_checkerboard_context_starts_as_the_hyperprior_and_then_changes_the_models(astro128, tmp_path):
    """A context model started from a hyperprior's weights (its last layer zero) decodes the same
    image from as many bytes (give or take the coder's last words: the anchors are coded first);
    once that layer is non-zero the non-anchors' models, and so the stream, change."""
    from restoration import training

    torch.manual_seed(0)
    base = hp.HyperpriorNet(channels=8, latent=8, hyper=8, rate_points=3, latent_scale=20.0)
    training.save_weights(base, tmp_path / "base.safetensors")
    base, context = hp.HyperpriorNet(**base.config), hp.HyperpriorNet(**{**base.config, "context": True})
    for net in (base, context):  # both as saved (float16)
        training.load_matching(net, tmp_path / "base.safetensors", lambda *_: None)
    plain, started = hp.HyperpriorCodec(base), hp.HyperpriorCodec(context)
    plain_data, started_data = plain.compress(astro128, 2), started.compress(astro128, 2)
    assert started_data[2] == hp.CONTEXT_VERSION and plain_data[2] == hp.VERSION
    assert abs(len(started_data) - len(plain_data)) <= 8
    assert np.array_equal(started.decompress(started_data), plain.decompress(plain_data))
    with torch.no_grad():
        torch.nn.init.normal_(context.context_parameters[-1].weight, std=0.3)
    changed = hp.HyperpriorCodec(context)
    assert not np.array_equal(changed.decompress(changed.compress(astro128, 2)), plain.decompress(plain_data))


# -- the shipped network ----------------------------------------------------------------------------
needs_weights = pytest.mark.skipif(hp.manifest_entry() is None, reason="weights/neural-hp not trained yet")


@needs_weights
@pytest.mark.slow
def test_shipped_rate_points_trade_bytes_for_quality(astro256):
    points = codecs.get("neural-hp").knob.sweep
    rows = [evaluate.compress(astro256, "neural-hp", {"quality": q}, metric_names=["psnr", "bpp"]) for q in points]
    sizes, psnrs = [r.nbytes for r in rows], [r.metrics["psnr"] for r in rows]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(points)
    assert psnrs == sorted(psnrs)


@needs_weights
def test_shipped_codec_beats_jpeg_at_equal_size(astro256):
    jpeg = evaluate.compress(astro256, "jpeg", {"quality": 50}, metric_names=["psnr"])
    ours = evaluate.compress(astro256, "neural-hp", target=evaluate.Target(bytes=jpeg.nbytes), metric_names=["psnr"])
    assert ours.nbytes <= jpeg.nbytes and ours.metrics["psnr"] > jpeg.metrics["psnr"]


@needs_weights
def test_registry_entry_sniffs_and_refuses_garbage(astro128):
    codec = codecs.get("neural-hp")
    data = codec.encode(astro128, quality=3)
    assert codecs.sniff(data) is codec
    with pytest.raises(codecs.CodecError):
        codec.decode(data[:-3])
    assert metrics.psnr(metrics.Sample(astro128, codec.decode(data))) > 20


def test_extrapolated_rate_points_code_smaller_and_larger_files(tmp_path, astro128):
    """Two gain vectors below the lowest trained one and one above the highest: the manifest's
    config grows by three points, the file is rewritten with its new sha256, the new lowest point
    writes the smallest file and the new highest the largest."""
    import json

    from restoration.core import manifest as manifestlib
    from restoration.training import save_weights

    torch.manual_seed(0)
    net = hp.HyperpriorNet(channels=8, latent=8, hyper=8, rate_points=3, latent_scale=20.0)
    save_weights(net, tmp_path / "neural-hp.safetensors")
    manifestlib.record(
        tmp_path / "manifest.json",
        "codecs",
        "neural-hp",
        {"file": "neural-hp.safetensors", "sha256": "old", "config": net.config},
    )
    entry = nct.extrapolate_rates(tmp_path, "neural-hp", below=2, above=1)
    assert entry["config"]["rate_points"] == 6 and entry["extrapolated_rate_points"] == {"below": 2, "above": 1}
    assert json.loads((tmp_path / "manifest.json").read_text())["codecs"]["neural-hp"][
        "sha256"
    ] == manifestlib.sha256_of(tmp_path / "neural-hp.safetensors")
    codec = hp.HyperpriorCodec.from_file(tmp_path / "neural-hp.safetensors", entry["config"])
    sizes = [len(codec.compress(astro128, point)) for point in range(1, 7)]
    assert sizes[0] <= sizes[1] <= sizes[2] and sizes[2] <= sizes[4] < sizes[5]
