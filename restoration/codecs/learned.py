"""Our learned image codec: a transform-coding autoencoder with a factorized entropy model
(Balle et al., "End-to-end optimized image compression", 2017, and the 2018 paper's
non-parametric density) and gain units for several rate points in one network (Cui et al.,
"Asymmetric gained deep image compression", 2021).

The bitstream is real: the quantised latents are range coded with ``constriction`` against
per-channel probability tables computed from the trained density, and decoding reads only the
bytes. Layout: ``b"RL"``, version, rate point, height, width (big-endian u16), then the range
coder's 32-bit words.

Memory: the transforms run over tiles (``analysed``, ``synthesised``): ``TILE`` pixels a side
with a margin beyond each transform's reach around each, only the core kept, so an image larger
than one tile holds one tile's activations (the networks' working set, ~250-350 bytes a pixel)
instead of the whole image's, and its latents, coded whole, are those of the whole image (to
float rounding): the stream and its format are unchanged.
"""

from __future__ import annotations

import functools
import math
import struct
from pathlib import Path

import constriction
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from restoration.core import budget, memory
from restoration.core import image as imagelib
from restoration.core import manifest as manifestlib
from restoration.core.errors import UserInputError

MODEL_ID = "neural-codec"
MAGIC, VERSION = b"RL", 1
HEADER = struct.Struct(">2sBBHH")
MAX_PIXELS = 16_000_000
RADIUS = 128  # symbols -RADIUS..RADIUS per channel; the trained density puts ~0 mass outside
TILE = 512  # image pixels a side of a tile's core, a multiple of every latent stride
# Context around a tile: a latent depends on image pixels within 2 * (1 + 2 + 4 + 8) = 30 of its own
# (4 stride-2 5x5 layers; 14 with 3), and an output pixel on latents within 1 + 1/2 + 1/4 + ... < 2.
ANALYSIS_MARGIN = 32  # image pixels, a multiple of every latent stride
SYNTHESIS_MARGIN = 3  # latents


class SimplifiedGDN(nn.Module):
    """Divisive normalisation y = x / (beta + gamma * |x|) (Johnston et al. 2019): the cheap GDN
    variant; ``inverse`` multiplies instead (IGDN). Runs in float32 even under bf16 autocast."""

    def __init__(self, channels: int, inverse: bool = False):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels)[:, :, None, None])

    def forward(self, x):
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            norm = F.conv2d(x.abs(), self.gamma.abs(), self.beta.abs() + 1e-6)
            return x * norm if self.inverse else x / norm


class FactorizedDensity(nn.Module):
    """One learned univariate density per channel, as a monotone CDF network (Balle 2018, 6.1);
    the likelihood of an integer symbol is the CDF's mass over [y - 0.5, y + 0.5]."""

    def __init__(self, channels: int, filters=(3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        widths = (1, *filters, 1)
        scale = init_scale ** (1 / (len(widths) - 1))
        self.matrices, self.biases, self.factors = nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
        for i in range(len(widths) - 1):
            init = math.log(math.expm1(1 / scale / widths[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, widths[i + 1], widths[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, widths[i + 1], 1) - 0.5))
            if i < len(widths) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, widths[i + 1], 1)))

    def _logits_cdf(self, values):  # values: (C, 1, N)
        logits = values
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            logits = torch.matmul(F.softplus(matrix), logits) + bias
            if i < len(self.factors):
                logits = logits + torch.tanh(self.factors[i]) * torch.tanh(logits)
        return logits

    def _mass(self, values):  # (C, 1, N) -> (C, 1, N)
        lower, upper = self._logits_cdf(values - 0.5), self._logits_cdf(values + 0.5)
        sign = -torch.sign(lower + upper).detach()  # evaluate in the tail where sigmoid is precise
        return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))

    def likelihood(self, y):
        """Per-element likelihood of ``y`` (B, C, H, W), floored at 1e-9."""
        with torch.autocast(y.device.type, enabled=False):
            b, c, h, w = y.shape
            flat = y.float().transpose(0, 1).reshape(c, 1, -1)
            mass = self._mass(flat).clamp_min(1e-9)
            return mass.reshape(c, b, h, w).transpose(0, 1)

    @torch.no_grad()
    def probability_tables(self, radius: int = RADIUS) -> np.ndarray:
        """(C, 2 * radius + 1) float64 rows summing to 1: the coder's model for each channel."""
        channels = self.matrices[0].shape[0]
        symbols = torch.arange(-radius, radius + 1, dtype=torch.float32).repeat(channels, 1, 1)
        table = self._mass(symbols)[:, 0].double().clamp_min(1e-12)
        return (table / table.sum(dim=1, keepdim=True)).numpy()


