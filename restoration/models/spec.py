"""What the registry knows of a restorer before running it: ``RestorerSpec``.

Providers (``hub``, ``dictionary_sr``, ``diffusion_sr``) build specs from this module and never
import the registry (``restorers``), which assembles them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from restoration.core import manifest as manifestlib

WEIGHTS_DIR = manifestlib.WEIGHTS_DIR
TASKS = ("jpeg", "denoise", "combined", "sr")


@dataclass(frozen=True)
class RestorerSpec:
    id: str
    tasks: tuple[str, ...]
    source: str  # "classical" | "own" | "hub" | "user" (an uploaded file: models.user_model)
    description: str
    factory: Callable[[], Callable]
    scale: int = 1
    weights: str | None = None  # key in weights/manifest.json ("own" or "hub" section)
    params: int | None = None
    # Above this estimated JPEG quality the model was measured to lose PSNR: pass the input through.
    max_jpeg_quality: int | None = None
    # Entries whose readiness is not a manifest file (learned dictionaries, a diffusers snapshot)
    # answer for themselves; it must stay cheap and offline, like the checks below.
    status_check: Callable[[], str] | None = None
    # Trained for perceived texture (a GAN), not fidelity: listed and runnable, never the default.
    perceptual: bool = False
    # A TorchRestorer behind the factory (our networks, Hub networks): the ``self_ensemble``
    # option averages its 8 flips/rotations. Other entries run without it.
    self_ensemble: bool = False
    # Entries whose weights are not an "own" or "hub" manifest file name their digest themselves
    # (a dictionary's sha256, a diffusers snapshot's revision); see ``sha256``.
    digest: Callable[[], str | None] | None = None
    # A network told the compression strength (the JPEG quality read from the file, or the
    # user's "strength" override) and, of these codecs, which one made the file
    # (``models.condition``); blind when nothing is known. Empty: not quality-aware.
    quality_aware: tuple[str, ...] = ()
    # A network told the noise level (DRUNet's noise map): the user's sigma, else an estimate.
    needs_sigma: bool = False
    # The CPU tier: about a quarter of the default's compute for most of its gain. Never a task's
    # default; auto picks it for large images (``restorers.FAST_ABOVE_MP``).
    fast: bool = False

    def status(self) -> str:
        """'ready', or why not (missing weights, not downloaded)."""
        if self.status_check is not None:
            return self.status_check()
        if self.source == "classical":
            return "ready"
        if self.source == "own":
            entry = own_manifest().get(self.weights)
            if entry is None or not (WEIGHTS_DIR / entry["file"]).is_file():
                return "weights not trained yet"
            return "ready"
        from restoration.models import hub

        return hub.status(self.weights)

    def sha256(self) -> str | None:
        """What identifies the weights this entry runs (a file's sha256, or a pinned revision);
        None for a method without learned data. Benchmark rows are keyed on it, so retrained
        weights are never scored by rows of the old ones."""
        if self.digest is not None:
            return self.digest()
        if self.source == "own":
            return own_manifest().get(self.weights, {}).get("sha256")
        if self.source == "hub":
            from restoration.models import hub

            return hub.manifest().get(self.weights, {}).get("sha256") or (hub.trusted(self.weights) or {}).get("sha256")
        return None

    def choice(self) -> tuple[str, str]:
        """(label, id) for a model picker: "deeprecnet (own)", "fbcnn-color (hub, Apache-2.0, ~288 MB:
        not downloaded, needs network)" -- what a person must know before ticking it."""
        if self.source == "auto":
            return "Auto (from the image)", self.id
        status = self.status()
        source = self.source
        if self.source == "hub":
            from restoration.models import hub

            item = hub.manifest().get(self.weights or "", {})
            source += f", {item['licence']}" if item.get("licence") else ""
            source += f", {hub.size_label(item)}" if hub.size_label(item) else ""
            status = "not downloaded, needs network" if status == "not downloaded" else status
        return (f"{self.id} ({source})" if status == "ready" else f"{self.id} ({source}: {status})", self.id)

    def describe(self) -> dict:
        entry = own_manifest().get(self.weights, {}) if self.source == "own" else {}
        from restoration.models import flops

        gflop = flops.gflop_per_mp(self.weights) if self.source == "own" and entry else None
        return {
            "id": self.id,
            "tasks": list(self.tasks),
            "scale": self.scale,
            "source": self.source,
            "description": self.description,
            "params": self.params or entry.get("params"),
            "sha256": entry.get("sha256"),
            "status": self.status(),
            "gflop_per_mp": None if gflop is None else round(gflop, 1),
            "fast": self.fast,
        }


def own_manifest() -> dict:
    return manifestlib.section("own")
