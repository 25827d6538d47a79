"""Every tab in headless Chromium: upload a small image, press the main button, wait for results.

Fails on a browser console error or a Gradio error toast. Set RESTORATION_SCREENSHOTS=DIR to keep
one PNG per tab there (the README's docs/tab_*.webp were made from them with Pillow).
Skipped without Debian's Chromium or playwright.
"""

import os
import re
import shutil
import time
from pathlib import Path

import pytest
import skimage.data
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip("Debian chromium is not installed", allow_module_level=True)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


from live_app import launch  # noqa: E402

ERROR_TOAST = '[data-testid="toast-body"].error'  # a gr.Error's message in the page


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    # The benchmark tab writes rows to $RESTORATION_DB: keep them out of runs/bench.sqlite.
    db = tmp_path_factory.mktemp("db") / "bench.sqlite"
    old = os.environ.get("RESTORATION_DB")
    os.environ["RESTORATION_DB"] = str(db)
    import app
    from restoration.lab import cost
    from ui import codecs_tab

    demo = app.build()
    # As `python app.py` does at start (in the background there): the estimates' calibration, here
    # before the page opens, so that it is not measured while the browser draws.
    cost.calibrate(codecs_tab.DEFAULT_CODECS)
    port = launch(demo, **app.launch_options())  # as `python app.py` serves it: its theme, its limits
    yield f"http://127.0.0.1:{port}/"
    demo.close()
    if old is None:
        os.environ.pop("RESTORATION_DB", None)
    else:
        os.environ["RESTORATION_DB"] = old


@pytest.fixture(scope="module")
def small_png(tmp_path_factory) -> Path:
    """96x96 crop of the astronaut's face: small, so every model finishes in seconds on one thread."""
    path = tmp_path_factory.mktemp("img") / "face.png"
    Image.fromarray(skimage.data.astronaut()[40:136, 176:272]).save(path)
    return path


@pytest.fixture(scope="module")
def page(url):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})  # a laptop screen
        errors: list[str] = []

        def on_console(msg):
            # Tolerated: failed loads of files that are not the app's (the favicon, web fonts from
            # external hosts when there is no network). No run here logged any error at all.
            where = msg.location.get("url", "") if msg.location else ""
            external = where and not where.startswith(url)
            if msg.type == "error" and not (
                "favicon" in msg.text or "favicon" in where or ("Failed to load resource" in msg.text and external)
            ):
                errors.append(f"{msg.text} ({where})")

        pg.on("console", on_console)
        pg.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        pg.errors = errors
        pg.goto(url, wait_until="load")
        pg.get_by_role("button", name="Compress").wait_for(timeout=60_000)
        yield pg
        browser.close()


@pytest.fixture(scope="module")
def medium_png(tmp_path_factory) -> Path:
    """256x256 crop: at 4:1 it is larger than the compare frame, so the view can be panned."""
    path = tmp_path_factory.mktemp("img") / "portrait.png"
    Image.fromarray(skimage.data.astronaut()[0:256, 128:384]).save(path)
    return path


