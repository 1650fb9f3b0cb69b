"""What an open report holds in the store: this process's lease on the draft (one dictating
process at a time) and the reader's claim on its worklist study (one reader at a time, across a
group's workstations). Taken when the report is opened, renewed while it is used, let go when
it is closed; a signing ends the claim in the store itself.
"""

from __future__ import annotations

import time

from dictation.errors import StoreError
from dictation.logs import log
from dictation.store import Store
from dictation.store.claims import CLAIM_SECONDS
from dictation.store.reports import lease_owner

LEASE_SECONDS = 300.0  # renewed on use; a process that died on this machine loses it at once


class Hold:
    def __init__(self, store: Store, report_id: str, reader: str) -> None:
        self.store = store
        self.report_id = report_id
        self.reader = reader
        self.lease = lease_owner()
        self.study: int | None = None  # the worklist study claimed for this reader
        self.at = 0.0

    def take(self, save: object) -> None:
        """Lease the draft (refused when another process holds it), store it (``save()``), and
        claim its worklist study for the reader (refused when another reader holds it)."""
        self.store.take_lease(self.report_id, self.lease, LEASE_SECONDS)  # a stored report held elsewhere
        save()  # type: ignore[operator]
        self.store.take_lease(self.report_id, self.lease, LEASE_SECONDS)  # a new report: its row exists now
        study = self.store.study_of(self.report_id)
        if study is not None and study.state not in ("done", "cancelled"):
            try:
                self.store.claim_study(study.id, self.reader, CLAIM_SECONDS)
            except StoreError:
                self.store.release_lease(self.report_id, self.lease)
                raise
            self.study = study.id
        self.at = time.time()

    def renew_if_due(self) -> None:
        if self.lease and time.time() - self.at > LEASE_SECONDS / 4:
            self.renew()

    def renew(self) -> None:
        if not self.lease:
            return
        self.store.take_lease(self.report_id, self.lease, LEASE_SECONDS)
        if self.study is not None:
            self.store.renew_claim(self.study, self.reader, CLAIM_SECONDS)
        self.at = time.time()

    def release(self) -> None:
        """The report is closed here: another process, or another reader, may open it at once."""
        if not self.lease:
            return
        try:
            self.store.release_lease(self.report_id, self.lease)
            if self.study is not None:
                self.store.release_study(self.study, self.reader)
        except StoreError as e:  # both run out by themselves
            log.warning("report %s: hold not released (%s)", self.report_id[:8], type(e).__name__)
        self.lease = ""
