"""The one training loop of the notebooks (``fit``): a channels-last loop (bf16 where the CPU has it
natively) over ``data.PatchStream``, with the time-aware cosine schedule (``cosine_factor``),
validation on held-out crops, an optional moving average of the weights, best and last
safetensors checkpoints, early stopping, a time limit and ``summary.json``.

What a kind of training does differently are its hooks: ``Plain`` here (a pixel loss; ``train``),
``codec.RateDistortion`` (the learned codecs) and ``gan.Adversarial`` (generator and
discriminator). Each recipe (``notebooks/*.ipynb``) builds a ``Recipe`` and calls ``train`` (or
``run_stages``); ``SMOKE`` recipes run a few steps on a few images so CI can check the whole path.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim import ssim as torch_ssim
from safetensors.torch import save_file

from restoration import metrics as metriclib
from restoration.core import image as imagelib
from restoration.core import manifest as manifestlib
from restoration.core import resize
from restoration.models import accel, architectures, nets, storage
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
    teacher: str | None = None  # distil: an own shipped model (same inputs) whose outputs are a second target
    teacher_weight: float = 0.0  # the loss adds this times L1(output, the teacher's output)

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


def pixel_loss(output, target, ssim_weight: float, kind: str = "l1"):
    """The plain kind's loss: L1 or MSE, plus ``ssim_weight`` times (1 - SSIM)."""
    loss = F.l1_loss(output, target) if kind == "l1" else F.mse_loss(output, target)
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


class Scores(NamedTuple):
    """One validation: the history entry's fields, the fields ``best`` keeps when it is the best, and
    the number the selection compares."""

    entry: dict
    best: dict
    score: float


