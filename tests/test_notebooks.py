"""Every training recipe runs end to end in SMOKE mode: a few steps on a few images, exported
to a temporary folder (never to weights/)."""

import json
from pathlib import Path

import pytest

from restoration import training

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.skipif(not (training.DATA_ROOT / "train" / "BSD400").is_dir(),
                                reason="../shared/data/train is not present")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_recipe_smoke(notebook, tmp_path, monkeypatch):
    import sys

    sys.path.insert(0, str(notebook.parent))
    from run import run

    monkeypatch.setenv("SMOKE", "1")
    monkeypatch.setenv("RUN_DIR", str(tmp_path))
    namespace = run(str(notebook))
    summary, entry = namespace["summary"], namespace["entry"]
    assert summary["steps_run"] == 4 and summary["recipe"]["smoke"]
    exported = tmp_path / "smoke" / "export"
    assert (exported / entry["file"]).is_file()
    manifest = json.loads((exported / "manifest.json").read_text())
    # Networks are recorded under "own", learned SR dictionaries under "dictionaries".
    section = manifest.get("own", {}) | manifest.get("dictionaries", {})
    assert section[summary["recipe"]["model_id"]]["sha256"] == entry["sha256"]


def test_training_reduces_loss_on_a_fixed_batch():
    """A real optimisation step works: 30 Adam steps on one batch lower the L1 loss."""
    import torch

    torch.manual_seed(0)
    model = training.build_model("deeprecnet", {"channels": [8, 16, 16, 16], "blocks": [1, 1, 1, 1]})
    clean = torch.rand(2, 3, 32, 32)
    noisy = (clean + 0.1 * torch.randn_like(clean)).clamp(0, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        loss = torch.nn.functional.l1_loss(model(noisy), clean)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.8 * first
