"""How a network runs behind the registry's common call: padding to its size multiple, tiling with
blended overlaps, bf16 autocast, the GPU when there is one, and the geometric self-ensemble;
and MATLAB-style interpolation as a restorer with the same call."""

from __future__ import annotations

import functools

import numpy as np

from restoration.core import image as imagelib
from restoration.core import manifest as manifestlib
from restoration.core import resize
from restoration.models import accel, condition
from restoration.models.tiling import run_tiled, run_tiled_uint8

# What a network may be told of its input: {"quality": the compression strength 1-100 (a JPEG's
# quality), "codec": the codec that made the file, "sigma": noise 0-255}.
Hints = dict


def plain_call(module, t, hints: Hints):
    """Image in, image out: most networks."""
    return module(t)


def quality_condition_call(module, t, hints: Hints):
    """Our quality-aware networks (``conditioned``): the strength (``quality``, 1-100) and, for a
    codec-aware one, the codec that made the file (``models.condition.vector``)."""
    import torch

    told = condition.vector(hints.get("quality"), hints.get("codec"), getattr(module, "codecs", ()))
    return module(t, torch.from_numpy(told).to(t.device, t.dtype)[None].expand(t.shape[0], -1))


class TorchRestorer:
    """A torch module behind the common call: float HxWx3 in [0, 1] -> float HxWx3. ``call(module,
    tile, hints)`` runs one tile; the default passes the tile alone, others add what a network
    is told (a quality, a noise-level map) or pick its image out of a tuple."""

    def __init__(self, module, scale: int = 1, multiple: int = 1, bf16: bool = True, call=None, minimum: int = 0):
        import torch

        self.module = module.eval().to(memory_format=torch.channels_last)
        self.scale, self.multiple, self.bf16, self.minimum = scale, multiple, bf16, minimum
        self.call = call or (quality_condition_call if getattr(module, "conditioned", False) else plain_call)

    def _forward(self, t, hints: Hints | None = None):
        """One padded tile, on the GPU when there is one (the tile comes back to the CPU)."""
        import torch

        device = accel.device()
        self.module.to(device)  # a no-op once it is there
        h, w = t.shape[-2:]
        if min(h, w) < self.minimum:  # a network with a smallest input (SCUNet: 40 px): pad, then crop
            t = torch.nn.functional.pad(t, (0, max(0, self.minimum - w), 0, max(0, self.minimum - h)), mode="replicate")
        t = t.to(device).contiguous(memory_format=torch.channels_last)
        with accel.autocast(device.type, enabled=self.bf16):
            y = self.call(self.module, t, hints or {}).float().cpu()
        return y[..., : h * self.scale, : w * self.scale]

    def _forward_ensemble(self, t, hints: Hints | None = None):
        """Geometric self-ensemble (Timofte et al. 2016, EDSR+): the tile in its 8 flips and
        rotations, each output turned back, averaged. 8x the time for a small fidelity gain."""
        import torch

        total = 0
        for flip in (False, True):
            flipped = t.flip(-1) if flip else t
            for turns in range(4):
                y = torch.rot90(self._forward(torch.rot90(flipped, turns, (-2, -1)), hints), -turns, (-2, -1))
                total = total + (y.flip(-1) if flip else y)
        return total / 8

    def _tile_fn(self, self_ensemble: bool, hints: Hints):
        return functools.partial(self._forward_ensemble if self_ensemble else self._forward, hints=hints)

    def __call__(
        self,
        image: np.ndarray,
        tile: int = 512,
        overlap: int = 32,
        self_ensemble: bool = False,
        quality: float | None = None,
        sigma: float | None = None,
        codec: str | None = None,
        **_,
    ) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
        hints = {"quality": quality, "sigma": sigma, "codec": codec}
        with torch.inference_mode():
            y = run_tiled(self._tile_fn(self_ensemble, hints), x, self.scale, self.multiple, tile, overlap)
        return y[0].permute(1, 2, 0).clamp(0, 1).numpy()

    def restore_uint8(
        self,
        image: np.ndarray,
        tile: int = 512,
        overlap: int = 32,
        self_ensemble: bool = False,
        quality: float | None = None,
        sigma: float | None = None,
        codec: str | None = None,
        **_,
    ) -> np.ndarray:
        """The canonical uint8 image in, uint8 out (what ``restore`` calls): the pixels of
        ``from_float(self(to_float(image)))``, holding one band of tiles in float, not the image."""
        import torch

        hints = {"quality": quality, "sigma": sigma, "codec": codec}
        with torch.inference_mode():
            return run_tiled_uint8(self._tile_fn(self_ensemble, hints), image, self.scale, self.multiple, tile, overlap)


def load_own(model_key: str) -> TorchRestorer:
    """Build one of our architectures and load its safetensors weights after checking sha256."""
    path, entry = manifestlib.verified_file("own", model_key)
    return restorer_from_weights(entry, path)


def restorer_from_weights(entry: dict, path, bf16: bool = True) -> TorchRestorer:
    """The manifest entry's architecture with the weights in ``path`` (a shipped file, or a training
    checkpoint being scored) behind the common call."""
    from restoration.models import architectures, storage  # noqa: PLC0415  (the networks: loads torch)

    module = architectures.build(entry["architecture"], entry["arch_config"])
    module.load_state_dict(storage.load_state(path))  # float16 or int8 files, as float32
    return TorchRestorer(module, scale=entry.get("scale", 1), multiple=module.size_multiple, bf16=bf16)


class Interpolation:
    """MATLAB ``imresize`` upscaling as a restorer. It resizes the uint8 values themselves, as
    MATLAB does, so bicubic-xN reproduces the published baseline; tile by tile (exactly the same
    pixels), so a large image needs little memory beyond its output."""

    def __init__(self, method: str, factor: int):
        self.method, self.factor = method, factor

    def restore_uint8(self, image: np.ndarray, **_) -> np.ndarray:
        return resize.upscale_tiled(image, self.factor, self.method)

    def __call__(self, image: np.ndarray, **_) -> np.ndarray:  # the float call every entry has
        return self.restore_uint8(imagelib.from_float(image)).astype(np.float32) / 255.0
