"""The images a benchmark runs on: folders, image files, zip archives, or the built-in examples,
each read through the input door (``codecs.reader``: every format the codecs read).

Each image is loaded once into the canonical form and identified by the sha256 of its pixels
(and shape), so a stored row is reused whatever the file is called or however it was packed.
Its data set is the folder or archive it came from ("examples" for the built-in set).

Files and a zip archive's members are decoded one at a time, hashed, measured and released: the
image is read again from its file or archive when its tasks run (``BenchImage.image``; the last
one decoded is kept, and tasks arrive grouped by image), so a folder or an archive of many large
images never sits decoded in memory all at once.
"""

from __future__ import annotations

import functools
import hashlib
import os
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from restoration.codecs import archive as archivelib
from restoration.codecs import reader
from restoration.core import budget
from restoration.core import examples as examplelib
from restoration.core.errors import UserInputError

MAX_ZIP_MEMBERS = 2000
MAX_MEMBER_BYTES = archivelib.MAX_MEMBER_BYTES
# All the images of one benchmark are held decoded (3 bytes a pixel): their total, summed from
# the headers before anything is decoded, is bounded (200 MP: 0.6 GB of pixels).
MAX_TOTAL_PIXELS = int(os.environ.get("RESTORATION_MAX_TOTAL_PIXELS", 200_000_000))


@dataclass(frozen=True)
class BenchImage:
    name: str
    dataset: str
    hash: str
    pixels: np.ndarray | None = field(repr=False, compare=False)  # None: read from ``member`` when needed
    member: tuple[str, str] | None = field(default=None, compare=False)  # (file or zip archive, member or "")
    size: tuple[int, int] = (0, 0)  # (width, height); from the pixels when they are given

    def __post_init__(self):
        if self.pixels is not None:
            object.__setattr__(self, "size", (self.pixels.shape[1], self.pixels.shape[0]))

    @property
    def image(self) -> np.ndarray:
        return self.pixels if self.pixels is not None else read_member(*self.member)

    @property
    def pixel_count(self) -> int:
        return self.size[0] * self.size[1]

    def describe(self) -> dict:
        return {
            "name": self.name,
            "dataset": self.dataset,
            "hash": self.hash,
            "width": self.size[0],
            "height": self.size[1],
        }


@functools.lru_cache(maxsize=1)
def read_member(archive: str, member: str) -> np.ndarray:
    """One zip member (or, with ``member`` "", the file itself), decoded; the last one is kept: a
    benchmark's tasks come grouped by image."""
    if not member:
        image = reader.load(archive, name=Path(archive).name)
    else:
        with zipfile.ZipFile(archive) as handle:  # checked and read a chunk at a time (codecs.archive)
            image = reader.load(archivelib.read(handle, handle.getinfo(member), member), name=member)
    image.setflags(write=False)
    return image


