"""Every door guarded: the REST routes closed, page-only events cheap and in their own
lane, and one clear message for every bad value of every named endpoint, with no traceback in the
log. Calls go through the live app's queue as the page makes them (``live_app.join``: by
``fn_index``), so what a hostile script can send is what these tests send."""

from __future__ import annotations

import io
import logging
import math

import httpx
import numpy as np
import pytest
from live_app import join, serving, upload
from PIL import Image

TINY = np.ascontiguousarray(np.random.default_rng(41).integers(0, 256, (24, 32, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """(the app's Blocks, its URL, an uploaded 32x24 PNG as FileData), on a private database."""
    import app

    folder = tmp_path_factory.mktemp("doors")
    image = folder / "tiny.png"
    Image.fromarray(TINY).save(image)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RESTORATION_DB", str(folder / "bench.sqlite"))
        mp.setenv("RESTORATION_MEMORY_BUDGET", "1T")  # these tests are about doors, not memory (test_budget.py)
        demo = app.build()
        with serving(demo) as url:
            yield demo, url, upload(url, image)


def named(demo, api_name: str):
    return next(fn for fn in demo.fns.values() if fn.api_name == api_name)


# -- 1. one door --------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_direct_routes_are_closed(live):
    """A direct POST skipped the queue and its limits (16 /compress calls ran at once): every
    queued event is refused there, by name or by fn_index; only page-only events that never queue
    (a failed run's blanks, the batch form's settings text, a table's page) answer, and their
    values pass the same checks (``doors.check_value``: a table's size is capped)."""
    demo, url, image = live
    answer = httpx.post(f"{url}gradio_api/run/compress", json={"data": [image, "jpeg", "{}", None, None]}, timeout=30)
    assert answer.status_code == 404 and "join the queue" in answer.text
    import gradio as gr

    for index, fn in demo.fns.items():
        data = [None] * len(fn.inputs)
        answer = httpx.post(f"{url}gradio_api/run/predict", json={"data": data, "fn_index": index}, timeout=30)
        if fn.queue:
            assert answer.status_code == 404, fn.name
        else:  # never queued: page-only, never a heavy job, never a file to read
            assert fn.api_visibility == "private" and fn.concurrency_id != "heavy", fn.name
            assert not any(isinstance(block, (gr.File, gr.Image)) for block in fn.inputs), fn.name


@pytest.mark.slow
def test_page_only_events_run_in_their_own_lane_and_stay_cheap(live, tmp_path):
    """Each private event, called by fn_index through the queue with its inputs' defaults, answers
    within seconds; the queued ones share the one-at-a-time ``page`` lane (never the heavy
    jobs' slots, never more than one core), and the stored-runs report and an example's PNG are
    written once, not per call (the report wrote 9.3 MB a call)."""
    import os

    from restoration.core import scratch

    demo, url, _ = live
    private = {index: fn for index, fn in demo.fns.items() if fn.api_visibility == "private" and fn.fn}
    assert {fn.concurrency_id for fn in private.values() if fn.queue} == {"page"}
    assert {fn.concurrency_limit for fn in private.values() if fn.queue} == {1}
    for index, fn in private.items():
        data = [getattr(block, "value", None) for block in fn.inputs]
        answer = join(url, index, data, timeout=120)
        assert "http" not in answer and answer["seconds"] < 60, (fn.name, answer)

    def lab_files() -> int:
        return sum(len(files) for _, _, files in os.walk(scratch.root()))

    load_report = next(index for index, fn in private.items() if fn.api_name == "load_report")
    load_example = next(index for index, fn in private.items() if fn.name == "load_example")
    join(url, load_report, [[]])
    join(url, load_example, ["astronaut"])
    before = lab_files()
    for _ in range(3):
        assert join(url, load_report, [[]])["success"] and join(url, load_example, ["astronaut"])["success"]
    assert lab_files() == before


# -- 6. one clear message for every bad input ---------------------------------------------------

FILE_META = {"_type": "gradio.FileData"}
NOT_UPLOADS = [
    "abc",
    5,
    {"path": "/etc/passwd", "meta": FILE_META},
    {"url": "http://127.0.0.1:9/x.png", "meta": FILE_META},
    {"path": "http://127.0.0.1:9/x.png", "meta": FILE_META},
    {"meta": FILE_META},
]
BAD = {  # a component kind -> values that are never its input
    "number": [math.nan, math.inf, -math.inf, "abc", [1], True, 10**400],
    "checkbox": ["abc", 1, [True], math.nan],
    "text": [["a"], {"a": 1}, 12, math.nan, "x" * 70_000],
    "choice": [math.nan, ["x"], {"a": 1}, "no-such-choice"],
    "multi": ["abc", [math.nan], [["x"]], ["no-such-choice"]],
    "file": NOT_UPLOADS,
    "files": ["abc", NOT_UPLOADS[2:3], NOT_UPLOADS[3:4], [5]],
}
# Values of the right kind that each endpoint's own checks refuse (the probe's cases among them).
SEMANTIC = {
    "compress": {
        "params_json": ["[" * 3000 + "]" * 3000, '{"quality": NaN}', '{"quality": 1e999}', "[1]"],
        "target_bpp": [1e300, -1],
        "target_bytes": [1e300, -1],
        "codec_name": ["nosuch"],
    },
    "sweep": {"qualities_text": ["nan", "inf", "1e999", "abc"], "bpps_text": ["nan,1", "-1"]},
    "degrade": {"bpp": [1e300, -1]},
    "bench": {"qualities": ["nan", "abc"], "bpps": ["inf"]},
    "batch": {"settings": ["[" * 3000 + "]" * 3000, "{", '{"codec": "jpeg", "quality": NaN}']},
    "report": {"run_ids": [["abc"], ["1e300"], ["-1"], ["\u00b2"], ["9" * 5000]]},
    "panel_vote": {"pair_id": [1e300, -5, 2.5, 0]},
    "upscale": {"outscale": [1e300]},
    "restore": {"sigma": [1e300]},
}


def kind(block) -> str | None:
    import gradio as gr

    if isinstance(block, gr.State):
        return None
    if isinstance(block, (gr.Number, gr.Slider)):
        return "number"
    if isinstance(block, gr.Checkbox):
        return "checkbox"
    if isinstance(block, gr.Textbox):
        return "text"
    if isinstance(block, gr.CheckboxGroup) or isinstance(block, gr.Dropdown) and block.multiselect:
        return "multi"
    if isinstance(block, (gr.Dropdown, gr.Radio)):
        return "choice"
    if isinstance(block, gr.File) and block.file_count == "multiple":
        return "files"
    if isinstance(block, (gr.File, gr.Image)):
        return "file"
    return None


def parameter_name(fn, index: int) -> str:
    """The handler's parameter name of input ``index``, else the component's label."""
    import inspect

    names = [
        p.name
        for p in inspect.signature(fn.fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return names[index] if index < len(names) else getattr(fn.inputs[index], "label", None) or f"input {index + 1}"


def baseline(demo, api_name: str, image: dict) -> list:
    """A valid, cheap call of the endpoint: its defaults, the tiny upload, fast codecs and models."""
    fn = named(demo, api_name)
    data = [getattr(block, "value", None) for block in fn.inputs]
    own = {
        "image_path": image,
        "reference_path": image,
        "degraded_path": image,
        "files": [image],
        "codec_names": ["jpeg"],
        "model_ids": ["gaussian"] if api_name == "restore" else ["bicubic-x2"],
        "qualities_text": "50",
        "qualities": "50",
        "job": "convert",
        "settings": '{"codec": "jpeg", "quality": 50}',
        "models": ["gaussian", "median"],
        "scale": 2,
        "restore": "none",
        "kind": "codec",
        "example": None,
        "token": "x",
        "preference": "A",
    }
    for index in range(len(data)):
        name = parameter_name(fn, index)
        if name in own and not (api_name == "panel_pair" and name == "scale"):
            data[index] = own[name]
    return data


def cases(demo) -> list[tuple[str, int, str, object]]:
    found = []
    for fn in demo.fns.values():
        if fn.api_visibility != "public":
            continue
        for index, block in enumerate(fn.inputs):
            name = parameter_name(fn, index)
            values = BAD.get(kind(block), []) + SEMANTIC.get(fn.api_name, {}).get(name, [])
            found += [(fn.api_name, index, name, value) for value in values]
    return found


@pytest.mark.slow
def test_every_bad_value_of_every_endpoint_gets_one_message_and_no_traceback(live, capfd, caplog):
    """454 bad-input cases answered "Internal error (...)" (9) or {"error": null} (74), and 174 user
    errors were logged with full tracebacks: now each is one line that names the endpoint (and the
    parameter, when one value is at fault), and the log holds one line per refusal, no traceback."""
    demo, url, image = live
    caplog.set_level(logging.INFO, logger="restoration.app")
    all_cases = cases(demo)
    assert {api for api, *_ in all_cases} >= {
        "compress",
        "compare",
        "sweep",
        "degrade",
        "restore",
        "upscale",
        "batch",
        "bench",
        "report",
        "panel_pair",
        "panel_vote",
    }
    for api in {api for api, *_ in all_cases} - {"panel_vote"}:  # a vote needs a served pair's token
        answer = join(url, named(demo, api)._id, baseline(demo, api, image))
        assert answer["success"], (api, answer)  # so each bad value is the only thing wrong with its call
    bad = []
    for api, index, name, value in all_cases:
        data = baseline(demo, api, image)
        data[index] = value
        answer = join(url, named(demo, api)._id, data)
        error = answer.get("output", {}).get("error") if "http" not in answer else answer["detail"]
        if (
            answer.get("success")
            or not isinstance(error, str)
            or not error.strip()
            or "Internal error" in error
            or "\n" in error.strip()
        ):
            bad.append((api, name, str(value)[:30], answer.get("success"), str(error)[:120]))
    for chain in ("nosuch:3", "jpeg:q=nan", "noise:inf", "downscale:1e300"):  # the chain kind reads the chain
        data = baseline(demo, "degrade", image)
        data[1], data[-1] = "chain", chain
        error = join(url, named(demo, "degrade")._id, data)["output"].get("error")
        assert isinstance(error, str) and "Internal error" not in error and "\n" not in error, (chain, error)
    # too few values for an event
    short = join(url, named(demo, "compare")._id, [image])
    assert "takes 30 values, got 1" in short["output"]["error"]
    assert not bad, f"{len(bad)} of {len(all_cases)} cases without one clear message:\n" + "\n".join(map(str, bad))
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert not [r for r in caplog.records if r.exc_info], "a refusal was logged with its traceback"
    print(f"{len(all_cases)} bad-input cases, each one message")


def test_a_json_nested_too_deep_or_too_long_is_one_message():
    from restoration.core.errors import UserInputError
    from restoration.lab import common as lab

    assert lab.json_object('{"quality": 50}', "params") == {"quality": 50}
    assert lab.json_object("", "params") == {}
    for text, message in [
        ("[" * 100_000 + "]" * 100_000, "at most"),
        ('{"a": ' + "[" * 2000 + "]" * 2000 + "}", "nested"),
        ('{"a": NaN}', "finite"),
        ("[1]", "JSON object"),
        ("{", "not valid JSON"),
    ]:
        with pytest.raises(UserInputError, match=message):
            lab.json_object(text, "params")


def test_gradio_preprocessing_errors_are_one_line(live):
    """What Gradio's own reading refuses (a choice, a bound) keeps its words, names the parameter
    and comes without a traceback."""
    demo, url, image = live
    data = baseline(demo, "degrade", image)
    data[3] = 500  # quality, 1..100
    answer = join(url, named(demo, "degrade")._id, data)
    assert (
        answer["output"]["error"].startswith("/degrade: quality: ") and "maximum value 100" in answer["output"]["error"]
    )


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


# -- 4. a stopped server's temporary files ------------------------------------------------------


def test_a_stopped_servers_gradio_cache_is_removed_by_the_next_one(tmp_path, monkeypatch):
    """Gradio deletes only the files its own process made: after a SIGTERM, 762 MB stayed in
    GRADIO_TEMP_DIR for good. Now the cache is a folder of its process under the lab's root, and
    the next process removes the folders of processes that are gone (a live one's stays, also
    through the age and quota cleaning)."""
    import os
    import subprocess
    import sys

    import ui
    from restoration.core import scratch

    monkeypatch.setenv("RESTORATION_TMP", str(tmp_path))
    monkeypatch.setenv("GRADIO_TEMP_DIR", "")  # recorded, so that the teardown removes what the test sets
    monkeypatch.delenv("GRADIO_TEMP_DIR")
    script = (
        "import signal, os, pathlib; from restoration.core import scratch; "
        "f = scratch.process_folder('gradio'); (f / 'upload.png').write_bytes(b'x' * 1000); print(f, flush=True); "
        "os.kill(os.getpid(), signal.SIGTERM)"
    )
    stopped = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, env=os.environ
    )
    left = tmp_path / stopped.stdout.strip().rsplit("/", 1)[-1]
    assert stopped.returncode == -15 and (left / "upload.png").is_file()  # what SIGTERM leaves
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a live server's folder
    try:
        alive = tmp_path / f"gradio{scratch.PROCESS_MARK}{other.pid}"
        alive.mkdir()
        past = 0
        os.utime(alive, (past, past))
        folder = ui.own_temp_folder()  # what ui.main does first
        assert os.environ["GRADIO_TEMP_DIR"] == folder and folder.startswith(str(tmp_path))
        assert not left.exists() and alive.is_dir() and os.path.isdir(folder)
        scratch.clean(max_age_s=0)
        scratch.enforce_quota(0)
        assert alive.is_dir() and os.path.isdir(folder)
        assert ui.own_temp_folder() == folder  # one folder per process
    finally:
        other.kill()
        other.wait()


# -- 2. every long step checkable ---------------------------------------------------------------


def cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds used so far by this process and every live process under it (Linux /proc)."""
    import os

    pid = pid or os.getpid()
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            with open(f"/proc/{current}/task/{current}/children") as handle:
                pending += [int(child) for child in handle.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def idle_within(seconds: float, window: float = 2.0, busy: float = 0.3) -> float:
    """Seconds until this process tree used under ``busy`` of a core over ``window``; fails after ``seconds``."""
    import time

    start = time.monotonic()
    while time.monotonic() - start < seconds:
        before = cpu_seconds()
        time.sleep(window)
        if (cpu_seconds() - before) / window < busy:
            return time.monotonic() - start
    raise AssertionError(f"still busy {seconds:.0f} s after the cancel")


@pytest.fixture(scope="module")
def megapixel(tmp_path_factory):
    """A 1448x1448 photo (2.1 MP): one AVIF encode at speed 0 takes ~35 s on one core here, as
    one library call (past the 10 s this test allows after its cancel, even on two threads)."""
    import cv2
    import skimage.data

    path = tmp_path_factory.mktemp("mp") / "astronaut-2mp.png"
    Image.fromarray(cv2.resize(skimage.data.astronaut(), (1448, 1448))).save(path)
    return path


def compare_data(demo, image: dict, codec: str, params: dict, size_mode: str, target, perceptual=False) -> list:
    from restoration import codecs

    fn = named(demo, "compare")
    data = [getattr(block, "value", None) for block in fn.inputs]
    data[:5] = [image, [codec], size_mode, target, perceptual]
    keys = [(c.name, p.name) for c in codecs.CODECS.values() for p in c.params]
    for name, value in params.items():
        data[5 + keys.index((codec, name))] = value
    return data


@pytest.mark.parametrize("kind", ["encode", "size search", "equal-quality search"])
@pytest.mark.slow
def test_a_cancelled_long_codec_job_leaves_the_cpu_idle_within_10_s(live, megapixel, kind):
    """One AVIF encode at speed 0 is one library call of ~35 s at 2 MP; a size search makes about
    eight of them and an equal-quality search as many with metrics between. Cancelled after 3 s,
    each leaves the CPU idle within 10 s (before: the encode, the search ran on to its end)."""
    import time

    from gradio_client import Client, handle_file

    demo, url, _ = live
    client = Client(url, verbose=False)
    image = handle_file(str(megapixel))
    if kind == "encode":
        job = client.submit(image, "avif", '{"quality": 30, "speed": 0}', None, None, api_name="/compress")
    elif kind == "size search":
        job = client.submit(image, "avif", '{"speed": 0}', 0.3, None, api_name="/compress")
    else:
        job = client.submit(*compare_data(demo, image, "avif", {"speed": 0}, "quality:psnr", 60), api_name="/compare")
    time.sleep(3)
    assert not job.done()
    started = time.monotonic()
    job.cancel()
    idle_within(10)
    print(f"{kind}: idle {time.monotonic() - started:.1f} s after the cancel")


def bomb_zip(path, members: int, junk: int, method) -> None:
    """A zip of ``members`` members, each a tiny PNG followed by ``junk`` zero bytes (the probe's
    archive: 2000 members of ~200 MiB of bzip2'd zeros in 1.25 MB)."""
    import zipfile

    payload = png_bytes(TINY) + bytes(junk)
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(members):
            archive.writestr(zipfile.ZipInfo(f"{i:04d}.png"), payload, compress_type=method)


@pytest.mark.parametrize("method", ["bzip2", "deflate"])
@pytest.mark.slow
def test_a_zip_bomb_is_refused_before_any_member_is_unpacked(live, tmp_path, method):
    """Each member's method, declared size and ratio (and its size against what its header's image
    can need) are checked before any of it is decompressed: the probe's archive kept a core busy
    for 300 s after its cancel; now the benchmark refuses it at once, naming the member."""
    import time
    import zipfile

    demo, url, image = live
    archive = tmp_path / f"bomb-{method}.zip"
    bomb_zip(archive, 3, 20 * 2**20, zipfile.ZIP_BZIP2 if method == "bzip2" else zipfile.ZIP_DEFLATED)
    assert archive.stat().st_size < 200_000
    for api in ("bench", "batch"):
        data = baseline(demo, api, image)
        data[0] = [upload(url, archive)]
        started = time.monotonic()
        answer = join(url, named(demo, api)._id, data)
        took = time.monotonic() - started
        text = answer["output"].get("error") or str(answer["output"].get("data"))
        assert "0000.png" in text and ("method 12" in text or "expands" in text or "holds more than its image" in text)
        assert took < 10, took


def test_a_zip_member_is_read_a_chunk_at_a_time_and_stops_when_cancelled(tmp_path):
    """An 8 MB image stored in a zip is read in 1 MiB chunks, the request checked between them: a
    cancel stops the unpacking at the next chunk."""
    import zipfile

    from restoration.codecs import archive as archivelib
    from restoration.core import budget
    from restoration.core.errors import UserInputError

    path = tmp_path / "big.zip"
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((1600, 1700, 3), np.uint8)).save(buffer, "BMP")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as out:
        out.writestr("big.bmp", buffer.getvalue())
    checks = []

    def cancelled():
        checks.append(1)
        return len(checks) > 3

    with zipfile.ZipFile(path) as archive, budget.request(cancelled=cancelled):
        info = archive.getinfo("big.bmp")
        with pytest.raises(UserInputError, match="cancelled"):
            archivelib.read(archive, info, "big.zip:big.bmp")
    assert len(checks) == 4  # before reading, then after each of three 1 MiB chunks: stopped at the fourth
    with zipfile.ZipFile(path) as archive:  # outside a request: read whole
        assert len(archivelib.read(archive, archive.getinfo("big.bmp"), "big.bmp")) == len(buffer.getvalue())


# -- 5. a blind panel that stays blind ------------------------------------------------------------


def test_re_running_a_named_model_on_the_served_input_reproduces_neither_side(tmp_path):
    """The probe re-ran each named model on the pair's served input and matched A or B pixel for
    pixel. The models now see a margin around the shown window, whose offset (off the 8x8 grid)
    and mirroring the server keeps: no re-run reproduces either side; the sizes shown are as before."""
    import skimage.data

    from restoration.benchmark import panel
    from restoration.benchmark.store import Store
    from restoration.pipelines import restore as restorelib
    from restoration.pipelines import sr

    db = tmp_path / "panel.sqlite"
    image = skimage.data.astronaut()
    pair = panel.make_pair(image, "restoration", ["gaussian", "median"], db, quality=10)
    assert pair.a.shape == pair.b.shape == pair.input.shape == (256, 256, 3)
    with Store(db) as store:
        models = store.pair(pair.id)
    for model in (models["model_a"], models["model_b"]):
        again = restorelib.restore_one(pair.input, model).image
        assert not np.array_equal(again, pair.a) and not np.array_equal(again, pair.b), model
    shown = panel.make_pair(image, "super-resolution", ["bicubic-x2", "nearest-x2"], db, scale=2, crop=64)
    assert shown.a.shape == (64, 64, 3) and shown.input.shape == (32, 32, 3)
    for model in ("bicubic-x2", "nearest-x2"):
        again = sr.upscale(shown.input, model, 2).image
        assert not np.array_equal(again, shown.a) and not np.array_equal(again, shown.b), model


def add_pairs(db, count: int) -> list[int]:
    from restoration.benchmark.store import Store

    with Store(db) as store:
        return [store.add_pair("h", "restoration", {}, "gaussian", "median") for _ in range(count)]


def test_vote_limits_count_per_client_not_for_the_whole_server(tmp_path, monkeypatch):
    """One client's 29 votes a minute locked everyone else out; now each client has its own limit."""
    from restoration.benchmark import panel
    from restoration.core.errors import UserInputError

    monkeypatch.setattr(panel, "VOTES_PER_MINUTE", 2)
    monkeypatch.setattr(panel, "_RECENT", {})
    db = tmp_path / "panel.sqlite"
    ids = add_pairs(db, 4)
    panel.vote(ids[0], panel.pair_token(ids[0]), "A", db=db, voter="203.0.113.7")
    panel.vote(ids[1], panel.pair_token(ids[1]), "A", db=db, voter="203.0.113.7")
    with pytest.raises(UserInputError, match="too many votes from you in the last minute"):
        panel.vote(ids[2], panel.pair_token(ids[2]), "A", db=db, voter="203.0.113.7")
    panel.vote(ids[3], panel.pair_token(ids[3]), "B", db=db, voter="198.51.100.2")  # another client votes


def test_the_app_counts_votes_by_the_clients_address(monkeypatch):
    from types import SimpleNamespace

    from ui.doors import client_address

    request = SimpleNamespace(
        headers={"x-forwarded-for": "10.0.0.9, 203.0.113.7"}, client=SimpleNamespace(host="127.0.0.1"), session_hash="s"
    )
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("RESTORATION_TRUSTED_PROXY", raising=False)
    assert client_address(request) == "127.0.0.1"  # a forged header is not believed without a proxy
    monkeypatch.setenv("SPACE_ID", "lab/restoration")
    assert client_address(request) == "203.0.113.7"  # the proxy's own entry, not the caller's first one
    assert client_address(None) is None


def test_published_scores_move_only_in_batches_of_ten_votes(tmp_path, monkeypatch):
    """After 10 votes, the table before and after one vote told which model won it; now it counts
    whole batches of 10 votes, so one vote changes nothing until its batch is complete."""
    from restoration.benchmark import panel

    monkeypatch.setattr(panel, "_RECENT", {})
    db = tmp_path / "panel.sqlite"
    ids = add_pairs(db, 25)
    tables = []
    for i, pair_id in enumerate(ids):
        panel.vote(pair_id, panel.pair_token(pair_id), "A" if i % 3 else "B", db=db, voter=f"client-{i}")
        tables.append(panel.scores(db))
    assert all(table == [] for table in tables[:9])
    assert tables[9] and all(table == tables[9] for table in tables[10:19])  # votes 11-19: no change shown
    assert tables[19] != tables[9] and all(table == tables[19] for table in tables[20:])
    assert tables[19][0][2] == 20  # pairwise votes counted: two whole batches


# -- 7. responsive while busy -------------------------------------------------------------------


@pytest.mark.slow
def test_a_tiny_request_answers_within_3_s_while_a_perceptual_comparison_runs(live, tmp_path):
    """FLIP holds Python's GIL for its whole computation: in the server's process, beside a 6 MP
    perceptual comparison, a tiny /compress would take up to 8.9 s and the event loop would freeze
    with it. So FLIP runs in a worker process, and each heavy job's threads stay under the core count."""
    import time

    import cv2
    import skimage.data
    from gradio_client import Client, handle_file

    demo, url, _ = live
    big, tiny = tmp_path / "big.png", tmp_path / "tiny.png"
    Image.fromarray(cv2.resize(skimage.data.astronaut(), (2400, 1800))).save(big)
    Image.fromarray(TINY).save(tiny)
    client = Client(url, verbose=False)
    job = client.submit(
        *compare_data(demo, handle_file(str(big)), "jpeg", {}, "settings", None, perceptual=True), api_name="/compare"
    )
    time.sleep(2)
    latencies, start = [], time.monotonic()
    try:
        while not job.done() and time.monotonic() - start < 120:  # through every metric and error map
            started = time.monotonic()
            client.predict(handle_file(str(tiny)), "jpeg", "{}", None, None, api_name="/compress")
            latencies.append(time.monotonic() - started)  # back to back: one is always in flight
    finally:
        job.cancel()
    print(
        f"{len(latencies)} tiny /compress during a perceptual comparison: max {max(latencies):.2f} s, "
        f"median {sorted(latencies)[len(latencies) // 2]:.2f} s"
    )
    assert len(latencies) >= 3 and max(latencies) < 3, latencies


# -- 8. the smaller points ----------------------------------------------------------------------


def test_database_messages_name_the_file_not_the_servers_folders(tmp_path):
    from restoration.benchmark import report
    from restoration.benchmark.store import Store
    from restoration.core.errors import UserInputError

    db = tmp_path / "private-folder" / "bench.sqlite"
    with Store(db):
        pass
    for call in (lambda: report.build(db, [77]), lambda: Store(tmp_path / "nope.sqlite", create=False)):
        with pytest.raises(UserInputError) as info:
            call()
        assert str(tmp_path) not in str(info.value) and ".sqlite" in str(info.value)


def test_a_report_csv_quotes_cells_a_spreadsheet_would_run(tmp_path):
    """A zip member named "=HYPERLINK(...)" went raw into the benchmark CSV: a spreadsheet runs it."""
    import csv

    from restoration.benchmark import report

    path = report.write_csv(
        [{"image": '=HYPERLINK("http://x","y")', "dataset": "@SUM(A1)", "codec": "jpeg", "psnr": -1.5}],
        tmp_path / "r.csv",
    )
    row = next(csv.DictReader(path.open()))
    assert row["image"].startswith("'=") and row["dataset"].startswith("'@") and row["psnr"] == "-1.5"


def test_an_upscale_over_the_pixel_cap_names_the_cap_not_the_memory_budget(tmp_path, monkeypatch):
    """A 12 MP upload at x4 (192 MP) was refused citing the memory budget; the 40 MP output cap
    is the reason, and it is told from the header, before anything is claimed or decoded."""
    import struct
    import zlib

    from restoration.core import budget
    from restoration.core import image as imagelib
    from restoration.core.errors import UserInputError
    from restoration.lab import sr as lab_sr

    png = png_bytes(TINY[:8, :8])
    chunk = b"IHDR" + struct.pack(">II", 4000, 3000) + png[24:29]
    path = tmp_path / "12mp.png"
    path.write_bytes(png[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:])
    monkeypatch.setenv("RESTORATION_MEMORY_BUDGET", "100M")
    monkeypatch.setattr(imagelib, "decode", lambda *a, **k: pytest.fail("decoded before the size check"))
    with (
        budget.request(),
        pytest.raises(UserInputError, match="x4 result would have 192,000,000 pixels; the limit is 40,000,000"),
    ):
        lab_sr.upscale(str(path), 4, ["bicubic-x4"], False)


# -- 3. every input through the one web reader --------------------------------------------------


def test_a_restores_degraded_input_claims_its_memory_before_it_is_decoded(tmp_path, monkeypatch):
    """/restore read its degraded input without the web reader: a 35 MP restore ran at once while
    the budget was held. Now its decoding is claimed from the header first, like every input."""
    import gradio as gr

    from restoration.core import image as imagelib
    from ui import restore_tab

    path = tmp_path / "degraded.png"
    Image.fromarray(np.zeros((600, 800, 3), np.uint8)).save(path)
    monkeypatch.setenv("RESTORATION_MEMORY_BUDGET", "1000")
    monkeypatch.setattr(imagelib, "decode", lambda *a, **k: pytest.fail("decoded before its claim"))
    with pytest.raises(gr.Error, match="needs ~"):  # refused from the header by the memory budget
        restore_tab.restore(str(path), None, ["gaussian"], 0, progress=lambda *a, **k: None)


def test_a_benchmark_claims_its_largest_image_from_the_headers_before_decoding(tmp_path, monkeypatch):
    import gradio as gr

    from restoration.core import image as imagelib
    from ui import dashboards_tab

    path = tmp_path / "photo.png"
    Image.fromarray(np.zeros((600, 800, 3), np.uint8)).save(path)
    monkeypatch.setenv("RESTORATION_MEMORY_BUDGET", "1000")
    monkeypatch.setenv("RESTORATION_DB", str(tmp_path / "b.sqlite"))
    monkeypatch.setattr(imagelib, "decode", lambda *a, **k: pytest.fail("decoded before its claim"))
    with pytest.raises(gr.Error, match=r"largest image 0\.5 MP"):
        dashboards_tab.bench([str(path)], False, ["jpeg"], "50", "", [], 0, [], progress=lambda *a, **k: None)
