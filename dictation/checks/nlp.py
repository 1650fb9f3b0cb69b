"""The NLP pass: spaCy (blank English, no downloaded model) + medspaCy's ConText.

Pipeline: tokenizer → sentence boundaries (punctuation, line breaks, field labels) → finding
matcher (critical findings and observations from vocab/, longest match wins, exclusions drop a
match) → ConText with the radiology rules from vocab/context_rules.toml.

Loading takes a couple of seconds (importing spaCy); build one `Pipeline` and reuse it, off the
UI thread.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dictation.checks.lexicon import ClinicalLexicon, default_clinical_lexicon, expand
from dictation.data.resources import data_dir, site_vocab

# ConText category → the Span attributes it sets (is_probable is radscribe's own).
_ATTRIBUTES = {
    "NEGATED_EXISTENCE": {"is_negated": True},
    "POSSIBLE_EXISTENCE": {"is_uncertain": True},
    "PROBABLE_EXISTENCE": {"is_uncertain": True, "is_probable": True},
    "HISTORICAL": {"is_historical": True},
    "HYPOTHETICAL": {"is_hypothetical": True},
    "FAMILY": {"is_family": True},
}
STATUSES = ("affirmed", "uncertain", "negated", "historical", "hypothetical", "family")


@dataclass(frozen=True)
class Mention:
    """A finding or observation mentioned in the text, with its context."""

    kind: str  # "critical" or "observation"
    name: str
    text: str
    start: int  # character offsets
    end: int
    sentence: str
    sentence_start: int
    sentence_end: int
    context: dict[str, bool]

    @property
    def status(self) -> str:
        c = self.context
        if c.get("family"):
            return "family"
        if c.get("negated"):
            return "negated"
        if c.get("hypothetical"):
            return "hypothetical"
        if c.get("historical"):
            return "historical"
        if c.get("uncertain"):
            return "uncertain"
        return "affirmed"

    @property
    def likely(self) -> bool:
        """Present or more likely than not ("probable", "likely"): how report-level labels count."""
        return self.status == "affirmed" or (self.status == "uncertain" and self.context.get("probable", False))

    @property
    def present(self) -> bool:
        """Said to be there now (definitely or possibly)."""
        return self.status in ("affirmed", "uncertain")


_LINE_COMPONENT = "radscribe_line_breaks"


def _register_components() -> None:
    from spacy.language import Language

    if Language.has_factory(_LINE_COMPONENT):
        return

    @Language.component(_LINE_COMPONENT)
    def line_breaks(doc: Any) -> Any:
        """A line break always ends a sentence; so does a section heading ("FINDINGS:")."""
        for i, token in enumerate(doc):
            if i == 0:
                continue
            prev = doc[i - 1]
            if "\n" in prev.text or "\n" in prev.whitespace_ or prev.text == ":" and i >= 2 and _heading_before(doc, i - 1):
                token.is_sent_start = True
        return doc


def _heading_before(doc: Any, colon: int) -> bool:
    """A section heading in capitals ("FINDINGS", "CLINICAL HISTORY") starts the line and ends at
    ``colon``. A field label ("Pneumothorax: none") is part of its sentence."""
    for j in range(colon - 1, max(-1, colon - 6), -1):
        word = doc[j].text
        if "\n" in word:
            return j < colon - 1
        if not (word.isupper() or not word.isalpha()):
            return False
        if j == 0 or "\n" in doc[j - 1].whitespace_:
            return True
    return False


class Pipeline:
    """spaCy + medspaCy ConText, built from a lexicon. Thread-safe for calls (one lock)."""

    def __init__(self, lexicon: ClinicalLexicon | None = None) -> None:
        import spacy
        from medspacy.context import ConTextRule
        from spacy.matcher import Matcher, PhraseMatcher

        _register_components()
        self.lexicon = lexicon or default_clinical_lexicon()
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        nlp.add_pipe(_LINE_COMPONENT)
        # A "new clause" rule gets its own category (same attribute) that ends the reach of the
        # rules of every other category: ConText's terminated_by.
        from spacy.tokens import Span

        if not Span.has_extension("is_probable"):
            Span.set_extension("is_probable", default=False)
        attrs = {c: dict(a) for c, a in _ATTRIBUTES.items()}
        clause = {f"{s.category}_CLAUSE" for s in self.lexicon.context if s.new_clause}
        attrs.update({c: attrs[c.removesuffix("_CLAUSE")] for c in clause})
        context: Any = nlp.add_pipe(  # medspaCy's ConTextComponent
            "medspacy_context",
            config={"rules": None, "span_attrs": attrs, "prune_on_target_overlap": False,
                    "prune_on_modifier_overlap": True},
        )
        rules = []
        for spec in self.lexicon.context:
            category = f"{spec.category}_CLAUSE" if spec.new_clause else spec.category
            ends = {c for c in clause if c != category and c.removesuffix("_CLAUSE") != spec.category} or None
            for phrase in spec.phrases:
                for literal in expand(phrase):
                    rules.append(ConTextRule(literal, category, direction=spec.direction, max_scope=spec.max_scope,
                                             terminated_by=ends))
        context.add(rules)
        self.nlp = nlp
        self._phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._tokens = Matcher(nlp.vocab)
        self._labels: dict[str, tuple[str, str]] = {}
        for f in self.lexicon.findings:
            label = self._label("critical", f.name)
            self._phrases.add(label, [nlp.make_doc(t) for t in f.terms])
            if f.abbreviations:
                self._tokens.add(label, [[{"TEXT": a}] for a in f.abbreviations])
            if f.patterns:
                self._tokens.add(label, f.patterns)
        for o in self.lexicon.observations:
            label = self._label("observation", o.name)
            self._phrases.add(label, [nlp.make_doc(t) for t in o.terms])
            if o.abbreviations:
                self._tokens.add(label, [[{"TEXT": a}] for a in o.abbreviations])
            if o.exclude:
                self._phrases.add("EXCLUDE", [nlp.make_doc(t) for t in o.exclude])
        self._lock = threading.Lock()

    def _label(self, kind: str, name: str) -> str:
        label = f"{kind}:{name}"
        self._labels[label] = (kind, name)
        return label

    def doc(self, text: str, targets: list[tuple[int, int]] | None = None) -> Any:
        """Run the pipeline. ``targets`` (character spans) replaces the finding matcher: the
        benchmark on NegEx's pairs marks the concept it was given."""
        from spacy.util import filter_spans

        with self._lock:
            doc = self.nlp.make_doc(text)
            for name, proc in self.nlp.pipeline:
                if name == "medspacy_context":
                    break
                doc = proc(doc)
            if targets is None:
                spans = []
                for match_id, s, e in [*self._phrases(doc), *self._tokens(doc)]:
                    spans.append(doc[s:e].__class__(doc, s, e, label=match_id))
                kept = [s for s in filter_spans(spans) if s.label_ != "EXCLUDE"]
            else:
                kept = []
                for s, e in targets:
                    span = doc.char_span(s, e, label="target", alignment_mode="expand")
                    if span is not None:
                        kept.append(span)
                kept = filter_spans(kept)
            doc.ents = kept
            with warnings.catch_warnings():
                # W036: ConText's token matcher is empty when every rule is a phrase; harmless.
                warnings.filterwarnings("ignore", message=r"\[W036\]")
                return self.nlp.get_pipe("medspacy_context")(doc)

    def mentions(self, text: str, skip: list[tuple[int, int]] | None = None) -> list[Mention]:
        """Every finding and observation mentioned in ``text`` (spans in ``skip`` are labels, not
        statements, and are ignored)."""
        doc = self.doc(text)
        out = []
        for ent in doc.ents:
            if skip and any(a <= ent.start_char < b for a, b in skip):
                continue
            kind, name = self._labels[ent.label_]
            sent = ent.sent
            out.append(
                Mention(
                    kind=kind,
                    name=name,
                    text=ent.text,
                    start=ent.start_char,
                    end=ent.end_char,
                    sentence=sent.text.strip(),
                    sentence_start=sent.start_char,
                    sentence_end=sent.end_char,
                    context=context_of(ent),
                )
            )
        return out


def context_of(ent: Any) -> dict[str, bool]:
    return {
        "negated": bool(ent._.is_negated),
        "uncertain": bool(ent._.is_uncertain),
        "historical": bool(ent._.is_historical),
        "hypothetical": bool(ent._.is_hypothetical),
        "family": bool(ent._.is_family),
        "probable": bool(ent._.is_probable),
    }


_shared: dict[tuple[Path, Path | None], Pipeline] = {}
_shared_lock = threading.Lock()


def shared_pipeline() -> Pipeline:
    """One pipeline per process and vocabulary folder, built on first use (callers should do
    that off the UI thread)."""
    key = (data_dir("vocab"), site_vocab())
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Pipeline(default_clinical_lexicon())
        return _shared[key]
