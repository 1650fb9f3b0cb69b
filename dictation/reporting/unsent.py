"""Utterances the store could not take, kept on this workstation until it can.

When the store cannot be reached (a group's PostgreSQL server down, the network gone) or stays
busy past its timeout, dictation goes on: each utterance is also written to a file of its own
report on this workstation (owner-only, replaced atomically, flushed to disk), the radiologist
is told at once, and the kept utterances go to the store in one transaction as soon as it
answers again. A change made on the screen meanwhile (a key, typed text) is kept the same way,
its audit entry written once the store has the report. A signing waits until then. A
workstation that stops before the store is back finds the file when the report is opened
again; the file goes only once the store holds it all.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from dictation.data.files import atomic_write
from dictation.data.resources import user_file
from dictation.errors import StoreBusy, StoreError, StoreUnavailable
from dictation.logs import log
from dictation.reporting.records import UtteranceRecord
from dictation.reporting.report import Report
from dictation.store import Store

TRANSIENT = (StoreUnavailable, StoreBusy)  # the store will answer again: keep, do not stop
RETRY_SECONDS = 10.0  # while the store is away, one attempt per this long (each may wait for a timeout)


def unsent_folder() -> Path:
    """``$RADSCRIBE_UNSENT``, else ``unsent`` in the user data folder."""
    return user_file("RADSCRIBE_UNSENT", "data", "unsent")


class Unsent:
    """The utterances and screen changes of one open report that only this workstation holds."""

    def __init__(self, report_id: str, folder: Path | None = None) -> None:
        self.path = (folder or unsent_folder()) / f"{report_id}.json"
        self.records: list[UtteranceRecord] = []
        self.edits: list[str] = []  # the audit entries of screen changes kept ("" for a cursor moved)
        self.reason = ""  # why the store did not take them (one line)
        self._tried = 0.0
        self._lock = threading.RLock()  # the session thread keeps, the screen's timer may flush

    def __len__(self) -> int:
        return len(self.records) + len(self.edits)

    def describe(self) -> str:
        """"2 utterances", "1 change", "2 utterances and 1 change"."""
        parts = [f"{n} {what}{'s' if n != 1 else ''}" for n, what in ((len(self.records), "utterance"),
                                                                      (len(self.edits), "change")) if n]
        return " and ".join(parts)

    def keep(self, report: Report, record: UtteranceRecord, reason: str) -> None:
        """``record`` (already in ``report``) kept here; OSError when even this disk fails."""
        with self._lock:
            self.records.append(record)
            try:
                self._write(report)
            except OSError:
                self.records.pop()  # not kept: the caller says the store's error, the session stops
                raise
            self.reason = reason
            self._tried = time.monotonic()

    def keep_edit(self, report: Report, what: str, reason: str) -> None:
        """A change made on the screen (``report`` as it now is; ``what``: its audit entry, ""
        when none) kept here; OSError when even this disk fails."""
        with self._lock:
            self.edits.append(what)
            try:
                self._write(report)
            except OSError:
                self.edits.pop()
                raise
            self.reason = reason
            self._tried = time.monotonic()

    def _write(self, report: Report) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = {"report": report.to_dict(), "records": [asdict(r) for r in self.records], "edits": self.edits}
        atomic_write(self.path, json.dumps(data).encode("utf-8"))

    def due(self) -> bool:
        return bool(len(self)) and time.monotonic() - self._tried >= RETRY_SECONDS

    def flush(self, store: Store, report: Report, lease: str, actor: str | None) -> bool:
        """Give the kept utterances and changes to the store; False while it still cannot take
        them. Another process having taken the draft meanwhile raises StoreConflict (the file stays)."""
        with self._lock:
            if not len(self):
                return True
            self._tried = time.monotonic()
            stored = len(self.records), len(self.edits)
            try:
                store.commit_kept(report, self.records, lease, actor=actor)
                self.records = []
                while self.edits:  # the store holds the report as changed: each change's audit entry, once
                    if self.edits[0]:
                        store.audit("edit", report.id, str(report.exam.get("accession") or ""), self.edits[0], actor=actor)
                    self.edits.pop(0)
            except TRANSIENT as e:
                self.reason = str(e)
                if (len(self.records), len(self.edits)) != stored:  # some were stored: the file says what is left
                    with contextlib.suppress(OSError):
                        self._write(report)
                return False
            log.info("report %s: %d kept utterances and %d changes stored", report.id[:8], *stored)
            self.reason = ""
            self.path.unlink(missing_ok=True)
            return True

    def recover(self, report: Report) -> int:
        """The file a workstation left when it stopped before the store was back: its report
        state is taken over (it holds every utterance the store holds, and more) and its
        utterances wait to be stored. Returns how many; 0 when there is no file."""
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
            kept = Report.from_dict(data["report"], report.template)
            records = [UtteranceRecord(**r) for r in data["records"]]
            edits = [str(e) for e in data.get("edits", [])]
        except FileNotFoundError:
            return 0
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise StoreError(f"{self.path}: the utterances kept while the store was away cannot be read "
                             f"({type(e).__name__}); the file is left as it is") from None
        if kept.id != report.id or len(kept.utterances) < len(report.utterances):
            raise StoreError(f"{self.path} does not continue report {report.id[:12]} as stored; "
                             "the file is left as it is")
        for f in fields(Report):
            setattr(report, f.name, getattr(kept, f.name))
        self.records, self.edits = records, edits
        return len(self)


def snapshot(report: Report) -> dict[str, Any]:
    """The report as it is before a signing (its undo history too), for ``restore``."""
    return {f.name: copy.deepcopy(getattr(report, f.name)) for f in fields(Report) if f.name != "template"}


def restore(report: Report, before: dict[str, Any]) -> None:
    """Undo a signing the store did not take: the report is again what ``snapshot`` saw."""
    for name, value in before.items():
        setattr(report, name, value)