def _compare_view(page, pan: bool = True) -> None:
    """The compare view shows both served PNGs; at 4:1 dragging the picture pans it, dragging the
    line moves the split, and "fit" shows all of it again."""
    stage = page.locator(".rl-stage:visible").first
    stage.wait_for(timeout=30_000)
    # This tab's own stage (an earlier tab's loaded stage must not count): on a busy machine its two
    # PNGs arrive after the metrics table.
    page.wait_for_function(
        "s => { const i = [...s.querySelectorAll('img')]; "
        "return i.length == 2 && i.every(x => x.complete && x.naturalWidth > 0); }",
        arg=stage.element_handle(),
        timeout=30_000,
    )
    loaded = stage.evaluate("s => [...s.querySelectorAll('img')].map(i => i.complete && i.naturalWidth > 0)")
    assert loaded == [True, True]
    # "fit" says its magnification in words (a small image is enlarged to fit: then 2:1 is smaller).
    fit = page.locator(".rl-viewer:visible").get_by_role("button", name="fit").inner_text()
    assert re.fullmatch(r"fit, \d+ %", fit), fit
    _wheel_scrolls_the_page_at_fit(page, stage)
    if not pan:
        return
    stage.scroll_into_view_if_needed()
    page.locator(".rl-viewer:visible").get_by_role("button", name="4:1").click()
    before = stage.evaluate("s => [Number(s.dataset.x), Number(s.dataset.y), s.dataset.zoom]")
    box = stage.bounding_box()
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y + 50, steps=4)
    page.mouse.up()
    after = stage.evaluate("s => [Number(s.dataset.x), Number(s.dataset.y), s.dataset.zoom]")
    w, h = (int(v) * 4 for v in stage.get_attribute("data-size").split("x"))
    # Along an axis where the zoomed picture is larger than the frame it follows the pointer; along
    # one where it fits, it stays centred.
    expected = (60 if w > box["width"] else 0, 50 if h > box["height"] else 0)
    assert expected != (0, 0), f"the test image must be larger than the frame at 4:1 ({w}x{h} in {box})"
    assert before[2] == after[2] == "4" and (after[0] - before[0], after[1] - before[1]) == expected
    handle = stage.locator(".rl-handle")
    hb = handle.bounding_box()
    page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, hb["y"] + 20, steps=4)
    page.mouse.up()
    assert handle.bounding_box()["x"] > box["x"] + box["width"] * 0.75
    page.locator(".rl-viewer:visible").get_by_role("button", name="fit").click()
    assert stage.evaluate("s => s.dataset.zoom") == "0"


def _wheel_scrolls_the_page_at_fit(page, stage) -> None:
    """At fit the wheel over the picture scrolls the page (it is not captured); Ctrl+wheel zooms."""
    stage.evaluate("s => s.scrollIntoView({block: 'center'})")
    before = page.evaluate("window.scrollY")
    box = stage.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -150 if before > 200 else 150)
    page.wait_for_function(f"() => Math.abs(window.scrollY - {before}) > 50", timeout=5_000)
    assert stage.evaluate("s => s.dataset.zoom") == "0"
    box = stage.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -100)
    page.keyboard.up("Control")
    page.wait_for_function("s => s.dataset.zoom === '1'", arg=stage.element_handle(), timeout=5_000)
    page.locator(".rl-viewer:visible").get_by_role("button", name="fit").click()


# Every visible table: no sideways scroll, and no header word broken over two lines (a Range over
# each word of a header gives one box per line it covers).
TABLES_FIT = """() => [...document.querySelectorAll('.virtual-table-viewport')].filter(v => v.clientWidth > 0)
  .map(v => {
    const broken = [];
    for (const span of v.querySelectorAll('th .header-content span')) {
      const node = span.firstChild;
      if (!node || node.nodeType !== 3) continue;
      let at = 0;
      for (const word of node.textContent.split(' ')) {
        const range = document.createRange();
        range.setStart(node, at); range.setEnd(node, at + word.length);
        if (word && new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1) broken.push(word);
        at += word.length + 1;
      }
    }
    const label = v.closest('.block')?.querySelector('.label p')?.innerText || '';
    return {label, scroll: v.scrollWidth, width: v.clientWidth, broken};
  })"""


def _tables_fit(page) -> list[dict]:
    """Every visible table fits its frame at 1400x1000 and its headers wrap between words. The page
    draws a result's fitted view a moment after the result arrives: it is given 10 s to."""
    deadline = time.monotonic() + 10
    while True:
        shown = page.evaluate(TABLES_FIT)
        if all(t["scroll"] <= t["width"] and not t["broken"] for t in shown) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(250)
    for table in shown:
        assert table["scroll"] <= table["width"], table
        assert not table["broken"], table
    return shown


