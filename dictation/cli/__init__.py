"""The ``radscribe`` command line: argument parsing and output only, one module per command group.

Every rule lives in the engine; the commands ask the workstation (``dictation.workstation``)
for what they need, as the terminal UI does.

    base.py      the group, one-line errors, --store, the workstation
    speech.py    transcribe, listen, devices, vocab check
    reports.py   templates, dictate, check
    ris.py       outbox, worklist, listen-orders, export
    records.py   drafts, versions, audit, critical, stats, review
    store.py     store check, backup, roster
"""

from dictation.cli import records, reports, ris, speech, store  # noqa: F401 - each module adds its commands to main
from dictation.cli.base import fail, main, run

__all__ = ["fail", "main", "run"]
