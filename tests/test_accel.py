"""restoration.models.accel: networks run inside ``spaces.GPU`` when the ``spaces`` package is importable
(Hugging Face ZeroGPU) and as plain functions otherwise; on CUDA when torch sees a GPU.

The real ``spaces`` (0.51) returns the function unchanged off ZeroGPU, so a fake module that
records what it decorates is what shows the wiring here."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from restoration.models import accel, restorers, runtime


def add_one(x):
    return x + 1


def fake_spaces() -> types.ModuleType:
    spaces = types.ModuleType("spaces")
    spaces.decorated = []

    def GPU(fn):
        spaces.decorated.append(fn)
        return lambda *args, **kwargs: fn(*args, **kwargs)

    spaces.GPU = GPU
    return spaces


def test_without_spaces_the_function_runs_as_it_is(monkeypatch):
    monkeypatch.setitem(sys.modules, "spaces", None)  # `import spaces` raises ImportError
    assert accel.gpu_task(add_one) is add_one


def test_with_spaces_the_function_goes_through_spaces_gpu(monkeypatch):
    spaces = fake_spaces()
    monkeypatch.setitem(sys.modules, "spaces", spaces)
    on_gpu = accel.gpu_task(add_one)
    assert spaces.decorated == [add_one] and on_gpu is not add_one and on_gpu(1) == 2


def test_the_registry_wraps_its_network_runner_at_import_when_spaces_exists():
    code = (
        "import sys, types; spaces = types.ModuleType('spaces'); spaces.decorated = []\n"
        "spaces.GPU = lambda fn: spaces.decorated.append(fn.__name__) or fn\n"
        "sys.modules['spaces'] = spaces\n"
        "from restoration.models import restorers; print(spaces.decorated)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['_run']"


def test_networks_take_the_gpu_runner_and_classical_models_do_not(monkeypatch):
    calls = []

    def recording_runner(image, model_id, options):
        calls.append(model_id)
        return restorers._run(image, model_id, options)

    monkeypatch.setattr(restorers, "_run_network", recording_runner)
    monkeypatch.setitem(
        restorers.REGISTRY,
        "tiny-net",
        restorers.RestorerSpec(
            "tiny-net",
            ("denoise",),
            "own",
            "test network",
            lambda: runtime.TorchRestorer(torch.nn.Identity(), bf16=False),
            status_check=lambda: "ready",
        ),
    )
    restorers._instance.cache_clear()
    image = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    try:
        assert np.array_equal(restorers.restore(image, "tiny-net").image, image)
        restorers.restore(image, "gaussian")
        restorers.restore(image, "bicubic-x2")
    finally:
        restorers._instance.cache_clear()  # do not leave the tiny network behind
    assert calls == ["tiny-net"]


def test_device_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert accel.device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert accel.device() == torch.device("cuda")


def cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo to read the CPU's instruction sets from")
    line = next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags"))
    return set(line.split(":", 1)[1].split())


@pytest.fixture
def fresh_bf16_choice(monkeypatch):
    """``bf16_is_fast`` decided anew (it is cached per process), and again after the test."""
    monkeypatch.delenv("RESTORATION_BF16", raising=False)
    accel.bf16_is_fast.cache_clear()
    yield monkeypatch
    accel.bf16_is_fast.cache_clear()


@pytest.mark.slow
def test_bf16_autocast_only_on_cpus_with_native_bf16_where_it_is_faster(fresh_bf16_choice):
    native = bool({"avx512_bf16", "amx_bf16"} & cpu_flags())
    chosen = accel.bf16_is_fast("cpu")
    if not native:
        assert not chosen  # an AVX2-only CPU never gets emulated bf16
    else:  # the choice agrees with a second, independent timing
        assert chosen == accel.bf16_beats_float32()


@pytest.mark.parametrize("setting, expected", [("0", False), ("1", True)])
def test_restoration_bf16_overrides_the_measurement(fresh_bf16_choice, setting, expected):
    fresh_bf16_choice.setenv("RESTORATION_BF16", setting)
    assert accel.bf16_is_fast("cpu") is expected


def test_a_bf16_network_runs_in_float32_where_bf16_is_not_chosen():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, padding=1)
    )
    image = np.random.default_rng(1).random((20, 28, 3), dtype=np.float32)
    wanted_bf16 = runtime.TorchRestorer(model, bf16=True)(image)
    float32 = runtime.TorchRestorer(model, bf16=False)(image)
    if accel.bf16_is_fast("cpu"):
        assert 0 < np.abs(wanted_bf16 - float32).max() < 0.02  # bf16 ran: close, not equal
    else:
        assert np.array_equal(wanted_bf16, float32)
