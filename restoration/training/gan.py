"""Adversarial training of the SR-GAN generator, used by notebooks/srgan.ipynb.

Stage 1, pixel-loss pre-training, is the residual sub-pixel CNN's recipe (subpixel_sr.ipynb):
the generator starts from its weights (``init_weights``), its new blocks at zero. This module
is stage 2: generator loss ``alpha * L1 + beta * content + gamma * adversarial``, the
discriminator trained with the matching adversarial loss, both with Adam. ``Adversarial`` is
this kind's hooks in the one loop (``loop.fit``: data, validation pairs, schedule, weight files);
the export is ``restoration.training``'s.

A GAN trades PSNR for texture, so nothing here selects or stops on PSNR: the last generator is
exported, and the validation PSNR/SSIM of every validation is kept in the history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import load_file

from restoration.models import accel, gan, nets, restorers
from restoration.training import loop
from restoration.training.data import DATA_ROOT

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
GENERATOR = "generator.safetensors"  # the generator as validated and exported


@dataclass
class GanRecipe(loop.Recipe):
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
        # The generator's cosine runs over its own steps (after the warm-up); the discriminator's over
        # every step, from its own peak rate down to the same floor.
        self.schedule_g = loop.cosine_schedule(self.opt_g, recipe, steps=max(1, recipe.steps - recipe.d_warmup))
        self.schedule_d = loop.cosine_schedule(self.opt_d, recipe, lr=recipe.d_lr)

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


# -- the hooks ------------------------------------------------------------------------------------
class Adversarial(loop.Plain):
    """The adversarial kind's hooks: the generator and its discriminator (``GanTrainer``), the
    discriminator alone for ``d_warmup`` steps; each validation scores the generator as stored and
    keeps it, the discriminator and a copy ``g_step{N}``. Nothing selects or stops on PSNR: the
    last generator is what ships."""

    patience = None

    def build(self, model: torch.nn.Module, kept: torch.nn.Module, run_dir: Path) -> None:
        self.model, self.kept, self.run_dir = model, kept, run_dir
        discriminator = gan.PatchDiscriminator(
            **self.recipe.d_config
        )  # before VGG19's construction draws random numbers
        content, content_name = content_loss(self.recipe.content, self.recipe.content_layer, self.log)
        self.recipe = replace(self.recipe, content=content_name)
        self.trainer = GanTrainer(model, discriminator, content, self.recipe)

    def begin(self, val_pairs) -> tuple[dict, list[dict]]:
        self.val_pairs = val_pairs
        self.baseline = loop.input_psnr(val_pairs)
        scores = self._validate_shipped()
        self.start = {"step": 0, "val_psnr": scores["psnr"], "val_ssim": scores["ssim"]}
        self.log(
            f"{self.recipe.model_id}: G {nets.parameter_count(self.model)} params, D "
            f"{nets.parameter_count(self.trainer.discriminator)}, content {self.recipe.content}; input val PSNR "
            f"{self.baseline:.3f}, start {json.dumps(self.start)}"
        )
        return dict(self.start), [self.start]

    def step(self, batch, step: int) -> dict:
        degraded, clean = batch
        return self.trainer.step(degraded, clean, train_generator=step > self.recipe.d_warmup)

    def lr(self) -> float:
        return self.trainer.schedule_g.get_last_lr()[0]

    def validate(self) -> loop.Scores:
        scores = self._validate_shipped()
        fields = {"val_psnr": scores["psnr"], "val_ssim": scores["ssim"]}
        return loop.Scores(fields, fields, scores["psnr"])

    def better(self, score: float, best: dict) -> bool:
        return True  # the last generator is the one exported

    def save(self, step: int, improved: bool) -> None:
        loop.save_weights(self.trainer.discriminator, self.run_dir / "discriminator.safetensors")
        if self.recipe.keep_every_validation:
            (self.run_dir / f"g_step{step}.safetensors").write_bytes((self.run_dir / GENERATOR).read_bytes())

    def finish(self, best: dict, history: list[dict]) -> dict:
        return best

    def summary(self) -> dict:
        return {
            "selection": "last",  # "best" is what export() ships: the last generator
            "start": self.start,
            "val_input_psnr": self.baseline,
            "checkpoint": GENERATOR,
        }

    def _validate_shipped(self) -> dict:
        """Save the generator (float16) and score that file's weights: validation measures what ships."""
        path = self.run_dir / GENERATOR
        loop.save_weights(self.kept, path)
        copy = loop.build_model(self.recipe.architecture, self.recipe.arch_config)
        copy.load_state_dict(load_file(path))  # float16 -> float32
        return loop.validate_scores(copy.to(memory_format=torch.channels_last), self.val_pairs, ssim=True)


def train_gan(recipe: GanRecipe, run_dir: Path, data_root: Path = DATA_ROOT, log=print) -> dict:
    """Adversarial fine-tuning. Writes ``generator.safetensors`` (the last generator: what is
    exported), ``discriminator.safetensors`` and, at each validation, ``g_step{N}.safetensors``
    and a history entry with validation PSNR/SSIM of the generator as stored (float16)."""
    return loop.fit(Adversarial(recipe, log), run_dir, data_root)
