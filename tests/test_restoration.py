"""Registry contract, tiling, degradations and the training smoke path, on tiny random models."""

import json

import numpy as np
import pytest
import skimage.data
import torch

from restoration import codecs as codeclib
from restoration import degrade
from restoration.codecs import jpeg_quality
from restoration.core.errors import UserInputError
from restoration.models import nets, restorers, runtime, tiling
from restoration.pipelines import restore as restorelib


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()[:192, :256].copy()


def test_tiled_matches_untiled_away_from_borders():
    torch.manual_seed(0)
    model = nets.DeepRecNet(channels=(8, 16, 16, 16), blocks=(1, 1, 1, 1)).eval()
    torch.nn.init.normal_(model.tail.weight, std=0.05)  # non-identity, so tiling matters
    runner = runtime.TorchRestorer(model, multiple=model.size_multiple, bf16=False)
    image = np.random.default_rng(0).random((150, 230, 3), dtype=np.float32)
    whole = runner(image, tile=1024)
    tiled = runner(image, tile=96, overlap=32)
    assert whole.shape == tiled.shape == image.shape
    inner = (slice(16, -16), slice(16, -16))
    # Receptive field exceeds the overlap, so tiles differ slightly; blending keeps it small.
    assert np.abs(whole[inner] - tiled[inner]).mean() < 1e-3
    assert np.abs(whole - tiled).max() < 0.05


def test_pad_to_multiple_restores_size():
    x = torch.rand(1, 3, 37, 53)
    padded, size = tiling.pad_to_multiple(x, 8)
    assert padded.shape[-2:] == (40, 56) and size == (37, 53)


@pytest.mark.parametrize("model_id", ["gaussian", "median", "bilateral", "tv", "wavelet", "nlm"])
def test_classical_models_denoise(astronaut, model_id):
    noisy = degrade.Noise(25, seed=1)(astronaut)
    result = restorelib.restore_one(noisy, model_id, astronaut, sigma=25)
    assert result.image.shape == astronaut.shape and result.image.dtype == np.uint8
    assert result.after["psnr"] > result.before["psnr"] + 1.0, model_id


def test_registry_contract():
    for spec in restorers.REGISTRY.values():
        row = spec.describe()
        assert set(row["tasks"]) <= set(restorers.TASKS)
        assert row["source"] in ("classical", "own", "hub", "auto")
        assert row["description"]
    with pytest.raises(UserInputError, match="unknown model"):
        restorers.get("nosuch")


def test_degradations(astronaut):
    assert degrade.Downscale(4)(astronaut).shape == (48, 64, 3)
    noisy_a = degrade.Noise(10, seed=3)(astronaut)
    assert np.array_equal(noisy_a, degrade.Noise(10, seed=3)(astronaut))  # seeded
    assert not np.array_equal(noisy_a, degrade.Noise(10, seed=4)(astronaut))
    jpeg = degrade.Compress("jpeg", {"quality": 10})(astronaut)
    assert jpeg.shape == astronaut.shape and not np.array_equal(jpeg, astronaut)
    avif = degrade.Compress("avif", bpp=0.5)(astronaut)
    assert avif.shape == astronaut.shape
    blurred = degrade.Blur(sigma=2)(astronaut)
    assert blurred.std() < astronaut.std()
    chain = degrade.Chain((degrade.Blur(sigma=1), degrade.Downscale(2), degrade.Noise(5)))
    assert chain(astronaut).shape == (96, 128, 3)
    assert [s["kind"] for s in chain.describe()["steps"]] == ["blur", "downscale", "noise"]
    with pytest.raises(UserInputError):
        degrade.Noise(300)(astronaut)


@pytest.mark.parametrize("quality", [3, 10, 37, 50, 83, 100])
def test_jpeg_quality_estimate_is_exact_for_libjpeg(astronaut, quality):
    data = codeclib.get("jpeg").encode(astronaut, quality=quality)
    estimate = jpeg_quality.estimate(data)
    assert estimate.quality == quality and estimate.exact


def test_jpeg_quality_estimate_none_for_other_formats(astronaut):
    assert jpeg_quality.estimate(codeclib.get("png").encode(astronaut)) is None
    assert jpeg_quality.estimate(b"not an image") is None


