"""Latent-diffusion x4 SR (restoration.models.diffusion_sr) with a tiny randomly initialised
LDMSuperResolutionPipeline built here: the wrapper end to end (whole image and tiled), its
registry entry and offline status, and the real download path against a local Hub stand-in."""

import time

import numpy as np
import pytest
import torch
from hub_server import HubServer

from restoration.models import diffusion_sr, restorers


def tiny_pipeline():
    from diffusers import DDIMScheduler, UNet2DModel, VQModel

    torch.manual_seed(0)
    # in_channels 6: 3 latent channels + the 3-channel LR image, as the real model.
    unet = UNet2DModel(
        sample_size=16,
        in_channels=6,
        out_channels=3,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
    )
    # Three decoder levels: two upsamplings, so the VQ decoder turns the LR-sized latent into x4.
    vqvae = VQModel(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 8, 8),
        layers_per_block=1,
        latent_channels=3,
        norm_num_groups=4,
        num_vq_embeddings=16,
        vq_embed_dim=3,
    )
    return diffusion_sr.pipeline_class()(vqvae=vqvae, unet=unet, scheduler=DDIMScheduler(num_train_timesteps=100))


@pytest.fixture(scope="module")
def upscaler():
    torch.set_num_threads(1)
    return diffusion_sr.LDMUpscaler(tiny_pipeline())


@pytest.fixture(scope="module")
def lr16():
    return np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)


def test_whole_image_is_x4_and_seeded(upscaler, lr16):
    out = upscaler(lr16, steps=2, eta=1.0, seed=3)
    assert out.shape == (64, 64, 3) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    # eta > 0 draws scheduler noise too: the same seed must still give the same image
    np.testing.assert_array_equal(out, upscaler(lr16, steps=2, eta=1.0, seed=3))
    assert np.abs(out - upscaler(lr16, steps=2, eta=1.0, seed=4)).max() > 0


def test_tiled_path_covers_the_image(upscaler, lr16):
    # 16 px with 8 px tiles and 4 px overlap: 3x3 tiles, blended; odd sizes are padded per tile
    out = upscaler(lr16, steps=2, seed=0, tile=8, overlap=4)
    assert out.shape == (64, 64, 3) and np.isfinite(out).all()
    odd = upscaler(lr16[:13, :11], steps=1, seed=0, tile=8, overlap=2)
    assert odd.shape == (52, 44, 3)


def test_bad_options_are_user_errors(upscaler, lr16):
    from restoration.core.errors import UserInputError

    with pytest.raises(UserInputError, match="steps"):
        upscaler(lr16, steps=0)
    with pytest.raises(UserInputError, match="eta"):
        upscaler(lr16, eta=2)


def test_registry_entry_and_offline_status(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    spec = restorers.get("ldm-sr-x4")
    assert (spec.source, spec.tasks, spec.scale) == ("hub", ("sr",), 4)
    start = time.perf_counter()
    assert spec.status() == "not downloaded"
    assert time.perf_counter() - start < 1
    assert spec.describe()["status"] == "not downloaded"


def test_download_then_run_through_the_registry(tmp_path, monkeypatch):
    """The snapshot comes from a local HTTP stand-in for the Hub into an empty cache, status turns
    'ready', and restorers.restore runs it on the canonical uint8 image."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    saved = tmp_path / "saved"
    tiny_pipeline().save_pretrained(saved)
    files = {(diffusion_sr.REPO_ID, str(p.relative_to(saved))): p.read_bytes() for p in saved.rglob("*") if p.is_file()}
    with HubServer(files) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        folder = diffusion_sr.download()
    assert (folder / "model_index.json").is_file()
    assert diffusion_sr.status() == "ready"
    restorers._instance.cache_clear()
    try:
        image = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
        result = restorers.restore(image, "ldm-sr-x4", steps=1, seed=0)
    finally:
        restorers._instance.cache_clear()  # do not leave the tiny model behind for other tests
    assert result.image.shape == (64, 64, 3) and result.image.dtype == np.uint8


def test_offline_download_fails_fast(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    from restoration.models import hub

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    start = time.perf_counter()
    with pytest.raises(hub.HubError, match="not reachable"):
        diffusion_sr.download(timeout_s=2)
    assert time.perf_counter() - start < 5
