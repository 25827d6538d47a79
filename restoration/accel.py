"""Where the networks run: on a CUDA GPU when there is one, else on the CPU; and, on a Hugging Face
ZeroGPU Space (the ``spaces`` package importable), inside ``spaces.GPU`` so a GPU is attached for
the call. Off ZeroGPU, ``spaces.GPU`` returns the function unchanged, so this costs nothing."""

from __future__ import annotations

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
