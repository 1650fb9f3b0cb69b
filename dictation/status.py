"""A report's status, the words every layer (store, reporting, RIS, faces) shares.

A ``StrEnum``: each member is the plain string that is stored and exported ("final" is
``ReportStatus.FINAL``), so stored reports and messages do not change.
"""

from __future__ import annotations

from enum import StrEnum


class ReportStatus(StrEnum):
    DRAFT = "draft"  # being dictated; never sent
    PRELIMINARY = "preliminary"  # signed for the clinicians now; a final follows
    FINAL = "final"  # signed final: changes only through an addendum or a correction
    CORRECTED = "corrected"  # signed again after an addendum or a correction
    DISCARDED = "discarded"  # a draft the radiologist threw away (kept in the store, audited)


# Signed final: the study is read, the text changes only through an amendment.
SIGNED_FINAL = frozenset({ReportStatus.FINAL, ReportStatus.CORRECTED})
