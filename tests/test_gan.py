"""SR-GAN: the generator starts as the sub-pixel CNN it is initialised from, the
discriminator's patch map, one adversarial training step, and the registry entry."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from restoration import training
from restoration.models import gan, nets, restorers
from restoration.pipelines import sr
from restoration.training import gan as gan_training

TINY = {"scale": 4, "width": 16, "blocks": 2, "reduction": 4, "window": 4, "heads": 2, "mlp_ratio": 2}


def _subpixel_weights(tmp_path) -> str:
    torch.manual_seed(0)
    source = nets.SubPixelSR(4, width=16, blocks=2)
    torch.nn.init.normal_(source.tail.weight, std=0.05)  # its zero init would hide the body
    path = tmp_path / "subpixel.safetensors"
    training.save_weights(source, path)
    return str(path)


def test_generator_starts_equal_to_the_subpixel_cnn(tmp_path):
    path = _subpixel_weights(tmp_path)
    reference = nets.SubPixelSR(4, width=16, blocks=2)
    reference.load_state_dict(load_file(path))
    generator = training.build_model("srgan", TINY)
    skipped = []
    training.load_matching(generator, path, log=skipped.append)
    new = [k for k in generator.state_dict() if k not in reference.state_dict()]
    assert new and all(".attention." in k or k.startswith("transformer.") for k in new)
    assert all(k in skipped[0] for k in new)  # what was not loaded is said, and it is only the new blocks
    x = torch.rand(2, 3, 11, 13)  # not a multiple of the window: exercises the padded, masked windows
    with torch.no_grad():
        torch.testing.assert_close(generator.eval()(x), reference.eval()(x), atol=1e-5, rtol=0)


def test_window_attention_ignores_padding():
    torch.manual_seed(0)
    block = gan.WindowTransformer(8, window=4, heads=2)
    for parameter in block.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    x = torch.randn(1, 8, 6, 9)
    with torch.no_grad():
        whole = block(x)
        # the window at rows 4..7 holds rows 4-5 only; alone, it is padded the same way
        torch.testing.assert_close(whole[:, :, 4:6, 0:4], block(x[:, :, 4:6, 0:4]))
        torch.testing.assert_close(whole[:, :, 0:4, 8:9], block(x[:, :, 0:4, 8:9]))


def test_discriminator_outputs_a_patch_map():
    discriminator = gan.PatchDiscriminator(width=8, stages=3)
    assert discriminator(torch.rand(2, 3, 64, 48)).shape == (2, 1, 8, 6)
    assert all(hasattr(m, "parametrizations") for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d))


@pytest.mark.parametrize("kind", ["relativistic", "bce"])
def test_adversarial_losses_point_the_right_way(kind):
    real, fake = torch.full((2, 1, 4, 4), 3.0), torch.full((2, 1, 4, 4), -3.0)  # D tells them apart
    d_good = gan.adversarial_loss(kind, real, fake, generator=False)
    d_fooled = gan.adversarial_loss(kind, fake, real, generator=False)
    g_caught = gan.adversarial_loss(kind, real, fake, generator=True)
    assert d_good < 0.1 < d_fooled and g_caught > 1.0


def _trainer(tmp_path, **overrides):
    recipe = gan_training.GanRecipe(
        model_id="tiny-gan",
        architecture="srgan",
        arch_config=TINY,
        sampler="sr_x4",
        steps=10,
        lr=1e-3,
        d_lr=1e-3,
        d_warmup=0,
        d_config={"width": 8, "stages": 2},
        **overrides,
    )
    generator = training.build_model("srgan", TINY)
    training.load_matching(generator, _subpixel_weights(tmp_path), log=lambda _: None)
    torch.manual_seed(1)
    features = gan.dncnn_features(nets.DnCNN(depth=4, width=8), layer=2)
    trainer = gan_training.GanTrainer(
        generator, gan.PatchDiscriminator(**recipe.d_config), gan.FeatureLoss(features), recipe
    )
    hr = torch.rand(2, 3, 32, 32)
    lr = torch.nn.functional.avg_pool2d(hr, 4)
    return trainer, lr, hr


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _changed(before, module):
    return {k for k, v in module.named_parameters() if not torch.equal(before[k], v)}


def test_one_gan_step_updates_generator_and_discriminator(tmp_path):
    trainer, lr, hr = _trainer(tmp_path)
    g0, d0 = _snapshot(trainer.generator), _snapshot(trainer.discriminator)
    losses = trainer.step(lr, hr)
    assert set(losses) == {"g", "pixel", "content", "g_adv", "d", "d_margin"}
    assert all(math.isfinite(v) for v in losses.values()) and losses["content"] > 0
    g_changed = _changed(g0, trainer.generator)
    assert "tail.weight" in g_changed and "head.weight" in g_changed
    assert any(k.startswith("transformer.") or ".attention." in k for k in g_changed)
    assert len(_changed(d0, trainer.discriminator)) >= len(d0) - 1  # all but RaGAN's last bias (it cancels)


def test_warm_up_step_trains_only_the_discriminator(tmp_path):
    trainer, lr, hr = _trainer(tmp_path)
    g0, d0 = _snapshot(trainer.generator), _snapshot(trainer.discriminator)
    losses = trainer.step(lr, hr, train_generator=False)
    assert set(losses) == {"d", "d_margin"} and math.isfinite(losses["d"])
    assert not _changed(g0, trainer.generator) and _changed(d0, trainer.discriminator)


def test_smoke_recipe_keeps_its_type_and_gan_fields():
    recipe = gan_training.GanRecipe(
        model_id="m", architecture="srgan", arch_config=TINY, sampler="sr_x4", d_warmup=100, gamma=0.01
    ).scaled_for_smoke()
    assert recipe.content == "dncnn"  # never a VGG19 download in CI
    assert isinstance(recipe, gan_training.GanRecipe)
    assert recipe.smoke and recipe.steps == 4 and recipe.d_warmup == 1 and recipe.gamma == 0.01


def test_content_substitute_is_our_dncnn():
    if restorers.get("dncnn").status() != "ready":
        pytest.skip("weights/dncnn-blind.safetensors is not present")
    loss, name = gan_training.content_loss("dncnn", layer=3)
    assert name == "dncnn-blind:conv3"
    x = torch.rand(1, 3, 24, 24)
    assert loss(x, x).item() == 0.0 and loss(x.flip(-1), x).item() > 0.1


def test_srgan_is_registered_but_never_the_default():
    spec = restorers.get("srgan-x4")
    assert spec.tasks == ("sr",) and spec.scale == 4 and spec.source == "own" and spec.perceptual
    entry = restorers.own_manifest().get("srgan-x4")
    assert (spec.status() == "ready") == (entry is not None and (restorers.WEIGHTS_DIR / entry["file"]).is_file())
    assert sr.default_model(4) != "srgan-x4"


def test_default_falls_back_past_a_lone_gan(monkeypatch):
    monkeypatch.setattr(
        restorers.RestorerSpec, "status", lambda self: "ready" if self.id in ("srgan-x4", "bicubic-x4") else "not here"
    )
    assert restorers.default_for("sr", scale=4).id == "bicubic-x4"


def test_content_auto_uses_vgg19_when_it_loads_else_the_substitute(monkeypatch):
    import urllib.error

    import torchvision

    if restorers.get("dncnn").status() != "ready":
        pytest.skip("weights/dncnn-blind.safetensors is not present")

    def offline(weights):
        raise urllib.error.URLError("no network")

    messages = []
    monkeypatch.setattr(torchvision.models, "vgg19", offline)
    _, name = gan_training.content_loss("auto", layer=4, log=messages.append)
    assert name == "dncnn-blind:conv4" and "no network" in messages[0]
    with pytest.raises(OSError):
        gan_training.content_loss("vgg19")

    class FakeVGG(torch.nn.Module):  # stands in for the pretrained download
        features = torch.nn.Sequential(*[torch.nn.Identity() for _ in range(37)])

    monkeypatch.setattr(torchvision.models, "vgg19", lambda weights: FakeVGG())
    loss, name = gan_training.content_loss("auto")
    assert name == "vgg19:conv5_4" and len(loss.features) == 35
