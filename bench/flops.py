"""GFLOP of our networks at the sizes the issues quote, counted by torch.utils.flop_counter:

    python bench/flops.py [--models subpixel-ca-sr-x4,deeprecnet-qa-codecs]

x4/x2 upscalers on a 256x256 input (256^2 -> 1024^2 for x4), artifact and denoising models on a
768x512 image. One multiply-add counts as 2 FLOPs (the counter's convention). Built from each
manifest entry's architecture and config, so it needs no weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from restoration.models import architectures, restorers  # noqa: E402

CONFIGS = {  # model id -> (architecture, config) for entries not trained yet
    "subpixel-ca-sr-x4": ("subpixel_sr", {"scale": 4, "width": 64, "blocks": 16, "attention": True}),
    "subpixel-ca-sr-x2": ("subpixel_sr", {"scale": 2, "width": 64, "blocks": 16, "attention": True}),
}


def gflop(model_id: str) -> tuple[float, str]:
    spec = restorers.get(model_id)
    entry = restorers.own_manifest().get(spec.weights)
    arch, config = (entry["architecture"], entry["arch_config"]) if entry else CONFIGS[model_id]
    net = architectures.build(arch, config).eval()
    size = (256, 256) if spec.scale > 1 else (512, 768)
    x = torch.rand(1, 3, *size)
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        net(x)
    return counter.get_total_flops() / 1e9, f"{size[1]}x{size[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", default="subpixel-ca-sr-x4,subpixel-ca-sr-x2,deeprecnet-qa-codecs,deeprecnet-denoise"
    )
    args = parser.parse_args()
    print("| model | input | GFLOP |\n|---|---|---|")
    for model_id in args.models.split(","):
        value, size = gflop(model_id)
        print(f"| `{model_id}` | {size} | {value:.1f} |")


if __name__ == "__main__":
    main()
