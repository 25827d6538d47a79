"""Checkpoints in the real layout of every Hub manifest entry, made here with random weights.

Each builder constructs the published architecture with the authors' hyperparameters (through
spandrel's own classes, whose parameter names are the original code's) and wraps the state dict
in the container the real file uses (``params`` / ``params_ema`` for BasicSR-trained models).
A manifest entry without a builder makes its test fail, so a new entry cannot go untested.
Each architecture is constructed once per test session (the ``hub_checkpoints`` fixture).
"""

from __future__ import annotations

import copy
import functools
import io
from pathlib import Path

import pytest
import torch

SWINIR_M = dict(
    in_chans=3, img_range=1.0, depths=[6] * 6, embed_dim=180, num_heads=[6] * 6, mlp_ratio=2, resi_connection="1conv"
)


def _swinir(**kw):
    from spandrel.architectures.SwinIR import SwinIR

    return SwinIR(**{**SWINIR_M, **kw})


def _rrdb(scale: int):
    """BasicSR's RRDBNet as Real-ESRGAN ships it: x4 upsampling after the trunk; at x2 the input
    is pixel-unshuffled by 2 first (12 input channels), so x2 and x4 files differ in conv_first."""
    from spandrel.architectures.ESRGAN import ESRGAN

    return ESRGAN(in_nc=3 * (4 // scale) ** 2, out_nc=3, num_filters=64, num_blocks=23, scale=4)


BASICSR_RRDB = {
    "model.0.": "conv_first.",
    "model.3.": "conv_up1.",
    "model.6.": "conv_up2.",
    "model.8.": "conv_hr.",
    "model.10.": "conv_last.",
}


def basicsr_rrdb_keys(state: dict, blocks: int = 23) -> dict:
    """Spandrel's ESRGAN keys (the 2018 ESRGAN repo's ``model.N`` layout) renamed to BasicSR's
    RRDBNet layout, the one Real-ESRGAN's released .pth files use: conv_first,
    body.N.rdbK.convJ, conv_body, conv_up1, conv_up2, conv_hr, conv_last."""
    renamed = {}
    for key, value in state.items():
        new = key
        for old, basic in BASICSR_RRDB.items():
            if key.startswith(old):
                new = basic + key[len(old) :]
        if key.startswith(f"model.1.sub.{blocks}."):
            new = "conv_body." + key.split(".")[-1]
        elif key.startswith("model.1.sub."):
            _, _, _, block, rdb, conv, _, param = key.split(".")
            new = f"body.{block}.{rdb.lower()}.{conv}.{param}"
        renamed[new] = value
    return renamed


def _build(key: str):
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.DRUNet import DRUNet
    from spandrel.architectures.FBCNN import FBCNN
    from spandrel.architectures.HAT import HAT
    from spandrel.architectures.SCUNet import SCUNet
    from spandrel.architectures.Swin2SR import Swin2SR

    builders = {
        # (network, container key or None, expected scale)
        "swinir-car-color-q10": (lambda: _swinir(upscale=1, img_size=126, window_size=7, upsampler=""), "params", 1),
        "swinir-dn-color": (lambda: _swinir(upscale=1, img_size=128, window_size=8, upsampler=""), "params", 1),
        "scunet-color-real-psnr": (lambda: SCUNet(in_nc=3, config=[4, 4, 4, 4, 4, 4, 4], dim=64), None, 1),
        "drunet-color": (lambda: DRUNet(in_nc=4, out_nc=3, nc=[64, 128, 256, 512], nb=4), None, 1),
        "fbcnn-color": (lambda: FBCNN(in_nc=3, out_nc=3), None, 1),
        # Real-ESRGAN's files hold BasicSR's RRDBNet names (renamed in ``checkpoint``).
        "realesrgan-x4": (lambda: _rrdb(4), "params_ema", 4),
        "realesrgan-x4plus": (lambda: _rrdb(4), "params_ema", 4),
        "realesrgan-x2plus": (lambda: _rrdb(2), "params_ema", 2),
        "realesr-general-x4v3": (
            lambda: Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4, act_type="prelu"),
            "params",
            4,
        ),
        "swinir-classical-x4": (
            lambda: _swinir(upscale=4, img_size=64, window_size=8, upsampler="pixelshuffle"),
            "params",
            4,
        ),
        "swinir-real-x4": (
            lambda: _swinir(upscale=4, img_size=64, window_size=8, upsampler="nearest+conv"),
            "params_ema",
            4,
        ),
        "swin2sr-classical-x4": (
            lambda: Swin2SR(
                upscale=4,
                in_chans=3,
                img_size=64,
                window_size=8,
                img_range=1.0,
                depths=[6] * 6,
                embed_dim=180,
                num_heads=[6] * 6,
                mlp_ratio=2,
                upsampler="pixelshuffle",
                resi_connection="1conv",
            ),
            "params",
            4,
        ),
        "hat-x4": (
            lambda: HAT(
                upscale=4,
                in_chans=3,
                img_size=64,
                window_size=16,
                compress_ratio=3,
                squeeze_factor=30,
                conv_scale=0.01,
                overlap_ratio=0.5,
                img_range=1.0,
                depths=[6] * 6,
                embed_dim=180,
                num_heads=[6] * 6,
                mlp_ratio=2,
                upsampler="pixelshuffle",
                resi_connection="1conv",
            ),
            "params_ema",
            4,
        ),
    }
    return builders.get(key)


def _builder(key: str):
    built = _build(key)
    if built is None:
        raise KeyError(f"no checkpoint builder for Hub entry {key!r}: add one to tests/hub_checkpoints.py")
    return built


@functools.lru_cache(maxsize=1)  # the variants of one entry are asked for in a row; one network is held
def _network(key: str) -> tuple[dict, frozenset]:
    """(state dict, names of its learned parameters) of the entry's architecture, built with seed 0:
    constructing the large transformers is the slow part (seconds each)."""
    make = _builder(key)[0]
    torch.manual_seed(0)
    net = make()
    return net.state_dict(), frozenset(name for name, _ in net.named_parameters())


def _reseeded(state: dict, learned: frozenset, seed: int) -> dict:
    """Other weights from the same initialisation, without constructing the network again: each
    learned tensor's values rolled by an offset drawn from ``seed`` (the same values, elsewhere),
    in a copy that keeps the storage layout (so the file has the same size); buffers (masks, index
    tables, batch-norm statistics) are kept as they are."""
    generator = torch.Generator().manual_seed(seed)
    rolled = copy.deepcopy(state)
    for name, value in rolled.items():
        if name in learned and value.numel() > 1:
            shift = int(torch.randint(1, value.numel(), (1,), generator=generator))
            value.copy_(value.flatten().roll(shift).reshape(value.shape))
    return rolled


def checkpoint(key: str, seed: int = 0) -> tuple[bytes, int]:
    """(the .pth bytes of a random-weights checkpoint in the entry's real layout, its scale).
    Each architecture is constructed once; another ``seed`` moves its weights around."""
    _, container, scale = _builder(key)
    state, learned = _network(key)
    if seed:
        state = _reseeded(state, learned, seed)
    if key.startswith("realesrgan-"):
        state = basicsr_rrdb_keys(state)
    buffer = io.BytesIO()
    torch.save({container: state} if container else state, buffer)
    return buffer.getvalue(), scale


class Checkpoints:
    """The checkpoints of a test session, each made once and kept as a file in ``folder`` (they
    are large: up to ~300 MB each), read back when another test asks for the same one."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __call__(self, key: str, seed: int = 0) -> tuple[bytes, int]:
        path = self.folder / f"{key}-{seed}.pth"
        scale = _builder(key)[2]
        if path.is_file():
            return path.read_bytes(), scale
        data, scale = checkpoint(key, seed)
        path.write_bytes(data)
        return data, scale


@pytest.fixture(scope="session")
def hub_checkpoints(tmp_path_factory) -> Checkpoints:
    """``checkpoint(key, seed)``, each made once per test session."""
    return Checkpoints(tmp_path_factory.mktemp("hub-checkpoints"))
