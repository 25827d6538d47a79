"""Training code shared by the notebooks: ``data`` (samplers, patch streams), ``loop`` (the
Recipe and the supervised loop with validation, EMA and checkpoints), ``stages`` (staged runs and
export to ``weights/``); ``gan``, ``codec`` and ``dictionary`` train the other kinds of model.

Each recipe (``notebooks/*.ipynb``) builds a ``Recipe`` and calls ``run_stages`` or ``train``.
"""

from restoration.training.data import (BLIND_CODECS, DATA_ROOT, SAMPLERS, PatchStream, boost_saturation,
                                       clean_sampler, combined_sampler, compression_condition, compression_sampler,
                                       full_range_sampler,
                                       jpeg_condition, noise_sampler, to_tensor, training_images, with_rescaled)
from restoration.training.loop import (Recipe, build_model, naive_baseline, save_weights, train,
                                       validate, validate_scores, validation_set)
from restoration.training.warm_start import grown_inputs, identity_blocks, load_matching
from restoration.training.stages import STAGE_FIELDS, export, run_stages, shipped_stages, stage_record

__all__ = ["BLIND_CODECS", "DATA_ROOT", "SAMPLERS", "STAGE_FIELDS", "PatchStream", "Recipe", "boost_saturation",
           "build_model", "clean_sampler", "combined_sampler", "compression_condition", "compression_sampler", "export", "full_range_sampler",
           "grown_inputs", "identity_blocks", "jpeg_condition", "load_matching", "naive_baseline", "noise_sampler", "run_stages", "save_weights",
           "shipped_stages", "stage_record", "to_tensor", "train", "training_images", "validate", "validate_scores",
           "validation_set", "with_rescaled"]
