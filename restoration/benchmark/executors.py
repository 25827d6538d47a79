"""Where benchmark tasks run: in this process, on a local process pool (one worker per core) or
on a Dask cluster (``dask://HOST:PORT``); rows come back to the caller, which alone writes them."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterator

import cv2

from restoration.benchmark.inputs import BenchImage
from restoration.benchmark.tasks import Task, run_task
from restoration.core.errors import UserInputError

DASK_CONNECT_TIMEOUT = "10s"
POOL_MIN_TASKS = 8  # fewer tasks run in this process: starting workers (and torch in each) costs seconds
# Nor less work than this (megapixels summed over the tasks: a few seconds in this process). Why: a
# server has torch loaded, so its workers are spawned and import the app again: 16 s measured for
# 12 tasks on a 96x96 image (0.3 s in the process), where the estimate had said 0.05 s.
POOL_MIN_TASK_MEGAPIXELS = 10.0
POOL_START_S = 16.0  # what starting the pool costs in a server (measured as above; a script: ~6 s)


def _init_worker() -> None:
    """One thread per worker process: the pool itself fills the cores."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    cv2.setNumThreads(1)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def execute(
    jobs: list[tuple[Task, BenchImage]], executor: str = "local", workers: int | None = None
) -> Iterator[tuple[Task, list[dict]]]:
    """Run the tasks; yield (task, rows) as each finishes (in any order). An image read from a zip
    archive is decoded where its task runs (a local worker), or sent decoded to a Dask cluster."""
    workers = workers or default_workers()
    if executor.startswith("dask://"):
        yield from _dask(jobs, executor[len("dask://") :], workers)
    elif executor != "local":
        raise UserInputError(f"unknown executor {executor!r}: use local or dask://HOST:PORT")
    elif not uses_pool(len(jobs), sum(image.pixel_count for _, image in jobs) / 1e6, workers):
        for task, image in jobs:
            yield task, run_task(task, image.image)
    else:
        yield from _process_pool(jobs, workers)


def uses_pool(tasks: int, task_megapixels: float, workers: int | None = None) -> bool:
    """Whether ``execute`` starts a local process pool for this much work (else the tasks run in
    this process: a pool's start-up would cost more than it saves)."""
    workers = workers or default_workers()
    return workers >= 2 and tasks >= max(POOL_MIN_TASKS, 2 * workers) and task_megapixels >= POOL_MIN_TASK_MEGAPIXELS


def run_image_task(task: Task, image) -> list[dict]:
    """``run_task`` on a BenchImage, decoded in this (worker) process."""
    return run_task(task, image.image)


def _process_pool(jobs, workers):
    # fork starts workers at once, but a forked copy of a process that already runs torch's
    # thread pool or other threads (a server) can deadlock: those get fresh (spawned) workers.
    safe_to_fork = "torch" not in sys.modules and threading.active_count() == 1 and os.name == "posix"
    context = multiprocessing.get_context("fork" if safe_to_fork else "spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker)
    pending: dict = {}
    queue = iter(jobs)
    try:
        for task, image in queue:  # keep at most two tasks per worker in flight
            pending[pool.submit(run_image_task, task, image)] = task
            if len(pending) < 2 * workers:
                continue
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)


def _dask(jobs, address: str, workers: int):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise UserInputError("the dask executor needs dask.distributed: pip install 'dask[distributed]'") from None
    if not address:
        raise UserInputError("give the scheduler as dask://HOST:PORT")
    try:
        client = Client(f"tcp://{address}" if "://" not in address else address, timeout=DASK_CONNECT_TIMEOUT)
    except OSError as exc:
        raise UserInputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        window = 2 * max(workers, len(client.scheduler_info(n_workers=-1).get("workers", {})), 1)
        scattered: dict[str, object] = {}
        pending: dict = {}
        completed = as_completed()
        queue = iter(jobs)

        def submit(task, image):
            if task.image_hash not in scattered:  # each image travels to the cluster once, decoded
                scattered[task.image_hash] = client.scatter(image.image)
            future = client.submit(run_task, task, scattered[task.image_hash], pure=False)
            pending[future] = task
            completed.add(future)

        for task, image in queue:
            submit(task, image)
            if len(pending) >= window:
                break
        for future in completed:
            task = pending.pop(future)
            yield task, future.result()
            for next_task, next_image in queue:
                submit(next_task, next_image)
                break
    finally:
        client.close()
