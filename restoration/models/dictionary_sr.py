"""Learned example-based super-resolution from before CNNs, the baselines of the SRCNN paper:

- ``sparse-sr-x2/x4``: sparse coding over coupled LR/HR patch dictionaries (Yang et al. 2010,
  "Image super-resolution via sparse representation"), with the refinements of Zeyde et al.
  2010 ("On single image scale-up using sparse-representations"): LR features are PCA-reduced,
  codes come from OMP, and the HR dictionary is fitted to the codes by least squares.
- neighbour embedding (Chang, Yeung & Xiong 2004): the K nearest training LR features,
  locally-linear-embedding weights, the same weights over their HR patches. Its dictionaries
  (``ne-sr-x2/x4``) are retired, not listed: sparse coding scores as well on Set5 and Set14 and
  runs 7-14x faster from 13-21x fewer bytes (docs/models.md, "Retired models").

Both work on BT.601 luma only; the chroma is the bicubic upscale, as in those papers. The input
is first enlarged by MATLAB bicubic (the "mid" image); an LR feature is the first- and
second-order gradients of a mid patch (filters [1 0 -1] and [1 0 -2 0 1]/2, dilated by the
scale, as Zeyde et al.); the HR target is the HR patch minus the mid patch (``residual``) or
minus its own mean (``mean``, Yang's formulation). Overlapping patch estimates are averaged.
Optional back-projection (Irani & Peleg 1991, used by Yang) then makes the result downscale
back to the input exactly, with the known MATLAB-bicubic operator.

Models are small ``.npz`` files of float16 arrays (no pickle) in weights/, recorded with their
sha256 in weights/manifest.json, section "dictionaries"; learning is in ``dictionary_learn``.
Only numpy and scipy are needed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import correlate1d

from restoration.core import manifest as manifestlib
from restoration.core import resize
from restoration.core.errors import UserInputError
from restoration.models.spec import RestorerSpec, Source

WEIGHTS_DIR = manifestlib.WEIGHTS_DIR
MANIFEST = manifestlib.PATH
SECTION = "dictionaries"
MODELS = {  # id -> (method, scale, description)
    "sparse-sr-x2": (
        "sparse",
        2,
        "Sparse-coding SR x2: coupled LR/HR dictionaries, OMP codes (Yang et al. 2010; Zeyde et al. 2010)",
    ),
    "sparse-sr-x4": (
        "sparse",
        4,
        "Sparse-coding SR x4: coupled LR/HR dictionaries, OMP codes (Yang et al. 2010; Zeyde et al. 2010)",
    ),
}
# BT.601 as MATLAB's rgb2ycbcr, on 0-255 values: ycc = OFFSET + MATRIX @ rgb / 255.
_MATRIX = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255.0
_OFFSET = np.array([16.0, 128.0, 128.0])
_Y_TO_RGB = np.linalg.inv(_MATRIX)[:, 0]  # how one unit of Y moves R, G, B at fixed Cb, Cr
CHUNK = 8192  # patches per step: bounds memory (the NE distance block is CHUNK x training size)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 Y (16-235) of an RGB array on the 0-255 scale, in float64."""
    return _OFFSET[0] + np.asarray(rgb, dtype=np.float64) @ _MATRIX[0]