def _down(cin, cout):
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def _up(cin, cout):
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


def gdn_transforms(channels: int, latent: int, stages: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(analysis, synthesis) of both learned codecs: ``stages`` 5x5 stride-2 convolutions with
    simplified GDN between them (channels -> latent), and the mirror with inverse GDN."""
    n, m = channels, latent
    down, up = [_down(3, n)], [_up(n, 3)]
    for _ in range(stages - 2):
        down += [SimplifiedGDN(n), _down(n, n)]
        up = [_up(n, n), SimplifiedGDN(n, True)] + up
    return nn.Sequential(*down, SimplifiedGDN(n), _down(n, m)), nn.Sequential(_up(m, n), SimplifiedGDN(n, True), *up)


class NeuralCodecNet(nn.Module):
    """Analysis transform (4 strided convs with GDN) -> gain per rate point -> rounding ->
    inverse gain -> synthesis transform (4 transposed convs with IGDN)."""

    def __init__(
        self, channels: int = 64, latent: int = 128, rate_points: int = 5, latent_scale: float = 1.0, stages: int = 4
    ):
        super().__init__()
        self.config = {
            "channels": channels,
            "latent": latent,
            "rate_points": rate_points,
            "latent_scale": latent_scale,
            "stages": stages,
        }
        self.stride = 2**stages  # inputs are padded to a multiple of this
        # The freshly initialised analysis outputs ~0.05: far below the quantisation step, so
        # training would first spend thousands of steps growing it. A fixed scale starts it near 1.
        self.latent_scale = latent_scale
        m = latent
        self.analysis, self.synthesis = gdn_transforms(channels, latent, stages)
        # Rate point k scales the latents by gain[k] before rounding: a larger gain = finer steps.
        spread = torch.tensor([2.0 ** ((k - (rate_points - 1)) / 2) for k in range(rate_points)])
        self.gain = nn.Parameter(spread[:, None].repeat(1, m))
        self.inverse_gain = nn.Parameter((1 / spread)[:, None].repeat(1, m))
        self.density = FactorizedDensity(m)

    def latents(self, x, rate_index):
        """Scaled, unquantised latents; ``rate_index`` is an int or a (B,) tensor."""
        return self.analysis(x) * self.latent_gain(rate_index)

    def latent_gain(self, rate_index):
        """What the analysis output is multiplied by at this rate point, (B, C, 1, 1)."""
        return self.gain[rate_index].reshape(-1, self.gain.shape[1], 1, 1) * self.latent_scale

    def dequantised(self, symbols, rate_index):
        """The synthesis transform's input from quantised symbols."""
        gain = self.inverse_gain[rate_index].reshape(-1, self.gain.shape[1], 1, 1)
        return symbols * (gain / self.latent_scale)

    def reconstruct(self, symbols, rate_index):
        return self.synthesis(self.dequantised(symbols, rate_index))

    def forward(self, x, rate_index):
        """Training pass: (reconstruction, likelihoods). The rate sees additive uniform noise (a
        differentiable proxy of rounding); the synthesis sees rounded values (straight-through)."""
        y = self.latents(x, rate_index)
        noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        rounded = y + (torch.round(y) - y).detach()
        return self.reconstruct(rounded, rate_index), self.density.likelihood(noisy)


# -- the shipped model and its bitstream ---------------------------------------------------------
def manifest_entry(model_id: str = MODEL_ID) -> dict | None:
    return manifestlib.section("codecs").get(model_id)


class CodecModel:
    """A trained network with its coder tables, ready to compress and decompress."""

    def __init__(self, net: NeuralCodecNet):
        self.net = net.eval()
        self.rate_points = net.config["rate_points"]
        categorical = constriction.stream.model.Categorical
        self.models = [categorical(row, perfect=False) for row in net.density.probability_tables()]
        self._coder = constriction.stream.queue

    @classmethod
    def from_file(cls, path: Path, config: dict) -> "CodecModel":
        net = NeuralCodecNet(**config)
        net.load_state_dict({k: v.float() for k, v in load_file(path).items()})
        return cls(net)

    @torch.inference_mode()
    def compress(self, image: np.ndarray, rate_point: int) -> bytes:
        """uint8 HxWx3 -> bytes. ``rate_point`` counts from 1 (lowest rate)."""
        check_image(image, rate_point, self.rate_points, MAX_PIXELS)
        height, width = image.shape[:2]
        y = analysed(self.net.analysis, image, self.net.stride, self.net.stride) * self.net.latent_gain(rate_point - 1)
        symbols = torch.round(y)[0].clamp(-RADIUS, RADIUS)
        symbols = (symbols.to(torch.int32) + RADIUS).reshape(symbols.shape[0], -1).numpy()
        encoder = self._coder.RangeEncoder()
        for channel, model in zip(symbols, self.models):
            encoder.encode(np.ascontiguousarray(channel), model)
        words = encoder.get_compressed().astype(">u4").tobytes()
        return HEADER.pack(MAGIC, VERSION, rate_point, height, width) + words

    @torch.inference_mode()
    def decompress(self, data: bytes) -> np.ndarray:
        _, _, rate_point, height, width = fields = parse_header(data)
        grid = (-(-height // self.net.stride), -(-width // self.net.stride))
        decoder = self._coder.RangeDecoder(stream_words(data, fields, self.rate_points))
        try:
            channels = [decoder.decode(model, grid[0] * grid[1]) for model in self.models]
        except Exception as exc:  # constriction raises plain exceptions on corrupt streams
            raise UserInputError(f"not a valid learned-codec stream ({exc})") from None
        symbols = torch.from_numpy(np.stack(channels).astype(np.float32) - RADIUS).reshape(1, -1, *grid)
        return synthesised(
            self.net.synthesis, self.net.dequantised(symbols, rate_point - 1), self.net.stride, height, width
        )


def parse_header(data: bytes) -> tuple:
    return read_header(data, MAGIC, VERSION, "learned-codec")


# -- what both learned codecs' bitstreams share (codecs.hyperprior uses these too) ----------------
def check_image(image: np.ndarray, rate_point: int, rate_points: int, max_pixels: int) -> None:
    """Refuse, before any work, a rate point out of range or an image larger than the codec takes."""
    if not 1 <= rate_point <= rate_points:
        raise UserInputError(f"rate point {rate_point} is outside 1..{rate_points}")
    height, width = image.shape[:2]
    if max(height, width) > 65535:
        raise UserInputError("the learned codec stores sizes in 16 bits: at most 65535 pixels a side")
    if height * width > max_pixels:
        raise UserInputError(
            f"the learned codec codes at most {max_pixels:,} pixels (this image has {height * width:,}): "
            "use a smaller image or another codec"
        )


def padded(image: np.ndarray, stride: int) -> torch.Tensor:
    """The uint8 image as a (1, 3, H, W) float tensor, replicate-padded to a multiple of ``stride``."""
    height, width = image.shape[:2]
    x = torch.from_numpy(imagelib.to_float(image)).permute(2, 0, 1)[None]
    return F.pad(x, (0, -width % stride, 0, -height % stride), mode="replicate")


def analysed(analysis: nn.Module, image: np.ndarray, multiple: int, step: int, tile: int | None = None) -> torch.Tensor:
    """``analysis`` of the uint8 image replicate-padded to a multiple of ``multiple`` (its output,
    one latent per ``step`` pixels a side), computed over tiles of ``tile`` pixels (multiples of
    ``step``) with ``ANALYSIS_MARGIN`` pixels of context around each, so that only one tile's
    activations are held. An image of one tile runs whole."""
    tile = tile or TILE
    height, width = image.shape[:2]
    full_height, full_width = -(-height // multiple) * multiple, -(-width // multiple) * multiple
    if full_height <= tile and full_width <= tile:
        return analysis(padded(image, multiple))
    out = None
    for top in range(0, full_height, tile):
        for left in range(0, full_width, tile):
            budget.check()
            memory.release_freed()
            rows = np.arange(max(0, top - ANALYSIS_MARGIN), min(full_height, top + tile + ANALYSIS_MARGIN))
            columns = np.arange(max(0, left - ANALYSIS_MARGIN), min(full_width, left + tile + ANALYSIS_MARGIN))
            patch = image[np.minimum(rows, height - 1)][:, np.minimum(columns, width - 1)]  # replicate padding
            y = analysis(torch.from_numpy(imagelib.to_float(patch)).permute(2, 0, 1)[None])
            if out is None:
                out = torch.empty((1, y.shape[1], full_height // step, full_width // step), dtype=y.dtype)
            bottom, right = min(full_height, top + tile), min(full_width, left + tile)
            first_row, first_column = (top - rows[0]) // step, (left - columns[0]) // step
            out[..., top // step : bottom // step, left // step : right // step] = y[
                ...,
                first_row : first_row + (bottom - top) // step,
                first_column : first_column + (right - left) // step,
            ]
    return out


def synthesised(
    synthesis: nn.Module, latents: torch.Tensor, step: int, height: int, width: int, tile: int | None = None
) -> np.ndarray:
    """``synthesis`` of the latents (one per ``step`` pixels a side) as the canonical uint8 image of
    ``height`` x ``width``, over tiles of ``tile`` pixels with ``SYNTHESIS_MARGIN`` latents of
    context around each, each tile's core rounded into the result as it comes. Latents of one tile
    run whole."""
    tile = tile or TILE
    grid_height, grid_width = latents.shape[-2:]
    core = tile // step
    if grid_height <= core and grid_width <= core:
        return to_image(synthesis(latents), height, width)
    out = np.empty((height, width, 3), np.uint8)
    for top in range(0, -(-height // step), core):
        for left in range(0, -(-width // step), core):
            budget.check()
            memory.release_freed()
            first_row, first_column = max(0, top - SYNTHESIS_MARGIN), max(0, left - SYNTHESIS_MARGIN)
            tile_out = synthesis(
                latents[
                    ...,
                    first_row : min(grid_height, top + core + SYNTHESIS_MARGIN),
                    first_column : min(grid_width, left + core + SYNTHESIS_MARGIN),
                ]
            )
            rows, columns = min(tile, height - top * step), min(tile, width - left * step)
            y, x = (top - first_row) * step, (left - first_column) * step
            out[top * step : top * step + rows, left * step : left * step + columns] = imagelib.from_float(
                tile_out[0, :, y : y + rows, x : x + columns].permute(1, 2, 0).numpy()
            )
    return out


def to_image(out: torch.Tensor, height: int, width: int) -> np.ndarray:
    """The synthesis output, cropped to the image's size, as canonical uint8."""
    return imagelib.from_float(out[0, :, :height, :width].permute(1, 2, 0).contiguous().numpy())


def read_header(data: bytes, magic: bytes, version: int, kind: str) -> tuple:
    """(magic, version, rate point, height, width) of a stream with this magic and version."""
    if len(data) < HEADER.size or data[:2] != magic:
        raise UserInputError(f"not a {kind} stream (no {magic.decode()} header)")
    fields = HEADER.unpack_from(data)
    if fields[1] != version:
        raise UserInputError(f"learned-codec stream version {fields[1]} is not supported (this is {version})")
    return fields


def stream_words(data: bytes, fields: tuple, rate_points: int) -> np.ndarray:
    """The range coder's 32-bit words after a parsed header; a bad header or a cut stream refused."""
    _, _, rate_point, height, width = fields
    if not 1 <= rate_point <= rate_points or height == 0 or width == 0:
        raise UserInputError("not a valid learned-codec stream (bad header)")
    body = data[HEADER.size :]
    if len(body) % 4:
        raise UserInputError("not a valid learned-codec stream (truncated)")
    return np.frombuffer(body, dtype=">u4").astype(np.uint32)


@functools.lru_cache(maxsize=2)
def shipped(model_id: str = MODEL_ID) -> CodecModel:
    """The model in weights/, verified against the manifest's sha256 before loading."""
    path, entry = manifestlib.verified_file("codecs", model_id)
    return CodecModel.from_file(path, entry["config"])
