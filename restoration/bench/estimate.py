"""How long a benchmark will take, before it starts: its tasks times the seconds per megapixel
that stored runs measured for each codec and model (the shipped example run, or the user's)."""

from __future__ import annotations

import functools
import statistics
import zipfile
from collections import defaultdict
from pathlib import Path

from restoration.bench import store as storelib
from restoration.codecs import archive as archivelib
from restoration.codecs import reader

DEFAULT_S_PER_MP = 0.5  # a codec or model no stored run has timed
METRICS_S_PER_MP = 0.15  # PSNR, SSIM, MS-SSIM of one row (measured: ~45 ms for 768x512)
# SSIMULACRA 2 + FLIP (with its map) + ColorVideoVDP of one row (measured: ~0.3 + 0.65 + 0.5 s for 768x512)
PERCEPTUAL_S_PER_MP = 3.7


@functools.lru_cache(maxsize=4)
def timings(db: str) -> dict[str, float]:
    """Median seconds per megapixel for each codec (encode + decode) and model (restore), from a
    stored database."""
    per: dict[str, list[float]] = defaultdict(list)
    with storelib.Store(db, create=False) as store:
        for row in store.all_rows():
            mp = (row.get("width") or 0) * (row.get("height") or 0) / 1e6
            if not mp:
                continue
            if row["kind"] == "codec" and row.get("encode_ms") is not None:
                per[row["codec"]].append((row["encode_ms"] + row["decode_ms"]) / 1000 / mp)
            elif row.get("restore_ms") is not None and row.get("model"):
                per[row["model"]].append(row["restore_ms"] / 1000 / mp)
    return {name: statistics.median(values) for name, values in per.items()}


def megapixels(paths, use_examples: bool) -> tuple[int, float]:
    """(images, megapixels) of a benchmark's inputs, from the headers alone."""
    sizes: list[tuple[int, int]] = []
    for raw in paths or ():
        path = Path(getattr(raw, "name", raw))
        if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.infolist():
                    if Path(member.filename).suffix.lower() in reader.extensions():  # a bomb's member is refused unread
                        sizes.append(reader.header_size(archivelib.head(archive, member, member.filename),
                                                        name=member.filename))
        elif path.is_file():
            sizes.append(reader.file_header_size(path))
    if use_examples:
        sizes += _example_sizes()
    return len(sizes), sum(w * h for w, h in sizes) / 1e6


@functools.cache
def _example_sizes() -> list[tuple[int, int]]:
    """(width, height) of the example set, decoded once per process (the estimate reruns on every
    change of the benchmark form)."""
    from restoration.core import examples

    return [examples.load_example(name).shape[1::-1] for name in examples.EXAMPLES]


def estimate(tasks: dict[str, int], mp: float, db: Path) -> float:
    """Seconds for ``tasks`` (codec or model name -> runs per image) over ``mp`` megapixels."""
    known = timings(str(db)) if Path(db).is_file() else {}
    return sum(count * mp * (known.get(name, DEFAULT_S_PER_MP) + METRICS_S_PER_MP) for name, count in tasks.items())
