"""Evidence the store can show: chained audit rows and signed versions, guards re-created,
anchors outside the store, damage found and said, backups, one dictating process per draft."""

import logging
import socket
import sqlite3
import stat

import pytest

from dictation.errors import StoreBusy, StoreDamaged, StoreError
from dictation.logs import read_anchors, setup_logging, write_anchor
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.store import Store
from dictation.store.integrity import quick_check_file
from dictation.store.schema import MIGRATIONS, statements
from dictation.testing import READER


@pytest.fixture(scope="module")
def library():
    return TemplateLibrary()


def signed_store(tmp_path, library, n=2):
    """A store with ``n`` reports each signed final (audit rows and versions to chain)."""
    store = Store(tmp_path / "s.db")
    for i in range(n):
        report = Report.new(library.get("xr-chest"), exam={"accession": f"A{i}"})
        report.go_to("indication")
        report.dictate("Cough.")
        report.accept_all_defaults()
        report.go_to("impression")
        report.dictate("No acute abnormality.")
        controller = ReportController(report, store=store, signer=READER, checks=False)
        assert controller.command("sign_preliminary").outcome.ok
    return store


def tamper(path, *sql):
    """What someone with the file and the sqlite3 tool can do."""
    db = sqlite3.connect(path, isolation_level=None)
    for statement in sql:
        db.execute(statement)
    db.close()


def test_an_untouched_store_verifies(tmp_path, library):
    store = signed_store(tmp_path, library)
    assert store.verify_chains() == []
    heads = store.chain_heads()
    assert heads.versions == 2 and heads.audit_id == len(store.audit_log())


@pytest.mark.parametrize("sql, names", [
    (["DROP TRIGGER audit_no_update", "UPDATE audit SET actor = 'mallory' WHERE id = 2"], "audit row 2"),
    (["DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE id = 3"], "audit row 3: missing"),
    (["INSERT INTO audit (id, at, actor, action, report_id, accession, detail) "
      "SELECT MAX(id) + 1, 1.0, 'mallory', 'sign', NULL, '', 'backdated' FROM audit"], "(sign)"),
    (["DROP TRIGGER report_versions_no_update", "UPDATE report_versions SET text = 'Normal.' WHERE version = 1"],
     "signed version 1"),
], ids=["changed", "deleted", "backdated", "version-changed"])
def test_a_changed_deleted_or_inserted_row_breaks_the_chain_at_that_row(tmp_path, library, sql, names):
    store = signed_store(tmp_path, library)
    store.close()
    tamper(tmp_path / "s.db", *sql)
    again = Store(tmp_path / "s.db")
    problems = again.verify_chains()
    assert problems and names in problems[0], problems
    # The guards dropped to do it are back, and that is in the log too.
    assert again.restored_guards == [n for n in ("report_versions_no_update", "audit_no_update", "audit_no_delete")
                                     if f"DROP TRIGGER {n}" in sql]
    if again.restored_guards:
        assert again.audit_log()[-1].action == "repair"
        with pytest.raises(StoreError, match="append-only|never changed"), again.transaction() as db:
            db.execute("UPDATE audit SET actor = 'x' WHERE id = 1")


def test_a_chain_recomputed_by_hand_is_caught_by_the_anchor_outside_the_store(tmp_path, library):
    from dictation.store.chain import seal

    store = signed_store(tmp_path, library)
    heads = store.chain_heads()
    write_anchor(store.anchor_key, heads.audit_id, heads.audit_hash, heads.versions, heads.versions_hash)
    anchors = read_anchors(store.anchor_key)
    assert (heads.audit_id, heads.audit_hash) in anchors and store.verify_chains(anchors) == []
    store.close()
    # Someone rewrites a row and recomputes every hash after it: the chain itself is consistent again.
    db = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("UPDATE audit SET actor = 'mallory' WHERE id = 1")
    db.execute("BEGIN")
    seal(db)
    db.execute("COMMIT")
    db.close()
    again = Store(tmp_path / "s.db")
    assert again.verify_chains() == []  # inside the store, nothing shows
    problems = again.verify_chains(read_anchors(again.anchor_key))
    assert problems and "differs from the head the log recorded" in problems[0]


