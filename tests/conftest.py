"""Every test (and every radscribe it starts) logs to a file of its own, not the user's log; and a
busy machine on demand."""

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile

import pytest


def _scratch(prefix: str) -> str:
    """A folder of this test run's own, removed when the run ends."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


os.environ.setdefault("RADSCRIBE_LOG", os.path.join(_scratch("radscribe-test-log-"), "radscribe.log"))
os.environ.setdefault("RADSCRIBE_UNSENT", _scratch("radscribe-test-unsent-"))


@pytest.fixture
def busy_cpu():
    """``with busy_cpu(2):`` two busy loops at normal priority beside the test, as a PACS viewer
    or a browser would load a reading-room workstation. Bounded: each loop dies by itself after
    ten minutes even if the test process is killed, and at the end of the block at the latest."""

    @contextlib.contextmanager
    def load(loops: int = 2, seconds: int = 600):
        cmd = ["sh", "-c", "while :; do :; done"]
        if shutil.which("timeout"):
            cmd = ["timeout", str(seconds), *cmd]
        # Each loop in a process group of its own: the whole group (timeout and the shell it
        # runs) is killed at the end, so no loop outlives the block.
        procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                 for _ in range(loops)]
        try:
            yield procs
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            for proc in procs:
                proc.wait(10)

    return load


@pytest.fixture(scope="session")
def postgres_cluster():
    """One throwaway PostgreSQL cluster for the session (tests/postgres.py), stopped at the end."""
    from tests.postgres import Cluster

    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, tmp_path):
    """Where a store test keeps its store: the embedded SQLite file, then a new PostgreSQL
    database as a group deploys it (migrated by its owner role, used by a radiologist's role with
    the least-privilege grants of ``radscribe store roles``). The store's suite runs on both."""
    if request.param == "sqlite":
        yield tmp_path / "radscribe.db"
    else:
        cluster = request.getfixturevalue("postgres_cluster")
        with cluster.reader_database() as url:
            yield url
