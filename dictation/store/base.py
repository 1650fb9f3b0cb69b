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

from dictation.errors import StoreBusy, StoreDamaged, StoreError
from dictation.store.chain import next_audit, seal
from dictation.store.records import OutboxEntry
from dictation.store.schema import MIGRATIONS, REBUILDS, TRIGGERS, default_path, os_user, statements

_DAMAGE = ("malformed", "not a database", "disk i/o error", "corrupt", "file is not a database")


def translate(path: Path, e: sqlite3.Error, doing: str = "") -> StoreError:
    """A driver error as the one line a user can act on: damaged, busy, or something else."""
    text = str(e)
    where = f"{path}: " + (f"{doing}: " if doing else "")
    if "not a database" in text.lower():
        return StoreDamaged(f"{where}not a radscribe store ({text}); use --store to choose another file, or restore "
                            "the last backup (docs/practice-admin.md says how)")
    if any(d in text.lower() for d in _DAMAGE):
        return StoreDamaged(f"{where}the store is damaged ({text}); run `radscribe store check`, then restore the "
                            "last backup (`radscribe backup` makes one; docs/practice-admin.md says how to restore)")
    if "locked" in text.lower() or "busy" in text.lower():
        return StoreBusy(f"{where}the store is busy (another radscribe held it for more than "
                         f"{BUSY_TIMEOUT_SECONDS:.0f} s); nothing was written, try again")
    return StoreError(f"{where}{text}")


BUSY_TIMEOUT_SECONDS = 10.0


class _Cursor(sqlite3.Cursor):
    """Rows are read lazily: damage found while fetching is a StoreError too."""

    def fetchone(self) -> object:
        try:
            return super().fetchone()
        except sqlite3.Error as e:
            raise translate(self.connection.store_path, e) from None  # type: ignore[attr-defined]

    def fetchall(self) -> list[object]:
        try:
            return super().fetchall()
        except sqlite3.Error as e:
            raise translate(self.connection.store_path, e) from None  # type: ignore[attr-defined]

    def __next__(self) -> object:
        try:
            return super().__next__()
        except sqlite3.Error as e:
            raise translate(self.connection.store_path, e) from None  # type: ignore[attr-defined]


class _Connection(sqlite3.Connection):
    """Every statement of the store goes through here: no driver exception leaves the store."""

    store_path: Path

    def execute(self, sql: str, parameters: object = (), /) -> sqlite3.Cursor:
        try:
            return self.cursor(_Cursor).execute(sql, parameters)  # type: ignore[arg-type]
        except sqlite3.IntegrityError:
            raise  # a constraint: the store's own methods say what it means
        except sqlite3.Error as e:
            raise translate(self.store_path, e) from None

    def executemany(self, sql: str, parameters: object, /) -> sqlite3.Cursor:
        try:
            return self.cursor(_Cursor).executemany(sql, parameters)  # type: ignore[arg-type]
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as e:
            raise translate(self.store_path, e) from None


def _create(path: Path) -> None:
    """A new store, owner-only from the first byte (it holds patient data), put in place whole:
    a crash while creating it never leaves a 0-byte file where a store should be."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    os.close(fd)
    try:
        db = sqlite3.connect(tmp)
        db.execute("PRAGMA journal_mode=WAL")  # writes the header: a valid, empty database
        db.close()
        try:
            os.link(tmp, path)  # never over a store another process created meanwhile
        except FileExistsError:
            pass
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)


class StoreBase:
    """One SQLite connection (WAL, synchronous=FULL), migrated on open, with the audit writer."""

    def __init__(self, path: str | Path | None = None, *, actor: str = "") -> None:
        self.path = Path(path) if path else default_path()
        self.actor = actor or os_user()  # who the audit log names (the reader id when configured)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.path.exists() and self.path.is_file() and self.path.stat().st_size == 0:
                # A store that lost its contents must not quietly become a new, empty one.
                raise StoreDamaged(f"{self.path} is empty (0 bytes): it is not the store it was; restore the last "
                                   "backup, or remove the file to start a new, empty store")
            if not self.path.exists():
                _create(self.path)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                      timeout=BUSY_TIMEOUT_SECONDS, factory=_Connection)
            self.db.store_path = self.path
            self.db.row_factory = sqlite3.Row
            mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: the store needs write-ahead logging, which this file system refused ({mode})")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA secure_delete=ON")  # purged audio is overwritten, not just unlinked
            self._migrate()
            self.restored_guards = self.restore_triggers()  # said by the faces (a warning) and audited
        except StoreDamaged:
            raise
        except StoreError as e:
            raise type(e)(f"{e} (opening the store)") from None
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: cannot open the radscribe store ({e}); use --store to choose another file") from None
        except OSError as e:
            raise StoreError(f"{self.path}: cannot open the radscribe store ({e.strerror or e})") from None

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer radscribe (schema {version}); upgrade radscribe")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            if number in REBUILDS:
                self.db.execute("PRAGMA foreign_keys=OFF")  # no effect inside a transaction: before it
            try:
                with self.transaction():
                    for statement in statements(script):
                        self.db.execute(statement)
                    if number == 5:
                        seal(self.db)  # the rows written before the chains existed
                    if number in REBUILDS and self.db.execute("PRAGMA foreign_key_check").fetchall():
                        raise StoreError(f"{self.path}: upgrading the store would break a reference; nothing was changed")
                    self.db.execute(f"PRAGMA user_version={number}")
            finally:
                if number in REBUILDS:
                    self.db.execute("PRAGMA foreign_keys=ON")

    def restore_triggers(self) -> list[str]:
        """Re-create any guard that is missing; returns the names re-created (audited)."""
        present = {r["name"] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        missing = [name for name in TRIGGERS if name not in present]
        if missing:
            with self.transaction() as db:
                for name in missing:
                    db.execute(TRIGGERS[name])
                self._audit(db, "repair", None, "", "re-created missing guards: " + ", ".join(missing))
        return missing


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
        values = (now or time.time(), actor or self.actor, action, report_id, accession, detail)
        row_id, digest = next_audit(db, values)
        db.execute("INSERT INTO audit (id, at, actor, action, report_id, accession, detail, hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (row_id, *values, digest))

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