def _estimate(page) -> float:
    """The seconds the visible estimate under a run button says."""
    text = page.locator("p:visible", has_text=re.compile(r"about [\d.]+ (s|min)")).last.inner_text()
    value, unit = re.search(r"about ([\d.]+) (s|min)", text).groups()
    return float(value) * (60 if unit == "min" else 1)


def _timed_run(page, button: str, done) -> tuple[float, float]:
    """(the estimate shown before the run, the seconds from the click to ``done`` being visible)."""
    estimate = _estimate(page)
    start = time.monotonic()
    page.get_by_role("button", name=button, exact=True).click()
    done.wait_for(timeout=300_000)
    return estimate, time.monotonic() - start


def _holds(estimate: float, took: float) -> None:
    """Issue 37's goal: the estimate is within 0.5x-2x of what the run takes (in the page)."""
    print(f"estimated {estimate:.2f} s, took {took:.2f} s")  # shown with pytest -s
    assert 0.5 <= took / estimate <= 2.0, f"estimated {estimate:.2f} s, took {took:.2f} s"


def _finish(page, name: str) -> None:
    """No error toast, no console error; keep a screenshot when asked."""
    toasts = page.locator(ERROR_TOAST)
    assert toasts.count() == 0, toasts.first.inner_text()
    assert not page.errors, page.errors
    folder = os.environ.get("RESTORATION_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")  # the click scrolled to the button; show the tab's top
        page.screenshot(path=str(Path(folder) / f"tab_{name}.png"), full_page=False)


def _upload(page, label: str, path: Path) -> None:
    # The tab's panel renders after the click; on a busy machine that takes seconds, and a file
    # set on a component that is still being mounted is lost.
    # Another tab opened earlier may hold a component with the same label: the visible one.
    caption = page.get_by_text(label, exact=True).locator("visible=true")
    caption.last.wait_for(timeout=30_000)
    block = page.locator(".block", has=caption).last
    block.locator("input[type=file]").set_input_files(str(path))


def _open(page, tab: str) -> None:
    page.get_by_role("tab", name=tab).click()
    page.wait_for_timeout(300)


def _in_first_screen(page, button: str) -> None:
    """The tab's run button is on the first screen at 1400x1000, with the inputs above it."""
    page.evaluate("window.scrollTo(0, 0)")
    box = page.get_by_role("button", name=button, exact=True).bounding_box()
    assert box is not None and box["y"] + box["height"] <= 1000, f"{button} at y={box and box['y']}"


