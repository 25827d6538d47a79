"""Drive the codec tab in headless Chromium, as a person would (skipped without Chromium).

Set RESTORATION_SCREENSHOT=path to keep a screenshot of the finished page (the README's).
"""

import os
import shutil

import pytest

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip("Debian chromium is not installed", allow_module_level=True)


from live_app import launch  # noqa: E402


@pytest.fixture(scope="module")
def url():
    import app

    demo = app.build()
    port = launch(demo, **app.launch_options())  # as `python app.py` serves it: its theme, its limits
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_codec_tab_end_to_end(url, tmp_path):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url, wait_until="load")
        page.get_by_role("button", name="Compress").wait_for(timeout=60_000)
        page.get_by_label("Example image (scikit-image)").click()
        page.get_by_role("option", name="astronaut").click()
        page.locator("img[src*='astronaut']").first.wait_for(timeout=30_000)
        page.get_by_label("Learned (ours)").check()  # our own codec in the compare (it once broke the chart)
        page.get_by_role("button", name="Compress").click()
        page.get_by_text("codec(s).").wait_for(timeout=90_000)
        for label in (
            "JPEG quality=75",
            "WebP quality=75",
            "AVIF quality=60",
            "JPEG XL quality=75.0",
            "JPEG 2000 rate=24.0",
            "Learned (ours) quality=5",
        ):
            page.get_by_text(label, exact=True).first.wait_for(state="attached", timeout=10_000)
        assert page.locator(".toast-body").count() == 0  # no error toast
        page.get_by_text("Rate-distortion sweep").click()  # folded away under the results
        page.get_by_role("button", name="Run sweep").click()
        page.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for(timeout=180_000)
        assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 5
        shot = os.environ.get("RESTORATION_SCREENSHOT") or str(tmp_path / "codec_tab.png")
        page.screenshot(path=shot, full_page=True)
        browser.close()
    assert os.path.getsize(shot) > 50_000
