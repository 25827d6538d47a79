"""Every network architecture a manifest entry can name (its "architecture" field), in one table."""

from __future__ import annotations

from restoration.models import gan, nets

ARCHITECTURES = {
    "deeprecnet": nets.DeepRecNet,
    "dncnn": nets.DnCNN,
    "resattnet": nets.ResidualAttentionNet,
    "subpixel_sr": nets.SubPixelSR,
    "srgan": gan.SRGANGenerator,
}


def build(architecture: str, config: dict):
    """A fresh network of a named architecture with its manifest ``arch_config``."""
    return ARCHITECTURES[architecture](**config)