def test_codecs_tab(page, medium_png):
    _open(page, "Codec comparison")
    _upload(page, "Original (upload, paste or pick an example)", medium_png)
    page.locator("img[src*='portrait']").first.wait_for(timeout=30_000)
    _in_first_screen(page, "Compress")
    page.get_by_label("Learned (ours)").check()
    _estimate_settles(page, "Estimate for 256×256")
    estimate, took = _timed_run(page, "Compress", page.get_by_text("codec(s).").first)
    _holds(estimate, took)
    page.get_by_text("JPEG quality=75", exact=True).first.wait_for(state="attached", timeout=10_000)
    page.get_by_text("Learned (ours) quality=5", exact=True).first.wait_for(state="attached", timeout=10_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    _compare_view(page)
    # The encoded files download as the codecs' real bytes.
    files = page.locator(".block", has=page.get_by_text("Encoded files", exact=True)).last
    with page.expect_download(timeout=30_000) as download:
        files.locator("a[href*='.jpg']").first.click()
    assert Path(download.value.path()).read_bytes()[:3] == b"\xff\xd8\xff"
    # The table fits at 1400x1000: the codec's label, not its id, and the other columns a click away.
    results = page.locator(".block", has=page.get_by_text("Results", exact=True)).last
    assert results.get_by_text("Learned (ours) quality=5", exact=True).count() >= 1
    assert results.get_by_text("neural-hp", exact=True).count() == 0
    _tables_fit(page)
    more = page.get_by_role("radio", name=re.compile("^more columns")).first
    other = more.evaluate("r => r.closest('label').innerText").split("(", 1)[1].split(",")[0].rstrip(")")
    more.check()  # its label names the columns it shows
    page.locator(".virtual-table-viewport:visible th", has_text=other).first.wait_for(timeout=10_000)
    _tables_fit(page)
    page.get_by_role("radio", name="main columns").first.check()
    _finish(page, "codecs")
    # Equal quality: every codec searched to SSIMULACRA 2 >= 80, the smallest file recommended; the
    # estimate counts the search's steps and SSIMULACRA 2 on each.
    page.get_by_label("Compare at").click()
    page.get_by_role("option", name="Equal quality: SSIMU2 ≥").click()
    _estimate_settles(page, "Estimate for 256×256")
    estimate, took = _timed_run(page, "Compress", page.get_by_text("Smallest file at SSIMU2 ≥ 80:").first)
    _holds(estimate, took)
    assert page.locator(ERROR_TOAST).count() == 0
    _tables_fit(page)
    # Every codec's settings are a click away, none behind an overflow menu.
    page.get_by_text("Codec settings", exact=True).click()
    choices = page.locator(".block", has=page.get_by_text("Settings of", exact=True)).last
    for label in ("JPEG", "JPEG XL", "PNG (OxiPNG)", "HEIC", "Learned v1 (ours)"):
        choices.get_by_role("radio", name=label, exact=True).wait_for(timeout=10_000)  # visible, no "…" menu
    choices.get_by_role("radio", name="JPEG XL", exact=True).check()
    page.get_by_label("distance").first.wait_for(timeout=10_000)


def _estimate_settles(page, start: str) -> None:
    """Wait for the estimate of the form as it is now (it follows each change of the form)."""
    page.locator("p:visible", has_text=start).last.wait_for(timeout=60_000)
    page.wait_for_timeout(2_000)


def test_restoration_tab(page, small_png):
    """A chain in a chosen order, our default model plus a Hub model that cannot download here:
    the ready model's result is shown, the Hub model's row says why it gave none."""
    _open(page, "Restoration")
    _upload(page, "Original", small_png)
    _in_first_screen(page, "Restore")
    page.get_by_label("Degradation chain (applied in order)").fill("jpeg:q=20, noise:5")
    page.get_by_role("button", name="Degrade", exact=True).click()
    # The degraded file lands in the second image input once the degradation ran.
    degraded = page.locator(".block", has=page.get_by_text("Degraded", exact=True)).last
    degraded.locator("img").first.wait_for(timeout=60_000)
    page.get_by_text("JPEG quality=20 → noise σ=5").first.wait_for(state="attached", timeout=10_000)
    models = page.get_by_label("Models (each runs on its own)")
    models.click()
    page.get_by_role("option", name="not downloaded").first.click()  # a Hub model, offline here
    page.keyboard.press("Escape")
    # The estimate counts auto as the models its plan for this file runs; the Hub model is named.
    page.locator("p:visible", has_text="not on this machine").last.wait_for(timeout=60_000)
    _estimate_settles(page, "Estimate for 96×96")
    estimate, took = _timed_run(page, "Restore", page.get_by_text("gave no result").first)
    _holds(estimate, took)
    table = page.locator(".block", has=page.get_by_text("Metrics", exact=True)).last
    _tables_fit(page)
    # Auto, preselected, ran: the chain told it JPEG at quality 20 (the output is a PNG: noise came last),
    # and its note says what it found and which model ran.
    table.get_by_text("auto", exact=True).first.wait_for(timeout=10_000)
    table.get_by_text("JPEG q20 → remove the artifacts (deeprecnet-qa-codecs)", exact=False).first.wait_for(
        timeout=10_000
    )
    _compare_view(page, pan=False)
    # An error map in the view comes with its colour scale.
    page.locator("input[aria-label='Right']:visible").click()
    page.get_by_role("option", name="FLIP auto").click()
    page.locator(".rl-viewer:visible .rl-scale[data-scale='FLIP']").wait_for(timeout=30_000)
    assert "FLIP ≥ 0.25" in page.locator(".rl-viewer:visible .rl-scale").first.inner_text()
    # After a run the estimate under the button is refined by this server's own timing of the models.
    page.get_by_text("Estimate for 96×96: about").first.wait_for(timeout=30_000)
    _finish(page, "restoration")


def test_sr_tab(page, small_png):
    _open(page, "Super-resolution")
    _upload(page, "Image to upscale (upload or paste)", small_png)
    _in_first_screen(page, "Upscale")
    page.get_by_role("radio", name="x2").first.check()
    _estimate_settles(page, "Estimate for 96×96")
    estimate, took = _timed_run(page, "Upscale", page.locator("p:visible", has_text="upscaled x2").first)
    _holds(estimate, took)
    _tables_fit(page)
    table = page.locator(".block", has=page.get_by_text("Metrics and time", exact=True)).last
    # The defaults: bicubic and our best x2 network.
    table.get_by_text("bicubic-x2").first.wait_for(timeout=180_000)
    _compare_view(page)  # 192x192 output: at 4:1 larger than the frame
    _finish(page, "sr")


def test_codecs_example_with_our_codec_and_a_sweep(page, url):
    """An example picked (not uploaded), our learned codec ticked beside the defaults, then the
    rate-distortion sweep under the results draws a curve per codec."""
    other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})  # a fresh session
    other.goto(url, wait_until="load")
    other.get_by_role("button", name="Compress").wait_for(timeout=60_000)
    other.get_by_label("Example image (scikit-image)").click()
    other.get_by_role("option", name="astronaut").click()
    other.locator("img[src*='astronaut']").first.wait_for(timeout=30_000)
    other.get_by_label("Learned (ours)").check()
    other.get_by_role("button", name="Compress").click()
    other.get_by_text("codec(s).").first.wait_for(timeout=90_000)
    for label in ("JPEG quality=75", "AVIF quality=60", "Learned (ours) quality=5"):
        other.get_by_text(label, exact=True).first.wait_for(state="attached", timeout=10_000)
    assert other.locator(ERROR_TOAST).count() == 0
    other.get_by_text("Rate-distortion sweep").click()  # folded away under the results
    other.get_by_role("button", name="Run sweep").click()
    other.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for(timeout=180_000)
    assert other.locator(".js-plotly-plot .scatterlayer .trace").count() >= 5
    assert other.locator(ERROR_TOAST).count() == 0
    other.close()


