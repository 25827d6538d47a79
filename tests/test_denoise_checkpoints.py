"""bench/denoise_checkpoints.py: the residual-scale PSNRs it reports for a training checkpoint."""

import numpy as np
from conftest import load_bench_script

from restoration import degrade, metrics


def load_script():
    return load_bench_script("denoise_checkpoints.py")


def test_scaled_psnrs_move_between_input_and_output():
    """Scale 0 keeps the noisy input, scale 1 is the restorer's output; for an oracle that returns
    the clean image, PSNR rises with the scale up to 1 and falls past it."""
    script = load_script()
    clean = np.random.default_rng(0).integers(30, 220, (24, 24, 3), dtype=np.uint8)
    noisy = degrade.Noise(25, seed=0)(clean)
    oracle = lambda _: clean.astype(np.float32) / 255  # noqa: E731
    scores = script.scaled_psnrs(oracle, clean, noisy, [0.0, 0.5, 0.9, 1.2])
    assert abs(scores[0.0] - metrics.psnr(metrics.Sample(clean, noisy))) < 1e-9
    assert scores[0.0] < scores[0.5] < scores[0.9] and scores[1.2] < scores[0.9]
    identity = lambda x: x  # noqa: E731
    assert set(script.scaled_psnrs(identity, clean, noisy, [0.5, 1.0]).values()) == {scores[0.0]}
