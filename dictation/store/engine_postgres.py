"""A group's shared store: PostgreSQL, chosen with a ``postgresql://`` URL.

The same statements as the SQLite store run here (``?`` placeholders become psycopg's, bound on
the client so a ``NULL`` needs no declared type). Connections come from a psycopg pool; a
statement outside a transaction runs on its own pooled connection (autocommit), a transaction
holds one connection for the thread that opened it.

Writers are serialised by one transaction-scoped advisory lock, as SQLite serialises them with
``BEGIN IMMEDIATE``: the audit log and the signed versions stay one hash chain each however many
workstations write, and every read-then-write of the store keeps the meaning it has on SQLite.
Readers never wait for it.

Credentials never travel in the URL: the password comes from ``~/.pgpass`` (``PGPASSFILE``) or
a service file (``postgresql:///?service=group``), or a client certificate; a URL holding one is
refused. ``sslmode`` and the other libpq settings go in the URL's query or the service file.
Nothing of a report, a patient or the password reaches the log or an error message.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dictation.errors import MissingDependency, StoreConflict, StoreError, StoreUnavailable
from dictation.store import schema_postgres
from dictation.store.schema import MIGRATIONS

SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_SECONDS = 10.0
PROBE_SECONDS = 3.0  # after a failure: how long one direct connection may take to say the server is back
POOL_SIZE = 4
WORKLIST_CHANNEL = "radscribe_worklist"  # NOTIFY'd by a trigger on every committed change to the worklist
SETTLE_SECONDS = 0.05  # notifications arriving this close together are one change for the watcher
WRITER_LOCK = 0x7261647363726962  # one advisory lock for every writer of a radscribe database ("radscrib")


def is_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(SCHEMES)


def holds_password(url: str) -> bool:
    """A password in the URL's user part or in its query (libpq takes ``?password=`` too)."""
    parts = urlsplit(url)
    return parts.password is not None or "password" in {k.lower() for k in parse_qs(parts.query, keep_blank_values=True)}


def redacted(url: str) -> str:
    """The URL as messages and the audit anchors name it: no password, no query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    return f"{parts.scheme}://{netloc}{parts.path}"


class Rows:
    """The rows of one statement, read whole before its connection goes back to the pool."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rest, self._next = self._rows[self._next:], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class Row(tuple):  # type: ignore[type-arg]
    """A row read by position or by column name, as ``sqlite3.Row`` is."""

    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    names = [c.name for c in cursor.description or ()]
    index = {name: i for i, name in enumerate(names)}

    def make(values: Sequence[Any]) -> Row:
        row = Row(values)
        row._index = index
        return row

    return make


def _sql(sql: str, parameters: Any) -> tuple[str, Any]:
    if not parameters:
        return sql, None
    return sql.replace("%", "%%").replace("?", "%s"), parameters


