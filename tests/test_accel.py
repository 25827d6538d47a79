"""restoration.accel: networks run inside ``spaces.GPU`` when the ``spaces`` package is importable
(Hugging Face ZeroGPU) and as plain functions otherwise; on CUDA when torch sees a GPU.

The real ``spaces`` (0.51) returns the function unchanged off ZeroGPU, so a fake module that
records what it decorates is what shows the wiring here."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import torch

from restoration import accel, restorers


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
    code = ("import sys, types; spaces = types.ModuleType('spaces'); spaces.decorated = []\n"
            "spaces.GPU = lambda fn: spaces.decorated.append(fn.__name__) or fn\n"
            "sys.modules['spaces'] = spaces\n"
            "from restoration import restorers; print(spaces.decorated)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['_run']"


def test_networks_take_the_gpu_runner_and_classical_models_do_not(monkeypatch):
    calls = []

    def recording_runner(image, model_id, options):
        calls.append(model_id)
        return restorers._run(image, model_id, options)

    monkeypatch.setattr(restorers, "_run_network", recording_runner)
    monkeypatch.setitem(restorers.REGISTRY, "tiny-net", restorers.RestorerSpec(
        "tiny-net", ("denoise",), "own", "test network",
        lambda: restorers.TorchRestorer(torch.nn.Identity(), bf16=False), status_check=lambda: "ready"))
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
