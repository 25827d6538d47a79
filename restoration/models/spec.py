"""What the registry knows of a restorer before running it: ``RestorerSpec``, and ``Source``, the
interface of where its weights come from.

A spec holds what is the same for every source (id, tasks, scale, what the network is told, its
flags); its ``origin`` answers what depends on the source: whether it runs now, its picker label,
what identifies its weights, and the runner. The sources of the registry's own entries are in
``sources``; providers (``dictionary_sr``, ``diffusion_sr``, ``user_model``) define theirs beside
their code and never import the registry (``restorers``), which assembles them.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass
from typing import Callable

from restoration.core import manifest as manifestlib

WEIGHTS_DIR = manifestlib.WEIGHTS_DIR
TASKS = ("jpeg", "denoise", "combined", "sr")
NEEDS_NETWORK = "not downloaded, needs network"


class Source:
    """Where an entry's weights come from, and what follows from that. Every check stays cheap
    and offline (a picker asks each entry's status when it is drawn)."""

    name = ""  # the word rows, tables and pickers show: "classical", "own", "hub", "auto", "user"
    gpu = True  # a network: runs inside ``accel.gpu_task``; classical methods never ask for a GPU
    fetches = False  # ``load`` downloads what ``status`` calls "not downloaded"
    ours = False  # one of our networks: a task's default when ready
    plans = False  # runs other entries by a plan (auto), never a runner of its own
    weights: str | None = None  # its key in its section of weights/manifest.json, when it has one

    def status(self) -> str:
        """'ready', or why not (missing weights, not downloaded...)."""
        return "ready"

    def label(self, model_id: str) -> str:
        """What a model picker shows: "deeprecnet (own)", "fbcnn-color (hub, Apache-2.0, ~288 MB:
        not downloaded, needs network)" -- what a person must know before ticking it."""
        status = self.status()
        if status == "ready":
            return f"{model_id} ({self.about()})"
        if self.fetches and status == "not downloaded":
            status = NEEDS_NETWORK
        return f"{model_id} ({self.about()}: {status})"

    def about(self) -> str:
        """The words after the id in a label: the source, and what a download would bring."""
        return self.name

    def sha256(self) -> str | None:
        """What identifies the weights (a file's sha256, or a pinned revision); None for a method
        without learned data. Benchmark rows are keyed on it, so retrained weights are never
        scored by rows of the old ones."""
        return None

    def load(self) -> Callable:
        """The runner: ``runner(float_image, **options)``, and ``restore_uint8`` where it has one."""
        raise NotImplementedError(f"a {type(self).__name__} has no runner")

    def facts(self) -> dict:
        """What ``restoration models`` lists beyond the spec: parameter count, the shipped file's
        sha256, GFLOP per output megapixel (each None when the source cannot say)."""
        return {}

    def run_note(self, sigma: float | None) -> str | None:
        """What a result row says about the run (which of several files ran), if anything."""
        return None


class Named(Source):
    """A source given by its name alone, for a runner given directly (``RestorerSpec(..., "own",
    ..., factory)``): a network unless classical, one of ours when "own"."""

    def __init__(self, name: str):
        self.name = name
        self.gpu = name != "classical"
        self.ours = name == "own"


class StandIn(Source):
    """Another runner, or another status, in place of a source's (a test's tiny network, a
    training checkpoint being scored); everything else is the source's."""

    def __init__(self, base: Source, factory: Callable | None = None, status_check: Callable | None = None):
        self.base, self.factory, self.status_check = base, factory, status_check
        for flag in ("name", "gpu", "fetches", "ours", "plans", "weights"):
            setattr(self, flag, getattr(base, flag))

    def status(self) -> str:
        return self.status_check() if self.status_check is not None else self.base.status()

    def about(self) -> str:
        return self.base.about()

    def sha256(self) -> str | None:
        return self.base.sha256()

    def load(self) -> Callable:
        return self.factory() if self.factory is not None else self.base.load()

    def facts(self) -> dict:
        return self.base.facts()

    def run_note(self, sigma: float | None) -> str | None:
        return self.base.run_note(sigma)


@dataclass(frozen=True)
class RestorerSpec:
    id: str
    tasks: tuple[str, ...]
    origin: Source  # a bare name (with ``factory``) makes a ``Named`` source
    description: str
    # A runner (and a status) given directly instead of the source's: see ``StandIn``.
    factory: InitVar[Callable | None] = None
    scale: int = 1
    # Above this estimated JPEG quality the model was measured to lose PSNR: pass the input through.
    max_jpeg_quality: int | None = None
    status_check: InitVar[Callable[[], str] | None] = None
    # Trained for perceived texture (a GAN), not fidelity: listed and runnable, never the default.
    perceptual: bool = False
    # A TorchRestorer behind the source (our networks, Hub networks): the ``self_ensemble``
    # option averages its 8 flips/rotations. Other entries run without it.
    self_ensemble: bool = False
    # A network told the compression strength (the JPEG quality read from the file, or the
    # user's "strength" override) and, of these codecs, which one made the file
    # (``models.condition``); blind when nothing is known. Empty: not quality-aware.
    quality_aware: tuple[str, ...] = ()
    # A network told the noise level (DRUNet's noise map): the user's sigma, else an estimate.
    needs_sigma: bool = False
    # The CPU tier: about a quarter of the default's compute for most of its gain. Never a task's
    # default; auto picks it for large images (``restorers.FAST_ABOVE_MP``).
    fast: bool = False

    def __post_init__(self, factory, status_check):
        origin = Named(self.origin) if isinstance(self.origin, str) else self.origin
        if factory is not None or status_check is not None:
            origin = StandIn(origin, factory, status_check)
        object.__setattr__(self, "origin", origin)

    @property
    def source(self) -> str:
        """The source's name, as rows and tables show it."""
        return self.origin.name

    @property
    def weights(self) -> str | None:
        """The entry's key in its source's section of weights/manifest.json, if it has one."""
        return self.origin.weights

    def status(self) -> str:
        """'ready', or why not (missing weights, not downloaded)."""
        return self.origin.status()

    def sha256(self) -> str | None:
        """What identifies the weights this entry runs (``Source.sha256``)."""
        return self.origin.sha256()

    digest = sha256  # the same answer: not always a sha256 (a diffusers snapshot's pinned revision)

    def load(self) -> Callable:
        """A new runner (``restorers`` keeps the loaded ones)."""
        return self.origin.load()

    def choice(self) -> tuple[str, str]:
        """(label, id) for a model picker."""
        return self.origin.label(self.id), self.id

    def describe(self) -> dict:
        """The entry as ``restoration models --json`` lists it."""
        facts = self.origin.facts()
        return {
            "id": self.id,
            "tasks": list(self.tasks),
            "scale": self.scale,
            "source": self.source,
            "description": self.description,
            "params": facts.get("params"),
            "sha256": facts.get("sha256"),
            "status": self.status(),
            "gflop_per_mp": facts.get("gflop_per_mp"),
            "fast": self.fast,
        }


def own_manifest() -> dict:
    return manifestlib.section("own")
