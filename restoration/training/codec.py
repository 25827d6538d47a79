"""Rate-distortion training of the learned codecs (the factorized ``codecs.learned`` and the
hyperprior ``codecs.hyperprior``), used by notebooks/neural_codec.ipynb and neural_codec_hp.ipynb.

Loss per patch: lambda_k * 255^2 * MSE + bits per pixel (latents and side information), with k (the rate point) drawn per
patch, so one network learns every rate point through its gain vectors. Validation codes
held-out crops through the real range coder: its bpp comes from bytes, not from the estimate.
``RateDistortion`` is this kind's hooks in the one loop (``loop.fit``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from restoration import metrics as metriclib
from restoration.codecs import hyperprior as hp
from restoration.codecs import learned as nc
from restoration.core import manifest as manifestlib
from restoration.core.manifest import sha256_of
from restoration.models import accel, nets
from restoration.training import loop
from restoration.training.data import DATA_ROOT, PatchStream

# CompressAI's lambdas for bmshj2018 qualities 2..6 (about 0.2-1 bpp when fully trained).
LAMBDAS = (0.0035, 0.0067, 0.0130, 0.0250, 0.0483)
# The network class and its coder per architecture.
ARCHITECTURES = {"factorized": (nc.NeuralCodecNet, nc.CodecModel), "hyperprior": (hp.HyperpriorNet, hp.HyperpriorCodec)}


@dataclass
class CodecRecipe:
    model_id: str = nc.MODEL_ID
    architecture: str = "factorized"  # a key of ARCHITECTURES
    channels: int = 64
    hyper: int = 0  # side-information channels (hyperprior only)
    context: bool = False  # the checkerboard context over the anchors (hyperprior only)
    latent: int = 128
    stages: int = 4  # stride-2 layers: latents at 1 / 2**stages of the image size
    latent_scale: float = 1.0
    lambdas: tuple = LAMBDAS
    steps: int = 8000
    batch: int = 16
    patch: int = 96
    lr: float = 1e-3
    lr_min: float = 2e-5
    clip_norm: float = 1.0
    validate_every: int = 500
    seed: int = 0
    workers: int = 1
    threads: int = 1
    time_limit_s: float | None = None
    stop_after: int | None = None  # end here, the schedule staying that of ``steps`` (a stage cut short)
    data: tuple = ("train/BSD400", "train/T91")
    val_images: int = 8  # the last BSD400 files, centre 192x192 crops (training.validation_set)
    smoke: bool = False
    sampler = "clean"  # not a field: training's validation set takes clean crops for the codec
    init_weights: str | None = None  # continue from this checkpoint (same config)

    def scaled_for_smoke(self) -> "CodecRecipe":
        return CodecRecipe(
            **{
                **asdict(self),
                "channels": 16,
                "latent": 16,
                "hyper": min(self.hyper, 16),
                "steps": 4,
                "batch": 2,
                "patch": 64,
                "validate_every": 2,
                "val_images": 2,
                "workers": 0,
                "smoke": True,
                "init_weights": None,
            }
        )

    @property
    def config(self) -> dict:
        """The network's constructor arguments."""
        shape = {
            "stages": self.stages,
            **({"hyper": self.hyper, "context": self.context} if self.architecture == "hyperprior" else {}),
        }
        return {
            "channels": self.channels,
            "latent": self.latent,
            "rate_points": len(self.lambdas),
            "latent_scale": self.latent_scale,
            **shape,
        }

    def network(self) -> torch.nn.Module:
        return ARCHITECTURES[self.architecture][0](**self.config)

    def coder(self, net: torch.nn.Module):
        return ARCHITECTURES[self.architecture][1](net)


def rd_loss(net, batch, lambdas: torch.Tensor, rate_index: torch.Tensor):
    """(loss, bpp estimate, mse) of one batch; each patch at its own rate point."""
    reconstruction, likelihoods = net(batch, rate_index)
    likelihoods = (likelihoods,) if torch.is_tensor(likelihoods) else likelihoods
    pixels = batch.shape[2] * batch.shape[3]
    bpp = sum(-torch.log2(part).sum(dim=(1, 2, 3)) for part in likelihoods) / pixels
    mse = ((reconstruction.float() - batch) ** 2).mean(dim=(1, 2, 3))
    return (lambdas[rate_index] * 255**2 * mse + bpp).mean(), bpp.mean(), mse.mean()


def evaluate(model, images: list[np.ndarray]) -> list[dict]:
    """Real bytes: mean bpp and PSNR per rate point over ``images``."""
    rows = []
    for point in range(1, model.rate_points + 1):
        bpps, psnrs = [], []
        for image in images:
            data = model.compress(image, point)
            decoded = model.decompress(data)
            bpps.append(8 * len(data) / (image.shape[0] * image.shape[1]))
            psnrs.append(metriclib.psnr(metriclib.Sample(image, decoded)))
        rows.append(
            {"rate_point": point, "bpp": round(float(np.mean(bpps)), 4), "psnr": round(float(np.mean(psnrs)), 3)}
        )
    return rows


def _score(rows: list[dict], lambdas) -> float:
    """The validation objective: lambda * 255^2 * MSE + bpp, from real bytes, averaged over points."""
    return float(np.mean([lam * 255**2 * 10 ** (-row["psnr"] / 10) + row["bpp"] for lam, row in zip(lambdas, rows)]))


