"""Consistency: laterality, sex-specific anatomy, measurements, and meaning-changing words the
recogniser was unsure of."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from dictation.checks.document import QUESTION_SECTIONS, CheckDocument, Word
from dictation.checks.flags import Flag
from dictation.checks.lexicon import ClinicalLexicon
from dictation.checks.nlp import Mention
from dictation.speech.critical import is_critical, token, unsure

LOW_CONFIDENCE = 0.5  # a word below this probability is "unsure"
_UNIT_MM = {"mm": 1.0, "millimeter": 1.0, "millimeters": 1.0, "millimetre": 1.0, "millimetres": 1.0,
            "cm": 10.0, "centimeter": 10.0, "centimeters": 10.0, "centimetre": 10.0, "centimetres": 10.0}
MEASUREMENT = re.compile(
    r"(?P<dims>\d+(?:\.\d+)?(?:\s*(?:x|by|×)\s*\d+(?:\.\d+)?){0,2})\s*(?P<unit>mm|cm|millimet(?:er|re)s?|centimet(?:er|re)s?)\b",
    re.IGNORECASE,
)


def words_pattern(words: list[str]) -> re.Pattern[str]:
    alternatives = sorted((re.escape(w) for w in words), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?![\w-])", re.IGNORECASE)


def measurements(text: str) -> list[tuple[int, int, list[float]]]:
    """Every measurement in ``text`` as (start, end, dimensions in mm)."""
    out = []
    for m in MEASUREMENT.finditer(text):
        factor = _UNIT_MM[m.group("unit").lower()]
        dims = [float(x) * factor for x in re.findall(r"\d+(?:\.\d+)?", m.group("dims"))]
        out.append((m.start(), m.end(), dims))
    return out


def measurement_of(doc: CheckDocument, m: Mention) -> list[float] | None:
    """The dimensions (mm) of the measurement nearest a mention, in its sentence."""
    found = measurements(doc.text[m.sentence_start:m.sentence_end])
    if not found:
        return None
    rel = m.start - m.sentence_start
    return min(found, key=lambda f: min(abs(f[0] - rel), abs(f[1] - rel)))[2]


class Consistency:
    def __init__(self, lexicon: ClinicalLexicon) -> None:
        a = lexicon.anatomy
        self.side_words = {
            "left": words_pattern(a.laterality.left),
            "right": words_pattern(a.laterality.right),
            "bilateral": words_pattern(a.laterality.bilateral),
        }
        self.sex_words = {"female": words_pattern(a.sex.female), "male": words_pattern(a.sex.male)}
        self.confirm = {w.lower() for w in a.confirm_words}

    def side_of(self, doc: CheckDocument, m: Mention) -> str | None:
        """The side a mention is on: the nearest side word before it in its sentence, else after."""
        sentence = doc.text[m.sentence_start:m.sentence_end]
        before = sentence[: m.start - m.sentence_start] + doc.text[m.start:m.end]
        after = sentence[m.end - m.sentence_start:]
        best: tuple[int, str] | None = None
        for side, pattern in self.side_words.items():
            for hit in pattern.finditer(before):
                if best is None or hit.start() > best[0]:
                    best = (hit.start(), side)
        if best:
            return best[1]
        first: tuple[int, str] | None = None
        for side, pattern in self.side_words.items():
            found = pattern.search(after)
            if found and (first is None or found.start() < first[0]):
                first = (found.start(), side)
        return first[1] if first else None

    def flags(self, doc: CheckDocument, mentions: list[Mention]) -> list[Flag]:
        flags: list[Flag] = []
        answer = [m for m in mentions if (p := doc.part_at(m.start)) is not None and p.section not in QUESTION_SECTIONS]
        flags += self._laterality(doc, answer)
        flags += self._sex(doc)
        flags += self._measurements(doc, answer)
        flags += self._low_confidence(doc, answer)
        flags += critical_words(doc)
        flags += self._contradictions(doc, answer)
        return flags

    def _contradictions(self, doc: CheckDocument, mentions: list[Mention]) -> list[Flag]:
        """A finding affirmed in one sentence and negated in another, on the same side (or with
        no side on either): "No pneumothorax." left in a field, "Large right pneumothorax." dictated."""
        flags = []
        seen: set[str] = set()
        affirmed = [m for m in mentions if m.status == "affirmed"]
        negated = [m for m in mentions if m.status == "negated"]
        for a in affirmed:
            if a.name in seen:
                continue
            side_a = self.side_of(doc, a)
            for n in negated:
                if n.name != a.name or n.sentence_start == a.sentence_start:
                    continue
                side_n = self.side_of(doc, n)
                if side_a and side_n and side_a != side_n and "bilateral" not in (side_a, side_n):
                    continue  # right present, left absent: no contradiction
                seen.add(a.name)
                flags.append(Flag(
                    kind="contradiction", severity="warning",
                    message=f"{a.name} is said to be present (\"{a.sentence}\") and absent (\"{n.sentence}\")",
                    finding=a.name, text=n.text, start=n.start, end=n.end, sentence=n.sentence, **doc.where(n.start),
                    action="Remove the sentence that is no longer true.",
                ))
                break
        return flags

    def _laterality(self, doc: CheckDocument, mentions: list[Mention]) -> list[Flag]:
        flags = []
        sides: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        placed: list[tuple[Mention, str, str]] = []
        for m in mentions:
            if not m.present:
                continue
            part = doc.part_at(m.start)
            side = self.side_of(doc, m)
            if part is None or side is None:
                continue
            sides[m.name][part.section].add(side)
            placed.append((m, part.section, side))
        reported: set[tuple[str, str]] = set()
        for m, section, side in placed:
            part = doc.part_at(m.start)
            if doc.laterality and side in ("left", "right") and side != doc.laterality and (m.name, "exam") not in reported:
                reported.add((m.name, "exam"))
                flags.append(self._flag_side(m, part, f"The exam is {doc.laterality.upper()} but {m.name} is described on the {side.upper()}"))
            if section == "impression" and side in ("left", "right"):
                in_findings = sides[m.name].get("findings", set())
                if in_findings and side not in in_findings and "bilateral" not in in_findings and (m.name, "impression") not in reported:
                    reported.add((m.name, "impression"))
                    other = "/".join(sorted(in_findings)).upper()
                    flags.append(self._flag_side(m, part, f"{m.name}: {side.upper()} in the impression but {other} in the findings"))
        return flags

    @staticmethod
    def _flag_side(m: Mention, part: Any, message: str) -> Flag:
        return Flag(
            kind="laterality_mismatch",
            severity="warning",
            message=message,
            finding=m.name,
            text=m.text,
            start=m.start,
            end=m.end,
            section=part.section if part else None,
            slot=part.slot if part else None,
            sentence=m.sentence,
            action="Check the side and correct it.",
        )

    def _sex(self, doc: CheckDocument) -> list[Flag]:
        if doc.sex not in ("female", "male"):
            return []
        other = "male" if doc.sex == "female" else "female"
        flags = []
        seen: set[str] = set()
        for part in doc.parts:
            if part.section in ("indication", "examination"):
                continue
            body = doc.text[part.start:part.end]
            for hit in self.sex_words[other].finditer(body):
                word = hit.group(0).lower()
                if word in seen:
                    continue
                seen.add(word)
                flags.append(
                    Flag(
                        kind="sex_mismatch",
                        severity="warning",
                        message=f"{hit.group(0)!r} is {other} anatomy but the patient is {doc.sex}",
                        text=hit.group(0),
                        start=part.start + hit.start(),
                        end=part.start + hit.end(),
                        section=part.section,
                        slot=part.slot,
                        action="Check the patient and the template; correct the text.",
                    )
                )
        return flags

    def _measurements(self, doc: CheckDocument, mentions: list[Mention]) -> list[Flag]:
        """The same finding measured in findings and impression with no size in common."""
        sizes: dict[str, dict[str, list[tuple[float, Mention]]]] = defaultdict(lambda: defaultdict(list))
        for m in mentions:
            if not m.present:
                continue
            part = doc.part_at(m.start)
            if part is None or part.section not in ("findings", "impression"):
                continue
            dims = measurement_of(doc, m)  # the measurement nearest the mention belongs to it
            if dims:
                sizes[m.name][part.section].append((max(dims), m))
        flags = []
        for name, by_section in sizes.items():
            f, i = by_section.get("findings"), by_section.get("impression")
            if not f or not i:
                continue
            f_sizes = {round(v, 1) for v, _ in f}
            i_sizes = {round(v, 1) for v, _ in i}
            if f_sizes & i_sizes:
                continue
            m = i[0][1]
            flags.append(Flag(
                kind="measurement_mismatch", severity="warning",
                message=f"{name}: {_mm(sorted(f_sizes))} in the findings but {_mm(sorted(i_sizes))} in the impression",
                finding=name, text=m.text, start=m.start, end=m.end, sentence=m.sentence, **doc.where(m.start),
                action="Make the measurements agree.",
            ))
        return flags

    def _low_confidence(self, doc: CheckDocument, mentions: list[Mention]) -> list[Flag]:
        flags = []
        for w in doc.words:
            if w.probability >= LOW_CONFIDENCE or w.text.lower() not in self.confirm or is_critical(w.text):
                continue  # a critical word has its own flag, wherever it is
            m = next((m for m in mentions if m.sentence_start <= w.start < m.sentence_end), None)
            if m is None:
                continue
            flags.append(Flag(
                kind="low_confidence", severity="warning",
                message=f"Confirm {w.text!r} (heard with {w.probability:.0%} confidence) in: {m.sentence}",
                finding=m.name, text=w.text, start=w.start, end=w.end, sentence=m.sentence, **doc.where(w.start),
                action="Play it back and correct it if needed.",
            ))
        return flags


def _written_twice(before: Word, w: Word) -> bool:
    """The same critical word twice in a row in one utterance ("no no", "left, left")."""
    return (before.seq == w.seq and before.index == w.index - 1 and not before.confirmed
            and is_critical(w.text) and token(before.text) == token(w.text))


def critical_words(doc: CheckDocument) -> list[Flag]:
    """A critical word (no, left, a number...) the recogniser was unsure of (``unsure``), where
    another reading of the audio has otherwise (a second decode, or the words without a
    negation scored as about as probable), or written twice in a row
    ("no no": never dropped as a repeat, since it changes the meaning): never chosen silently,
    flagged until the radiologist confirms it ("confirm") or corrects it."""
    flags = []
    for i, w in enumerate(doc.words):
        if w.confirmed:
            continue
        if w.other:
            covered = [x for x in doc.words[i:] if x.seq == w.seq and x.index < w.index + w.span]
            end = max(x.end for x in covered)
            said = doc.text[w.start:end]
            message = f"{said!r} may be {w.other!r} (the audio bears that reading too): confirm or correct it"
        elif unsure(w.text, w.probability, w.index):
            end, said = w.end, w.text
            message = f"Confirm {w.text!r} (heard with {w.probability:.0%} confidence): it changes the meaning"
        elif i and _written_twice(doc.words[i - 1], w):
            # Kept twice on purpose (a word said twice is written once unless it changes the meaning).
            end, said = w.end, doc.text[doc.words[i - 1].start:w.end]
            message = f"{said!r}: a word that changes the meaning written twice; confirm or correct it"
        else:
            continue
        sentence_start = doc.text.rfind("\n", 0, w.start) + 1
        sentence_end = doc.text.find("\n", end)
        flags.append(Flag(
            kind="critical_word", severity="warning", message=message, text=said, start=w.start, end=end,
            sentence=doc.text[sentence_start:sentence_end if sentence_end >= 0 else len(doc.text)].strip(),
            **doc.where(w.start), action="Play it back; say “confirm” (or Ctrl+K) if it is right, else correct it.",
            word=w.key))
    return flags


def _mm(values: list[float]) -> str:
    return ", ".join(f"{v:g} mm" for v in values)
