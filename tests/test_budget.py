"""The server's budget: pixels held by running requests, a time limit per request, and the app's
handlers releasing what they claimed however they end."""

import threading
import time

import numpy as np
import pytest

from restoration.core import budget
from restoration.core.errors import UserInputError


@pytest.fixture
def small_budget(monkeypatch):
    monkeypatch.setenv("RESTORATION_PIXEL_BUDGET", "1000")
    monkeypatch.setenv("RESTORATION_BUDGET_WAIT_S", "5")
    assert budget.BUDGET.used == 0


def test_outside_a_request_nothing_is_limited(small_budget):
    budget.claim(10**9)
    budget.check()
    assert budget.BUDGET.used == 0


def test_a_claim_larger_than_the_budget_is_refused_at_once(small_budget):
    with budget.request(), pytest.raises(UserInputError, match="more than the server's budget of 0 MP"):
        budget.claim(1001)
    assert budget.BUDGET.used == 0


def test_a_second_request_waits_until_the_first_releases(small_budget):
    order = []

    def first():
        with budget.request():
            budget.claim(800)
            order.append("first holds")
            time.sleep(0.5)
        order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    while not order:
        time.sleep(0.01)
    told = []
    with budget.request(on_wait=lambda used, limit: told.append((used, limit))):
        budget.claim(400)  # 800 + 400 > 1000: waits for the first request to end, and says why
        order.append("second holds")
        assert budget.BUDGET.used == 400
    assert told == [(800, 1000)]
    thread.join()
    assert order == ["first holds", "first done", "second holds"] and budget.BUDGET.used == 0


def test_a_busy_server_says_so_after_the_wait(small_budget, monkeypatch):
    monkeypatch.setenv("RESTORATION_BUDGET_WAIT_S", "0.2")
    with budget.request():
        budget.claim(900)
        holder = budget._current.get()
        with budget.request(), pytest.raises(UserInputError, match="the server is busy"):
            budget.claim(200)
        assert budget._current.get() is holder  # the inner request ended; the outer one still holds
    assert budget.BUDGET.used == 0


def test_a_request_past_its_time_limit_stops_between_steps(small_budget, monkeypatch):
    monkeypatch.setenv("RESTORATION_REQUEST_LIMIT_S", "0.05")
    with budget.request():
        budget.check()
        time.sleep(0.1)
        with pytest.raises(UserInputError, match="ran past its 0 s limit"):
            budget.check()


def test_app_handlers_claim_their_inputs_and_release_them_on_error(small_budget, tmp_path, monkeypatch):
    """An upload larger than the budget is refused before it is decoded, with one clear line;
    after a failing and a working request nothing is held."""
    import gradio as gr
    from PIL import Image

    from ui import codecs_tab

    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(big)  # 1600 px > 1000
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(small)
    compare = codecs_tab.make_compare([("jpeg", "quality")])
    with pytest.raises(gr.Error, match="more than the server's budget"):
        compare(str(big), ["jpeg"], "settings", None, False, 50, progress=lambda *a, **k: None)
    assert budget.BUDGET.used == 0
    table, *_ = compare(str(small), ["jpeg"], "settings", None, False, 50, progress=lambda *a, **k: None)
    assert table["data"][0][0] == "jpeg" and budget.BUDGET.used == 0


def test_a_cancelled_request_stops_at_its_next_step():
    """A client cancels a long job: the worker thread stops at its next step (Gradio alone would
    let it run to the end), and the server serves the next request."""
    import gradio as gr
    from gradio_client import Client
    from live_app import serving

    from ui.common import steps, user_facing

    done = []

    @user_facing
    def slow(text, progress=gr.Progress()):
        report = steps(progress)
        for i in range(40):
            report(i / 40, f"step {i}")
            done.append(i)
            time.sleep(0.1)
        return text

    with gr.Blocks() as demo:
        box, out, button = gr.Textbox(), gr.Textbox(), gr.Button()
        button.click(slow, box, out, api_name="slow")
    with serving(demo) as url:
        client = Client(url, verbose=False)
        job = client.submit("a", api_name="/slow")
        while len(done) < 5:
            time.sleep(0.05)
        assert job.cancel()
        time.sleep(1.0)
        stopped_at = len(done)
        time.sleep(1.0)
        assert len(done) == stopped_at < 40  # no step ran after the cancel took effect
        assert client.predict("b", api_name="/slow") == "b"  # the next call runs to its end
