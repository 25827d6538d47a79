"""Training code shared by the notebooks: patch sampling with on-the-fly degradations, a
channels-last training loop (bf16 where the CPU has it natively) with validation, early stopping
and safetensors checkpoints.

Each recipe (``notebooks/*.ipynb``) builds a ``Recipe`` and calls ``train``; ``SMOKE`` recipes
run a few steps on a few images so CI can check the whole path.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim import ssim as torch_ssim
from safetensors.torch import load_file, save_file

from restoration.models import accel
from restoration import degrade
from restoration.core import image as imagelib
from restoration import metrics as metriclib
from restoration.core import manifest as manifestlib
from restoration.models import architectures, nets
from restoration.core import resize
from restoration.core.manifest import sha256_of

DATA_ROOT = manifestlib.DATA_ROOT

# -- degradation samplers: progress in [0, 1] -> a degradation -----------------------------------
BLIND_CODECS = ("jpeg", "jpeg", "webp", "avif", "jpeg2000")  # JPEG twice: the commonest case


def compression_sampler(progress: float, rng: random.Random) -> degrade.Degradation:
    """Curriculum over compression strength: light at the start, the whole range (down to very
    low quality) from 60% of training on."""
    reach = min(1.0, 0.3 + progress / 0.6 * 0.7)  # fraction of the quality range opened so far
    codec = rng.choice(BLIND_CODECS)
    if codec == "jpeg2000":
        # compression ratio 12 (2 bpp) .. 160 (0.15 bpp); heavy end opens with the curriculum
        rate = 12 * (160 / 12) ** (rng.random() * reach)
        return degrade.Compress("jpeg2000", {"rate": round(rate, 2)})
    low, high = {"jpeg": (5, 60), "webp": (2, 60), "avif": (5, 55)}[codec]
    quality = int(round(high - rng.random() * reach * (high - low)))
    params = {"quality": quality}
    if codec == "avif":
        params["speed"] = 8  # faster encoder for training; artifacts of the same kind
    return degrade.Compress(codec, params)


def full_range_sampler(progress: float, rng: random.Random) -> degrade.Degradation:
    """Every strength people meet, from JPEG q5 to q95 (and WebP, AVIF, JPEG 2000 from very low
    to high quality), drawn more often at the heavy end where the artifacts are."""
    codec = rng.choice(BLIND_CODECS)
    heavy_first = rng.random() ** 1.5  # 0 = heaviest
    if codec == "jpeg2000":
        return degrade.Compress("jpeg2000", {"rate": round(6 * (160 / 6) ** (1 - heavy_first), 2)})
    low, high = {"jpeg": (5, 95), "webp": (2, 90), "avif": (5, 80)}[codec]
    params = {"quality": int(round(low + heavy_first * (high - low)))}
    if codec == "avif":
        params["speed"] = 8
    return degrade.Compress(codec, params)


def jpeg_condition(degradation, rng: random.Random, known_share: float = 1.0) -> np.ndarray:
    """What a quality-aware network is told: (quality / 100, 1) for a JPEG round trip, whose
    quality the file's tables give at run time, in ``known_share`` of the draws; else (0, 0),
    unknown (another codec, or a PNG of a decoded JPEG), where it must run blind."""
    if (isinstance(degradation, degrade.Compress) and degradation.codec == "jpeg"
            and "quality" in degradation.params and rng.random() < known_share):
        return np.array([degradation.params["quality"] / 100.0, 1.0], np.float32)
    return np.zeros(2, np.float32)


def noise_sampler(progress: float, rng: random.Random) -> degrade.Degradation:
    return degrade.Noise(sigma=rng.uniform(0.0, 50.0), seed=rng.randrange(2**31))


def combined_sampler(progress: float, rng: random.Random) -> degrade.Degradation:
    """The survey's combined degradation: blur, then noise, then (often) JPEG."""
    steps = [degrade.Blur(sigma=rng.uniform(0.0, 2.0))]
    steps.append(degrade.Noise(sigma=rng.uniform(0.0, 25.0), seed=rng.randrange(2**31)))
    if rng.random() < 0.7:
        steps.append(degrade.Compress("jpeg", {"quality": rng.randint(20, 80)}))
    return degrade.Chain(tuple(steps))


def _downscale_sampler(factor: int) -> Callable[[float, random.Random], degrade.Degradation]:
    """Super-resolution pairs by the standard protocol: MATLAB-bicubic downscale of the patch."""
    return lambda progress, rng: degrade.Downscale(factor)


