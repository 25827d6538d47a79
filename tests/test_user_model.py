"""Bring your own model: a model file spandrel recognises runs through the CLI and the pipelines
like a registered model; what it does not recognise, a pickle with code, TorchScript, a file over
the size cap, an empty file or another extension is refused in one line and nothing runs."""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import re
import warnings

import numpy as np
import pytest
import torch
from hub_checkpoints import checkpoint
from PIL import Image
from safetensors.torch import save as save_safetensors

from restoration import cli
from restoration.core.errors import UserInputError
from restoration.models import restorers, user_model


def compact(scale: int, in_ch: int = 3, seed: int = 0) -> torch.nn.Module:
    """A tiny RealESRGAN Compact (SRVGGNet): spandrel recognises it at any width and scale."""
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    return Compact(num_in_ch=in_ch, num_out_ch=in_ch, num_feat=8, num_conv=2, upscale=scale, act_type="prelu")


def pth_bytes(state) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def write_model(folder: pathlib.Path, name: str, state: dict) -> pathlib.Path:
    """The state dict as a .safetensors file or a .pth/.pt pickle (BasicSR's ``params`` container)."""
    path = folder / name
    if name.endswith(".safetensors"):
        path.write_bytes(save_safetensors({k: v.contiguous() for k, v in state.items()}))
    else:
        path.write_bytes(pth_bytes({"params": state}))
    return path


