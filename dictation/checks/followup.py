"""Follow-up: recommendations that lack a modality or an interval, and the Fleischner Society
2017 suggestion for an incidental pulmonary nodule.

Fleischner 2017 (MacMahon et al., Radiology 2017;284:228-243) applies to incidental nodules on
CT in adults of 35 or over, not to lung-cancer screening, known cancer or immunosuppression. Size
is the average of long and short axis. The suggestion is labelled as one: the radiologist decides.
"""

from __future__ import annotations

import re

from dictation.checks.consistency import measurement_of, words_pattern
from dictation.checks.document import CheckDocument
from dictation.checks.flags import Flag
from dictation.checks.lexicon import ClinicalLexicon
from dictation.checks.nlp import Mention

NODULE = "pulmonary nodule"
_INTERVAL_NUMBER = re.compile(r"\b\d+(?:\s*(?:-|to|–)\s*\d+)?\s*(?:day|week|month|year)s?\b", re.IGNORECASE)

# (type, multiple, size class) → (low risk, high risk). Size classes: "<6", "6-8", ">8" for solid;
# "<6", ">=6" for subsolid.
FLEISCHNER = {
    ("solid", False, "<6"): ("No routine follow-up.", "Optional CT at 12 months."),
    ("solid", False, "6-8"): ("CT at 6-12 months, then consider CT at 18-24 months.", "CT at 6-12 months, then CT at 18-24 months."),
    ("solid", False, ">8"): ("Consider CT at 3 months, PET/CT, or tissue sampling.", "Consider CT at 3 months, PET/CT, or tissue sampling."),
    ("solid", True, "<6"): ("No routine follow-up.", "Optional CT at 12 months."),
    ("solid", True, "6-8"): ("CT at 3-6 months, then consider CT at 18-24 months.", "CT at 3-6 months, then at 18-24 months."),
    ("solid", True, ">8"): ("CT at 3-6 months, then consider CT at 18-24 months.", "CT at 3-6 months, then at 18-24 months."),
    ("ground_glass", False, "<6"): ("No routine follow-up.", None),
    ("ground_glass", False, ">=6"): ("CT at 6-12 months to confirm persistence, then CT every 2 years until 5 years.", None),
    ("part_solid", False, "<6"): ("No routine follow-up.", None),
    ("part_solid", False, ">=6"): ("CT at 3-6 months to confirm persistence. If unchanged and the solid component remains under 6 mm, annual CT for 5 years.", None),
    ("ground_glass", True, "<6"): ("CT at 3-6 months. If stable, consider CT at 2 and 4 years.", None),
    ("ground_glass", True, ">=6"): ("CT at 3-6 months. Further management based on the most suspicious nodule(s).", None),
    ("part_solid", True, "<6"): ("CT at 3-6 months. If stable, consider CT at 2 and 4 years.", None),
    ("part_solid", True, ">=6"): ("CT at 3-6 months. Further management based on the most suspicious nodule(s).", None),
}
_TYPE_NAMES = {"solid": "solid", "part_solid": "part-solid", "ground_glass": "ground-glass"}


def fleischner(nodule_type: str, multiple: bool, size_mm: float) -> tuple[str, str | None]:
    """(low-risk, high-risk) recommendation; high-risk is None where the guideline gives one."""
    if nodule_type == "solid":
        size = "<6" if size_mm < 6 else ("6-8" if size_mm <= 8 else ">8")
    else:
        size = "<6" if size_mm < 6 else ">=6"
    return FLEISCHNER[(nodule_type, multiple, size)]


def nodule_size(dims: list[float]) -> float:
    """Fleischner size: the average of long and short axis, to the nearest millimetre."""
    if len(dims) == 1:
        return round(dims[0])
    return round((max(dims) + min(dims)) / 2)


