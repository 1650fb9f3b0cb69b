"""The text the checks read, with where each section and field starts and ends.

Two ways in: a report being dictated (`from_report`: the engine's own model, with word
probabilities from the recogniser) and plain report text (`from_text`: sections headed like
``FINDINGS:``, as `radscribe check` reads them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from dictation.speech.critical import token

if TYPE_CHECKING:
    from dictation.reporting.report import Report
    from dictation.reporting.templates import Template

SECTION_KEYS = ("indication", "technique", "comparison", "findings", "impression", "recommendations", "communication")

# Headings as radiologists write them → section keys. A template's own titles and spoken names
# are added when the check knows the template.
HEADINGS = {
    "indication": "indication", "indications": "indication", "clinical indication": "indication",
    "history": "indication", "clinical history": "indication", "clinical information": "indication",
    "clinical details": "indication", "reason for exam": "indication", "reason for examination": "indication",
    "reason for study": "indication", "clinical data": "indication",
    "technique": "technique", "procedure": "technique", "protocol": "technique",
    "comparison": "comparison", "comparisons": "comparison", "prior studies": "comparison",
    "findings": "findings", "finding": "findings", "report": "findings",
    "impression": "impression", "impressions": "impression", "conclusion": "impression",
    "conclusions": "impression", "summary": "impression", "opinion": "impression",
    "recommendation": "recommendations", "recommendations": "recommendations", "follow-up": "recommendations",
    "communication": "communication", "critical results": "communication", "critical result": "communication",
    "notification": "communication",
    "examination": "examination", "exam": "examination", "study": "examination",
}
# Sections where a mention is the question, not the answer: no critical flag.
QUESTION_SECTIONS = frozenset({"indication", "examination", "comparison", "technique", "communication"})

_HEADING = re.compile(r"^[ \t]*([A-Za-z][A-Za-z /&()'-]{1,40}?)[ \t]*:[ \t]*", re.MULTILINE)


class Where(TypedDict):
    """Where in the report a piece of checked text is: the ``section`` and ``slot`` of a Flag."""

    section: str | None
    slot: str | None


@dataclass(frozen=True)
class Part:
    section: str
    slot: str | None
    start: int
    end: int


@dataclass(frozen=True)
class Word:
    """A recognised word placed in the checked text, with the recogniser's probability."""

    text: str
    start: int
    end: int
    probability: float
    seq: int = 0  # the utterance it was heard in, and its place among that utterance's words
    index: int = -1
    other: str = ""  # what a second reading of the audio heard here instead, when it differed on a critical word
    span: int = 1  # how many words (from this one) that second reading covers
    confirmed: bool = False  # the radiologist confirmed it as heard

    @property
    def key(self) -> str:
        return f"{self.seq}.{self.index}"


@dataclass
class CheckDocument:
    text: str
    parts: list[Part]
    template: Template | None = None
    sex: str | None = None  # "female" / "male" / None
    laterality: str | None = None  # the exam's side: "left" / "right" / None
    exam: str = ""
    words: list[Word] = field(default_factory=list)
    unaccepted_defaults: list[str] = field(default_factory=list)
    labels: list[tuple[int, int]] = field(default_factory=list)  # field labels like "Lungs:" (not findings)

    def part_at(self, offset: int) -> Part | None:
        for p in self.parts:
            if p.start <= offset < p.end:
                return p
        return None

    def where(self, offset: int) -> Where:
        """``section`` and ``slot`` of the text at ``offset``, as Flag fields."""
        part = self.part_at(offset)
        return {"section": part.section if part else None, "slot": part.slot if part else None}

    def section_text(self, key: str) -> str:
        return " ".join(self.text[p.start:p.end] for p in self.parts if p.section == key).strip()

    def has_section(self, key: str) -> bool:
        return any(p.section == key for p in self.parts)


def _exam_laterality(title: str) -> str | None:
    words = set(re.findall(r"[a-z]+", title.lower()))
    if "bilateral" in words or ("left" in words and "right" in words):
        return None
    if "left" in words or "lt" in words:
        return "left"
    if "right" in words or "rt" in words:
        return "right"
    return None


def _norm_sex(value: Any) -> str | None:
    v = str(value or "").strip().lower()
    return {"f": "female", "female": "female", "m": "male", "male": "male"}.get(v)


def from_text(text: str, template: Template | None = None, sex: str | None = None) -> CheckDocument:
    headings = dict(HEADINGS)
    if template is not None:
        for s in template.spec.sections:
            headings[s.title.lower()] = s.key
            headings[s.key] = s.key
            for spoken in s.spoken:
                headings.setdefault(spoken.lower(), s.key)
    marks: list[tuple[int, int, str]] = []
    for m in _HEADING.finditer(text):
        name = re.sub(r"\s+", " ", m.group(1).strip().lower())
        if name in headings:
            marks.append((m.start(), m.end(), headings[name]))
    parts: list[Part] = []
    if not marks:
        parts.append(Part("findings", None, 0, len(text)))
    else:
        if text[: marks[0][0]].strip():
            parts.append(Part("findings", None, 0, marks[0][0]))
        for i, (_, body_start, key) in enumerate(marks):
            end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
            parts.append(Part(key, None, body_start, end))
    exam = " ".join(text[p.start:p.end].strip() for p in parts if p.section == "examination")
    if template is not None and not exam:
        exam = template.spec.title
    labels = _field_labels(text, template)
    if template is not None:
        parts = _field_parts(text, parts, template)
    tsex = template.spec.applies_to.sex if template is not None else "any"
    return CheckDocument(
        text=text,
        parts=parts,
        template=template,
        sex=_norm_sex(sex) or (tsex if tsex in ("female", "male") else None),
        laterality=_exam_laterality(exam),
        exam=exam,
        labels=labels,
    )


