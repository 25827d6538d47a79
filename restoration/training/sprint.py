"""A training sprint on one GPU in one command: several of our networks fine-tuned at once from
their shipped weights on the pack ``restoration.training.pack`` built, each keeping the moving
average of its weights that scores best on the pack's validation crops:

    python -m restoration.training.sprint --out DIR [--pack packs] [--budget-s 480]
        [--recipes deeprecnet-qa-codecs,subpixel-ca-sr-x4,subpixel-ca-sr-x2] [--device cuda] [--smoke]

It imports torch, numpy, Pillow, safetensors and four of our modules that import nothing else
(models.architectures, models.storage, models.condition, core.manifest), so it runs where no codec
is installed. The recipes take turns, one optimiser step each, under bf16 autocast on CUDA, in
channels-last, with large batches, a learning rate that warms up and then decays (cosine) over
the wall-clock budget, and a moving average (EMA) of each network's weights, validated at the
start and about every ``budget / VALIDATIONS`` seconds. DIR receives ``sprint.json`` (per recipe:
steps, losses, validation history, best, seconds; the device and the torch version) and, for each
network whose validation improved, ``<id>.safetensors`` in float16 (4 files at most, each under
16 MiB). ``--smoke`` runs a few steps of each on the CPU and writes every network
(tests/test_sprint.py).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from restoration.core import manifest as manifestlib
from restoration.models import architectures, condition, storage

MAX_FILE_BYTES = 16 * 1024 * 1024
VALIDATIONS = 8  # validations per recipe over the budget, besides the one at the start
WARMUP = 0.05  # share of the budget over which the learning rate rises to its peak
RESERVE_S = 20.0  # of the budget, kept for the last validation and writing the files
ARTIFACT_SAMPLERS = ("compression", "compression_full")


@dataclass(frozen=True)
class SprintRecipe:
    model_id: str
    batch: int
    patch: int  # side of the clean (high-resolution) patch
    lr: float  # peak learning rate (Adam)
    grid: int  # patch corners on multiples of this (codec block grids; the SR scale)
    ema_decay: float = 0.999


RECIPES = {  # MSE (what PSNR measures) at a low rate: the shipped networks' last stages did the same
    "deeprecnet-qa-codecs": SprintRecipe("deeprecnet-qa-codecs", batch=64, patch=128, lr=5e-5, grid=16),
    "subpixel-ca-sr-x4": SprintRecipe("subpixel-ca-sr-x4", batch=64, patch=160, lr=5e-5, grid=4),
    "subpixel-ca-sr-x2": SprintRecipe("subpixel-ca-sr-x2", batch=64, patch=128, lr=5e-5, grid=2),
    # The fast tier: a quarter of the compute per step, so the round-robin adds little to a round.
    "deeprecnet-fast": SprintRecipe("deeprecnet-fast", batch=64, patch=128, lr=5e-5, grid=16),
    "subpixel-fast-sr-x4": SprintRecipe("subpixel-fast-sr-x4", batch=64, patch=160, lr=5e-5, grid=4),
}
SMOKE = {"batch": 2, "patch": 64, "ema_decay": 0.5}  # recipe fields for --smoke
SMOKE_ROUNDS = 4


# -- the pack ------------------------------------------------------------------------------------
def load_mosaic(path: Path, side: int) -> np.ndarray:
    """A pack's PNG mosaic as (N, side, side, 3) uint8."""
    with Image.open(path) as image:
        return np.array(image.convert("RGB")).reshape(-1, side, side, 3)


