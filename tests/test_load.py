"""A small run of bench/load_test.py: concurrent callers get exactly what a lone caller gets.

With 8 callers cycling through 6 distinct requests, some run the same request at the same time;
before app._atomic_image_cache, their identical output images were served truncated (empty).
"""

import pytest
from conftest import load_bench_script

pytestmark = pytest.mark.slow  # the full suite (CI) runs it; the fast tier leaves it out

pytest.importorskip("gradio_client")


def test_concurrent_outputs_match_lone_requests(tmp_path):
    load_test = load_bench_script("load_test.py")
    out = tmp_path / "load.md"
    status = load_test.main(["--callers", "8", "--requests", "3", "--size", "64", "--out", str(out)])
    report = out.read_text()
    assert "errors: 0; outputs differing from the same request made alone: 0" in report, report
    assert status == 0
