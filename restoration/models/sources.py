"""The sources of the registry's own entries: classical methods, our networks (weights/manifest.json,
"own"), Hub networks (its "hub" section) and auto. Providers define theirs beside their code
(``dictionary_sr.DictionarySource``, ``diffusion_sr.DiffusionSource``, ``user_model.UserSource``)."""

from __future__ import annotations

from typing import Callable

from restoration.models import hub
from restoration.models.runtime import load_own
from restoration.models.spec import WEIGHTS_DIR, Source, own_manifest


class ClassicalSource(Source):
    """A method without learned data (a filter, an interpolation): always ready, runs on the CPU."""

    name = "classical"
    gpu = False

    def __init__(self, factory: Callable[[], Callable]):
        self.factory = factory

    def load(self) -> Callable:
        return self.factory()


class OwnSource(Source):
    """One of our networks: its weights file and record in the manifest's "own" section."""

    name = "own"
    ours = True

    def __init__(self, key: str):
        self.weights = key

    def entry(self) -> dict | None:
        return own_manifest().get(self.weights)

    def status(self) -> str:
        entry = self.entry()
        if entry is None or not (WEIGHTS_DIR / entry["file"]).is_file():
            return "weights not trained yet"
        return "ready"

    def sha256(self) -> str | None:
        return (self.entry() or {}).get("sha256")

    def load(self) -> Callable:
        return load_own(self.weights)

    def facts(self) -> dict:
        entry = self.entry()
        if entry is None:
            return {}
        from restoration.models import flops  # noqa: PLC0415  (builds the network: loads torch)

        gflop = flops.gflop_per_mp(self.weights)
        return {
            "params": entry.get("params"),
            "sha256": entry.get("sha256"),
            "gflop_per_mp": None if gflop is None else round(gflop, 1),
        }


class HubSource(Source):
    """A third-party network from the Hugging Face Hub, listed in the manifest's "hub" section:
    downloaded (and sha256-checked) when it first runs."""

    name = "hub"
    fetches = True

    def __init__(self, key: str):
        self.weights = key

    def item(self) -> dict:
        return hub.manifest().get(self.weights, {})

    def status(self) -> str:
        return hub.status(self.weights)

    def about(self) -> str:
        item = self.item()
        size = hub.size_label(item)
        return ", ".join(word for word in (self.name, item.get("licence"), size) if word)

    def sha256(self) -> str | None:
        return self.item().get("sha256") or (hub.trusted(self.weights) or {}).get("sha256")

    def load(self) -> Callable:
        return hub.load(self.weights)

    def run_note(self, sigma: float | None) -> str | None:
        item = self.item()
        if not item.get("variants"):
            return None
        level = hub.nearest_level(hub.variant_entries(self.weights, item), sigma)
        return f"ran its sigma-{level:g} checkpoint"


class AutoSource(Source):
    """Auto: reads the image and runs the matching default entries in order (``restorers``)."""

    name = "auto"
    plans = True

    def label(self, model_id: str) -> str:
        return "Auto (from the image)"
