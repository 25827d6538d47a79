"""Dictionary super-resolution (sparse coding, neighbour embedding): the numerical pieces, tiny
models learned here from scikit-image pictures and run through the registry, their statuses,
and the manifest entries (the learned "dictionaries" and the Hub upscalers)."""

import json
import re

import numpy as np
import pytest
import skimage.data
from PIL import Image

from restoration.core import image as imagelib
from restoration.core import resize
from restoration.core.manifest import sha256_of
from restoration.models import dictionary_sr, hub, restorers
from restoration.pipelines import sr
from restoration.training import dictionary as dictionary_learn

IDS = {"sparse-sr-x2": 2, "sparse-sr-x4": 4}  # the registry's
# Neighbour embedding is still learnt and run; its shipped dictionaries are retired from the registry.
LEARNED = {**IDS, "ne-sr-x2": 2, "ne-sr-x4": 4}


def test_batch_omp_recovers_a_sparse_combination():
    rng = np.random.default_rng(0)
    atoms = rng.normal(size=(40, 12))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    support = np.array([[3, 17], [25, 8]])
    coef = np.array([[2.0, -1.0], [0.5, 1.5]])
    signals = np.einsum("ns,nsd->nd", coef, atoms[support])
    found, values = dictionary_sr.batch_omp(atoms, signals, 2)
    rebuilt = np.einsum("ns,nsd->nd", values, atoms[found])
    np.testing.assert_allclose(rebuilt, signals, atol=1e-4)
    assert [set(row) for row in found] == [set(row) for row in support]


def test_lle_weights_sum_to_one_and_rebuild_an_affine_point():
    rng = np.random.default_rng(1)
    neighbours = rng.normal(size=(1, 3, 5))
    query = 0.2 * neighbours[:, 0] + 0.3 * neighbours[:, 1] + 0.5 * neighbours[:, 2]
    weights = dictionary_sr.lle_weights(query, neighbours, regulariser=1e-9)
    assert np.isclose(weights.sum(), 1.0)
    np.testing.assert_allclose(weights[0], [0.2, 0.3, 0.5], atol=1e-4)


def test_grid_and_overlap_average_cover_the_image():
    ys, xs = dictionary_sr.grid(11, 4, 3), dictionary_sr.grid(9, 4, 2)
    assert ys.tolist() == [0, 3, 6, 7] and xs[-1] == 5
    plane = np.arange(99, dtype=float).reshape(11, 9)
    rows = dictionary_sr.patches(plane, ys, xs, 4)
    np.testing.assert_allclose(dictionary_sr.overlap_average(rows, ys, xs, 4, plane.shape), plane)


