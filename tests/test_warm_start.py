"""Growing a shipped network deeper (training.load_matching): the new residual blocks start as the
identity and a trunk's closing conv follows the trunk, so the grown network first computes exactly
what its source did, then trains its new blocks."""

import pytest
import torch

from restoration import training


def _saved(tmp_path, architecture, config):
    torch.manual_seed(0)
    model = training.build_model(architecture, config).eval()
    for parameter in model.parameters():  # a trained-looking network: no zero layers (the tail is zero at init)
        parameter.data.normal_(0, 0.05)
    path = tmp_path / "source.safetensors"
    training.save_weights(model, path)
    model.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})  # what the file holds
    return model, str(path)


@pytest.mark.parametrize(
    "architecture, config, grown, shape",
    [
        ("subpixel_sr", {"scale": 2, "width": 32, "blocks": 3, "attention": True}, {"blocks": 5}, (1, 3, 16, 16)),
        ("subpixel_sr", {"scale": 4, "width": 16, "blocks": 2}, {"blocks": 4}, (1, 3, 12, 12)),
        (
            "deeprecnet",
            {"channels": [8, 16, 16, 16], "blocks": [1, 1, 1, 1], "conditioned": True, "codecs": ["jpeg"]},
            {"blocks": [1, 1, 1, 3]},
            (1, 3, 32, 32),
        ),
    ],
)
def test_a_deeper_network_grown_from_weights_computes_what_they_did(tmp_path, architecture, config, grown, shape):
    source, path = _saved(tmp_path, architecture, config)
    deeper = training.build_model(architecture, {**config, **grown}).eval()
    logged = []
    training.load_matching(deeper, path, log=logged.append)
    x = torch.rand(*shape)
    with torch.no_grad():
        assert torch.equal(deeper(x), source(x))
        naive = torch.nn.functional.interpolate(x, scale_factor=config.get("scale", 1), mode="bicubic")
        assert not torch.allclose(deeper(x), naive, atol=1e-3)  # the source's work is really there
    assert "2 new residual blocks start as the identity" in logged[0]


def test_the_new_blocks_learn(tmp_path):
    """The new blocks' first convs get gradients once their zeroed last convs move (one step)."""
    _, path = _saved(tmp_path, "subpixel_sr", {"scale": 2, "width": 16, "blocks": 1})
    deeper = training.build_model("subpixel_sr", {"scale": 2, "width": 16, "blocks": 2})
    training.load_matching(deeper, path, log=lambda _: None)
    new_last, new_first = deeper.body[1].body[2].weight, deeper.body[1].body[0].weight
    optimizer = torch.optim.Adam(deeper.parameters(), lr=1e-2)
    x, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 16, 16)
    first_before = new_first.detach().clone()
    for _ in range(2):
        optimizer.zero_grad()
        torch.nn.functional.l1_loss(deeper(x), target).backward()
        optimizer.step()
    assert new_last.abs().sum() > 0 and not torch.equal(new_first, first_before)


def test_a_source_without_a_closing_conv_is_left_alone():
    model = training.build_model("subpixel_sr", {"scale": 2, "width": 8, "blocks": 1})
    source = {"head.weight": torch.zeros(1)}
    assert model.adapt_state(source) == source
