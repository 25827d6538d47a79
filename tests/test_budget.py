"""The server's budget: predicted bytes held by running requests (the memory model), admission
in arrival order, a time limit per request, and the app's handlers releasing what they claimed
however they end."""

import os
import threading
import time

import numpy as np
import pytest

from restoration.core import budget, memory, worker
from restoration.core.errors import UserInputError


@pytest.fixture
def small_budget(monkeypatch):
    monkeypatch.setenv("RESTORATION_MEMORY_BUDGET", "1000")
    monkeypatch.setenv("RESTORATION_BUDGET_WAIT_S", "5")
    assert budget.BUDGET.used == 0


def need(nbytes: int, what: str = "this job") -> memory.Need:
    return memory.Need(nbytes, what)


def test_outside_a_request_nothing_is_limited(small_budget):
    budget.claim(need(10**12))
    budget.check()
    assert budget.BUDGET.used == 0


def test_a_claim_larger_than_the_budget_is_refused_at_once_naming_its_own_need(small_budget):
    with (
        budget.request(),
        pytest.raises(UserInputError, match="this comparison needs ~0 MB of memory; the server allows 0 MB"),
    ):
        budget.claim(need(1001, "this comparison"))
    assert budget.BUDGET.used == 0


def test_a_second_request_waits_until_the_first_releases_and_is_told_why(small_budget):
    order = []

    def first():
        with budget.request():
            budget.claim(need(800))
            order.append("first holds")
            time.sleep(0.5)
        order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    while not order:
        time.sleep(0.01)
    told = []
    with budget.request(on_wait=lambda used, limit, what: told.append((used, limit, what.what))):
        budget.claim(need(400, "the second"))  # 800 + 400 > 1000: waits for the first request to end
        order.append("second holds")
        assert budget.BUDGET.used == 400
    assert told == [(800, 1000, "the second")]
    thread.join()
    assert order == ["first holds", "first done", "second holds"] and budget.BUDGET.used == 0


def test_requests_are_admitted_in_arrival_order(small_budget):
    """A big request that fits alone is not starved by small ones arriving after it."""
    admitted, release = [], threading.Event()

    def hold():
        with budget.request():
            budget.claim(need(600))
            admitted.append("holder")
            release.wait(5)

    def ask(label, nbytes, delay):
        time.sleep(delay)
        with budget.request():
            budget.claim(need(nbytes))
            admitted.append(label)

    threads = [
        threading.Thread(target=hold),
        threading.Thread(target=ask, args=("big", 900, 0.2)),
        threading.Thread(target=ask, args=("small", 300, 0.4)),
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.8)
    assert admitted == ["holder"]  # small (300) would fit beside the holder, but big came first
    release.set()
    for thread in threads:
        thread.join()
    assert admitted == ["holder", "big", "small"] and budget.BUDGET.used == 0


def test_an_idle_server_admits_at_once(small_budget):
    start = time.monotonic()
    with budget.request():
        budget.claim(need(1000))
    assert time.monotonic() - start < 0.5


def test_a_busy_server_says_so_after_the_wait(small_budget, monkeypatch):
    monkeypatch.setenv("RESTORATION_BUDGET_WAIT_S", "0.2")
    with budget.request():
        budget.claim(need(900))
        holder = budget._current.get()
        with budget.request(), pytest.raises(UserInputError, match="the server is busy: running requests hold"):
            budget.claim(need(200))
        assert budget._current.get() is holder  # the inner request ended; the outer one still holds
    assert budget.BUDGET.used == 0


def test_the_budget_is_a_third_of_the_machine_by_default(monkeypatch):
    monkeypatch.delenv("RESTORATION_MEMORY_BUDGET", raising=False)
    assert budget.memory_limit() == budget.machine_memory() // 3
    monkeypatch.setenv("RESTORATION_MEMORY_BUDGET", "12G")
    assert budget.memory_limit() == 12 * 2**30


def test_the_memory_model_counts_every_step_and_the_images_held():
    pixels = 10**6
    alone = memory.need("x", pixels, [("codec", "jpeg")])
    more = memory.need("x", pixels, [("codec", "jpeg")], [("metric", "ssim")], kept=2)
    assert more.bytes == alone.bytes + memory.step_bytes("metric", "ssim", pixels) + 2 * 3 * pixels
    # Unmeasured steps cost more than any measured one: a new codec is admitted conservatively.
    unknown = memory.step_bytes("codec", "no-such-codec", pixels)
    assert all(
        unknown >= memory.step_bytes(kind, name, pixels)
        for kind, steps in memory.table().items()
        if kind != "measured"
        for name in steps
    )


def test_a_request_past_its_time_limit_stops_between_steps(small_budget, monkeypatch):
    monkeypatch.setenv("RESTORATION_REQUEST_LIMIT_S", "0.05")
    with budget.request():
        budget.check()
        time.sleep(0.1)
        with pytest.raises(UserInputError, match="ran past its 0 s limit"):
            budget.check()


def test_app_handlers_claim_their_inputs_and_release_them_on_error(small_budget, tmp_path, monkeypatch):
    """An upload whose decoding alone is larger than the budget is refused before it is decoded,
    with one clear line; after a failing and a working request nothing is held."""
    import gradio as gr
    from PIL import Image

    from ui import codecs_tab

    monkeypatch.setenv("RESTORATION_MEMORY_BUDGET", "64M")  # a small comparison's steps fit (SSIM's band: 25 MiB)
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((3000, 3000, 3), np.uint8)).save(big)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(small)
    compare = codecs_tab.make_compare([("jpeg", "quality")])
    with pytest.raises(gr.Error, match="reading a 9.0 MP image needs"):
        compare(str(big), ["jpeg"], "settings", None, False, 50, progress=lambda *a, **k: None)
    assert budget.BUDGET.used == 0
    table, *_ = compare(str(small), ["jpeg"], "settings", None, False, 50, progress=lambda *a, **k: None)
    assert table["data"][0][0] == "JPEG" or table["data"][0][0] == "jpeg"
    assert budget.BUDGET.used == 0


@pytest.mark.slow
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


def test_an_idle_worker_is_kept_only_while_it_holds_little():
    """Memory held by idle worker processes is outside the budget: a job that left its worker
    large (a learned codec's imports) ends it; a light one's worker serves the next call."""
    light = worker.call(os.getpid)
    assert worker.call(os.getpid) == light  # kept, and used again
    worker.call(exec, f"import numpy; global held; held = numpy.ones({worker.KEEP_RESIDENT + 64 * 2**20}, numpy.uint8)")
    assert memory.resident_bytes(light) is None  # ended after its job
    assert worker.call(os.getpid) != light


def test_claims_covered_by_a_batchs_claim_do_not_add_up(small_budget):
    """A batch claims its largest item once; the actions it runs item by item claim their own,
    which must not add up to the request's end."""
    with budget.request() as current:
        budget.claim(need(600))
        for _ in range(3):
            with budget.covered():
                budget.claim(need(600))  # would exceed the 1000-byte budget if counted
        assert current.claimed == 600 and budget.BUDGET.used == 600
        budget.claim(need(300))  # outside: counted again
        assert current.claimed == 900
    assert budget.BUDGET.used == 0
