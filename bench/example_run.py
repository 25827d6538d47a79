"""Make the example benchmark run the Dashboards tab opens on in a fresh clone:

    python bench/example_run.py            # writes restoration/benchmark/example_bench.sqlite (~2 minutes)

The lab's eight example images (scikit-image's data: no image file ships in the repository) x
JPEG, WebP, AVIF, JPEG XL and JPEG 2000 at four qualities, each also restored by the default
artifact model, and x4 super-resolution by bicubic and our default network. Rows are real
measurements made on the machine that ran this command (its provenance is stored with the run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restoration.benchmark import inputs, runner  # noqa: E402
from restoration.lab.dashboards import EXAMPLE_DB  # noqa: E402
from restoration.pipelines import sr  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=EXAMPLE_DB)
    args = parser.parse_args()
    args.out.unlink(missing_ok=True)
    images = inputs.collect(examples=True)
    config = runner.BenchConfig(
        codecs=("jpeg", "webp", "avif", "jpegxl", "jpeg2000"),
        qualities=(20, 40, 60, 80),
        models=("default",),
        sr_scale=4,
        sr_models=(sr.default_model(4),),
    ).checked()
    result = runner.bench(images, config, args.out, workers=1)
    print(result.describe())
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
