"""Shared fixtures: small, fixed test images from scikit-image (no dataset, no network).

Image fixtures are session-scoped and returned read-only, so no test can change another's input.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image


@pytest.fixture(autouse=True, scope="session")
def _private_state(tmp_path_factory):
    """Nothing a test does lands outside temporary folders: the Hub trust file and the lab's
    scratch folders go to a session folder."""
    import os

    folder = tmp_path_factory.mktemp("lab-state")
    saved = {k: os.environ.get(k) for k in ("RESTORATION_HUB_TRUST", "RESTORATION_TMP")}
    os.environ["RESTORATION_HUB_TRUST"] = str(folder / "hub-trust.json")
    os.environ["RESTORATION_TMP"] = str(folder / "scratch")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    array.setflags(write=False)
    return array


@pytest.fixture(scope="session")
def astro():
    """The full astronaut, 512x512 RGB."""
    return _frozen(skimage.data.astronaut())


@pytest.fixture(scope="session")
def astro128():
    """A 128x128 crop of the astronaut's face (detail, skin, hair)."""
    return _frozen(skimage.data.astronaut()[40:168, 160:288])


@pytest.fixture(scope="session")
def astro256():
    """A 256x256 central crop of the astronaut (big enough for MS-SSIM, small enough for AVIF)."""
    return _frozen(skimage.data.astronaut()[128:384, 128:384])


@pytest.fixture(scope="session")
def chelsea():
    """The cat, 300x451 (odd width)."""
    return _frozen(skimage.data.chelsea())


@pytest.fixture(scope="session")
def coffee():
    """The coffee cup, 400x600."""
    return _frozen(skimage.data.coffee())


@pytest.fixture(scope="session")
def noise64():
    """Uniform random noise: the worst case for every codec, and a strict lossless check."""
    return _frozen(np.random.default_rng(1234).integers(0, 256, (64, 64, 3), dtype=np.uint8))


@pytest.fixture(scope="session")
def odd_image():
    """37x53: odd on both sides (chroma subsampling, wavelet and block edges)."""
    return _frozen(skimage.data.coffee()[100:137, 200:253])


def encode_pil(pil: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    pil.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.fixture()
def write_image(tmp_path):
    """write_image(array_or_pil, name="x.png", **save_kwargs) -> Path inside tmp_path."""

    def write(image, name: str = "image.png", **kwargs) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
        pil.save(path, **kwargs)
        return path

    return write


def codec_params(names, slow=()):
    """pytest params for codec names; a codec whose weights are not trained yet is skipped, and
    those in ``slow`` (seconds per case: x265, the learned codecs' search) leave the fast tier."""
    from restoration import codecs

    return [
        pytest.param(
            name,
            marks=[
                pytest.mark.skipif(
                    codecs.CODECS[name].unavailable_reason() is not None,
                    reason=str(codecs.CODECS[name].unavailable_reason()),
                ),
                *([pytest.mark.slow] if name in slow else []),
            ],
        )
        for name in names
    ]


def rd_losses(net, size: int, steps: int = 30) -> list[float]:
    """A learned codec's rate-distortion loss over ``steps`` Adam steps on one fixed batch of two
    size x size images at two rate points, with the same noise draw each step (so the loss change
    is the update's)."""
    import torch

    from restoration.training import codec as nct

    batch = torch.rand(2, 3, size, size)
    lambdas, points = torch.tensor([0.01, 0.05]), torch.tensor([0, 1])
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        torch.manual_seed(1)
        loss, _, _ = nct.rd_loss(net, batch, lambdas, points)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def load_bench_script(filename: str):
    """A script of bench/ (not a package) imported as a module, for its functions."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "bench" / filename
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