def image_hash(image: np.ndarray) -> str:
    digest = hashlib.sha256(repr(image.shape).encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def make(name: str, dataset: str, image: np.ndarray, member: tuple[str, str] | None = None) -> BenchImage:
    """A benchmark image; with ``member`` its pixels are released and read again from the archive."""
    image = np.ascontiguousarray(image)
    image.setflags(write=False)
    return BenchImage(
        name, dataset, image_hash(image), None if member else image, member, (image.shape[1], image.shape[0])
    )


def _from_zip(path: Path) -> list[BenchImage]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UserInputError(f"{path.name}: not a valid zip archive") from None
    with archive:
        members = _image_members(archive)
        if not members:
            raise UserInputError(f"{path.name}: the zip archive holds no image files")
        if len(members) > MAX_ZIP_MEMBERS:
            raise UserInputError(f"{path.name}: {len(members)} images; at most {MAX_ZIP_MEMBERS} per archive")
        for member in members:  # every member's declared method, size and ratio, before any is unpacked
            archivelib.check_member(member, f"{path.name}:{member.filename}")
        _check_total_pixels(path, archive, members)
        found = []
        for member in sorted(members, key=lambda m: m.filename):  # one decoded at a time, then released
            name = f"{path.name}:{member.filename}"
            image = reader.load(archivelib.read(archive, member, name), name=name)  # the request checked per MiB
            found.append(make(Path(member.filename).stem, path.stem, image, (str(path), member.filename)))
            del image
    return found


def _check_total_pixels(path: Path, archive: zipfile.ZipFile, members) -> None:
    """Refuse an archive whose images would hold more than MAX_TOTAL_PIXELS once decoded, from
    each member's header alone (a 1.5 KB PNG can declare 40 MP)."""
    total = 0
    for member in members:
        budget.check()  # 2000 headers are read here: the request's limit and cancellation between them
        name = f"{path.name}:{member.filename}"
        width, height = reader.header_size(archivelib.head(archive, member, name), name=name)
        total += width * height
        if total > MAX_TOTAL_PIXELS:
            raise UserInputError(
                f"{path.name}: its images hold more than {MAX_TOTAL_PIXELS:,} pixels in all "
                "(RESTORATION_MAX_TOTAL_PIXELS); split the archive, or run `restoration bench` "
                "on a folder from the command line"
            )


def _load_file(path: Path, dataset: str | None) -> BenchImage:
    """A file's image: decoded here to hash and measure it, then released (read again when run)."""
    image = reader.load(path, name=path.name)  # a message names the file, not the server's folder
    return make(path.stem, dataset or path.parent.name or "images", image, (str(path), ""))


def largest_pixels(paths=(), examples: bool = False) -> int:
    """The pixel count of the largest image ``collect`` would read, from the headers alone (so a
    request claims its memory before anything is decoded); a file whose header cannot be read is
    left to ``collect``, which names it."""
    largest = max((w * h for w, h in example_sizes()), default=0) if examples else 0
    for raw in paths or ():
        path = Path(raw)
        try:
            if path.is_file() and path.suffix.lower() == ".zip":
                with zipfile.ZipFile(path) as archive:
                    for member in _image_members(archive):
                        budget.check()
                        name = f"{path.name}:{member.filename}"
                        width, height = reader.header_size(archivelib.head(archive, member, name), name=name)
                        largest = max(largest, width * height)
                continue
            for file in reader.list_images([path]) if path.is_dir() else [path] if path.is_file() else []:
                width, height = reader.file_header_size(file)
                largest = max(largest, width * height)
        except (OSError, UserInputError, zipfile.BadZipFile):
            continue
    return largest


@functools.cache
def example_sizes() -> tuple[tuple[int, int], ...]:
    """(width, height) of the example set, decoded once per process (an estimate reruns on every
    change of the benchmark form)."""
    return tuple(examplelib.load_example(name).shape[1::-1] for name in examplelib.EXAMPLES)


def _image_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [
        m
        for m in archive.infolist()
        if not m.is_dir()
        and "__MACOSX" not in m.filename
        and not Path(m.filename).name.startswith(".")
        and Path(m.filename).suffix.lower() in reader.extensions()
    ]


def collect(paths=(), examples: bool = False, dataset: str | None = None) -> list[BenchImage]:
    """Images from files, folders (not recursive) and zip archives, plus the example set.
    ``dataset`` names the data set of loose files (default: their folder's name)."""
    loaded: list[BenchImage] = []
    for raw in paths or ():
        path = Path(raw)
        if path.is_file() and path.suffix.lower() == ".zip":
            loaded.extend(_from_zip(path))
        elif path.is_dir():
            loaded.extend(_load_file(p, path.name) for p in reader.list_images([path]))
        elif path.is_file():
            loaded.append(_load_file(path, dataset))
        else:
            raise UserInputError(f"{path}: no such file or folder")
    if examples:
        loaded.extend(
            make(name.split(" ")[0], "examples", examplelib.load_example(name)) for name in examplelib.EXAMPLES
        )
    if not loaded:
        raise UserInputError("no images: give image files, folders or zip archives, or use the example set")
    images, seen = [], set()
    for image in loaded:
        unique, n = image.name, 2
        while unique in seen:  # the same file name in two archives or folders
            unique, n = f"{image.name}-{n}", n + 1
        seen.add(unique)
        images.append(replace(image, name=unique))
    return images
