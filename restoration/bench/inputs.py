"""The images a benchmark runs on: folders, image files, zip archives, or the built-in examples.

Each image is loaded once into the canonical form and identified by the sha256 of its pixels
(and shape), so a stored row is reused whatever the file is called or however it was packed.
Its data set is the folder or archive it came from ("examples" for the built-in set).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from restoration.core import image as imagelib
from restoration.core.errors import UserInputError

MAX_ZIP_MEMBERS = 2000
MAX_MEMBER_BYTES = 200 * 1024 * 1024
# All the images of one benchmark are held decoded (3 bytes a pixel): their total, summed from
# the headers before anything is decoded, is bounded (200 MP: 0.6 GB of pixels).
MAX_TOTAL_PIXELS = int(os.environ.get("RESTORATION_MAX_TOTAL_PIXELS", 200_000_000))


@dataclass(frozen=True)
class BenchImage:
    name: str
    dataset: str
    hash: str
    image: np.ndarray = field(repr=False, compare=False)

    def describe(self) -> dict:
        return {"name": self.name, "dataset": self.dataset, "hash": self.hash,
                "width": self.image.shape[1], "height": self.image.shape[0]}


def image_hash(image: np.ndarray) -> str:
    digest = hashlib.sha256(repr(image.shape).encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def make(name: str, dataset: str, image: np.ndarray) -> BenchImage:
    image = np.ascontiguousarray(image)
    image.setflags(write=False)
    return BenchImage(name, dataset, image_hash(image), image)


def _from_zip(path: Path) -> list[tuple[str, str, np.ndarray]]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UserInputError(f"{path}: not a valid zip archive") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and "__MACOSX" not in m.filename
                   and not Path(m.filename).name.startswith(".")
                   and Path(m.filename).suffix.lower() in imagelib.IMAGE_EXTENSIONS]
        if not members:
            raise UserInputError(f"{path.name}: the zip archive holds no image files")
        if len(members) > MAX_ZIP_MEMBERS:
            raise UserInputError(f"{path}: {len(members)} images; at most {MAX_ZIP_MEMBERS} per archive")
        for member in members:
            if member.file_size > MAX_MEMBER_BYTES:
                raise UserInputError(f"{path}:{member.filename}: over {MAX_MEMBER_BYTES // 2**20} MiB")
        _check_total_pixels(path, archive, members)
        found = []
        for member in sorted(members, key=lambda m: m.filename):
            data = archive.read(member)
            try:
                image = imagelib.load(data)
            except UserInputError as exc:
                raise UserInputError(f"{path}:{member.filename}: {exc}") from None
            found.append((Path(member.filename).stem, path.stem, image))
    return found


def _check_total_pixels(path: Path, archive: zipfile.ZipFile, members) -> None:
    """Refuse an archive whose images would hold more than MAX_TOTAL_PIXELS once decoded, from
    each member's header alone (a 1.5 KB PNG can declare 40 MP)."""
    total = 0
    for member in members:
        with archive.open(member) as handle:
            head = handle.read(1 << 16)
        width, height = imagelib.header_size(head, name=f"{path.name}:{member.filename}")
        total += width * height
        if total > MAX_TOTAL_PIXELS:
            raise UserInputError(f"{path.name}: its images hold more than {MAX_TOTAL_PIXELS:,} pixels in all "
                                 "(RESTORATION_MAX_TOTAL_PIXELS); split the archive, or run `restoration bench` "
                                 "on a folder from the command line")


def _load_file(path: Path, dataset: str | None) -> tuple[str, str, np.ndarray]:
    return path.stem, dataset or path.parent.name or "images", imagelib.load(path)


def collect(paths=(), examples: bool = False, dataset: str | None = None) -> list[BenchImage]:
    """Images from files, folders (not recursive) and zip archives, plus the example set.
    ``dataset`` names the data set of loose files (default: their folder's name)."""
    loaded: list[tuple[str, str, np.ndarray]] = []
    for raw in paths or ():
        path = Path(raw)
        if path.is_file() and path.suffix.lower() == ".zip":
            loaded.extend(_from_zip(path))
        elif path.is_dir():
            loaded.extend(_load_file(p, path.name) for p in imagelib.list_images([path]))
        elif path.is_file():
            loaded.append(_load_file(path, dataset))
        else:
            raise UserInputError(f"{path}: no such file or folder")
    if examples:
        from restoration.core import examples as examplelib

        loaded.extend((name.split(" ")[0], "examples", examplelib.load_example(name)) for name in examplelib.EXAMPLES)
    if not loaded:
        raise UserInputError("no images: give image files, folders or zip archives, or use the example set")
    images, seen = [], set()
    for name, data_set, image in loaded:
        unique, n = name, 2
        while unique in seen:  # the same file name in two archives or folders
            unique, n = f"{name}-{n}", n + 1
        seen.add(unique)
        images.append(make(unique, data_set, image))
    return images
