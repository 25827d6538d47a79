"""Perceptual quality from people: a blind A/B panel over restoration or super-resolution models.

A pair is two outputs of the same input by two different models, in random order; the page
shows them as "A" and "B" with only a pair number, and the model names stay in the database.
A vote is a preference (A, B or same) and/or a 1-5 score for each side. The score per model:
its win rate over the pairwise votes (a tie counts half) and its mean opinion score, each with
its number of votes.

Integrity: a vote needs the token served with its pair (an HMAC of the pair id with this
server's secret, ``RESTORATION_PANEL_SECRET`` or a random one per process), each pair takes one
vote, and votes are rate-limited per voter (the app passes the client's address), so one client
cannot lock out the others. The score table counts votes in whole batches of
``MIN_VOTES_FOR_SCORES``: nothing before the first batch, and then it moves only every that many
votes, so comparing it before and after one's own vote does not tell which model was A.

Staying blind: the models run on a slightly larger crop than is shown, and the pair shows a
window of it at a secret offset, mirrored or not at random (``View``, kept in the database with
the pair, never served): re-running a named model on the served input does not reproduce A or B
pixel for pixel (without them a rerun matches a side exactly and names its model).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

import numpy as np

from restoration import codecs as codeclib
from restoration import degrade
from restoration.benchmark import inputs as bench_inputs
from restoration.benchmark.store import Store
from restoration.core.errors import UserInputError
from restoration.models import restorers
from restoration.pipelines import restore as restorelib
from restoration.pipelines import sr

TASKS = ("restoration", "super-resolution")
PREFERENCES = ("A", "B", "same")
SCORE_HEADERS = ["task", "model", "pairwise votes", "wins", "ties", "losses", "win rate", "ratings", "mean score"]
MIN_VOTES_FOR_SCORES = int(os.environ.get("RESTORATION_PANEL_MIN_VOTES", 10))
VOTES_PER_MINUTE = int(os.environ.get("RESTORATION_PANEL_VOTES_PER_MINUTE", 30))
_SECRET = os.environ.get("RESTORATION_PANEL_SECRET", "").encode() or secrets.token_bytes(32)
_RECENT: dict = {}  # voter -> the times of their votes in the last minute
_RECENT_LOCK = threading.Lock()
MARGIN = 8  # px of the models' input around the shown window, where its secret offset moves
_VIEW_RANDOM = secrets.SystemRandom()  # not the pair's seed: a caller must not be able to replay it


def pair_token(pair_id: int) -> str:
    """What a vote on this pair must carry: only the server that served the pair can make it."""
    return hmac.new(_SECRET, f"pair:{int(pair_id)}".encode(), hashlib.sha256).hexdigest()[:32]


def _rate_limited(voter: str | None) -> bool:
    """Whether this voter cast VOTES_PER_MINUTE votes in the last minute (else the vote is counted)."""
    with _RECENT_LOCK:
        now = time.monotonic()
        for key in [k for k, times in _RECENT.items() if not times or now - times[-1] > 60]:
            del _RECENT[key]  # voters quiet for a minute: the table stays small
        times = _RECENT.setdefault(voter or "", deque())
        while times and now - times[0] > 60:
            times.popleft()
        if len(times) >= VOTES_PER_MINUTE:
            return True
        times.append(now)
        return False


@dataclass
class Pair:
    id: int
    input: np.ndarray = field(repr=False)  # what both models were given (degraded or low-resolution)
    a: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)

    @property
    def token(self) -> str:
        return pair_token(self.id)


@dataclass(frozen=True)
class View:
    """What a pair shows of its models' input and results: the input's window at (top, left) of
    ``height`` x ``width`` input pixels; the results' window ``scale`` times that, moved on by
    ``shift`` (0 < shift < scale, in result pixels, for an upscale: a window off the low-resolution
    grid, which a re-run of a pixel-local upscaler cannot reproduce); mirrored or not."""

    top: int
    left: int
    height: int
    width: int
    mirrored: bool
    scale: int = 1
    shift: tuple[int, int] = (0, 0)

    @classmethod
    def random(cls, height: int, width: int, shown_height: int, shown_width: int, scale: int = 1) -> View:
        spare = 1 if scale > 1 else 0  # the shifted result window reaches one input pixel further

        def offset(room: int) -> int:  # off the 8x8 grid when there is room: a codec's blocks move too
            choices = [o for o in range(max(room, 0) + 1) if o % 8] or list(range(max(room, 0) + 1))
            return _VIEW_RANDOM.choice(choices)

        shift = (_VIEW_RANDOM.randrange(1, scale), _VIEW_RANDOM.randrange(1, scale)) if scale > 1 else (0, 0)
        top, left = offset(height - shown_height - spare), offset(width - shown_width - spare)
        if top + shown_height + spare > height or left + shown_width + spare > width:  # no room: no shift
            shift = (0, 0)
        return cls(top, left, shown_height, shown_width, _VIEW_RANDOM.random() < 0.5, scale, shift)

    def input(self, image: np.ndarray) -> np.ndarray:
        return self._shown(image[self.top : self.top + self.height, self.left : self.left + self.width])

    def result(self, image: np.ndarray) -> np.ndarray:
        top, left = self.top * self.scale + self.shift[0], self.left * self.scale + self.shift[1]
        return self._shown(image[top : top + self.height * self.scale, left : left + self.width * self.scale])

    def _shown(self, window: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(window[:, ::-1] if self.mirrored else window)

    def describe(self) -> dict:
        return {"offset": [self.top, self.left], "shift": list(self.shift), "mirrored": self.mirrored}


def _centre_crop(image: np.ndarray, side: int, multiple: int = 1) -> np.ndarray:
    h, w = image.shape[:2]
    ch, cw = min(h, side) // multiple * multiple, min(w, side) // multiple * multiple
    if ch < multiple or cw < multiple:
        raise UserInputError(f"a {w}x{h} image is too small for this panel")
    top, left = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(image[top : top + ch, left : left + cw])


def check_models(task: str, models: list[str], scale: int = 4) -> list[str]:
    if task not in TASKS:
        raise UserInputError(f"unknown panel task {task!r}; choose from {', '.join(TASKS)}")
    models = list(dict.fromkeys(models or []))
    if len(models) < 2:
        raise UserInputError("choose at least two models to compare")
    for model in models:
        spec = restorers.get(model)
        if task == "super-resolution":
            sr.check_model(model, scale)
        elif "sr" in spec.tasks:
            raise UserInputError(f"{model} is a super-resolution model: choose the super-resolution task")
        restorers.require_ready(model)
    return models


def make_pair(
    image: np.ndarray,
    task: str,
    models: list[str],
    db=None,
    codec: str = "jpeg",
    quality: int = 20,
    scale: int = 4,
    crop: int = 256,
    seed: int | None = None,
) -> Pair:
    """Degrade (or downscale) a crop of ``image``, run two of ``models`` on it, store the pair."""
    models = check_models(task, models, scale)
    rng = random.Random(seed)
    model_a, model_b = rng.sample(models, 2)
    if task == "super-resolution":
        shown = _centre_crop(image, crop, scale).shape[:2]  # the size shown: as without a margin
        hr = _centre_crop(image, crop + 2 * MARGIN * scale, scale)
        _, given = sr.make_lr(hr, scale)
        view = View.random(*given.shape[:2], shown[0] // scale, shown[1] // scale, scale)
        description = {"kind": "downscale", "scale": scale, "crop": list(shown)}
        outputs = [sr.upscale(given, m, scale).image for m in (model_a, model_b)]
    else:
        shown = _centre_crop(image, crop).shape[:2]
        clean = _centre_crop(image, crop + 2 * MARGIN)
        knob = codeclib.get(codec).knob
        if knob is None:
            raise UserInputError(f"{codec} is lossless: choose a lossy codec for the panel")
        step = degrade.Compress(codeclib.get(codec).name, {knob.name: quality})
        degraded = degrade.apply(clean, step)
        given = degraded.image
        view = View.random(*given.shape[:2], *shown)
        description = {**step.describe(), "crop": list(shown)}
        outputs = [restorelib.restore_one(given, m, data=degraded.data).image for m in (model_a, model_b)]
    description["view"] = view.describe()  # kept with the pair, never served
    with Store(db) as store:
        pair_id = store.add_pair(bench_inputs.image_hash(image), task, description, model_a, model_b)
    return Pair(pair_id, view.input(given), view.result(outputs[0]), view.result(outputs[1]))


def vote(
    pair_id,
    token: str | None,
    preference: str | None = None,
    score_a=None,
    score_b=None,
    db=None,
    voter: str | None = None,
) -> int:
    """Record one person's judgement of a pair served by this server: a preference and/or 1-5 scores."""
    if pair_id is None:
        raise UserInputError("show a pair first")
    if not token or not hmac.compare_digest(str(token), pair_token(int(pair_id))):
        raise UserInputError("this vote does not carry its pair's token: vote on a pair shown by this server")
    if preference is not None and preference not in PREFERENCES:
        raise UserInputError(f"preference must be one of {', '.join(PREFERENCES)}")
    scores = []
    for score in (score_a, score_b):
        if score is not None and (int(score) != score or not 1 <= int(score) <= 5):
            raise UserInputError(f"a score is a whole number from 1 to 5, got {score}")
        scores.append(None if score is None else int(score))
    if preference is None and scores == [None, None]:
        raise UserInputError("give a preference or a score")
    with Store(db) as store:
        store.pair(int(pair_id))  # a clear error for an unknown pair
        if store.vote_count(int(pair_id)):
            raise UserInputError(f"pair {int(pair_id)} has its vote already: show a new pair")
        if _rate_limited(voter):
            raise UserInputError(
                f"too many votes from you in the last minute (at most {VOTES_PER_MINUTE}): wait a little"
            )
        return store.add_vote(int(pair_id), preference, scores[0], scores[1], voter)


