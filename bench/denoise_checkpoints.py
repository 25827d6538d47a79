"""Score training checkpoints of an own denoiser on McMaster / Kodak24: the quick check used to
follow a training stage (seconds per set and sigma, no self-ensemble).

    python bench/denoise_checkpoints.py CKPT.safetensors... [--model deeprecnet-denoise]
        [--sets McMaster,Kodak24] [--sigmas 15,25,50] [--scales 0.95,1,1.05] [--threads 1] [--float32] [--self-ensemble]

Noise as in bench/restore_kodak.py (degrade.Noise, seed = image index); RGB PSNR of the output
rounded to 8 bits. ``--scales``: the predicted residual (output - input) scaled by each factor
before rounding; a best factor under 1 means the model removes too much (over-smooths) there.
The architecture comes from the model's manifest entry; the checkpoints need not be exported.
Precision as the app runs it (bf16 autocast on a CPU with native bf16, else float32) unless --float32.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration import degrade, metrics
from restoration.core import image as imagelib  # noqa: E402
from restoration.models import (
    accel,  # noqa: E402
    restorers,
    runtime,
)

DATA = ROOT.parent / "shared" / "data" / "bench"


def scaled_psnrs(restorer, clean: np.ndarray, noisy: np.ndarray, scales, **options) -> dict[float, float]:
    """PSNR of noisy + s * (restored - noisy), rounded to 8 bits, for each scale s."""
    base = noisy.astype(np.float64)
    residual = restorer(imagelib.to_float(noisy), **options).astype(np.float64) * 255 - base
    return {
        s: metrics.psnr(metrics.Sample(clean, np.clip(np.round(base + s * residual), 0, 255).astype(np.uint8)))
        for s in scales
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--model", default="deeprecnet-denoise")
    parser.add_argument("--sets", default="McMaster,Kodak24")
    parser.add_argument("--sigmas", default="15,25,50")
    parser.add_argument("--scales", default="1")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--self-ensemble", action="store_true", help="average the 8 flips/rotations (8x the time)")
    parser.add_argument("--float32", action="store_true", help="no bf16 autocast even where it is fast")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    entry = restorers.own_manifest()[args.model]
    scales = [float(s) for s in args.scales.split(",")]
    sets = {name: [imagelib.load(p) for p in sorted((DATA / name).glob("*.png"))] for name in args.sets.split(",")}
    for checkpoint in args.checkpoints:
        restorer = runtime.restorer_from_weights(entry, checkpoint, bf16=not args.float32)
        for name, images in sets.items():
            for sigma in (float(s) for s in args.sigmas.split(",")):
                rows = [
                    scaled_psnrs(
                        restorer, clean, degrade.Noise(sigma, seed=i)(clean), scales, self_ensemble=args.self_ensemble
                    )
                    for i, clean in enumerate(images)
                ]
                means = {str(s): round(statistics.fmean(r[s] for r in rows), 3) for s in scales}
                print(
                    json.dumps(
                        {
                            "checkpoint": checkpoint,
                            "set": name,
                            "sigma": sigma,
                            "psnr_by_scale": means,
                            "bf16": accel.bf16_is_fast("cpu") and not args.float32,
                            "self_ensemble": args.self_ensemble,
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