def test_a_model_passes_jpeg_above_its_declared_quality_through(monkeypatch):
    """A model declared to lose PSNR above a JPEG quality (``max_jpeg_quality``) returns such input
    unchanged and says why; at that quality, it runs."""
    import dataclasses

    spec = dataclasses.replace(restorers.get("dncnn"), max_jpeg_quality=92)
    if spec.status() != "ready":
        pytest.skip("DnCNN weights not present")
    monkeypatch.setitem(restorers.REGISTRY, "dncnn", spec)
    image = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    skipped = restorers.restore(image, "dncnn", jpeg_quality=93)
    assert np.array_equal(skipped.image, image) and "unchanged" in skipped.options["note"]
    ran = restorers.restore(image, "dncnn", jpeg_quality=92)
    assert "note" not in ran.options and not np.array_equal(ran.image, image)


def test_continued_training_keeps_every_earlier_stage(tmp_path):
    """A run continued from shipped weights records the stages behind them, oldest first."""
    from restoration import training

    stage = {
        "recipe": {"lr": 1e-4},
        "steps_run": 10,
        "best_step": 10,
        "train_seconds": 1.0,
        "val_input_psnr": 20.0,
        "val_psnr": 21.0,
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "own": {
                    "m": {
                        **stage,
                        "val_psnr": 22.0,
                        "sha256": "ab",
                        "file": "m.safetensors",
                        "previous_stages": [stage],
                    }
                }
            }
        )
    )
    history = training.shipped_stages("m", manifest=manifest)
    assert [s["val_psnr"] for s in history] == [21.0, 22.0] and history[-1]["sha256"] == "ab"
    summary = {
        "recipe": {"lr": 5e-5},
        "steps_run": 4,
        "best": {"step": 2, "val_psnr": 22.51234},
        "train_seconds": 3.0,
        "val_input_psnr": 20.0,
    }
    assert training.stage_record(summary) == {
        "recipe": {"lr": 5e-5},
        "steps_run": 4,
        "best_step": 2,
        "train_seconds": 3.0,
        "val_input_psnr": 20.0,
        "val_psnr": 22.512,
    }


