"""Register the Pillow plugins for AVIF (pillow-avif-plugin) and JPEG XL (pillow-jxl-plugin).

Importing ``pillow_avif`` replaces Pillow's built-in AVIF handler with one that offers the
aom, svt and rav1e encoders. SVT-AV1 prints a banner to stderr unless SVT_LOG is set.
"""

import os

os.environ.setdefault("SVT_LOG", "1")

import pillow_avif  # noqa: E402,F401
import pillow_jxl  # noqa: E402,F401
