"""Example images from scikit-image's bundled data (no image files ship in this repo)."""

from __future__ import annotations

import numpy as np

from restoration.core import image as imagelib
from restoration.core.errors import UserInputError

# name -> scikit-image loader; all are bundled with the package (no download).
EXAMPLES = {
    "astronaut": "astronaut",
    "coffee": "coffee",
    "chelsea (cat)": "chelsea",
    "rocket": "rocket",
    "immunohistochemistry": "immunohistochemistry",
    "hubble deep field": "hubble_deep_field",
    "camera (grey)": "camera",
    "logo (transparent)": "logo",
}


def load_example(name: str) -> np.ndarray:
    if name not in EXAMPLES:
        raise UserInputError(f"unknown example {name!r}; choose from {', '.join(EXAMPLES)}")
    import skimage.data

    return imagelib.from_array(getattr(skimage.data, EXAMPLES[name])())