class Plain:
    """The hooks of one kind of training inside ``fit``: here the plain kind (a pixel loss, the best
    validation PSNR kept, early stopping). ``codec.RateDistortion`` and ``gan.Adversarial`` replace
    the hooks their kind does differently."""

    def __init__(self, recipe, log=print):
        self.recipe, self.log = recipe, log

    # -- what the loop asks of a kind ------------------------------------------------------------
    @property
    def patience(self) -> int | None:
        """Validations without improvement before an early stop (None: never)."""
        return self.recipe.patience

    @property
    def ema_decay(self) -> float:
        return self.recipe.ema_decay

    @property
    def end_step(self) -> int:
        return self.recipe.steps

    def stream(self, images: list[np.ndarray]) -> PatchStream:
        r = self.recipe
        return PatchStream(
            with_rescaled(images, r.rescales),
            r.patch,
            r.sampler,
            r.steps * r.batch,
            r.seed,
            r.curriculum_from,
            r.channel_shuffle,
            r.saturation_boost,
            r.condition,
            condition_codecs(r),
        )

    def network(self) -> torch.nn.Module:
        return build_model(self.recipe.architecture, self.recipe.arch_config)

    def build(self, model: torch.nn.Module, kept: torch.nn.Module, run_dir: Path) -> None:
        """The optimiser and its schedule for ``model``; ``kept`` (the model or its moving
        average) is what is validated and saved."""
        self.model, self.kept, self.run_dir = model, kept, run_dir
        self.optimizer = torch.optim.Adam(model.parameters(), lr=self.recipe.lr)
        self.schedule = cosine_schedule(self.optimizer, self.recipe)
        teacher = getattr(self.recipe, "teacher", None)  # a codec's recipe has none
        self.teacher = load_teacher(teacher) if teacher else None

    def begin(self, val_pairs) -> tuple[dict, list[dict]]:
        """Score the start; returns (the starting ``best``, the starting history)."""
        self.val_pairs = val_pairs
        self.baseline = input_psnr(val_pairs)
        self.start_psnr = validate(self.kept, val_pairs)
        save_weights(self.kept, self.run_dir / "best.safetensors")
        self.log(
            f"{self.recipe.model_id}: {nets.parameter_count(self.model)} params, input val PSNR {self.baseline:.3f}, "
            f"start {self.start_psnr:.3f}, {accel.precision('cpu')}"
        )
        return {"step": 0, "val_psnr": self.start_psnr}, []

    def step(self, batch, step: int) -> dict:
        """One optimiser step on ``batch`` (degraded, clean, *condition); returns its losses."""
        degraded, clean, *condition = batch
        degraded = degraded.contiguous(memory_format=torch.channels_last)
        with accel.autocast("cpu"):
            output = self.model(degraded, *condition)
        loss = pixel_loss(output.float(), clean, self.recipe.ssim_weight, self.recipe.pixel_loss)
        losses = {}
        if self.teacher is not None:
            with torch.no_grad(), accel.autocast("cpu"):
                taught = self.teacher(degraded, *condition).float()
            losses["distil"] = F.l1_loss(output.float(), taught)
        total = loss + self.recipe.teacher_weight * losses.get("distil", 0.0)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.schedule.step()
        return {"loss": loss.item(), **{name: value.item() for name, value in losses.items()}}

    def lr(self) -> float:
        return self.schedule.get_last_lr()[0]

    def validate(self) -> Scores:
        score = validate(self.kept, self.val_pairs)
        return Scores({"val_psnr": score}, {"val_psnr": score}, score)

    def better(self, score: float, best: dict) -> bool:
        return score > best["val_psnr"]

    def save(self, step: int, improved: bool) -> None:
        save_weights(self.kept, self.run_dir / "last.safetensors")
        if improved:
            save_weights(self.kept, self.run_dir / "best.safetensors")

    def finish(self, best: dict, history: list[dict]) -> dict:
        """The ``best`` the summary reports (and export ships)."""
        if self.recipe.export_last and history:
            # For a stage whose validation crops miss what it trains for (saturated colours, say),
            # ending on a small decayed rate: its end is the export, even if validation dipped.
            save_weights(self.kept, self.run_dir / "best.safetensors")
            return {"step": history[-1]["step"], "val_psnr": history[-1]["val_psnr"]}
        return best

    def summary(self) -> dict:
        """The summary's fields of this kind."""
        return {
            "val_input_psnr": self.baseline,
            "val_start_psnr": self.start_psnr,
            "precision": accel.precision("cpu"),
        }