def test_sr_example_and_a_bad_file_as_the_original(page, url, tmp_path):
    """Picking an example ticks "treat upload as high-resolution" (the example is an original);
    with the box ticked, a file that is not an image still gets image.load's one-line message."""
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not an image")
    other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})  # a fresh session
    other.goto(url, wait_until="load")
    _open(other, "Super-resolution")
    tick = other.get_by_label("Treat upload as high-resolution")
    tick.wait_for(timeout=60_000)
    assert not tick.is_checked()
    other.get_by_label("Example high-resolution image").click()
    other.get_by_role("option").first.click()
    other.wait_for_function(
        "() => [...document.querySelectorAll('input[type=checkbox]')].some("
        "c => c.checked && c.closest('label')?.innerText.includes('Treat upload'))",
        timeout=30_000,
    )
    _upload(other, "Image to upscale (upload or paste)", bad)
    other.get_by_role("button", name="Upscale", exact=True).click()
    toast = other.locator(ERROR_TOAST).first
    toast.wait_for(timeout=60_000)
    assert "bad.png" in toast.inner_text() and "not a recognised image format" in toast.inner_text()
    other.close()


def test_a_bad_file_is_told_on_upload_and_clears_the_last_results(page, url, medium_png, tmp_path):
    """A file that is not an image gets its message as soon as it is uploaded; pressing the button
    anyway clears the previous run's results, which would otherwise read as this run's."""
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not an image")
    other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})  # its own toasts
    other.goto(url, wait_until="load")
    _open(other, "Codec comparison")
    _upload(other, "Original (upload, paste or pick an example)", medium_png)
    other.locator("img[src*='portrait']").first.wait_for(timeout=30_000)
    other.get_by_role("button", name="Compress").click()
    results = other.locator(".block", has=other.get_by_text("Results", exact=True)).last
    results.get_by_text("JPEG quality=75", exact=True).first.wait_for(timeout=60_000)
    other.locator(".rl-stage:visible").first.wait_for(timeout=30_000)
    assert other.locator(ERROR_TOAST).count() == 0
    _upload(other, "Original (upload, paste or pick an example)", bad)
    toast = other.locator(ERROR_TOAST).first
    toast.wait_for(timeout=30_000)  # no button pressed yet
    assert "notes.png" in toast.inner_text() and "not a recognised image format" in toast.inner_text()
    other.get_by_role("button", name="Compress").click()
    other.get_by_text("No result: the run stopped with an error", exact=False).first.wait_for(timeout=30_000)
    results.get_by_text("JPEG quality=75", exact=True).first.wait_for(state="detached", timeout=10_000)
    assert other.locator(".rl-stage:visible").count() == 0  # the compare view says why instead
    assert other.locator(ERROR_TOAST).count() == 1  # the same error once (Gradio counts a repeat in it)
    other.close()


