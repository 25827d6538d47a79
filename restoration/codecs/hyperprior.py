"""Our learned codec, version 2: a mean-scale hyperprior (Minnen, Balle & Toderici 2018, "Joint
autoregressive and hierarchical priors") with gain vectors for several rate points in one network
(Cui et al. 2021) and, optionally, a checkerboard context (He et al. 2021): the latents at the
"anchor" half of the positions are coded from the side information alone, the other half also from
a 5x5 convolution over the decoded anchors -- two parallel passes instead of a serial
autoregressive scan, so decoding stays fast on a CPU.

The latents y (1/8 or 1/16 of the image size: 3 or 4 stride-2 stages) are coded with a quantised
Gaussian whose mean and scale come from side information z (4x coarser), itself coded with a
factorized density. Both are range coded
with ``constriction`` into one stream; decoding reads only the bytes. Scales are snapped to a
fixed log-spaced table before coding, so encoder and decoder pick the same coder model even if
their floating-point sums differ in the last bit. Layout: ``b"RH"``, version (1; 2 with the
context), rate point, height, width (big-endian u16), then the range coder's 32-bit words (z first,
then y: with the context, the anchors first).

Memory: the analysis and synthesis transforms run over tiles (``learned.analysed``,
``learned.synthesised``), the hyperprior, the context and the coder over the whole latent grid
(1/256 of the pixels): an image holds one tile's activations, and its stream is the whole image's.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import constriction
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from restoration.codecs import learned
from restoration.codecs.learned import HEADER, FactorizedDensity
from restoration.core import manifest as manifestlib
from restoration.core.errors import UserInputError

MODEL_ID = "neural-hp"
MAGIC, VERSION, CONTEXT_VERSION = b"RH", 1, 2
MAX_PIXELS = 16_000_000
Z_RADIUS, Y_RADIUS = 64, 512  # symbol ranges; the coders give every symbol in range some mass
SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 64.0, 64
SCALE_TABLE = np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


def _conv(cin, cout, kernel=5, stride=2):
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


def _deconv(cin, cout, kernel=5, stride=2):
    return nn.ConvTranspose2d(cin, cout, kernel, stride=stride, padding=kernel // 2, output_padding=stride - 1)


def gaussian_likelihood(values, means, scales):
    """Mass of N(mean, scale) over [v - 0.5, v + 0.5], in float32, floored at 1e-9."""
    with torch.autocast(values.device.type, enabled=False):
        centred = (values.float() - means.float()).abs()
        scales = scales.float().clamp_min(SCALE_MIN)
        upper = torch.special.ndtr((0.5 - centred) / scales)
        lower = torch.special.ndtr((-0.5 - centred) / scales)
        return (upper - lower).clamp_min(1e-9)


class HyperpriorNet(nn.Module):
    """g_a: ``stages`` stride-2 convs with GDN (channels -> latent); h_a: 3x3 then 2 stride-2 convs;
    h_s mirrors h_a and outputs a mean and a scale per latent; g_s mirrors g_a with inverse GDN."""

    def __init__(
        self,
        channels: int = 128,
        latent: int = 192,
        hyper: int = 128,
        rate_points: int = 7,
        latent_scale: float = 1.0,
        stages: int = 4,
        context: bool = False,
    ):
        super().__init__()
        self.config = {
            "channels": channels,
            "latent": latent,
            "hyper": hyper,
            "rate_points": rate_points,
            "latent_scale": latent_scale,
            "stages": stages,
            "context": context,
        }
        self.stride = 2 ** (stages + 2)  # ``stages`` stride-2 layers for y, 2 more for z: inputs are padded to this
        self.latent_stride = 2**stages  # image pixels a side per latent of y
        self.latent_scale = latent_scale
        m, h = latent, hyper
        self.analysis, self.synthesis = learned.gdn_transforms(channels, latent, stages)  # the first codec's
        self.hyper_analysis = nn.Sequential(
            _conv(m, h, 3, 1), nn.LeakyReLU(0.1), _conv(h, h), nn.LeakyReLU(0.1), _conv(h, h)
        )
        self.hyper_synthesis = nn.Sequential(
            _deconv(h, h), nn.LeakyReLU(0.1), _deconv(h, m * 3 // 2), nn.LeakyReLU(0.1), _conv(m * 3 // 2, 2 * m, 3, 1)
        )
        spread = torch.tensor([2.0 ** ((k - (rate_points - 1)) / 2) for k in range(rate_points)])
        self.gain = nn.Parameter(spread[:, None].repeat(1, m))
        self.inverse_gain = nn.Parameter((1 / spread)[:, None].repeat(1, m))
        self.density = FactorizedDensity(h)
        self.has_context = context
        if context:  # the anchors' 5x5 neighbourhood, then 1x1 layers adding to the hyper output
            self.context = nn.Conv2d(m, 2 * m, 5, padding=2)
            self.context_parameters = nn.Sequential(
                nn.Conv2d(4 * m, 3 * m, 1),
                nn.LeakyReLU(0.1),
                nn.Conv2d(3 * m, 2 * m, 1),
                nn.LeakyReLU(0.1),
                nn.Conv2d(2 * m, 2 * m, 1),
            )
            nn.init.zeros_(self.context_parameters[-1].weight)  # starts as the hyperprior alone
            nn.init.zeros_(self.context_parameters[-1].bias)

    def latents(self, x, rate_index):
        """Gained, unquantised latents; ``rate_index`` is an int or a (B,) tensor."""
        return self.analysis(x) * self.latent_gain(rate_index)

    def latent_gain(self, rate_index):
        """What the analysis output is multiplied by at this rate point, (B, C, 1, 1)."""
        return self.gain[rate_index].reshape(-1, self.gain.shape[1], 1, 1) * self.latent_scale

    def side(self, y):
        return self.hyper_analysis(y)

    def hyper_parameters(self, z_hat):
        """The hyper-synthesis output: raw means and scales (2 x latent channels), float32."""
        return self.hyper_synthesis(z_hat).float()

    @staticmethod
    def split(raw):
        means, scales = raw.chunk(2, dim=1)
        return means, F.softplus(scales) + SCALE_MIN

    def context_entropy_parameters(self, raw, y_hat):
        """(means, scales) for the non-anchor latents: the hyper output ``raw`` plus what the
        decoded anchors of ``y_hat`` (its other positions are ignored) say about their neighbours."""
        anchors = y_hat * anchor_mask(y_hat)
        features = torch.cat([raw, self.context(anchors).float()], dim=1)
        return self.split(raw + self.context_parameters(features).float())

    def y_parameters(self, raw, y):
        """Training: (means, scales) at every position, the non-anchors' from the context over the
        anchors' mean-shifted rounding of ``y`` (what the decoder will have)."""
        means, scales = self.split(raw)
        if not self.has_context:
            return means, scales
        anchor_hat = y + (torch.round(y - means) + means - y).detach()
        context_means, context_scales = self.context_entropy_parameters(raw, anchor_hat)
        mask = anchor_mask(y)
        return torch.where(mask, means, context_means), torch.where(mask, scales, context_scales)

    def dequantised(self, y_hat, rate_index):
        """The synthesis transform's input from the decoded latents."""
        gain = self.inverse_gain[rate_index].reshape(-1, self.gain.shape[1], 1, 1)
        return y_hat * (gain / self.latent_scale)

    def reconstruct(self, y_hat, rate_index):
        return self.synthesis(self.dequantised(y_hat, rate_index))

    def forward(self, x, rate_index):
        """Training pass: (reconstruction, (y likelihoods, z likelihoods)). Rates see additive
        uniform noise; the synthesis sees mean-shifted rounding, straight-through (Minnen 2020)."""
        y = self.latents(x, rate_index)
        z = self.side(y)
        z_likelihood = self.density.likelihood(z + torch.empty_like(z).uniform_(-0.5, 0.5))
        z_hat = z + (torch.round(z) - z).detach()
        means, scales = self.y_parameters(self.hyper_parameters(z_hat), y)
        y_likelihood = gaussian_likelihood(y + torch.empty_like(y).uniform_(-0.5, 0.5), means, scales)
        y_hat = y + (torch.round(y - means) + means - y).detach()
        return self.reconstruct(y_hat, rate_index), (y_likelihood, z_likelihood)


