"""Every training recipe runs end to end in SMOKE mode: a few steps on a few images, exported
to a temporary folder (never to weights/)."""

import json
from pathlib import Path

import pytest

from restoration import training

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (training.DATA_ROOT / "train" / "BSD400").is_dir(), reason="../shared/data/train is not present"
    ),
]


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
    # Networks under "own", learned SR dictionaries under "dictionaries", learned codecs under "codecs".
    section = manifest.get("own", {}) | manifest.get("dictionaries", {}) | manifest.get("codecs", {})
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


def test_fine_tune_starts_from_every_matching_tensor(tmp_path):
    """x2 from x4 weights: head, body and the first upsampling conv load; the rest stays initial."""
    import torch

    x4 = training.build_model("subpixel_sr", {"scale": 4, "width": 8, "blocks": 2})
    training.save_weights(x4, tmp_path / "x4.safetensors")
    x2 = training.build_model("subpixel_sr", {"scale": 2, "width": 8, "blocks": 2})
    logged = []
    training.load_matching(x2, str(tmp_path / "x4.safetensors"), log=logged.append)
    assert torch.equal(x2.head.weight, x4.head.weight.half().float())
    assert torch.equal(x2.upsample[0].weight, x4.upsample[0].weight.half().float())
    assert torch.equal(x2.tail.weight, x4.tail.weight.half().float())  # same shape: loaded too
    assert logged == []  # every x2 tensor has an x4 twin; x4's second upsampling conv is ignored
    with pytest.raises(ValueError, match="no tensor matches"):
        training.load_matching(
            training.build_model("dncnn", {"depth": 3, "width": 4}), str(tmp_path / "x4.safetensors")
        )


def test_train_keeps_the_best_and_the_last_validated_weights(tmp_path):
    """best.safetensors (the export) and last.safetensors (the latest validated weights, to score a
    stage whose validation never passed its start) both load into the trained architecture."""
    from safetensors.torch import load_file

    recipe = training.Recipe(
        model_id="tiny", architecture="dncnn", arch_config={"depth": 3, "width": 4}, sampler="noise"
    ).scaled_for_smoke()
    summary = training.train(recipe, tmp_path, log=lambda _: None)
    assert [h["step"] for h in summary["history"]] == [2, 4]
    model = training.build_model("dncnn", {"depth": 3, "width": 4})
    for name in ("best.safetensors", "last.safetensors"):
        model.load_state_dict({k: v.float() for k, v in load_file(tmp_path / name).items()})


def test_export_last_makes_the_last_validated_weights_the_export(tmp_path):
    from dataclasses import replace

    recipe = training.Recipe(
        model_id="tiny", architecture="dncnn", arch_config={"depth": 3, "width": 4}, sampler="noise"
    ).scaled_for_smoke()
    summary = training.train(replace(recipe, export_last=True, lr=1e-2), tmp_path, log=lambda _: None)
    assert summary["best"] == {"step": 4, "val_psnr": summary["history"][-1]["val_psnr"]}
    assert (tmp_path / "best.safetensors").read_bytes() == (tmp_path / "last.safetensors").read_bytes()


def test_ema_decay_keeps_and_exports_the_moving_average(tmp_path):
    """With a decay near 1 the kept weights stay at the start while the raw weights move away
    (lr 1e-2); the averaged copy is what last.safetensors holds."""
    from dataclasses import replace

    import torch
    from safetensors.torch import load_file

    config = {"depth": 3, "width": 4}
    start = tmp_path / "start.safetensors"
    training.save_weights(training.build_model("dncnn", config), start)
    recipe = replace(
        training.Recipe(
            model_id="tiny", architecture="dncnn", arch_config=config, sampler="noise", init_weights=str(start), lr=1e-2
        ).scaled_for_smoke(),
        export_last=True,
    )

    def drift(run, **options):
        training.train(replace(recipe, **options), tmp_path / run, log=lambda _: None)
        before, after = load_file(start), load_file(tmp_path / run / "last.safetensors")
        return max((after[k].float() - before[k].float()).abs().max().item() for k in before)

    assert drift("raw") > 1e-3
    assert drift("ema", ema_decay=1 - 1e-7) < 1e-5
    assert torch.equal(
        *(load_file(tmp_path / "ema" / n)["body.0.weight"] for n in ("best.safetensors", "last.safetensors"))
    )
