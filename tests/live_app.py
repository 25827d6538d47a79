"""Helpers for tests that launch the real app (or another server) on 127.0.0.1."""

import socket
from contextlib import contextmanager


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(demo, **options) -> int:
    """Launch on a free local port; returns the port. Gradio refuses to start ("When localhost is
    not accessible...") when its own health check of the new server times out, which a loaded
    machine can cause: then it is tried again on another port."""
    for attempt in range(3):
        port = free_port()
        try:
            demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                                **options)
            return port
        except ValueError as exc:
            if "localhost is not accessible" not in str(exc) or attempt == 2:
                raise
            demo.close()
    raise AssertionError("unreachable")


@contextmanager
def serving(demo):
    """Launch a Gradio Blocks on a free local port in this process; yield its URL; close it."""
    port = launch(demo)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
