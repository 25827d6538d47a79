"""How our networks' weights are stored in ``weights/``: float16 safetensors, or, for the largest
networks, int8 with one float32 scale per output channel (half the bytes again). Both load as
float32 (``load_state``), so every loader takes either; the int8 files score the same PSNR as
their float16 originals within 0.01 dB on Kodak24 and Set5 (``bench/stored_weights.py``;
the numbers in docs/models.md).

Symmetric per-row quantisation: a tensor's rows along dim 0 (a convolution's output channels, a
transposed convolution's input channels, a linear layer's outputs) are each scaled so that their
largest magnitude is 127. Tensors under ``INT8_MIN_NUMEL`` elements stay float16: biases and
gates, and the first and last convolutions (3 colour channels in or out, 864 weights in our
U-Nets), which matter most per weight: quantising those too cost the denoiser 0.008 dB on
Kodak24 at sigma 25 instead of 0.002 dB (measured); searching a clipping level per row for the
least squared error gained nothing.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

SCALE_SUFFIX = ":scale"  # key of an int8 tensor's per-row float32 scales: "<key>:scale"
INT8_MIN_NUMEL = 1024
INT8 = "int8"
FLOAT16 = "float16"


def quantize(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 values, float32 scale per row along dim 0) with values * scale ~ tensor."""
    rows = tensor.detach().float().reshape(tensor.shape[0], -1)
    scale = rows.abs().amax(dim=1).clamp_min(1e-12) / 127.0
    values = torch.round(rows / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return values.reshape(tensor.shape), scale


def stored_state(state: dict[str, torch.Tensor], precision: str = FLOAT16) -> dict[str, torch.Tensor]:
    """The tensors to write: floating ones as float16, or with ``precision="int8"`` the large
    matrices and kernels as int8 plus scales; other tensors (counters) as they are."""
    if precision not in (FLOAT16, INT8):
        raise ValueError(f"unknown weights precision {precision!r}; choose {FLOAT16} or {INT8}")
    out = {}
    for key, tensor in state.items():
        tensor = tensor.detach()
        if precision == INT8 and _quantizable(tensor):
            out[key], out[key + SCALE_SUFFIX] = quantize(tensor)
        else:
            out[key] = tensor.half() if tensor.is_floating_point() else tensor
    return {key: tensor.contiguous() for key, tensor in out.items()}


def _quantizable(tensor: torch.Tensor) -> bool:
    return tensor.is_floating_point() and tensor.dim() >= 2 and tensor.numel() >= INT8_MIN_NUMEL


def save_state(
    state: dict[str, torch.Tensor], path: str | Path, precision: str = FLOAT16, metadata: dict | None = None
) -> None:
    """Write ``state`` at ``precision``; the file's metadata records the precision."""
    header = {**{key: str(value) for key, value in (metadata or {}).items()}, "precision": precision}
    save_file(stored_state(state, precision), str(path), metadata=header)


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A weights file's tensors in float32 (int8 ones multiplied back by their scales); integer
    tensors that are not quantised weights (counters) as they are."""
    stored = load_file(str(path))
    state = {}
    for key, tensor in stored.items():
        if key.endswith(SCALE_SUFFIX):
            continue
        scale = stored.get(key + SCALE_SUFFIX)
        if scale is not None:
            state[key] = (tensor.float().reshape(tensor.shape[0], -1) * scale[:, None]).reshape(tensor.shape)
        else:
            state[key] = tensor.float() if tensor.is_floating_point() else tensor
    return state


def precision_of(path: str | Path) -> str:
    """ "int8" when the file holds quantised tensors, else "float16"."""
    with safe_open(str(path), "pt") as handle:
        keys = handle.keys()
    return INT8 if any(key.endswith(SCALE_SUFFIX) for key in keys) else FLOAT16
