"""Register the Pillow plugins for AVIF (pillow-avif-plugin), JPEG XL (pillow-jxl-plugin) and, when
pillow-heif is installed, HEIC/HEIF (so a plain ``Image.open`` and ``image.load`` read iPhone photos).

Importing ``pillow_avif`` replaces Pillow's built-in AVIF handler with one that offers the
aom, svt and rav1e encoders. SVT-AV1 prints a banner to stderr unless SVT_LOG is set.
"""

import os

os.environ.setdefault("SVT_LOG", "1")

import pillow_avif  # noqa: E402,F401
import pillow_jxl  # noqa: E402,F401
from pillow_avif import AvifImagePlugin
from pillow_jxl import JpegXLImagePlugin

try:  # optional: the HEIC codec reports it missing (codecs.extra); loading then lists no HEIF
    import pillow_heif
except ImportError:  # pragma: no cover - pillow-heif is in requirements.txt
    HEIF = False
else:
    pillow_heif.register_heif_opener()  # only HEIF: AVIF stays with pillow-avif-plugin
    HEIF = True

ENCODE_THREADS = -1  # JPEG XL encodes (pillow-jxl's num_threads; -1: every core); see limit_threads


def limit_threads(threads: int | None) -> None:
    """Threads one AVIF or JPEG XL encode or decode may use (None: the libraries' default, every
    core). The app gives each heavy job as many threads as ``lab.common.configure_threads``
    (one on 2 cores), so that two jobs at once leave room for a small request; its worker
    processes read ``RESTORATION_CODEC_THREADS`` when they import this module."""
    global ENCODE_THREADS
    AvifImagePlugin.DEFAULT_MAX_THREADS = threads or 0  # read at each save and open
    JpegXLImagePlugin.DECODE_THREADS = threads or -1
    ENCODE_THREADS = threads or -1


if os.environ.get("RESTORATION_CODEC_THREADS", "").isdigit():
    limit_threads(int(os.environ["RESTORATION_CODEC_THREADS"]))
