"""Persistence: every SQL statement of radscribe lives in this package, and only dataclasses
(``records``) leave it. The store imports nothing from the reporting or text layers.

    schema.py        migrations (SQLite: ``PRAGMA user_version``); schema_postgres.py the same for PostgreSQL
    engine_sqlite.py the embedded file (default); engine_postgres.py a group's shared PostgreSQL
    base.py          the engine a target names, one writer at a time, the audit writer
    reports.py       reports, utterances, stored audio
    worklist.py      studies waiting to be read
    history.py       signed versions, audit log, critical-result timers, peer reviews
    outbox_queue.py  messages waiting for the RIS
    records.py       what goes in and comes out
    store.py         Store: the parts put together
"""

from dictation.store.records import (
    AuditEntry,
    CriticalResult,
    DestinationCounts,
    DraftSummary,
    OutboxEntry,
    OutboxMessage,
    Review,
    SignedFinal,
    StoredUtterance,
    StoredVersion,
    WorklistItem,
)
from dictation.store.store import Store

__all__ = ["AuditEntry", "CriticalResult", "DestinationCounts", "DraftSummary", "OutboxEntry", "OutboxMessage", "Review",
           "SignedFinal", "Store", "StoredUtterance", "StoredVersion", "WorklistItem"]
