"""The store itself: check it for damage, back it up, verify its evidence; the group's licence roster."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dictation.cli.base import friendly, main, station, store_option

if TYPE_CHECKING:
    from dictation.store import Store


@main.group("store")
def store_group() -> None:
    """The store (a SQLite file, or a group's PostgreSQL): check it, bring its schema up to date."""


@store_group.command("check")
@store_option
@friendly
def store_check(store_path: str | None) -> None:
    """Every page (SQLite's quick_check) and the audit and version chains (exit 1 on damage)."""
    from dictation.logs import read_anchors
    from dictation.store.engine_postgres import is_url
    from dictation.store.integrity import quick_check_file

    ws = station(store_path)
    target = ws.store_target
    if not is_url(target):
        damage = quick_check_file(Path(target))  # before opening it as a store: opening reads pages that may be damaged
        for p in damage[:20]:
            click.echo(f"{target}: damaged: {p}")
        if damage:
            click.echo("radscribe: restore the last backup (docs/practice-admin.md: Backups)", err=True)
            sys.exit(1)
    store = ws.open_store()
    store.quick_check()  # sound: noted, so the daily check at start can wait
    broken = store.verify_chains(read_anchors(store.anchor_key))
    for p in broken:
        click.echo(f"{store.where}: {p}")
    if broken:
        click.echo("radscribe: the evidence was altered: compare with the last backup (docs/practice-admin.md)", err=True)
        sys.exit(1)
    pages = "every page read" if store.kind == "sqlite" else "pages are the server's to check"
    click.echo(f"{store.where}: OK ({pages}; audit log and signed versions intact)")


@store_group.command("migrate")
@store_option
@friendly
def store_migrate(store_path: str | None) -> None:
    """Bring the store's schema up to this radscribe (opening it does the same); prints the version."""
    from dictation.store.schema import MIGRATIONS

    store = station(store_path).open_store(actor="migrate")
    click.echo(f"{store.where}: schema {store.engine.schema_version()} of {len(MIGRATIONS)} ({store.kind}): up to date")


@store_group.command("roles")
@click.option("--database", default="radscribe", show_default=True, help="The group's database name.")
def store_roles(database: str) -> None:
    """Print the SQL that sets up least-privilege roles for a group's PostgreSQL store (for the DBA)."""
    from dictation.store.schema_postgres import roles

    click.echo(roles(database), nl=False)


@main.command()
@click.argument("dest", type=click.Path(path_type=Path))
@store_option
@friendly
def backup(dest: Path, store_path: str | None) -> None:
    """A consistent copy of the store in DEST (a folder, or a new file), safe while radscribe runs."""
    store = station(store_path).open_store()
    made = store.backup(dest)
    how = ("restore by copying it back while radscribe is closed" if store.kind == "sqlite"
           else "restore with pg_restore into an empty database: docs/group-deployment.md")
    click.echo(f"{made}: backup of {store.where} (owner-only; {how})")


@main.group(invoke_without_command=True)
@store_option
@click.pass_context
@friendly
def roster(ctx: click.Context, store_path: str | None) -> None:
    """The group's licence roster: each login's reader and licences (kept by an administrator).

    On a store with a roster, a workstation's reader and licences come from it, by the login the
    store was opened with, not from [reader] in the config."""
    import datetime as dt

    ctx.ensure_object(dict)
    ctx.obj["store"] = store_path
    if ctx.invoked_subcommand is not None:
        return
    store = station(store_path).open_store(actor="roster")
    readers = store.roster()
    if not readers:
        click.echo(f"no roster in {store.where}: each workstation's [reader] in its config is used", err=True)
    today = dt.date.today()
    for r in readers:
        name = " ".join(p for p in (r.given, r.family) if p)
        held = ", ".join(f"{lic.jurisdiction} until {lic.expires.isoformat()}" + (" (EXPIRED)" if lic.expires < today else "")
                         for lic in r.licences) or "no licence"
        click.echo(f"{r.login}\t{r.reader_id}\t{name}\t{held}")


def _roster_store(ctx: click.Context) -> Store:
    ws = station(ctx.obj["store"])
    store = ws.open_store()
    store.actor = f"{store.login()} (administrator)"
    return store


@roster.command("add")
@click.argument("login")
@click.option("--id", "reader_id", required=True, help="The reader's id (what signed reports carry, HL7 OBR-32).")
@click.option("--family", default="", help="Family name.")
@click.option("--given", default="", help="Given name.")
@click.pass_context
@friendly
def roster_add(ctx: click.Context, login: str, reader_id: str, family: str, given: str) -> None:
    """Put LOGIN (a database role) on the roster as a reader, or change their id or name (audited)."""
    store = _roster_store(ctx)
    store.set_roster_reader(login, reader_id, family, given)
    click.echo(f"{login}: reader {reader_id} on the roster of {store.where}")


@roster.command("licence")
@click.argument("login")
@click.argument("jurisdiction")
@click.option("--expires", required=True, type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD")
@click.option("--number", default="", help="The licence number.")
@click.pass_context
@friendly
def roster_licence(ctx: click.Context, login: str, jurisdiction: str, expires: Any, number: str) -> None:
    """Record or renew LOGIN's licence in JURISDICTION (audited)."""
    store = _roster_store(ctx)
    store.set_licence(login, jurisdiction, expires.date(), number)
    click.echo(f"{login}: licensed in {jurisdiction} until {expires.date().isoformat()}")


@roster.command("revoke")
@click.argument("login")
@click.argument("jurisdiction")
@click.pass_context
@friendly
def roster_revoke(ctx: click.Context, login: str, jurisdiction: str) -> None:
    """Take LOGIN's licence in JURISDICTION off the roster (audited); exit 1 when there was none."""
    if not _roster_store(ctx).revoke_licence(login, jurisdiction):
        click.echo(f"radscribe: {login} holds no licence in {jurisdiction} on the roster", err=True)
        sys.exit(1)
    click.echo(f"{login}: licence in {jurisdiction} revoked")


@roster.command("remove")
@click.argument("login")
@click.pass_context
@friendly
def roster_remove(ctx: click.Context, login: str) -> None:
    """Take LOGIN off the roster with their licences (audited); exit 1 when not on it."""
    if not _roster_store(ctx).remove_roster_reader(login):
        click.echo(f"radscribe: {login} is not on the roster", err=True)
        sys.exit(1)
    click.echo(f"{login}: off the roster")
