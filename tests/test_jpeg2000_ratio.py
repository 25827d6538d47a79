"""JPEG 2000's strength read from a file: the ratio of its tiles without the headers, the same
for a small patch and a photo at the same setting (the file's own ratio is not)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from restoration import degrade
from restoration.codecs import get as get_codec
from restoration.codecs import jpeg2000_ratio
from restoration.training import data


def photo_like(size: int) -> np.ndarray:
    """Smooth structure plus texture: compresses like a photo, not like noise or a flat field."""
    y, x = np.mgrid[0:size, 0:size] / size
    rng = np.random.default_rng(0)
    base = np.stack([np.sin(6 * x + c) * np.cos(5 * y - c) for c in range(3)], axis=2)
    return np.clip(127 + 90 * base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def test_a_large_file_has_about_its_ratio_and_a_small_one_far_more_in_its_tiles():
    codec = get_codec("jpeg2000")
    large = codec.encode(photo_like(512), rate=40)
    assert jpeg2000_ratio.raw_bytes(large) == 512 * 512 * 3
    assert jpeg2000_ratio.code_stream_ratio(large) == pytest.approx(40, rel=0.1)
    small = codec.encode(photo_like(96), rate=40)
    header = jpeg2000_ratio.header_bytes(small)
    assert 100 < header < 400 and header == jpeg2000_ratio.header_bytes(large)
    assert jpeg2000_ratio.code_stream_ratio(small) > 1.4 * 96 * 96 * 3 / len(small)


def test_grey_files_count_one_sample_a_pixel_and_other_bytes_are_not_read():
    grey = io.BytesIO()
    Image.fromarray(photo_like(512)[..., 0]).save(grey, "JPEG2000", quality_mode="rates", quality_layers=[20])
    assert jpeg2000_ratio.raw_bytes(grey.getvalue()) == 512 * 512
    assert jpeg2000_ratio.code_stream_ratio(grey.getvalue()) == pytest.approx(20, rel=0.1)
    png = get_codec("png").encode(photo_like(32))
    truncated = get_codec("jpeg2000").encode(photo_like(32), rate=10)[:60]
    assert jpeg2000_ratio.code_stream_ratio(png) is None and jpeg2000_ratio.code_stream_ratio(truncated) is None


@pytest.mark.parametrize("rate", [40, 80, 160])
def test_training_patches_carry_their_ratio_in_their_tiles(rate):
    patch = photo_like(96)
    _, tiled = data.CodeStreamRatio("jpeg2000", {"rate": rate}).encode(patch)
    assert jpeg2000_ratio.code_stream_ratio(tiled) == pytest.approx(rate, rel=0.15)
    _, filed = degrade.Compress("jpeg2000", {"rate": rate}).encode(patch)
    # what stage 1 trained on: the file at that ratio, heavier in its tiles
    assert jpeg2000_ratio.code_stream_ratio(filed) > 1.15 * jpeg2000_ratio.code_stream_ratio(tiled)
