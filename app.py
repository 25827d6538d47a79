"""Restoration Lab: the Gradio app's entry point (Hugging Face Spaces runs this file).

The interface lives in ``ui/``, one module per tab; the work is in the ``restoration`` package.
"""

from ui import build, configure_queue, launch_options, main

__all__ = ["build", "configure_queue", "launch_options", "main"]

if __name__ == "__main__":
    main()