class PostgresEngine:
    """A pool of connections to one PostgreSQL database, migrated on open."""

    kind = "postgresql"
    triggers = schema_postgres.TRIGGERS
    path: Path | None = None

    def __init__(self, url: str) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool, PoolTimeout
        except ImportError:
            raise MissingDependency("a PostgreSQL store needs psycopg and psycopg-pool: "
                                    "pip install 'radscribe[group]'") from None
        self._psycopg = psycopg
        # The pool says each failed reconnection on stderr; the store says it once, as one line.
        logging.getLogger("psycopg").addHandler(logging.NullHandler())
        self._pool_timeout = PoolTimeout
        self.url = url
        self.where = redacted(url)
        self.anchor_key = self.where
        if holds_password(url):
            raise StoreError(f"{self.where}: a password does not belong in the store URL (it would be in the config, "
                             "the shell history and process lists); put it in ~/.pgpass or a service file "
                             "(docs/group-deployment.md)")
        self._local = threading.local()
        try:  # once, directly: an unreachable server is said at once, with libpq's reason
            psycopg.connect(url, connect_timeout=int(CONNECT_TIMEOUT_SECONDS)).close()
        except psycopg.Error as e:
            raise StoreUnavailable(f"{self.where}: cannot reach the PostgreSQL store ({_first_line(e)}); "
                                   "nothing was written") from None
        self._pool_class = ConnectionPool
        self._down = False  # a connection failed: the next use checks the server first, then renews the pool
        self._pool_lock = threading.Lock()
        self.pool = self._new_pool()
        try:
            self._migrate()
        except BaseException:
            self.pool.close()
            raise

    def _new_pool(self) -> Any:
        pool = self._pool_class(self.url, min_size=1, max_size=POOL_SIZE, open=False, timeout=CONNECT_TIMEOUT_SECONDS,
                                kwargs={"autocommit": True, "row_factory": _row_factory,
                                        "cursor_factory": self._psycopg.ClientCursor,
                                        "connect_timeout": int(CONNECT_TIMEOUT_SECONDS),
                                        "application_name": "radscribe"},
                                name="radscribe")
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
        except self._pool_timeout:
            pool.close()
            raise StoreUnavailable(f"{self.where}: cannot reach the PostgreSQL store (no connection within "
                                   f"{CONNECT_TIMEOUT_SECONDS:.0f} s); nothing was written") from None
        return pool

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A pooled connection. After a failure, one direct connection tells at once whether the
        server is back (a pool whose server went away retries with growing pauses, minutes
        apart); when it is, the pool starts afresh."""
        if self._down:
            try:
                self._psycopg.connect(self.url, connect_timeout=int(PROBE_SECONDS)).close()
            except self._psycopg.Error as e:
                raise StoreUnavailable(f"{self.where}: the PostgreSQL store cannot be reached ({_first_line(e)}); "
                                       "nothing was written") from None
            with self._pool_lock:
                if self._down:
                    old, self.pool = self.pool, self._new_pool()
                    self._down = False
                    old.close(timeout=1.0)
        try:
            with self.pool.connection() as conn:
                yield conn
        except self._pool_timeout as e:  # every connection broken or taken
            self._down = True
            raise StoreUnavailable(f"{self.where}: the PostgreSQL store cannot be reached ({type(e).__name__}); "
                                   "nothing was written") from None

    def watch(self, stop: threading.Event, on_change: Callable[[], None], *, reconnect_seconds: float = 5.0) -> None:
        """Until ``stop`` is set: ``on_change()`` soon after each committed change to the worklist
        (a new order, a claim, a release, a signing), by any workstation or orders listener:
        LISTEN on a connection of its own, no polling. A burst of changes is one call. When the
        connection is lost it is opened again every ``reconnect_seconds``, and ``on_change()`` is
        called once it is back (changes may have been missed meanwhile)."""
        psycopg, missed = self._psycopg, False
        while not stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=int(PROBE_SECONDS),
                                     application_name="radscribe-watch") as conn:
                    conn.execute(f"LISTEN {WORKLIST_CHANNEL}")
                    if missed:
                        on_change()
                        missed = False
                    while not stop.is_set():
                        if any(True for _ in conn.notifies(timeout=0.5, stop_after=1)):
                            for _ in conn.notifies(timeout=SETTLE_SECONDS):
                                pass  # the rest of a burst
                            on_change()
            except psycopg.Error:
                missed = True
                stop.wait(reconnect_seconds)

    # -- statements ----------------------------------------------------------------------------

    def _error(self, e: Exception) -> StoreError:
        psycopg = self._psycopg
        text = _first_line(e)
        if isinstance(e, psycopg.errors.IntegrityError):
            return StoreConflict(f"{self.where}: {text}")
        if isinstance(e, psycopg.OperationalError):
            self._down = True
            return StoreUnavailable(f"{self.where}: the PostgreSQL store cannot be reached ({text}); nothing was written")
        return StoreError(f"{self.where}: {text}")

    def _run(self, conn: Any, sql: str, parameters: Any, many: bool = False) -> Rows:
        query, args = _sql(sql, parameters)
        try:
            cur = conn.cursor()
            if many:
                cur.executemany(query, args or [])
            else:
                cur.execute(query, args)
            rows = cur.fetchall() if cur.description is not None else []
            return Rows(rows, cur.rowcount)
        except self._psycopg.Error as e:
            raise self._error(e) from None

    def execute(self, sql: str, parameters: Any = ()) -> Rows:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return self._run(conn, sql, parameters)
        with self._connection() as conn:
            return self._run(conn, sql, parameters)

    def executemany(self, sql: str, parameters: Any) -> Rows:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            raise StoreError("executemany outside a transaction")
        return self._run(conn, sql, list(parameters), many=True)

    @contextmanager
    def transaction(self) -> Iterator[PostgresEngine]:
        """One write transaction on one pooled connection, writers one at a time; any error
        leaves it as ``StoreError`` with nothing written."""
        if getattr(self._local, "conn", None) is not None:
            raise StoreError("a store transaction inside another")
        try:
            with self._connection() as conn, conn.transaction():
                self._run(conn, "SELECT pg_advisory_xact_lock(?)", (WRITER_LOCK,))
                self._local.conn = conn
                try:
                    yield self
                finally:
                    self._local.conn = None
        except StoreConflict as e:
            raise StoreConflict(f"{self.where}: nothing was written ({e})") from e
        except StoreError:
            raise
        except self._psycopg.Error as e:  # the commit itself failed
            raise self._error(e) from None

    def close(self) -> None:
        self.pool.close()

    # -- schema --------------------------------------------------------------------------------

    def _has_table(self, name: str) -> bool:
        # A scan of the catalog with this statement's snapshot, not to_regclass(): its cache may
        # still hold "no such table" from before another workstation's migration committed.
        return bool(self.execute("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                                 "AND tablename = ?) AS t", (name,)).fetchone()["t"])

    def schema_version(self) -> int:
        if not self._has_table("schema_version"):
            return 0
        row = self.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()
        return int(row["v"] or 0)

    def _migrate(self) -> None:
        newest = len(MIGRATIONS)
        if self.schema_version() == newest:
            return
        with self.transaction():  # the writer lock: two workstations starting at once migrate once
            version = self.schema_version()
            if version > newest:
                raise StoreError(f"{self.where} was written by a newer radscribe (schema {version}); upgrade radscribe")
            if version == newest:  # another workstation migrated it while this one waited for the lock
                return
            if version == 0:
                if self._has_table("worklist"):
                    raise StoreError(f"{self.where}: this database holds tables that are not a radscribe store; "
                                     "give radscribe a database of its own")
                for script in schema_postgres.baseline():
                    self.execute(script)
                version = schema_postgres.BASELINE
            for number in range(version + 1, newest + 1):
                self.execute(schema_postgres.MIGRATIONS[number])
            self.execute("INSERT INTO schema_version (version, migrated_at) VALUES (?, ?)", (newest, time.time()))

    def trigger_names(self) -> set[str]:
        return {r["name"] for r in self.execute("SELECT tgname AS name FROM pg_trigger WHERE NOT tgisinternal")}

    def restore_refuse(self) -> None:
        self.execute(schema_postgres.refuse_function())

    @staticmethod
    def joined(column: str) -> str:
        """The distinct values of ``column`` in a group, comma-separated."""
        return f"string_agg(DISTINCT {column}, ',')"

    # -- housekeeping --------------------------------------------------------------------------

    def after_purge(self) -> None:
        """Nothing to do: the server reclaims deleted rows itself (autovacuum)."""

    def page_check(self) -> list[str]:
        """Pages are the server's to check (``initdb --data-checksums``, ``pg_amcheck``; the
        group deployment guide says how): here only that the database answers."""
        self.execute("SELECT 1")
        return []

    def backup(self, dest: Path) -> Path:
        """``pg_dump`` (custom format) of the whole database, owner-only, checked by listing it
        with ``pg_restore``. ``dest`` may be a folder (a dated name is chosen) or a new file."""
        dest = Path(dest)
        if dest.is_dir():
            name = urlsplit(self.url).path.strip("/") or "radscribe"
            dest = dest / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.dump"
        if dest.exists():
            raise StoreError(f"{dest} exists: a backup never overwrites a file; choose another name")
        if not dest.parent.is_dir():
            raise StoreError(f"{dest.parent}: no such folder")
        dump, restore = _tool("pg_dump"), _tool("pg_restore")
        tmp = dest.with_name(f".{dest.name}.partial")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
            os.close(fd)
            done = subprocess.run([dump, "--format=custom", f"--file={tmp}", f"--dbname={self.url}"],
                                  capture_output=True, text=True, timeout=3600)
            if done.returncode != 0:
                raise StoreError(f"{self.where}: pg_dump failed ({_first_line(done.stderr)})")
            listed = subprocess.run([restore, "--list", str(tmp)], capture_output=True, text=True, timeout=600)
            if listed.returncode != 0 or "TABLE DATA public audit" not in listed.stdout:
                raise StoreError(f"the backup failed its check ({_first_line(listed.stderr) or 'no audit table'})")
            os.replace(tmp, dest)
        except OSError as e:
            raise StoreError(f"{dest}: cannot write the backup ({e.strerror or e})") from None
        finally:
            tmp.unlink(missing_ok=True)
        return dest


def _tool(name: str) -> str:
    """A PostgreSQL client program: on PATH, else the newest in Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True):
        if (folder / name).is_file():
            return str(folder / name)
    raise MissingDependency(f"{name} is not installed (Debian: apt-get install postgresql-client)")


def _first_line(e: object) -> str:
    return (str(e).strip().splitlines() or [""])[0]