class RateDistortion(loop.Plain):
    """The rate-distortion kind's hooks: clean patches, each at a random rate point; a clipped
    gradient; validation through the real range coder, the lowest objective kept; no early stop."""

    patience = None
    ema_decay = 0.0

    @property
    def end_step(self) -> int:
        """``stop_after`` ends a stage early, its schedule staying that of ``steps``."""
        return min(self.recipe.steps, self.recipe.stop_after or self.recipe.steps)

    def stream(self, images: list[np.ndarray]) -> PatchStream:
        r = self.recipe
        return PatchStream(images, r.patch, "clean", r.steps * r.batch, r.seed)

    def network(self) -> torch.nn.Module:
        return self.recipe.network()

    def build(self, model: torch.nn.Module, kept: torch.nn.Module, run_dir: Path) -> None:
        super().build(model, kept, run_dir)
        self.lambdas = torch.tensor(self.recipe.lambdas)
        self.generator = torch.Generator().manual_seed(self.recipe.seed)

    def begin(self, val_pairs) -> tuple[dict, list[dict]]:
        self.val_images = [clean for _, clean in val_pairs]
        self.log(f"{self.recipe.model_id}: {nets.parameter_count(self.model)} params")
        return {"step": 0, "score": float("inf")}, []

    def step(self, batch, step: int) -> dict:
        _, clean = batch
        rate_index = torch.randint(len(self.recipe.lambdas), (clean.shape[0],), generator=self.generator)
        with accel.autocast("cpu"):
            loss, bpp, _ = rd_loss(
                self.model, clean.contiguous(memory_format=torch.channels_last), self.lambdas, rate_index
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.clip_norm)
        self.optimizer.step()
        self.schedule.step()
        return {"loss": loss.item(), "bpp_estimate": bpp.item()}

    def validate(self) -> loop.Scores:
        rows = evaluate(self.recipe.coder(_copy(self.kept, self.recipe)), self.val_images)
        score = _score(rows, self.recipe.lambdas)
        return loop.Scores({"val_score": round(score, 4), "val": rows}, {"score": score, "val": rows}, score)

    def better(self, score: float, best: dict) -> bool:
        return score < best["score"]

    def save(self, step: int, improved: bool) -> None:
        if improved:
            loop.save_weights(self.kept, self.run_dir / "best.safetensors")
        loop.save_weights(self.kept, self.run_dir / "last.safetensors")  # a stopped run continues from here

    def finish(self, best: dict, history: list[dict]) -> dict:
        return best

    def summary(self) -> dict:
        return {}


def train_codec(recipe: CodecRecipe, run_dir: Path, data_root: Path = DATA_ROOT, log=print) -> dict:
    return loop.fit(RateDistortion(recipe, log), run_dir, data_root)


def _copy(net: torch.nn.Module, recipe: CodecRecipe) -> torch.nn.Module:
    """A copy with the weights rounded as they ship (float16), for real coding: validation scores
    what is exported and never changes the training network's mode."""
    copy = recipe.network()
    copy.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
    return copy


def export(summary: dict, run_dir: Path, weights_dir: Path) -> dict:
    """Copy the best checkpoint into ``weights_dir`` and record it in the manifest's "codecs"."""
    recipe = summary["recipe"]
    target = weights_dir / f"{recipe['model_id']}.safetensors"
    weights_dir.mkdir(parents=True, exist_ok=True)
    target.write_bytes((run_dir / "best.safetensors").read_bytes())
    entry = {
        "file": target.name,
        "sha256": sha256_of(target),
        "config": CodecRecipe(**{**recipe, "lambdas": tuple(recipe["lambdas"]), "data": tuple(recipe["data"])}).config,
        "params": summary["params"],
        "lambdas": list(recipe["lambdas"]),
        "data": list(recipe["data"]),
        "steps_run": summary["steps_run"],
        "best_step": summary["best"]["step"],
        "train_seconds": summary["train_seconds"],
        "val": summary["best"]["val"],
        "recipe": recipe,
        "previous_stages": summary.get("previous_stages", []),
    }
    manifestlib.record(weights_dir / "manifest.json", "codecs", recipe["model_id"], entry)
    return entry


def extend_gains(gains: torch.Tensor, below: int = 0, above: int = 0) -> torch.Tensor:
    """Gain vectors (rate points x channels) with ``below`` / ``above`` more rows, each continuing
    the geometric step between the two nearest trained rows (g0 * (g0 / g1) ** k below)."""
    low, high = gains[0] / gains[1], gains[-1] / gains[-2]
    return torch.cat(
        [gains[:1] * low**k for k in range(below, 0, -1)]
        + [gains]
        + [gains[-1:] * high**k for k in range(1, above + 1)]
    )


def extrapolate_rates(weights_dir: Path, model_id: str, below: int = 0, above: int = 0) -> dict:
    """Add ``below`` rate points under the lowest trained one and ``above`` over the highest to a
    shipped gain-vector codec: each gain (and inverse gain) continues the geometric step between the
    two nearest trained points (Cui et al.'s gain units are interpolated between trained points;
    this extrapolates). The points are measured like the others but were not trained; the manifest
    says so."""
    entry = manifestlib.section("codecs", weights_dir / "manifest.json")[model_id]
    path = weights_dir / entry["file"]
    state = {k: v.float() for k, v in load_file(path).items()}
    for name in ("gain", "inverse_gain"):
        state[name] = extend_gains(state[name], below=below, above=above)
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(path))
    config = {**entry["config"], "rate_points": entry["config"]["rate_points"] + below + above}
    val = [{**row, "rate_point": row["rate_point"] + below} for row in entry.get("val", [])]  # the trained ones
    entry = {
        **entry,
        "config": config,
        "sha256": sha256_of(path),
        "val": val,
        "extrapolated_rate_points": {"below": below, "above": above},
    }
    manifestlib.record(weights_dir / "manifest.json", "codecs", model_id, entry)
    return entry
