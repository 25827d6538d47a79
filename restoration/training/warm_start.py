"""Starting a network from another one's weights: every tensor of matching name and shape, linear
layers grown by new inputs, and residual trunks grown by new blocks (which start as the identity),
so a network grown from a shipped one first computes exactly what that one did."""

from __future__ import annotations

import torch

from restoration.models import nets, storage


def load_matching(model: torch.nn.Module, path: str, log=print) -> None:
    """Start from another model's weights: every tensor whose name and shape match (so an x2
    network can start from the x4 one's features); what did not match is logged, not hidden.
    A model with ``adapt_state`` first renames the source's tensors (a trunk's closing conv that
    moved); residual blocks the source lacks entirely start as the identity."""
    own = model.state_dict()
    source = storage.load_state(path)
    if hasattr(model, "adapt_state"):
        source = model.adapt_state(source)
    matching = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    matching.update(grown_inputs(own, source))
    skipped = sorted(set(own) - set(matching))
    if not matching:
        raise ValueError(f"{path}: no tensor matches {type(model).__name__}")
    model.load_state_dict(matching, strict=False)
    new_blocks = identity_blocks(model, set(matching))
    if skipped:
        grown = f"; {len(new_blocks)} new residual blocks start as the identity" if new_blocks else ""
        log(f"init from {path}: {len(matching)} tensors loaded, kept initial values for {skipped}{grown}")


def grown_inputs(own: dict, source: dict) -> dict:
    """Linear layers that gained inputs (a condition told more, as a codec-aware network grown
    from a JPEG-only one): the old columns copied, the new ones zero, so it computes what it did."""
    grown = {}
    for key, old in source.items():
        new = own.get(key)
        if (
            new is not None
            and key.endswith(".weight")
            and old.dim() == new.dim() == 2
            and old.shape[0] == new.shape[0]
            and old.shape[1] < new.shape[1]
        ):
            grown[key] = torch.cat([old.to(new.dtype), new.new_zeros(new.shape[0], new.shape[1] - old.shape[1])], 1)
    return grown


@torch.no_grad()
def identity_blocks(model: torch.nn.Module, loaded: set[str]) -> list[str]:
    """Zero the last convolution of every residual block none of whose tensors were loaded (a
    deeper trunk than the source's): x + body(x) = x, so the grown network starts as the source."""
    names = []
    for name, module in model.named_modules():
        if isinstance(module, (nets.ResBlock, nets.AttentionBlock)) and not any(
            key.startswith(f"{name}.") for key in loaded
        ):
            last = module.body[2]
            last.weight.zero_()
            last.bias.zero_()
            names.append(name)
    return names