def anchor_mask(y: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) bool: the checkerboard's anchors, (row + column) even."""
    rows = torch.arange(y.shape[-2], device=y.device)[:, None]
    columns = torch.arange(y.shape[-1], device=y.device)[None, :]
    return ((rows + columns) % 2 == 0)[None, None]


def scale_indexes(scales: torch.Tensor) -> np.ndarray:
    """Nearest entry of SCALE_TABLE (in log space) for each scale."""
    position = torch.log(scales.double().clamp(SCALE_MIN, SCALE_MAX)) - math.log(SCALE_MIN)
    position = position / (math.log(SCALE_MAX / SCALE_MIN) / (SCALE_LEVELS - 1))
    return torch.round(position).to(torch.int64).numpy()


class HyperpriorCodec:
    """A trained network with its coder models, ready to compress and decompress."""

    def __init__(self, net: HyperpriorNet):
        self.net = net.eval()
        self.rate_points = net.config["rate_points"]
        self.version = CONTEXT_VERSION if net.has_context else VERSION
        model = constriction.stream.model
        self.z_models = [model.Categorical(row, perfect=False) for row in net.density.probability_tables(Z_RADIUS)]
        self.y_model = model.QuantizedGaussian(-Y_RADIUS, Y_RADIUS)
        self._coder = constriction.stream.queue

    @classmethod
    def from_file(cls, path: Path, config: dict) -> "HyperpriorCodec":
        net = HyperpriorNet(**config)
        net.load_state_dict({k: v.float() for k, v in load_file(path).items()})
        return cls(net)

    @torch.inference_mode()
    def compress(self, image: np.ndarray, rate_point: int) -> bytes:
        """uint8 HxWx3 -> bytes. ``rate_point`` counts from 1 (lowest rate)."""
        learned.check_image(image, rate_point, self.rate_points, MAX_PIXELS)
        height, width = image.shape[:2]
        y = learned.analysed(self.net.analysis, image, self.net.stride, self.net.latent_stride)
        y = y * self.net.latent_gain(rate_point - 1)
        z = torch.round(self.net.side(y)).clamp(-Z_RADIUS, Z_RADIUS)
        encoder = self._coder.RangeEncoder()
        z_symbols = (z[0].to(torch.int32) + Z_RADIUS).reshape(z.shape[1], -1).numpy()
        for channel, model in zip(z_symbols, self.z_models):
            encoder.encode(np.ascontiguousarray(channel), model)
        raw = self.net.hyper_parameters(z)
        means, scales = self.net.split(raw)
        mask = torch.ones_like(y, dtype=torch.bool)
        if self.net.has_context:  # anchors from the side information, then the rest from them too
            mask = anchor_mask(y).expand_as(y)
            anchors = _quantise(y, means)
            self._encode(encoder, anchors[mask], scales[mask])
            means, scales = self.net.context_entropy_parameters(raw, anchors + means)
            mask = ~mask
        self._encode(encoder, _quantise(y, means)[mask], scales[mask])
        words = encoder.get_compressed().astype(">u4").tobytes()
        return HEADER.pack(MAGIC, self.version, rate_point, height, width) + words

    def _encode(self, encoder, symbols: torch.Tensor, scales: torch.Tensor) -> None:
        stds = SCALE_TABLE[scale_indexes(scales).ravel()]
        encoder.encode(symbols.to(torch.int32).numpy().ravel(), self.y_model, np.zeros_like(stds), stds)

    def _decode(self, decoder, scales: torch.Tensor) -> torch.Tensor:
        stds = SCALE_TABLE[scale_indexes(scales).ravel()]
        return torch.from_numpy(decoder.decode(self.y_model, np.zeros_like(stds), stds).astype(np.float32))

    @torch.inference_mode()
    def decompress(self, data: bytes) -> np.ndarray:
        _, _, rate_point, height, width = fields = parse_header(data, self.version)
        decoder = self._coder.RangeDecoder(learned.stream_words(data, fields, self.rate_points))
        grid = (-(-height // self.net.stride), -(-width // self.net.stride))  # z's grid; y's is 4x finer
        try:
            z = np.stack([decoder.decode(model, grid[0] * grid[1]) for model in self.z_models])
            raw = self.net.hyper_parameters(torch.from_numpy(z.astype(np.float32) - Z_RADIUS).reshape(1, -1, *grid))
            means, scales = self.net.split(raw)
            y_hat, mask = torch.zeros_like(means), torch.ones_like(means, dtype=torch.bool)
            if self.net.has_context:
                mask = anchor_mask(means).expand_as(means)
                y_hat[mask] = self._decode(decoder, scales[mask]) + means[mask]
                means, scales = self.net.context_entropy_parameters(raw, y_hat)
                mask = ~mask
            y_hat[mask] = self._decode(decoder, scales[mask]) + means[mask]
        except Exception as exc:  # constriction raises plain exceptions on corrupt streams
            raise UserInputError(f"not a valid learned-codec stream ({exc})") from None
        y_hat = self.net.dequantised(y_hat, rate_point - 1)
        return learned.synthesised(self.net.synthesis, y_hat, self.net.latent_stride, height, width)


def _quantise(y: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    return torch.round(y - means).clamp(-Y_RADIUS, Y_RADIUS)


def parse_header(data: bytes, version: int = VERSION) -> tuple:
    return learned.read_header(data, MAGIC, version, "hyperprior learned-codec")


def manifest_entry(model_id: str = MODEL_ID) -> dict | None:
    return manifestlib.section("codecs").get(model_id)


@functools.lru_cache(maxsize=2)
def shipped(model_id: str = MODEL_ID) -> HyperpriorCodec:
    """The model in weights/, verified against the manifest's sha256 before loading."""
    path, entry = manifestlib.verified_file("codecs", model_id)
    return HyperpriorCodec.from_file(path, entry["config"])
