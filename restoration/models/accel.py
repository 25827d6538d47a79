"""Where the networks run: on a CUDA GPU when there is one, else on the CPU; and, on a Hugging Face
ZeroGPU Space (the ``spaces`` package importable), inside ``spaces.GPU`` so a GPU is attached for
the call. Off ZeroGPU, ``spaces.GPU`` returns the function unchanged, so this costs nothing."""

from __future__ import annotations

import functools
import os
import time
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
    """Whether bf16 autocast speeds networks up on this machine. On a CUDA GPU where it supports
    bf16. On a CPU, ``RESTORATION_BF16=1`` or ``0`` decides; else only with native bf16 instructions
    (AVX512-BF16 or AMX: on an AVX2-only CPU oneDNN emulates bf16 and a network ran ~10x slower than
    in float32, measured: DeepRecNet on 768x512, 23.8 s against 2.5 s), and then only where a timed
    convolution says so: the flag alone is not enough (measured: an Intel Xeon with AVX512-BF16 and
    no AMX trained the x4 upscaler at 6.2 s a step in bf16 against 4.3 s in float32, while an AMD
    EPYC with the same flag trained ~6x faster in bf16)."""
    import torch

    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    override = os.environ.get("RESTORATION_BF16", "").strip()
    if override in {"0", "1"}:
        return override == "1"
    if not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
        return False
    return bf16_beats_float32()


def bf16_beats_float32(repeats: int = 15) -> bool:
    """Whether a 64-channel 3x3 convolution on 64x64 (the networks' bread and butter) runs at least
    1.25x faster under bf16 autocast than in float32 at this process's thread count (what its
    networks run with; torch's global setting is left alone, so a concurrent request never runs on
    a count changed under it), best of ``repeats`` each after a warm-up (about 0.1 s in all; the
    best of many, because a busy machine preempts single calls)."""
    return _timed_ratio(repeats) * 1.25 <= 1.0


def _timed_ratio(repeats: int) -> float:
    """bf16 time / float32 time for the convolution of :func:`bf16_beats_float32`."""
    import torch

    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.rand(1, 64, 64, 64).contiguous(memory_format=torch.channels_last)

    def best_seconds(bf16: bool) -> float:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            conv(x)  # oneDNN builds its kernel on the first call
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                conv(x)
                times.append(time.perf_counter() - start)
        return min(times)

    return best_seconds(True) / best_seconds(False)


def precision(device_type: str = "cpu") -> str:
    """What the networks run in here, for logs and benchmark headers: "bf16" or "float32"."""
    return "bf16" if bf16_is_fast(device_type) else "float32"


def autocast(device_type: str = "cpu", enabled: bool = True):
    """bf16 autocast where :func:`bf16_is_fast`, else float32 (a context manager either way)."""
    import torch

    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=enabled and bf16_is_fast(device_type))
