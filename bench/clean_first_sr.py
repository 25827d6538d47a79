"""Upscaling compressed small images, with and without the restore step first:

    python bench/clean_first_sr.py [--data ../shared/data/bench/Set5,../shared/data/bench/Set14] [--quality 30]
                                   [--scale 4] [--out docs/bench_clean_first.md]

Each high-resolution image is cropped to a multiple of the scale and downscaled by the protocol
(MATLAB bicubic); that small image is saved as a JPEG at ``--quality`` (a real small image is a
compressed one). The JPEG file is then upscaled as the CLI and the app do
(``pipelines.sr.clean_first`` then ``pipelines.sr.run``) with ``--restore none`` and with
``--restore auto``, and measured against the original on Y with ``scale`` pixels shaved; the gain
is over bicubic of the same JPEG file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration import codecs  # noqa: E402
from restoration.benchmark import provenance  # noqa: E402
from restoration.core import image as imagelib  # noqa: E402
from restoration.pipelines import sr  # noqa: E402

DATA = ROOT.parent / "shared/data/bench"


def gains(paths: list[Path], scale: int, quality: int, model: str) -> dict[str, list[float]]:
    """Per image, the Y-PSNR gain over bicubic of the JPEG file, for each restore choice."""
    jpeg = codecs.get("jpeg")
    found = {"none": [], "auto": []}
    for path in paths:
        hr, lr = sr.make_lr(imagelib.load(path), scale)
        data = jpeg.encode(lr, quality=quality)
        small = jpeg.decode(data)
        grey = sr.is_grey_file(path)
        for choice in found:
            cleaned = sr.clean_first(small, choice, data)
            result = sr.run(small, model, scale, hr, grey=grey, cleaned=cleaned)
            found[choice].append(result.metrics["psnr_y"] - result.baseline["psnr_y"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=f"{DATA / 'Set5'},{DATA / 'Set14'}")
    parser.add_argument("--quality", type=int, default=30)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--model", help="the upscaler (default: the best shipped one at this scale)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = args.model or sr.default_model(args.scale)
    lines = [
        f"x{args.scale} of JPEG q{args.quality} small images by `{model}`: Y-PSNR gain (dB) over bicubic of the "
        f"same file; `{provenance.command_line('bench/clean_first_sr.py')}`, {provenance.machine_description()}",
        "",
        "| set | images | restore none | restore auto |",
        "|---|---|---|---|",
    ]
    every = {"none": [], "auto": []}
    for folder in args.data.split(","):
        paths = sorted(Path(folder).glob("*.png"))
        found = gains(paths, args.scale, args.quality, model)
        for choice, values in found.items():
            every[choice] += values
        lines.append(
            f"| {Path(folder).name} | {len(paths)} | {statistics.mean(found['none']):+.3f} | "
            f"{statistics.mean(found['auto']):+.3f} |"
        )
        print(lines[-1], flush=True)
    lines.append(
        f"| all | {len(every['none'])} | {statistics.mean(every['none']):+.3f} | "
        f"{statistics.mean(every['auto']):+.3f} |"
    )
    provenance.publish(lines, args.out)


if __name__ == "__main__":
    main()