class FollowUp:
    def __init__(self, lexicon: ClinicalLexicon) -> None:
        a = lexicon.anatomy
        self.triggers = words_pattern(a.followup.triggers)
        self.imaging = words_pattern(a.followup.imaging)
        self.modalities = words_pattern(a.followup.modalities)
        self.intervals = words_pattern(a.followup.intervals)
        self.no_imaging = words_pattern(a.followup.no_imaging) if a.followup.no_imaging else None
        self.types = {k: words_pattern(v) for k, v in a.nodule_types.items()}
        self.multiple = words_pattern(a.multiple_words)

    def flags(self, doc: CheckDocument, mentions: list[Mention]) -> list[Flag]:
        return self._recommendations(doc) + self._nodules(doc, mentions)

    def _recommendations(self, doc: CheckDocument) -> list[Flag]:
        flags = []
        for part in doc.parts:
            if part.section not in ("recommendations", "impression", "findings"):
                continue
            body = doc.text[part.start:part.end]
            for m in re.finditer(r"[^.\n;]+", body):
                sentence = m.group(0).strip()
                if not sentence:
                    continue
                in_recs = part.section == "recommendations"
                if not in_recs and not self.triggers.search(sentence):
                    continue
                if self.no_imaging and self.no_imaging.search(sentence):
                    continue
                if not self.imaging.search(sentence) and not self.modalities.search(sentence):
                    continue
                missing = []
                if not self.modalities.search(sentence):
                    missing.append("a modality")
                if not (self.intervals.search(sentence) or _INTERVAL_NUMBER.search(sentence)):
                    missing.append("an interval")
                if not missing:
                    continue
                start = part.start + m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
                flags.append(
                    Flag(
                        kind="incomplete_followup",
                        severity="warning",
                        message=f"The recommendation names no {' and no '.join(x.split(' ', 1)[1] for x in missing)}: {sentence}",
                        text=sentence,
                        start=start,
                        end=start + len(sentence),
                        section=part.section,
                        slot=part.slot,
                        sentence=sentence,
                        action="Say which examination and when (e.g. \"CT chest in 6 to 12 months\").",
                    )
                )
        return flags

    def _nodules(self, doc: CheckDocument, mentions: list[Mention]) -> list[Flag]:
        flags = []
        seen: set[str] = set()
        for m in mentions:
            if m.name != NODULE or m.status != "affirmed":
                continue
            part = doc.part_at(m.start)
            if part is None or part.section not in ("findings", "impression"):
                continue
            dims = measurement_of(doc, m)
            if not dims:
                continue
            sentence = doc.text[m.sentence_start:m.sentence_end]
            size = nodule_size(dims)
            nodule_type = self._type(sentence)
            multiple = bool(self.multiple.search(sentence)) or m.text.lower().endswith("s")
            if nodule_type is None:
                message = (
                    f"Pulmonary nodule of {size:g} mm: say whether it is solid, part-solid or ground-glass "
                    "to get the Fleischner 2017 suggestion"
                )
                action = "Dictate the nodule type."
            else:
                low, high = fleischner(nodule_type, multiple, size)
                kind = f"{'multiple' if multiple else 'single'} {_TYPE_NAMES[nodule_type]} nodule{'s' if multiple else ''}, {size:g} mm"
                if high is None or high == low:
                    advice = low
                else:
                    advice = f"low risk: {low} High risk: {high}"
                message = f"Suggestion (Fleischner 2017, {kind}): {advice}"
                action = (
                    "A suggestion for an incidental nodule on CT in an adult of 35 or over without known cancer "
                    "or immunosuppression; not for lung-cancer screening. Add it to the recommendations if it applies."
                )
                if doc.template is not None and doc.template.spec.modality != "CT":
                    action = "Fleischner applies to nodules seen on CT; consider recommending a chest CT. " + action
            if message in seen:
                continue
            seen.add(message)
            flags.append(
                Flag(
                    kind="followup_suggestion",
                    severity="info",
                    message=message,
                    finding=NODULE,
                    text=m.text,
                    start=m.start,
                    end=m.end,
                    section=part.section,
                    slot=part.slot,
                    sentence=m.sentence,
                    action=action,
                )
            )
        return flags

    def _type(self, sentence: str) -> str | None:
        # part-solid before solid: "part-solid" contains "solid".
        for key in ("part_solid", "ground_glass", "solid"):
            if key in self.types and self.types[key].search(sentence):
                return key
        return None
