"""SQLite store for benchmark rows, runs and their provenance, and the blind panel's votes.

One file (the embedded default is ``runs/bench.sqlite``, or ``RESTORATION_DB``) holds:

- ``results``: one row per (image hash, configuration) key, JSON in ``row``. A row is computed
  once and reused by every later run that asks for the same key.
- ``runs``: what was asked (configuration, image set), where and with what (provenance), when,
  how long, and whether it finished. A run that did not finish is resumed by the next run with
  the same configuration and images.
- ``run_rows``: which keys belong to a run, under which image name and data set.
- ``panel_pairs`` and ``votes``: the blind preference panel (``restoration.benchmark.panel``).

Only the process that runs a benchmark writes; workers return rows to it.
"""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
from pathlib import Path

from restoration.core.errors import UserInputError

DEFAULT_PATH = Path("runs") / "bench.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
    config_hash TEXT NOT NULL, config TEXT NOT NULL, images TEXT NOT NULL, provenance TEXT NOT NULL,
    seconds REAL, computed INTEGER, reused INTEGER);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, image_hash TEXT NOT NULL, kind TEXT NOT NULL, row TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run_rows (
    run_id INTEGER NOT NULL REFERENCES runs(id), key TEXT NOT NULL REFERENCES results(key),
    image TEXT NOT NULL, dataset TEXT NOT NULL, PRIMARY KEY (run_id, key, image));
CREATE TABLE IF NOT EXISTS panel_pairs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, input_hash TEXT NOT NULL, task TEXT NOT NULL,
    degradation TEXT NOT NULL, model_a TEXT NOT NULL, model_b TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, pair_id INTEGER NOT NULL REFERENCES panel_pairs(id),
    preference TEXT, score_a INTEGER, score_b INTEGER, voter TEXT);
