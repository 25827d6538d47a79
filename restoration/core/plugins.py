"""Register the Pillow plugins for AVIF (pillow-avif-plugin), JPEG XL (pillow-jxl-plugin) and, when
pillow-heif is installed, HEIC/HEIF (so a plain ``Image.open`` and ``image.load`` read iPhone photos).

Importing ``pillow_avif`` replaces Pillow's built-in AVIF handler with one that offers the
aom, svt and rav1e encoders. SVT-AV1 prints a banner to stderr unless SVT_LOG is set.
"""

import os

os.environ.setdefault("SVT_LOG", "1")

import pillow_avif  # noqa: E402,F401
import pillow_jxl  # noqa: E402,F401

try:  # optional: the HEIC codec reports it missing (codecs.extra); loading then lists no HEIF
    import pillow_heif
except ImportError:  # pragma: no cover - pillow-heif is in requirements.txt
    HEIF = False
else:
    pillow_heif.register_heif_opener()  # only HEIF: AVIF stays with pillow-avif-plugin
    HEIF = True
