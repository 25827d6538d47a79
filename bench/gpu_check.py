"""Each of our networks on a GPU, in float32 and under bf16 autocast: seconds on a large image,
tiled as the app tiles it, and PSNR on the pack's validation crops; without gradio or any codec,
so it runs on the device machine after the sprint (docs/models.md, "GPU sprint"):

    python bench/gpu_check.py --out gpu_check.json [--pack packs] [--models a,b] [--size 2048x1536]
                              [--device cuda] [--repeats 3]

``--size`` is the output's: an SR network gets the input that many pixels over its scale. The
image is noise (the time does not depend on the content); the PSNR inputs are the pack's
validation crops: the artifact models' compressed crops (told everything), the upscalers' LR
crops, and for the denoisers the clean crops with Gaussian noise of sigma 25 (fixed seed).
``bf16_vs_float32_db`` is the PSNR between the two precisions' outputs on the large image.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration.core import manifest as manifestlib
from restoration.models import architectures, storage, tiling
from restoration.training.sprint import ARTIFACT_SAMPLERS, Pack, to_input

PRECISIONS = {"float32": None, "bf16": torch.bfloat16}
NOISE_SIGMA = 25.0


def load(model_id: str, device: torch.device):
    path, entry = manifestlib.verified_file("own", model_id)
    module = architectures.build(entry["architecture"], entry["arch_config"])
    module.load_state_dict(storage.load_state(path))
    return module.to(device).to(memory_format=torch.channels_last).eval(), entry


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_run(module, image: np.ndarray, scale: int, dtype, device: torch.device, repeats: int):
    """(median seconds of ``repeats`` tiled runs after one warm-up, the output): the app's tiling
    (512-px tiles, 32-px overlap), each tile to the device and back."""

    def tile(t):
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            return module(t.to(device).contiguous(memory_format=torch.channels_last)).float().cpu()

    times, output = [], None
    with torch.inference_mode():
        for _ in range(repeats + 1):
            synchronize(device)
            start = time.perf_counter()
            output = tiling.run_tiled_uint8(tile, image, scale, module.size_multiple, 512, 32)
            synchronize(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), output


def psnr(reference: torch.Tensor, output: torch.Tensor) -> float:
    """Mean over images of the RGB PSNR of uint8-rounded outputs (N, 3, H, W) in [0, 255]."""
    mse = (reference.float() - output.float()).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return float((10 * torch.log10(255.0**2 / mse)).mean())


def validation_inputs(entry: dict, pack: Pack) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """(the network's input crops, what it is told or None, what the input is)."""
    scale = int(entry.get("scale", 1))
    if scale > 1:
        return to_input(pack.val_lr[scale]), None, f"MATLAB-bicubic LR x{scale}"
    if entry.get("sampler") in ARTIFACT_SAMPLERS:
        told = pack.val_told if entry["arch_config"].get("conditioned") else None
        return to_input(pack.val_degraded), told, "compressed crops (the sprint's validation)"
    generator = torch.Generator(device=pack.val_clean.device).manual_seed(0)
    clean = pack.val_clean.permute(0, 3, 1, 2).float()
    noise = torch.randn(clean.shape, device=clean.device, generator=generator) * NOISE_SIGMA
    noisy = (clean + noise).round().clamp(0, 255).div(255)
    return noisy.contiguous(memory_format=torch.channels_last), None, f"Gaussian noise sigma {NOISE_SIGMA:g}"


@torch.inference_mode()
def validation_psnr(module, entry: dict, pack: Pack, dtype) -> tuple[float, str]:
    inputs, told, what = validation_inputs(entry, pack)
    with torch.autocast(inputs.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        output = module(inputs, told) if told is not None else module(inputs)
    rounded = output.float().clamp(0, 1).mul(255).round()
    return round(psnr(pack.val_clean.permute(0, 3, 1, 2), rounded), 4), what


def check(model_id: str, device: torch.device, size: tuple[int, int], pack: Pack | None, repeats: int) -> dict:
    module, entry = load(model_id, device)
    scale = int(entry.get("scale", 1))
    image = np.random.default_rng(0).integers(0, 256, (size[1] // scale, size[0] // scale, 3), dtype=np.uint8)
    record, outputs = {"params": sum(p.numel() for p in module.parameters()), "scale": scale}, {}
    for name, dtype in PRECISIONS.items():
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        seconds, outputs[name] = timed_run(module, image, scale, dtype, device, repeats)
        record[name] = {
            "seconds": round(seconds, 4),
            "output_megapixels_per_s": round(size[0] * size[1] / seconds / 1e6, 2),
        }
        if device.type == "cuda":
            record[name]["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        if pack is not None:
            record[name]["val_psnr"], record["val_input"] = validation_psnr(module, entry, pack, dtype)
    pair = [torch.from_numpy(outputs[name]).permute(2, 0, 1)[None] for name in PRECISIONS]
    record["bf16_vs_float32_db"] = round(psnr(*pair), 2)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--pack", type=Path, default=ROOT / "packs", help="validation crops (skipped if absent)")
    parser.add_argument("--models", help="manifest keys, comma-separated (default: every own network)")
    parser.add_argument("--size", default="2048x1536", help="output WxH")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    pack = Pack(args.pack, device) if (args.pack / "pack.json").is_file() else None
    models = args.models.split(",") if args.models else list(manifestlib.section("own"))
    begun = time.time()
    report = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "size": list(size),
        "repeats": args.repeats,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "models": {},
    }
    for model_id in models:
        report["models"][model_id] = check(model_id, device, size, pack, args.repeats)
        print(model_id, json.dumps(report["models"][model_id]), flush=True)
    report["seconds"] = round(time.time() - begun, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
