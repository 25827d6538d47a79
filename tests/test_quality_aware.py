"""Quality-aware artifact removal (issue 24): the network is told the JPEG quality read from the
file (or the user's strength), runs blind when neither is known, and trains on that condition."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from restoration import degrade, training
from restoration.codecs import get as get_codec
from restoration.core.errors import UserInputError
from restoration.models import nets, restorers, runtime
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


@pytest.fixture()
def quality_aware_model(monkeypatch):
    net = tiny_conditioned()
    seen = []

    class Recording(runtime.TorchRestorer):
        def restore_uint8(self, image, quality=None, **options):
            seen.append(quality)
            return super().restore_uint8(image, quality=quality, **options)

    spec = RestorerSpec("tiny-qa", ("jpeg",), "own", "test", lambda: Recording(net, multiple=2, bf16=False),
                        status_check=lambda: "ready", quality_aware=True)
    monkeypatch.setitem(restorers.REGISTRY, "tiny-qa", spec)
    restorers._instance.cache_clear()
    yield seen
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
    with pytest.raises(UserInputError, match="strength is a JPEG quality"):
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
