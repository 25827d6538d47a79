"""Where the networks run: on a CUDA GPU when there is one, else on the CPU; and, on a Hugging Face
ZeroGPU Space (the ``spaces`` package importable), inside ``spaces.GPU`` so a GPU is attached for
the call. Off ZeroGPU, ``spaces.GPU`` returns the function unchanged, so this costs nothing."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

Task = TypeVar("Task", bound=Callable)


def gpu_task(fn: Task) -> Task:
    """``spaces.GPU(fn)`` when the ``spaces`` package is importable, else ``fn`` itself. Apply it at
    import time (ZeroGPU registers its GPU functions before the app starts) to a module-level
    function whose arguments can be pickled (ZeroGPU runs it in a forked worker)."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(fn)


def device():
    """``torch.device("cuda")`` when torch sees a GPU, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.cache
def bf16_is_fast(device_type: str) -> bool:
    """Whether bf16 autocast speeds networks up on this machine. On a CPU only with native bf16
    instructions (AVX512-BF16 or AMX): on an AVX2-only CPU oneDNN emulates bf16 and a network
    ran ~10x slower than in float32 (measured: DeepRecNet on 768x512, 23.8 s against 2.5 s)."""
    import torch

    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def autocast(device_type: str = "cpu", enabled: bool = True):
    """bf16 autocast where :func:`bf16_is_fast`, else float32 (a context manager either way)."""
    import torch

    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=enabled and bf16_is_fast(device_type))
