"""Quality-aware artifact removal: the network is told the JPEG quality read from the
file (or the user's strength), runs blind when neither is known, and trains on that condition."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from restoration import degrade, training
from restoration.codecs import get as get_codec
from restoration.core.errors import UserInputError
from restoration.models import condition, nets, restorers, runtime
from restoration.models.spec import RestorerSpec
from restoration.pipelines import restore as restorelib


def tiny_conditioned(seed=0):
    torch.manual_seed(seed)
    net = nets.DeepRecNet((8, 16), (1, 1), conditioned=True)
    for layer in (net.film[2], net.tail):  # both start at zero (identity); give them weights to see
        torch.nn.init.normal_(layer.weight, std=0.2)
    return net.eval()


def test_a_conditioned_network_grown_from_a_blind_one_starts_as_it():
    blind = nets.DeepRecNet((8, 16), (1, 1))
    grown = nets.DeepRecNet((8, 16), (1, 1), conditioned=True)
    grown.load_state_dict(blind.state_dict(), strict=False)
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(grown(x, torch.tensor([[0.1, 1.0]])), blind(x))


def test_the_restorer_tells_the_quality_and_runs_blind_without_it(astro128):
    runner = runtime.TorchRestorer(tiny_conditioned(), multiple=2, bf16=False)
    told_10, told_90, blind = (runner.restore_uint8(astro128, quality=q) for q in (10, 90, None))
    assert not np.array_equal(told_10, told_90) and not np.array_equal(told_10, blind)
    assert np.array_equal(told_10, runner.restore_uint8(astro128, quality=10))  # deterministic
    ensemble = runner.restore_uint8(astro128, quality=10, self_ensemble=True)
    assert ensemble.shape == astro128.shape


def recording_model(monkeypatch, model_id: str, net, knows: tuple[str, ...], record) -> list:
    """Register ``net`` as the quality-aware ``model_id`` (knowing the codecs ``knows``); each run
    appends ``record(quality, codec)``, what it was told, to the list returned."""
    seen = []

    class Recording(runtime.TorchRestorer):
        def restore_uint8(self, image, quality=None, codec=None, **options):
            seen.append(record(quality, codec))
            return super().restore_uint8(image, quality=quality, codec=codec, **options)

    spec = RestorerSpec(
        model_id,
        ("jpeg",),
        "own",
        "test",
        lambda: Recording(net, multiple=2, bf16=False),
        status_check=lambda: "ready",
        quality_aware=knows,
    )
    monkeypatch.setitem(restorers.REGISTRY, model_id, spec)
    restorers._instance.cache_clear()
    return seen


@pytest.fixture()
def quality_aware_model(monkeypatch):
    yield recording_model(monkeypatch, "tiny-qa", tiny_conditioned(), ("jpeg",), lambda quality, codec: quality)
    restorers._instance.cache_clear()


def test_the_file_quality_reaches_the_model_and_strength_overrides_it(quality_aware_model, astro128):
    data = get_codec("jpeg").encode(astro128, quality=23)
    degraded = get_codec("jpeg").decode(data)
    result = restorelib.restore_one(degraded, "tiny-qa", data=data)
    assert quality_aware_model[-1] == 23 and result.extra["quality"] == 23
    restorelib.restore_one(degraded, "tiny-qa", data=data, strength=60)
    assert quality_aware_model[-1] == 60
    restorelib.restore_one(degraded, "tiny-qa")  # a PNG of a decoded JPEG: nothing to read
    assert quality_aware_model[-1] is None
    with pytest.raises(UserInputError, match="strength is a quality"):
        restorelib.restore_one(degraded, "tiny-qa", strength=300)


def test_training_patches_carry_the_condition():
    rng = random.Random(0)
    told = training.jpeg_condition(degrade.Compress("jpeg", {"quality": 30}), rng)
    assert told.tolist() == pytest.approx([0.3, 1.0])
    assert training.jpeg_condition(degrade.Compress("webp", {"quality": 30}), rng).tolist() == [0.0, 0.0]
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    stream = iter(training.PatchStream([image], 32, "compression_full", 40, condition=True))
    batch = [next(stream) for _ in range(40)]
    assert all(len(item) == 3 and item[2].shape == (2,) for item in batch)
    known = [item[2] for item in batch if item[2][1] == 1]
    assert known and all(0.05 <= float(c[0]) <= 0.95 for c in known)
    assert any(item[2][1] == 0 for item in batch)  # other codecs, and a share of JPEGs, run blind


# Codec-aware networks (``codecs``): told which codec made the file and its strength.


def tiny_codec_aware(seed=0):
    torch.manual_seed(seed)
    net = nets.DeepRecNet((8, 16), (1, 1), conditioned=True, codecs=condition.CODECS)
    for layer in (net.film[0], net.film[2], net.tail):
        torch.nn.init.normal_(layer.weight, std=0.5)
    return net.eval()


def test_a_codec_aware_network_grown_from_a_jpeg_only_one_starts_as_it(tmp_path):
    jpeg_only = tiny_conditioned()
    path = tmp_path / "jpeg_only.safetensors"
    training.save_weights(jpeg_only, path)
    grown = nets.DeepRecNet((8, 16), (1, 1), conditioned=True, codecs=condition.CODECS)
    training.load_matching(grown, str(path))
    jpeg_only.load_state_dict({k: v.half().float() for k, v in jpeg_only.state_dict().items()})
    x = torch.rand(1, 3, 16, 16)
    told = torch.from_numpy(condition.vector(30, "webp", condition.CODECS))[None]
    assert torch.equal(grown.eval()(x, told), jpeg_only(x, told[:, :2]))
    assert grown.film[0].weight[:, 2:].abs().sum() == 0 and grown.film[0].weight[:, :2].abs().sum() > 0


def test_condition_vectors():
    assert condition.vector(30, "webp", condition.CODECS).tolist() == pytest.approx([0.3, 1, 0, 1, 0, 0])
    assert condition.vector(None, "avif", condition.CODECS).tolist() == [0, 0, 0, 0, 1, 0]
    assert condition.vector(None, None, condition.CODECS).tolist() == [0] * 6
    assert condition.vector(30, "webp").tolist() == [0, 0]  # a JPEG-only network is not told WebP's quality
    assert condition.vector(30, "jpeg").tolist() == pytest.approx([0.3, 1])
    strengths = [condition.jpeg2000_strength(r) for r in (4, 12, 32, 192, 1000)]
    assert strengths == sorted(strengths, reverse=True) and strengths[0] == 100 and strengths[-1] == 1
    assert condition.strength_of("jpeg2000", {"rate": 32}) == pytest.approx(50)
    assert condition.strength_of("webp", {"quality": 40}) == 40 and condition.strength_of("png", {}) is None


def test_codec_aware_training_patches_cover_every_case():
    rng = random.Random(0)
    webp = degrade.Compress("webp", {"quality": 40})
    assert training.compression_condition(webp, rng, condition.CODECS, mix=(0, 0, 0)).tolist() == pytest.approx(
        [0.4, 1, 0, 1, 0, 0]
    )
    told = [tuple(training.compression_condition(webp, rng, condition.CODECS)) for _ in range(400)]
    blind = told.count((0,) * 6) / 400
    codec_only = sum(t[1] == 0 and t[3] == 1 for t in told) / 400
    strength_only = sum(t[1] == 1 and t[3] == 0 for t in told) / 400
    assert 0.05 < blind < 0.15 and 0.05 < codec_only < 0.15 and 0.01 < strength_only < 0.1
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    stream = iter(training.PatchStream([image], 32, "compression_full", 20, condition=True, codecs=condition.CODECS))
    assert all(next(stream)[2].shape == (6,) for _ in range(20))


@pytest.fixture()
def codec_aware_model(monkeypatch):
    yield recording_model(
        monkeypatch, "tiny-codecs", tiny_codec_aware(), condition.CODECS, lambda quality, codec: (quality, codec)
    )
    restorers._instance.cache_clear()


def test_the_file_says_its_codec_and_the_user_or_chain_overrides_it(codec_aware_model, astro128):
    webp = get_codec("webp").encode(astro128, quality=30)
    degraded = get_codec("webp").decode(webp)
    run = restorelib.restore_image(degraded, ["tiny-codecs"], data=webp)
    assert codec_aware_model[-1] == (None, "webp") and run.codec == "webp"
    assert run.results[0].extra["note"] == "told webp file"
    told = restorelib.restore_image(degraded, ["tiny-codecs"], strength=30, codec="webp").results[0]
    assert codec_aware_model[-1] == (30, "webp") and told.extra["note"] == "told webp file, strength 30"
    blind = restorelib.restore_image(degraded, ["tiny-codecs"]).results[0]
    assert codec_aware_model[-1] == (None, None) and blind.extra["note"] == restorers.UNTOLD
    assert not np.array_equal(told.image, blind.image)
    jpeg = get_codec("jpeg").encode(astro128, quality=23)
    restorelib.restore_image(get_codec("jpeg").decode(jpeg), ["tiny-codecs"], data=jpeg)
    assert codec_aware_model[-1] == (23, "jpeg")
    with pytest.raises(UserInputError, match="knows the codecs"):
        restorers.restore(degraded, "tiny-codecs", codec="gif")


def test_a_jpeg2000_file_says_its_strength_from_its_tiles(codec_aware_model, astro128):
    j2k = get_codec("jpeg2000").encode(astro128, rate=32)
    result = restorelib.restore_one(get_codec("jpeg2000").decode(j2k), "tiny-codecs", data=j2k)
    strength = codec_aware_model[-1][0]  # a 128-px file at 32:1 carries more in its tiles: heavier than 50
    assert codec_aware_model[-1][1] == "jpeg2000" and 20 < strength < 48
    assert result.extra["note"] == f"told jpeg2000 file, strength {strength:g}"
    restorelib.restore_one(get_codec("jpeg2000").decode(j2k), "tiny-codecs", data=j2k, strength=70)
    assert codec_aware_model[-1] == (70, "jpeg2000")  # the user's strength wins
    run = restorelib.restore_image(get_codec("jpeg2000").decode(j2k), ["tiny-codecs"], data=j2k)  # the app's path
    assert codec_aware_model[-1] == (strength, "jpeg2000") and run.codec == "jpeg2000"


def test_a_jpeg_only_model_runs_blind_on_a_webp_file(quality_aware_model, astro128):
    webp = get_codec("webp").encode(astro128, quality=30)
    result = restorelib.restore_one(get_codec("webp").decode(webp), "tiny-qa", data=webp)
    assert quality_aware_model[-1] is None
    assert result.extra["note"] == "ran blind: it knows the strength of jpeg files, not webp"
    told = restorelib.restore_one(get_codec("webp").decode(webp), "tiny-qa", data=webp, strength=30)
    assert quality_aware_model[-1] is None and told.extra["note"].startswith("ran blind")  # not JPEG's q30


def test_the_chain_tells_the_codec_and_strength():
    from restoration.lab import restore as lab_restore

    def told(text):
        return lab_restore.chain_compression(degrade.parse_chain(text).describe())

    assert told("jpeg:q=10") == (10, "jpeg")
    assert told("downscale:2, avif:q=30, noise:5") == (30, "avif")
    assert told("jpeg2000:rate=32") == (50, "jpeg2000")
    assert told("webp:bpp=0.3") == (0, "webp")  # a size target: the codec is known, its setting is not
    assert told("noise:10") == (0, "") and lab_restore.chain_compression(None) == (0, "")


def test_cli_strength_and_input_codec(capsys, tmp_path, astro128):
    from restoration import cli

    webp = get_codec("webp").encode(astro128, quality=20)
    (tmp_path / "in.webp").write_bytes(webp)
    png = tmp_path / "in.png"
    from PIL import Image

    Image.fromarray(get_codec("webp").decode(webp)).save(png)

    def run(path, *extra, model="deeprecnet-qa-codecs"):
        out = tmp_path / f"out{len(extra)}{path.suffix}.png"
        assert (
            cli.main(["restore", str(path), "--task", "jpeg", "--model", model, "--out", str(out), "--json", *extra])
            == 0
        )
        row = json.loads(capsys.readouterr().out.splitlines()[-1])
        return row, np.asarray(Image.open(out))

    blind, blind_pixels = run(png)
    told, told_pixels = run(png, "--strength", "20")
    assert blind["note"] == restorers.UNTOLD and told["note"] == "told strength 20"
    assert not np.array_equal(blind_pixels, told_pixels)
    # The WebP file names its codec; the user adds the strength.
    from_file, file_pixels = run(tmp_path / "in.webp")
    told, told_pixels = run(png, "--input-codec", "webp", "--strength", "20")
    assert from_file["note"] == "told webp file" and from_file["codec"] == "webp"
    assert told["note"] == "told webp file, strength 20" and not np.array_equal(file_pixels, told_pixels)
    with pytest.raises(SystemExit, match="2"):
        cli.main(["restore", str(png), "--task", "jpeg", "--out", str(tmp_path / "x.png"), "--input-codec", "gif"])
    assert "invalid choice: 'gif'" in capsys.readouterr().err
