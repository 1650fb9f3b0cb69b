"""The store itself: check it for damage, back it up, verify its evidence."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dictation.cli.base import friendly, main, station, store_option


@main.group("store")
def store_group() -> None:
    """The SQLite store: check it for damage."""


@store_group.command("check")
@store_option
@friendly
def store_check(store_path: str | None) -> None:
    """SQLite's full quick_check of every page, and the audit and version chains (exit 1 on damage)."""
    from dictation.logs import read_anchors
    from dictation.store.integrity import quick_check_file

    ws = station(store_path)
    path = ws.store_file
    damage = quick_check_file(path)  # before opening it as a store: opening reads pages that may be damaged
    for p in damage[:20]:
        click.echo(f"{path}: damaged: {p}")
    if damage:
        click.echo("radscribe: restore the last backup (docs/practice-admin.md: Backups)", err=True)
        sys.exit(1)
    store = ws.open_store()
    store.quick_check()  # sound: noted, so the daily check at start can wait
    broken = store.verify_chains(read_anchors(store.path))
    for p in broken:
        click.echo(f"{store.path}: {p}")
    if broken:
        click.echo("radscribe: the evidence was altered: compare with the last backup (docs/practice-admin.md)", err=True)
        sys.exit(1)
    click.echo(f"{store.path}: OK (every page read; audit log and signed versions intact)")


@main.command()
@click.argument("dest", type=click.Path(path_type=Path))
@store_option
@friendly
def backup(dest: Path, store_path: str | None) -> None:
    """A consistent copy of the store in DEST (a folder, or a new file), safe while radscribe runs."""
    store = station(store_path).open_store()
    made = store.backup(dest)
    click.echo(f"{made}: backup of {store.path} (owner-only; restore by copying it back while radscribe is closed)")
