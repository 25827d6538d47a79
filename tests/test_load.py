"""A small run of bench/load_test.py: concurrent callers get exactly what a lone caller gets.

With 8 callers cycling through 6 distinct requests, some run the same request at the same time;
before app._atomic_image_cache, their identical output images were served truncated (empty).
"""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("gradio_client")
SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "load_test.py"


def test_concurrent_outputs_match_lone_requests(tmp_path):
    spec = importlib.util.spec_from_file_location("load_test", SCRIPT)
    load_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load_test)
    out = tmp_path / "load.md"
    status = load_test.main(["--callers", "8", "--requests", "3", "--size", "64", "--out", str(out)])
    report = out.read_text()
    assert "errors: 0; outputs differing from the same request made alone: 0" in report, report
    assert status == 0
