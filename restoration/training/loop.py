"""The supervised training loop shared by the notebooks: a channels-last loop (bf16 where the CPU
has it natively) over ``data.PatchStream``, with validation on held-out crops, an optional moving
average of the weights, early stopping and safetensors checkpoints.

Each recipe (``notebooks/*.ipynb``) builds a ``Recipe`` and calls ``train``; ``SMOKE`` recipes
run a few steps on a few images so CI can check the whole path.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim import ssim as torch_ssim
from safetensors.torch import save_file

from restoration import metrics as metriclib
from restoration.core import image as imagelib
from restoration.core import resize
from restoration.models import accel, architectures, nets
from restoration.training.data import (
    DATA_ROOT,
    SAMPLERS,
    PatchStream,
    compression_condition,
    to_tensor,
    training_images,
    with_rescaled,
)
from restoration.training.warm_start import load_matching


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
    names = sorted(p.name for p in (images_dir / "train/BSD400").glob("*.png"))[-recipe.val_images :]
    rng = random.Random(1234)
    pairs = []
    for name in names:
        image = imagelib.load(images_dir / "train/BSD400" / name)
        h, w = image.shape[:2]
        crop = image[(h - 192) // 2 : (h + 192) // 2, (w - 192) // 2 : (w + 192) // 2]
        # Fixed, mid-to-heavy degradations so validation tracks the hard end of the task.
        degradation = SAMPLERS[recipe.sampler](1.0, rng)
        pair = (degradation(crop), crop)
        if getattr(recipe, "condition", False):  # everything told (the rng is drawn only for such networks)
            pair = (*pair, compression_condition(degradation, rng, condition_codecs(recipe), mix=(0.0, 0.0, 0.0)))
        pairs.append(pair)
    return pairs, set(names)


def condition_codecs(recipe: Recipe) -> tuple[str, ...]:
    """The codecs a codec-aware network is told of (its ``arch_config["codecs"]``; none for the first)."""
    return tuple(recipe.arch_config.get("codecs", ()))


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
        x = to_tensor(degraded)[None].contiguous(memory_format=torch.channels_last)
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
    val_pairs, loader = _data(recipe, data_root)
    model, ema = _model(recipe, log)
    kept = ema.module if ema is not None else model
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    clock = time.time()
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_factor(recipe, step, time.time() - clock)
    )
    baseline = float(np.mean([metriclib.psnr(metriclib.Sample(c, naive_baseline(d, c))) for d, c, *_ in val_pairs]))
    best = {"step": 0, "val_psnr": validate(model, val_pairs)}
    start_psnr = best["val_psnr"]
    save_weights(model, run_dir / "best.safetensors")
    history, stale, start = [], 0, time.time()
    precision = accel.precision("cpu")
    log(
        f"{recipe.model_id}: {nets.parameter_count(model)} params, input val PSNR {baseline:.3f}, "
        f"start {start_psnr:.3f}, {precision}"
    )
    step, running = 0, 0.0
    for batch in loader:
        step += 1
        running += _train_step(model, ema, optimizer, schedule, recipe, batch)
        out_of_time = recipe.time_limit_s is not None and time.time() - start > recipe.time_limit_s
        if step % recipe.validate_every == 0 or step == recipe.steps or out_of_time:
            score = validate(kept, val_pairs)
            entry = {
                "step": step,
                "loss": running / recipe.validate_every,
                "val_psnr": score,
                "lr": schedule.get_last_lr()[0],
                "elapsed_s": round(time.time() - start, 1),
            }
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
    summary = {
        "recipe": asdict(recipe),
        "params": nets.parameter_count(model),
        "steps_run": step,
        "best": best,
        "val_input_psnr": baseline,
        "val_start_psnr": start_psnr,
        "history": history,
        "train_seconds": round(time.time() - start, 1),
        "precision": precision,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def cosine_factor(recipe: Recipe, step: int, elapsed_s: float) -> float:
    """The learning rate's factor of ``recipe.lr``: a cosine from 1 down to ``lr_min / lr`` over
    whichever runs out first, the steps or the time limit, so that a stage cut by its time limit
    on a busy CPU has still annealed when it ends."""
    progress = step / recipe.steps
    if recipe.time_limit_s:
        progress = max(progress, elapsed_s / recipe.time_limit_s)
    floor = recipe.lr_min / recipe.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _train_step(model, ema, optimizer, schedule, recipe: Recipe, batch) -> float:
    """One optimiser step on ``batch`` (degraded, clean, *condition); returns its loss."""
    degraded, clean, *condition = batch
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
    return loss.item()


def _data(recipe: Recipe, data_root: Path):
    """(the validation pairs, an endless loader of training batches from the other images)."""
    val_pairs, held_out = validation_set(recipe, data_root)
    images = training_images(recipe.data, data_root, limit=8 if recipe.smoke else None, exclude=held_out)
    images = with_rescaled(images, recipe.rescales)
    stream = PatchStream(
        images,
        recipe.patch,
        recipe.sampler,
        recipe.steps * recipe.batch,
        recipe.seed,
        recipe.curriculum_from,
        recipe.channel_shuffle,
        recipe.saturation_boost,
        recipe.condition,
        condition_codecs(recipe),
    )
    loader = torch.utils.data.DataLoader(
        stream, batch_size=recipe.batch, num_workers=recipe.workers, persistent_workers=recipe.workers > 0
    )
    return val_pairs, loader


def _model(recipe: Recipe, log):
    """(the network, from its init weights, and its moving average or None). The averaged copy is
    what gets validated and saved: late steps of a run wander around a minimum (the benchmark
    scores of successive checkpoints zigzag); their average sits nearer it."""
    model = build_model(recipe.architecture, recipe.arch_config)
    if recipe.init_weights:
        load_matching(model, recipe.init_weights, log)
    model = model.to(memory_format=torch.channels_last)
    ema = (
        torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(recipe.ema_decay), use_buffers=True
        )
        if recipe.ema_decay > 0
        else None
    )
    if ema is not None:
        ema.update_parameters(model)  # the first update copies: the average starts at the start weights
    return model, ema


def save_weights(model: torch.nn.Module, path: Path, metadata: dict | None = None) -> None:
    """Stored as float16 to halve the repo size (load_state_dict casts back to float32; the
    scores in the manifest are measured from these files). safetensors needs contiguous
    tensors; channels_last weights are not."""
    tensors = {
        k: (v.half() if v.is_floating_point() else v).detach().contiguous() for k, v in model.state_dict().items()
    }
    save_file(tensors, path, metadata={k: str(v) for k, v in (metadata or {}).items()})
