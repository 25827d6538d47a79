"""The server's memory, disk and cancels under a stranger's heavy requests, with every limit at its
default: ``python app.py`` started as a Space starts it, called through ``gradio_client``.

    python bench/budget_probe.py [--out docs/bench_budget_probe.md] [--deadline-s 1500]

The server runs in a subprocess (its own ``RESTORATION_TMP`` in a temporary folder, the other
``RESTORATION_*`` and ``GRADIO_*`` settings removed so that it runs at its defaults; its log is
kept beside that folder; port ``BUDGET_PROBE_PORT`` or a free one). Its process tree's resident
memory (psutil, else ``/proc/PID/status`` VmRSS) and CPU time are sampled every 0.2 s, and the
main process's peak (VmHWM, reset before each probe through ``/proc/PID/clear_refs``) catches
what falls between two samples. The probes:

1. ``/compare`` of a 40 MP PNG (the astronaut upscaled) with the default codecs;
2. and 3. the learned codec (``neural``) at 16 MP, one request, then two at once;
4. and 5. two x4 ``/upscale`` of a 1940x1900 image at once, as uploaded (its 59 MP result is over
   the pixel limit) and treated as high-resolution (downscaled to 485x475 first, a 1940x1900 result);
6. six ``/report`` calls (the Dashboards tab's) and the temporary folder's size before and after;
7. a 16 MP learned-codec comparison cancelled about 5 s after it starts, and how long the server's
   CPU takes to fall back to idle;
8. and 9. what finished requests leave held: a 16 MP comparison twice from one session, then from
   three new sessions (each caller of a stranger's script is one);
10. the 40 MP comparison with the perceptual metrics, last, with the time left (``--perceptual-s``,
    by default past the server's own 900 s limit per request, which stops it on one core);

then the server log's tracebacks. Each probe records the peak rise of resident memory over the
idle server's, the need the server predicts (the memory model, as its claims add it up; the need a
message of the server named, when one did), the server's budget (a third of the machine's memory),
the wall time and each request's outcome. A probe that runs past its time is cancelled, and the
whole run stays within ``--deadline-s``. Prints a markdown report and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_CODECS = ["jpeg", "webp", "avif", "jpegxl", "jpeg2000"]  # the Codec comparison tab's (ui/codecs_tab.py)
LEARNED = "neural"
KEPT_CODECS = ["jpeg", "webp", "png"]  # quick at 16 MP: what a finished comparison leaves held
SIZE_40MP = (7744, 5160)  # 39.96 MP: under the 40 MP limit
SIZE_16MP = (4896, 3264)  # 15.98 MP: under the learned codecs' 16 MP
SIZE_SR = (1940, 1900)
SAMPLE_S = 0.2
QUIET_S = 3.0  # the CPU counts as back to idle once it stayed under the idle threshold this long


# -- the server's process tree ---------------------------------------------------------------------------


def tree_pids(pid: int) -> list[int]:
    try:
        import psutil
    except ImportError:
        return [pid, *proc_descendants(pid)]
    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def proc_descendants(pid: int) -> list[int]:
    """Without psutil: every process whose parent chain reaches ``pid`` (from /proc/*/stat)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def status_bytes(pid: int, key: str) -> int:
    """A field of /proc/PID/status (VmRSS, VmHWM) in bytes; 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of one process (/proc/PID/stat), None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int) -> bool:
    """Start the main process's VmHWM again from its current resident memory."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass
class Sample:
    t: float
    rss: int  # the whole tree's
    cpu: dict[int, float]  # per process


class Sampler(threading.Thread):
    """Samples the server's tree every SAMPLE_S; watches the jobs in ``jobs`` for their messages."""

    def __init__(self, pid: int):
        super().__init__(daemon=True, name="sampler")
        self.pid = pid
        self.samples: list[Sample] = []
        self.jobs: list[Call] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.cpu_total = 0.0  # CPU seconds the tree used while sampled (a process that ended included)

    def run(self) -> None:
        while not self.stopped.is_set():
            pids = tree_pids(self.pid)
            cpu = {p: c for p in pids if (c := cpu_seconds(p)) is not None}
            sample = Sample(time.monotonic(), sum(status_bytes(p, "VmRSS") for p in pids), cpu)
            with self.lock:
                if self.samples:
                    last = self.samples[-1].cpu
                    self.cpu_total += sum(c - last.get(p, 0.0) for p, c in cpu.items())  # a new process: all of it
                self.samples.append(sample)
                jobs = list(self.jobs)
            for call in jobs:
                call.watch()
            self.stopped.wait(SAMPLE_S)

    def since(self, start: float) -> list[Sample]:
        with self.lock:
            return [s for s in self.samples if s.t >= start]

    def cpu_rate(self, a: Sample, b: Sample) -> float:
        """Cores the tree used between two samples (processes alive at both)."""
        spent = sum(b.cpu[p] - a.cpu[p] for p in b.cpu if p in a.cpu)
        return spent / max(b.t - a.t, 1e-6)

    def rate_over(self, seconds: float) -> float:
        with self.lock:
            window = [s for s in self.samples if s.t >= self.samples[-1].t - seconds]
        return self.cpu_rate(window[0], window[-1]) if len(window) > 1 else 0.0

    def wait_idle(self, since: float, threshold: float, limit_s: float) -> float | None:
        """Seconds from ``since`` until the tree's CPU use (over windows of 1 s: a clock tick is
        0.01 s) fell under ``threshold`` cores and stayed there QUIET_S; None when it did not
        within ``limit_s``."""
        end = since + limit_s
        while time.monotonic() < end:
            samples = self.since(since)[:: max(1, round(1.0 / SAMPLE_S))]
            quiet_from = None
            for a, b in zip(samples, samples[1:]):
                if self.cpu_rate(a, b) < threshold:
                    quiet_from = a.t if quiet_from is None else quiet_from
                else:
                    quiet_from = None
            if quiet_from is not None and samples[-1].t - quiet_from >= QUIET_S:
                return quiet_from - since
            time.sleep(0.5)
        return None


# -- the server ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp_root: Path, port: int) -> dict:
    """This environment without the lab's and Gradio's settings (the server at its defaults), with
    its own temporary root and port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTORATION_", "GRADIO_"))}
    env.update(
        RESTORATION_TMP=str(tmp_root),
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_server(tmp_root: Path, log_path: Path, port: int, timeout_s: float = 300) -> subprocess.Popen:
    import httpx

    log = log_path.open("w")
    server = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=server_env(tmp_root, port), stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"python app.py exited with {server.returncode}; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stop_server(server)
    raise RuntimeError(f"python app.py did not answer within {timeout_s:.0f} s; see {log_path}")


def stop_server(server: subprocess.Popen) -> None:
    """SIGINT (Gradio closes), then SIGKILL; then the worker processes it left, by their ids."""
    children = tree_pids(server.pid)[1:]
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# -- inputs and predictions -------------------------------------------------------------------------------


def make_image(size: tuple[int, int], path: Path) -> Path:
    """The astronaut (scikit-image) resized to ``size``, as PNG."""
    import skimage.data
    from PIL import Image

    Image.fromarray(skimage.data.astronaut()).resize(size, Image.Resampling.BICUBIC).save(path)
    return path


def compare_need(path: Path, codecs: list[str], perceptual: bool) -> int:
    """What the server claims for a comparison, as it adds it up: the upload's decoding (from its
    header), then the comparison's images and heaviest step (``pipelines.compare.compare_codecs``)."""
    from PIL import Image

    from restoration import metrics
    from restoration.core import memory
    from restoration.lab import common
    from restoration.pipelines import compare

    with Image.open(path) as image:
        pixels = image.width * image.height
    steps = [*[("codec", name) for name in codecs], *compare.metric_steps(metrics.names(on_demand=perceptual))]
    job = memory.need("", pixels, steps, kept=2 * len(codecs))
    return common.decode_need(pixels, path.read_bytes()[:64]).bytes + job.bytes


def upscale_need(path: Path, scale: int, models: list[str], from_hr: bool, restore: str = "auto") -> int:
    """What the server claims for an upscale (``pipelines.sr.upscale``): the decoding, the results and
    the heaviest model at the output's pixels, the clean-first step at the input's."""
    from PIL import Image

    from restoration.core import memory
    from restoration.lab import common
    from restoration.pipelines import restore as restorelib

    with Image.open(path) as image:
        width, height = image.size
    low = (width // scale) * (height // scale) if from_hr else width * height
    out = low * scale * scale
    need = common.decode_need(width * height, path.read_bytes()[:64]).bytes
    need += memory.need("", out, [("model", m) for m in models], kept=2 * len(models) + 1).bytes
    if restore != "none":
        need += memory.need("", low, restorelib.memory_steps([restore])).bytes
    return need


# -- calls and probes --------------------------------------------------------------------------------------------

NEED_TEXT = re.compile(r"needs ~?([0-9.]+ [GM]B)")


@dataclass
class Call:
    """One request: submitted, watched (its messages, when it started running), its outcome."""

    label: str
    api: str
    args: tuple
    kwargs: dict
    job: object = None
    submitted: float = 0.0
    started: float | None = None
    ended: float | None = None
    outcome: str = ""
    messages: list[str] = field(default_factory=list)
    progress: str = ""
    client: object = None

    def submit(self, url: str) -> None:
        from gradio_client import Client

        # a caller of its own (a session of its own), as a stranger is, unless ``client`` is given
        client = self.client or Client(url, verbose=False, download_files=False)
        self.submitted = time.monotonic()
        self.job = client.submit(*self.args, api_name=self.api, **self.kwargs)

    def watch(self) -> None:
        from gradio_client.utils import Status

        if self.job is None or self.ended is not None:
            return
        status = self.job.status()
        if status.code in (Status.PROCESSING, Status.PROGRESS, Status.LOG) and self.started is None:
            self.started = time.monotonic()
        if status.log and status.log[0] not in self.messages:
            self.messages.append(status.log[0])
        if status.progress_data:
            self.progress = status.progress_data[-1].desc or self.progress
        if self.job.done():
            self.ended = time.monotonic()

    def finish(self, deadline: float) -> None:
        """Wait for the answer until ``deadline``; past it, cancel the request."""
        try:
            self.job.result(timeout=max(0.0, deadline - time.monotonic()))
            self.outcome = "ran"
        except TimeoutError:
            self.job.cancel()
            self.outcome = f"cut at {time.monotonic() - self.submitted:.0f} s (cancelled)" + (
                f", at '{self.progress}'" if self.progress else ""
            )
        except Exception as exc:  # the server's refusal, as the caller reads it
            self.outcome = f"refused: {exc}"
        self.ended = self.ended or time.monotonic()

    def said_need(self) -> str | None:
        for text in [self.outcome, *self.messages]:
            if found := NEED_TEXT.search(text):
                return found.group(1)
        return None

    def summary(self) -> str:
        start = f"started after {self.started - self.submitted:.1f} s" if self.started else "never started"
        text = f"{self.label}: {self.outcome} ({start}, answered after {self.ended - self.submitted:.1f} s)"
        return text + "".join(f'; said: "{m}"' for m in self.messages)


@dataclass
class Result:
    name: str
    calls: list[Call]
    wall_s: float
    idle_rss: int
    before_rss: int
    peak_rss: int
    predicted: int | None
    tmp_before: int
    tmp_after: int
    tracebacks: int
    idle_after_s: float | None = None
    idle_after_what: str = ""
    busy_before_cancel: float | None = None  # cores the tree used in the 2 s before the cancel or the cut
    cores: float = 0.0  # cores the tree used on average while the probe's requests ran
    held_after: int = 0  # the tree's resident memory once the probe's requests ended and the CPU fell idle
    held_workers: int = 0  # of which its worker processes'


class Probe:
    def __init__(self, url: str, server_pid: int, sampler: Sampler, tmp_root: Path, log_path: Path, deadline: float):
        self.url, self.pid, self.sampler = url, server_pid, sampler
        self.tmp_root, self.log_path, self.deadline = tmp_root, log_path, deadline
        self.idle_rss = 0
        self.idle_cpu = 0.1
        self.results: list[Result] = []

    def settle(self, limit_s: float = 60) -> None:
        """Wait for the server's CPU to fall back to idle (a cut request's cancel included)."""
        self.sampler.wait_idle(time.monotonic(), self.idle_cpu, limit_s)

    def measure_idle(self) -> None:
        rates = []
        for _ in range(8):
            time.sleep(1.0)
            rates.append(self.sampler.rate_over(1.0))
        # over twice the idle server's own use (Gradio's heartbeats), at least a tenth of a core: one
        # heavy job keeps a core busy
        self.idle_cpu = max(0.1, 2 * max(rates) + 0.02)
        self.idle_rss = self.sampler.since(time.monotonic() - 1)[-1].rss

    def run(
        self,
        name: str,
        calls: list[Call],
        timeout_s: float,
        predicted: int | None = None,
        cancel_after_s: float | None = None,
        reserve_s: float = 0,
    ) -> Result:
        """Submit ``calls`` at once; wait for them until ``timeout_s`` (less when the run's deadline,
        keeping ``reserve_s`` for the probes after this one, comes first); record the peaks."""
        timeout_s = max(30.0, min(timeout_s, self.deadline - reserve_s - time.monotonic()))
        print(f"[{time.strftime('%H:%M:%S')}] {name} (up to {timeout_s:.0f} s)", flush=True)
        tmp_before, tracebacks_before = folder_bytes(self.tmp_root), self.tracebacks()
        reset = reset_peak(self.pid)
        start = time.monotonic()
        before = self.sampler.since(start - 1)[-1].rss
        for call in calls:
            call.submit(self.url)
            with self.sampler.lock:
                self.sampler.jobs.append(call)
        idle_after, idle_what, busy_before = None, "", None
        if cancel_after_s is not None:
            call = calls[0]
            while call.started is None and not call.job.done() and time.monotonic() < start + timeout_s:
                time.sleep(0.1)
            time.sleep(max(0.0, call.started + cancel_after_s - time.monotonic()) if call.started else 0)
            cancelled_at = time.monotonic()
            if call.job.done():  # too quick to cancel: nothing measured
                call.finish(cancelled_at)
            else:
                busy_before = self.sampler.rate_over(2.0)
                call.job.cancel()
                call.outcome = f"cancelled {cancelled_at - call.started:.1f} s after it started" + (
                    f", at '{call.progress}'" if call.progress else ""
                )
                call.ended = cancelled_at
                idle_after = self.sampler.wait_idle(cancelled_at, self.idle_cpu, min(120.0, timeout_s))
                idle_what = "after the cancel"
        else:
            for call in calls:
                call.finish(start + timeout_s)
        wall = time.monotonic() - start
        ran = self.sampler.since(start)
        cores = self.sampler.cpu_rate(ran[0], ran[-1]) if len(ran) > 1 else 0.0
        cut = [c for c in calls if c.outcome.startswith("cut")]
        if cut:
            busy_before = self.sampler.rate_over(2.0)
            since = max(c.ended for c in cut)
            idle_after = self.sampler.wait_idle(since, self.idle_cpu, 120)
            idle_what = "after the cut"
        time.sleep(2 * SAMPLE_S)
        samples = self.sampler.since(start)
        hwm = status_bytes(self.pid, "VmHWM") if reset else 0
        peak = max([s.rss for s in samples] + [hwm])
        with self.sampler.lock:
            self.sampler.jobs = [c for c in self.sampler.jobs if c not in calls]
        self.settle()
        time.sleep(1.0)
        workers = tree_pids(self.pid)[1:]
        held_workers = sum(status_bytes(p, "VmRSS") for p in workers)
        held = status_bytes(self.pid, "VmRSS") + held_workers
        result = Result(
            name,
            calls,
            wall,
            self.idle_rss,
            before,
            peak,
            predicted,
            tmp_before,
            folder_bytes(self.tmp_root),
            self.tracebacks() - tracebacks_before,
            idle_after,
            idle_what,
            busy_before,
            cores,
            held,
            held_workers,
        )
        self.results.append(result)
        for call in calls:
            print("   ", call.summary(), flush=True)
        print(
            f"    peak rise {gb(peak - self.idle_rss)} over idle, {gb(peak - before)} over its start; "
            f"held after: {gb(held)} ({len(workers)} workers {gb(held_workers)}); {cores:.2f} cores",
            flush=True,
        )
        return result

    def tracebacks(self) -> int:
        return self.log_path.read_text(errors="replace").count("Traceback")


def folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            pass  # removed while walked (an expired folder)
    return total


def gb(nbytes: float | None) -> str:
    return "—" if nbytes is None else f"{nbytes / 1e9:.2f} GB"


def mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:+.1f} MB"


# -- the report -------------------------------------------------------------------------------------------------


def machine_lines(budget_bytes: int, others_cores: float | None, busiest: str) -> list[str]:
    from restoration.benchmark import provenance

    total = status_meminfo("MemTotal")
    lines = [
        f"- machine: {provenance.machine_description()}, {total / 2**30:.1f} GiB memory "
        f"(MemTotal {total / 1e9:.1f} GB); the server's default budget, a third of it: {gb(budget_bytes)}",
    ]
    if others_cores is not None:
        lines.append(
            f"- other processes used {others_cores:.2f} of the {os.cpu_count()} cores on average during the probes "
            f"(the busiest: `{busiest}`), so the server had about {os.cpu_count() - others_cores:.1f} "
            "cores; each heavy job runs on one thread (`RESTORATION_THREADS`)"
        )
    return lines


def status_meminfo(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def busiest_other(server_pids: set[int], seconds: float = 2.0) -> str:
    """The process (not the server's) that used the most CPU over a short window, by name."""

    def snapshot() -> dict[int, float]:
        return {
            int(p.name): c
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and int(p.name) not in server_pids and (c := cpu_seconds(int(p.name))) is not None
        }

    first = snapshot()
    time.sleep(seconds)
    second = snapshot()
    pid = max(second, key=lambda p: second[p] - first.get(p, second[p]), default=None)
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() if pid else "none"
    except OSError:
        return "gone"


def report(probe: Probe, budget_bytes: int, command: str, others: float | None, busiest: str, total_s: float) -> str:
    lines = [
        "# The server's budgets, measured: memory, disk, cancels",
        "",
        f"`{command}`",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {total_s / 60:.1f} min in all.",
        "",
        *machine_lines(budget_bytes, others, busiest),
        "- the server: `python app.py` with every limit at its default (`RESTORATION_*` and `GRADIO_*` unset "
        "but its own `RESTORATION_TMP`), called through `gradio_client`, one client per request",
        f"- memory: the server's process tree (its worker processes included), resident, sampled every "
        f"{SAMPLE_S} s, and the main process's VmHWM; the idle server held {gb(probe.idle_rss)}. "
        "*Rise*: the peak over the idle server's; *predicted need*: what the server claims from its budget "
        "for one of the probe's requests, as the memory model adds it up (and what a message of the "
        "server named, when one did)",
        "",
        "*Held after*: the tree's resident memory once the probe's requests ended and its CPU fell idle "
        "(of it, the worker processes'); *temp folder*: its growth during the probe (its size after)",
        "",
        "| probe | outcome | wall (s) | peak rise over idle | rise over its start | predicted need | budget | "
        "under budget | held after | temp folder | tracebacks |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in probe.results:
        rise = r.peak_rss - r.idle_rss
        said = [s for c in r.calls if (s := c.said_need())]
        each = " each" if len(r.calls) > 1 and r.predicted else ""
        predicted = gb(r.predicted) + each + (f" (server: {', '.join(sorted(set(said)))})" if said else "")
        outcome = "; ".join(short_outcome(c) for c in r.calls)
        if r.idle_after_s is not None or r.idle_after_what:
            idle = f"{r.idle_after_s:.1f} s" if r.idle_after_s is not None else "not within 120 s"
            busy = f"{r.busy_before_cancel:.2f} cores just before, " if r.busy_before_cancel is not None else ""
            outcome += f"; server CPU: {busy}idle {idle} {r.idle_after_what}"
        lines.append(
            f"| {r.name} | {outcome} | {r.wall_s:.0f} | {gb(rise)} | {gb(r.peak_rss - r.before_rss)} | {predicted} | "
            f"{gb(budget_bytes)} | {'yes' if rise < budget_bytes else '**no**'} | "
            f"{gb(r.held_after)} ({gb(r.held_workers)}) | "
            f"{mb(r.tmp_after - r.tmp_before)} ({r.tmp_after / 1e6:.1f} MB) | {r.tracebacks} |"
        )
    lines += ["", "Each request, as its caller saw it (and the server's CPU while the probe ran):", ""]
    for r in probe.results:
        lines += [f"- {r.name} ({r.cores:.2f} cores on average):"] + [f"  - {c.summary()}" for c in r.calls]
    return "\n".join(lines) + "\n"


def retention_lines(results: list[Result], same: str, fresh: str, shown_bytes: int) -> list[str]:
    """What finished requests leave held: the growth of the idle server's memory from one request of
    a session to the next (``same``), and from each new session's to the next (``fresh``), beside
    the bytes of the images its result shows (which the tab keeps as files in the temp folder,
    ``lab.common.keep_views``, its ``gr.State`` holding their paths)."""
    held = {r.name: r.held_after for r in results}
    same_rows = [r for r in results if r.name.startswith(same)]
    fresh_rows = [r for r in results if r.name.startswith(fresh)]
    if len(same_rows) < 2 or not fresh_rows:
        return []
    steps = [b.held_after - a.held_after for a, b in zip([same_rows[-1], *fresh_rows], fresh_rows)]
    return [
        "",
        f"Held after a request ends: the same session's second comparison left "
        f"{gb(held[same_rows[1].name] - held[same_rows[0].name])} more than its first; each new session's "
        f"left {', '.join(gb(s) for s in steps)} more (the images its result shows: {gb(shown_bytes)}).",
    ]


def short_outcome(call: Call) -> str:
    if call.outcome.startswith("refused"):
        return f"{call.label}: {call.outcome} (after {call.ended - call.submitted:.1f} s)"
    waited = call.started - call.submitted if call.started else None
    text = f"{call.label}: {call.outcome}"
    if call.outcome == "ran" and waited is not None and waited > 1:
        text += f" (waited {waited:.0f} s)"
    return text


# -- main --------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench_budget_probe.md")
    parser.add_argument("--deadline-s", type=float, default=1500, help="the whole run's time (default 25 min)")
    parser.add_argument(
        "--perceptual-s",
        type=float,
        default=930,
        help="cut the perceptual comparison after this (default: past the server's own 900 s limit)",
    )
    args = parser.parse_args(argv)
    from gradio_client import Client, handle_file

    from restoration.benchmark import provenance
    from restoration.core import budget

    began = time.monotonic()
    command = provenance.command_line("bench/budget_probe.py", argv)
    work = Path(tempfile.mkdtemp(prefix="budget-probe-"))
    tmp_root, log_path = work / "tmp", work / "server.log"
    images = {
        "40": make_image(SIZE_40MP, work / "photo-40mp.png"),
        "16": make_image(SIZE_16MP, work / "photo-16mp.png"),
        "sr": make_image(SIZE_SR, work / "photo-1940x1900.png"),
    }
    budget_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 3  # the server's default
    assert budget_bytes == budget.machine_memory() // 3
    port = int(os.environ.get("BUDGET_PROBE_PORT") or free_port())
    server = start_server(tmp_root, log_path, port)
    url = f"http://127.0.0.1:{port}/"
    sampler = Sampler(server.pid)
    sampler.start()
    probe = Probe(url, server.pid, sampler, tmp_root, log_path, began + args.deadline_s)
    others, busiest = None, ""
    try:
        probe.settle(120)  # the estimates' calibration, at start
        probe.measure_idle()
        busy_start, server_cpu_start, probe_start = machine_busy_seconds(), sampler.cpu_total, time.monotonic()
        big, mid, small = (handle_file(str(images[k])) for k in ("40", "16", "sr"))

        def compare(label, image, codecs, perceptual=False):
            return Call(label, "/compare", (image,), {"codec_names": codecs, "perceptual": perceptual})

        def upscale(label, from_hr):
            return Call(label, "/upscale", (small,), {"scale": 4, "from_hr": from_hr})

        sr_models = ["bicubic-x4", "subpixel-ca-sr-x4"]  # the tab's x4 defaults (ui/sr_tab.py)
        same_session = Client(url, verbose=False, download_files=False)
        # Each probe's time, and the time the ones after it need at least (so that every probe runs);
        # the perceptual comparison last, with the time left.
        probe.run(
            "1. /compare 40 MP, default codecs",
            [compare("compare", big, DEFAULT_CODECS)],
            330,
            compare_need(images["40"], DEFAULT_CODECS, False),
            reserve_s=600,
        )
        probe.run(
            f"2. /compare 16 MP, `{LEARNED}`, one request",
            [compare("compare", mid, [LEARNED])],
            300,
            compare_need(images["16"], [LEARNED], False),
            reserve_s=540,
        )
        probe.run(
            f"3. /compare 16 MP, `{LEARNED}`, two at once",
            [compare("first", mid, [LEARNED]), compare("second", mid, [LEARNED])],
            420,
            compare_need(images["16"], [LEARNED], False),
            reserve_s=450,
        )
        probe.run(
            "4. /upscale x4 of 1940x1900, two at once",
            [upscale("first", False), upscale("second", False)],
            60,
            None,  # refused by its result's pixels before it claims memory
            reserve_s=420,
        )
        probe.run(
            "5. /upscale x4 of 1940x1900 as high-resolution (485x475 in), two at once",
            [upscale("first", True), upscale("second", True)],
            300,
            upscale_need(images["sr"], 4, sr_models, True),
            reserve_s=360,
        )
        probe.run(
            "6. /report (Dashboards) six times",
            [Call(f"report {i + 1}", "/report", ([],), {}) for i in range(6)],
            90,
            reserve_s=330,
        )
        probe.run(
            f"7. /compare 16 MP, `{LEARNED}`, cancelled after 5 s",
            [compare("compare", mid, [LEARNED])],
            120,
            compare_need(images["16"], [LEARNED], False),
            cancel_after_s=5,
            reserve_s=270,
        )
        # What a finished request leaves held: the same caller twice, then callers of their own.
        for i in range(2):
            call = compare("compare", mid, KEPT_CODECS)
            call.client = same_session
            probe.run(
                f"8.{i + 1} /compare 16 MP, {', '.join(KEPT_CODECS)}, the same session",
                [call],
                90,
                compare_need(images["16"], KEPT_CODECS, False),
                reserve_s=240,
            )
        for i in range(3):
            probe.run(
                f"9.{i + 1} /compare 16 MP, {', '.join(KEPT_CODECS)}, a new session",
                [compare("compare", mid, KEPT_CODECS)],
                90,
                compare_need(images["16"], KEPT_CODECS, False),
                reserve_s=150,
            )
        probe.run(
            "10. /compare 40 MP, default codecs, perceptual metrics (the time left)",
            [compare("compare", big, DEFAULT_CODECS, True)],
            args.perceptual_s,
            compare_need(images["40"], DEFAULT_CODECS, True),
        )
        server_cpu = sampler.cpu_total - server_cpu_start
        others = max(0.0, (machine_busy_seconds() - busy_start - server_cpu) / (time.monotonic() - probe_start))
        busiest = busiest_other(set(tree_pids(server.pid)))
    finally:
        sampler.stopped.set()
        stop_server(server)
    text = report(probe, budget_bytes, command, others, busiest, time.monotonic() - began)
    shown = 3 * SIZE_16MP[0] * SIZE_16MP[1] * (1 + 2 * len(KEPT_CODECS))  # the input, each result and error map
    text += "\n".join(retention_lines(probe.results, "8.", "9.", shown)) + "\n"
    text += (
        f"\nThe server log ({log_path}) holds {probe.tracebacks()} tracebacks "
        f"({sum(r.tracebacks for r in probe.results)} during the probes).\n"
    )
    provenance.publish(text.rstrip("\n").split("\n"), args.out)
    for folder in (tmp_root,):
        subprocess.run(["rm", "-rf", str(folder)], check=False)
    for path in images.values():
        path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
