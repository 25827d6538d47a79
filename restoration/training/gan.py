"""Adversarial training of the SR-GAN generator (issue 4), used by notebooks/srgan.ipynb.

Stage 1, pixel-loss pre-training, is the residual sub-pixel CNN's recipe (subpixel_sr.ipynb):
the generator starts from its weights (``init_weights``), its new blocks at zero. This module
is stage 2: generator loss ``alpha * L1 + beta * content + gamma * adversarial``, the
discriminator trained with the matching adversarial loss, both with Adam. Data, validation
pairs, weight files and the export are ``restoration.training``'s.

A GAN trades PSNR for texture, so nothing here selects or stops on PSNR: the last generator is
exported, and the validation PSNR/SSIM of every validation is kept in the history.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from restoration import metrics as metriclib
from restoration import training
from restoration.models import accel, gan, nets

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class GanRecipe(training.Recipe):
    """``training.Recipe`` (data, patches, schedule, threads, time limit) plus the GAN's terms.
    ``lr``/``lr_min`` are the generator's (cosine); ``ssim_weight``, ``pixel_loss`` and
    ``patience`` are unused (the pixel term is L1; a GAN is not early-stopped)."""

    alpha: float = 1e-2  # pixel (L1) weight
    beta: float = 1.0  # content (feature) weight
    gamma: float = 5e-3  # adversarial weight
    adversarial: str = "relativistic"  # or "bce" (non-saturating)
    # "auto": VGG19 conv5_4 (before ReLU) when torchvision can load its pretrained weights, else
    # the substitute, our frozen DnCNN's features; "vgg19" or "dncnn" force one. train_gan
    # records the one used, e.g. "dncnn-blind:conv4".
    content: str = "auto"
    content_layer: int = 4  # DnCNN: features after this conv's batch norm (receptive field 2n+1)
    d_config: dict = field(default_factory=lambda: {"width": 32, "stages": 3})
    d_lr: float = 1e-4
    betas: tuple = (0.9, 0.99)
    d_warmup: int = 100  # discriminator-only steps first, so the generator's first adversarial signal is not noise
    keep_every_validation: bool = True  # also save g_step{N}.safetensors at each validation

    def scaled_for_smoke(self) -> "GanRecipe":
        # CI must not download VGG19 (548 MB) where it has a network: SMOKE uses the substitute.
        return replace(
            super().scaled_for_smoke(), d_warmup=1, content="dncnn" if self.content == "auto" else self.content
        )


# -- content network -----------------------------------------------------------------------------
def content_loss(kind: str, layer: int = 4, log=print) -> tuple[gan.FeatureLoss | None, str]:
    """(the content loss, what it is). VGG19 needs torchvision's pretrained download; offline
    that fails with an OSError (URLError) and, under ``auto``, the substitute is used."""
    if kind in ("auto", "vgg19"):
        import torchvision

        try:
            vgg = torchvision.models.vgg19(weights="DEFAULT")
        except (OSError, RuntimeError) as error:  # no network / no cached or a corrupt checkpoint
            if kind == "vgg19":
                raise
            log(
                f"VGG19 pretrained weights cannot be loaded ({error}); content loss: "
                f"features of our DnCNN (dncnn-blind, conv{layer})"
            )
        else:
            return gan.FeatureLoss(vgg.features[:35], IMAGENET_MEAN, IMAGENET_STD), "vgg19:conv5_4"
    if kind in ("auto", "dncnn"):
        from restoration.models import restorers

        dncnn = restorers.load_own("dncnn-blind").module  # sha256-checked against the manifest
        return gan.FeatureLoss(gan.dncnn_features(dncnn, layer)), f"dncnn-blind:conv{layer}"
    if kind == "none":
        return None, "none"
    raise ValueError(f"unknown content loss {kind!r}: auto, vgg19, dncnn or none")


# -- one step --------------------------------------------------------------------------------------
class GanTrainer:
    """The two optimisers and one training step; the loop below adds data, validation and files."""

    def __init__(self, generator, discriminator, content: gan.FeatureLoss | None, recipe: GanRecipe):
        self.generator = generator.to(memory_format=torch.channels_last)
        self.discriminator = discriminator.to(memory_format=torch.channels_last)
        self.content, self.recipe = content, recipe
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=recipe.lr, betas=recipe.betas)
        self.opt_d = torch.optim.Adam(discriminator.parameters(), lr=recipe.d_lr, betas=recipe.betas)
        g_steps = max(1, recipe.steps - recipe.d_warmup)
        self.schedule_g = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt_g, g_steps, eta_min=recipe.lr_min)
        self.schedule_d = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt_d, recipe.steps, eta_min=recipe.lr_min)

    def step(self, lr: torch.Tensor, hr: torch.Tensor, train_generator: bool = True) -> dict:
        """One generator step (unless ``train_generator`` is false: the warm-up), then one
        discriminator step on the same batch; returns the losses."""
        r, G, D = self.recipe, self.generator, self.discriminator
        lr = lr.contiguous(memory_format=torch.channels_last)
        hr = hr.contiguous(memory_format=torch.channels_last)
        autocast = accel.autocast("cpu")
        losses = {}
        if train_generator:
            D.requires_grad_(False)
            with autocast:
                fake = G(lr)
                fake_logits = D(fake).float()
                with torch.no_grad():
                    real_logits = D(hr).float()
                content = self.content(fake, hr) if self.content is not None and r.beta else torch.zeros(())
            pixel = F.l1_loss(fake.float(), hr)
            adversarial = gan.adversarial_loss(r.adversarial, real_logits, fake_logits, generator=True)
            g_loss = r.alpha * pixel + r.beta * content + r.gamma * adversarial
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
            self.schedule_g.step()
            D.requires_grad_(True)
            losses.update(g=g_loss.item(), pixel=pixel.item(), content=content.item(), g_adv=adversarial.item())
            fake = fake.detach()
        else:
            with torch.no_grad(), autocast:
                fake = G(lr)
        with autocast:
            real_logits, fake_logits = D(hr).float(), D(fake).float()
        d_loss = gan.adversarial_loss(r.adversarial, real_logits, fake_logits, generator=False)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        self.schedule_d.step()
        # D's margin: mean logit on real minus on fake patches (0 = it cannot tell them apart).
        losses.update(d=d_loss.item(), d_margin=(real_logits.mean() - fake_logits.mean()).item())
        return losses


# -- the loop ------------------------------------------------------------------------------------
def train_gan(recipe: GanRecipe, run_dir: Path, data_root: Path = training.DATA_ROOT, log=print) -> dict:
    """Adversarial fine-tuning. Writes ``generator.safetensors`` (the last generator: what is
    exported), ``discriminator.safetensors`` and, at each validation, ``g_step{N}.safetensors``
    and a history entry with validation PSNR/SSIM of the generator as stored (float16)."""
    torch.manual_seed(recipe.seed)
    torch.set_num_threads(recipe.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    val_pairs, held_out = training.validation_set(recipe, data_root)
    images = training.training_images(recipe.data, data_root, limit=8 if recipe.smoke else None, exclude=held_out)
    stream = training.PatchStream(
        images, recipe.patch, recipe.sampler, recipe.steps * recipe.batch, recipe.seed, recipe.curriculum_from
    )
    loader = torch.utils.data.DataLoader(
        stream, batch_size=recipe.batch, num_workers=recipe.workers, persistent_workers=recipe.workers > 0
    )
    generator = training.build_model(recipe.architecture, recipe.arch_config)
    if recipe.init_weights:
        training.load_matching(generator, recipe.init_weights, log)
    discriminator = gan.PatchDiscriminator(**recipe.d_config)  # before VGG19's construction draws random numbers
    content, content_name = content_loss(recipe.content, recipe.content_layer, log)
    recipe = replace(recipe, content=content_name)
    trainer = GanTrainer(generator, discriminator, content, recipe)
    baseline = float(
        np.mean([metriclib.psnr(metriclib.Sample(c, training.naive_baseline(d, c))) for d, c in val_pairs])
    )
    start_scores = _validate_shipped(generator, recipe, val_pairs, run_dir / "generator.safetensors")
    history = [{"step": 0, "val_psnr": start_scores["psnr"], "val_ssim": start_scores["ssim"]}]
    log(
        f"{recipe.model_id}: G {nets.parameter_count(generator)} params, D "
        f"{nets.parameter_count(trainer.discriminator)}, content {content_name}; input val PSNR {baseline:.3f}, "
        f"start {json.dumps(history[0])}"
    )
    step, running, start = 0, [], time.time()
    for degraded, clean in loader:
        step += 1
        running.append(trainer.step(degraded, clean, train_generator=step > recipe.d_warmup))
        out_of_time = recipe.time_limit_s is not None and time.time() - start > recipe.time_limit_s
        if step % recipe.validate_every == 0 or step >= recipe.steps or out_of_time:
            scores = _validate_shipped(generator, recipe, val_pairs, run_dir / "generator.safetensors")
            training.save_weights(trainer.discriminator, run_dir / "discriminator.safetensors")
            if recipe.keep_every_validation:
                (run_dir / f"g_step{step}.safetensors").write_bytes((run_dir / "generator.safetensors").read_bytes())
            means = {
                k: round(float(np.mean([r[k] for r in running if k in r])), 5)
                for k in running[-1]
                if any(k in r for r in running)
            }
            entry = {
                "step": step,
                **means,
                "val_psnr": scores["psnr"],
                "val_ssim": scores["ssim"],
                "lr": trainer.schedule_g.get_last_lr()[0],
                "elapsed_s": round(time.time() - start, 1),
            }
            history.append(entry)
            log(json.dumps(entry))
            running = []
        if step >= recipe.steps or out_of_time:
            break
    last = history[-1]
    summary = {
        "recipe": asdict(recipe),
        "params": nets.parameter_count(generator),
        "steps_run": step,
        # "best" is what export() ships: the last generator (a GAN is not selected on PSNR).
        "best": {"step": last["step"], "val_psnr": last["val_psnr"], "val_ssim": last["val_ssim"]},
        "selection": "last",
        "start": history[0],
        "val_input_psnr": baseline,
        "history": history,
        "train_seconds": round(time.time() - start, 1),
        "checkpoint": "generator.safetensors",
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _validate_shipped(generator, recipe: GanRecipe, pairs, path: Path) -> dict:
    """Save the generator (float16) and score that file's weights: validation measures what ships."""
    training.save_weights(generator, path)
    copy = training.build_model(recipe.architecture, recipe.arch_config)
    copy.load_state_dict(load_file(path))  # float16 -> float32
    return training.validate_scores(copy.to(memory_format=torch.channels_last), pairs, ssim=True)
