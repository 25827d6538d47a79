"""Learning the models of ``restoration.models.dictionary_sr`` from HR images (T91, as Yang et al.),
with scikit-learn, and recording them in weights/manifest.json ("dictionaries").

Training pairs follow the SR protocol: HR cropped to a multiple of the scale, LR by MATLAB
bicubic (uint8, as the benchmark makes it), the mid image by MATLAB bicubic enlargement in
float. Patches are sampled on the HR grid at the inference stride; nearly flat ones (small
gradient energy) are dropped, as Yang et al. prune low-variance patches, since they carry no
detail to learn and would dominate a uniform sample.

Sparse coding: PCA of the LR features keeping ``energy`` of their energy (Zeyde et al.);
an LR dictionary learned by ``MiniBatchDictionaryLearning`` on the unit-normalised reduced
features; OMP codes of every training feature; the HR dictionary as the ridge least-squares
fit of the HR targets to those codes, so that both dictionaries share one code.
Neighbour embedding: a random subset of the sampled pairs is the example set (kept small so
the stored model stays a few MB and a 256x256 input is searched in seconds).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.decomposition import MiniBatchDictionaryLearning

from restoration.core import image as imagelib
from restoration.core import manifest as manifestlib
from restoration.core.manifest import sha256_of
from restoration.models import dictionary_sr as dsr
from restoration.pipelines import sr

DATA_ROOT = manifestlib.DATA_ROOT


@dataclass(frozen=True)
class Recipe:
    model_id: str
    method: str  # "sparse" | "ne"
    scale: int
    patch: int  # HR patch side
    stride: int  # HR step between patches, training and inference
    target: str = "residual"
    pairs: int = 50_000  # sampled training patch pairs
    energy: float = 0.999  # PCA energy kept
    min_gradient: float = 10.0  # RMS of the gradient features below which a patch is dropped
    atoms: int = 512  # sparse
    sparsity: int = 3  # OMP atoms per patch
    alpha: float = 0.1  # l1 weight of the dictionary-learning codes (unit-norm features)
    dl_iterations: int = 2  # passes of MiniBatchDictionaryLearning over the sample
    ridge: float = 1e-3  # relative ridge for the HR dictionary fit
    neighbours: int = 5  # NE: K (Chang et al. use 5)
    examples: int = 12_000  # NE: stored example pairs
    backprojection: int = 4  # iterations; Set5 gains were monotone from 0 to 4
    seed: int = 0
    data: tuple = ("train/T91",)
    images: int | None = None  # first N images only (smoke)
    smoke: bool = False

    def scaled_for_smoke(self) -> "Recipe":
        return replace(self, pairs=2000, atoms=32, dl_iterations=1, examples=500, images=2, smoke=True)


def training_images(recipe: Recipe, root: Path = DATA_ROOT) -> list[Path]:
    paths = [p for folder in recipe.data for p in sorted((root / folder).glob("*.png"))][: recipe.images]
    if not paths:
        raise FileNotFoundError(f"no training images under {root} / {recipe.data}")
    return paths


def protocol_pair(hr_rgb: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mid Y, HR Y, LR Y), float64, from an HR RGB uint8 image, by the benchmark's protocol."""
    hr, lr = sr.make_lr(hr_rgb, scale)
    return dsr.luma(dsr.mid_image(lr, scale)), dsr.luma(hr), dsr.luma(lr)


def sample_pairs(recipe: Recipe, paths: list[Path], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, 4*p*p), targets (n, p*p)) float32, at most ``recipe.pairs`` drawn evenly
    from every image's non-flat patches."""
    features, targets = [], []
    for path in paths:
        mid_y, hr_y, _ = protocol_pair(imagelib.load(path), recipe.scale)
        ys = dsr.grid(mid_y.shape[0], recipe.patch, recipe.stride)
        xs = dsr.grid(mid_y.shape[1], recipe.patch, recipe.stride)
        f = dsr.patches(dsr.gradient_features(mid_y, recipe.scale), ys, xs, recipe.patch)
        hr = dsr.patches(hr_y, ys, xs, recipe.patch)
        base = dsr.patches(mid_y, ys, xs, recipe.patch)
        t = hr - (base if recipe.target == "residual" else hr.mean(axis=1, keepdims=True))
        keep = np.sqrt((f.astype(np.float64) ** 2).mean(axis=1)) >= recipe.min_gradient
        features.append(f[keep])
        targets.append(t[keep].astype(np.float32))
    features, targets = np.concatenate(features), np.concatenate(targets)
    if len(features) > recipe.pairs:
        chosen = rng.choice(len(features), recipe.pairs, replace=False)
        features, targets = features[chosen], targets[chosen]
    return features, targets


def fit_pca(features: np.ndarray, energy: float) -> np.ndarray:
    """(F, k) projection onto the leading eigenvectors of the uncentred covariance (Zeyde et al.;
    gradient features are already zero-mean), keeping ``energy`` of the total."""
    cov = features.T.astype(np.float64) @ features.astype(np.float64)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    k = int(np.searchsorted(np.cumsum(values) / values.sum(), energy) + 1)
    return vectors[:, :k].astype(np.float32)


