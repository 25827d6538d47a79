"""Bring your own model: a weights file a person uploads (``.safetensors``, or ``.pth``/``.pt``),
recognised by spandrel and run through the registry like any other restorer.

``inspect`` refuses, with one line, what must not or cannot run: a file over the size cap
(``RESTORATION_MAX_MODEL_MB``, checked before a byte is read), an empty file, another extension, a
pickle that would run code or build objects (torch's ``weights_only`` unpickler: only tensors and
plain containers are rebuilt, so nothing in the file executes), a TorchScript archive (a program,
not weights), an architecture spandrel does not recognise, and a network the lab's tiled RGB runner
cannot drive. What it accepts is registered under ``user:<sha256[:12]>``: ``restorers.get``
answers for that id, so ``restorers.restore``, the restore and SR pipelines and the benchmark run
it as they run a registered model, and its rows carry the file's sha256 (``RestorerSpec.sha256``).

User models are transient: never listed among the registry's models (``restorers.ready`` and the
pickers do not show one person's upload to another), kept for this process only, the loaded
networks in a small LRU keyed by sha256 (``RESTORATION_USER_MODELS_LOADED``).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from restoration.core.errors import UserInputError
from restoration.models import hub
from restoration.models.runtime import TorchRestorer
from restoration.models.spec import TASKS, RestorerSpec, Source

SUFFIXES = (".safetensors", ".pth", ".pt")
DEFAULT_MAX_MB = 200.0
PREFIX = "user:"
KEEP_SPECS = 64  # registered ids (tiny records); the networks themselves are capped far lower
# Spandrel architecture id -> what the network is told (as the Hub manifest's "told" says).
TOLD_QUALITY = {"FBCNN"}
TOLD_SIGMA = {"DRUNet"}


@dataclass(frozen=True)
class UserModel:
    """What a person sees before an uploaded model runs, and what the registry needs to run it."""

    name: str  # the file's name as uploaded
    architecture: str  # spandrel's name for it ("SwinIR", "RealESRGAN Compact")
    architecture_id: str  # spandrel's id ("SwinIR", "Compact"): picks the call (hub.CALLS)
    scale: int
    params: int
    sha256: str
    size_bytes: int
    purpose: str  # spandrel's "SR" or "Restoration"
    tags: tuple[str, ...] = ()  # spandrel's hyperparameter tags ("180dim", "8w")
    path: Path | None = None  # where it can be read again once evicted (None: uploaded as bytes)

    @property
    def id(self) -> str:
        """The model id every pipeline accepts (``restorers.get``, ``sr.run``, ``restore_image``)."""
        return f"{PREFIX}{self.sha256[:12]}"

    @property
    def tasks(self) -> tuple[str, ...]:
        """Guessed from the scale: an upscaler is super-resolution; a x1 network could be any restorer."""
        return ("sr",) if self.scale > 1 else tuple(t for t in TASKS if t != "sr")

    def describe(self) -> str:
        """One line to show before it runs: "SwinIR x2, 0.9M parameters, sha256 1a2b3c4d…"."""
        return f"{self.architecture} x{self.scale}, {_count(self.params)} parameters, sha256 {self.sha256[:8]}…"

    def row(self) -> dict:
        """The same, as JSON fields (the CLI's rows, the API)."""
        return {
            "id": self.id,
            "file": self.name,
            "architecture": self.architecture,
            "scale": self.scale,
            "params": self.params,
            "sha256": self.sha256,
            "bytes": self.size_bytes,
            "tasks": list(self.tasks),
            "tags": list(self.tags),
            "description": self.describe(),
        }

    def require(self, task: str | None = None, scale: int | None = None) -> None:
        """Refuse, in one line, a use the file does not fit: an upscaler asked to restore at x1
        (``scale=1`` or a restoration task), a x1 network asked to upscale, another scale."""
        wants_sr = task == "sr" or (scale is not None and scale > 1)
        if wants_sr and self.scale == 1:
            raise UserInputError(
                f"{self.name}: {self.architecture} at x1 restores without upscaling; "
                "run it as a restorer (restore), not an upscaler"
            )
        if not wants_sr and (task is not None or scale == 1) and self.scale > 1:
            raise UserInputError(
                f"{self.name}: {self.architecture} upscales x{self.scale}; "
                "run it as an upscaler (upscale), not a restorer"
            )
        if scale is not None and scale != self.scale:
            raise UserInputError(f"{self.name} upscales x{self.scale}, not x{scale} (the scale comes from the file)")


def _count(params: int) -> str:
    if params >= 1e6:
        return f"{params / 1e6:.1f}M"
    return f"{params / 1e3:.1f}k" if params >= 1e3 else str(params)


def max_bytes() -> int:
    """The size cap: ``RESTORATION_MAX_MODEL_MB`` megabytes (10^6 bytes), 200 by default."""
    raw = os.environ.get("RESTORATION_MAX_MODEL_MB") or str(DEFAULT_MAX_MB)
    try:
        limit = float(raw)
    except ValueError:
        raise UserInputError(f"RESTORATION_MAX_MODEL_MB must be a number of megabytes, got {raw!r}") from None
    return int(limit * 1e6)


def _read(source: str | Path | bytes, name: str) -> bytes:
    """The file's bytes after the extension, emptiness and size checks (a path: by its size on disk,
    before reading it; read once, so the bytes hashed are the bytes loaded)."""
    if not name.lower().endswith(SUFFIXES):
        raise UserInputError(f"{name}: a model file is .safetensors, .pth or .pt (weights only, no pickled code)")
    limit = max_bytes()
    if isinstance(source, bytes):
        size = len(source)
    else:
        try:
            size = Path(source).stat().st_size
        except OSError as exc:
            raise UserInputError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    if size == 0:
        raise UserInputError(f"{name}: the file is empty")
    if size > limit:
        raise UserInputError(
            f"{name}: {size / 1e6:.1f} MB is over the {limit / 1e6:g} MB limit for model files "
            "(RESTORATION_MAX_MODEL_MB)"
        )
    if isinstance(source, bytes):
        return source
    with open(source, "rb") as handle:
        data = handle.read(limit + 1)  # a file that grew since stat() is still capped
    if len(data) > limit:
        raise UserInputError(f"{name}: over the {limit / 1e6:g} MB limit for model files (RESTORATION_MAX_MODEL_MB)")
    return data


def _unpickling_refusal(exc: Exception) -> str:
    """torch's ``weights_only`` refusal in a few words: the global it would have called, if any."""
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    if found:
        return f"unpickling it would call {found[1]}"
    return "it is not a plain tensor pickle"


def _state_dict(data: bytes, name: str) -> dict:
    """The tensors in the file. Safetensors holds nothing else; a pickle is read by torch's
    ``weights_only`` unpickler, which rebuilds tensors and plain containers and refuses any other
    global before calling it (so a file's ``__reduce__`` never runs), and refuses TorchScript."""
    if name.lower().endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            return load(data)
        except (SafetensorError, ValueError, RuntimeError) as exc:
            raise UserInputError(f"{name}: not a readable safetensors file ({_first_line(exc)})") from None
    import torch

    try:
        with warnings.catch_warnings():  # torch warns "dispatching to torch.jit.load", then refuses: it never does
            warnings.filterwarnings("ignore", "'torch.load' received a zip file that looks like a TorchScript")
            loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserInputError(
            f"{name}: refused, nothing run: {_unpickling_refusal(exc)} (only tensors are "
            "loaded from a pickle; save the state dict alone, or as .safetensors)"
        ) from None
    except RuntimeError as exc:
        if "TorchScript" in str(exc):
            raise UserInputError(
                f"{name}: a TorchScript archive (a program, not weights) is refused; "
                "save the state dict as .pth or .safetensors"
            ) from None
        raise UserInputError(f"{name}: not a readable PyTorch checkpoint ({_first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001  truncated zip, bad magic number...: all say "unreadable"
        raise UserInputError(
            f"{name}: not a readable PyTorch checkpoint ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    if not isinstance(loaded, dict):
        raise UserInputError(f"{name}: holds a {type(loaded).__name__}, not a state dict of named tensors")
    return loaded


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _descriptor(state: dict, name: str):
    """Spandrel's model for the state dict (its container unwrapped: ``params_ema``, ``state_dict``...),
    or one line saying why the lab cannot run it."""
    import torch
    from spandrel import (
        MAIN_REGISTRY,
        ImageModelDescriptor,
        UnsupportedModelError,
        canonicalize_state_dict,
    )

    # A training checkpoint may keep counters beside the weights ("epoch": 12): detection reads tensors.
    state = {k: v for k, v in canonicalize_state_dict(state).items() if isinstance(v, torch.Tensor)}
    if not state:
        raise UserInputError(f"{name}: holds no tensors (no network weights)")
    try:
        descriptor = MAIN_REGISTRY.load(state)
    except UnsupportedModelError:
        raise UserInputError(f"{name}: spandrel does not recognise this file's architecture") from None
    except Exception as exc:  # noqa: BLE001  detected, but the weights do not fit the network it built
        raise UserInputError(f"{name}: spandrel cannot load it ({type(exc).__name__}: {_first_line(exc)})") from None
    arch = descriptor.architecture.name
    if not isinstance(descriptor, ImageModelDescriptor):
        raise UserInputError(f"{name}: {arch} is an inpainting model (image and mask), not an image-to-image one")
    if descriptor.purpose == "FaceSR":
        raise UserInputError(f"{name}: {arch} restores aligned face crops, not whole images")
    if (descriptor.input_channels, descriptor.output_channels) != (3, 3):
        raise UserInputError(
            f"{name}: {arch} takes {descriptor.input_channels} and gives "
            f"{descriptor.output_channels} channels; the lab runs RGB models (3 in, 3 out)"
        )
    if descriptor.size_requirements.square:
        raise UserInputError(f"{name}: {arch} needs square input; the lab's tiled runner gives it any shape")
    return descriptor


def _restorer(descriptor):
    """The network behind the registry's common call, as Hub models run (``hub.load``)."""
    return TorchRestorer(
        descriptor.model,
        scale=descriptor.scale,
        multiple=descriptor.size_requirements.multiple_of,
        bf16=bool(descriptor.supports_bfloat16),
        call=hub.CALLS.get(descriptor.architecture.id),
        minimum=descriptor.size_requirements.minimum,
    )


_lock = threading.RLock()
_runners: OrderedDict[str, object] = OrderedDict()  # sha256 -> loaded TorchRestorer, least recent first
_specs: OrderedDict[str, tuple[UserModel, RestorerSpec]] = OrderedDict()  # "user:<sha12>" -> registered


def keep_loaded() -> int:
    """How many uploaded networks stay in memory (``RESTORATION_USER_MODELS_LOADED``, default 2)."""
    try:
        return max(1, int(os.environ.get("RESTORATION_USER_MODELS_LOADED") or 2))
    except ValueError:
        return 2


def _cache(sha256: str, runner) -> None:
    with _lock:
        _runners[sha256] = runner
        _runners.move_to_end(sha256)
        while len(_runners) > keep_loaded():
            _runners.popitem(last=False)


def _cached(sha256: str):
    with _lock:
        runner = _runners.get(sha256)
        if runner is not None:
            _runners.move_to_end(sha256)
        return runner


def inspect(source: str | Path | bytes, name: str | None = None) -> UserModel:
    """Check, hash and load a model file (a path, or the bytes of an upload with its ``name``), and
    register it under ``UserModel.id``; one ``UserInputError`` line when it is refused. The same
    file (by sha256) is loaded once: inspecting it again reuses the network in memory."""
    if isinstance(source, bytes):
        if not name:
            raise ValueError("inspect(bytes) needs the file's name (its extension says how to read it)")
        path = None
    else:
        path = Path(source)
        name = name or path.name
    data = _read(source, name)
    sha256 = hashlib.sha256(data).hexdigest()
    runner = _cached(sha256)
    registered = spec_entry(f"{PREFIX}{sha256[:12]}")
    if runner is not None and registered is not None and registered[0].sha256 == sha256:
        return register(replace(registered[0], name=name, path=path or registered[0].path))
    size = len(data)
    descriptor = _descriptor(_state_dict(data, name), name)
    del data  # the network holds its own tensors now
    model = UserModel(
        name=name,
        architecture=descriptor.architecture.name,
        architecture_id=descriptor.architecture.id,
        scale=int(descriptor.scale),
        params=sum(p.numel() for p in descriptor.model.parameters()),
        sha256=sha256,
        size_bytes=size,
        purpose=descriptor.purpose,
        tags=tuple(descriptor.tags),
        path=path,
    )
    _cache(sha256, _restorer(descriptor))
    return register(model)


def _load_again(model: UserModel):
    """The network of a registered model whose loaded copy was evicted: read from its path again,
    refused if the file is gone or its sha256 changed since it was inspected."""
    runner = _cached(model.sha256)
    if runner is not None:
        return runner
    if model.path is None or not model.path.is_file():
        raise UserInputError(f"{model.name} is no longer loaded here: upload the model file again")
    data = _read(model.path, model.name)
    if hashlib.sha256(data).hexdigest() != model.sha256:
        raise UserInputError(f"{model.name} changed since it was inspected (sha256 differs): upload it again")
    runner = _restorer(_descriptor(_state_dict(data, model.name), model.name))
    _cache(model.sha256, runner)
    return runner


class UserSource(Source):
    """An uploaded file, inspected in this process: loaded while it stays in memory, read again
    from its path (sha256 checked) once evicted."""

    name = "user"

    def __init__(self, model: UserModel):
        self.model = model

    def status(self) -> str:
        if _cached(self.model.sha256) is not None or (self.model.path is not None and self.model.path.is_file()):
            return "ready"
        return "no longer loaded: upload the model file again"

    def sha256(self) -> str:
        return self.model.sha256

    def load(self):
        return _load_again(self.model)

    def facts(self) -> dict:
        return {"params": self.model.params}


def register(model: UserModel) -> UserModel:
    """Make ``model.id`` a model id ``restorers.get`` answers for (the newest ``KEEP_SPECS`` kept)."""
    restorer = RestorerSpec(
        model.id,
        model.tasks,
        UserSource(model),
        f"uploaded {model.name}: {model.describe()}",
        scale=model.scale,
        self_ensemble=True,
        quality_aware=("jpeg",) if model.architecture_id in TOLD_QUALITY else (),
        needs_sigma=model.architecture_id in TOLD_SIGMA,
    )
    with _lock:
        held = _specs.get(model.id)
        if held is not None and held[0].sha256 != model.sha256:  # a 48-bit prefix shared by another file
            raise UserInputError(
                f"{model.name}: another model file with the same id ({model.id}) is loaded "
                "here; it is refused rather than run in that one's place"
            )
        _specs[model.id] = (model, restorer)
        _specs.move_to_end(model.id)
        while len(_specs) > KEEP_SPECS:
            _specs.popitem(last=False)
    return model


def spec_entry(model_id: str) -> tuple[UserModel, RestorerSpec] | None:
    with _lock:
        return _specs.get(model_id)


def spec(model_id: str) -> RestorerSpec | None:
    """The registered spec of an uploaded model (``restorers.get`` asks here for ids it does not
    list); None for an id that is not a user model's; one line for a user id no longer known."""
    if not model_id.startswith(PREFIX):
        return None
    entry = spec_entry(model_id)
    if entry is None:
        raise UserInputError(f"model {model_id} is an uploaded file no longer known here: upload it again")
    return entry[1]


def get(model_id: str) -> UserModel:
    """The ``UserModel`` behind a registered ``user:`` id (its description, sha256, scale)."""
    spec(model_id)  # the one-line refusal for an unknown id
    return spec_entry(model_id)[0]
