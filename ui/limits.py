"""A request-body limit for the server, as ASGI middleware (Gradio's ``max_file_size`` covers
file uploads only; a JSON call's body, e.g. an image as a ``data:`` URL, had none).

Bodies over the limit are refused with 413 before the app reads them: by their Content-Length
when they declare one, else while they stream in. The upload route keeps Gradio's own limit."""

from __future__ import annotations

import json
import os

UPLOAD_PATH = "/gradio_api/upload"


def body_limit_bytes() -> int:
    """Default: a ``data:`` URL of the largest allowed upload (base64 is 4/3 of the bytes) plus 1 MB."""
    upload_mb = float(os.environ.get("RESTORATION_MAX_UPLOAD_MB", "50"))
    return int(float(os.environ.get("RESTORATION_MAX_BODY_MB", upload_mb * 4 / 3 + 1)) * 2**20)


class BodyLimit:
    def __init__(self, app, max_bytes: int | None = None):
        self.app, self.max_bytes = app, max_bytes or body_limit_bytes()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path", "").endswith(UPLOAD_PATH):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send)
        seen, refused = 0, False

        async def counted():
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:  # answer now; the app sees the client go away
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not refused:
                await send(message)

        try:
            return await self.app(scope, counted, guarded_send)
        except Exception:
            if not refused:
                raise  # after a 413 the app's complaint about the vanished client is expected

    async def _refuse(self, send):
        body = json.dumps({"error": f"request body over {self.max_bytes // 2**20} MB (RESTORATION_MAX_BODY_MB)"})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})
