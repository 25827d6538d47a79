"""`RESTORATION_MCP=1 python app.py` serves the named endpoints as MCP tools: list them over
streamable HTTP on 127.0.0.1 and compress one image through the compress tool.
Skipped without the mcp package (gradio[mcp]'s extra, not in requirements.txt)."""

import asyncio
import base64
import io
import json
import re
import urllib.request

import pytest
from PIL import Image

pytest.importorskip("mcp")
from live_app import free_port as _free_port  # noqa: E402
from mcp import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamablehttp_client  # noqa: E402


@pytest.fixture(scope="module")
def mcp_url():
    import app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RESTORATION_MCP", "1")
        options = app.launch_options()
    assert options["mcp_server"] is True
    demo = app.configure_queue(app.build())
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **options)
    yield f"http://127.0.0.1:{port}/gradio_api/mcp/"
    demo.close()


async def _session_call(url: str, call):
    async with streamablehttp_client(url) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await call(session)


@pytest.mark.slow
def test_tools_are_listed(mcp_url):
    tools = asyncio.run(_session_call(mcp_url, lambda s: s.list_tools())).tools
    names = {t.name for t in tools}
    assert {"compress_api", "restore", "upscale", "sweep"} <= names
    compress = next(t for t in tools if t.name == "compress_api")
    assert "One codec, one image" in compress.description
    assert {"image_path", "codec_name", "params_json"} <= set(compress.inputSchema["properties"])


def test_compress_tool_returns_a_real_jpeg(mcp_url):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buffer, "PNG")
    image = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    arguments = {
        "image_path": image,
        "codec_name": "jpeg",
        "params_json": json.dumps({"quality": 50}),
        "target_bpp": 0,
        "target_bytes": 0,
    }
    result = asyncio.run(_session_call(mcp_url, lambda s: s.call_tool("compress_api", arguments)))
    text = " ".join(c.text for c in result.content if c.type == "text")
    assert not result.isError, text
    url = re.search(r"'url': '(http://127\.0\.0\.1:\d+/gradio_api/file=[^']+\.jpg)'", text).group(1)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read(3) == b"\xff\xd8\xff"  # the encoded file itself, a JPEG
    assert "psnr" in text
