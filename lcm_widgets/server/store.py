"""The durable job store: accepted queue jobs and their results in SQLite (docs/server.md,
"What is kept, and for how long").

With ``ServerConfig.state_dir`` (``serve --state-dir DIR``) every accepted queue job is written
to ``DIR/jobs.sqlite3`` **before** its submit is answered, and its outcome (the result or the
error, the images of a ``sync_mode: false`` result, the logs) when it finishes. A server
started on the same directory:

* answers status and result of every finished job still within ``job_retention`` seconds;
* queues again, in their order of arrival, the jobs that had not finished (waiting or running
  when the server stopped or was killed), so each one finishes and is reported once;
* posts the webhooks that had not been delivered yet.

Finished jobs older than ``job_retention`` (default 24 h) are deleted, with their images, at
start and as later jobs finish. Sync requests and realtime frames are not stored (their client
is connected and gets the answer, or is gone). Writes are SQLite transactions in WAL mode with
``synchronous=FULL``; one connection, used from the event loop's thread only.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DB_NAME", "JobStore", "StoredJob"]

DB_NAME = "jobs.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, owner TEXT NOT NULL, app_id TEXT NOT NULL,
    input BLOB NOT NULL, base_url TEXT NOT NULL, webhook TEXT, status TEXT NOT NULL,
    created REAL NOT NULL, finished REAL, outcome TEXT, webhook_pending INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished);
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, job_id TEXT NOT NULL, content_type TEXT NOT NULL, data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS files_job ON files (job_id);
"""


@dataclass
class StoredJob:
    """One row of the store, as :meth:`JobStore.load` returns it."""

    id: str
    owner: str
    app_id: str
    input: dict[str, Any]
    base_url: str
    webhook: str | None
    status: str
    created: float
    finished: float | None
    outcome: dict[str, Any] | None
    webhook_pending: bool


class JobStore:
    """SQLite at ``state_dir/jobs.sqlite3``; ``retention`` seconds for finished jobs."""

    def __init__(self, state_dir: str | Path, *, retention: float = 24 * 3600.0) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / DB_NAME
        self.retention = retention
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()
        self._seq = int(row[0])
        self.pruned = self.prune()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def count(self) -> int:
        """Jobs stored (finished ones within retention, and unfinished ones)."""
        return int(self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])

    # -- writes ---------------------------------------------------------------------------

    def add(self, job_id: str, *, owner: str, app_id: str, inp: dict[str, Any],
            base_url: str, webhook: str | None) -> None:
        """Record an accepted job (committed when this returns)."""
        import msgpack

        self._seq += 1
        self._db.execute(
            "INSERT INTO jobs (id, seq, owner, app_id, input, base_url, webhook, status, "
            "created, webhook_pending) VALUES (?, ?, ?, ?, ?, ?, ?, 'IN_QUEUE', ?, ?)",
            (job_id, self._seq, owner, app_id, msgpack.packb(inp, use_bin_type=True), base_url,
             webhook, time.time(), int(webhook is not None)))

    def started(self, job_id: str) -> None:
        """The job is running."""
        self._db.execute("UPDATE jobs SET status = 'IN_PROGRESS' WHERE id = ?", (job_id,))

    def finished(self, job_id: str, outcome: dict[str, Any],
                 files: list[tuple[str, str, bytes]]) -> None:
        """Record the outcome (result or error, logs, metrics) and the result's images
        ``(file_id, content_type, data)``, in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("UPDATE jobs SET status = 'COMPLETED', finished = ?, outcome = ? "
                             "WHERE id = ?", (time.time(), json.dumps(outcome), job_id))
            self._db.executemany("INSERT OR REPLACE INTO files (id, job_id, content_type, "
                                 "data) VALUES (?, ?, ?, ?)",
                                 [(fid, job_id, ct, data) for fid, ct, data in files])

    def webhook_done(self, job_id: str) -> None:
        """The job's webhook was delivered, or given up on: do not post it again."""
        self._db.execute("UPDATE jobs SET webhook_pending = 0 WHERE id = ?", (job_id,))

    def prune(self, now: float | None = None) -> int:
        """Delete finished jobs older than the retention, and their images; how many."""
        cutoff = (time.time() if now is None else now) - self.retention
        with self._db:
            self._db.execute("BEGIN")
            old = [r[0] for r in self._db.execute(
                "SELECT id FROM jobs WHERE finished IS NOT NULL AND finished < ?", (cutoff,))]
            self._db.executemany("DELETE FROM files WHERE job_id = ?", [(i,) for i in old])
            self._db.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in old])
        return len(old)

    # -- reads ----------------------------------------------------------------------------

    def load(self) -> list[StoredJob]:
        """Every stored job, oldest first."""
        rows = self._db.execute("SELECT id, owner, app_id, input, base_url, webhook, status, "
                                "created, finished, outcome, webhook_pending FROM jobs "
                                "ORDER BY seq").fetchall()
        return [self._row(r) for r in rows]

    def get(self, job_id: str) -> StoredJob | None:
        """One stored job."""
        r = self._db.execute("SELECT id, owner, app_id, input, base_url, webhook, status, "
                             "created, finished, outcome, webhook_pending FROM jobs "
                             "WHERE id = ?", (job_id,)).fetchone()
        return None if r is None else self._row(r)

    def file(self, file_id: str) -> tuple[bytes, str] | None:
        """A stored image of a result: ``(data, content_type)``."""
        r = self._db.execute("SELECT data, content_type FROM files WHERE id = ?",
                             (file_id,)).fetchone()
        return None if r is None else (bytes(r[0]), str(r[1]))

    @staticmethod
    def _row(r: tuple[Any, ...]) -> StoredJob:
        import msgpack

        return StoredJob(id=r[0], owner=r[1], app_id=r[2],
                         input=msgpack.unpackb(r[3], raw=False), base_url=r[4], webhook=r[5],
                         status=r[6], created=r[7], finished=r[8],
                         outcome=json.loads(r[9]) if r[9] else None,
                         webhook_pending=bool(r[10]))
