"""Tables that fit the page: which columns a result table shows first, which are one click away,
and how wide each is, so that no table scrolls sideways and no header breaks inside a word.

A table is {"headers", "data"} (what the pipelines return and the API sends). ``pages`` splits its
columns into views that each fit a frame of ``frame_px`` pixels: the first column (what a row is)
in every view, then the columns in the caller's order of importance while their comfortable widths
fit, the rest on the next view. Widths come from the text itself: the page's table font is
monospace (IBM Plex Mono, 14 px: 8.43 px a character, measured in Chromium), so a column's width
in characters is its width on screen. Each column gets at least its longest word (a header wraps
at spaces, never inside a word), numbers never wrap, long text wraps at spaces; the widths are
returned as percentages of the frame, which the page then fills exactly.
"""

from __future__ import annotations

import math
import re

CHAR_PX = 8.5  # one character of the table font (8.43 px measured), with a little room
CELL_PAD_PX = 24  # a cell's padding (8 + 8), its border and the header's menu gap (4), with room
FRAME_PX = 790  # the results column of a tab at 1400x1000 (798 px), less a margin
WIDE_FRAME_PX = 1190  # a table across the whole page at 1400x1000 (the Dashboards tab: 1214 px)
TEXT_CHARS = 16  # a text column's comfortable width: longer text wraps onto more lines
MAX_CHARS = 60  # wider than this a column only takes space from the others


def words(text: str, hyphens: bool) -> list[str]:
    """The pieces a line may not break inside: words (a cell's long ids may break after a hyphen;
    a header's "PSNR-Y" may not)."""
    pieces = str(text).split()
    if hyphens:
        pieces = [part for piece in pieces for part in re.findall(r"[^-]*-|[^-]+", piece)]
    return pieces or [""]


def text(value) -> str:
    """A cell as the page shows it ("" for nothing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def measure(header: str, cells: list) -> tuple[int, int, int]:
    """(narrowest, comfortable, widest) width of a column in characters: its longest word; its
    longest number or TEXT_CHARS of text; its longest line unwrapped (capped at MAX_CHARS)."""
    shown = [text(value) for value in cells]
    narrowest = max(len(w) for w in words(header, hyphens=False) + [w for s in shown for w in words(s, True)])
    numbers = [len(s) for value, s in zip(cells, shown) if isinstance(value, (int, float))]
    texts = [len(s) for value, s in zip(cells, shown) if not isinstance(value, (int, float))]
    comfortable = max([narrowest, *numbers, *[min(n, TEXT_CHARS) for n in texts]])
    widest = min(max([len(header), comfortable, *texts]), MAX_CHARS)
    return narrowest, comfortable, max(widest, comfortable)


def pixels(chars: float) -> float:
    return chars * CHAR_PX + CELL_PAD_PX


def pages(
    table: dict | None, order: list[str] | None = None, hidden: tuple[str, ...] = (), frame_px: float = FRAME_PX
) -> list[dict]:
    """``table``'s columns as views that each fit ``frame_px``: [{"headers", "data", "widths"}],
    the first with the most important columns. ``order``: headers by importance (the first
    column, what a row is, always comes first; headers not named follow in table order);
    ``hidden``: columns no view shows (the API's table keeps them). Each view keeps the table's
    column order; "widths" are the page's column_widths ("12.5%")."""
    headers, rows = list((table or {}).get("headers") or []), list((table or {}).get("data") or [])
    shown = [i for i, h in enumerate(headers) if h not in hidden]
    if not shown:
        return [{"headers": headers, "data": rows, "widths": []}]
    ranked = sorted(
        shown[1:],
        key=lambda i: (order or []).index(headers[i]) if headers[i] in (order or []) else len(order or []) + i,
    )
    sizes = {i: [pixels(c) for c in measure(headers[i], [row[i] for row in rows])] for i in shown}
    first = shown[0]
    groups: list[list[int]] = []
    for i in ranked:
        group = groups[-1] if groups else None
        if group is None or sum(sizes[j][1] for j in [first, *group, i]) > frame_px:
            groups.append([i])
        else:
            group.append(i)
    views = []
    for group in groups or [[]]:
        columns = sorted([first, *group])
        views.append(
            {
                "headers": [headers[i] for i in columns],
                "data": [[row[i] for i in columns] for row in rows],
                "widths": widths([sizes[i] for i in columns], frame_px),
            }
        )
    return views


def widths(sizes: list[list[float]], frame_px: float) -> list[str]:
    """Percentages of the frame: each column its comfortable width (its narrowest if even those do
    not fit), then what is left shared out towards each one's widest, then in proportion."""
    start = 1 if sum(s[1] for s in sizes) <= frame_px else 0
    given = [s[start] for s in sizes]
    spare = frame_px - sum(given)
    wanted = [s[2] - g for s, g in zip(sizes, given)]
    if spare > 0 and sum(wanted) > 0:
        share = min(1.0, spare / sum(wanted))
        given = [g + w * share for g, w in zip(given, wanted)]
    total = sum(given) or 1.0
    percents = [math.floor(10000 * g / total) / 100 for g in given]  # rounded down: never past 100 %
    return [f"{p:g}%" for p in percents]
