"""Training in stages: each stage continues from the previous one's best checkpoint, the
manifest keeps every stage's record, and ``export`` ships the result to ``weights/``."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from restoration.core import manifest as manifestlib
from restoration.core.manifest import sha256_of
from restoration.training.loop import Recipe, train

STAGE_FIELDS = ("recipe", "steps_run", "best_step", "train_seconds", "val_input_psnr", "val_psnr")


def stage_record(summary: dict) -> dict:
    """What a manifest keeps of one finished training stage."""
    return {
        "recipe": summary["recipe"],
        "steps_run": summary["steps_run"],
        "best_step": summary["best"]["step"],
        "train_seconds": summary["train_seconds"],
        "val_input_psnr": round(summary["val_input_psnr"], 3),
        "val_psnr": round(summary["best"]["val_psnr"], 3),
    }


def shipped_stages(model_id: str, section: str = "own", manifest: Path | None = None) -> list[dict]:
    """Every stage behind a shipped weights file, oldest first: a run that continues from that
    file passes these on as its ``previous_stages``."""
    entry = manifestlib.section(section, manifest)[model_id]
    return list(entry.get("previous_stages", [])) + [{k: entry[k] for k in STAGE_FIELDS + ("sha256",)}]


def retired_weights(model_id: str, smoke: bool = False, run_root: Path = Path("runs")) -> str | None:
    """The weights file of a retired model (the manifest's "retired" section), for a recipe that
    started from it: None in a smoke run, which starts fresh; else the file as the last commit that
    shipped it holds it, restored into ``run_root/retired/`` and checked against its sha256."""
    if smoke:
        return None
    entry = manifestlib.section("retired")[model_id]
    target = run_root / "retired" / entry["file"]
    if not target.is_file():
        blob = subprocess.run(
            ["git", "show", f"{entry['retired']['last_commit']}:weights/{entry['file']}"],
            cwd=manifestlib.REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
    if sha256_of(target) != entry["sha256"]:
        raise ValueError(f"{target}: sha256 differs from the retired {model_id}'s record")
    return str(target)


def run_stages(stages: list[Recipe], run_root: Path, from_stage: int = 1, smoke: bool = False) -> tuple[dict, Path]:
    """Train ``stages`` in order (numbered from 1), each from the previous one's best checkpoint;
    returns the last summary, with the earlier stages as ``previous_stages``, and its run folder.
    ``from_stage`` > 1 starts from the shipped weights (run from the repository root), taken as
    the end of stage ``from_stage - 1``, and carries the manifest's record of the stages before;
    from stage 1, the first recipe's own ``init_weights`` (another model's, say) are kept. A smoke
    run trains the first and the last stage only: together they use every option of the recipe
    list's loop (the stages between differ in numbers, not in code paths), in a fraction of the time."""
    model_id = stages[0].model_id
    history = shipped_stages(model_id) if from_stage > 1 and not smoke else []
    weights = f"weights/{model_id}.safetensors" if from_stage > 1 else stages[0].init_weights
    for number, recipe in enumerate(stages, 1):
        if number < from_stage or smoke and 1 < number < len(stages):
            continue
        recipe = replace(recipe.scaled_for_smoke() if smoke else recipe, init_weights=weights)
        run_dir = run_root / model_id / f"stage{number}"
        summary = train(recipe, run_dir)
        print(number, summary["best"], summary["steps_run"], summary["train_seconds"])
        history.append(stage_record(summary))
        weights = str(run_dir / "best.safetensors")
    summary["previous_stages"] = history[:-1]
    return summary, run_dir


def export(summary: dict, run_dir: Path, weights_dir: Path, manifest: Path | None = None) -> dict:
    """Copy the best checkpoint (``summary["checkpoint"]`` if it names another one) into
    ``weights_dir`` and record it in the manifest's ``own`` section: file, sha256, parameter
    count, the recipe, data, steps and validation scores."""
    recipe = summary["recipe"]
    weights_dir.mkdir(parents=True, exist_ok=True)
    target = weights_dir / f"{recipe['model_id']}.safetensors"
    target.write_bytes((run_dir / summary.get("checkpoint", "best.safetensors")).read_bytes())
    entry = {
        "file": target.name,
        "sha256": sha256_of(target),
        "architecture": recipe["architecture"],
        "arch_config": recipe["arch_config"],
        "scale": recipe["arch_config"].get("scale", 1),
        "params": summary["params"],
        "sampler": recipe["sampler"],
        "data": list(recipe["data"]),
        **stage_record(summary),
        **({"val_ssim": round(summary["best"]["val_ssim"], 4)} if "val_ssim" in summary["best"] else {}),
        "previous_stages": summary.get("previous_stages", []),
    }
    manifestlib.record(manifest or weights_dir / "manifest.json", "own", recipe["model_id"], entry)
    return entry