def smooth_image(size=64) -> np.ndarray:
    """Slow colour ramps and one soft blob: nothing a bicubic-trained model should get wrong."""
    y, x = np.mgrid[0:size, 0:size] / size
    blob = np.exp(-((x - 0.6) ** 2 + (y - 0.4) ** 2) / 0.05)
    rgb = np.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y + 0.2 * blob, 0.7 - 0.5 * x * y], axis=-1)
    return np.round(255 * np.clip(rgb, 0, 1)).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Four tiny models learned from two scikit-image pictures, recorded in a temporary weights
    folder and manifest."""
    root = tmp_path_factory.mktemp("data")
    (root / "train").mkdir()
    Image.fromarray(skimage.data.astronaut()[::2, ::2]).save(root / "train" / "a.png")
    Image.fromarray(skimage.data.coffee()[::2, ::2]).save(root / "train" / "b.png")
    weights = tmp_path_factory.mktemp("weights")
    entries = {}
    for model_id, scale in LEARNED.items():
        method = model_id.split("-")[0]
        # As notebooks/dictionary_sr.ipynb: neighbour embedding keeps flat examples (min_gradient 0).
        recipe = dictionary_learn.Recipe(
            model_id,
            method,
            scale,
            patch=3 * scale,
            stride=scale,
            data=("train",),
            pairs=1500,
            atoms=32,
            dl_iterations=1,
            examples=800,
            backprojection=1,
            min_gradient=0.0 if method == "ne" else 10.0,
        )
        model, info = dictionary_learn.learn(recipe, root=root, log=lambda *_: None)
        entries[model_id] = dictionary_learn.export(model, recipe, info, weights, benchmarks={})
    return weights, entries


@pytest.fixture()
def use_weights(tiny_models, monkeypatch):
    weights, entries = tiny_models
    monkeypatch.setattr(dictionary_sr, "WEIGHTS_DIR", weights)
    monkeypatch.setattr(dictionary_sr, "MANIFEST", weights / "manifest.json")
    restorers._instance.cache_clear()
    yield weights, entries
    restorers._instance.cache_clear()  # the tiny models must not serve later tests


def test_registry_entries():
    for model_id, scale in IDS.items():
        spec = restorers.get(model_id)
        assert (spec.source, spec.tasks, spec.scale) == ("classical", ("sr",), scale)
        assert spec.status() in ("ready", "dictionary not learned yet", "file fails its sha256 check")
        assert model_id in [s.id for s in restorers.for_task("sr")]
    assert not {"ne-sr-x2", "ne-sr-x4"} & set(restorers.REGISTRY)


@pytest.mark.slow
def test_status_follows_the_file_and_its_hash(use_weights, tmp_path, monkeypatch):
    weights, entries = use_weights
    assert restorers.get("sparse-sr-x2").status() == "ready"
    monkeypatch.setattr(dictionary_sr, "MANIFEST", tmp_path / "none.json")
    assert restorers.get("sparse-sr-x2").status() == "dictionary not learned yet"
    # a tampered file is refused, by status and by the loader
    copy = tmp_path / "w"
    copy.mkdir()
    data = json.loads((weights / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps(data))
    (copy / entries["sparse-sr-x2"]["file"]).write_bytes(b"not the model")
    monkeypatch.setattr(dictionary_sr, "WEIGHTS_DIR", copy)
    monkeypatch.setattr(dictionary_sr, "MANIFEST", copy / "manifest.json")
    assert restorers.get("sparse-sr-x2").status() == "file fails its sha256 check"
    with pytest.raises(Exception, match="sha256"):
        dictionary_sr.load("sparse-sr-x2")


def upscale(model_id: str, lr: np.ndarray) -> np.ndarray:
    """Through the registry, or for a method whose dictionaries are not listed, its model itself."""
    if model_id in IDS:
        return restorers.restore(lr, model_id).image
    return imagelib.from_float(dictionary_sr.load(model_id)(imagelib.to_float(lr)))


@pytest.mark.parametrize("model_id", list(LEARNED))
def test_upscales_a_smooth_image_better_than_nearest(use_weights, model_id):
    scale = LEARNED[model_id]
    hr, lr = sr.make_lr(smooth_image(), scale)
    image = upscale(model_id, lr)
    assert image.shape == hr.shape and image.dtype == np.uint8
    ours = sr.measure(image, hr, scale)["psnr_y"]
    nearest = sr.measure(resize.upscale(lr, scale, "nearest"), hr, scale)["psnr_y"]
    assert ours > nearest + 3, (ours, nearest)


def test_odd_sizes_and_yang_mean_target(use_weights):
    weights, _ = use_weights
    model = dictionary_sr.DictionaryModel.load(weights / "sparse-sr-x2.npz")
    model.target = "mean"
    out = model(np.random.default_rng(2).random((9, 13, 3)))
    assert out.shape == (18, 26, 3) and np.isfinite(out).all()


def test_recorded_entries_are_well_formed(use_weights):
    weights, entries = use_weights
    for model_id, entry in entries.items():
        assert entry["sha256"] == sha256_of(weights / entry["file"])
        assert entry["recipe"]["model_id"] == model_id and entry["scale"] == LEARNED[model_id]
        assert entry["bytes"] < 1_000_000
    section = json.loads((weights / "manifest.json").read_text())[dictionary_sr.SECTION]
    assert set(section) == set(LEARNED)


def test_shipped_dictionaries_match_the_manifest():
    """Whatever weights/manifest.json records under "dictionaries" is there, intact and small."""
    section = dictionary_sr.manifest_entries()
    total = 0
    for model_id, entry in section.items():
        assert model_id in IDS
        path = dictionary_sr.WEIGHTS_DIR / entry["file"]
        assert path.is_file() and sha256_of(path) == entry["sha256"]
        assert restorers.get(model_id).status() == "ready"
        assert {"Set5", "Set14"} <= set(entry["scores"]) and entry["data"] == ["train/T91"]
        total += path.stat().st_size
    assert total < 8_000_000


SR_HUB = (
    "realesrgan-x4plus",
    "realesrgan-x2plus",
    "realesr-general-x4v3",
    "swinir-classical-x4",
    "swinir-real-x4",
    "swin2sr-classical-x4",
    "hat-x4",
)


def test_hub_upscalers_are_listed_and_well_formed():
    entries = hub.manifest()
    for key in SR_HUB:
        item = entries[key]
        assert item["task"] == "sr" and item["scale"] in (2, 4)
        assert item["filename"].endswith(hub.SAFE_SUFFIXES) and item["repo_id"].count("/") == 1
        assert item["revision"] and item["licence"] and item["description"]
        assert re.search(r"\(\w.* \d{4}", item["description"]), "cites its paper"
        assert item["sha256"] is None or re.fullmatch(r"[0-9a-f]{64}", item["sha256"])
        assert item.get("provenance"), "says where the file and its hash come from"
        spec = restorers.get(key)
        assert (spec.source, spec.tasks, spec.scale) == ("hub", ("sr",), item["scale"])


def test_hub_upscalers_status_offline_is_fast(tmp_path, monkeypatch):
    import time

    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    start = time.perf_counter()
    assert {restorers.get(key).status() for key in (*SR_HUB, "ldm-sr-x4")} == {"not downloaded"}
    assert time.perf_counter() - start < 2