def test_a_new_upload_clears_the_last_results_and_the_example(page, url, medium_png):
    """Results and the example's name belong to the last image: a new upload takes them off the
    page (they would read as the new image's), and the page says to run again."""
    other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    other.goto(url, wait_until="load")
    _open(other, "Codec comparison")
    example = other.get_by_label("Example image (scikit-image)")
    example.click()
    other.get_by_role("option", name="astronaut").click()
    other.locator("img[src*='astronaut']").first.wait_for(timeout=30_000)
    other.get_by_role("button", name="Compress").click()
    results = other.locator(".block", has=other.get_by_text("Results", exact=True)).last
    results.get_by_text("JPEG quality=75", exact=True).first.wait_for(timeout=60_000)
    _upload(other, "Original (upload, paste or pick an example)", medium_png)
    other.get_by_text("A new image: run again for its results.").first.wait_for(timeout=30_000)
    results.get_by_text("JPEG quality=75", exact=True).first.wait_for(state="detached", timeout=10_000)
    assert other.locator(".rl-stage:visible").count() == 0
    assert example.input_value() == ""
    assert other.locator("img[src*='portrait']").count() >= 1  # the upload itself stays
    assert other.locator(ERROR_TOAST).count() == 0
    other.close()


def test_dashboards_tab(page, small_png, tmp_path):
    _open(page, "Dashboards")
    # A fresh database: the tab opens on the shipped example run's charts, not empty placeholders.
    page.get_by_text("example run", exact=False).first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for(timeout=60_000)
    _tables_fit(page)
    _finish(page, "dashboards")
    _open(page, "Run a benchmark")
    # Two small images (under MS-SSIM's 176 px): every chart draws, or says why it cannot.
    cat = tmp_path / "cat.png"
    Image.fromarray(skimage.data.chelsea()[60:140, 100:196]).save(cat)
    caption = page.get_by_text("Images or zip archives", exact=True)
    caption.last.wait_for(timeout=30_000)
    page.locator(".block", has=caption).last.locator("input[type=file]").set_input_files([str(small_png), str(cat)])
    _in_first_screen(page, "Run benchmark")
    page.get_by_text("24 tasks on 2 image(s)").first.wait_for(timeout=30_000)
    _finish(page, "dashboards_run")
    estimate, took = _timed_run(
        page, "Run benchmark", page.locator(".js-plotly-plot:visible .scatterlayer .trace").first
    )
    # Once it ran, the Results sub-tab comes to the front with the new run's report.
    page.get_by_text("Showing your stored runs").first.wait_for(timeout=90_000)
    _holds(estimate, took)
    assert page.get_by_role("tab", name="Results", selected=True).count() == 1
    page.get_by_text("More charts and tables, the report files").click()
    page.get_by_text("it needs images of at least 176 px", exact=False).first.wait_for(timeout=30_000)
    page.wait_for_timeout(1_000)  # every chart drawn: a page error would be collected by now
    _tables_fit(page)
    assert page.locator(ERROR_TOAST).count() == 0 and not page.errors, page.errors
    _open(page, "Blind panel")
    _in_first_screen(page, "Show a pair")
    _finish(page, "dashboards_panel")


