"""SR-GAN networks and losses: a generator built on the residual sub-pixel CNN, a patch
discriminator, the adversarial losses and the frozen-feature content loss.

The generator keeps ``nets.SubPixelSR``'s layout and parameter names (head, body of residual
blocks, upsample, tail, bicubic global residual) and adds channel attention (squeeze-excitation)
to every residual block and one windowed transformer block at the end of the body. Every added
block's output projection starts at zero, so loaded with ``subpixel-sr-x4``'s weights the
generator computes exactly what that network does: the pixel-loss pre-training stage is the
sub-pixel CNN's own recipe. The training loop is in ``restoration.training.gan`` (it builds on
``restoration.training``, which imports ``nets``, which registers this module's generator).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restoration.models import nets


class SqueezeExcite(nn.Module):
    """Channel attention: a per-channel gain from globally pooled features. The gain is
    ``2 * sigmoid(z)`` with the last layer zero-initialised, so it starts at exactly 1."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(4, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
        )
        nn.init.zeros_(self.gate[-1].weight)
        nn.init.zeros_(self.gate[-1].bias)

    def forward(self, x):
        return x * (2 * torch.sigmoid(self.gate(x)))


class AttentionResBlock(nets.ResBlock):
    """``nets.ResBlock`` (same parameter names) with channel attention on the residual branch."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__(channels)
        self.attention = SqueezeExcite(channels, reduction)

    def forward(self, x):
        return x + self.attention(self.body(x))


class WindowTransformer(nn.Module):
    """One pre-norm transformer block over non-overlapping windows of the feature grid (Swin-style
    window attention with a learned relative position bias, then an MLP). Any height and width:
    the grid is zero-padded to whole windows and padded positions are masked out as keys, so the
    result does not depend on the padding. Both residual branches end in zero-initialised layers."""

    def __init__(self, channels: int, window: int = 8, heads: int = 4, mlp_ratio: int = 2):
        super().__init__()
        if channels % heads:
            raise ValueError(f"{channels} channels do not split into {heads} heads")
        self.window, self.heads = window, heads
        self.norm1 = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.position_bias = nn.Parameter(torch.zeros(heads, (2 * window - 1) ** 2))
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        offset = (coords[:, :, None] - coords[:, None, :]) + (window - 1)  # 2 x T x T, each in [0, 2w-2]
        self.register_buffer("position_index", offset[0] * (2 * window - 1) + offset[1], persistent=False)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, mlp_ratio * channels), nn.GELU(), nn.Linear(mlp_ratio * channels, channels)
        )
        for layer in (self.proj, self.mlp[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        n, c, h, w = x.shape
        ws = self.window
        ph, pw = (-h) % ws, (-w) % ws
        grid = F.pad(x, (0, pw, 0, ph)).permute(0, 2, 3, 1)  # N, H', W', C
        rows, cols = grid.shape[1] // ws, grid.shape[2] // ws
        tokens = grid.reshape(n, rows, ws, cols, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(n, rows * cols, ws * ws, c)

        qkv = self.qkv(self.norm1(tokens)).reshape(n, rows * cols, ws * ws, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5)  # each N, windows, heads, T, d
        bias = self.position_bias[:, self.position_index]  # heads, T, T
        if ph or pw:
            valid = torch.zeros(rows * ws, cols * ws, dtype=torch.bool, device=x.device)
            valid[:h, :w] = True
            valid = valid.reshape(rows, ws, cols, ws).permute(0, 2, 1, 3).reshape(rows * cols, 1, 1, ws * ws)
            bias = bias.masked_fill(~valid, float("-inf"))  # windows, heads, T, T
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        tokens = tokens + self.proj(attended.transpose(2, 3).reshape(n, rows * cols, ws * ws, c))
        tokens = tokens + self.mlp(self.norm2(tokens))

        grid = tokens.reshape(n, rows, cols, ws, ws, c).permute(0, 5, 1, 3, 2, 4).reshape(n, c, rows * ws, cols * ws)
        return grid[:, :, :h, :w].contiguous(memory_format=torch.channels_last)


class SRGANGenerator(nets.SubPixelSR):
    """The SR-GAN generator: ``SubPixelSR`` with channel attention in every residual block and a
    windowed transformer block between the last residual block and the body's closing conv.

    Same parameter names as ``SubPixelSR`` for everything the two share, so ``subpixel-sr-x4``'s
    weights load into it (``training.load_matching``) and, the new blocks being zero-initialised,
    it then computes exactly the same function."""

    def __init__(
        self,
        scale: int = 4,
        width: int = 64,
        blocks: int = 16,
        reduction: int = 16,
        window: int = 8,
        heads: int = 4,
        mlp_ratio: int = 2,
    ):
        super().__init__(scale, width, blocks)
        self.config = {
            "scale": scale,
            "width": width,
            "blocks": blocks,
            "reduction": reduction,
            "window": window,
            "heads": heads,
            "mlp_ratio": mlp_ratio,
        }
        self.body = nn.Sequential(
            *[AttentionResBlock(width, reduction) for _ in range(blocks)], nn.Conv2d(width, width, 3, padding=1)
        )
        self.transformer = WindowTransformer(width, window, heads, mlp_ratio)

    def forward(self, x):
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        feature = self.head(x)
        deep = feature
        for block in self.body[:-1]:
            deep = block(deep)
        deep = self.body[-1](self.transformer(deep))
        return base + self.tail(self.upsample(feature + deep))


class PatchDiscriminator(nn.Module):
    """Convolutional discriminator with a patch output: one logit per ~70x70 receptive field
    (PatchGAN-like). Strided 4x4 convolutions halve the resolution ``stages`` times; LeakyReLU;
    spectral norm on every convolution (no batch norm)."""

    def __init__(self, width: int = 32, stages: int = 3):
        super().__init__()
        self.config = {"width": width, "stages": stages}
        sn = nn.utils.parametrizations.spectral_norm
        layers = [sn(nn.Conv2d(3, width, 3, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
        channels = width
        for _ in range(stages):
            layers += [sn(nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
            channels *= 2
        layers += [
            sn(nn.Conv2d(channels, channels, 3, padding=1)),
            nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(channels, 1, 3, padding=1)),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x * 2 - 1)  # N, 1, H / 2**stages, W / 2**stages


# -- losses --------------------------------------------------------------------------------------
def adversarial_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor, generator: bool) -> torch.Tensor:
    """``relativistic``: relativistic average GAN (ESRGAN): D says how much more real the real patch
    is than the average fake one, and the generator the reverse. ``bce``: the non-saturating GAN."""
    bce = F.binary_cross_entropy_with_logits
    if kind == "relativistic":
        real_vs_fake = real_logits - fake_logits.mean()
        fake_vs_real = fake_logits - real_logits.mean()
        real_label, fake_label = (0.0, 1.0) if generator else (1.0, 0.0)
        return (
            bce(real_vs_fake, torch.full_like(real_vs_fake, real_label))
            + bce(fake_vs_real, torch.full_like(fake_vs_real, fake_label))
        ) / 2
    if kind == "bce":
        if generator:
            return bce(fake_logits, torch.ones_like(fake_logits))
        return (bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))) / 2
    raise ValueError(f"unknown adversarial loss {kind!r}: relativistic or bce")


class FeatureLoss(nn.Module):
    """Content loss: relative L1 distance of a frozen network's features,
    ``mean|f(output) - f(target)| / mean|f(target)|``, so its weight means the same whichever
    network supplies the features. ``mean``/``std`` normalise the input as that network expects."""

    def __init__(self, features: nn.Module, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)):
        super().__init__()
        self.features = features.eval().requires_grad_(False).to(memory_format=torch.channels_last)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: batch-norm statistics stay those it was trained with

    def forward(self, output, target):
        with torch.no_grad():
            wanted = self.features((target - self.mean) / self.std).float()
        got = self.features((output - self.mean) / self.std).float()
        return (got - wanted).abs().mean() / wanted.abs().mean().clamp_min(1e-6)


def dncnn_features(model: nets.DnCNN, layer: int) -> nn.Module:
    """DnCNN up to its ``layer``-th convolution, before the activation (after its batch norm),
    as ESRGAN takes VGG features before the ReLU: the rectified ones are sparse."""
    depth = model.config["depth"]
    if not 2 <= layer <= depth - 1:
        raise ValueError(f"layer must be in 2..{depth - 1} (a hidden conv with batch norm), got {layer}")
    return model.body[: 4 + 3 * (layer - 2)]
