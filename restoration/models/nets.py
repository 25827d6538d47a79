"""Our own network architectures (small enough to train and run on two CPU cores).

Every network maps a float image batch in [0, 1] (N, 3, H, W) to (N, 3, sH, sW) (s = 1, or
the super-resolution scale), predicting a residual on top of its input (bicubic-upscaled for
SR); ``size_multiple`` says what H and W must divide by (the restorer pads to it).
"""

from __future__ import annotations

import re

from torch import nn


class ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x):
        return x + self.body(x)


class DeepRecNet(nn.Module):
    """Encoder-decoder with skip connections (the seed paper's DeepRecNet, as a residual U-Net).

    Strided 2x2 convolutions downsample, transposed 2x2 convolutions upsample, encoder features
    are added to the decoder (skip connections), and the output is input + predicted residual.
    Most blocks run at 1/2 to 1/8 resolution, which is what makes it cheap per pixel.
    """

    size_multiple = 8

    def __init__(
        self,
        channels: tuple[int, ...] = (32, 64, 128, 192),
        blocks: tuple[int, ...] = (1, 2, 2, 4),
        conditioned: bool = False,
        codecs: tuple[str, ...] = (),
    ):
        super().__init__()
        self.config = {
            "channels": list(channels),
            "blocks": list(blocks),
            **({"conditioned": True} if conditioned else {}),
            **({"codecs": list(codecs)} if codecs else {}),
        }
        self.head = nn.Conv2d(3, channels[0], 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        for i, (c, n) in enumerate(zip(channels, blocks)):
            self.encoders.append(nn.Sequential(*[ResBlock(c) for _ in range(n)]))
            if i + 1 < len(channels):
                self.downs.append(nn.Conv2d(c, channels[i + 1], 2, stride=2))
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for i in range(len(channels) - 1, 0, -1):
            self.ups.append(nn.ConvTranspose2d(channels[i], channels[i - 1], 2, stride=2))
            self.decoders.append(nn.Sequential(*[ResBlock(channels[i - 1]) for _ in range(max(1, blocks[i - 1]))]))
        self.tail = nn.Conv2d(channels[0], 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # start as the identity: never worse than the input
        nn.init.zeros_(self.tail.bias)
        # conditioned=True: the compression strength modulates the bottleneck and every decoder stage
        # (FiLM: feature * (1 + gamma) + beta), from (strength / 100, known) and, with ``codecs``, the
        # codec one-hot (``models.condition.vector``). Its last layer starts at zero, so a conditioned
        # network grown from a blind one starts as that one.
        self.conditioned, self.codecs = conditioned, tuple(codecs)
        if conditioned:
            self.film_sizes = [channels[-1], *reversed(channels[:-1])]
            self.film = nn.Sequential(
                nn.Linear(2 + len(self.codecs), 64), nn.ReLU(inplace=True), nn.Linear(64, 2 * sum(self.film_sizes))
            )
            nn.init.zeros_(self.film[2].weight)
            nn.init.zeros_(self.film[2].bias)

    def _modulations(self, x, condition):
        if condition is None:
            condition = x.new_zeros(x.shape[0], 2 + len(self.codecs))  # unknown strength: the network runs blind
        params = self.film(condition.to(x.dtype)).split([2 * c for c in self.film_sizes], dim=1)
        return [p[:, :, None, None].chunk(2, dim=1) for p in params]

    def forward(self, x, condition=None):
        films = self._modulations(x, condition) if self.conditioned else None
        feature = self.head(x)
        skips = []
        for i, encoder in enumerate(self.encoders):
            feature = encoder(feature)
            if i < len(self.downs):
                skips.append(feature)
                feature = self.downs[i](feature)
        if films:
            gamma, beta = films[0]
            feature = feature * (1 + gamma) + beta
        for j, (up, decoder) in enumerate(zip(self.ups, self.decoders)):
            feature = decoder(up(feature) + skips.pop())
            if films:
                gamma, beta = films[j + 1]
                feature = feature * (1 + gamma) + beta
        return x + self.tail(feature)


class DnCNN(nn.Module):
    """DnCNN (Zhang et al. 2017): conv-BN-ReLU stack predicting the noise, subtracted from the input."""

    size_multiple = 1

    def __init__(self, depth: int = 12, width: int = 48):
        super().__init__()
        self.config = {"depth": depth, "width": width}
        layers = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, 3, 3, padding=1))
        # He init keeps the signal alive through the plain stack (PyTorch's default shrinks it
        # ~3x per layer: at depth 15 the net sat at "predict nothing" for thousands of steps).
        for layer in layers[:-1]:
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layers[-1].weight)  # predict zero noise at first: start as the identity
        nn.init.zeros_(layers[-1].bias)
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x - self.body(x)


