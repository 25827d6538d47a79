"""Geometric self-ensemble: 8 flips/rotations of the input, each output turned back, averaged;
for networks only, through every entry point (registry, sr, CLI, app)."""

import json

import numpy as np
import pytest
import skimage.data
import torch

from restoration import cli
from restoration.models import restorers, runtime
from restoration.pipelines import restore as restorelib
from restoration.pipelines import sr


class SubPixelNet(torch.nn.Module):
    """Random, not flip/rotation-equivariant (asymmetric kernels), with a sub-pixel stage."""

    def __init__(self, scale: int):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
        self.shuffle, self.scale = torch.nn.PixelShuffle(scale), scale

    def forward(self, x):
        base = torch.nn.functional.interpolate(x, scale_factor=self.scale) if self.scale > 1 else x
        return 0.15 + 0.7 * base + 0.1 * torch.tanh(self.shuffle(self.conv(x)))  # stays inside [0, 1]


def _by_hand(runner, image):
    """The ensemble spelled out on whole images with numpy: transform, run, transform back."""
    outputs = []
    for flip in (False, True):
        flipped = image[:, ::-1] if flip else image
        for turns in range(4):
            y = runner(np.ascontiguousarray(np.rot90(flipped, turns)), tile=4096)
            y = np.rot90(y, -turns)
            outputs.append(y[:, ::-1] if flip else y)
    return np.mean(outputs, axis=0)


@pytest.mark.parametrize("scale", [1, 2])
def test_ensemble_is_the_mean_of_the_eight_transforms(scale):
    torch.manual_seed(0)
    runner = runtime.TorchRestorer(SubPixelNet(scale).eval(), scale=scale, multiple=1, bf16=False)
    image = np.random.default_rng(0).random((20, 28, 3), dtype=np.float32)  # not square: rotations swap axes
    plain = runner(image, tile=4096)
    ensemble = runner(image, tile=4096, self_ensemble=True)
    assert ensemble.shape == plain.shape == (20 * scale, 28 * scale, 3)
    np.testing.assert_allclose(ensemble, _by_hand(runner, image), atol=1e-5)
    assert np.abs(ensemble - plain).mean() > 1e-3  # it changes the output of a non-equivariant net


def test_ensemble_is_tiled_like_the_plain_path():
    torch.manual_seed(1)
    runner = runtime.TorchRestorer(SubPixelNet(2).eval(), scale=2, multiple=4, bf16=False)
    image = np.random.default_rng(1).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    whole = runner.restore_uint8(image, tile=1024, self_ensemble=True)
    tiled = runner.restore_uint8(image, tile=32, overlap=8, self_ensemble=True)
    inner = np.abs(whole.astype(int) - tiled)[8:-8, 8:-8]
    assert whole.shape == tiled.shape == (140, 180, 3)
    assert inner.max() <= 2  # a 3x3 receptive field: tiles agree but for blend rounding


def test_registry_applies_it_to_networks_only():
    image = skimage.data.astronaut()[:64, :96].copy()
    assert restorers.get("deeprecnet-qa-codecs").self_ensemble and not restorers.get("tv").self_ensemble
    classical = restorers.restore(image, "tv", sigma=10, self_ensemble=True)
    np.testing.assert_array_equal(classical.image, restorers.restore(image, "tv", sigma=10).image)
    assert "self_ensemble" not in classical.options
    plain = restorelib.restore_one(image, "deeprecnet-qa-codecs", image)
    ensembled = restorelib.restore_one(image, "deeprecnet-qa-codecs", image, self_ensemble=True)
    assert ensembled.row()["self_ensemble"] is True and "self_ensemble" not in plain.row()
    assert np.abs(ensembled.image.astype(int) - plain.image).max() > 0


def test_sr_and_cli_carry_the_option(write_image, capsys, tmp_path):
    hr = skimage.data.astronaut()[:64, :64].copy()
    hr_cropped, lr = sr.make_lr(hr, 2)
    result = sr.run(lr, sr.default_model(2), 2, hr_cropped, self_ensemble=True)  # what the CLI runs
    assert result.row()["self_ensemble"] is True
    path = write_image(hr, "hr.png")
    assert (
        cli.main(
            [
                "upscale",
                str(path),
                "--scale",
                "2",
                "--from-hr",
                "--self-ensemble",
                "--out-dir",
                str(tmp_path / "out"),
                "--json",
            ]
        )
        == 0
    )
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["self_ensemble"] is True and row["psnr_y"] == pytest.approx(result.metrics["psnr_y"], abs=1e-6)