def fit(hooks: Plain, run_dir: Path, data_root: Path = DATA_ROOT) -> dict:
    """The one training loop: seed and threads, the held-out validation crops and an endless
    stream of training patches from the other images, the network from its init weights (and its
    moving average), then optimiser steps, a validation every ``validate_every`` steps, at the end
    and when the time limit passes (a history entry, the checkpoints, early stopping), and
    ``summary.json``. ``hooks`` does what its kind of training does differently."""
    recipe, log = hooks.recipe, hooks.log
    torch.manual_seed(recipe.seed)
    torch.set_num_threads(recipe.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    val_pairs, held_out = validation_set(recipe, data_root)
    images = training_images(recipe.data, data_root, limit=8 if recipe.smoke else None, exclude=held_out)
    loader = torch.utils.data.DataLoader(
        hooks.stream(images), batch_size=recipe.batch, num_workers=recipe.workers, persistent_workers=recipe.workers > 0
    )
    model, ema = _model(hooks.network(), recipe.init_weights, hooks.ema_decay, log)
    hooks.build(model, ema.module if ema is not None else model, run_dir)
    best, history = hooks.begin(val_pairs)
    stale, start, step, running = 0, time.time(), 0, []
    for batch in loader:
        step += 1
        running.append(hooks.step(batch, step))
        if ema is not None:
            ema.update_parameters(model)
        out_of_time = recipe.time_limit_s is not None and time.time() - start > recipe.time_limit_s
        if step % recipe.validate_every == 0 or step >= hooks.end_step or out_of_time:
            scores = hooks.validate()
            improved = hooks.better(scores.score, best)
            entry = {
                "step": step,
                **mean_losses(running),
                **scores.entry,
                "lr": hooks.lr(),
                "elapsed_s": round(time.time() - start, 1),
            }
            history.append(entry)
            log(json.dumps(entry))
            running = []
            best, stale = ({"step": step, **scores.best}, 0) if improved else (best, stale + 1)
            hooks.save(step, improved)
            if hooks.patience is not None and stale >= hooks.patience:
                log(f"early stop at step {step}: no improvement in {stale} validations")
                break
        if step >= hooks.end_step or out_of_time:
            break
    summary = {
        "recipe": asdict(hooks.recipe),
        "params": nets.parameter_count(model),
        "steps_run": step,
        "best": hooks.finish(best, history),
        "history": history,
        "train_seconds": round(time.time() - start, 1),
        **hooks.summary(),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def train(recipe: Recipe, run_dir: Path, data_root: Path = DATA_ROOT, log=print) -> dict:
    """Train, keeping the best validation checkpoint in ``run_dir/best.safetensors`` and the latest
    validated one in ``last.safetensors`` (to score on other data a stage whose validation never
    passed its starting weights, for which ``best`` stays the start)."""
    return fit(Plain(recipe, log), run_dir, data_root)


def mean_losses(running: list[dict]) -> dict:
    """Each loss's mean over the steps since the last validation (a kind's warm-up steps may leave
    some out: each is averaged over the steps that have it)."""
    names = dict.fromkeys(name for losses in reversed(running) for name in losses)
    return {name: round(float(np.mean([losses[name] for losses in running if name in losses])), 5) for name in names}


def load_teacher(model_id: str) -> torch.nn.Module:
    """An own shipped model (its manifest entry and weights file), frozen, in eval mode and
    channels-last: the teacher a distilled recipe learns from beside the clean target."""
    entry = manifestlib.section("own")[model_id]
    teacher = build_model(entry["architecture"], entry["arch_config"])
    teacher.load_state_dict(storage.load_state(manifestlib.WEIGHTS_DIR / entry["file"]))
    return teacher.eval().requires_grad_(False).to(memory_format=torch.channels_last)


def input_psnr(val_pairs) -> float:
    """Mean PSNR of what the model must beat on the validation pairs (``naive_baseline``)."""
    return float(np.mean([metriclib.psnr(metriclib.Sample(c, naive_baseline(d, c))) for d, c, *_ in val_pairs]))


def cosine_factor(recipe, step: int, elapsed_s: float, lr: float | None = None, steps: int | None = None) -> float:
    """The learning rate's factor of its peak (``recipe.lr``, or ``lr``): a cosine from 1 down to
    ``lr_min`` over whichever runs out first, the steps (``recipe.steps``, or ``steps``) or the
    time limit, so that a stage cut by its time limit on a busy CPU has still annealed when it ends."""
    progress = step / (steps or recipe.steps)
    if recipe.time_limit_s:
        progress = max(progress, elapsed_s / recipe.time_limit_s)
    floor = recipe.lr_min / (lr or recipe.lr)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def cosine_schedule(optimizer, recipe, lr: float | None = None, steps: int | None = None):
    """``cosine_factor`` as the optimiser's schedule, its clock started now."""
    clock = time.time()
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_factor(recipe, step, time.time() - clock, lr, steps)
    )


def _model(model: torch.nn.Module, init_weights: str | None, ema_decay: float, log):
    """(the network, from its init weights, and its moving average or None). The averaged copy is
    what gets validated and saved: late steps of a run wander around a minimum (the benchmark
    scores of successive checkpoints zigzag); their average sits nearer it."""
    if init_weights:  # every tensor of matching name and shape
        load_matching(model, init_weights, log)
    model = model.to(memory_format=torch.channels_last)
    ema = (
        torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(ema_decay), use_buffers=True
        )
        if ema_decay > 0
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
