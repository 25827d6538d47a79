"""Benchmark runner: inputs, pure tasks, the SQLite store (round trip, reuse, resume), executors."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from restoration.benchmark import executors, provenance, runner
from restoration.benchmark import inputs as bench_inputs
from restoration.benchmark.store import Store
from restoration.core.errors import UserInputError

CONFIG = runner.BenchConfig(codecs=("jpeg", "png"), qualities=(20, 60))


@pytest.fixture(scope="module")
def images():
    return [
        bench_inputs.make("astro", "crops", skimage.data.astronaut()[100:228, 150:278]),
        bench_inputs.make("coffee", "crops", skimage.data.coffee()[50:178, 200:328]),
    ]


@pytest.fixture(autouse=True)
def one_thread():
    import cv2

    cv2.setNumThreads(1)


def test_inputs_folders_zips_files_and_names(tmp_path):
    folder = tmp_path / "Set"
    folder.mkdir()
    a = skimage.data.astronaut()[:40, :50]
    Image.fromarray(a).save(folder / "a.png")
    Image.fromarray(skimage.data.coffee()[:30, :20]).save(folder / "b.png")
    with zipfile.ZipFile(tmp_path / "packed.zip", "w") as archive:
        archive.write(folder / "a.png", "inner/a.png")
        archive.writestr("notes.txt", "not an image")
    loose = tmp_path / "c.png"
    Image.fromarray(a).save(loose)
    found = bench_inputs.collect([folder, tmp_path / "packed.zip", loose], dataset="upload")
    assert [(im.name, im.dataset) for im in found] == [("a", "Set"), ("b", "Set"), ("a-2", "packed"), ("c", "upload")]
    assert found[0].hash == found[2].hash == found[3].hash != found[1].hash  # same pixels, same hash
    with pytest.raises(UserInputError, match="no such file"):
        bench_inputs.collect([tmp_path / "missing"])
    (tmp_path / "bad.zip").write_text("no zip")
    with pytest.raises(UserInputError, match="not a valid zip"):
        bench_inputs.collect([tmp_path / "bad.zip"])


def test_config_errors_before_any_work():
    for config, message in [
        (runner.BenchConfig(), "at least one codec"),
        (runner.BenchConfig(("nosuch",)), "unknown codec"),
        (runner.BenchConfig(("jpeg",), qualities=(10,), bpps=(0.5,)), "not both"),
        (runner.BenchConfig(("jpeg",), models=("bicubic-x2",)), "super-resolution model"),
        (runner.BenchConfig(("jpeg",), sr_models=("lanczos-x2",)), "need a scale"),
        (runner.BenchConfig(sr_scale=2, sr_models=("lanczos-x4",)), "upscales x4"),
    ]:
        with pytest.raises(UserInputError, match=message):
            config.checked()
    assert runner.BenchConfig(sr_scale=4).checked().sr_models == ("bicubic-x4",)  # the baseline always runs


def test_task_rows_have_every_field(images):
    config = runner.BenchConfig(("jpeg",), qualities=(30,), models=("bilateral",), sr_scale=2).checked()
    tasks = runner.plan(images[:1], config)
    assert [t.config["kind"] for t in tasks] == ["codec", "sr"]
    codec_rows = runner.run_task(tasks[0], images[0].image)
    assert [r["kind"] for r in codec_rows] == ["codec", "restore"]
    plain, restored = codec_rows
    for key in (
        "codec",
        "setting",
        "bytes",
        "bpp",
        "ratio",
        "psnr",
        "psnr_y",
        "ssim",
        "ms_ssim",
        "encode_ms",
        "decode_ms",
        "restore_ms",
        "model",
        "model_sha256",
        "key",
        "image_hash",
    ):
        assert key in plain and key in restored
    assert plain["setting"] == "quality=30" and plain["bytes"] > 0 and plain["ms_ssim"] is None  # 128 px < 176
    assert restored["bytes"] == plain["bytes"] and restored["model"] == "bilateral" and restored["restore_ms"] > 0
    assert restored["key"] == tasks[0].keys()[1] and plain["key"] == tasks[0].keys()[0]
    sr_row = runner.run_task(tasks[1], images[0].image)[0]
    assert sr_row["model"] == "bicubic-x2" and sr_row["scale"] == 2 and 20 < sr_row["psnr_y"] < 45
    json.dumps(codec_rows + [sr_row], allow_nan=False)  # strict JSON, as stored


def test_keys_follow_image_configuration_and_weights(images):
    task = runner.plan(images[:1], CONFIG.checked())[0]
    assert task.key() == runner.plan(images[:1], CONFIG.checked())[0].key()
    assert task.model_key("deeprecnet", "aaa") != task.model_key("deeprecnet", "bbb")
    other = runner.plan(images[1:], CONFIG.checked())[0]
    assert other.key() != task.key()
    changed = runner.Task(task.image_hash, task.config, (("bilateral", "not-the-loaded-weights"),), task.libs)
    with pytest.raises(UserInputError, match="weights of bilateral changed"):
        runner.run_task(changed, images[0].image)


def test_store_round_trip_and_reuse(tmp_path, images):
    db = tmp_path / "bench.sqlite"
    first = runner.bench(images, CONFIG, db, workers=1)
    assert (first.rows, first.computed, first.reused, first.resumed) == (6, 6, 0, False)
    second = runner.bench(images, CONFIG, db, workers=1)
    assert (second.rows, second.computed, second.reused) == (6, 0, 6) and second.run_id != first.run_id
    wider = runner.bench(images, runner.BenchConfig(("jpeg", "png"), qualities=(20, 60, 90)), db, workers=1)
    assert (wider.computed, wider.reused) == (2, 6)
    with Store(db) as store:
        runs = store.runs()
        rows = store.rows([first.run_id])
        again = store.rows([second.run_id])
    assert [r["status"] for r in runs] == ["finished"] * 3
    assert runs[0]["provenance"]["codecs"]["libjpeg_turbo"] and runs[0]["provenance"]["machine"]["cpus"]
    assert runs[0]["config"]["qualities"] == [20.0, 60.0] and len(runs[0]["images"]) == 2
    assert {(r["image"], r["dataset"]) for r in rows} == {("astro", "crops"), ("coffee", "crops")}
    strip = lambda rs: sorted(json.dumps({k: v for k, v in r.items() if k != "run"}, sort_keys=True) for r in rs)
    assert strip(rows) == strip(again)  # the very rows, reused
    assert [r["psnr"] for r in rows if r["codec"] == "png"] == ["inf", "inf"]


def test_interrupted_run_resumes(tmp_path, images):
    db = tmp_path / "bench.sqlite"
    config = runner.BenchConfig(("jpeg",), qualities=(10, 30, 50, 70))

    def stop_after_three(done, total, text):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.bench(images, config, db, workers=1, progress=stop_after_three)
    with Store(db) as store:
        (run,) = store.runs()
    assert run["status"] == "interrupted" and run["rows"] == 3
    resumed = runner.bench(images, config, db, workers=1)
    assert (resumed.run_id, resumed.resumed, resumed.reused, resumed.computed, resumed.rows) == (
        run["id"],
        True,
        3,
        5,
        8,
    )
    with Store(db) as store:
        assert [r["status"] for r in store.runs()] == ["finished"]


@pytest.mark.slow
def test_process_pool_gives_the_same_rows(tmp_path, images, monkeypatch):
    config = runner.BenchConfig(("jpeg", "webp"), qualities=(10, 40, 70, 90))
    inline = runner.bench(images, config, tmp_path / "a.sqlite", workers=1)
    monkeypatch.setattr(executors, "POOL_MIN_TASK_MEGAPIXELS", 0.0)  # small images: a pool all the same
    pools = []
    real_pool = executors._process_pool
    monkeypatch.setattr(executors, "_process_pool", lambda *a: pools.append(a) or real_pool(*a))
    pooled = runner.bench(images, config, tmp_path / "b.sqlite", workers=2)  # 16 tasks: a 2-process pool
    assert len(pools) == 1
    with Store(tmp_path / "a.sqlite") as a, Store(tmp_path / "b.sqlite") as b:
        rows_a = {(r["image"], r["key"]): r for r in a.rows([inline.run_id])}
        rows_b = {(r["image"], r["key"]): r for r in b.rows([pooled.run_id])}
    assert rows_a.keys() == rows_b.keys() and len(rows_a) == 16
    for key, row in rows_a.items():
        assert (row["bytes"], row["psnr"], row["ssim"]) == (
            rows_b[key]["bytes"],
            rows_b[key]["psnr"],
            rows_b[key]["ssim"],
        )
    with Store(tmp_path / "b.sqlite") as b:
        assert b.run(pooled.run_id)["provenance"]["workers"] == 2


def test_little_work_runs_in_this_process_and_the_estimate_counts_a_pools_start(tmp_path, monkeypatch):
    """A pool's start costs seconds (16 in a server, whose spawned workers import the app again):
    12 tasks on a 96x96 image run in this process, and an estimate adds the start only where the
    work is large enough for a pool."""
    from PIL import Image

    from restoration.lab import dashboards as lab_bench

    monkeypatch.setattr(executors, "default_workers", lambda: 2)  # a 2-core machine, as this one
    assert not executors.uses_pool(12, 12 * 96 * 96 / 1e6, workers=2)
    assert executors.uses_pool(160, 160 * 0.39, workers=2) and not executors.uses_pool(160, 160 * 0.39, workers=1)
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    Image.new("RGB", (96, 96)).save(small)
    Image.new("RGB", (2048, 2048)).save(large)
    db = tmp_path / "none.sqlite"
    for path, pooled in ((small, False), (large, True)):
        text = lab_bench.bench_estimate(
            [str(path)], False, ["jpeg", "webp", "avif"], "20,40,60,80", "", [], 0, [], db=db
        )
        seconds = float(text.split("about ")[1].split(" s")[0].split(" min")[0]) * (60 if " min here" in text else 1)
        assert (seconds >= executors.POOL_START_S) == pooled, text


def test_dask_local_cluster_executor(tmp_path, images):
    distributed = pytest.importorskip("distributed")
    config = runner.BenchConfig(("jpeg",), qualities=(20, 60), sr_scale=2)
    inline = runner.bench(images, config, tmp_path / "a.sqlite", workers=1)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, host="127.0.0.1", protocol="tcp", dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address.replace("tcp://", "dask://")
        assert address.startswith("dask://127.0.0.1:")
        remote = runner.bench(images, config, tmp_path / "b.sqlite", executor=address)
    assert (remote.rows, remote.computed) == (inline.rows, inline.computed) == (6, 6)
    with Store(tmp_path / "a.sqlite") as a, Store(tmp_path / "b.sqlite") as b:
        psnr_a = sorted((r["key"], r["psnr"]) for r in a.rows([inline.run_id]))
        psnr_b = sorted((r["key"], r["psnr"]) for r in b.rows([remote.run_id]))
        assert b.run(remote.run_id)["provenance"]["executor"] == address
    assert psnr_a == psnr_b


def test_bad_executor_and_unreachable_scheduler(tmp_path, images, monkeypatch):
    monkeypatch.setattr(executors, "DASK_CONNECT_TIMEOUT", "1s")
    with pytest.raises(UserInputError, match="unknown executor"):
        runner.bench(images, CONFIG, tmp_path / "a.sqlite", executor="spark://x")
    pytest.importorskip("distributed")
    with pytest.raises(UserInputError, match="cannot reach the Dask scheduler"):
        runner.bench(images, CONFIG, tmp_path / "a.sqlite", executor="dask://127.0.0.1:9")


def test_store_refuses_a_file_that_is_not_a_database(tmp_path):
    bad = tmp_path / "notes.sqlite"
    bad.write_bytes(b"plain text, no database" * 100)
    with pytest.raises(UserInputError, match="cannot use this file"):
        Store(bad)
    with pytest.raises(UserInputError, match="no such database"):
        Store(tmp_path / "missing.sqlite", create=False)


def test_cpu_name_comes_from_cpuinfo():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo to read the CPU's name from")
    text = cpuinfo.read_text()
    name = provenance.cpu_name()
    assert name and (f": {name}" in text or "model name" not in text)


def test_a_report_command_line_names_a_forced_precision(monkeypatch):
    monkeypatch.delenv("RESTORATION_BF16", raising=False)
    assert provenance.command_line("bench/x.py", ["--repeat", "3"]) == "python bench/x.py --repeat 3"
    monkeypatch.setenv("RESTORATION_BF16", "1")
    assert provenance.command_line("bench/x.py", []) == "RESTORATION_BF16=1 python bench/x.py"


def test_machine_description_names_core_count_cpu_and_architecture():
    """The one machine line every benchmark header prints, and the CPU stored with each run."""
    line = provenance.machine_description()
    assert line.startswith(f"{os.cpu_count()}-core {provenance.cpu_name()} (")
    assert provenance.provenance()["machine"]["cpu"] == provenance.cpu_name()


@pytest.mark.slow
def test_a_perceptual_benchmark_stores_the_on_demand_metrics_and_keys_its_rows_apart(tmp_path, astro128):
    """--perceptual rows carry SSIMULACRA 2 and FLIP (so the dashboards' BD-rate menus can use
    them); a plain run's stored rows are not reused for it, and a plain run does not compute them."""
    from restoration.benchmark import inputs, runner
    from restoration.benchmark.store import Store

    images = [inputs.make("astro", "test", astro128)]
    db = tmp_path / "bench.sqlite"
    plain = runner.bench(images, runner.BenchConfig(codecs=("jpeg",), qualities=(30.0,)), db, workers=1)
    perceptual = runner.bench(
        images, runner.BenchConfig(codecs=("jpeg",), qualities=(30.0,), perceptual=True), db, workers=1
    )
    assert plain.computed == 1 and perceptual.computed == 1 and perceptual.reused == 0
    with Store(db) as store:
        rows = {row["key"]: row for row in store.all_rows()}
    values = [(row.get("ssimulacra2"), row.get("flip")) for row in rows.values()]
    assert sorted(v is None for pair in values for v in pair) == [False, False, True, True]


