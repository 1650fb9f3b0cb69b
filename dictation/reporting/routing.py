"""Routing by anatomy: which field of the active section a dictated findings sentence belongs to.

A radiologist on the first findings field says "there is a small left pleural effusion": the
sentence goes to Pleura, because the field's anatomy words (templates/*.yaml) name it.
"""

from __future__ import annotations

import re

from dictation.reporting.templates import Slot, Template

_SENTENCE = re.compile(r"(?<=[.;!?])\s+(?=\S)")
_WORD = re.compile(r"[a-z][a-z\-]*")


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text.strip()) if s]


def _stem(word: str) -> str:
    for ending in ("ies", "es", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)] + ("y" if ending == "ies" else "")
    return word


def route_sentence(sentence: str, template: Template, active: Slot) -> str | None:
    """The field of the active section whose anatomy words the sentence mentions most.

    Scores count each distinct anatomy word (or spoken name) of a field found in the sentence,
    comparing simple stems ("kidneys" = "kidney"). A tie or no match returns None: the sentence
    stays in the active field. Only fields of the active section compete, so a sentence dictated
    in the findings never jumps to the impression.
    """
    words = {_stem(w) for w in _WORD.findall(sentence.lower())}
    text = " " + " ".join(_stem(w) for w in _WORD.findall(sentence.lower())) + " "
    scores: dict[str, int] = {}
    for slot in template.slots:
        # Pick-list fields are set with "choose", never by routing free text into them.
        if slot.section.key != active.section.key or slot.field is None or slot.options:
            continue
        terms = {" ".join(_stem(w) for w in t.lower().split()) for t in [*slot.field.anatomy, *slot.spoken_names()]}
        score = sum(1 for t in terms if (t in words if " " not in t else f" {t} " in text))
        if score:
            scores[slot.key] = score
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return active.key if active.key in (ranked[0][0], ranked[1][0]) else None
    return ranked[0][0]


def capitalise_for(before: str, sentence: str) -> str:
    if (not before or before.rstrip().endswith((".", "?", "!", ":"))) and sentence[:1].islower():
        return sentence[0].upper() + sentence[1:]
    return sentence


def clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
