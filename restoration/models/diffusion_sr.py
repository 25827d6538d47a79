"""x4 super-resolution by latent diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis
with Latent Diffusion Models"), through diffusers' ``LDMSuperResolutionPipeline`` and the
``CompVis/ldm-super-resolution-4x-openimages`` weights.

The pipeline denoises a latent the size of the low-resolution input, conditioned on that input
(the UNet sees both, 6 channels), then a VQ decoder turns the latent into the x4 image. It is
generative: it invents plausible texture, so it scores below bicubic on PSNR-oriented tables
while looking sharper; ``steps``, ``eta`` and ``seed`` choose the sampling.

Large inputs run tile by tile on the LR grid with blended overlaps (``restoration.models.tiling``),
because the UNet's attention memory grows with the square of the tile area. Each tile draws
fresh noise from one seeded generator, so a given image, tiling and seed always give the same
result.

Status never touches the network: it looks for the snapshot's files in the local Hub cache.
diffusers is imported only when a pipeline is built.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from restoration.core.errors import UserInputError
from restoration.models import accel, hub
from restoration.models.spec import RestorerSpec, Source
from restoration.models.tiling import run_tiled

MODEL_ID = "ldm-sr-x4"
REPO_ID = "CompVis/ldm-super-resolution-4x-openimages"
REVISION = "main"
SCALE = 4
# The files from_pretrained reads. The weights exist as .bin in this repository (diffusers reads
# them with torch.load(weights_only=True)); a .safetensors copy is preferred when present.
CONFIG_FILES = ("model_index.json", "unet/config.json", "vqvae/config.json", "scheduler/scheduler_config.json")
WEIGHT_FILES = {
    "unet": ("unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.bin"),
    "vqvae": ("vqvae/diffusion_pytorch_model.safetensors", "vqvae/diffusion_pytorch_model.bin"),
}
DESCRIPTION = (
    "Latent diffusion x4 (LDM-SR, OpenImages; Rombach et al. 2022): generative, sharp texture, "
    "lower PSNR; steps/eta/seed options, tiled"
)


def _cached(filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    # A str is a cached file; None means unknown and a sentinel object means "known missing".
    return isinstance(try_to_load_from_cache(REPO_ID, filename, revision=REVISION), str)


def status() -> str:
    """'ready' when every file the pipeline needs is in the local Hub cache, else 'not downloaded'."""
    if not all(_cached(name) for name in CONFIG_FILES):
        return "not downloaded"
    if not all(any(_cached(name) for name in names) for names in WEIGHT_FILES.values()):
        return "not downloaded"
    return "ready"


def _fetch(filename: str, timeout_s: float) -> Path:
    from huggingface_hub import hf_hub_download

    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    return Path(hf_hub_download(REPO_ID, filename, revision=REVISION, endpoint=endpoint, etag_timeout=timeout_s))


def download(timeout_s: float = 10.0) -> Path:
    """The local snapshot folder, its files fetched one by one when they are not cached (file by
    file, not snapshot_download, so that only the files the pipeline reads come down)."""
    from huggingface_hub.errors import EntryNotFoundError

    if status() != "ready":
        # huggingface_hub retries a refused connection for ~15 s: probe once, answer in seconds.
        hub.probe(os.environ.get("HF_ENDPOINT") or "https://huggingface.co", timeout_s)
    try:
        folder = _fetch(CONFIG_FILES[0], timeout_s).parent
        for name in CONFIG_FILES[1:]:
            _fetch(name, timeout_s)
        for names in WEIGHT_FILES.values():
            for i, name in enumerate(names):  # safetensors first, the .bin when the repo has no copy
                try:
                    _fetch(name, timeout_s)
                    break
                except EntryNotFoundError:
                    if i == len(names) - 1:
                        raise
    except Exception as exc:  # network, 404, auth: all mean "not downloaded", said plainly
        raise hub.HubError(
            f"could not download {REPO_ID}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    return folder


def pipeline_class():
    # diffusers 0.42 does not export it at the top level any more.
    from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion_superresolution import (
        LDMSuperResolutionPipeline,
    )

    return LDMSuperResolutionPipeline


class LDMUpscaler:
    """The common restorer call around an ``LDMSuperResolutionPipeline``:
    float HxWx3 in [0, 1] -> float (4H)x(4W)x3."""

    def __init__(self, pipeline):
        import torch

        self.pipeline = pipeline.to(torch.device("cpu"))
        self.pipeline.set_progress_bar_config(disable=True)
        # The UNet halves the grid once per block after the first: pad the LR tile to that multiple.
        self.multiple = 2 ** (len(pipeline.unet.config.block_out_channels) - 1)

    @classmethod
    def from_pretrained(cls, path) -> "LDMUpscaler":
        return cls(pipeline_class().from_pretrained(path))

    def __call__(
        self,
        image: np.ndarray,
        steps: int = 50,
        eta: float = 1.0,
        seed: int = 0,
        tile: int = 128,
        overlap: int = 16,
        **_,
    ) -> np.ndarray:
        import torch

        steps, tile, overlap = int(steps), int(tile), int(overlap)
        if not 1 <= steps <= 1000:
            raise UserInputError(f"steps must be from 1 to 1000, got {steps}")
        if not 0.0 <= float(eta) <= 1.0:
            raise UserInputError(f"eta must be from 0 to 1, got {eta}")
        if tile < self.multiple or not 0 <= overlap < tile:
            raise UserInputError(f"tile must be at least {self.multiple} and overlap from 0 to tile-1")
        generator = torch.Generator().manual_seed(int(seed))
        device = accel.device()
        self.pipeline.to(device)  # a no-op once it is there

        def forward(lr):  # lr: (1, 3, h, w) in [0, 1]; the pipeline wants [-1, 1]
            out = self.pipeline(
                image=(lr * 2.0 - 1.0).to(device),
                num_inference_steps=steps,
                eta=float(eta),
                generator=generator,
                output_type="pt",
            )
            return out.images.cpu()

        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
        # The pipeline hands the scheduler eta but not the generator, so DDIM's eta > 0 noise comes
        # from the global RNG: seed it too, inside a fork that leaves the caller's RNG untouched.
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(int(seed))
            y = run_tiled(forward, x, SCALE, self.multiple, tile, overlap)
        return y[0].permute(1, 2, 0).clamp(0, 1).numpy()


def load() -> LDMUpscaler:
    return LDMUpscaler.from_pretrained(download())


class DiffusionSource(Source):
    """The LDM-SR snapshot on the Hugging Face Hub, listed among the Hub models: its files in the
    local Hub cache, fetched on first run; identified by its repository and pinned revision."""

    name = "hub"
    fetches = True

    def status(self) -> str:
        return status()

    def sha256(self) -> str:
        return f"{REPO_ID}@{REVISION}"

    def load(self) -> LDMUpscaler:
        return load()


def specs() -> list[RestorerSpec]:
    """The registry entry (``restorers`` assembles it)."""
    return [RestorerSpec(MODEL_ID, ("sr",), DiffusionSource(), DESCRIPTION, scale=SCALE)]
