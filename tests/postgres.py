"""A throwaway PostgreSQL cluster for the store tests: Debian's server programs (initdb, pg_ctl
in /usr/lib/postgresql/<version>/bin), started by the tests in a temporary folder, reachable only
through a Unix socket in that folder, stopped and removed at the end.

PostgreSQL refuses to run as root, and CI runs as root: then the cluster runs as ``nobody``
(its folder handed to it); as any other user it runs as that user. Nothing listens on TCP.
Durability settings are off (fsync, synchronous_commit): the cluster is thrown away; the store's
crash tests are the SQLite file's.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

ADMIN = "radscribe_admin"


def server_bin() -> Path | None:
    """The newest installed server's bin folder (initdb, pg_ctl), or None."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").is_file() and p.parent.name.isdigit()]
    return max(found, key=lambda p: int(p.parent.name)) if found else None


class Cluster:
    def __init__(self) -> None:
        bindir = server_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL's server is not installed (`make test` installs Debian's postgresql)")
        self.bin = bindir
        self.root = Path(tempfile.mkdtemp(prefix="radscribe-pg-"))
        self.data = self.root / "data"
        self.socket = self.root
        self._as: list[str] = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._as = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
        self.root.chmod(0o711)
        self._names = itertools.count(1)

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120, cwd=self.root,
                              env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", ADMIN, "--auth=trust", "--no-sync",
                  "--encoding=UTF8", "--data-checksums")
        self.start_again()

    def start_again(self) -> None:
        """The server started on the cluster made before (after ``stop_server``)."""
        options = (f"-c listen_addresses='' -c unix_socket_directories='{self.socket}' -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options,
                  "-w", "-t", "60", "start")

    def stop_server(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", user: str = ADMIN) -> str:
        return f"postgresql:///{database}?host={self.socket}&user={user}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # the tests' own DDL

    def roles(self) -> None:
        """The owner and reader roles of ``radscribe store roles``, once per cluster."""
        if not getattr(self, "_roles", False):
            self.admin("CREATE ROLE radscribe_owner LOGIN")
            self.admin("CREATE ROLE radscribe_reader NOLOGIN")
            self.admin("CREATE ROLE dr_reader LOGIN IN ROLE radscribe_reader")
            self._roles = True

    @contextlib.contextmanager
    def reader_database(self) -> Iterator[str]:
        """A database set up as the group deployment guide says (owned by radscribe_owner, migrated
        by it, the grants of ``radscribe store roles``); the URL of a radiologist's login role."""
        import psycopg

        from dictation.store import Store
        from dictation.store.schema_postgres import roles

        self.roles()
        name = f"t{os.getpid()}_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name} OWNER radscribe_owner")
        try:
            Store(self.url(name, "radscribe_owner")).close()
            grants = roles(name).split("-- as radscribe_owner", 1)[1].split("\n", 1)[1]
            with psycopg.connect(self.url(name, "radscribe_owner"), autocommit=True) as conn:
                conn.execute(grants)  # type: ignore[arg-type]  # the product's own SQL
            yield self.url(name, "dr_reader")
        finally:
            self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new, empty database for one test; its URL. Dropped afterwards."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name}")
        try:
            yield self.url(name)
        finally:
            self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
