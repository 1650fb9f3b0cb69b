"""The connection every part of the store shares: opening, migrating, one writer at a time.

Durability is the point. The database runs in WAL mode with ``synchronous=FULL``, so a commit
returns only after the write-ahead log is on disk; each utterance is committed (the utterance
row and the report's new state, in one transaction) before the session says it is done. A
process killed with SIGKILL loses nothing that was committed, and the next start finds the
draft. The file is created readable by its owner only: it holds patient data.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dictation.errors import StoreError
from dictation.store.records import OutboxEntry
from dictation.store.schema import MIGRATIONS, default_path, os_user, statements


class StoreBase:
    """One SQLite connection (WAL, synchronous=FULL), migrated on open, with the audit writer."""

    def __init__(self, path: str | Path | None = None, *, actor: str = "") -> None:
        self.path = Path(path) if path else default_path()
        self.actor = actor or os_user()  # who the audit log names (the reader id when configured)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                # Owner-only from the first byte: the file holds patient data.
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            self.db.row_factory = sqlite3.Row
            mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: the store needs write-ahead logging, which this file system refused ({mode})")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA secure_delete=ON")  # purged audio is overwritten, not just unlinked
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: cannot open the radscribe store ({e}); use --store to choose another file") from None

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer radscribe (schema {version}); upgrade radscribe")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in statements(script):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; a database error leaves it as ``StoreError`` (the callers
        above the store never see a driver's exception), with nothing written."""
        # One connection may be used by the session thread and the UI thread: one writer at a time.
        with self._lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise StoreError(f"{self.path}: the store cannot be written now ({e})") from e
            try:
                yield self.db
            except sqlite3.Error as e:
                self.db.execute("ROLLBACK")
                raise StoreError(f"{self.path}: nothing was written ({e})") from e
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    def _audit(self, db: sqlite3.Connection, action: str, report_id: str | None, accession: str, detail: str,
               now: float | None = None, actor: str | None = None) -> None:
        db.execute("INSERT INTO audit (at, actor, action, report_id, accession, detail) VALUES (?, ?, ?, ?, ?, ?)",
                   (now or time.time(), actor or self.actor, action, report_id, accession, detail))

    def audit(self, action: str, report_id: str | None = None, accession: str = "", detail: str = "",
              actor: str | None = None) -> None:
        """One entry in the append-only audit log (the store refuses to change or delete one)."""
        with self.transaction() as db:
            self._audit(db, action, report_id, accession, detail, actor=actor)

    def _enqueue(self, db: sqlite3.Connection, entry: OutboxEntry, now: float) -> None:
        db.execute(
            "INSERT INTO outbox (report_id, version, status, destination, kind, control_id, payload, state, "
            "next_attempt_at, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(report_id, version, destination) DO NOTHING",
            (entry.report_id, entry.version, entry.status, entry.destination, entry.kind, entry.control_id,
             entry.payload, entry.state, now, entry.error, now),
        )
