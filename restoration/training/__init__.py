"""Training code shared by the notebooks: ``data`` (samplers, patch streams), ``loop`` (the
Recipe and the one training loop, with validation, EMA and checkpoints, and the plain kind's
hooks), ``stages`` (staged runs and export to ``weights/``); ``gan`` and ``codec`` are the hooks of
the adversarial and rate-distortion kinds, ``dictionary`` learns the sparse-coding SR models;
``pack`` and ``sprint`` train several networks at once on a GPU from a pre-computed data pack.

Each recipe (``notebooks/*.ipynb``) builds a ``Recipe`` and calls ``run_stages`` or ``train``.
The names below load their module on first use, so that ``restoration.training.sprint`` runs
where only torch, numpy, Pillow and safetensors are installed (it needs no codec or metric).
"""

import importlib

_EXPORTS = {
    "data": (
        "BLIND_CODECS",
        "DATA_ROOT",
        "SAMPLERS",
        "PatchStream",
        "boost_saturation",
        "clean_sampler",
        "combined_sampler",
        "compression_condition",
        "compression_sampler",
        "full_range_sampler",
        "jpeg_condition",
        "noise_sampler",
        "to_tensor",
        "training_images",
        "with_rescaled",
    ),
    "loop": (
        "Plain",
        "Recipe",
        "Scores",
        "build_model",
        "cosine_factor",
        "cosine_schedule",
        "fit",
        "naive_baseline",
        "save_weights",
        "train",
        "validate",
        "validate_scores",
        "validation_set",
    ),
    "warm_start": ("grown_inputs", "identity_blocks", "load_matching"),
    "stages": ("STAGE_FIELDS", "export", "retired_weights", "run_stages", "shipped_stages", "stage_record"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value
