"""The group's licence roster in the store: the reader and their licences come from the login the
store was opened with (a PostgreSQL role, as a radiologist logs in), not from a workstation's
config; only the owner role may change it; every change is audited. On both engines."""

import datetime as dt

import pytest
from click.testing import CliRunner

from dictation.config import Config
from dictation.errors import StoreError
from dictation.ris.document import Signer
from dictation.store import Store
from dictation.workstation import Workstation


def _as_owner(target):
    """Who keeps the roster: the owner role on PostgreSQL (the reader's URL with the owner's name)."""
    if not str(target).startswith("postgresql://"):
        return target
    return target.replace("user=dr_reader", "user=radscribe_owner")


def _workstation(target, warnings):
    config = Config(reader=Signer(id="FROM-CONFIG", family="Config", given="Carl"))
    return Workstation(config, target, warnings.append)


def test_the_reader_and_their_licences_come_from_the_roster_by_login(store_target):
    reader = Store(store_target)
    login = reader.login()
    admin = Store(_as_owner(store_target), actor="admin")
    admin.set_roster_reader(login, "R-777", "Okafor", "Ada")
    admin.set_licence(login, "US-CA", dt.date(2031, 6, 30), "A123")
    admin.set_licence(login, "US-NV", dt.date(2020, 1, 31))
    warnings = []
    ws = _workstation(store_target, warnings)
    store = ws.open_store()
    assert (ws.signer.id, ws.signer.family, ws.signer.given) == ("R-777", "Okafor", "Ada")
    assert store.actor == "R-777" and ws.reader_name == "R-777"  # claims and the audit name the login's reader
    assert sorted((lic.jurisdiction, lic.expires) for lic in ws.practice.licences) == [
        ("US-CA", dt.date(2031, 6, 30)), ("US-NV", dt.date(2020, 1, 31))]
    assert any("roster" in w and "FROM-CONFIG" not in w for w in warnings)  # the config's other reader is said
    store.audit("start")
    actions = [(e.action, e.actor) for e in store.audit_log()]
    assert ("roster", "admin") in actions and ("start", "R-777") in actions
    assert admin.revoke_licence(login, "US-NV") and not admin.revoke_licence(login, "US-NV")
    assert [lic.jurisdiction for lic in admin.roster_reader(login).licences] == ["US-CA"]
    for s in (reader, admin, store):
        s.close()


def test_a_login_the_roster_does_not_list_signs_nothing(store_target):
    admin = Store(_as_owner(store_target), actor="admin")
    admin.set_roster_reader("someone_else", "R-1")
    warnings = []
    ws = _workstation(store_target, warnings)
    store = ws.open_store()
    assert ws.signer is None and ws.practice.licences == ()
    assert any("not on the group's roster" in w for w in warnings)
    with pytest.raises(StoreError, match="not on the roster"):
        admin.set_licence("nobody", "US-CA", dt.date(2030, 1, 1))
    store.close()
    admin.close()


def test_without_a_roster_the_config_names_the_reader(tmp_path):
    ws = _workstation(tmp_path / "s.db", [])
    ws.open_store().close()
    assert ws.signer.id == "FROM-CONFIG"


def test_a_radiologists_role_cannot_change_the_roster(postgres_cluster):
    with postgres_cluster.reader_database() as url:
        store = Store(url)
        with pytest.raises(StoreError, match="permission denied"):
            store.set_roster_reader(store.login(), "R-ME")
        assert store.roster() == []  # but may read it
        store.close()


def test_the_roster_command(tmp_path, monkeypatch):
    from dictation.cli import main

    (tmp_path / "config.toml").write_text("")
    monkeypatch.setenv("RADSCRIBE_CONFIG", str(tmp_path / "config.toml"))
    db = str(tmp_path / "s.db")
    run = CliRunner().invoke
    assert run(main, ["roster", "--store", db, "add", "dr_ada", "--id", "R-9", "--family", "Okafor"]).exit_code == 0
    done = run(main, ["roster", "--store", db, "licence", "dr_ada", "US-CA", "--expires", "2030-05-01"])
    assert done.exit_code == 0, done.output
    listed = run(main, ["roster", "--store", db])
    assert listed.exit_code == 0 and "dr_ada\tR-9\tOkafor\tUS-CA until 2030-05-01" in listed.output
    assert run(main, ["roster", "--store", db, "licence", "dr_bob", "US-CA", "--expires", "2030-05-01"]).exit_code == 2
    assert run(main, ["roster", "--store", db, "revoke", "dr_ada", "US-NV"]).exit_code == 1
    assert run(main, ["roster", "--store", db, "remove", "dr_ada"]).exit_code == 0
