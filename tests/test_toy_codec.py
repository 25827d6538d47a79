"""A codec added in one place: a toy codec defined here, registered through ``codecs.register``,
is found by every door that lists or reads codecs (the CLI listing, the input door and a folder's
listing, the output formats, a sweep, the benchmark's provenance and the Codecs tab's pickers),
with no edit anywhere else. The fixture takes it out of the registry again."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from cli_run import run_cli

from restoration import codecs
from restoration.benchmark import provenance
from restoration.codecs import output, reader
from restoration.core.errors import UserInputError
from restoration.lab import codecs as codecs_tab
from restoration.pipelines import evaluate


class Toy(codecs.Codec):
    """Pixels quantised by a step the quality sets, zlib-compressed, after a small header: its own
    stream, which Pillow cannot read (like the learned codecs')."""

    name, label, extension, mime = "toy", "Toy (test)", ".toy", "image/x-toy"
    extensions, aliases = (".toyimg",), ("toy-codec",)
    packages = ("toy-codec-lib",)  # not installed: recorded as None, and still part of the digest
    description = "a test codec: quantised pixels, zlib"
    params = (codecs.Param("quality", int, 50, 1, 100, help="100 = every level kept"),)
    knob = codecs.Knob("quality", True, (10, 50, 90))
    header = struct.Struct(">4sHHB")  # magic, height, width, quantisation step
    magic = b"TOY1"

    def encode(self, image, **params):
        step = 1 + (100 - self.resolve(params)["quality"]) // 4
        body = zlib.compress((np.asarray(image) // step).astype(np.uint8).tobytes())
        return self.header.pack(self.magic, image.shape[0], image.shape[1], step) + body

    def decode(self, data):
        height, width = self.header_size(data)[::-1]
        step = data[self.header.size - 1]
        try:
            levels = np.frombuffer(zlib.decompress(data[self.header.size :]), np.uint8).reshape(height, width, 3)
        except (zlib.error, ValueError) as exc:
            raise codecs.CodecError(f"{self.name} could not decode these bytes: {exc}") from None
        return np.clip(levels.astype(np.int32) * step + step // 2, 0, 255).astype(np.uint8)

    def recognizes(self, data):
        return data[:4] == self.magic

    def header_size(self, data):
        if len(data) < self.header.size or not self.recognizes(data):
            raise codecs.CodecError(f"{self.name} could not decode these bytes: not a {self.label} stream")
        _, height, width, _ = self.header.unpack_from(data)
        return width, height


@pytest.fixture
def toy():
    codec = codecs.register(Toy())
    try:
        yield codec
    finally:
        codecs.unregister(codec.name)
    assert "toy" not in codecs.CODECS and "toy-codec" not in codecs.ALIASES


def test_the_registry_names_it_and_refuses_a_second_one(toy):
    assert codecs.get("toy") is toy and codecs.get("Toy-Codec") is toy
    assert list(codecs.CODECS)[-1] == "toy"  # after the shipped codecs
    with pytest.raises(UserInputError, match="'toy' is already registered"):
        codecs.register(Toy())
    with pytest.raises(UserInputError, match="'jpg' is already registered"):
        codecs.register(type("Clash", (Toy,), {"name": "clash", "aliases": ("jpg",)})())


def test_the_cli_lists_it(toy, capsys):
    code, out, _ = run_cli(capsys, "codecs", "--json")
    specs = {spec["name"]: spec for spec in map(json.loads, out.splitlines())}
    assert code == 0 and specs["toy"]["label"] == "Toy (test)" and specs["toy"]["knob"] == "quality"
    assert specs["toy"]["extensions"] == [".toy", ".toyimg"] and specs["toy"]["unavailable"] is None


def test_the_input_door_reads_its_files_back(toy, tmp_path, astro128):
    data = toy.encode(astro128, quality=90)
    path = tmp_path / "photo.toy"
    path.write_bytes(data)
    read = reader.read(path)
    assert read.codec == "toy" and np.array_equal(read.image, toy.decode(data))
    assert reader.header_size(data) == (128, 128) and codecs.sniff(data) is toy
    (tmp_path / "other.toyimg").write_bytes(data)
    (tmp_path / "notes.txt").write_text("not an image")
    assert {".toy", ".toyimg"} <= reader.extensions()
    assert [p.name for p in reader.list_images([tmp_path], on_skip=lambda p: None)] == ["other.toyimg", "photo.toy"]
    with pytest.raises(UserInputError, match="not a recognised image format.*TOY"):
        reader.read(b"\x00not any image at all" * 4, name="x.bin")


def test_the_output_formats_write_it(toy, astro128):
    fmt = output.format_for_path("result.toy")
    assert fmt.codec is toy and output.format_for_path("result.toyimg").codec is toy
    data, extension = output.encode_result(astro128, "toy:q=100")
    assert extension == ".toy" and np.abs(reader.load(data).astype(int) - astro128).max() <= 1
    assert ("Toy (test) quality=50", "toy:quality=50") in output.choices()


def test_a_sweep_runs_it(toy, astro128):
    plan = evaluate.sweep_plan(["toy-codec"])
    assert [point.params for point in plan] == [{"quality": q} for q in Toy.knob.sweep]
    results = [result for _, result in evaluate.run_sweep({"astro": astro128}, plan, ["psnr", "bpp"])]
    assert [r.codec for r in results] == ["toy"] * 3
    psnrs = [r.metrics["psnr"] for r in results]
    assert psnrs == sorted(psnrs) and psnrs[0] > 20  # quality up, PSNR up


def test_the_provenance_records_its_package():
    before = provenance.library_digest()
    assert "toy-codec-lib" not in provenance.library_versions()
    codec = codecs.register(Toy())
    try:
        assert provenance.library_versions()["toy-codec-lib"] is None  # not installed, still recorded
        assert "toy-codec-lib" in provenance.provenance()["libraries"]
        assert provenance.library_digest() != before  # stored rows are computed again
    finally:
        codecs.unregister(codec.name)
    assert provenance.library_digest() == before


def test_the_provenance_records_every_codecs_packages():
    """A stored benchmark row is computed again when any codec's library changes: the versions
    recorded with it come from the codecs' own declarations."""
    versions = provenance.library_versions()
    assert set(codecs.packages()) <= set(versions)
    assert {"pillow-heif", "pyjpegli", "pyoxipng", "pillow-avif-plugin", "pillow-jxl-plugin"} <= set(versions)
    assert set(provenance.codec_versions()) == {"libjpeg_turbo", "jpg_2000", "webp", "avif", "zlib"}


def test_the_codecs_tab_offers_it(toy):
    assert ("Toy (test)", "toy") in codecs_tab.codec_choices()
    assert ("toy", list(Toy.params)) in codecs_tab.codec_params()
