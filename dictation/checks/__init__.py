"""The clinical pass: what the radiologist should look at before signing.

    checker = Checker()                       # loads spaCy + ConText (~2 s): do it once, off the UI thread
    flags = checker.check_report(report)      # after every utterance
    flags = checker.check_text(text, template=None, sex=None)   # plain report text

Checks: critical findings (negation, uncertainty, history, hypotheticals and other experiencers
understood; nothing from the indication), completeness, consistency (laterality, sex, sizes,
unsure words), follow-up (incomplete recommendations, Fleischner 2017 for nodules). The data is in
vocab/; see `flags.KINDS` for every kind of flag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dictation.checks.completeness import completeness_flags
from dictation.checks.consistency import Consistency
from dictation.checks.critical import critical_flags
from dictation.checks.document import CheckDocument, from_report, from_text
from dictation.checks.flags import KINDS, Flag, FlagKind, sort_flags
from dictation.checks.followup import FollowUp, fleischner
from dictation.checks.lexicon import ClinicalLexicon, load_clinical_lexicon
from dictation.checks.nlp import Mention, Pipeline, shared_pipeline

if TYPE_CHECKING:
    from dictation.reporting.report import Report
    from dictation.reporting.templates import Template


class Checker:
    def __init__(self, pipeline: Pipeline | None = None) -> None:
        self.pipeline = pipeline or shared_pipeline()
        self.lexicon = self.pipeline.lexicon
        self._consistency = Consistency(self.lexicon)
        self._followup = FollowUp(self.lexicon)

    def check(self, doc: CheckDocument) -> list[Flag]:
        mentions = self.pipeline.mentions(doc.text, skip=doc.labels)
        flags = critical_flags(doc, mentions, self.lexicon)
        flags += completeness_flags(doc)
        flags += self._consistency.flags(doc, mentions)
        flags += self._followup.flags(doc, mentions)
        return sort_flags(flags)

    def check_text(self, text: str, template: Template | None = None, sex: str | None = None) -> list[Flag]:
        return self.check(from_text(text, template, sex))

    def check_report(self, report: Report) -> list[Flag]:
        return self.check(from_report(report))

    def mentions(self, text: str) -> list[Mention]:
        return self.pipeline.mentions(text)


__all__ = [
    "KINDS",
    "FlagKind",
    "CheckDocument",
    "Checker",
    "Flag",
    "ClinicalLexicon",
    "Mention",
    "Pipeline",
    "fleischner",
    "from_report",
    "from_text",
    "load_clinical_lexicon",
]
