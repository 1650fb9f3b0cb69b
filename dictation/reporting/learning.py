"""Learning from the radiologist's corrections: the words typed over what was heard.

When a dictated field is typed over (F2), the spans the radiologist replaced are kept as pairs
(heard → written) with the template and a neighbouring word on each side, nothing more, for the
reporting lead: `radscribe vocab suggest` lists the pairs said again and again and proposes
corrections.toml entries; nothing is applied unreviewed. Never learned: a pair that changes a
word that changes the meaning (no, left, a number...), which is a change of content, not of
spelling; and a pair with a capitalised word (a name, perhaps a patient's).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from dictation.speech.critical import is_critical

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|\d+(?:\.\d+)?")
MOST_WORDS = 3  # a pair is at most this many words on each side


def typed_over(heard: str, written: str) -> list[tuple[str, str, str]]:
    """The spans of ``heard`` that ``written`` replaced: (heard words, written words, context), the
    context being the word before and the word after, with ``_`` where the pair was."""
    said, typed = _WORD.findall(heard), _WORD.findall(written)
    a, b = [w.lower() for w in said], [w.lower() for w in typed]
    out = []
    for op, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op != "replace" or i2 - i1 > MOST_WORDS or j2 - j1 > MOST_WORDS:
            continue
        words = a[i1:i2] + b[j1:j2]
        if any(is_critical(w) or any(c.isdigit() for c in w) for w in words):
            continue  # meaning, not spelling
        if any(w[:1].isupper() for k, w in enumerate(typed[j1:j2], start=j1) if k > 0):
            continue  # a name, perhaps a patient's
        context = " ".join([*a[max(0, i1 - 1):i1], "_", *a[i2:i2 + 1]])
        out.append((" ".join(a[i1:i2]), " ".join(b[j1:j2]), context))
    return out
