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
            demo.queue().launch(
                prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **options
            )
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


def upload(url: str, path) -> dict:
    """A file sent through Gradio's upload route, as the FileData a call passes (``url``: the app's root)."""
    import httpx

    with open(path, "rb") as handle:
        answer = httpx.post(
            f"{url}gradio_api/upload", files={"files": (str(path).rsplit("/", 1)[-1], handle)}, timeout=60
        )
    answer.raise_for_status()
    return {"path": answer.json()[0], "meta": {"_type": "gradio.FileData"}}


def join(url: str, fn_index: int, data: list, timeout: float = 120, session: str | None = None) -> dict:
    """One event called as the page calls it: by ``fn_index`` through ``/gradio_api/queue/join``,
    its answer read from the session's event stream. Returns {"success", "output", "seconds"} (an
    error's text in output["error"]), or {"http": status, "detail"} when the queue refused it."""
    import json
    import time
    import uuid

    import httpx

    session = session or uuid.uuid4().hex[:12]
    started = time.monotonic()
    body = json.dumps(
        {"data": data, "fn_index": fn_index, "session_hash": session}
    )  # NaN and Infinity as Python writes them
    answer = httpx.post(
        f"{url}gradio_api/queue/join", content=body, headers={"content-type": "application/json"}, timeout=timeout
    )
    if answer.status_code != 200:
        return {"http": answer.status_code, "detail": answer.text}
    event = answer.json()["event_id"]
    with httpx.stream(
        "GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=timeout
    ) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed" and message.get("event_id") == event:
                return {
                    "success": message.get("success"),
                    "output": message.get("output") or {},
                    "seconds": time.monotonic() - started,
                }
    raise AssertionError(f"no answer to fn_index {fn_index}")
