"""What every part of the store shares: the engine (SQLite or PostgreSQL), opened and migrated,
one writer at a time, and the audit writer.

``Store(target)``: a ``postgresql://`` URL opens the group's shared PostgreSQL store
(``engine_postgres``); a path, or nothing, the embedded SQLite file (``engine_sqlite``, the
default). The parts above run the same statements on either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dictation.store.chain import next_audit
from dictation.store.engine_postgres import PostgresEngine, is_url
from dictation.store.engine_sqlite import SqliteEngine
from dictation.store.records import OutboxEntry
from dictation.store.schema import default_target, os_user

Engine = SqliteEngine | PostgresEngine


def open_engine(target: str | Path | None) -> Engine:
    """The engine a store target names: a PostgreSQL URL, else a SQLite file (the default path
    when none is given)."""
    chosen = target or default_target()
    if is_url(chosen):
        return PostgresEngine(str(chosen))
    return SqliteEngine(Path(chosen))


class StoreBase:
    """The engine, migrated on open, with the audit writer."""

    def __init__(self, target: str | Path | None = None, *, actor: str = "") -> None:
        self.engine: Engine = open_engine(target)
        self.db: Any = self.engine  # every statement of the parts: ``self.db.execute(sql, (?, ...))``
        self.path: Path | None = self.engine.path  # the SQLite file; None for PostgreSQL
        self.where = self.engine.where  # what messages call the store: the file, or the URL without secrets
        self.actor = actor or os_user()  # who the audit log names (the reader id when configured)
        try:
            self.restored_guards = self.restore_triggers()  # said by the faces (a warning) and audited
        except BaseException:
            self.engine.close()
            raise

    @property
    def kind(self) -> str:
        """"sqlite" or "postgresql"."""
        return self.engine.kind

    @property
    def anchor_key(self) -> str:
        """How the chain anchors outside the store name it (the file's full path, or the URL)."""
        return self.engine.anchor_key

    def restore_triggers(self) -> list[str]:
        """Re-create any guard that is missing; returns the names re-created (audited)."""
        missing = [name for name in self.engine.triggers if name not in self.engine.trigger_names()]
        if missing:
            with self.transaction() as db:
                if isinstance(self.engine, PostgresEngine):
                    self.engine.restore_refuse()
                for name in missing:
                    db.execute(self.engine.triggers[name])
                self._audit(db, "repair", None, "", "re-created missing guards: " + ", ".join(missing))
        return missing

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One write transaction; a database error leaves it as ``StoreError`` (the callers
        above the store never see a driver's exception), with nothing written."""
        with self.engine.transaction() as db:
            yield db

    def close(self) -> None:
        self.engine.close()

    def watch_worklist(self, stop: threading.Event, on_change: Callable[[], None]) -> None:
        """Blocks until ``stop``: ``on_change()`` after each change to the worklist made elsewhere
        (PostgreSQL: at once, by notification; SQLite: within half a second). Run it on a thread."""
        self.engine.watch(stop, on_change)

    def _audit(self, db: Any, action: str, report_id: str | None, accession: str, detail: str,
               now: float | None = None, actor: str | None = None) -> None:
        values = (now or time.time(), actor or self.actor, action, report_id, accession, detail)
        row_id, digest = next_audit(db, values)
        db.execute("INSERT INTO audit (id, at, actor, action, report_id, accession, detail, hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (row_id, *values, digest))

    def audit(self, action: str, report_id: str | None = None, accession: str = "", detail: str = "",
              actor: str | None = None) -> None:
        """One entry in the append-only audit log (the store refuses to change or delete one)."""
        with self.transaction() as db:
            self._audit(db, action, report_id, accession, detail, actor=actor)

    def _enqueue(self, db: Any, entry: OutboxEntry, now: float) -> None:
        db.execute(
            "INSERT INTO outbox (report_id, version, status, destination, kind, control_id, payload, state, "
            "next_attempt_at, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(report_id, version, destination) DO NOTHING",
            (entry.report_id, entry.version, entry.status, entry.destination, entry.kind, entry.control_id,
             entry.payload, entry.state, now, entry.error, now),
        )