"""


def default_path() -> Path:
    return Path(os.environ.get("RESTORATION_DB") or DEFAULT_PATH)


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Store:
    """A connection to one database file (created with its folder on first use). Its messages name
    the file, not its folder: on a server they reach strangers."""

    def __init__(self, path: str | os.PathLike | None = None, create: bool = True):
        self.path = Path(path) if path else default_path()
        if not create and not self.path.is_file():
            raise UserInputError(
                f"{self.path.name}: no such database (run `restoration bench ... --db {self.path.name}` first)"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise UserInputError(f"{self.path.name}: cannot use this file as a database ({exc})") from None
        except OSError as exc:
            raise UserInputError(f"{self.path.name}: cannot create the database ({exc.strerror or exc})") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- runs ----------------------------------------------------------------------------------
    def start_run(self, config: dict, config_hash: str, images: list[dict], provenance: dict) -> tuple[int, bool]:
        """A new run, or the last unfinished one with the same configuration and images
        (resumed: its rows so far are kept). Returns (run id, resumed)."""
        found = self.db.execute(
            "SELECT id, status FROM runs WHERE config_hash = ? ORDER BY id DESC LIMIT 1", (config_hash,)
        ).fetchone()
        with self.db:
            if found and found[1] != "finished":
                self.db.execute(
                    "UPDATE runs SET status = 'running', provenance = ? WHERE id = ?",
                    (json.dumps(provenance), found[0]),
                )
                return found[0], True
            cursor = self.db.execute(
                "INSERT INTO runs (created, status, config_hash, config, images, provenance) VALUES (?, ?, ?, ?, ?, ?)",
                (now(), "running", config_hash, json.dumps(config), json.dumps(images), json.dumps(provenance)),
            )
        return cursor.lastrowid, False

    def end_run(self, run_id: int, status: str, seconds: float, computed: int, reused: int) -> None:
        with self.db:
            self.db.execute(
                "UPDATE runs SET status = ?, finished = ?, seconds = ?, computed = ?, reused = ? WHERE id = ?",
                (status, now(), seconds, computed, reused, run_id),
            )

    def runs(self) -> list[dict]:
        cursor = self.db.execute(
            "SELECT r.id, r.created, r.finished, r.status, r.config, r.images, r.provenance, r.seconds, r.computed, "
            "r.reused, (SELECT COUNT(*) FROM run_rows WHERE run_id = r.id) FROM runs r ORDER BY r.id"
        )
        names = (
            "id",
            "created",
            "finished",
            "status",
            "config",
            "images",
            "provenance",
            "seconds",
            "computed",
            "reused",
            "rows",
        )
        runs = []
        for values in cursor:
            run = dict(zip(names, values))
            for key in ("config", "images", "provenance"):
                run[key] = json.loads(run[key])
            runs.append(run)
        return runs

    def run(self, run_id: int) -> dict:
        for run in self.runs():
            if run["id"] == run_id:
                return run
        raise UserInputError(f"no run {run_id} in {self.path.name}")

    # -- rows ----------------------------------------------------------------------------------
    def lookup(self, keys: list[str]) -> dict[str, dict]:
        """Stored rows for those keys that have one."""
        found: dict[str, dict] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, row in self.db.execute(f"SELECT key, row FROM results WHERE key IN ({marks})", chunk):
                found[key] = json.loads(row)
        return found

    def add(self, run_id: int, rows: list[dict], names: list[tuple[str, str]]) -> None:
        """Store new rows (a key already stored keeps its first row) and link them to the run
        under each (image name, data set) in ``names``, in one transaction."""
        stamp = now()
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO results (key, image_hash, kind, row, created) VALUES (?, ?, ?, ?, ?)",
                [(r["key"], r["image_hash"], r["kind"], json.dumps(r, allow_nan=False), stamp) for r in rows],
            )
            self._link(run_id, [(r["key"], image, dataset) for r in rows for image, dataset in names])

    def link(self, run_id: int, links: list[tuple[str, str, str]]) -> None:
        """Link stored rows to a run: (key, image name, data set) each."""
        with self.db:
            self._link(run_id, links)

    def _link(self, run_id: int, links) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO run_rows (run_id, key, image, dataset) VALUES (?, ?, ?, ?)",
            [(run_id, key, image, dataset) for key, image, dataset in links],
        )

    def all_rows(self) -> list[dict]:
        """Every stored result row, of any run."""
        return [json.loads(row) for (row,) in self.db.execute("SELECT row FROM results")]

    def rows(self, run_ids: list[int]) -> list[dict]:
        """Every row of these runs, with its image name, data set and run id added."""
        known = {run["id"] for run in self.runs()}
        missing = [r for r in run_ids if r not in known]
        if missing:
            raise UserInputError(f"no run {', '.join(map(str, missing))} in {self.path.name}")
        rows = []
        for run_id in run_ids:
            cursor = self.db.execute(
                "SELECT rr.image, rr.dataset, res.row FROM run_rows rr JOIN results res ON res.key = rr.key "
                "WHERE rr.run_id = ? ORDER BY rr.rowid",
                (run_id,),
            )
            rows.extend(
                {**json.loads(row), "image": image, "dataset": dataset, "run": run_id} for image, dataset, row in cursor
            )
        return rows

    # -- blind panel ---------------------------------------------------------------------------
    def add_pair(self, input_hash: str, task: str, degradation: dict, model_a: str, model_b: str) -> int:
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO panel_pairs (created, input_hash, task, degradation, model_a, model_b) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (now(), input_hash, task, json.dumps(degradation), model_a, model_b),
            )
        return cursor.lastrowid

    def pair(self, pair_id: int) -> dict:
        found = self.db.execute(
            "SELECT id, task, model_a, model_b FROM panel_pairs WHERE id = ?", (pair_id,)
        ).fetchone()
        if found is None:
            raise UserInputError(f"no panel pair {pair_id}: show a new pair first")
        return dict(zip(("id", "task", "model_a", "model_b"), found))

    def add_vote(
        self, pair_id: int, preference: str | None, score_a: int | None, score_b: int | None, voter: str | None = None
    ) -> int:
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO votes (created, pair_id, preference, score_a, score_b, voter) VALUES (?, ?, ?, ?, ?, ?)",
                (now(), pair_id, preference, score_a, score_b, voter),
            )
        return cursor.lastrowid

    def vote_count(self, pair_id: int) -> int:
        return self.db.execute("SELECT COUNT(*) FROM votes WHERE pair_id = ?", (pair_id,)).fetchone()[0]

    def votes(self) -> list[dict]:
        cursor = self.db.execute(
            "SELECT v.id, p.task, p.model_a, p.model_b, v.preference, v.score_a, v.score_b FROM votes v "
            "JOIN panel_pairs p ON p.id = v.pair_id ORDER BY v.id"
        )
        return [
            dict(zip(("id", "task", "model_a", "model_b", "preference", "score_a", "score_b"), values))
            for values in cursor
        ]
