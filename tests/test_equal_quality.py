"""Equal quality: each codec's smallest file that reaches a score, and a recommendation."""

import json

import pytest

from restoration import codecs
from restoration.core.errors import UserInputError
from restoration.lab import codecs as lab
from restoration.pipelines import equal_quality


@pytest.mark.parametrize("metric, value", [("psnr", 34.0), ("ssimulacra2", 70.0), ("flip", 0.08)])
@pytest.mark.slow
def test_search_finds_the_smallest_setting_that_reaches_the_target(astro256, metric, value):
    target = equal_quality.QualityTarget(metric, value)
    jpeg = codecs.get("jpeg")
    result = equal_quality.search(astro256, jpeg, target)
    assert result.target_met and target.met(result.metrics[metric]) and result.target == {metric: value}
    below = lab.compare(astro256, {"jpeg": {"quality": result.params["quality"] - 1}}, None, perceptual=True)[0]
    assert not target.met(below.metrics[metric])  # one quality step lower falls short: the smallest


def test_a_target_no_setting_reaches_is_marked_missed(astro256):
    result = equal_quality.search(astro256, codecs.get("jpeg"), equal_quality.QualityTarget("psnr", 80.0))
    assert result.target_met is False and result.params["quality"] == 100


def test_compare_recommends_the_smallest_file_and_says_how_much_smaller(astro256):
    target = equal_quality.QualityTarget("psnr", 32.0)
    results = lab.compare(astro256, {"jpeg": {}, "webp": {}, "avif": {}}, target)
    sizes = {r.codec: r.nbytes for r in results}
    text = equal_quality.recommend(results, target)
    best = min(sizes, key=sizes.get)
    assert text.startswith(f"Smallest file at PSNR dB ≥ 32: {codecs.get(best).label}")
    assert ("smaller than JPEG" in text) == (best != "jpeg")
    assert lab.table(results)["headers"][-1] == "target"


@pytest.mark.parametrize(
    "metric, value, message",
    [
        ("bpp", 1, "needs a quality metric"),
        ("psnr", float("inf"), "finite"),
        ("ssimulacra2", 120, "within"),
        ("flip", 2, "within"),
    ],
)
def test_bad_quality_targets_say_why(metric, value, message):
    with pytest.raises(UserInputError, match=message):
        equal_quality.QualityTarget(metric, value)


def test_cli_compares_codecs_at_equal_quality(tmp_path, astro128):
    from PIL import Image

    from restoration import cli

    path = tmp_path / "a.png"
    Image.fromarray(astro128).save(path)
    out = tmp_path / "out"
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli.main(
            [
                "compress",
                str(path),
                "--codec",
                "jpeg,webp",
                "--target-quality",
                "psnr=30",
                "--out-dir",
                str(out),
                "--json",
            ]
        )
    rows = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert code == 0 and [r.get("codec") for r in rows[:2]] == ["jpeg", "webp"]
    assert all(r["target_met"] and r["psnr"] >= 30 for r in rows[:2])
    assert rows[2]["recommendation"].startswith("Smallest file at PSNR dB ≥ 30")
    assert rows[2]["codec"] == min(rows[:2], key=lambda r: r["bytes"])["codec"]
    assert sorted(p.name for p in out.iterdir()) == ["a_jpeg.jpg", "a_webp.webp"]
