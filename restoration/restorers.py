"""One registry of restorers (spandrel-style): every entry is called the same way,
``restore(image, model_id, **options) -> image`` on the canonical uint8 RGB array.

An entry records its task, scale, source (classical / own / hub), a one-line description with
its origin, the weights it needs and a factory. Networks run in ``inference_mode``, with bf16
autocast where that is faster and as accurate, padded to their size multiple and tiled with
blended overlaps on large images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

from restoration import accel, classical
from restoration import manifest as manifestlib
from restoration import image as imagelib
from restoration.errors import UserInputError

WEIGHTS_DIR = manifestlib.WEIGHTS_DIR
TASKS = ("jpeg", "denoise", "combined", "sr")


@dataclass(frozen=True)
class RestorerSpec:
    id: str
    tasks: tuple[str, ...]
    source: str  # "classical" | "own" | "hub"
    description: str
    factory: Callable[[], Callable]
    scale: int = 1
    weights: str | None = None  # key in weights/manifest.json ("own" or "hub" section)
    params: int | None = None
    # Above this estimated JPEG quality the model was measured to lose PSNR: pass the input through.
    max_jpeg_quality: int | None = None
    # Entries whose readiness is not a manifest file (learned dictionaries, a diffusers snapshot)
    # answer for themselves; it must stay cheap and offline, like the checks below.
    status_check: Callable[[], str] | None = None
    # Trained for perceived texture (a GAN), not fidelity: listed and runnable, never the default.
    perceptual: bool = False
    # A TorchRestorer behind the factory (our networks, Hub networks): the ``self_ensemble``
    # option averages its 8 flips/rotations. Other entries run without it.
    self_ensemble: bool = False

    def status(self) -> str:
        """'ready', or why not (missing weights, not downloaded)."""
        if self.status_check is not None:
            return self.status_check()
        if self.source == "classical":
            return "ready"
        if self.source == "own":
            entry = own_manifest().get(self.weights)
            if entry is None or not (WEIGHTS_DIR / entry["file"]).is_file():
                return "weights not trained yet"
            return "ready"
        from restoration import hub

        return hub.status(self.weights)

    def describe(self) -> dict:
        entry = own_manifest().get(self.weights, {}) if self.source == "own" else {}
        return {"id": self.id, "tasks": list(self.tasks), "scale": self.scale, "source": self.source,
                "description": self.description, "params": self.params or entry.get("params"),
                "sha256": entry.get("sha256"), "status": self.status()}


def own_manifest() -> dict:
    return manifestlib.section("own")


class TorchRestorer:
    """A torch module behind the common call: float HxWx3 in [0, 1] -> float HxWx3."""

    def __init__(self, module, scale: int = 1, multiple: int = 1, bf16: bool = True):
        import torch

        self.module = module.eval().to(memory_format=torch.channels_last)
        self.scale, self.multiple, self.bf16 = scale, multiple, bf16

    def _forward(self, t):
        """One padded tile, on the GPU when there is one (the tile comes back to the CPU)."""
        import torch

        device = accel.device()
        self.module.to(device)  # a no-op once it is there
        t = t.to(device).contiguous(memory_format=torch.channels_last)
        with accel.autocast(device.type, enabled=self.bf16):
            return self.module(t).float().cpu()

    def _forward_ensemble(self, t):
        """Geometric self-ensemble (Timofte et al. 2016, EDSR+): the tile in its 8 flips and
        rotations, each output turned back, averaged. 8x the time for a small fidelity gain."""
        import torch

        total = 0
        for flip in (False, True):
            flipped = t.flip(-1) if flip else t
            for turns in range(4):
                y = torch.rot90(self._forward(torch.rot90(flipped, turns, (-2, -1))), -turns, (-2, -1))
                total = total + (y.flip(-1) if flip else y)
        return total / 8

    def _tile_fn(self, self_ensemble: bool):
        return self._forward_ensemble if self_ensemble else self._forward

    def __call__(self, image: np.ndarray, tile: int = 512, overlap: int = 32, self_ensemble: bool = False,
                 **_) -> np.ndarray:
        import torch

        from restoration.tiling import run_tiled

        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
        with torch.inference_mode():
            y = run_tiled(self._tile_fn(self_ensemble), x, self.scale, self.multiple, tile, overlap)
        return y[0].permute(1, 2, 0).clamp(0, 1).numpy()

    def restore_uint8(self, image: np.ndarray, tile: int = 512, overlap: int = 32, self_ensemble: bool = False,
                      **_) -> np.ndarray:
        """The canonical uint8 image in, uint8 out (what ``restore`` calls): the pixels of
        ``from_float(self(to_float(image)))``, holding one band of tiles in float, not the image."""
        import torch

        from restoration.tiling import run_tiled_uint8

        with torch.inference_mode():
            return run_tiled_uint8(self._tile_fn(self_ensemble), image, self.scale, self.multiple, tile, overlap)


def load_own(model_key: str) -> TorchRestorer:
    """Build one of our architectures and load its safetensors weights after checking sha256."""
    path, entry = manifestlib.verified_file("own", model_key)
    return restorer_from_weights(entry, path)


def restorer_from_weights(entry: dict, path, bf16: bool = True) -> TorchRestorer:
    """The manifest entry's architecture with the weights in ``path`` (a shipped file, or a training
    checkpoint being scored) behind the common call."""
    from safetensors.torch import load_file

    from restoration import nets

    module = nets.ARCHITECTURES[entry["architecture"]](**entry["arch_config"])
    module.load_state_dict(load_file(path))
    return TorchRestorer(module, scale=entry.get("scale", 1), multiple=module.size_multiple, bf16=bf16)


def _classical(fn):
    def factory():
        return lambda image, sigma=None, **_: fn(image, sigma)
    return factory


def _own(key):
    return lambda: load_own(key)


class Interpolation:
    """MATLAB ``imresize`` upscaling as a restorer. It resizes the uint8 values themselves, as
    MATLAB does, so bicubic-xN reproduces the published baseline; tile by tile (exactly the same
    pixels), so a large image needs little memory beyond its output."""

    def __init__(self, method: str, factor: int):
        self.method, self.factor = method, factor

    def restore_uint8(self, image: np.ndarray, **_) -> np.ndarray:
        from restoration import resize

        return resize.upscale_tiled(image, self.factor, self.method)

    def __call__(self, image: np.ndarray, **_) -> np.ndarray:  # the float call every entry has
        return self.restore_uint8(imagelib.from_float(image)).astype(np.float32) / 255.0


def _interpolation(method: str, factor: int):
    return lambda: Interpolation(method, factor)


INTERPOLATIONS = {  # bicubic first: with no trained model it is the default sr model
    "bicubic": "Bicubic interpolation, MATLAB imresize (Keys a=-0.5): the baseline of published SR tables",
    "lanczos": "Lanczos-3 interpolation (MATLAB imresize 'lanczos3')",
    "bilinear": "Bilinear interpolation (MATLAB imresize)",
    "nearest": "Nearest neighbour: each pixel repeated (MATLAB imresize)",
}


def _interpolation_specs() -> list[RestorerSpec]:
    return [RestorerSpec(f"{method}-x{factor}", ("sr",), "classical", f"{text}, x{factor}",
                         _interpolation(method, factor), scale=factor)
            for method, text in INTERPOLATIONS.items() for factor in (2, 4)]


REGISTRY: dict[str, RestorerSpec] = {s.id: s for s in (
    RestorerSpec("deeprecnet", ("jpeg",), "own",
                 "DeepRecNet: residual U-Net, blind over JPEG/WebP/AVIF/JPEG 2000 artifacts (seed paper)",
                 _own("deeprecnet-blind-car"), weights="deeprecnet-blind-car", max_jpeg_quality=92, self_ensemble=True),
    RestorerSpec("deeprecnet-denoise", ("denoise",), "own",
                 "DeepRecNet U-Net fine-tuned from the artifact weights for blind Gaussian denoising (sigma 0-50)",
                 _own("deeprecnet-denoise"), weights="deeprecnet-denoise", self_ensemble=True),
    RestorerSpec("dncnn", ("denoise",), "own",
                 "DnCNN: blind Gaussian denoiser, residual learning + batch norm (Zhang et al. 2017)",
                 _own("dncnn-blind"), weights="dncnn-blind", self_ensemble=True),
    RestorerSpec("resattnet", ("combined", "denoise", "jpeg"), "own",
                 "Residual network with channel attention for blur + noise + JPEG (survey's deep residual + attention)",
                 _own("resattnet-combined"), weights="resattnet-combined", self_ensemble=True),
    RestorerSpec("subpixel-sr-x2", ("sr",), "own",
                 "Residual sub-pixel CNN x2: the x4 network's features fine-tuned with one pixel-shuffle stage (seed paper)",
                 _own("subpixel-sr-x2"), scale=2, weights="subpixel-sr-x2", self_ensemble=True),
    RestorerSpec("subpixel-sr-x4", ("sr",), "own",
                 "Residual sub-pixel CNN x4: residual blocks on the LR grid, pixel-shuffle upsampling, global bicubic residual (seed paper)",
                 _own("subpixel-sr-x4"), scale=4, weights="subpixel-sr-x4", self_ensemble=True),
    RestorerSpec("srgan-x4", ("sr",), "own",
                 "SR-GAN x4: sub-pixel CNN + channel attention + a window-attention transformer block, fine-tuned "
                 "adversarially (L1 + feature + GAN loss): sharper texture, lower PSNR (seed paper)",
                 _own("srgan-x4"), scale=4, weights="srgan-x4", perceptual=True, self_ensemble=True),
    RestorerSpec("gaussian", ("denoise", "jpeg"), "classical", "Gaussian filter, width from the noise level",
                 _classical(classical.gaussian)),
    RestorerSpec("median", ("denoise",), "classical", "Median filter (3x3, 5x5 above sigma 30)",
                 _classical(classical.median)),
    RestorerSpec("bilateral", ("denoise", "jpeg"), "classical", "Bilateral filter (Tomasi & Manduchi 1998)",
                 _classical(classical.bilateral)),
    RestorerSpec("tv", ("denoise", "jpeg"), "classical", "Total-variation denoising (Chambolle 2004, scikit-image)",
                 _classical(classical.total_variation)),
    RestorerSpec("wavelet", ("denoise",), "classical", "Wavelet BayesShrink in YCbCr (Chang et al. 2000, scikit-image)",
                 _classical(classical.wavelet)),
    RestorerSpec("nlm", ("denoise",), "classical", "Non-local means (Buades et al. 2005, scikit-image)",
                 _classical(classical.non_local_means)),
    *_interpolation_specs(),
)}


def _hub_factory(key):
    def factory():
        from restoration import hub

        return hub.load(key)
    return factory


def _hub_specs() -> list[RestorerSpec]:
    from restoration import hub

    tasks = {"jpeg": ("jpeg",), "denoise": ("denoise",), "sr": ("sr",)}
    return [RestorerSpec(key, tasks.get(item["task"], (item["task"],)), "hub", item["description"],
                         _hub_factory(key), scale=item.get("scale", 1), weights=key, self_ensemble=True)
            for key, item in hub.manifest().items()]


REGISTRY.update({s.id: s for s in _hub_specs()})


def _module_specs() -> list[RestorerSpec]:
    # Light modules: numpy-only at import; sklearn and diffusers load inside their factories.
    from restoration import dictionary_sr, diffusion_sr

    return [*dictionary_sr.specs(), *diffusion_sr.specs()]


REGISTRY.update({s.id: s for s in _module_specs()})


def get(model_id: str) -> RestorerSpec:
    if model_id not in REGISTRY:
        raise UserInputError(f"unknown model {model_id!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[model_id]


def for_task(task: str) -> list[RestorerSpec]:
    if task not in TASKS:
        raise UserInputError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return [s for s in REGISTRY.values() if task in s.tasks]


def default_for(task: str, scale: int | None = None) -> RestorerSpec:
    """The best shipped model for a task (at ``scale``, if given): the first ready own model,
    else the first ready one (classical entries precede Hub ones; for sr, bicubic comes first).
    Perceptual (GAN) models are chosen only when nothing else is ready: they trade PSNR for texture."""
    ready = [s for s in for_task(task) if (scale is None or s.scale == scale) and s.status() == "ready"]
    if not ready:
        raise UserInputError(f"no ready model for task {task!r}" + (f" at x{scale}" if scale else ""))
    fidelity = [s for s in ready if not s.perceptual]
    own = [s for s in fidelity if s.source == "own"]
    return (own or fidelity or ready)[0]


def variants(model_ids: list[str], self_ensemble: bool) -> list[tuple[str, str, dict]]:
    """Benchmark rows as (label, model id, options): each model, and with ``self_ensemble`` each
    network a second time, self-ensembled, labelled "<id> +SE"."""
    rows = []
    for model_id in model_ids:
        rows.append((model_id, model_id, {}))
        if self_ensemble and get(model_id).self_ensemble:
            rows.append((f"{model_id} +SE", model_id, {"self_ensemble": True}))
    return rows


@lru_cache(maxsize=8)
def _instance(model_id: str):
    spec = get(model_id)
    status = spec.status()
    if status != "ready" and not (spec.source == "hub" and status == "not downloaded"):
        raise UserInputError(f"model {model_id} is not available: {status}")
    return spec.factory()  # a Hub model downloads here (a clear error within seconds offline)


@dataclass
class Restored:
    image: np.ndarray
    model: str
    seconds: float
    options: dict = field(default_factory=dict)


def restore(image: np.ndarray, model_id: str, jpeg_quality: int | None = None, **options) -> Restored:
    """Restore the canonical uint8 image with one registered model. ``jpeg_quality`` (the input
    file's estimated IJG quality, when it is a JPEG) lets a model decline near-lossless input."""
    spec = get(model_id)
    if spec.max_jpeg_quality is not None and jpeg_quality is not None and jpeg_quality > spec.max_jpeg_quality:
        note = (f"input returned unchanged: JPEG quality ~{jpeg_quality} is above {spec.max_jpeg_quality}, "
                f"where {model_id} was measured to lose PSNR")
        return Restored(image.copy(), model_id, 0.0, {**options, "note": note})
    sigma = options.get("sigma")
    if sigma is not None and not 0 <= float(sigma) <= 255:
        raise UserInputError(f"the noise sigma must be from 0 to 255, got {sigma}")
    if options.get("self_ensemble") and not spec.self_ensemble:
        options = {k: v for k, v in options.items() if k != "self_ensemble"}  # nothing to average
    run = _run if spec.source == "classical" else _run_network
    start = time.perf_counter()
    output = run(image, model_id, options)
    return Restored(output, model_id, time.perf_counter() - start, options)


def _run(image: np.ndarray, model_id: str, options: dict) -> np.ndarray:
    """Canonical uint8 in and out. Runners with ``restore_uint8`` (networks, interpolation) take
    the image itself: exact, and no full-size float copies of a large image."""
    runner = _instance(model_id)
    if hasattr(runner, "restore_uint8"):
        return runner.restore_uint8(image, **options)
    return imagelib.from_float(runner(imagelib.to_float(image), **options))


# Networks (own and Hub) run inside spaces.GPU on a ZeroGPU Space; classical ones never ask for a GPU.
_run_network = accel.gpu_task(_run)