def _unchanged(image: np.ndarray) -> np.ndarray:
    return image


def clean_sampler(progress: float, rng: random.Random) -> Callable[[np.ndarray], np.ndarray]:
    """No degradation: the learned codec trains on clean patches (its target is its input)."""
    return _unchanged


SAMPLERS: dict[str, Callable[[float, random.Random], degrade.Degradation]] = {
    "clean": clean_sampler,
    "compression": compression_sampler, "compression_full": full_range_sampler,
    "noise": noise_sampler, "combined": combined_sampler,
    "sr_x2": _downscale_sampler(2), "sr_x4": _downscale_sampler(4),
}


def training_images(folders=("train/BSD400", "train/T91"), root: Path = DATA_ROOT, limit: int | None = None,
                    exclude: set[str] | None = None) -> list[np.ndarray]:
    paths = []
    for folder in folders:
        paths += sorted((root / folder).glob("*.png"))
    paths = [p for p in paths if not exclude or p.name not in exclude][:limit]
    if not paths:
        raise FileNotFoundError(f"no training images under {root}")
    return [imagelib.load(p) for p in paths]


def with_rescaled(images: list[np.ndarray], scales=()) -> list[np.ndarray]:
    """The images plus their antialiased bicubic downscales by each factor in ``scales`` (< 1).
    Why: BSD400's "clean" photos carry film grain and faint JPEG traces, which a denoiser learns to
    treat as noise to remove; halving a photo about halves i.i.d. grain per pixel (tested) and packs
    detail denser. Stage 6 of deeprecnet-denoise, half its patches from such copies, gained 0.17 dB
    on McMaster at sigma 15 in 1000 steps (the notebook's record)."""
    rescaled = [resize.imresize(image, scale) for scale in scales for image in images]
    return list(images) + rescaled


class PatchStream(torch.utils.data.IterableDataset):
    """Endless (degraded, clean) float32 CHW patch pairs with flips and 90-degree rotations and,
    with ``channel_shuffle``, a random order of the RGB channels (six times the colours the
    training photos show, for degradations that treat the channels alike, such as noise) and, with
    ``saturation_boost`` k > 0, half the patches made more saturated (``boost_saturation``)."""

    def __init__(self, images, patch: int, sampler: str, total_samples: int, seed: int = 0,
                 curriculum_from: float = 0.0, channel_shuffle: bool = False, saturation_boost: float = 0.0,
                 condition: bool = False):
        self.images = [im for im in images if min(im.shape[:2]) >= patch]
        self.patch, self.sampler, self.total, self.seed = patch, sampler, total_samples, seed
        self.curriculum_from, self.channel_shuffle = curriculum_from, channel_shuffle
        self.saturation_boost, self.condition = saturation_boost, condition

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        workers, worker_id = (info.num_workers, info.id) if info else (1, 0)
        rng = random.Random(self.seed * 1000 + worker_id)
        sample = SAMPLERS[self.sampler]
        produced = 0
        while True:
            image = rng.choice(self.images)
            y = rng.randrange(image.shape[0] - self.patch + 1)
            x = rng.randrange(image.shape[1] - self.patch + 1)
            clean = image[y:y + self.patch, x:x + self.patch]
            k = rng.randrange(8)
            clean = np.rot90(clean[:, ::-1] if k >= 4 else clean, k % 4)
            if self.channel_shuffle:
                clean = clean[..., rng.sample(range(3), 3)]
            if self.saturation_boost > 0 and rng.random() < 0.5:
                clean = boost_saturation(clean, 1.0 + rng.uniform(0.0, self.saturation_boost))
            clean = np.ascontiguousarray(clean)
            done = min(1.0, produced * workers / max(1, self.total))
            progress = self.curriculum_from + (1.0 - self.curriculum_from) * done
            degradation = sample(progress, rng)
            degraded = degradation(clean)
            produced += 1
            if self.condition:  # a quality-aware network: also what it is told of the strength
                yield _to_tensor(degraded), _to_tensor(clean), torch.from_numpy(jpeg_condition(degradation, rng, 0.8))
            else:
                yield _to_tensor(degraded), _to_tensor(clean)


