"""The embedded store: one SQLite file per workstation (the default).

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dictation.errors import StoreBusy, StoreConflict, StoreDamaged, StoreError
from dictation.store.chain import seal
from dictation.store.schema import MIGRATIONS, REBUILDS, TRIGGERS, statements

_DAMAGE = ("malformed", "not a database", "disk i/o error", "corrupt", "file is not a database")

BUSY_TIMEOUT_SECONDS = 10.0


def translate(path: Path, e: sqlite3.Error, doing: str = "") -> StoreError:
    """A driver error as the one line a user can act on: damaged, busy, or something else."""
    text = str(e)
    where = f"{path}: " + (f"{doing}: " if doing else "")
    if isinstance(e, sqlite3.IntegrityError):
        return StoreConflict(f"{where}{text}")
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


class _Cursor(sqlite3.Cursor):
    """Rows are read lazily: damage found while fetching is a StoreError too."""

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as e:
            raise translate(self.connection.store_path, e) from None  # type: ignore[attr-defined]

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as e:
            raise translate(self.connection.store_path, e) from None  # type: ignore[attr-defined]

    def __next__(self) -> Any:
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
        except sqlite3.Error as e:
            raise translate(self.store_path, e) from None

    def executemany(self, sql: str, parameters: object, /) -> sqlite3.Cursor:
        try:
            return self.cursor(_Cursor).executemany(sql, parameters)  # type: ignore[arg-type]
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


def quick_check_file(path: Path) -> list[str]:
    """SQLite's quick_check on a store file opened read-only, without the store's own opening
    (which reads the schema and may stop at the first damaged page). Empty: sound."""
    if not Path(path).is_file():
        raise StoreError(f"{path}: no such store")
    if Path(path).stat().st_size == 0:
        return ["the file is empty (0 bytes)"]
    try:
        db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
        try:
            rows = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
        finally:
            db.close()
    except sqlite3.DatabaseError as e:
        return [str(e)]
    return [] if rows == ["ok"] else rows


class SqliteEngine:
    """One SQLite connection (WAL, synchronous=FULL), shared by the threads of one process with
    one writer at a time; migrated with ``PRAGMA user_version``."""

    kind = "sqlite"
    triggers = TRIGGERS

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self.anchor_key = str(path.resolve())
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.path.exists() and self.path.is_file() and self.path.stat().st_size == 0:
                # A store that lost its contents must not quietly become a new, empty one.
                raise StoreDamaged(f"{self.path} is empty (0 bytes): it is not the store it was; restore the last "
                                   "backup, or remove the file to start a new, empty store")
            if not self.path.exists():
                _create(self.path)
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                        timeout=BUSY_TIMEOUT_SECONDS, factory=_Connection)
            self.conn.store_path = self.path
            self.conn.row_factory = sqlite3.Row
            mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: the store needs write-ahead logging, which this file system refused ({mode})")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA secure_delete=ON")  # purged audio is overwritten, not just unlinked
            self._migrate()
        except StoreDamaged:
            raise
        except StoreError as e:
            raise type(e)(f"{e} (opening the store)") from None
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: cannot open the radscribe store ({e}); use --store to choose another file") from None
        except OSError as e:
            raise StoreError(f"{self.path}: cannot open the radscribe store ({e.strerror or e})") from None

    # -- statements ----------------------------------------------------------------------------

    def execute(self, sql: str, parameters: Any = ()) -> Any:
        return self.conn.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any) -> Any:
        return self.conn.executemany(sql, parameters)

    @contextmanager
    def transaction(self) -> Iterator[SqliteEngine]:
        """One write transaction; a database error leaves it as ``StoreError`` (the callers
        above the store never see a driver's exception), with nothing written."""
        # One connection may be used by the session thread and the UI thread: one writer at a time.
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")  # busy past the timeout: StoreBusy, nothing begun
            try:
                yield self
            except StoreConflict as e:
                self.conn.execute("ROLLBACK")
                raise StoreConflict(f"{self.path}: nothing was written ({e})") from e
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def watch(self, stop: threading.Event, on_change: Callable[[], None], *, every: float = 0.5) -> None:
        """Until ``stop`` is set: ``on_change()`` after another connection (an orders listener,
        another process) committed to the file: SQLite's ``data_version``, read on a read-only
        connection of its own every ``every`` seconds (a local file has no notifications)."""
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False,
                                   timeout=BUSY_TIMEOUT_SECONDS)
        except sqlite3.Error:
            return
        try:
            seen = conn.execute("PRAGMA data_version").fetchone()[0]
            while not stop.wait(every):
                try:
                    version = conn.execute("PRAGMA data_version").fetchone()[0]
                except sqlite3.Error:
                    continue
                if version != seen:
                    seen = version
                    on_change()
        finally:
            conn.close()

    # -- schema --------------------------------------------------------------------------------

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer radscribe (schema {version}); upgrade radscribe")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            if number in REBUILDS:
                self.conn.execute("PRAGMA foreign_keys=OFF")  # no effect inside a transaction: before it
            try:
                with self.transaction():
                    if self.schema_version() >= number:  # another process migrated it while this one waited
                        continue
                    for statement in statements(script):
                        self.conn.execute(statement)
                    if number == 5:
                        seal(self.conn)  # the rows written before the chains existed
                    if number in REBUILDS and self.conn.execute("PRAGMA foreign_key_check").fetchall():
                        raise StoreError(f"{self.path}: upgrading the store would break a reference; nothing was changed")
                    self.conn.execute(f"PRAGMA user_version={number}")
            finally:
                if number in REBUILDS:
                    self.conn.execute("PRAGMA foreign_keys=ON")

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def trigger_names(self) -> set[str]:
        return {r["name"] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}

    @staticmethod
    def joined(column: str) -> str:
        """The distinct values of ``column`` in a group, comma-separated."""
        return f"GROUP_CONCAT(DISTINCT {column})"

    # -- housekeeping --------------------------------------------------------------------------

    def after_purge(self) -> None:
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the deleted pages leave the log too

    def page_check(self) -> list[str]:
        """SQLite's full ``quick_check`` (it reads every page: seconds on a large store)."""
        rows = [r[0] for r in self.conn.execute("PRAGMA quick_check").fetchall()]
        return [] if rows == ["ok"] else rows

    def backup(self, dest: Path) -> Path:
        """A consistent copy while the store is in use (SQLite's online backup), owner-only.
        ``dest`` may be a folder (a dated file name is chosen) or a file that does not exist."""
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / f"{self.path.stem}-{time.strftime('%Y%m%d-%H%M%S')}.db"
        if dest.exists():
            raise StoreError(f"{dest} exists: a backup never overwrites a file; choose another name")
        if not dest.parent.is_dir():
            raise StoreError(f"{dest.parent}: no such folder")
        tmp = dest.with_name(f".{dest.name}.partial")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
            os.close(fd)
            target = sqlite3.connect(tmp)
            try:
                with self._lock:
                    self.conn.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                problems = [r[0] for r in target.execute("PRAGMA quick_check").fetchall()]
            finally:
                target.close()
            if problems != ["ok"]:
                raise StoreError(f"the backup failed its check ({problems[0]}): the store itself may be damaged; "
                                 "run `radscribe store check`")
            os.replace(tmp, dest)
        except sqlite3.Error as e:
            raise translate(self.path, e, "backup") from None
        except OSError as e:
            raise StoreError(f"{dest}: cannot write the backup ({e.strerror or e})") from None
        finally:
            tmp.unlink(missing_ok=True)
        return dest
