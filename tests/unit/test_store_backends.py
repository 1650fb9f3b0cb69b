"""The two engines of the store: the same schema, the PostgreSQL store shared by several
processes writing at once, and what a wrong or unreachable database says (one line)."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from dictation.cli import main
from dictation.config import load_config
from dictation.errors import DataFileError, StoreConflict, StoreError, StoreUnavailable
from dictation.store import Store
from dictation.store.schema import MIGRATIONS

SQLITE_TO_POSTGRES = {"TEXT": "text", "REAL": "double precision", "INTEGER": "bigint", "BLOB": "bytea"}


def _sqlite_columns(store):
    tables = [r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: {(r["name"], SQLITE_TO_POSTGRES[r["type"]], bool(r["notnull"]) or bool(r["pk"] and r["type"] != "INTEGER"))
                for r in store.db.execute(f"PRAGMA table_info({t})")} for t in tables}


def _postgres_columns(store):
    out: dict[str, set] = {}
    for r in store.db.execute("SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
                              "WHERE table_schema = 'public'"):
        out.setdefault(r[0], set()).add((r[1], r[2], r[3] == "NO"))
    return out


def test_both_engines_build_the_same_tables_and_columns(tmp_path, postgres_cluster):
    sqlite = _sqlite_columns(Store(tmp_path / "s.db"))
    with postgres_cluster.database() as url:
        store = Store(url)
        postgres = _postgres_columns(store)
        assert store.engine.schema_version() == len(MIGRATIONS)
        store.close()
    postgres["report_versions"].discard(("rowid", "bigint", True))  # SQLite's implicit rowid, by name
    assert postgres.pop("schema_version") == {("version", "bigint", True), ("migrated_at", "double precision", True)}
    for columns in (sqlite, postgres):  # an integer primary key may be NULL in SQLite's table_info: it is the rowid
        for table in columns:
            columns[table] = {(n, t, null or n == "id") for n, t, null in columns[table]}
    assert sqlite == postgres


def _write_audit(url: str, who: str, n: int) -> None:
    store = Store(url, actor=who)
    for i in range(n):
        store.audit("note", detail=f"{who} {i}")
        store.upsert_worklist_item(f"{who}-{i}", facility="GEN", ordered_at=float(i))
    store.close()


def test_processes_writing_at_once_keep_one_unbroken_audit_chain(postgres_cluster):
    """Four workstations write to one PostgreSQL store at the same time: every entry is kept,
    ids follow one another, and the hash chain verifies end to end."""
    with postgres_cluster.database() as url:
        Store(url).close()  # migrated once before they start
        spawn = multiprocessing.get_context("spawn")
        workers = [spawn.Process(target=_write_audit, args=(url, f"W{k}", 25)) for k in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
        assert [w.exitcode for w in workers] == [0, 0, 0, 0]
        store = Store(url)
        entries = [e for e in store.audit_log() if e.action == "note"]
        assert len(entries) == 100 and len({e.detail for e in entries}) == 100
        ids = [e.id for e in store.audit_log()]
        assert ids == list(range(1, len(ids) + 1))
        assert store.verify_chains() == []
        assert len(store.worklist()) == 100
        store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store(request, tmp_path):
    """The target of a store nobody has opened yet, on each engine."""
    if request.param == "sqlite":
        yield str(tmp_path / "new.db")
    else:
        with request.getfixturevalue("postgres_cluster").database() as url:
            yield url


def test_stores_starting_at_once_on_a_new_database_migrate_it_once(new_store):
    code = ("import sys; from dictation.store import Store; s = Store(sys.argv[1]); "
            "print(s.engine.schema_version()); s.close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, new_store], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], results
    assert {out.strip() for out, _ in results} == {str(len(MIGRATIONS))}


def test_a_store_that_waited_for_another_ones_migration_does_not_migrate_again(postgres_cluster, monkeypatch):
    """The interleaving of two workstations starting at once, made certain: this one saw an
    empty database, then took the writer lock after the other had migrated it."""
    from dictation.store.engine_postgres import PostgresEngine

    with postgres_cluster.database() as url:
        Store(url).close()  # the other workstation, first to the lock
        real = PostgresEngine.schema_version
        looks: list[int] = []

        def empty_at_first_look(self):
            looks.append(0 if not looks else real(self))
            return looks[-1]

        monkeypatch.setattr(PostgresEngine, "schema_version", empty_at_first_look)
        engine = PostgresEngine(url)
        assert [r["version"] for r in engine.execute("SELECT version FROM schema_version")] == [len(MIGRATIONS)]
        assert looks == [0, len(MIGRATIONS)]  # the second look is the one under the writer lock
        engine.close()


def test_signed_rows_cannot_be_changed_or_truncated_on_postgres(postgres_cluster):
    with postgres_cluster.database() as url:
        store = Store(url)
        store.audit("note")
        for sql in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit", "TRUNCATE audit", "TRUNCATE report_versions"):
            with pytest.raises(StoreConflict, match="append-only|never"):
                store.db.execute(sql)
        assert len(store.audit_log()) == 1
        store.close()


def test_a_missing_guard_is_recreated_and_audited_on_postgres(postgres_cluster):
    with postgres_cluster.database() as url:
        store = Store(url)
        store.db.execute("DROP TRIGGER audit_no_delete ON audit")
        store.db.execute("DROP FUNCTION radscribe_refuse() CASCADE")  # every guard with it
        assert any("guard audit_no_update is missing" in p for p in store.verify_chains())
        store.close()
        again = Store(url)
        assert "audit_no_delete" in again.restored_guards and "audit_no_update" in again.restored_guards
        assert again.audit_log()[-1].action == "repair"
        assert again.verify_chains() == []
        with pytest.raises(StoreConflict):
            again.db.execute("DELETE FROM audit")
        again.close()


def test_a_database_of_other_tables_or_a_newer_schema_is_refused(postgres_cluster):
    with postgres_cluster.database() as url:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE worklist (id int)")
        with pytest.raises(StoreError, match="not a radscribe store"):
            Store(url)
    with postgres_cluster.database() as url:
        Store(url).close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO schema_version VALUES (999, 0)")
        with pytest.raises(StoreError, match="newer radscribe"):
            Store(url)


def test_a_password_in_the_url_is_refused_and_never_repeated(postgres_cluster, tmp_path):
    url = postgres_cluster.url().replace("postgresql:///", "postgresql://me:s3cret@/")
    with pytest.raises(StoreError, match="pgpass") as caught:
        Store(url)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(StoreError, match="pgpass") as in_query:
        Store(postgres_cluster.url() + "&password=s3cret")
    assert "s3cret" not in str(in_query.value)
    config = tmp_path / "config.toml"
    config.write_text('[store]\nurl = "postgresql://me:s3cret@db.example/radscribe"\n')
    with pytest.raises(DataFileError, match="pgpass") as bad:
        load_config(config)
    assert "s3cret" not in str(bad.value) and ":2" in str(bad.value)
    config.write_text('[store]\nurl = "postgresql://db.example/radscribe"\npath = "x.db"\n')
    with pytest.raises(DataFileError, match="both url and path"):
        load_config(config)


def test_an_unreachable_server_is_one_line_not_a_traceback(tmp_path):
    url = f"postgresql:///radscribe?host={tmp_path}&user=nobody"  # no server listens there
    with pytest.raises(StoreUnavailable, match="cannot reach the PostgreSQL store") as caught:
        Store(url)
    assert "\n" not in str(caught.value)
    done = CliRunner().invoke(main, ["worklist", "--store", url])
    assert done.exit_code == 2 and "cannot reach" in done.output and "Traceback" not in done.output


def test_a_server_that_stops_mid_session_loses_nothing_committed_and_comes_back():
    """The server goes away under an open store: the write in hand fails as one line (nothing
    half-written), and once the server is back the same store object works again."""
    from tests.postgres import Cluster

    cluster = Cluster()
    cluster.start()
    try:
        with cluster.database() as url:
            store = Store(url)
            store.add_worklist_item("A1", ordered_at=1.0)
            cluster.stop_server()
            with pytest.raises(StoreUnavailable):
                store.add_worklist_item("A2", ordered_at=2.0)
            cluster.start_again()
            store.add_worklist_item("A2", ordered_at=2.0)
            assert [i.accession for i in store.worklist()] == ["A1", "A2"]
            assert store.verify_chains() == []
            store.close()
    finally:
        cluster.stop()


def test_store_migrate_check_and_backup_from_the_command_line(postgres_cluster, tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text("")
    monkeypatch.setenv("RADSCRIBE_CONFIG", str(tmp_path / "config.toml"))
    with postgres_cluster.database() as url:
        migrated = CliRunner().invoke(main, ["store", "migrate", "--store", url])
        assert migrated.exit_code == 0 and f"schema {len(MIGRATIONS)} of {len(MIGRATIONS)}" in migrated.output
        store = Store(url, actor="R1")
        store.add_worklist_item("A1", ordered_at=1.0, patient_name="Doe^Jane")
        store.audit("note", detail="before the backup")
        store.close()
        checked = CliRunner().invoke(main, ["store", "check", "--store", url])
        assert checked.exit_code == 0 and "OK" in checked.output, checked.output
        made = CliRunner().invoke(main, ["backup", str(tmp_path), "--store", url])
        assert made.exit_code == 0, made.output
        dump = next(tmp_path.glob("*.dump"))
        assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    with postgres_cluster.database() as restored:
        from dictation.store.engine_postgres import _tool

        done = subprocess.run([_tool("pg_restore"), "--no-owner", f"--dbname={restored}", str(dump)],
                              capture_output=True, text=True, env={**os.environ})
        assert done.returncode == 0, done.stderr
        copy = Store(restored)
        assert [i.patient_name for i in copy.worklist()] == ["Doe^Jane"]
        assert copy.verify_chains() == [] and copy.audit_log()[-1].detail == "before the backup"
        copy.close()


def test_a_radiologists_role_can_neither_change_evidence_nor_drop_its_guards(postgres_cluster):
    with postgres_cluster.reader_database() as url:
        store = Store(url, actor="R1")
        store.audit("note")
        for sql in ("DROP TRIGGER audit_no_delete ON audit", "DROP FUNCTION radscribe_refuse() CASCADE",
                    "TRUNCATE audit", "ALTER TABLE audit DISABLE TRIGGER ALL",
                    "INSERT INTO schema_version VALUES (99, 0)", "DELETE FROM worklist"):
            with pytest.raises(StoreError, match="must be owner|permission denied"):
                store.db.execute(sql)
        assert store.verify_chains() == [] and len(store.audit_log()) == 1
        store.close()
