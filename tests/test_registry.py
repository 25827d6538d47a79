"""The registry's entries and their sources: our networks come from weights/manifest.json (one
table line each for what the manifest cannot say), every entry's source answers for it, and a
runner given directly (a test's network, a checkpoint being scored) keeps the rest of its entry."""

from __future__ import annotations

import numpy as np
import pytest

from restoration.models import condition, hub, restorers, runtime, sources, spec


def test_every_own_manifest_entry_has_a_registry_line_and_every_line_an_entry():
    entries = spec.own_manifest()
    assert set(restorers.OWN) == set(entries), (
        "an own network in weights/manifest.json without a line in restorers.OWN, or the reverse"
    )
    own = [s for s in restorers.REGISTRY.values() if isinstance(s.origin, sources.OwnSource)]
    assert [s.weights for s in own] == list(restorers.OWN)  # the table's order: the defaults' order


@pytest.mark.slow
def test_own_entries_take_scale_conditioning_and_gan_training_from_the_manifest():
    for key, entry in spec.own_manifest().items():
        s = restorers.get(restorers.OWN[key].id or key)
        config = entry["arch_config"]
        assert (s.source, s.weights, s.scale) == ("own", key, entry.get("scale", 1))
        assert s.scale == config.get("scale", 1)  # the network's own upscaling factor
        assert s.quality_aware == (tuple(config["codecs"]) if config.get("conditioned") else ())
        assert s.perceptual == (entry["recipe"].get("adversarial") is not None)
        assert s.sha256() == entry["sha256"] and s.describe()["params"] == entry["params"]
    assert restorers.get("deeprecnet-qa-codecs").quality_aware == condition.CODECS
    assert restorers.get("srgan-x4").perceptual and restorers.get("dncnn").weights == "dncnn-blind"
    assert {s.id for s in restorers.REGISTRY.values() if s.fast} == {"deeprecnet-fast", "subpixel-fast-sr-x4"}


def test_every_entry_has_a_source_that_answers_for_it():
    names = {"classical", "own", "hub", "auto"}
    for s in restorers.REGISTRY.values():
        assert isinstance(s.origin, spec.Source) and s.source in names
        assert isinstance(s.status(), str) and s.choice()[1] == s.id
        assert s.choice()[0].startswith(s.id) or s.origin.plans
        assert s.origin.gpu == (s.source != "classical")
    for key in hub.manifest():
        assert isinstance(restorers.get(key).origin, sources.HubSource)
    assert restorers.default_for("jpeg").origin.ours


def test_a_runner_given_directly_stands_in_for_its_entry(monkeypatch):
    """A checkpoint scored in place of the shipped file (``bench/quality_aware.py``): the entry
    keeps its source's name, manifest key and digest, and runs the given network."""
    import torch

    shipped = restorers.get("dncnn")
    net = runtime.TorchRestorer(torch.nn.Identity(), bf16=False)
    stand_in = type(shipped)(**{**shipped.__dict__, "factory": lambda: net, "status_check": lambda: "ready"})
    assert isinstance(stand_in.origin, spec.StandIn)
    assert (stand_in.source, stand_in.weights, stand_in.sha256()) == ("own", "dncnn-blind", shipped.sha256())
    monkeypatch.setitem(restorers.REGISTRY, "dncnn", stand_in)
    restorers._instance.cache_clear()
    image = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    try:
        assert np.array_equal(restorers.restore(image, "dncnn").image, image)
    finally:
        restorers._instance.cache_clear()
    bare = spec.RestorerSpec("tiny", ("sr",), "classical", "test", lambda: net, status_check=lambda: "not here")
    assert (bare.source, bare.origin.gpu, bare.status(), bare.choice()[0]) == (
        "classical",
        False,
        "not here",
        "tiny (classical: not here)",
    )


@pytest.mark.parametrize("sigma", [None, 0, 12, 20, 37.5, 45, 200])
def test_the_row_names_the_file_a_noise_level_runs(sigma):
    item = hub.entry("swinir-dn-color")
    runner = hub.NearestLevel("swinir-dn-color", item, allow_download=False)
    note = sources.HubSource("swinir-dn-color").run_note(sigma)
    assert note == f"ran its sigma-{runner.level_for(sigma):g} checkpoint"
    assert sources.HubSource("fbcnn-color").run_note(sigma) is None