def matlab_downscale(images: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """MATLAB ``imresize(image, 1/s, 'bicubic')`` of (N, S, S, 3) uint8 crops with the pack's
    (S/s x S) matrix, as ``core.resize`` computes it: rows, rounded to uint8, then columns."""
    x = torch.einsum("oh,nhwc->nowc", matrix, images.double())
    x = torch.floor(x.clamp(0, 255) + 0.5)
    x = torch.einsum("ow,nhwc->nhoc", matrix, x)
    return torch.floor(x.clamp(0, 255) + 0.5).to(torch.uint8)


class Pack:
    """The pack's arrays on the device: training crops (clean, degraded, what the artifact model
    is told, LR at x2 and x4) and the validation crops."""

    def __init__(self, folder: Path, device: torch.device):
        self.meta = json.loads((folder / "pack.json").read_text())
        crop, val_side = self.meta["crop"], self.meta["validation"]["crop"]

        def tensor(array):
            return torch.from_numpy(np.ascontiguousarray(array)).to(device)

        self.clean = tensor(load_mosaic(folder / "train_clean.png", crop))
        self.degraded = tensor(load_mosaic(folder / "train_degraded.png", crop))
        self.told = tensor(np.load(folder / "train_condition.npy"))
        with np.load(folder / "resize.npz") as matrices:
            self.lr = {scale: matlab_downscale(self.clean, tensor(matrices[f"x{scale}"])) for scale in (2, 4)}
        self.val_clean = tensor(load_mosaic(folder / "val_clean.png", val_side))
        self.val_degraded = tensor(load_mosaic(folder / "val_degraded.png", val_side))
        self.val_told = tensor(np.load(folder / "val_condition.npy"))
        self.val_lr = {scale: tensor(load_mosaic(folder / f"val_lr{scale}.png", val_side // scale)) for scale in (2, 4)}

    def describe(self) -> dict:
        keys = ("crop", "train_crops", "codecs", "bytes", "limit", "seed")
        return {**{k: self.meta.get(k) for k in keys}, "validation_images": self.meta["validation"]["images"]}


def to_input(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [0, 1], channels-last."""
    return images.permute(0, 3, 1, 2).float().div(255.0).contiguous(memory_format=torch.channels_last)


def crop_batch(
    images: torch.Tensor, index: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int
) -> torch.Tensor:
    """One (size x size) patch of ``images[index[b]]`` at (top[b], left[b]) for each b, in one gather."""
    span = torch.arange(size, device=images.device)
    rows, cols = top[:, None] + span, left[:, None] + span
    return images[index[:, None, None], rows[:, :, None], cols[:, None, :]]


def dihedral(tensors: list[torch.Tensor], k: int) -> list[torch.Tensor]:
    """The same one of the 8 flips/rotations of every (N, C, H, W) tensor."""
    flipped = [t.flip(-1) for t in tensors] if k >= 4 else tensors
    return [torch.rot90(t, k % 4, (-2, -1)) for t in flipped]


def hide_condition(told: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """What training tells the codec-aware network: the full vector but in ``TRAINING_MIX``'s
    shares, where the strength, the codec or both are unknown (``data.compression_condition``)."""
    blind, codec_only, strength_only = condition.TRAINING_MIX
    draw = torch.rand(told.shape[0], device=told.device, generator=generator)
    no_strength = draw < blind + codec_only
    no_codec = (draw < blind) | ((draw >= blind + codec_only) & (draw < blind + codec_only + strength_only))
    keep_strength, keep_codec = (~no_strength).to(told.dtype)[:, None], (~no_codec).to(told.dtype)[:, None]
    return torch.cat([told[:, :2] * keep_strength, told[:, 2:] * keep_codec], dim=1)  # no mask indexing: no sync


class MovingAverage:
    """A copy of a network whose floating tensors follow the network's by ``1 - decay`` a step
    (one fused lerp: no device sync, which torch's AveragedModel makes at every update); it
    starts at the network's weights."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.weight = 1.0 - decay
        # state_dict() views share storage with the live tensors, which the optimiser updates in place.
        self.targets = [t for t in self.module.state_dict().values() if t.is_floating_point()]
        self.sources = [t for t in model.state_dict().values() if t.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self.targets, self.sources, self.weight)


# -- one network's run -----------------------------------------------------------------------------
class Run:
    """One recipe: its network from the shipped weights, the moving average, the optimiser, what
    it reads from the pack, and its log."""

    def __init__(self, recipe: SprintRecipe, pack: Pack, device: torch.device):
        path, entry = manifestlib.verified_file("own", recipe.model_id)
        self.recipe, self.entry, self.start_sha256 = recipe, entry, entry["sha256"]
        self.scale = int(entry.get("scale", 1))
        self.conditioned = bool(entry["arch_config"].get("conditioned"))
        self._check_pack(pack)
        model = architectures.build(entry["architecture"], entry["arch_config"])
        model.load_state_dict(storage.load_state(path))
        self.model = model.to(device).to(memory_format=torch.channels_last).train()
        self.ema = MovingAverage(self.model, recipe.ema_decay)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=recipe.lr)
        self.steps, self.seconds, self.loss_sum, self.loss_steps = 0, 0.0, 0.0, 0
        self.turns = random.Random(recipe.model_id)  # which flip/rotation, drawn without a device sync
        self.losses, self.history, self.best, self.best_state = [], [], None, None

    def _check_pack(self, pack: Pack) -> None:
        sampler = self.entry.get("sampler")
        if self.scale == 1 and sampler not in ARTIFACT_SAMPLERS or self.scale not in (1, 2, 4):
            raise SystemExit(f"{self.recipe.model_id}: the pack has no data for its task ({sampler}, x{self.scale})")
        if self.conditioned and list(self.entry["arch_config"].get("codecs", [])) != pack.meta["codecs"]:
            raise SystemExit(f"{self.recipe.model_id}: told other codecs than the pack's {pack.meta['codecs']}")
        if self.recipe.patch % self.scale or self.recipe.patch > pack.meta["crop"]:
            raise SystemExit(f"{self.recipe.model_id}: patch {self.recipe.patch} does not fit the pack's crops")

    def forward(self, model, inputs: torch.Tensor, told: torch.Tensor) -> torch.Tensor:
        return model(inputs, told) if self.conditioned else model(inputs)

    def batch(self, pack: Pack, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(input, target, told) of one random batch: aligned patches, one of the 8 flips/rotations."""
        recipe, device = self.recipe, pack.clean.device
        index = torch.randint(pack.clean.shape[0], (recipe.batch,), device=device, generator=generator)
        places = (pack.clean.shape[1] - recipe.patch) // recipe.grid + 1
        top, left = torch.randint(places, (2, recipe.batch), device=device, generator=generator) * recipe.grid
        target = crop_batch(pack.clean, index, top, left, recipe.patch)
        if self.scale == 1:
            source = crop_batch(pack.degraded, index, top, left, recipe.patch)
        else:
            source = crop_batch(
                pack.lr[self.scale], index, top // self.scale, left // self.scale, recipe.patch // self.scale
            )
        inputs, target = dihedral([to_input(source), to_input(target)], self.turns.randrange(8))
        told = hide_condition(pack.told[index], generator)
        return inputs.contiguous(memory_format=torch.channels_last), target, told

    def step(self, pack: Pack, generator: torch.Generator, lr: float, precision: torch.dtype | None) -> None:
        inputs, target, told = self.batch(pack, generator)
        with torch.autocast(inputs.device.type, dtype=precision or torch.float32, enabled=precision is not None):
            output = self.forward(self.model, inputs, told)
        loss = F.mse_loss(output.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.ema.update()
        self.loss_sum = self.loss_sum + loss.detach()  # a tensor: no device sync per step
        self.loss_steps += 1
        self.steps += 1

    @torch.no_grad()
    def validate(self, pack: Pack, precision: torch.dtype | None, elapsed: float, lr: float) -> float:
        """Mean RGB PSNR of the moving average on the validation crops (rounded to 8 bits, as
        ``loop.validate``); logs it with the mean loss since the last validation; keeps the best."""
        model = self.ema.module
        source = pack.val_degraded if self.scale == 1 else pack.val_lr[self.scale]
        with torch.autocast(source.device.type, dtype=precision or torch.float32, enabled=precision is not None):
            output = self.forward(model, to_input(source), pack.val_told).float()
        rounded = output.clamp(0, 1).mul(255).round()
        clean = pack.val_clean.permute(0, 3, 1, 2).float()
        mse = (rounded - clean).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
        psnr = float((10 * torch.log10(255.0**2 / mse)).mean())
        if self.loss_steps:
            self.losses.append({"step": self.steps, "loss": float(self.loss_sum) / self.loss_steps})
            self.loss_sum, self.loss_steps = 0.0, 0
        self.history.append({"step": self.steps, "elapsed_s": round(elapsed, 1), "lr": lr, "val_psnr": round(psnr, 4)})
        if self.best is None or psnr > self.best["val_psnr"]:
            self.best = {"step": self.steps, "val_psnr": psnr}
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        return psnr

    def record(self, file: str | None) -> dict:
        start = self.history[0]["val_psnr"]
        return {
            "architecture": self.entry["architecture"],
            "arch_config": self.entry["arch_config"],
            "start_sha256": self.start_sha256,
            "recipe": asdict(self.recipe),
            "steps": self.steps,
            "seconds": round(self.seconds, 1),
            "samples_per_s": round(self.steps * self.recipe.batch / self.seconds, 1) if self.seconds else None,
            "start_psnr": start,
            "best": {**self.best, "val_psnr": round(self.best["val_psnr"], 4)},
            "gain_db": round(self.best["val_psnr"] - start, 4),
            "losses": self.losses,
            "validation": self.history,
            "file": file,
        }


# -- the sprint ------------------------------------------------------------------------------------
class StepTimer:
    """Seconds each run's steps take: CUDA events read at validations (no sync per step), or the
    wall clock on the CPU."""

    def __init__(self, device: torch.device):
        self.cuda, self.pending = device.type == "cuda", []

    def time(self, run: Run, fn) -> None:
        if not self.cuda:
            start = time.perf_counter()
            fn()
            run.seconds += time.perf_counter() - start
            return
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        self.pending.append((run, begin, end))

    def settle(self) -> None:
        if self.pending:
            torch.cuda.synchronize()
        for run, begin, end in self.pending:
            run.seconds += begin.elapsed_time(end) / 1000.0
        self.pending = []


def learning_rate(peak: float, progress: float) -> float:
    """Linear warm-up over WARMUP of the budget, then cosine decay to zero at its end."""
    if progress < WARMUP:
        return peak * max(progress, 0.01) / WARMUP
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - WARMUP) / (1 - WARMUP))))


class Clock:
    """Where the sprint stands: the budget's progress (counted from ``start``, the sprint's own
    start, so that loading the pack and the networks is inside the budget), and when to validate
    (every budget / VALIDATIONS seconds; with ``max_rounds``, every ``max_rounds / 2`` rounds)."""

    def __init__(self, budget_s: float, max_rounds: int | None, start: float):
        self.start, self.train_s, self.max_rounds = start, max(1.0, budget_s - RESERVE_S), max_rounds
        self.rounds, self.next_check = 0, self.train_s / VALIDATIONS

    def elapsed(self) -> float:
        return time.time() - self.start

    def progress(self) -> float:
        return self.rounds / self.max_rounds if self.max_rounds else min(1.0, self.elapsed() / self.train_s)

    def done(self) -> bool:
        return self.progress() >= 1.0

    def validation_due(self) -> bool:
        if self.max_rounds:
            due = self.rounds > 0 and self.rounds % max(1, self.max_rounds // 2) == 0
        else:
            due = self.elapsed() >= self.next_check
        if due:
            self.next_check = self.elapsed() + self.train_s / VALIDATIONS
        return due


def train(runs: list[Run], pack: Pack, clock: Clock, precision, seed: int, log=print) -> float:
    """Round-robin steps until the clock's budget (or rounds) is spent; returns the seconds since
    the clock's start."""
    generator = torch.Generator(device=pack.clean.device).manual_seed(seed)
    timer = StepTimer(pack.clean.device)

    def validate_all():
        timer.settle()
        for run in runs:
            lr = learning_rate(run.recipe.lr, clock.progress())
            psnr = run.validate(pack, precision, clock.elapsed(), lr)
            log(f"{run.recipe.model_id}: step {run.steps}, val PSNR {psnr:.4f}")

    validate_all()
    while not clock.done():
        for run in runs:
            lr = learning_rate(run.recipe.lr, clock.progress())
            timer.time(run, lambda run=run, lr=lr: run.step(pack, generator, lr, precision))
        clock.rounds += 1
        if clock.validation_due() and not clock.done():
            validate_all()
    validate_all()
    return clock.elapsed()


def write_outputs(runs: list[Run], out: Path, every: bool) -> dict:
    """Float16 weights of each run whose best beat its start (of every run with ``every``)."""
    records = {}
    for run in runs:
        improved = run.best["step"] > 0  # a later validation beat the start (the best is kept on >)
        name = f"{run.recipe.model_id}.safetensors" if improved or every else None
        if name:
            meta = {
                "start_sha256": run.start_sha256,
                "best_step": run.best["step"],
                "val_psnr": f"{run.best['val_psnr']:.4f}",
            }
            storage.save_state(run.best_state, out / name, storage.FLOAT16, metadata=meta)
            if (out / name).stat().st_size > MAX_FILE_BYTES:
                raise SystemExit(f"{name}: over {MAX_FILE_BYTES >> 20} MiB")
        records[run.recipe.model_id] = {**run.record(name), "improved": improved}
    return records


def device_description(device: torch.device) -> dict:
    if device.type == "cuda":
        return {
            "device": torch.cuda.get_device_name(device),
            "cuda": torch.version.cuda,
            "peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2),
        }
    return {"device": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}


def sprint(
    out: Path,
    pack_dir: Path,
    recipes: list[str],
    budget_s: float,
    device: str,
    smoke: bool = False,
    seed: int = 0,
    lr_scale: float = 1.0,
    log=print,
) -> dict:
    """Run the sprint; returns what ``out/sprint.json`` holds."""
    begun = time.time()
    torch.manual_seed(seed)
    target = torch.device(device)
    if target.type == "cuda":
        torch.backends.cudnn.benchmark = True
    precision = torch.bfloat16 if target.type == "cuda" else None
    pack = Pack(pack_dir, target)
    chosen = [replace(RECIPES[name], lr=RECIPES[name].lr * lr_scale, **(SMOKE if smoke else {})) for name in recipes]
    runs = [Run(recipe, pack, target) for recipe in chosen]
    log(f"pack {pack_dir}: {pack.meta['train_crops']} crops; {len(runs)} recipes on {target}, budget {budget_s:g} s")
    seconds = train(runs, pack, Clock(budget_s, SMOKE_ROUNDS if smoke else None, begun), precision, seed, log)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "torch": torch.__version__,
        **device_description(target),
        "precision": "bf16" if precision else "float32",
        "budget_s": budget_s,
        "trained_until_s": round(seconds, 1),
        "smoke": smoke,
        "seed": seed,
        "pack": pack.describe(),
        "recipes": write_outputs(runs, out, every=smoke),
    }
    summary["seconds"] = round(time.time() - begun, 1)
    (out / "sprint.json").write_text(json.dumps(summary, indent=1) + "\n")
    for model_id, record in summary["recipes"].items():
        log(
            f"{model_id}: {record['steps']} steps, {record['start_psnr']:.4f} -> {record['best']['val_psnr']:.4f} dB"
            f" (step {record['best']['step']}){', wrote ' + record['file'] if record['file'] else ''}"
        )
    return summary


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for sprint.json and the improved weights")
    parser.add_argument(
        "--pack", type=Path, default=Path("packs"), help="the pack (python -m restoration.training.pack)"
    )
    parser.add_argument(
        "--budget-s", type=float, help="wall-clock seconds for the whole sprint (default 480; smoke 60)"
    )
    parser.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated, of {', '.join(RECIPES)}")
    parser.add_argument("--device", help="cuda or cpu (default: cuda when there is one; smoke: cpu)")
    parser.add_argument("--smoke", action="store_true", help="a few small steps on the CPU, every network written")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr-scale", type=float, default=1.0, help="multiplies every recipe's peak learning rate")
    args = parser.parse_args(argv)
    unknown = [name for name in args.recipes.split(",") if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    device = args.device or ("cpu" if args.smoke or not torch.cuda.is_available() else "cuda")
    budget = args.budget_s if args.budget_s is not None else (60.0 if args.smoke else 480.0)
    sprint(args.out, args.pack, args.recipes.split(","), budget, device, args.smoke, args.seed, args.lr_scale)


if __name__ == "__main__":
    main()
