"""A benchmark's inputs, measured from their headers before it starts (how many images, how many
megapixels), for the estimate of its work (``lab.dashboards.bench_estimate``, ``lab.batch.batch_estimate``)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from restoration.benchmark import inputs
from restoration.codecs import archive as archivelib
from restoration.codecs import reader
from restoration.core.errors import UserInputError


def megapixels(paths, use_examples: bool, skip_unreadable: bool = False) -> tuple[int, float]:
    """(images, megapixels) of a benchmark's inputs, from the headers alone. ``skip_unreadable``:
    leave out what is not an image (a batch names it in its results) instead of refusing it."""
    sizes: list[tuple[int, int]] = []

    def add(read, *args) -> None:
        try:
            sizes.append(read(*args))
        except (UserInputError, OSError):
            if not skip_unreadable:
                raise

    def member_size(archive, member) -> tuple[int, int]:  # a bomb's member is refused unread
        return reader.header_size(archivelib.head(archive, member, member.filename), name=member.filename)

    for raw in paths or ():
        path = Path(getattr(raw, "name", raw))
        if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.infolist():
                    if Path(member.filename).suffix.lower() in reader.extensions():
                        add(member_size, archive, member)
        elif path.is_file():
            add(reader.file_header_size, path)
    if use_examples:
        sizes += inputs.example_sizes()
    return len(sizes), sum(w * h for w, h in sizes) / 1e6