def boost_saturation(image: np.ndarray, exponent: float) -> np.ndarray:
    """HSV saturation S -> 1 - (1 - S)**exponent at the same hue and value (the channel maximum), so
    every pixel stays in gamut without clipping. Why: McMaster's mean saturation is 0.55, BSD400's
    0.38; a denoiser that has rarely seen strong chroma detail smooths it away as noise."""
    x = image.astype(np.float32)
    high = x.max(axis=2, keepdims=True)
    saturation = (high - x.min(axis=2, keepdims=True)) / np.maximum(high, 1e-6)
    # Grey pixels (saturation 0) get ratio 0, but their high - x is 0 too: they stay as they are.
    ratio = (1.0 - (1.0 - saturation) ** exponent) / np.maximum(saturation, 1e-6)
    return np.clip(np.rint(high - (high - x) * ratio), 0, 255).astype(np.uint8)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(imagelib.to_float(image)).permute(2, 0, 1)


# -- recipe and loop -----------------------------------------------------------------------------
@dataclass
class Recipe:
    model_id: str
    architecture: str
    arch_config: dict
    sampler: str
    steps: int = 6000
    batch: int = 16
    patch: int = 96
    lr: float = 4e-4
    lr_min: float = 1e-5
    ssim_weight: float = 0.1  # structural term standing in for VGG features (not available offline)
    pixel_loss: str = "l1"  # "l1" or "mse"
    validate_every: int = 500
    patience: int = 4  # validations without improvement before early stop
    seed: int = 0
    workers: int = 1
    threads: int = 2
    time_limit_s: float | None = None
    data: tuple = ("train/BSD400", "train/T91")
    val_images: int = 8  # held out from BSD400 (the last N files), centre 192x192 crops
    smoke: bool = False
    notes: str = ""
    init_weights: str | None = None  # fine-tune: start from this safetensors file
    curriculum_from: float = 0.0  # 1.0 = the whole degradation range from the first step
    channel_shuffle: bool = False  # random RGB order per patch (only for channel-symmetric degradations)
    saturation_boost: float = 0.0  # k > 0: half the patches get boost_saturation(exponent 1 + U(0, k))
    export_last: bool = False  # export the last validated weights, not the best on validation (see train)
    rescales: tuple = ()  # also train on copies of the images downscaled by these factors (with_rescaled)
    ema_decay: float = 0.0  # > 0: validate, keep and export a moving average of the weights (decay per step)
    condition: bool = False  # a quality-aware network: told the JPEG quality (jpeg_condition) with each patch

    def scaled_for_smoke(self) -> "Recipe":
        return replace(self, steps=4, batch=2, patch=48, validate_every=2, val_images=2, workers=0, smoke=True)