def test_zip_members_are_decoded_one_at_a_time_and_read_again_when_their_tasks_run(tmp_path):
    """An archive's images are not held decoded after collection: each BenchImage keeps its hash
    and size and reads its member again when run; the rows equal those of the loose files."""
    import zipfile

    from PIL import Image

    from restoration.benchmark import inputs, runner

    crops = [skimage.data.astronaut()[0:96, 0:128], skimage.data.coffee()[0:96, 0:128]]
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for i, crop in enumerate(crops):
            path = tmp_path / f"img{i}.png"
            Image.fromarray(crop).save(path)
            handle.write(path, path.name)
    zipped = inputs.collect([archive])
    loose = inputs.collect([tmp_path / "img0.png", tmp_path / "img1.png"])
    assert all(im.pixels is None and im.member[0] == str(archive) for im in zipped)
    assert [im.hash for im in zipped] == [im.hash for im in loose]
    assert [im.describe()["width"] for im in zipped] == [128, 128]
    assert np.array_equal(zipped[1].image, crops[1])
    config = runner.BenchConfig(codecs=("jpeg",), qualities=(40.0,))
    first = runner.bench(zipped, config, tmp_path / "a.sqlite", workers=1)
    second = runner.bench(loose, config, tmp_path / "b.sqlite", workers=1)
    assert first.computed == second.computed == 2
