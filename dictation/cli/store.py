"""The store itself: check it for damage, back it up, verify its evidence."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dictation.cli.base import friendly, main, station, store_option


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