def scores(db=None, min_votes: int | None = None) -> list[list]:
    """One row per (task, model): pairwise votes, wins, ties, losses, win rate, ratings, mean score;
    over the votes in whole batches of ``min_votes`` (default MIN_VOTES_FOR_SCORES), oldest first:
    no rows before the first batch, and a table that moves only when a batch completes."""
    batch = max(1, MIN_VOTES_FOR_SCORES if min_votes is None else min_votes)
    with Store(db) as store:
        votes = store.votes()
    votes = votes[: len(votes) // batch * batch]
    if not votes:
        return []
    tally: dict[tuple[str, str], dict] = defaultdict(lambda: {"wins": 0, "ties": 0, "losses": 0, "scores": []})
    for v in votes:
        a, b = tally[(v["task"], v["model_a"])], tally[(v["task"], v["model_b"])]
        if v["preference"] == "same":
            a["ties"] += 1
            b["ties"] += 1
        elif v["preference"] in ("A", "B"):
            winner, loser = (a, b) if v["preference"] == "A" else (b, a)
            winner["wins"] += 1
            loser["losses"] += 1
        for side, score in ((a, v["score_a"]), (b, v["score_b"])):
            if score is not None:
                side["scores"].append(score)
    table = []
    for (task, model), t in sorted(tally.items()):
        n = t["wins"] + t["ties"] + t["losses"]
        table.append(
            [
                task,
                model,
                n,
                t["wins"],
                t["ties"],
                t["losses"],
                None if n == 0 else round((t["wins"] + 0.5 * t["ties"]) / n, 3),
                len(t["scores"]),
                None if not t["scores"] else round(sum(t["scores"]) / len(t["scores"]), 2),
            ]
        )
    return table