def mid_image(lr_rgb: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic enlargement in float (unrounded): the starting point of both methods."""
    return resize.imresize(np.asarray(lr_rgb, dtype=np.float64), float(scale), "bicubic")


def gradient_features(mid_y: np.ndarray, scale: int) -> np.ndarray:
    """(H, W, 4): horizontal/vertical first and second derivatives, filters dilated by the scale
    so that they measure structure at the LR sampling step."""
    gap = [0.0] * (scale - 1)
    first = np.array([1.0, *gap, -1.0])
    second = np.array([1.0, *gap, -2.0, *gap, 1.0]) / 2.0
    return np.stack(
        [
            correlate1d(mid_y, first, axis=1, mode="reflect"),
            correlate1d(mid_y, first, axis=0, mode="reflect"),
            correlate1d(mid_y, second, axis=1, mode="reflect"),
            correlate1d(mid_y, second, axis=0, mode="reflect"),
        ],
        axis=-1,
    ).astype(np.float32)


def grid(length: int, patch: int, stride: int) -> np.ndarray:
    """Patch origins every ``stride``, plus one flush with the end so the image is covered."""
    if length < patch:
        raise UserInputError(f"the image is smaller than one {patch}x{patch} patch after upscaling")
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return np.array(starts)


def patches(array: np.ndarray, ys: np.ndarray, xs: np.ndarray, patch: int) -> np.ndarray:
    """(len(ys) * len(xs), patch*patch*C) rows of an (H, W) or (H, W, C) array, row-major origins."""
    windows = sliding_window_view(array, (patch, patch), axis=(0, 1))  # (H', W', [C,] p, p)
    picked = windows[ys][:, xs]
    return picked.reshape(len(ys) * len(xs), -1)


def overlap_average(rows: np.ndarray, ys: np.ndarray, xs: np.ndarray, patch: int, shape) -> np.ndarray:
    """Put (n, patch*patch) estimates back at their origins and average where they overlap."""
    total = np.zeros(shape)
    count = np.zeros(shape)
    block = rows.reshape(len(ys), len(xs), patch, patch)
    for dy in range(patch):  # patch*patch strided additions instead of one per patch
        for dx in range(patch):
            total[np.ix_(ys + dy, xs + dx)] += block[:, :, dy, dx]
            count[np.ix_(ys + dy, xs + dx)] += 1
    return total / count


def batch_omp(dictionary: np.ndarray, signals: np.ndarray, sparsity: int) -> tuple[np.ndarray, np.ndarray]:
    """Orthogonal matching pursuit for many signals at once. ``dictionary``: (atoms, d) with unit
    rows; ``signals``: (n, d). Returns (support (n, L) atom indices, coefficients (n, L))."""
    d = dictionary.astype(np.float32)
    x = signals.astype(np.float32)
    n = len(x)
    support = np.zeros((n, sparsity), dtype=np.int64)
    coef = np.zeros((n, 0), dtype=np.float32)
    residual = x
    for step in range(sparsity):
        correlation = np.abs(residual @ d.T)
        if step:  # an atom already chosen is orthogonal to the residual; never pick it twice
            np.put_along_axis(correlation, support[:, :step], -1.0, axis=1)
        support[:, step] = correlation.argmax(axis=1)
        atoms = d[support[:, : step + 1]]  # (n, s, d)
        gram = atoms @ atoms.transpose(0, 2, 1) + 1e-6 * np.eye(step + 1, dtype=np.float32)
        coef = np.linalg.solve(gram, (atoms @ x[:, :, None]))[..., 0]
        residual = x - np.einsum("ns,nsd->nd", coef, atoms)
    return support, coef


def lle_weights(query: np.ndarray, neighbours: np.ndarray, regulariser: float = 1e-3) -> np.ndarray:
    """Chang et al.'s weights: min |q - sum w_i n_i|^2 with sum w_i = 1, per query.
    ``query`` (n, d), ``neighbours`` (n, K, d) -> (n, K). The local Gram matrix is regularised by
    a fraction of its trace, because K neighbours can be nearly collinear."""
    diff = query[:, None, :] - neighbours
    gram = diff @ diff.transpose(0, 2, 1)
    k = gram.shape[-1]
    trace = np.trace(gram, axis1=1, axis2=2)[:, None, None]
    gram = gram + (regulariser * trace + 1e-8) * np.eye(k)
    w = np.linalg.solve(gram, np.ones((len(query), k, 1)))[..., 0]
    return w / w.sum(axis=1, keepdims=True)


@dataclass
class DictionaryModel:
    """One learned model, as stored in its .npz (float16 arrays are cast to float32 here)."""

    method: str  # "sparse" | "ne"
    scale: int
    patch: int  # HR patch side
    stride: int  # HR step between patch origins
    target: str  # "residual" | "mean"
    pca: np.ndarray  # (4*patch*patch, k) projection of the gradient features
    lr: np.ndarray  # sparse: LR dictionary (atoms, k), unit rows; ne: training LR features (N, k)
    hr: np.ndarray  # sparse: HR dictionary (atoms, patch*patch); ne: training HR targets (N, patch*patch)
    neighbours: int = 0  # ne: K; sparse: OMP sparsity
    backprojection: int = 0  # iterations after the patch step

    @classmethod
    def load(cls, path: Path) -> "DictionaryModel":
        with np.load(path, allow_pickle=False) as data:
            scalars = {
                k: data[k].item()
                for k in ("method", "scale", "patch", "stride", "target", "neighbours", "backprojection")
            }
            arrays = {k: data[k].astype(np.float32) for k in ("pca", "lr", "hr")}
        return cls(**{**scalars, **arrays})

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            method=np.str_(self.method),
            scale=np.int64(self.scale),
            patch=np.int64(self.patch),
            stride=np.int64(self.stride),
            target=np.str_(self.target),
            neighbours=np.int64(self.neighbours),
            backprojection=np.int64(self.backprojection),
            pca=self.pca.astype(np.float16),
            lr=self.lr.astype(np.float16),
            hr=self.hr.astype(np.float16),
        )

    def predict(self, features: np.ndarray) -> np.ndarray:
        """HR targets (n, patch*patch) for PCA-reduced LR features (n, k)."""
        if self.method == "sparse":
            support, coef = batch_omp(self.lr, features, self.neighbours)
            return np.einsum("ns,nsd->nd", coef, self.hr[support])
        lr_sq = (self.lr**2).sum(axis=1)
        distances = lr_sq[None, :] - 2.0 * (features @ self.lr.T)  # + |q|^2, the same for every row
        nearest = np.argpartition(distances, self.neighbours, axis=1)[:, : self.neighbours]
        weights = lle_weights(features.astype(np.float64), self.lr[nearest].astype(np.float64))
        return np.einsum("nk,nkd->nd", weights, self.hr[nearest].astype(np.float64))

    def upscale_y(self, mid_y: np.ndarray, lr_y: np.ndarray | None = None) -> np.ndarray:
        """The HR luma from the bicubic ``mid_y``; ``lr_y`` (the input's luma) enables back-projection."""
        features = gradient_features(mid_y, self.scale)
        ys, xs = grid(mid_y.shape[0], self.patch, self.stride), grid(mid_y.shape[1], self.patch, self.stride)
        rows_per_chunk = max(1, CHUNK // len(xs))
        estimates = []
        for start in range(0, len(ys), rows_per_chunk):
            band = ys[start : start + rows_per_chunk]
            reduced = patches(features, band, xs, self.patch) @ self.pca
            base = patches(mid_y, band, xs, self.patch)
            if self.target == "mean":
                base = np.repeat(base.mean(axis=1, keepdims=True), base.shape[1], axis=1)
            estimates.append(base + self.predict(reduced))
        hr_y = overlap_average(np.concatenate(estimates), ys, xs, self.patch, mid_y.shape)
        if lr_y is not None:
            hr_y = back_project(hr_y, lr_y, self.scale, self.backprojection)
        return hr_y

    def __call__(self, image: np.ndarray, **_) -> np.ndarray:
        """The common restorer call: float HxWx3 in [0, 1] (from uint8) -> float (sH)x(sW)x3."""
        lr = np.asarray(image, dtype=np.float64) * 255.0
        mid = mid_image(lr, self.scale)
        mid_y = luma(mid)
        hr_y = self.upscale_y(mid_y, luma(lr))
        # Y is affine in RGB: changing Y alone at fixed Cb, Cr moves RGB along one fixed vector.
        out = mid + (hr_y - mid_y)[..., None] * _Y_TO_RGB
        return np.clip(out / 255.0, 0.0, 1.0).astype(np.float32)


def back_project(hr_y: np.ndarray, lr_y: np.ndarray, scale: int, iterations: int) -> np.ndarray:
    """x <- x + up(lr - down(x)), with the exact MATLAB-bicubic operators of the protocol."""
    for _ in range(iterations):
        error = lr_y - resize.imresize(hr_y, 1.0 / scale, "bicubic")
        hr_y = hr_y + resize.imresize(error, float(scale), "bicubic")
    return hr_y


# --- the manifest section and the registry entries ---------------------------------------------


def manifest_entries(path: Path | None = None) -> dict:
    return manifestlib.section(SECTION, path or MANIFEST)


@lru_cache(maxsize=16)
def _sha256_cached(path: str, mtime_ns: int, size: int) -> str:
    return manifestlib.sha256_of(Path(path))  # keyed on mtime and size: a rewritten file is hashed again


def verified_path(model_id: str) -> tuple[Path | None, str]:
    """(the model file, 'ready') or (None, why not)."""
    entry = manifest_entries().get(model_id)
    if entry is None:
        return None, "dictionary not learned yet"
    path = WEIGHTS_DIR / entry["file"]
    if not path.is_file():
        return None, "dictionary not learned yet"
    stat = path.stat()
    if _sha256_cached(str(path), stat.st_mtime_ns, stat.st_size) != entry["sha256"]:
        return None, "file fails its sha256 check"
    return path, "ready"


def load(model_id: str) -> DictionaryModel:
    path, why = verified_path(model_id)
    if path is None:
        raise UserInputError(f"{model_id}: {why} (see notebooks/dictionary_sr.ipynb)")
    return DictionaryModel.load(path)


class DictionarySource(Source):
    """A learned dictionary: its .npz file and record in the manifest's "dictionaries" section,
    run on the CPU (numpy and scipy), listed among the classical methods it extends."""

    name = "classical"
    gpu = False

    def __init__(self, model_id: str):
        self.weights = model_id

    def status(self) -> str:
        return verified_path(self.weights)[1]

    def sha256(self) -> str | None:
        return manifest_entries().get(self.weights, {}).get("sha256")

    def load(self) -> DictionaryModel:
        return load(self.weights)


def specs() -> list[RestorerSpec]:
    """The registry entries (``restorers`` assembles them)."""
    return [
        RestorerSpec(model_id, ("sr",), DictionarySource(model_id), text, scale=scale)
        for model_id, (method, scale, text) in MODELS.items()
    ]