def _field_labels(text: str, template: Template | None) -> list[tuple[int, int]]:
    """A template's field title at the start of a line ("Lungs:"): a label, not part of what was said."""
    if template is None:
        return []  # without a template, "Pneumothorax: small, right" is a statement
    out = []
    titles = {f.title.lower() for s in template.spec.sections for f in s.fields}
    for m in re.finditer(r"^[ \t]*([A-Z][A-Za-z ,/&()'-]{1,60}?):", text, re.MULTILINE):
        if m.group(1).strip().lower() in titles:
            out.append((m.start(1), m.end(1)))
    return out


def _field_parts(text: str, parts: list[Part], template: Template) -> list[Part]:
    """Split a section into its fields where the text carries the template's field labels."""
    out: list[Part] = []
    for p in parts:
        section = next((s for s in template.spec.sections if s.key == p.section), None)
        if section is None or not section.fields:
            out.append(p)
            continue
        titles = {f.title.lower(): f.key for f in section.fields}
        body = text[p.start:p.end]
        cuts = []
        for m in re.finditer(r"^[ \t]*([A-Z][A-Za-z ,/&()'-]{1,60}?):", body, re.MULTILINE):
            key = titles.get(m.group(1).strip().lower())
            if key:
                cuts.append((p.start + m.start(), p.start + m.end(), key))
        if not cuts:
            out.append(p)
            continue
        if text[p.start:cuts[0][0]].strip():
            out.append(Part(p.section, None, p.start, cuts[0][0]))
        for i, (_, s, key) in enumerate(cuts):
            e = cuts[i + 1][0] if i + 1 < len(cuts) else p.end
            out.append(Part(p.section, f"{p.section}.{key}", s, e))
    return out


def from_report(report: Report) -> CheckDocument:
    """The report as it would be signed (accepted text only), one labelled line per slot."""
    template = report.template
    chunks: list[str] = []
    parts: list[Part] = []
    words: list[Word] = []
    labels: list[tuple[int, int]] = []
    pos = 0
    by_seq = {u.seq: u for u in report.utterances}

    def add(s: str) -> None:
        nonlocal pos
        chunks.append(s)
        pos += len(s)

    for section in template.spec.sections:
        add(f"{section.title.upper()}:\n")
        for slot in template.slots:
            if slot.section.key != section.key:
                continue
            if slot.field is not None:
                label_start = pos
                add(f"{slot.field.title}: ")
                labels.append((label_start, label_start + len(slot.field.title)))
            start = pos
            for piece in report.slots.get(slot.key, []):
                if not piece.accepted:
                    continue
                if pos > start:
                    add(" ")
                piece_start = pos
                add(piece.text)
                record = by_seq.get(piece.utterance) if piece.utterance is not None else None
                if record is not None and piece.source == "dictated":
                    words.extend(place_words(piece.text, piece_start, record.words, record.seq, record.confirmed))
            parts.append(Part(section.key, slot.key if slot.field else None, start, pos))
            add("\n")
        add("\n")
    exam = report.exam or {}
    title = str(exam.get("description") or template.spec.title)
    tsex = template.spec.applies_to.sex
    return CheckDocument(
        text="".join(chunks),
        parts=parts,
        template=template,
        sex=_norm_sex(exam.get("sex")) or (tsex if tsex in ("female", "male") else None),
        laterality=_norm_side(exam.get("laterality")) or _exam_laterality(title),
        exam=title,
        words=words,
        unaccepted_defaults=report.unaccepted_defaults(),
        labels=labels,
    )


def _norm_side(value: Any) -> str | None:
    v = str(value or "").strip().lower()
    return {"l": "left", "left": "left", "r": "right", "right": "right"}.get(v)


def place_words(text: str, base: int, words: list[dict[str, Any]], seq: int = 0,
                confirmed: list[int] | tuple[int, ...] = ()) -> list[Word]:
    """Find each recognised word in the written text, in order: as heard, or in its written form
    (a number as digits, a unit as its symbol: "four millimeters" became "4 mm"), whichever comes
    first; a word found in neither form ("twenty five" written "25") is skipped. A number the
    recogniser was unsure of, or that another reading heard otherwise, is a critical word: it
    must be found to be flagged."""
    out = []
    lower = text.lower()
    at = 0
    for index, w in enumerate(words):
        heard = re.sub(r"[^\w'-]", "", str(w.get("word", ""))).lower()
        if not heard:
            continue
        found = [m for form in dict.fromkeys((heard, token(heard)))
                 if (m := re.compile(r"\b" + re.escape(form) + r"\b").search(lower, at)) is not None]
        m = min(found, key=lambda m: m.start(), default=None)
        if m is None or m.start() - at > 40:
            continue
        out.append(Word(text[m.start():m.end()], base + m.start(), base + m.end(), float(w.get("probability", 1.0)),
                        seq, index, str(w.get("other", "")), int(w.get("span", 1)), index in confirmed))
        at = m.end()
    return out