def test_channel_shuffle_reorders_colours_of_the_clean_and_degraded_patch_alike():
    """With channel_shuffle the patches show the photo's channels in other orders (the same
    order in the clean and the degraded patch); without it, only the photo's own order."""
    from restoration import training

    image = np.zeros((8, 8, 3), dtype=np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 10, 120, 240  # one colour: order is visible

    def orders(shuffle):
        stream = iter(training.PatchStream([image], 8, "clean", 60, channel_shuffle=shuffle))
        pairs = [next(stream) for _ in range(60)]
        assert all(torch.equal(d, c) for d, c in pairs)
        return {tuple(int(round(v * 255)) for v in c[:, 0, 0].tolist()) for _, c in pairs}

    assert orders(False) == {(10, 120, 240)}
    assert len(orders(True)) == 6


def test_with_rescaled_appends_downscaled_copies_that_average_grain_down():
    """Each factor adds a copy of every image at ceil(size * factor); on a flat grey with i.i.d.
    grain, the half-size copy keeps the mean and has at most about half the grain."""
    from restoration import training

    rng = np.random.default_rng(0)
    grainy = np.clip(128 + rng.normal(0, 10, (64, 96, 3)), 0, 255).astype(np.uint8)
    other = np.zeros((30, 20, 3), dtype=np.uint8)
    images = training.with_rescaled([grainy, other], (0.5, 0.7))
    assert [im.shape for im in images] == [(64, 96, 3), (30, 20, 3), (32, 48, 3), (15, 10, 3), (45, 68, 3), (21, 14, 3)]
    assert images[0] is grainy and training.with_rescaled([grainy], ()) == [grainy]
    half = images[2].astype(np.float64)
    assert abs(half.mean() - 128) < 1
    assert half.std() < 0.6 * grainy.astype(np.float64).std()


def test_boost_saturation_raises_saturation_in_gamut_and_keeps_value_and_greys():
    """The exponent raises HSV saturation, the channel maximum (value) and grey pixels stay, and
    exponent 1 is the identity; PatchStream applies it to some patches only."""
    from restoration import training

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    image[:4] = 77  # grey rows

    def saturation(a):
        a = a.astype(np.float32)
        return np.mean((a.max(2) - a.min(2)) / np.maximum(a.max(2), 1e-6))

    boosted = training.boost_saturation(image, 2.0)
    assert np.array_equal(training.boost_saturation(image, 1.0), image)
    assert np.array_equal(boosted.max(2), image.max(2))
    assert np.array_equal(boosted[:4], image[:4])
    assert saturation(boosted) > saturation(image) + 0.05
    one_colour = np.zeros((8, 8, 3), dtype=np.uint8) + np.array([60, 120, 240], dtype=np.uint8)
    stream = iter(training.PatchStream([one_colour], 8, "clean", 40, saturation_boost=2.0))
    red = [int(round(next(stream)[1][0, 0, 0].item() * 255)) for _ in range(40)]
    assert 5 < sum(r < 60 for r in red) < 35 and all(r <= 60 for r in red)


def test_the_noise_a_degrade_step_added_becomes_the_models_noise_level():
    from ui import restore_tab

    chain = {"kind": "chain", "steps": [{"kind": "compress"}, {"kind": "noise", "sigma": 25.0}]}
    assert restore_tab.known_sigma(chain) == 25.0
    assert restore_tab.known_sigma({"kind": "noise", "sigma": 15.0}) == 15.0
    assert (
        restore_tab.known_sigma(
            {"kind": "chain", "steps": [{"kind": "noise", "sigma": 3.0}, {"kind": "noise", "sigma": 4.0}]}
        )
        == 5.0
    )
    assert restore_tab.known_sigma({"kind": "compress"}) == {"__type__": "update"}


def test_restore_table_gives_the_input_its_own_row(tmp_path, astronaut):
    """The input's metrics are one row ("input (degraded)"), not an "in" column repeated in every
    model's row (which pushed SSIM and the note off a laptop's screen); a model that gave no result
    keeps its row and says why."""
    from PIL import Image

    from restoration.lab import restore as lab_restore

    clean = astronaut[:96, :96]
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
    paths = [tmp_path / "clean.png", tmp_path / "noisy.png"]
    for path, image in zip(paths, (clean, noisy)):
        Image.fromarray(image).save(path)
    run, _ = lab_restore.restore(str(paths[1]), str(paths[0]), ["median", "gaussian", "nosuch"], 20)
    shown = lab_restore.restore_table(run)
    headers, table = shown["headers"], shown["data"]
    assert headers == lab_restore.restore_headers()
    assert not any(h.endswith(" in") or h.endswith(" out") for h in headers) and len(headers) <= 8
    rows = {row[0]: dict(zip(headers, row)) for row in table}
    assert table[0][0] == lab_restore.INPUT_ROW and list(rows)[1:] == ["median", "gaussian", "nosuch"]
    given, median = rows[lab_restore.INPUT_ROW], rows["median"]
    assert given["PSNR dB"] < median["PSNR dB"]  # sigma 20 noise: any filter gains
    assert median["PSNR gain dB"] == pytest.approx(median["PSNR dB"] - given["PSNR dB"], abs=2e-4)
    assert given["PSNR gain dB"] is None and rows["nosuch"]["note"].startswith("no result:")
    no_reference, _ = lab_restore.restore(str(paths[1]), None, ["median"], 20)
    unmeasured = lab_restore.restore_table(no_reference)  # the metric columns would be empty: left out
    assert unmeasured["headers"] == ["model", "seconds", "note"] and [r[0] for r in unmeasured["data"]] == ["median"]


def test_restore_names_the_bad_image_and_asks_for_a_model_first(tmp_path, astronaut):
    """Two image slots: a bad clean original is named as such (and how to go on without it); with
    no model chosen, that is said first, before any file is read."""
    from PIL import Image

    from restoration.lab import restore as lab_restore

    good, bad = tmp_path / "photo.png", tmp_path / "notes.png"
    Image.fromarray(astronaut[:64, :64]).save(good)
    bad.write_bytes(b"this is not an image")
    with pytest.raises(UserInputError, match="^choose at least one model$"):
        lab_restore.restore(str(bad), str(bad), [], 0)
    with pytest.raises(UserInputError, match="^clean original notes.png: not a recognised image format"):
        lab_restore.restore(str(good), str(bad), ["median"], 0)
    with pytest.raises(UserInputError, match="^degraded input notes.png: not a recognised image format"):
        lab_restore.restore(str(bad), str(good), ["median"], 0)