def learn_sparse(recipe: Recipe, reduced: np.ndarray, targets: np.ndarray, log=print) -> tuple[np.ndarray, np.ndarray]:
    """(LR dictionary (atoms, k) with unit rows, HR dictionary (atoms, p*p))."""
    norms = np.linalg.norm(reduced, axis=1, keepdims=True)
    unit = reduced / np.maximum(norms, 1e-8)
    learner = MiniBatchDictionaryLearning(
        n_components=recipe.atoms,
        alpha=recipe.alpha,
        batch_size=256,
        max_iter=recipe.dl_iterations,
        fit_algorithm="lars",
        random_state=recipe.seed,
        tol=0.0,
        max_no_improvement=None,
    )
    start = time.perf_counter()
    learner.fit(unit)
    log(f"  dictionary learning: {time.perf_counter() - start:.1f} s, {learner.n_steps_} steps")
    dl = learner.components_.astype(np.float32)
    dl /= np.maximum(np.linalg.norm(dl, axis=1, keepdims=True), 1e-8)
    support, coef = [], []
    for i in range(0, len(reduced), dsr.CHUNK):
        s, c = dsr.batch_omp(dl, reduced[i : i + dsr.CHUNK], recipe.sparsity)
        support.append(s)
        coef.append(c)
    support, coef = np.concatenate(support), np.concatenate(coef)
    rows = np.repeat(np.arange(len(reduced)), recipe.sparsity)
    codes = sparse.csr_matrix(
        (coef.ravel().astype(np.float64), (rows, support.ravel())), shape=(len(reduced), recipe.atoms)
    )
    gram = (codes.T @ codes).toarray()
    gram += recipe.ridge * np.trace(gram) / recipe.atoms * np.eye(recipe.atoms)
    dh = np.linalg.solve(gram, np.asarray(codes.T @ targets.astype(np.float64)))
    return dl, dh.astype(np.float32)


def learn(recipe: Recipe, root: Path = DATA_ROOT, log=print) -> tuple[dsr.DictionaryModel, dict]:
    """Learn one model; returns it and what to record (sizes, timings, data)."""
    start = time.perf_counter()
    rng = np.random.default_rng(recipe.seed)
    paths = training_images(recipe, root)
    features, targets = sample_pairs(recipe, paths, rng)
    pca = fit_pca(features, recipe.energy)
    reduced = features @ pca
    log(
        f"{recipe.model_id}: {len(features)} pairs from {len(paths)} images, features {features.shape[1]} -> {pca.shape[1]}"
    )
    if recipe.method == "sparse":
        lr, hr = learn_sparse(recipe, reduced, targets, log)
        k = recipe.sparsity
    else:
        chosen = rng.choice(len(reduced), min(recipe.examples, len(reduced)), replace=False)
        lr, hr, k = reduced[chosen], targets[chosen], recipe.neighbours
    model = dsr.DictionaryModel(
        recipe.method,
        recipe.scale,
        recipe.patch,
        recipe.stride,
        recipe.target,
        pca,
        lr,
        hr,
        neighbours=k,
        backprojection=recipe.backprojection,
    )
    info = {
        "pairs": int(len(features)),
        "images": len(paths),
        "pca_dims": int(pca.shape[1]),
        "learn_seconds": round(time.perf_counter() - start, 1),
    }
    return model, info


def evaluate(model: dsr.DictionaryModel, set_dir: Path, limit: int | None = None) -> dict:
    """Mean Y-PSNR / SSIM (Y) / seconds over a benchmark folder, by the standard protocol, on the
    model as stored (float16 round trip) and through the common restorer call."""
    rows = []
    for path in sorted(set_dir.glob("*.png"))[:limit]:
        hr, lr = sr.make_lr(imagelib.load(path), model.scale)
        start = time.perf_counter()
        out = imagelib.from_float(model(imagelib.to_float(lr)))
        seconds = time.perf_counter() - start
        rows.append({**sr.measure(out, hr, model.scale, sr.is_grey_file(path)), "seconds": seconds})
    return {key: round(float(np.mean([r[key] for r in rows])), 4) for key in ("psnr_y", "ssim_y", "seconds")}


def export(
    model: dsr.DictionaryModel,
    recipe: Recipe,
    info: dict,
    weights_dir: Path,
    benchmarks: dict[str, Path],
    manifest: Path | None = None,
    limit: int | None = None,
) -> dict:
    """Write ``<model_id>.npz`` into ``weights_dir``, measure the stored (float16) file on each
    benchmark folder, and record it all under "dictionaries" in ``manifest``."""
    weights_dir.mkdir(parents=True, exist_ok=True)
    target = weights_dir / f"{recipe.model_id}.npz"
    model.save(target)
    stored = dsr.DictionaryModel.load(target)
    scores = {name: evaluate(stored, folder, limit) for name, folder in benchmarks.items()}
    entry = {
        "file": target.name,
        "sha256": sha256_of(target),
        "bytes": target.stat().st_size,
        "method": recipe.method,
        "scale": recipe.scale,
        "data": list(recipe.data),
        **info,
        "stored_entries": int(stored.lr.shape[0]),
        "scores": scores,
        "scores_protocol": "Y-PSNR / SSIM on Y, scale px shaved, LR by MATLAB bicubic (restoration.pipelines.sr)",
        "recipe": asdict(recipe),
    }
    record(manifest or weights_dir / "manifest.json", recipe.model_id, entry)
    return entry


def record(manifest: Path, key: str, entry: dict) -> None:
    manifestlib.record(manifest, dsr.SECTION, key, entry)