def test_signing_writes_an_anchor_and_audit_verify_says_intact(tmp_path, library, monkeypatch):
    from click.testing import CliRunner

    from dictation.cli import main

    monkeypatch.setenv("RADSCRIBE_LOG", str(tmp_path / "log" / "radscribe.log"))
    store = signed_store(tmp_path, library, n=1)
    assert read_anchors(store.anchor_key)[-1][0] == store.chain_heads().audit_id
    (tmp_path / "c.toml").write_text("")
    monkeypatch.setenv("RADSCRIBE_CONFIG", str(tmp_path / "c.toml"))
    done = CliRunner().invoke(main, ["audit", "--verify", "--store", str(store.path)])
    assert done.exit_code == 0 and "intact" in done.output and "1 outside anchors match" in done.output
    store.close()
    tamper(store.path, "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE id = (SELECT MAX(id) FROM audit)")
    done = CliRunner().invoke(main, ["audit", "--verify", "--store", str(store.path)])
    assert done.exit_code == 1 and "the log recorded" in done.output


def test_a_store_from_before_the_chains_is_sealed_when_it_is_upgraded(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:4], start=1):
        for statement in statements(script):
            db.execute(statement)
        db.execute(f"PRAGMA user_version={number}")
    db.execute("INSERT INTO audit (at, actor, action, detail) VALUES (1.0, 'R1', 'start', '')")
    db.execute("INSERT INTO worklist (id, accession, facility, ordered_at, state) VALUES (7, 'A1', 'GEN', 1.0, 'done')")
    db.execute("INSERT INTO reports VALUES ('r1', 'xr-chest', 7, 'final', '{}', 1.0, 2.0)")
    db.execute("INSERT INTO report_versions (report_id, version, status, kind, signed_at, text, sections, state) "
               "VALUES ('r1', 1, 'final', 'final', 2.0, 'Normal.', '{}', '{}')")
    db.close()
    store = Store(path)
    assert store.verify_chains() == [] and store.chain_heads().versions == 1
    assert store.restored_guards == []
    # The worklist rebuilt (accessions unique per facility) with its rows and the reports' references.
    assert store.worklist_item("A1", "GEN").id == 7
    assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_damage_is_one_line_naming_the_file_and_never_a_new_empty_store(tmp_path):
    store = Store(tmp_path / "s.db")
    for i in range(300):
        store.add_worklist_item(f"ACC{i}", patient_name="Doe^Jane" * 5, exam="XR chest" * 10, ordered_at=1.0 + i)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    path = tmp_path / "s.db"
    size = path.stat().st_size
    with open(path, "r+b") as f:
        for offset in range(4096 * 3, size, 4096 * 2):
            f.seek(offset)
            f.write(b"\xff" * 64)
    assert quick_check_file(path)  # found by reading every page
    with pytest.raises(StoreDamaged, match=f"{path}.*damaged.*backup"):
        Store(path).worklist()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(StoreDamaged, match="empty.*0 bytes"):
        Store(empty)
    assert empty.stat().st_size == 0  # left as it was: the user decides


def test_the_daily_check_runs_once_a_day(tmp_path):
    store = Store(tmp_path / "s.db")
    assert store.check_due()
    assert store.quick_check() == []
    assert not store.check_due() and store.check_due(every=0)