@pytest.fixture
def image_png(tmp_path) -> pathlib.Path:
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(0, 256, (5, 6, 3)), np.ones((4, 4, 1))).astype(np.uint8)  # 24x20
    path = tmp_path / "in.png"
    Image.fromarray(smooth).save(path)
    return path


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([*map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_inspect_names_architecture_scale_params_and_sha256(tmp_path):
    net = compact(2)
    path = write_model(tmp_path, "mine.safetensors", net.state_dict())
    model = user_model.inspect(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (model.architecture, model.architecture_id, model.scale) == ("RealESRGAN Compact", "Compact", 2)
    assert model.params == sum(p.numel() for p in net.parameters()) == 2292
    assert (model.sha256, model.size_bytes, model.name, model.tasks) == (
        sha,
        path.stat().st_size,
        "mine.safetensors",
        ("sr",),
    )
    assert model.id == f"user:{sha[:12]}"
    assert model.describe() == f"RealESRGAN Compact x2, 2.3k parameters, sha256 {sha[:8]}…"
    assert json.loads(json.dumps(model.row()))["sha256"] == sha
    # Run through the registry like any model, keyed by the file's sha256 (benchmark rows), yet never
    # listed among the registry's models (one person's upload is not another's choice).
    spec = restorers.get(model.id)
    assert (spec.source, spec.scale, spec.sha256(), spec.status()) == ("user", 2, sha, "ready")
    from restoration.benchmark.provenance import model_sha256

    assert model_sha256(model.id) == sha
    assert model.id not in restorers.REGISTRY and model.id not in [s.id for s in restorers.ready("sr", 2)]
    # The same weights as a .pth pickle and as uploaded bytes: the same network, a scale-1 one a restorer.
    again = user_model.inspect(pth_bytes({"params_ema": net.state_dict()}), name="mine.pth")
    assert (again.architecture, again.scale, again.params, again.path) == (model.architecture, 2, model.params, None)
    x1 = user_model.inspect(pth_bytes({**compact(1).state_dict(), "epoch": 12}), name="x1.pth")  # counters ignored
    assert (x1.scale, x1.tasks) == (1, ("jpeg", "denoise", "combined"))
    with pytest.raises(UserInputError, match="is an uploaded file no longer known here"):
        restorers.get("user:000000000000")


def test_a_hub_layout_checkpoint_is_recognised(tmp_path):
    """The real file layout of a published model (tests/hub_checkpoints.py: Real-ESRGAN general x4v3)."""
    data, scale = checkpoint("realesr-general-x4v3")
    model = user_model.inspect(data, name="realesr-general-x4v3.pth")
    assert (model.architecture_id, model.scale, scale) == ("Compact", 4, 4)
    assert model.describe().startswith("RealESRGAN Compact x4, 1.2M parameters, sha256 ")


@pytest.mark.parametrize("name", ["mine.safetensors", "mine.pth", "mine.pt"])
def test_cli_restore_runs_the_file(capsys, tmp_path, image_png, name, monkeypatch):
    monkeypatch.setenv("RESTORATION_BF16", "0")
    net = compact(1, seed=3)
    path = write_model(tmp_path, name, net.state_dict())
    code, out, err = run(capsys, "restore", image_png, "--model-file", path, "--out-dir", tmp_path / "out", "--json")
    assert code == 0, err
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert f"model: RealESRGAN Compact x1, 1.6k parameters, sha256 {sha[:8]}…" in err.splitlines()
    row = json.loads(out.splitlines()[0])
    assert row["model"] == f"user:{sha[:12]}"
    restored = np.asarray(Image.open(row["file"]))
    assert pathlib.Path(row["file"]).name == f"in_user-{sha[:12]}.png"
    # The file's own weights ran: the network itself gives the same pixels.
    source = np.asarray(Image.open(image_png)).astype(np.float32) / 255
    with torch.inference_mode():
        expected = net.eval()(torch.from_numpy(source).permute(2, 0, 1)[None])[0].permute(1, 2, 0).clamp(0, 1)
    assert restored.shape == source.shape
    assert np.abs(restored.astype(int) - np.round(expected.numpy() * 255).astype(int)).max() <= 1


@pytest.mark.parametrize("name", ["mine.safetensors", "mine.pth"])
@pytest.mark.slow
def test_cli_upscale_takes_the_scale_from_the_file(capsys, tmp_path, image_png, name):
    path = write_model(tmp_path, name, compact(2).state_dict())
    code, out, err = run(capsys, "upscale", image_png, "--model-file", path, "--out-dir", tmp_path / "out", "--json")
    assert code == 0, err
    assert re.search(r"^model: RealESRGAN Compact x2, 2\.3k parameters, sha256 [0-9a-f]{8}…$", err, re.MULTILINE)
    row = json.loads(out.splitlines()[0])
    assert (row["scale"], row["width"], row["height"]) == (2, 48, 40)
    assert Image.open(row["file"]).size == (48, 40)
    # Measured by the SR protocol like any upscaler (LR made from the image itself).
    code, out, err = run(
        capsys,
        "upscale",
        image_png,
        "--model-file",
        path,
        "--scale",
        "2",
        "--from-hr",
        "--out-dir",
        tmp_path / "hr",
        "--json",
    )
    assert code == 0 and "psnr_y" in json.loads(out), err


@pytest.mark.parametrize(
    "command, scale, args, message",
    [
        ("upscale", 2, ["--scale", "4"], "mine.pth upscales x2, not x4 (the scale comes from the file)"),
        ("upscale", 1, [], "RealESRGAN Compact at x1 restores without upscaling"),
        ("restore", 2, [], "RealESRGAN Compact upscales x2; run it as an upscaler"),
        ("restore", 1, ["--model", "bilateral"], "give --model or --model-file, not both"),
    ],
)
def test_cli_refuses_a_file_that_does_not_fit_the_command(capsys, tmp_path, image_png, command, scale, args, message):
    path = write_model(tmp_path, "mine.pth", compact(scale).state_dict())
    code, out, err = run(capsys, command, image_png, "--model-file", path, *args, "--out-dir", tmp_path / "out")
    assert message in one_error_line(code, err) and out == ""
    assert not (tmp_path / "out").exists()


def test_unknown_architecture_is_one_line_and_runs_nothing(capsys, tmp_path, image_png):
    path = tmp_path / "odd.safetensors"
    path.write_bytes(save_safetensors({"encoder.weight": torch.zeros(4, 3), "decoder.bias": torch.zeros(4)}))
    code, out, err = run(capsys, "restore", image_png, "--model-file", path, "--out-dir", tmp_path / "out")
    assert one_error_line(code, err) == "error: odd.safetensors: spandrel does not recognise this file's architecture"
    assert out == "" and not (tmp_path / "out").exists()


class Payload:
    """Unpickling this calls Path(marker).touch(): what a malicious .pth would do, harmlessly."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.mark.parametrize("name", ["evil.pth", "evil.pt"])
@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
def test_a_pickle_with_code_is_refused_without_running(capsys, tmp_path, image_png, name, zipfile):
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({**compact(1).state_dict(), "evil": Payload(marker)}, buffer, _use_new_zipfile_serialization=zipfile)
    path = tmp_path / name
    path.write_bytes(buffer.getvalue())
    code, out, err = run(capsys, "restore", image_png, "--model-file", path, "--out-dir", tmp_path / "out")
    line = one_error_line(code, err)
    assert line.startswith(f"error: {name}: refused, nothing run: unpickling it would call "), line
    assert not marker.exists(), "the checkpoint's code ran"
    assert out == "" and not (tmp_path / "out").exists()
    # The payload is live: an unrestricted unpickler does run it, so the refusal above is the guard.
    torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
    assert marker.exists()


def test_torchscript_is_refused(tmp_path):
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # torch.jit is deprecated: still what a .pt file often holds
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(compact(1), torch.zeros(1, 3, 8, 8)), buffer)
    with pytest.raises(UserInputError, match=r"^scripted\.pt: a TorchScript archive \(a program, not weights\)"):
        user_model.inspect(buffer.getvalue(), name="scripted.pt")


def test_oversize_is_refused_before_reading(capsys, tmp_path, image_png, monkeypatch):
    path = write_model(tmp_path, "big.safetensors", compact(1).state_dict())
    monkeypatch.setenv("RESTORATION_MAX_MODEL_MB", "0.001")
    monkeypatch.setattr(user_model, "_state_dict", lambda *_: pytest.fail("the file was loaded"))
    code, out, err = run(capsys, "restore", image_png, "--model-file", path, "--out-dir", tmp_path / "out")
    size = path.stat().st_size / 1e6
    assert one_error_line(code, err) == (
        f"error: big.safetensors: {size:.1f} MB is over the 0.001 MB limit for model files (RESTORATION_MAX_MODEL_MB)"
    )
    assert out == "" and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("empty.pth", b"", "empty.pth: the file is empty"),
        ("model.onnx", b"onnx", "model.onnx: a model file is .safetensors, .pth or .pt"),
        ("model.ckpt", b"ckpt", "model.ckpt: a model file is .safetensors, .pth or .pt"),
        ("junk.safetensors", b"not a safetensors file", "junk.safetensors: not a readable safetensors file"),
        ("junk.pth", b"\x80\x02not a checkpoint", "junk.pth: "),
        ("list.pth", pth_bytes([torch.zeros(2)]), "list.pth: holds a list, not a state dict of named tensors"),
        ("counters.pth", pth_bytes({"epoch": 3, "step": 10}), "counters.pth: holds no tensors (no network weights)"),
    ],
)
def test_bad_files_are_one_line(capsys, tmp_path, image_png, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    code, _, err = run(capsys, "upscale", image_png, "--model-file", path, "--out-dir", tmp_path / "out")
    assert one_error_line(code, err).startswith(f"error: {message}")


def test_a_greyscale_network_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="takes 1 and gives 1 channels; the lab runs RGB models"):
        user_model.inspect(pth_bytes(compact(1, in_ch=1).state_dict()), name="grey.pth")


def test_pipelines_run_it_by_id_and_reload_it_once_evicted(tmp_path, image_png, monkeypatch):
    """What the app does: inspect the upload, show ``describe()``, pass ``id`` with the chosen models."""
    from restoration.core import image as imagelib
    from restoration.pipelines import restore as restorelib
    from restoration.pipelines import sr

    x1 = user_model.inspect(write_model(tmp_path, "x1.safetensors", compact(1, seed=5).state_dict()))
    image = imagelib.load(image_png)
    run_ = restorelib.restore_image(image, [x1.id, "bilateral"], image)
    assert [r.model for r in run_.results] == [x1.id, "bilateral"] and not run_.failures
    x2 = user_model.inspect(write_model(tmp_path, "x2.safetensors", compact(2, seed=5).state_dict()))
    assert sr.run(image, x2.id, x2.scale).image.shape == (40, 48, 3)
    # Evicted from memory (here: the registry's cache too): read again from its file, sha256 checked.
    monkeypatch.setattr(user_model, "_runners", type(user_model._runners)())
    restorers._instance.cache_clear()
    assert sr.run(image, x2.id, 2).image.shape == (40, 48, 3)
    user_model._runners.clear()
    restorers._instance.cache_clear()
    (tmp_path / "x2.safetensors").write_bytes(
        save_safetensors({k: v.contiguous() for k, v in compact(2, seed=6).state_dict().items()})
    )
    with pytest.raises(UserInputError, match=r"x2\.safetensors changed since it was inspected"):
        sr.run(image, x2.id, 2)
