"""CLI contract: JSON lines on stdout, written files, exit status 2 and one 'error:' line for user errors.

Success paths run in-process (``cli.main``) for speed, plus one real ``python -m restoration``
end to end; error paths run as subprocesses, to see exactly what a user sees.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restoration import cli, codecs
from restoration.core.image import load

ROW_KEYS = {
    "codec",
    "params",
    "bytes",
    "bpp",
    "ratio",
    "psnr",
    "psnr_y",
    "ssim",
    "ms_ssim",
    "encode_ms",
    "decode_ms",
    "width",
    "height",
}


@pytest.fixture(autouse=True)
def no_lpips_weights(tmp_path, monkeypatch):
    """Same metric set on every machine: LPIPS off (no AlexNet in an empty torch cache)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


def run_cli(*args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "TORCH_HOME": str(cwd / "torch-home")}
    return subprocess.run(
        [sys.executable, "-m", "restoration", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def main_json(capsys, *args) -> list[dict]:
    assert cli.main([*map(str, args), "--json"]) == 0
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture()
def astro_png(write_image, astro256) -> Path:
    return write_image(astro256, "astro.png")


@pytest.fixture()
def image_folder(tmp_path, astro256, chelsea) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(astro256).save(folder / "astro.png")
    Image.fromarray(np.ascontiguousarray(chelsea[:200, :264])).save(folder / "cat.jpg", quality=95)
    (folder / "readme.txt").write_text("not an image")
    return folder


# -- listing -----------------------------------------------------------------------------------


def test_codecs_json(tmp_path):
    proc = run_cli("codecs", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    specs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [s["name"] for s in specs] == list(codecs.CODECS)
    assert len(specs) == 11 and {"heic", "jpegli", "oxipng", "neural-hp"} <= {s["name"] for s in specs}
    for spec in specs:  # the packages are in requirements.txt; only untrained weights make one unavailable
        weights = type(codecs.CODECS[spec["name"]]).weights_sha256 is not codecs.Codec.weights_sha256
        assert spec["unavailable"] is None or (weights and "not trained yet" in spec["unavailable"]), spec
    for spec in specs:
        assert spec["params"], spec["name"]
        for param in spec["params"]:
            assert {"name", "type", "default", "help"} <= set(param)
        assert spec["lossless_only"] == (spec["name"] in ("png", "oxipng"))
    jpeg = specs[0]["params"][0]
    assert jpeg == {"name": "quality", "type": "int", "default": 75, "help": "libjpeg quality", "min": 1, "max": 100}


def test_codecs_table(capsys):
    assert cli.main(["codecs"]) == 0
    out = capsys.readouterr().out
    for name in codecs.CODECS:
        assert name in out
    assert "subsampling" in out and "lossless" in out


def test_metrics_json(capsys):
    assert cli.main(["metrics", "--json"]) == 0
    specs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {s["name"]: s for s in specs}
    assert {"psnr", "ssim", "ms_ssim", "lpips", "bpp"} <= set(by_name)
    assert all(isinstance(s["lower_better"], bool) for s in specs)
    assert "cache" in by_name["lpips"]["unavailable"]


def test_metrics_json_is_strict_json(capsys):
    assert cli.main(["metrics", "--json"]) == 0

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    for line in capsys.readouterr().out.splitlines():
        json.loads(line, parse_constant=refuse)


# -- compress ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_compress_end_to_end_subprocess(tmp_path, astro_png):
    proc = run_cli(
        "compress", astro_png, "--codec", "jpeg", "--quality", "50", "--json", "--out-dir", "out", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert ROW_KEYS <= set(row)
    assert row["codec"] == "jpeg" and row["params"]["quality"] == 50
    assert (row["width"], row["height"]) == (256, 256)
    written = tmp_path / row["file"]
    assert written.parent == tmp_path / "out" and written.suffix == ".jpg"
    data = written.read_bytes()
    assert len(data) == row["bytes"]
    assert codecs.sniff(data) is codecs.get("jpeg")
    decoded = codecs.get("jpeg").decode(data)
    assert decoded.shape == (256, 256, 3)
    assert row["bpp"] == pytest.approx(8 * row["bytes"] / (256 * 256))
    assert row["ratio"] == pytest.approx(256 * 256 * 3 / row["bytes"])
    assert 25 < row["psnr"] < 40 and 0 < row["ssim"] < 1 and 0 < row["ms_ssim"] < 1
    assert row["encode_ms"] >= 0 and row["decode_ms"] >= 0


def test_compress_in_process_matches_the_file(capsys, tmp_path, astro_png, astro256):
    rows = main_json(capsys, "compress", astro_png, "--codec", "webp", "--quality", "60", "--out-dir", tmp_path / "o")
    assert len(rows) == 1
    row = rows[0]
    assert ROW_KEYS <= set(row)
    data = Path(row["file"]).read_bytes()
    assert len(data) == row["bytes"]
    from restoration import metrics

    decoded = codecs.get("webp").decode(data)
    assert row["psnr"] == pytest.approx(metrics.psnr(metrics.Sample(astro256, decoded)))


def test_compress_folder_processes_every_image(capsys, tmp_path, image_folder):
    rows = main_json(capsys, "compress", image_folder, "--codec", "jpg", "--quality", "40", "--out-dir", tmp_path / "o")
    assert sorted(Path(r["image"]).name for r in rows) == ["astro.png", "cat.jpg"]
    for row in rows:
        written = Path(row["file"])
        assert written.is_file() and written.stat().st_size == row["bytes"]
        assert load(written).shape == (row["height"], row["width"], 3)
    sizes = {Path(r["image"]).name: (r["width"], r["height"]) for r in rows}
    assert sizes == {"astro.png": (256, 256), "cat.jpg": (264, 200)}


@pytest.mark.parametrize("codec", ["jpeg", "webp", "jpeg2000"])
def test_compress_target_bpp(capsys, tmp_path, image_folder, codec):
    rows = main_json(
        capsys, "compress", image_folder, "--codec", codec, "--target-bpp", "0.5", "--out-dir", tmp_path / "o"
    )
    assert len(rows) == 2
    for row in rows:
        assert row["bpp"] <= 0.5
        assert row["bpp"] > 0.5 * 0.85
        assert row["target_met"] is True
        assert row["target"] == {"bpp": 0.5}
        assert Path(row["file"]).stat().st_size == row["bytes"]


def test_compress_target_bytes_and_impossible_target(capsys, tmp_path, astro_png):
    rows = main_json(capsys, "compress", astro_png, "--codec", "jpeg", "--target-bytes", "6000", "--out-dir", tmp_path)
    assert rows[0]["bytes"] <= 6000 and rows[0]["target_met"] is True
    rows = main_json(capsys, "compress", astro_png, "--codec", "jpeg", "--target-bytes", "100", "--out-dir", tmp_path)
    assert rows[0]["bytes"] > 100 and rows[0]["target_met"] is False


def test_compress_out_file_and_set(capsys, tmp_path, astro_png):
    out = tmp_path / "deep" / "x.jxl"
    rows = main_json(capsys, "compress", astro_png, "--codec", "jxl", "--set", "lossless=true", "--out", out)
    assert rows[0]["file"] == str(out)
    assert rows[0]["psnr"] == "inf"  # JSON-safe infinity for a lossless result
    assert rows[0]["params"]["lossless"] is True
    assert np.array_equal(codecs.get("jpegxl").decode(out.read_bytes()), load(astro_png))


def test_compress_lossless_codec_at_a_size_target_runs_lossless_with_a_note(capsys, tmp_path, astro_png):
    """PNG has no size to search: asked for 0.5 bpp it runs lossless and its row says so, as the
    Codec comparison tab does (``pipelines.compare``), instead of refusing."""
    rows = main_json(capsys, "compress", astro_png, "--codec", "png", "--target-bpp", "0.5", "--out-dir", tmp_path)
    assert rows[0]["psnr"] == "inf" and "target" not in rows[0]
    assert "PNG" in rows[0]["note"] and "lossless" in rows[0]["note"]


def test_compress_default_out_dir_is_cwd(capsys, tmp_path, astro_png, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = main_json(capsys, "compress", astro_png, "--codec", "png")
    assert (tmp_path / "astro_png.png").stat().st_size == rows[0]["bytes"]


def test_compress_table_output(capsys, tmp_path, astro_png):
    assert cli.main(["compress", str(astro_png), "--codec", "jpeg", "--quality", "30", "--out-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:3] == ["image", "codec", "setting"] and "psnr" in lines[0]
    assert lines[1].split()[:3] == ["astro.png", "jpeg", "quality=30"]


def test_out_with_two_images_is_an_error(capsys, tmp_path, image_folder):
    code = cli.main(["compress", str(image_folder), "--codec", "jpeg", "--out", str(tmp_path / "x.jpg")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--out" in err and "--out-dir" in err
    assert not (tmp_path / "x.jpg").exists()


# -- sweep -------------------------------------------------------------------------------------


def test_sweep_rows(capsys, astro_png):
    rows = main_json(capsys, "sweep", astro_png, "--codecs", "jpeg,png", "--qualities", "20,80")
    assert [(r["codec"], r["params"].get("quality")) for r in rows] == [("jpeg", 20), ("jpeg", 80), ("png", None)]
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert row["image"] == str(astro_png)
    assert rows[0]["bytes"] < rows[1]["bytes"] < rows[2]["bytes"]
    assert rows[0]["psnr"] < rows[1]["psnr"] and rows[2]["psnr"] == "inf"


def test_sweep_two_images_target_bpps(capsys, image_folder):
    rows = main_json(capsys, "sweep", image_folder, "--codecs", "webp,jpeg2000", "--target-bpps", "0.5,1")
    assert len(rows) == 2 * 2 * 2  # images x codecs x targets
    for row in rows:
        assert row["target_met"] is True
        assert row["bpp"] <= row["target"]["bpp"]


def test_sweep_table_output(capsys, astro_png):
    assert cli.main(["sweep", str(astro_png), "--codecs", "jpeg2000,png", "--qualities", "50"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # jpeg2000 has no quality knob: its own rate sweep is used; png is one lossless point.
    assert len(lines) == 1 + len(codecs.get("jpeg2000").knob.sweep) + 1
    assert lines[-1].split()[1:3] == ["png", "lossless"]
    assert "rate=" in lines[1]


# -- user errors -------------------------------------------------------------------------------


def _assert_user_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    err_lines = proc.stderr.strip().splitlines()
    assert len(err_lines) == 1, proc.stderr
    assert err_lines[0].startswith("error:")
    for word in words:
        assert word in err_lines[0], (word, err_lines[0])
    return err_lines[0]


ERROR_CASES = {
    "missing file": (["compress", "nope.png", "--codec", "jpeg"], ["nope.png", "no such file"]),
    "text file": (["compress", "notes.txt", "--codec", "jpeg"], ["notes.txt", "not a recognised image"]),
    "unknown codec": (["compress", "astro.png", "--codec", "bmp"], ["unknown codec 'bmp'", "jpeg"]),
    "non-numeric": (["compress", "astro.png", "--codec", "jpeg", "--set", "quality=abc"], ["quality", "'abc'", "int"]),
    "unknown param": (["compress", "astro.png", "--codec", "jpeg", "--set", "nosuch=1"], ["nosuch", "quality"]),
    "bad choice": (
        ["compress", "astro.png", "--codec", "jpeg", "--set", "subsampling=4:1:1"],
        ["subsampling", "4:2:0"],
    ),
    "out of range": (["compress", "astro.png", "--codec", "webp", "--quality", "101"], ["quality", "101", "100"]),
    "jpeg2000 quality": (
        ["compress", "astro.png", "--codec", "jpeg2000", "--quality", "50"],
        ["jpeg2000", "no quality parameter", "rate"],
    ),
    "zero target": (["compress", "astro.png", "--codec", "jpeg", "--target-bpp", "0"], ["target", "positive"]),
    "sweep unknown codec": (["sweep", "astro.png", "--codecs", "jpeg,nosuch"], ["unknown codec 'nosuch'"]),
    "sweep bad quality": (["sweep", "astro.png", "--codecs", "jpeg", "--qualities", "150"], ["quality", "150"]),
    "sweep both": (["sweep", "astro.png", "--qualities", "50", "--target-bpps", "1"], ["not both"]),
    "empty folder": (["compress", "empty", "--codec", "jpeg"], ["no images found"]),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
@pytest.mark.slow
def test_user_errors_exit_2_with_one_line(case, tmp_path, astro_png):
    (tmp_path / "notes.txt").write_text("hello\n" * 10)
    (tmp_path / "empty").mkdir()
    args, words = ERROR_CASES[case]
    proc = run_cli(*args, cwd=tmp_path)
    _assert_user_error(proc, *words)
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["astro.png", "empty", "notes.txt"]  # nothing written


def test_error_after_good_images_keeps_earlier_rows(capsys, tmp_path, astro_png):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(astro_png, folder / "a.png")
    (folder / "b.png").write_text("not really a png")
    code = cli.main(["compress", str(folder), "--codec", "jpeg", "--json", "--out-dir", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert code == 2
    err_lines = captured.err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("error:")
    assert "b.png" in err_lines[0] and "not a recognised image" in err_lines[0]
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [Path(r["image"]).name for r in rows] == ["a.png"]
    assert Path(rows[0]["file"]).is_file()


@pytest.mark.parametrize("args", [["--quality", "inf"], ["--set", "quality=inf"]])
@pytest.mark.slow
def test_infinite_quality_is_a_user_error(args, tmp_path, astro_png):
    proc = run_cli("compress", "astro.png", "--codec", "jpeg", *args, cwd=tmp_path)
    _assert_user_error(proc, "quality")


@pytest.mark.slow
def test_compress_does_not_import_torch_when_lpips_is_unavailable(tmp_path, astro_png):
    code = (
        "import sys; from restoration import cli; "
        "rc = cli.main(['compress', 'astro.png', '--codec', 'jpeg', '--json']); "
        "print('torch' in sys.modules, rc)"
    )
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch-home")}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "False 0"


@pytest.mark.slow
def test_console_script(tmp_path):
    exe = shutil.which("restoration")
    if exe is None:
        pytest.skip("the `restoration` console script is not on PATH")
    proc = subprocess.run([exe, "codecs", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == len(codecs.CODECS)
    proc = subprocess.run(
        [exe, "compress", "nope.png", "--codec", "jpeg"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    _assert_user_error(proc, "no such file")
