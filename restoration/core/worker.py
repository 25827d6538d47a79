"""Work a request can stop, in a worker process: a call into a library that nothing inside the
process can interrupt (one encode: JPEG XL at effort 9 on 12 MP takes about 380 s, whatever the
time limit or a cancel says), or that holds Python's GIL for seconds (FLIP: every other
request and the server's event loop freeze behind it), runs in a worker while the caller checks
the request every ``POLL_S`` (``core.budget.check``); a stopped request's worker is killed, so
nothing runs on after it. A thread can be neither interrupted nor killed.

``call(fn, *args)`` runs ``fn(*args)`` in a worker (``fn`` a module-level function). A worker
runs ``restoration.core.worker.main``: it reads jobs from its stdin and writes each result to its
stdout until its stdin closes. Workers are kept for the next call (at most ``KEEP_IDLE`` idle
ones, ~50 MB each); one is started when none is idle (its first job imports what it needs, about
a second). A worker whose job left it holding more than ``KEEP_RESIDENT`` (a learned codec's
job imports torch and its network: 0.5-0.8 GB) is ended instead of kept: memory held by idle
workers is outside the server's budget, and a restart costs about a second. Each message is a
length (8 bytes, big-endian) and a pickle: a job is (fn, args), a result (True, value) or
(False, the exception). Only the app's own processes speak it, so the
pickles are trusted both ways. Workers inherit the environment (``OMP_NUM_THREADS`` and
``RESTORATION_CODEC_THREADS``, which ``lab.common.configure_threads`` sets).
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import threading

from restoration.core import budget, memory
from restoration.core.errors import UserInputError

HEADER = struct.Struct(">Q")
POLL_S = 0.25
KEEP_IDLE = 2  # about one per heavy job at once (RESTORATION_CONCURRENCY)
KEEP_RESIDENT = 256 * 2**20


class WorkerError(UserInputError):
    """The work could not be done in a worker: it stopped without a result."""


# -- the caller's side -------------------------------------------------------------------------------
class Worker:
    def __init__(self):
        # -c, not -m: the worker module is already imported by the package it is in
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from restoration.core.worker import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=os.environ.copy(),
        )

    def send(self, value) -> None:
        self.process.stdin.write(message_bytes(value))
        self.process.stdin.flush()

    def ready(self, timeout: float) -> bool:
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        return bool(readable)

    def receive(self):
        return read_message(self.process.stdout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


_idle: list[Worker] = []
_idle_lock = threading.Lock()


def call(fn, *args):
    """``fn(*args)`` in a worker, the request checked every ``POLL_S`` meanwhile: its time limit or
    cancellation raises here and kills the worker. The worker's exception is raised as it was."""
    with _idle_lock:
        worker = _idle.pop() if _idle else None
    worker = worker if worker is not None and worker.process.poll() is None else Worker()
    answer = None
    try:
        try:
            worker.send((fn, args))
            while not worker.ready(POLL_S):
                budget.check()
            answer = worker.receive()
        except (BrokenPipeError, OSError):
            answer = None
        if answer is None:
            raise WorkerError(
                f"{getattr(fn, '__name__', 'the work')} stopped without a result in its worker "
                f"process (exit code {worker.process.poll()})"
            )
    finally:
        keep = False
        resident = memory.resident_bytes(worker.process.pid)
        if answer is not None and (resident is None or resident <= KEEP_RESIDENT):
            with _idle_lock:
                keep = len(_idle) < KEEP_IDLE
                if keep:
                    _idle.append(worker)
        if not keep:
            worker.kill()
    done, value = answer
    if done:
        return value
    raise value


# -- the worker's side -------------------------------------------------------------------------------
def read_message(stream):
    """One message from a binary stream, or None at its end."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return pickle.loads(body)


def message_bytes(value) -> bytes:
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


def run_job(job) -> tuple[bool, object]:
    fn, args = job
    try:
        return True, fn(*args)
    except Exception as exc:  # noqa: BLE001 -- raised again in the caller, as it was
        try:
            pickle.dumps(exc)
        except Exception:  # noqa: BLE001 -- an exception that does not pickle: its words
            exc = WorkerError(f"{type(exc).__name__}: {exc}")
        return False, exc


def main() -> None:
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a library's print must not corrupt the results
    while (job := read_message(source)) is not None:
        sink.write(message_bytes(run_job(job)))
        sink.flush()
