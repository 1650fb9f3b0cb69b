"""From spoken to written: punctuation, layout, numbers, units, spine levels and list items.

All the words live in ``vocab/spoken.toml``; this module only knows the shapes of the rules.
Radiologists dictate punctuation, so by default Whisper's own guesses at punctuation are
dropped and only what was said is written (``spoken_punctuation=False`` keeps Whisper's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from dictation.data.files import check_keys, line_of, load_toml, require_str_list, require_str_map
from dictation.data.resources import vocab_file
from dictation.errors import DataFileError

_SENTENCE_END = {".", "?", "!"}
_MARKS = {".", ",", ":", ";", "?", "!"}
_ATTACH_LEFT = {".", ",", ":", ";", ")", "?", "!", "%"}
_ATTACH_RIGHT = {"("}
_JOINERS = {"-", "/"}


@dataclass
class SpokenRules:
    punctuation: dict[tuple[str, ...], str]
    literal_after: dict[tuple[str, ...], set[str]]
    number_words: dict[str, int]
    hundred: set[str]
    decimal_point: set[str]
    homophones: dict[str, int]
    digits_after: set[str]
    by: set[str]
    units: dict[tuple[str, ...], str]
    spine_regions: dict[str, str]
    spine_highest: dict[str, int]
    list_words: set[str]
    expansions: dict[str, str]
    case: dict[str, str]
    max_phrase: int = field(default=1)
    # Words the recogniser writes for a punctuation word said ("common" for "comma") → that word,
    # and the context that decides (``Normalizer._heard_as``).
    heard_as: dict[str, str] = field(default_factory=dict)
    openers: set[str] = field(default_factory=set)
    literal_before: set[str] = field(default_factory=set)
    literal_next: set[str] = field(default_factory=set)
    list_joins: set[str] = field(default_factory=set)


_ALLOWED: dict[str, type | tuple[type, ...]] = {
    "punctuation": dict, "literal_after": dict, "numbers": dict, "units": dict, "spine": dict,
    "lists": dict, "expansions": dict, "case": dict, "heard_as": dict, "heard_as_context": dict,
}


def load_spoken_rules(path: Path | None = None) -> SpokenRules:
    path = Path(path) if path else vocab_file("spoken.toml")
    data = load_toml(path, _ALLOWED)
    text = data["__text__"]
    check_keys(path, data, "numbers", {"words", "hundred", "decimal_point", "digits_after", "by", "homophones"})
    check_keys(path, data, "spine", {"regions", "highest"})
    check_keys(path, data, "lists", {"words"})
    check_keys(path, data, "case", {"words"})
    numbers = data.get("numbers", {})
    words = numbers.get("words", {})
    if not isinstance(words, dict) or not all(isinstance(v, int) for v in words.values()):
        raise DataFileError(path, line_of(text, "words"), "[numbers] words must map each word to a whole number")
    punctuation = {tuple(k.split()): v for k, v in require_str_map(path, data, "punctuation").items()}
    literal: dict[tuple[str, ...], set[str]] = {}
    for key in data.get("literal_after", {}):
        if tuple(key.lower().split()) not in punctuation:
            raise DataFileError(path, line_of(text, key), f"[literal_after] {key!r} is not a punctuation word in [punctuation]")
        literal[tuple(key.lower().split())] = {w.lower() for w in require_str_list(path, data, "literal_after", key)}
    units = {tuple(k.split()): v for k, v in require_str_map(path, data, "units").items()}
    spine = data.get("spine", {})
    rules = SpokenRules(
        punctuation=punctuation,
        literal_after=literal,
        number_words={k.lower(): v for k, v in words.items()},
        hundred={w.lower() for w in require_str_list(path, data, "numbers", "hundred")},
        decimal_point={w.lower() for w in require_str_list(path, data, "numbers", "decimal_point")},
        homophones={k.lower(): int(v) for k, v in numbers.get("homophones", {}).items()},
        digits_after={w.lower() for w in require_str_list(path, data, "numbers", "digits_after")},
        by={w.lower() for w in require_str_list(path, data, "numbers", "by")},
        units=units,
        spine_regions={k.lower(): v for k, v in spine.get("regions", {}).items()},
        spine_highest={k.upper(): int(v) for k, v in spine.get("highest", {}).items()},
        list_words={w.lower() for w in require_str_list(path, data, "lists", "words")},
        expansions=require_str_map(path, data, "expansions"),
        case={w.lower(): w for w in require_str_list(path, data, "case", "words")},
    )
    check_keys(path, data, "heard_as_context", {"openers", "literal_before", "literal_next", "list_joins"})
    rules.heard_as = {k.lower(): v.lower() for k, v in require_str_map(path, data, "heard_as").items()}
    for heard, said in rules.heard_as.items():
        if (said,) not in punctuation:
            raise DataFileError(path, line_of(text, f'"{heard}"'), f"[heard_as] {heard!r}: {said!r} is not a one-word entry of [punctuation]")
    context = {key: {w.lower() for w in require_str_list(path, data, "heard_as_context", key)}
               for key in ("openers", "literal_before", "literal_next", "list_joins")} if "heard_as_context" in data else {}
    rules.openers = context.get("openers", set())
    rules.literal_before = context.get("literal_before", set())
    rules.literal_next = context.get("literal_next", set())
    rules.list_joins = context.get("list_joins", set())
    rules.max_phrase = max([len(k) for k in (*punctuation, *units)] + [1])
    return rules


@cache
def default_rules() -> SpokenRules:
    return load_spoken_rules()


# --------------------------------------------------------------------------------------------


@dataclass
class Tok:
    text: str
    kind: str = "w"  # w word, n number, p punctuation/layout, u unit
    spelled: bool = False  # a number that was said in words
    value: float | None = None
    keep_digits: bool = False
    words: str = ""  # the words a spelled number came from
    paused: bool = False  # the recogniser wrote a mark after it: it heard a pause there

    @property
    def low(self) -> str:
        return self.text.lower()


_DIGITS = re.compile(r"^\d+(\.\d+)?$")
_STRIP = re.compile(r"""^([\("'“]*)(.*?)([\)\.,;:!\?"'”]*)$""")
_SPINE = re.compile(r"^([CcTtLlSs])(\d{1,2})(?:-?([CcTtLlSs])(\d{1,2})|-(\d{1,2}))?$")
_UNIT_JOIN = re.compile(r"(?<=\d)(mm|cm|ml|mL|cc|mg|HU)\b")


class Normalizer:
    """Turn one utterance of recognised speech into report text."""

    def __init__(self, rules: SpokenRules | None = None, *, spoken_punctuation: bool = True) -> None:
        self.rules = rules or default_rules()
        self.spoken_punctuation = spoken_punctuation
        r = self.rules
        self._split_words = {w for k in r.punctuation for w in k} | set(r.number_words)

    def __call__(self, text: str, before: str = "") -> str:
        toks = self._heard_as(self._tokenize(text))
        toks = self._numbers(toks)
        toks = self._spine(toks)
        toks = self._lists(toks, at_line_start=_at_line_start(before))
        toks = self._units(toks)
        toks = self._punctuation(toks)
        toks = self._words(toks)
        return self._assemble(toks, sentence_start=_at_sentence_start(before))

    # -- passes -----------------------------------------------------------------------------

    def _tokenize(self, text: str) -> list[Tok]:
        text = _UNIT_JOIN.sub(r" \1", text.replace("’", "'"))
        out: list[Tok] = []
        for chunk in text.split():
            stripped = _STRIP.match(chunk)
            assert stripped is not None  # every group of the pattern may be empty: it matches any chunk
            lead, core, trail = stripped.groups()
            if not self.spoken_punctuation:
                out.extend(Tok(c, "p") for c in lead)
            if core:
                parts = core.split("-")
                if len(parts) > 1 and any(p.lower() in self._split_words for p in parts) and not _SPINE.match(core):
                    out.extend(Tok(p) for p in parts if p)
                elif _DIGITS.match(core):
                    out.append(Tok(core, "n", value=float(core), keep_digits=True))
                else:
                    out.append(Tok(core, paused=any(c in ",.;:!?" for c in trail)))
            if not self.spoken_punctuation:
                out.extend(Tok(c, "p") for c in trail if c not in "\"'”")
        return out

    def _heard_as(self, toks: list[Tok]) -> list[Tok]:
        """A punctuation word the recogniser wrote as a near word ("right lower lobe common
        consistent with", for "comma") → the punctuation word, decided from the context, never
        the spelling alone: the word follows another and the next word opens a clause
        ("consistent", "concerning", "likely"...), or the recogniser heard a pause after it (it
        wrote a mark there), or it ends the utterance, or, for a comma, it stands in a list that goes on in
        the same sentence ("airspace disease common pneumothorax or effusion": a list word or
        another comma follows); and neither neighbour makes it the ordinary word ("the common
        bile duct", "left common femoral vein")."""
        r = self.rules
        if not self.spoken_punctuation or not r.heard_as:
            return toks
        for i, t in enumerate(toks):
            said = r.heard_as.get(t.low) if t.kind == "w" and i > 0 else None
            if said is None or toks[i - 1].low in r.literal_before:
                continue
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if nxt is not None and nxt.low in r.literal_next:
                continue
            in_list = r.punctuation[(said,)] == "," and self._list_goes_on(toks, i + 1, said)
            if nxt is None or nxt.low in r.openers or t.paused or in_list:
                toks[i] = Tok(said)
        return toks

    def _list_goes_on(self, toks: list[Tok], start: int, said: str) -> bool:
        """A list word ("or", "and") or another mark ``said`` follows ``start`` in the same sentence
        (before any other mark said, "period", "colon", "new line"...)."""
        r = self.rules
        mark = r.punctuation[(said,)]
        for j in range(start, len(toks)):
            t = toks[j]
            if t.low in r.list_joins or r.punctuation.get((t.low,)) == mark or r.heard_as.get(t.low) == said:
                return True
            for n in range(1, r.max_phrase + 1):
                other = r.punctuation.get(tuple(x.low for x in toks[j:j + n]))
                if other is not None and other != mark:
                    return False
        return False

    def _numbers(self, toks: list[Tok]) -> list[Tok]:
        r = self.rules
        out: list[Tok] = []
        i = 0
        while i < len(toks):
            t = toks[i]
            value = r.number_words.get(t.low) if t.kind == "w" and t.low != "oh" else None
            if value is None:
                # "2 point 3" (digits from Whisper, the point said): join into one number.
                if t.kind == "n" and i + 2 < len(toks) and toks[i + 1].low in r.decimal_point and _digit_word(toks[i + 2], r) is not None:
                    j, frac = i + 2, ""
                    while j < len(toks) and (d := _digit_word(toks[j], r)) is not None:
                        frac += d
                        j += 1
                    out.append(Tok(f"{t.text}.{frac}", "n", value=float(f"{t.text}.{frac}"), keep_digits=True))
                    i = j
                    continue
                out.append(t)
                i += 1
                continue
            j = i + 1
            words = [t.text]
            if value >= 20 and value % 10 == 0 and j < len(toks) and 0 < r.number_words.get(toks[j].low, 0) < 10 and toks[j].low != "oh":
                value += r.number_words[toks[j].low]
                words.append(toks[j].text)
                j += 1
            if value < 10 and j < len(toks) and toks[j].low in r.hundred:
                value *= 100
                words.append(toks[j].text)
                j += 1
                if j < len(toks) and toks[j].low == "and":
                    j += 1
                if j < len(toks) and (rest := r.number_words.get(toks[j].low)) is not None and toks[j].low != "oh":
                    value += rest
                    words.append(toks[j].text)
                    j += 1
                    if rest >= 20 and j < len(toks) and 0 < r.number_words.get(toks[j].low, 0) < 10:
                        value += r.number_words[toks[j].low]
                        words.append(toks[j].text)
                        j += 1
            text = str(value)
            decimal = False
            if j + 1 < len(toks) and toks[j].low in r.decimal_point and _digit_word(toks[j + 1], r) is not None:
                frac = ""
                k = j + 1
                while k < len(toks) and (d := _digit_word(toks[k], r)) is not None:
                    frac += d
                    words.append(toks[k].text)
                    k += 1
                text, j, decimal = f"{value}.{frac}", k, True
            out.append(Tok(text, "n", spelled=True, value=float(text), keep_digits=decimal or value >= 10,
                           words=" ".join(words)))
            i = j
        return out

    def _spine(self, toks: list[Tok]) -> list[Tok]:
        r = self.rules
        out: list[Tok] = []
        i = 0
        while i < len(toks):
            first, j = self._level(toks, i)
            if first is None:
                out.append(toks[i])
                i += 1
                continue
            region, n = first
            second, k = self._level(toks, j)
            text = f"{region}{n}"
            if second is not None and _follows(first, second, r):
                text += f"-{second[0]}{second[1]}"
                j = k
            elif j < len(toks) and toks[j].kind == "n" and toks[j].value == n + 1 and n + 1 <= r.spine_highest.get(region, 0):
                text += f"-{region}{n + 1}"
                j += 1
            out.append(Tok(text, "w"))
            i = j
        return out

    def _level(self, toks: list[Tok], i: int) -> tuple[tuple[str, int] | None, int]:
        """A spine level starting at token i: ("L", 4) and the index after it."""
        r = self.rules
        if i >= len(toks) or toks[i].kind != "w":
            return None, i
        t = toks[i]
        m = _SPINE.match(t.text)
        if m and m.group(1).lower() in r.spine_regions:
            region = r.spine_regions[m.group(1).lower()]
            digits = m.group(2)
            n = int(digits)
            second = None
            if m.group(3) and m.group(3).lower() in r.spine_regions:  # "L5-S1", "l4l5"
                second = f"{r.spine_regions[m.group(3).lower()]}{m.group(4)}"
            elif m.group(5):  # "C5-6"
                second = f"{region}{m.group(5)}"
            elif len(digits) == 2 and n > r.spine_highest.get(region, 0) and int(digits[1]) == int(digits[0]) + 1:
                n, second = int(digits[0]), f"{region}{digits[1]}"  # "C56" is C5-C6, not C56
            if not 1 <= n <= r.spine_highest.get(region, 0):
                return None, i
            if second:  # expand in place; the caller joins the two levels
                toks.insert(i + 1, Tok(second, "w"))
            return (region, n), i + 1
        if t.low in r.spine_regions and i + 1 < len(toks):
            nxt = toks[i + 1]
            if nxt.kind == "n" and nxt.value is not None and nxt.value.is_integer():
                region = r.spine_regions[t.low]
                n = int(nxt.value)
                if 1 <= n <= r.spine_highest.get(region, 0):
                    return (region, n), i + 2
        return None, i

    def _lists(self, toks: list[Tok], at_line_start: bool) -> list[Tok]:
        r = self.rules
        out: list[Tok] = []
        i = 0
        start = at_line_start
        while i < len(toks):
            t = toks[i]
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            prev_p = self._punct_before(toks, i)
            line_start = (i == 0 and start) or prev_p in ("\n", "\n\n", ".", ":")
            if t.low in r.list_words and nxt is not None and nxt.kind == "n" and nxt.value is not None and nxt.value.is_integer() and (line_start or i == 0):
                if (out or not at_line_start) and prev_p not in ("\n", "\n\n"):  # "new paragraph number one"
                    out.append(Tok("\n", "p"))
                out.append(Tok(f"{int(nxt.value)}.", "p"))
                i += 2
                continue
            out.append(t)
            i += 1
        return out

    def _punct_before(self, toks: list[Tok], i: int) -> str | None:
        """The punctuation mark said just before token i, if any (spoken or written)."""
        if i == 0:
            return None
        for n in range(min(self.rules.max_phrase, i), 0, -1):
            key = tuple(t.low for t in toks[i - n : i])
            if key in self.rules.punctuation:
                return self.rules.punctuation[key]
        p = toks[i - 1]
        return p.text if p.kind == "p" else None

    def _units(self, toks: list[Tok]) -> list[Tok]:
        r = self.rules
        out: list[Tok] = []
        i = 0
        while i < len(toks):
            t = toks[i]
            if t.kind == "w" and t.low in r.homophones and self._match(toks, i + 1, r.units)[0] is not None:
                # "measures for millimeters": a number heard as a word that sounds like it
                t = Tok(str(r.homophones[t.low]), "n", value=float(r.homophones[t.low]), keep_digits=True)
            if t.kind == "n":
                # dimensions: 11 by 8 (by 6)
                if i + 2 < len(toks) and toks[i + 1].low in r.by and toks[i + 2].kind == "n":
                    t.keep_digits = toks[i + 2].keep_digits = True
                    out.extend([t, Tok("x", "u")])
                    i += 2
                    continue
                unit, n = self._match(toks, i + 1, r.units)
                if unit is not None:
                    t.keep_digits = True
                    out.extend([t, Tok(unit, "u")])
                    i += 1 + n
                    continue
                prev = out[-1] if out else None
                if prev is not None and (prev.low in r.digits_after or prev.text == "x"):
                    t.keep_digits = True
            out.append(t)
            i += 1
        # Small spelled numbers with nothing numeric about them stay words ("one of the").
        for t in out:
            if t.kind == "n" and t.spelled and not t.keep_digits:
                t.kind, t.text = "w", t.words
        return out

    def _punctuation(self, toks: list[Tok]) -> list[Tok]:
        r = self.rules
        out: list[Tok] = []
        i = 0
        while i < len(toks):
            mark, n = self._match(toks, i, r.punctuation)
            if mark is not None:
                key = tuple(t.low for t in toks[i : i + n])
                literal = r.literal_after.get(key)
                prev = out[-1] if out else None
                opens_sentence = prev is None or (prev.kind == "p" and prev.text[-1] in ".?!\n")
                if literal is not None and ((opens_sentence and i + n < len(toks)) or (prev is not None and prev.low in literal)):
                    mark = None
            if mark is None:
                out.append(toks[i])
                i += 1
                continue
            if prev is not None and prev.kind == "p" and {prev.text, mark} <= _MARKS:  # "period period", "comma period"
                if mark in _SENTENCE_END or prev.text not in _SENTENCE_END:  # one mark, a sentence end if one was said
                    out[-1] = Tok(mark, "p")
            else:
                out.append(Tok(mark, "p"))
            i += n
        return out

    def _words(self, toks: list[Tok]) -> list[Tok]:
        r = self.rules
        for t in toks:
            if t.kind != "w":
                continue
            if t.low in r.expansions:
                t.text = r.expansions[t.low]
            elif t.low in r.case:
                t.text = r.case[t.low]
            elif t.text[:1].isupper() and t.text[1:].islower() and t.text != "I" and not _SPINE.match(t.text):
                t.text = t.text.lower()  # Whisper's sentence capitals; the assembler puts back the right ones
        return toks

    def _match(self, toks: list[Tok], i: int, table: dict[tuple[str, ...], str]) -> tuple[str | None, int]:
        for n in range(min(self.rules.max_phrase, len(toks) - i), 0, -1):
            key = tuple(t.low for t in toks[i : i + n])
            if key in table and all(t.kind == "w" for t in toks[i : i + n]):
                return table[key], n
        return None, 0

    def _assemble(self, toks: list[Tok], sentence_start: bool) -> str:
        out = ""
        capital = sentence_start
        glue = False
        for t in toks:
            text = t.text
            if t.kind == "u" and text in _ATTACH_LEFT:  # "25%"
                out = out.rstrip(" ") + text
                glue = False
                continue
            if t.kind == "p":
                if text.startswith("\n"):
                    out = out.rstrip(" ") + text
                    capital, glue = True, True
                    continue
                if text in _JOINERS:
                    out = out.rstrip(" ") + text
                    glue = True
                    continue
                if text in _ATTACH_LEFT:
                    out = out.rstrip(" ") + text
                    if text in _SENTENCE_END:
                        capital = True
                    glue = False
                    continue
                if text in _ATTACH_RIGHT:
                    out += ("" if glue or not out or out.endswith("\n") else " ") + text
                    glue = True
                    continue
                if re.fullmatch(r"\d+\.", text):  # a list item
                    out += ("" if not out or out.endswith("\n") else " ") + text
                    capital, glue = True, False
                    continue
            if capital and text[:1].isalpha():
                text = text[0].upper() + text[1:]
                capital = False
            elif capital and text[:1].isdigit():
                capital = False
            out += ("" if glue or not out or out.endswith("\n") else " ") + text
            glue = False
        return out.strip(" ")


def _digit_word(t: Tok, r: SpokenRules) -> str | None:
    if t.kind == "n" and t.text.isdigit():
        return t.text
    v = r.number_words.get(t.low)
    return str(v) if v is not None and v < 10 else None


def _follows(a: tuple[str, int], b: tuple[str, int], r: SpokenRules) -> bool:
    """Is b the level just below a (L4 → L5, L5 → S1, C7 → T1, T12 → L1)?"""
    order = ["C", "T", "L", "S"]
    if a[0] == b[0]:
        return b[1] == a[1] + 1
    if a[0] in order and b[0] in order and order.index(b[0]) == order.index(a[0]) + 1:
        return b[1] == 1 and a[1] >= r.spine_highest.get(a[0], 0) - 1
    return False


def _at_sentence_start(before: str) -> bool:
    b = before.rstrip(" ")
    return not b or b[-1] in ".?!\n"


def _at_line_start(before: str) -> bool:
    b = before.rstrip(" ")
    return not b or b.endswith("\n") or b.endswith(":")


def join_text(before: str, new: str) -> str:
    """Append one utterance's text to what is already written, with the right space."""
    if not new:
        return before
    if new[0] in _MARKS and before[-1:] in _MARKS:  # a mark said again after a pause: one, as within an utterance
        return before[:-1] + (new[0] if new[0] in _SENTENCE_END or before[-1] not in _SENTENCE_END else before[-1]) + new[1:]
    if not before or before.endswith(("\n", " ", "(", "-", "/")) or new[0] in ".,;:)?!%\n":
        return before + new
    return before + " " + new


__all__ = ["Normalizer", "SpokenRules", "load_spoken_rules", "default_rules", "join_text"]