def test_batch_tab_converts_a_zip_and_the_download_opens(page, tmp_path):
    """Upload a zip of two photos and a broken file, convert to the smallest AVIF at SSIMULACRA 2 >= 70
    (a form, not JSON), run; the summary says how much smaller, the table names the broken file, and
    the downloaded zip holds the AVIF files and results.csv."""
    import io
    import zipfile

    folder = tmp_path / "zip"
    folder.mkdir()
    archive = folder / "photos.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for name, crop in (
            ("face.jpg", skimage.data.astronaut()[40:136, 176:272]),
            ("cat.jpg", skimage.data.chelsea()[60:156, 100:228]),
        ):
            buffer = io.BytesIO()
            Image.fromarray(crop).save(buffer, format="JPEG", quality=92)
            handle.writestr(name, buffer.getvalue())
        handle.writestr("broken.png", b"not an image")
    _open(page, "Batch")
    _upload(page, "Images or zip archives", archive)
    page.get_by_text("photos.zip").first.wait_for(timeout=30_000)
    _in_first_screen(page, "Run batch")
    page.get_by_label("Value (quality, bpp or score)").fill("70")
    page.get_by_label("Value (quality, bpp or score)").press("Tab")
    # The form writes the settings the /batch endpoint takes (folded under the form).
    page.get_by_text("Settings as JSON (what the /batch endpoint takes)").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('ssimulacra2=70'))", timeout=30_000
    )
    # The estimate counts the images in the zip (the broken member is the run's to name) and the
    # equal-quality search on each.
    page.locator("p:visible", has_text="2 file(s)").last.wait_for(timeout=60_000)
    _estimate_settles(page, "2 file(s)")
    estimate, took = _timed_run(
        page, "Run batch", page.get_by_text("2 of 3 files: convert to AVIF at SSIMU2 ≥ 70").first
    )
    _holds(estimate, took)
    _tables_fit(page)
    assert page.get_by_text("smaller than your JPEG files").count() >= 1
    table = page.locator(".block", has=page.get_by_text("Each file", exact=True)).last
    assert table.get_by_text("photos.zip:broken.png").count() >= 1
    results = page.locator(".block", has=page.get_by_text("Results (zip: files and results.csv)", exact=True)).last
    with page.expect_download(timeout=30_000) as download:
        results.locator("a[href*='.zip']").first.click()
    with zipfile.ZipFile(download.value.path()) as handle:
        assert sorted(handle.namelist()) == ["cat.avif", "face.avif", "results.csv"]
        assert "photos.zip:broken.png" in handle.read("results.csv").decode()
    _finish(page, "batch")


def test_the_checks_can_fail(page, url):
    """The two failure signals are real: a console error is collected and a gr.Error shows a toast."""
    other = page.context.browser.new_page()
    seen: list[str] = []
    other.on("console", lambda msg: seen.append(msg.text) if msg.type == "error" else None)
    other.goto(url, wait_until="load")
    other.get_by_role("button", name="Compress").click()  # no image: the handler raises gr.Error
    other.locator(ERROR_TOAST).first.wait_for(timeout=30_000)
    other.evaluate("console.error('probe')")
    other.wait_for_timeout(200)
    assert "probe" in seen
    other.close()
