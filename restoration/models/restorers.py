"""One registry of restorers (spandrel-style): every entry is called the same way,
``restore(image, model_id, **options) -> image`` on the canonical uint8 RGB array.

An entry records its tasks, scale, a one-line description with its origin, and its source
(``Source``: classical, own, hub, auto, and the providers'), which says whether it is ready, what
identifies its weights and how to load it. Networks run in ``inference_mode``, with bf16
autocast where that is faster and as accurate, padded to their size multiple and tiled with
blended overlaps on large images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from restoration.core import image as imagelib
from restoration.core.errors import UserInputError
from restoration.models import accel, auto, classical, condition, dictionary_sr, diffusion_sr, hub, timing, user_model
from restoration.models.runtime import Interpolation, load_own  # noqa: F401  (load_own: a public name)
from restoration.models.sources import AutoSource, ClassicalSource, HubSource, OwnSource
from restoration.models.spec import TASKS, WEIGHTS_DIR, RestorerSpec, own_manifest  # noqa: F401  (public names)


@dataclass(frozen=True)
class Own:
    """What the manifest cannot say of one of our networks: the tasks it is listed for, its
    description, its registry id where that is not its manifest key, and the CPU tier."""

    tasks: tuple[str, ...]
    description: str
    id: str | None = None
    fast: bool = False


# Our networks by their key in weights/manifest.json ("own"), in the order a task's default is
# chosen (the first ready one). Their scale, what they are told (the architecture's
# ``conditioned`` and ``codecs``) and whether they were trained adversarially (perceptual) come
# from their manifest entries; an entry in only one of the two is a test failure.
OWN = {
    "deeprecnet-qa-codecs": Own(
        ("jpeg",),
        "Codec-aware DeepRecNet: the quality-aware U-Net also told which codec made the file (JPEG, WebP, "
        "AVIF, JPEG 2000: from the file or the Degrade chain) and its strength; blind when neither is known",
    ),
    "deeprecnet-fast": Own(
        ("jpeg",),
        "Fast codec-aware DeepRecNet (the CPU tier): the default artifact model's design at half the width "
        "and fewer blocks, about a quarter of its compute; told the codec and strength like it",
        fast=True,
    ),
    "deeprecnet-denoise": Own(
        ("denoise",),
        "DeepRecNet U-Net fine-tuned from the artifact weights for blind Gaussian denoising (sigma 0-50)",
    ),
    "dncnn-blind": Own(
        ("denoise",),
        "DnCNN: blind Gaussian denoiser, residual learning + batch norm (Zhang et al. 2017)",
        id="dncnn",
    ),
    "resattnet-combined": Own(
        ("combined", "denoise", "jpeg"),
        "Residual network with channel attention for blur + noise + JPEG (survey's deep residual + attention)",
        id="resattnet",
    ),
    "subpixel-ca-sr-x2": Own(
        ("sr",),
        "Sub-pixel CNN x2 with channel attention in every residual block (RCAN-style), grown from "
        "subpixel-sr-x2 (retired) and trained longer on larger patches with a moving average of the weights",
    ),
    "subpixel-ca-sr-x4": Own(
        ("sr",),
        "Sub-pixel CNN x4 with channel attention in every residual block (RCAN-style), grown from "
        "subpixel-sr-x4 (retired) and trained longer on larger patches with a moving average of the weights",
    ),
    "subpixel-fast-sr-x4": Own(
        ("sr",),
        "Fast sub-pixel CNN x4 (the CPU tier): 48 channels, 12 channel-attention blocks and a one-step "
        "sub-pixel upsampler, about a quarter of the default's compute",
        fast=True,
    ),
    "srgan-x4": Own(
        ("sr",),
        "SR-GAN x4: sub-pixel CNN + channel attention + a window-attention transformer block, fine-tuned "
        "adversarially (L1 + feature + GAN loss): sharper texture, lower PSNR (seed paper)",
    ),
}


def own_spec(key: str, entry: dict) -> RestorerSpec:
    """The registry entry of the network recorded as ``entry`` under ``key`` in the manifest."""
    own = OWN[key]
    config = entry.get("arch_config", {})
    return RestorerSpec(
        own.id or key,
        own.tasks,
        OwnSource(key),
        own.description,
        scale=entry.get("scale", 1),
        self_ensemble=True,
        quality_aware=tuple(config.get("codecs") or ("jpeg",)) if config.get("conditioned") else (),
        perceptual="adversarial" in entry.get("recipe", {}),
        fast=own.fast,
    )


def _own_specs() -> list[RestorerSpec]:
    entries = own_manifest()
    return [own_spec(key, entries[key]) for key in OWN if key in entries]


def _filter(fn):
    def factory():
        return lambda image, sigma=None, **_: fn(image, sigma)

    return factory


CLASSICAL = {  # id -> (tasks, description, filter(image, sigma))
    "gaussian": (("denoise", "jpeg"), "Gaussian filter, width from the noise level", classical.gaussian),
    "median": (("denoise",), "Median filter (3x3, 5x5 above sigma 30)", classical.median),
    "bilateral": (("denoise", "jpeg"), "Bilateral filter (Tomasi & Manduchi 1998)", classical.bilateral),
    "tv": (("denoise", "jpeg"), "Total-variation denoising (Chambolle 2004, scikit-image)", classical.total_variation),
    "wavelet": (("denoise",), "Wavelet BayesShrink in YCbCr (Chang et al. 2000, scikit-image)", classical.wavelet),
    "nlm": (("denoise",), "Non-local means (Buades et al. 2005, scikit-image)", classical.non_local_means),
}

INTERPOLATIONS = {  # bicubic first: with no trained model it is the default sr model
    "bicubic": "Bicubic interpolation, MATLAB imresize (Keys a=-0.5): the baseline of published SR tables",
    "lanczos": "Lanczos-3 interpolation (MATLAB imresize 'lanczos3')",
    "bilinear": "Bilinear interpolation (MATLAB imresize)",
    "nearest": "Nearest neighbour: each pixel repeated (MATLAB imresize)",
}


def _classical_specs() -> list[RestorerSpec]:
    filters = [
        RestorerSpec(model_id, tasks, ClassicalSource(_filter(fn)), text)
        for model_id, (tasks, text, fn) in CLASSICAL.items()
    ]
    interpolations = [
        RestorerSpec(
            f"{method}-x{factor}",
            ("sr",),
            ClassicalSource(lambda m=method, f=factor: Interpolation(m, f)),
            f"{text}, x{factor}",
            scale=factor,
        )
        for method, text in INTERPOLATIONS.items()
        for factor in (2, 4)
    ]
    return filters + interpolations


HUB_TASKS = {"jpeg": ("jpeg",), "denoise": ("denoise",), "sr": ("sr",)}


def _hub_specs() -> list[RestorerSpec]:
    return [
        RestorerSpec(
            key,
            HUB_TASKS.get(item["task"], (item["task"],)),
            HubSource(key),
            item["description"],
            scale=item.get("scale", 1),
            self_ensemble=True,
            quality_aware=("jpeg",) if item.get("told") == "quality" else (),
            needs_sigma=item.get("told") == "sigma",
        )
        for key, item in hub.manifest().items()
    ]


def _module_specs() -> list[RestorerSpec]:
    # Light modules: numpy-only at import; sklearn and diffusers load inside their loaders.
    return [*dictionary_sr.specs(), *diffusion_sr.specs()]


AUTO_SPEC = RestorerSpec(
    auto.AUTO,
    ("jpeg", "denoise", "combined"),
    AutoSource(),
    "Auto (from the image): reads the file's codec and quality, estimates noise, block edges and blur, and runs "
    "the matching default models in order (denoise, then artifacts); says what it found and what ran",
    self_ensemble=True,
)

# Our networks first, then classical methods (bicubic first among the upscalers), Hub networks,
# the providers' entries and auto: a task's default is the first ready entry of this order.
REGISTRY: dict[str, RestorerSpec] = {
    s.id: s for s in (*_own_specs(), *_classical_specs(), *_hub_specs(), *_module_specs(), AUTO_SPEC)
}


def get(model_id: str) -> RestorerSpec:
    if model_id not in REGISTRY:
        uploaded = user_model.spec(model_id)  # "user:<sha256[:12]>": a model file inspected in this process
        if uploaded is not None:
            return uploaded
        raise UserInputError(f"unknown model {model_id!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[model_id]


def for_task(task: str) -> list[RestorerSpec]:
    if task not in TASKS:
        raise UserInputError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return [s for s in REGISTRY.values() if task in s.tasks]


def ready(task: str | None = None, scale: int | None = None) -> list[RestorerSpec]:
    """The entries (for a task, at a scale) that run now, without a download: the one answer to
    "which models are ready" for the tabs, the CLI, the runner and the panel."""
    specs = for_task(task) if task else list(REGISTRY.values())
    return [s for s in specs if (scale is None or s.scale == scale) and s.status() == "ready"]


def require_ready(model_id: str) -> RestorerSpec:
    """The entry, or one clear message saying why it cannot run (not trained, not downloaded...)."""
    spec = get(model_id)
    status = spec.status()
    if status != "ready":
        raise UserInputError(f"model {model_id} is not available: {status}")
    return spec


def default_for(task: str, scale: int | None = None) -> RestorerSpec:
    """The best shipped model for a task (at ``scale``, if given): the first ready own model,
    else the first ready one (classical entries precede Hub ones; for sr, bicubic comes first).
    Perceptual (GAN) models are chosen only when nothing else is ready: they trade PSNR for texture."""
    ready_now = ready(task, scale)
    if not ready_now:
        raise UserInputError(f"no ready model for task {task!r}" + (f" at x{scale}" if scale else ""))
    fidelity = [s for s in ready_now if not s.perceptual and not s.origin.plans and not s.fast]
    own = [s for s in fidelity if s.origin.ours]
    return (own or fidelity or ready_now)[0]


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
    if status != "ready" and not (spec.origin.fetches and status == "not downloaded"):
        raise UserInputError(f"model {model_id} is not available: {status}")
    return spec.load()  # a Hub model downloads here (a clear error within seconds offline)


@dataclass
class Restored:
    image: np.ndarray
    model: str
    seconds: float
    options: dict = field(default_factory=dict)


def restore(image: np.ndarray, model_id: str, jpeg_quality: int | None = None, **options) -> Restored:
    """Restore the canonical uint8 image with one registered model. ``jpeg_quality`` (the input
    file's estimated IJG quality, when it is a JPEG) lets a model decline near-lossless input, and
    tells a quality-aware model the strength (``strength``, 1-100, overrides it)."""
    spec = get(model_id)
    if spec.origin.plans:
        return _auto(image, jpeg_quality, options)
    if spec.max_jpeg_quality is not None and jpeg_quality is not None and jpeg_quality > spec.max_jpeg_quality:
        note = (
            f"input returned unchanged: JPEG quality ~{jpeg_quality} is above {spec.max_jpeg_quality}, "
            f"where {model_id} was measured to lose PSNR"
        )
        return Restored(image.copy(), model_id, 0.0, {**options, "note": note})
    if spec.quality_aware:
        options = told_compression(options, jpeg_quality, spec.quality_aware)
    else:
        options = {k: v for k, v in options.items() if k not in ("strength", "codec")}
    if spec.needs_sigma and not options.get("sigma"):
        options = {**options, "sigma": classical.estimate_sigma(imagelib.to_float(image))}
    sigma = options.get("sigma")
    if sigma is not None and not 0 <= float(sigma) <= 255:
        raise UserInputError(f"the noise sigma must be from 0 to 255, got {sigma}")
    if options.get("self_ensemble") and not spec.self_ensemble:
        options = {k: v for k, v in options.items() if k != "self_ensemble"}  # nothing to average
    run = _run_network if spec.origin.gpu else _run
    start = time.perf_counter()
    output = run(image, model_id, options)
    seconds = time.perf_counter() - start
    timing.record(model_id, seconds, image.shape[0] * image.shape[1], bool(options.get("self_ensemble")))
    note = spec.origin.run_note(sigma)  # one file per noise level (hub.NearestLevel): which ran
    return Restored(output, model_id, seconds, {**options, "note": note} if note else options)


def analyse(
    image: np.ndarray,
    jpeg_quality: int | None = None,
    codec: str | None = None,
    strength: float | None = None,
    deblur: bool = True,
) -> auto.Plan:
    """What auto would run on this image (its file's JPEG quality, codec and strength as read by
    the caller): the plan, with its note, before anything runs."""
    if codec in (None, "", "jpeg") and not strength and jpeg_quality:
        codec, strength = "jpeg", jpeg_quality
    findings = auto.analyse(image, codec or None, strength or None)
    return auto.plan(findings, lambda task: model_for(task, image.shape[0] * image.shape[1]), deblur)


FAST_ABOVE_MP = 8.0  # auto runs the fast tier above this size (a phone photo: 12 MP)


def model_for(task: str, pixels: int) -> str:
    """The model auto runs for a task: the default, or above ``FAST_ABOVE_MP`` the task's ready
    fast model (about a quarter of the compute), when there is one."""
    fast = [s for s in ready(task) if s.fast] if pixels > FAST_ABOVE_MP * 1e6 else []
    return (fast[0] if fast else default_for(task)).id


def _auto(image: np.ndarray, jpeg_quality: int | None, options: dict) -> Restored:
    """The auto entry: analyse, plan, run each step through ``restore``; the note says why."""
    if options.get("codec") and options["codec"] not in condition.CODECS:
        raise UserInputError(f"auto knows the codecs {', '.join(condition.CODECS)}, not {options['codec']!r}")
    plan = analyse(image, jpeg_quality, options.get("codec"), options.get("strength"), options.get("deblur", True))
    shared = {"self_ensemble": True} if options.get("self_ensemble") else {}
    result = auto.run(image, plan, restore, **shared)
    timing.record(auto.AUTO, result.seconds, image.shape[0] * image.shape[1], bool(shared))
    steps = [{"model": step.model, **step.options} for step in plan.steps]
    note = plan.note()
    if any(get(step.model).fast for step in plan.steps):
        note += (
            f" (a {image.shape[0] * image.shape[1] / 1e6:.0f} MP image: the fast models, about a quarter of the "
            "compute; choose the default models to override)"
        )
    return Restored(
        result.image, auto.AUTO, result.seconds, {**shared, "note": note, "plan": steps, **plan.findings.row()}
    )


UNTOLD = "not told the codec or strength (a PNG says neither)"


def told_compression(options: dict, jpeg_quality: int | None, knows: tuple[str, ...] = condition.CODECS) -> dict:
    """A quality-aware model's options: the strength (the user's ``strength``, else the file's JPEG
    quality) as ``quality``, the codec that made the file (``codec``: the user's, else the file's,
    else JPEG when the quality came from JPEG tables) when it is one the model ``knows``, and a
    note saying what it was told."""
    options = dict(options)
    strength, codec = options.pop("strength", None), options.pop("codec", None) or None
    if strength is not None and not (strength == 0 or 1 <= float(strength) <= 100):
        raise UserInputError(
            "the strength is a quality from 1 to 100 (lower = stronger restoration; 0: read it "
            f"from the file), got {strength}"
        )
    if codec is not None and codec not in condition.CODECS:
        raise UserInputError(f"a quality-aware model knows the codecs {', '.join(condition.CODECS)}, not {codec!r}")
    if not strength and jpeg_quality is not None and codec in (None, "jpeg"):
        strength, codec = jpeg_quality, "jpeg"
    if codec is not None and codec not in knows:  # a JPEG-only network on a WebP: a strength it never learnt
        return {
            **options,
            "quality": None,
            "codec": None,
            "note": f"ran blind: it knows the strength of {', '.join(knows)} files, not {codec}",
        }
    told = [f"{codec} file" if codec else "", f"strength {float(strength):g}" if strength else ""]
    note = "told " + ", ".join(t for t in told if t) if any(told) else UNTOLD
    return {**options, "quality": strength or None, "codec": codec, "note": note}


def _run(image: np.ndarray, model_id: str, options: dict) -> np.ndarray:
    """Canonical uint8 in and out. Runners with ``restore_uint8`` (networks, interpolation) take
    the image itself: exact, and no full-size float copies of a large image."""
    runner = _instance(model_id)
    if hasattr(runner, "restore_uint8"):
        return runner.restore_uint8(image, **options)
    return imagelib.from_float(runner(imagelib.to_float(image), **options))


# Networks (own and Hub) run inside spaces.GPU on a ZeroGPU Space; classical ones never ask for a GPU.
_run_network = accel.gpu_task(_run)