def test_a_busy_store_is_said_as_busy_not_a_traceback(tmp_path, monkeypatch):
    import dictation.store.engine_sqlite as base

    store = Store(tmp_path / "s.db")
    holder = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(base, "BUSY_TIMEOUT_SECONDS", 0.2)
    store.db.execute("PRAGMA busy_timeout = 200")
    try:
        with pytest.raises(StoreBusy, match="busy"):
            store.add_worklist_item("A1", ordered_at=1.0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.add_worklist_item("A1", ordered_at=1.0)  # and it works once the other lets go


def test_backup_is_consistent_owner_only_restorable_and_never_overwrites(tmp_path, library):
    store = signed_store(tmp_path, library)
    made = store.backup(tmp_path)
    assert made.parent == tmp_path and stat.S_IMODE(made.stat().st_mode) == 0o600
    copy = Store(made)
    assert [d.id for d in copy.drafts(include_signed=True)] == [d.id for d in store.drafts(include_signed=True)]
    assert copy.verify_chains() == []
    with pytest.raises(StoreError, match="never overwrites"):
        store.backup(made)
    assert store.audit_log()[-1].action == "backup"


def test_one_process_dictates_into_a_draft_at_a_time(tmp_path, library):
    store = Store(tmp_path / "s.db")
    report = Report.new(library.get("xr-chest"))
    controller = ReportController(report, store=store, signer=READER, checks=False)
    other = Store(tmp_path / "s.db")
    with pytest.raises(StoreError, match="being dictated by another radscribe"):
        other.take_lease(report.id, "workstation-2:4242")
    controller.close()
    other.take_lease(report.id, "workstation-2:4242")  # closed there: free here
    with pytest.raises(StoreError, match="being dictated"):
        ReportController(report, store=store, signer=READER, checks=False)
    # A holder on this machine that died (a crash) does not have to be waited out.
    other.release_lease(report.id, "workstation-2:4242")
    other.take_lease(report.id, f"{socket.gethostname()}:999999999")
    ReportController(report, store=store, signer=READER, checks=False)


def test_a_draft_can_be_discarded_and_a_signed_report_cannot(tmp_path, library):
    store = Store(tmp_path / "s.db")
    wid = store.add_worklist_item("A1", template_id="xr-chest", ordered_at=1.0)
    report = Report.new(library.get("xr-chest"))
    store.save_report(report, worklist_id=wid)
    store.discard_draft(report.id)
    assert store.drafts() == [] and store.draft_for(wid) is None
    assert [r.state for r in store.worklist()] == ["waiting"]
    assert store.audit_log()[-1].action == "discard"
    (tmp_path / "x").mkdir()
    signed = signed_store(tmp_path / "x", library, n=1)  # signed preliminary: sent, never discarded
    (first,) = signed.drafts()
    with pytest.raises(StoreError, match="only an unsigned draft"):
        signed.discard_draft(first.id)


def test_every_log_file_is_owner_only_after_rotation(tmp_path):
    path = setup_logging(tmp_path / "logs" / "radscribe.log")
    assert path is not None
    log = logging.getLogger("radscribe")
    for i in range(30_000):
        log.info("line %d %s", i, "x" * 40)
    files = sorted((tmp_path / "logs").glob("radscribe.log*"))
    assert len(files) >= 2
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
    assert stat.S_IMODE((tmp_path / "logs").stat().st_mode) == 0o700


def test_history_is_shown_as_stored_when_its_template_is_broken_today(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from dictation.cli import main

    site = tmp_path / "site"
    site.mkdir()
    body = (TemplateLibrary().path("xr-chest")).read_text()
    (site / "xr-chest.j2").write_text(body)
    (tmp_path / "c.toml").write_text(f'[templates]\nfolders = ["{site}"]\n')
    monkeypatch.setenv("RADSCRIBE_CONFIG", str(tmp_path / "c.toml"))
    library = TemplateLibrary([site])
    store = signed_store(tmp_path, library, n=1)
    (draft,) = store.drafts()
    (site / "xr-chest.j2").write_text(body.replace("title:", "title: [broken", 1))  # a site edit gone wrong
    runner = CliRunner()
    for args in (["versions", draft.id[:8]], ["audit", draft.id[:8]], ["drafts", "show", draft.id[:8]]):
        done = runner.invoke(main, [*args[:1], *args[1:], "--store", str(store.path)] if args[0] != "drafts"
                             else ["drafts", "--store", str(store.path), *args[1:]])
        assert done.exit_code == 0, (args, done.output)
        assert "Traceback" not in done.output
    shown = runner.invoke(main, ["drafts", "--store", str(store.path), "show", draft.id[:8]])
    assert "No acute abnormality." in shown.output and "as stored" in shown.output
