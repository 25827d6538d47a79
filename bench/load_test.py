"""Load test: concurrent gradio_client callers mixing /compress, /restore and /upscale.

    python bench/load_test.py [--url URL] [--callers 8] [--requests 5] [--size 128] [--out docs/load_test.md]

Without --url the app is launched in-process on 127.0.0.1 with the queue settings of ``python
app.py`` (``app.configure_queue``). Every distinct request is first made alone, one at a time;
then ``--callers`` threads, each with its own Client, make ``--requests`` requests each, and every
output is compared with the lone one: the encoded file byte for byte, images pixel for pixel.
Reports errors, mismatches, throughput and latency (p50/p95). Exit status 1 on any error or mismatch.
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_inputs(size: int, folder: Path) -> tuple[Path, Path]:
    """A size x size crop of the astronaut (PNG) and a JPEG quality-10 copy of it (the degraded input)."""
    import skimage.data

    crop = skimage.data.astronaut()[40 : 40 + size, 160 : 160 + size]
    clean, degraded = folder / "clean.png", folder / "degraded.jpg"
    Image.fromarray(crop).save(clean)
    Image.fromarray(crop).save(degraded, quality=10)
    return clean, degraded


def requests_mix(clean: Path, degraded: Path) -> list[tuple[str, str, tuple]]:
    """(name, api_name, args): the distinct requests the callers cycle through."""
    from gradio_client import handle_file

    c, d = handle_file(str(clean)), handle_file(str(degraded))
    return [
        ("compress jpeg q50", "/compress", (c, "jpeg", '{"quality": 50}', None, None)),
        ("compress webp 0.5 bpp", "/compress", (c, "webp", "{}", 0.5, None)),
        ("compress avif q40", "/compress", (c, "avif", '{"quality": 40}', None, None)),
        ("compress jpegxl q60", "/compress", (c, "jpegxl", '{"quality": 60}', None, None)),
        (
            "restore deeprecnet-qa-codecs+dncnn+bilateral",
            "/restore",
            (d, c, ["deeprecnet-qa-codecs", "dncnn", "bilateral"], 0),
        ),
        ("upscale x2 bicubic+sparse-sr", "/upscale", (c, 2, ["bicubic-x2", "sparse-sr-x2"], False)),
    ]


def _pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path))


def fingerprint(api: str, result) -> dict:
    """What must not depend on load: the encoded bytes and every output image's pixels."""
    if api == "/compress":
        encoded, decoded, row = result
        return {"encoded": Path(encoded).read_bytes(), "decoded": _pixels(decoded)}
    gallery = result[0]  # restore/upscale: the gallery holds one output image per model
    return {
        f"image {i}": _pixels(item["image"]["path"] if isinstance(item["image"], dict) else item["image"])
        for i, item in enumerate(gallery)
    }


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] if isinstance(a[k], bytes) else np.array_equal(a[k], b[k]) for k in a
    )


def caller(url: str, index: int, count: int, mix, expected, records: list, lock: threading.Lock) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    for j in range(count):
        name, api, args = mix[(index + j) % len(mix)]  # each caller starts elsewhere in the mix
        start = time.perf_counter()
        try:
            result = client.predict(*args, api_name=api)
            seconds = time.perf_counter() - start
            record = {
                "name": name,
                "seconds": seconds,
                "error": None,
                "match": same(fingerprint(api, result), expected[name]),
            }
        except Exception as exc:  # recorded and reported, and the run fails: a request must not fail under load
            record = {
                "name": name,
                "seconds": time.perf_counter() - start,
                "error": f"{type(exc).__name__}: {exc}",
                "match": False,
            }
        with lock:
            records.append(record)


def launch_app() -> tuple[str, object]:
    import app
    from restoration.lab import common

    common.configure_threads()
    demo = app.build()
    app.configure_queue(demo)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    return f"http://127.0.0.1:{port}/", demo


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running app (default: launch one in-process)")
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--requests", type=int, default=5, help="requests per caller")
    parser.add_argument("--size", type=int, default=128, help="side of the square test image (px)")
    parser.add_argument("--out", type=Path, help="write a markdown report here")
    args = parser.parse_args(argv)
    from gradio_client import Client

    url, demo = (args.url, None) if args.url else launch_app()
    mix = requests_mix(*make_inputs(args.size, Path(tempfile.mkdtemp(prefix="load-test-"))))
    alone, expected = {}, {}
    client = Client(url, verbose=False)
    for name, api, call in mix:  # the reference: each request alone
        start = time.perf_counter()
        expected[name] = fingerprint(api, client.predict(*call, api_name=api))
        alone[name] = time.perf_counter() - start
    records: list[dict] = []
    lock = threading.Lock()
    threads = [
        threading.Thread(target=caller, args=(url, i, args.requests, mix, expected, records, lock))
        for i in range(args.callers)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if demo is not None:
        demo.close()
    report = summarise(records, alone, wall, args)
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0 if all(r["error"] is None and r["match"] for r in records) else 1


def summarise(records: list[dict], alone: dict, wall: float, args) -> str:
    from restoration.benchmark import provenance

    seconds = np.array([r["seconds"] for r in records])
    errors = [r for r in records if r["error"]]
    mismatches = [r for r in records if not r["error"] and not r["match"]]
    lines = [
        "# Load test",
        "",
        f"`python bench/load_test.py --callers {args.callers} --requests {args.requests} --size {args.size}"
        + (f" --out {args.out}`" if args.out else "`"),
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {provenance.machine_description()}, "
        f"queue concurrency {os.environ.get('RESTORATION_CONCURRENCY', '2')} "
        f"(RESTORATION_CONCURRENCY), {args.size}x{args.size} input.",
        "",
        f"- requests: {len(records)} from {args.callers} concurrent callers ({args.requests} each)",
        f"- errors: {len(errors)}; outputs differing from the same request made alone: {len(mismatches)}",
        f"- wall time {wall:.1f} s, throughput {len(records) / wall:.2f} requests/s",
        f"- latency under load: p50 {np.percentile(seconds, 50):.2f} s, p95 {np.percentile(seconds, 95):.2f} s, "
        f"max {seconds.max():.2f} s",
        "",
        "| request | alone (s) | under load: n | median (s) | max (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, t in alone.items():
        mine = [r["seconds"] for r in records if r["name"] == name]
        lines.append(
            f"| {name} | {t:.2f} | {len(mine)} | {np.median(mine):.2f} | {max(mine):.2f} |"
            if mine
            else f"| {name} | {t:.2f} | 0 | | |"
        )
    for r in errors + mismatches:
        lines.append(f"\n- {r['name']}: {r['error'] or 'output differs from the lone request'}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