def validation_set(recipe: Recipe, images_dir: Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], set[str]]:
    names = sorted(p.name for p in (images_dir / "train/BSD400").glob("*.png"))[-recipe.val_images:]
    rng = random.Random(1234)
    pairs = []
    for name in names:
        image = imagelib.load(images_dir / "train/BSD400" / name)
        h, w = image.shape[:2]
        crop = image[(h - 192) // 2:(h + 192) // 2, (w - 192) // 2:(w + 192) // 2]
        # Fixed, mid-to-heavy degradations so validation tracks the hard end of the task.
        degradation = SAMPLERS[recipe.sampler](1.0, rng)
        pair = (degradation(crop), crop)
        pairs.append((*pair, jpeg_condition(degradation, rng)) if getattr(recipe, "condition", False) else pair)
    return pairs, set(names)


def naive_baseline(degraded: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """What the model must beat: the input itself, or its bicubic upscale for super-resolution."""
    if degraded.shape == clean.shape:
        return degraded
    return resize.upscale(degraded, clean.shape[0] // degraded.shape[0])


def build_model(architecture: str, config: dict) -> torch.nn.Module:
    return architectures.build(architecture, config)


def _loss(output, target, ssim_weight, pixel_loss="l1"):
    loss = F.l1_loss(output, target) if pixel_loss == "l1" else F.mse_loss(output, target)
    if ssim_weight:
        loss = loss + ssim_weight * (1 - torch_ssim(output.clamp(0, 1), target, data_range=1.0, size_average=True))
    return loss


@torch.inference_mode()
def validate_scores(model, pairs, ssim: bool = False) -> dict:
    """Mean RGB PSNR (and SSIM, if asked) of the model's outputs on the validation pairs."""
    model.eval()
    scores = {"psnr": [], **({"ssim": []} if ssim else {})}
    for degraded, clean, *condition in pairs:
        x = _to_tensor(degraded)[None].contiguous(memory_format=torch.channels_last)
        with accel.autocast("cpu"):
            y = (model(x, torch.from_numpy(condition[0])[None]) if condition else model(x)).float()
        sample = metriclib.Sample(clean, imagelib.from_float(y[0].permute(1, 2, 0).clamp(0, 1).numpy()))
        for name, values in scores.items():
            values.append(getattr(metriclib, name)(sample))
    model.train()
    return {name: float(np.mean(values)) for name, values in scores.items()}


def validate(model, pairs) -> float:
    return validate_scores(model, pairs)["psnr"]


def train(recipe: Recipe, run_dir: Path, data_root: Path = DATA_ROOT, log=print) -> dict:
    """Train, keeping the best validation checkpoint in ``run_dir/best.safetensors`` and the latest
    validated one in ``last.safetensors`` (to score on other data a stage whose validation never
    passed its starting weights, for which ``best`` stays the start)."""
    torch.manual_seed(recipe.seed)
    torch.set_num_threads(recipe.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    val_pairs, held_out = validation_set(recipe, data_root)
    images = training_images(recipe.data, data_root, limit=8 if recipe.smoke else None, exclude=held_out)
    images = with_rescaled(images, recipe.rescales)
    stream = PatchStream(images, recipe.patch, recipe.sampler, recipe.steps * recipe.batch, recipe.seed,
                         recipe.curriculum_from, recipe.channel_shuffle, recipe.saturation_boost, recipe.condition)
    loader = torch.utils.data.DataLoader(stream, batch_size=recipe.batch, num_workers=recipe.workers,
                                         persistent_workers=recipe.workers > 0)
    model = build_model(recipe.architecture, recipe.arch_config)
    if recipe.init_weights:
        _load_matching(model, recipe.init_weights, log)
    model = model.to(memory_format=torch.channels_last)
    # The averaged copy is what gets validated and saved: late steps of a run wander around a
    # minimum (the benchmark scores of successive checkpoints zigzag); their average sits nearer it.
    ema = (torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(
        recipe.ema_decay), use_buffers=True) if recipe.ema_decay > 0 else None)
    if ema is not None:
        ema.update_parameters(model)  # the first update copies: the average starts at the start weights
    kept = ema.module if ema is not None else model
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, recipe.steps, eta_min=recipe.lr_min)
    baseline = float(np.mean([metriclib.psnr(metriclib.Sample(c, naive_baseline(d, c))) for d, c, *_ in val_pairs]))
    best = {"step": 0, "val_psnr": validate(model, val_pairs)}
    save_weights(model, run_dir / "best.safetensors")
    history, stale, start = [], 0, time.time()
    log(f"{recipe.model_id}: {nets.parameter_count(model)} params, input val PSNR {baseline:.3f}")
    step, running = 0, 0.0
    for degraded, clean, *condition in loader:
        step += 1
        degraded = degraded.contiguous(memory_format=torch.channels_last)
        with accel.autocast("cpu"):
            output = model(degraded, *condition)
        loss = _loss(output.float(), clean, recipe.ssim_weight, recipe.pixel_loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if ema is not None:
            ema.update_parameters(model)
        running += loss.item()
        out_of_time = recipe.time_limit_s is not None and time.time() - start > recipe.time_limit_s
        if step % recipe.validate_every == 0 or step == recipe.steps or out_of_time:
            score = validate(kept, val_pairs)
            entry = {"step": step, "loss": running / recipe.validate_every, "val_psnr": score,
                     "lr": schedule.get_last_lr()[0], "elapsed_s": round(time.time() - start, 1)}
            history.append(entry)
            log(json.dumps(entry))
            running = 0.0
            save_weights(kept, run_dir / "last.safetensors")
            if score > best["val_psnr"]:
                best, stale = {"step": step, "val_psnr": score}, 0
                save_weights(kept, run_dir / "best.safetensors")
            else:
                stale += 1
            if stale >= recipe.patience:
                log(f"early stop at step {step}: no improvement in {stale} validations")
                break
        if step >= recipe.steps or out_of_time:
            break
    if recipe.export_last and history:
        # For a stage whose validation crops miss what it trains for (saturated colours, say),
        # ending on a small decayed rate: its end is the export, even if validation dipped.
        best = {"step": history[-1]["step"], "val_psnr": history[-1]["val_psnr"]}
        save_weights(kept, run_dir / "best.safetensors")
    summary = {"recipe": asdict(recipe), "params": nets.parameter_count(model), "steps_run": step,
               "best": best, "val_input_psnr": baseline, "history": history,
               "train_seconds": round(time.time() - start, 1)}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _load_matching(model: torch.nn.Module, path: str, log=print) -> None:
    """Start from another model's weights: every tensor whose name and shape match (so an x2
    network can start from the x4 one's features); what did not match is logged, not hidden."""
    own = model.state_dict()
    source = load_file(path)
    matching = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(own) - set(matching))
    if not matching:
        raise ValueError(f"{path}: no tensor matches {type(model).__name__}")
    model.load_state_dict(matching, strict=False)
    if skipped:
        log(f"init from {path}: {len(matching)} tensors loaded, kept initial values for {skipped}")


def save_weights(model: torch.nn.Module, path: Path, metadata: dict | None = None) -> None:
    """Stored as float16 to halve the repo size (load_state_dict casts back to float32; the
    scores in the manifest are measured from these files). safetensors needs contiguous
    tensors; channels_last weights are not."""
    tensors = {k: (v.half() if v.is_floating_point() else v).detach().contiguous()
               for k, v in model.state_dict().items()}
    save_file(tensors, path, metadata={k: str(v) for k, v in (metadata or {}).items()})


STAGE_FIELDS = ("recipe", "steps_run", "best_step", "train_seconds", "val_input_psnr", "val_psnr")


def stage_record(summary: dict) -> dict:
    """What a manifest keeps of one finished training stage."""
    return {"recipe": summary["recipe"], "steps_run": summary["steps_run"], "best_step": summary["best"]["step"],
            "train_seconds": summary["train_seconds"], "val_input_psnr": round(summary["val_input_psnr"], 3),
            "val_psnr": round(summary["best"]["val_psnr"], 3)}


def shipped_stages(model_id: str, section: str = "own", manifest: Path | None = None) -> list[dict]:
    """Every stage behind a shipped weights file, oldest first: a run that continues from that
    file passes these on as its ``previous_stages``."""
    entry = manifestlib.section(section, manifest)[model_id]
    return list(entry.get("previous_stages", [])) + [{k: entry[k] for k in STAGE_FIELDS + ("sha256",)}]


def run_stages(stages: list[Recipe], run_root: Path, from_stage: int = 1, smoke: bool = False) -> tuple[dict, Path]:
    """Train ``stages`` in order (numbered from 1), each from the previous one's best checkpoint;
    returns the last summary, with the earlier stages as ``previous_stages``, and its run folder.
    ``from_stage`` > 1 starts from the shipped weights (run from the repository root), taken as
    the end of stage ``from_stage - 1``, and carries the manifest's record of the stages before;
    from stage 1, the first recipe's own ``init_weights`` (another model's, say) are kept."""
    model_id = stages[0].model_id
    history = shipped_stages(model_id) if from_stage > 1 and not smoke else []
    weights = f"weights/{model_id}.safetensors" if from_stage > 1 else stages[0].init_weights
    for number, recipe in enumerate(stages, 1):
        if number < from_stage:
            continue
        recipe = replace(recipe.scaled_for_smoke() if smoke else recipe, init_weights=weights)
        run_dir = run_root / model_id / f"stage{number}"
        summary = train(recipe, run_dir)
        print(number, summary["best"], summary["steps_run"], summary["train_seconds"])
        history.append(stage_record(summary))
        weights = str(run_dir / "best.safetensors")
    summary["previous_stages"] = history[:-1]
    return summary, run_dir


def export(summary: dict, run_dir: Path, weights_dir: Path, manifest: Path | None = None) -> dict:
    """Copy the best checkpoint (``summary["checkpoint"]`` if it names another one) into
    ``weights_dir`` and record it in the manifest's ``own`` section: file, sha256, parameter
    count, the recipe, data, steps and validation scores."""
    recipe = summary["recipe"]
    weights_dir.mkdir(parents=True, exist_ok=True)
    target = weights_dir / f"{recipe['model_id']}.safetensors"
    target.write_bytes((run_dir / summary.get("checkpoint", "best.safetensors")).read_bytes())
    entry = {
        "file": target.name, "sha256": sha256_of(target), "architecture": recipe["architecture"],
        "arch_config": recipe["arch_config"], "scale": recipe["arch_config"].get("scale", 1),
        "params": summary["params"], "sampler": recipe["sampler"],
        "data": list(recipe["data"]), **stage_record(summary),
        **({"val_ssim": round(summary["best"]["val_ssim"], 4)} if "val_ssim" in summary["best"] else {}),
        "previous_stages": summary.get("previous_stages", []),
    }
    manifestlib.record(manifest or weights_dir / "manifest.json", "own", recipe["model_id"], entry)
    return entry