class ChannelAttention(nn.Module):
    def __init__(self, channels: int, reduction: int = 8, open_gate: bool = False):
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )
        if open_gate:  # start near 1 (sigmoid(4) = 0.98): a block grown from a plain ResBlock keeps its output
            nn.init.zeros_(self.gate[3].weight)
            nn.init.constant_(self.gate[3].bias, 4.0)

    def forward(self, x):
        return x * self.gate(x)


class AttentionBlock(nn.Module):
    """Residual block with channel attention (RCAN's RCAB)."""

    def __init__(self, channels: int, reduction: int = 8, open_gate: bool = False):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
            ChannelAttention(channels, reduction, open_gate),
        )

    def forward(self, x):
        return x + self.body(x)


class ResidualAttentionNet(nn.Module):
    """Deep residual network with channel attention for combined noise + blur + compression.

    Works at half resolution (pixel unshuffle in, pixel shuffle out) so its many attention
    blocks stay affordable on a CPU; residual groups with long skips as in RCAN.
    """

    size_multiple = 2

    def __init__(self, width: int = 64, groups: int = 3, blocks: int = 4):
        super().__init__()
        self.config = {"width": width, "groups": groups, "blocks": blocks}
        self.head = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, width, 3, padding=1))
        self.groups = nn.ModuleList(
            nn.Sequential(*[AttentionBlock(width) for _ in range(blocks)], nn.Conv2d(width, width, 3, padding=1))
            for _ in range(groups)
        )
        self.tail = nn.Sequential(nn.Conv2d(width, 12, 3, padding=1), nn.PixelShuffle(2))
        nn.init.zeros_(self.tail[0].weight)  # start as the identity
        nn.init.zeros_(self.tail[0].bias)

    def forward(self, x):
        feature = self.head(x)
        shallow = feature
        for group in self.groups:
            feature = feature + group(feature)
        return x + self.tail(feature + shallow)


class SubPixelSR(nn.Module):
    """Residual sub-pixel CNN for super-resolution (the seed paper's; EDSR-baseline-like).

    Feature extraction (one conv) -> non-linear mapping (residual blocks, long skip) ->
    sub-pixel convolution upsampling (conv + PixelShuffle) -> RGB, added to a bicubic upscale
    of the input (global residual learning). All the mapping runs on the low-resolution grid.
    """

    size_multiple = 1

    def __init__(
        self, scale: int = 4, width: int = 64, blocks: int = 16, attention: bool = False, direct: bool = False
    ):
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"scale {scale} is not 2, 3 or 4")
        self.scale = scale
        self.config = {
            "scale": scale,
            "width": width,
            "blocks": blocks,
            **({"attention": True} if attention else {}),
            **({"direct": True} if direct else {}),
        }
        self.head = nn.Conv2d(3, width, 3, padding=1)
        # attention=True: RCAN's channel attention in every block (about 0.1% more FLOPs); its
        # tensors' names extend a plain ResBlock's, so a plain network's weights load into it.
        block = (lambda: AttentionBlock(width, 16, open_gate=True)) if attention else (lambda: ResBlock(width))
        self.body = nn.Sequential(*[block() for _ in range(blocks)], nn.Conv2d(width, width, 3, padding=1))
        if direct:
            # ESPCN/IMDN-style: one conv to the 3 * scale^2 sub-pixels of the residual on the LR grid;
            # the two-stage upsampler's high-resolution conv is most of the default's FLOPs.
            self.upsample = nn.Sequential(nn.Conv2d(width, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))
            self.tail = nn.Identity()
            last = self.upsample[0]
        else:
            factors = [2, 2] if scale == 4 else [scale]
            up = []
            for f in factors:
                up += [nn.Conv2d(width, width * f * f, 3, padding=1), nn.PixelShuffle(f)]
            self.upsample = nn.Sequential(*up)
            self.tail = last = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(last.weight)  # start as plain bicubic
        nn.init.zeros_(last.bias)

    def forward(self, x):
        base = nn.functional.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        feature = self.head(x)
        feature = feature + self.body(feature)
        return base + self.tail(self.upsample(feature))

    def adapt_state(self, source: dict) -> dict:
        """Weights of a trunk with another number of blocks: its closing conv (``body.N``) is
        renamed to this trunk's end; blocks the source lacks start as the identity when loaded
        (``training.load_matching``), so a deeper network grown from it computes the same."""
        closing = [key for key in source if re.fullmatch(r"body\.\d+\.weight", key)]
        if len(closing) != 1:
            return source
        old, new = closing[0].split(".")[1], str(len(self.body) - 1)
        renamed = {f"body.{old}.weight": f"body.{new}.weight", f"body.{old}.bias": f"body.{new}.bias"}
        return {renamed.get(key, key): value for key, value in source.items()}


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
