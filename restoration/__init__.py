"""Restoration Lab: image codecs, metrics, degradations and restoration models.

Submodules are imported on use (``from restoration import codecs``); importing the package
itself loads nothing heavy.
"""

__version__ = "0.1.0"
