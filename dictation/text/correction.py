"""Domain vocabulary: the lexicon, recognition prompts built from it, and the correction pass.

The corrector fixes misrecognised medical terms ("plural effusion" → "pleural effusion",
"hiller" → "hilar") in two steps: the reporting leads' explicit corrections list, then a fuzzy
pass that compares word n-grams with lexicon terms by spelling and by sound (Metaphone). The
fuzzy pass is deliberately timid: it never touches protected words (no/new, left/right, ...),
numbers, common English words on their own, or spans already spelled as a lexicon term.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jellyfish
from rapidfuzz import fuzz, process
from wordfreq import zipf_frequency

from dictation.data.files import check_keys, line_of, load_toml, read_text, require_str_list, require_str_map
from dictation.data.resources import vocab_layers
from dictation.errors import DataFileError

_TERM = re.compile(r"^[A-Za-z][A-Za-z0-9 '\-/]*$")
_HEADING = re.compile(r"^\[([a-z][a-z0-9_-]*)\]$")


@dataclass
class TermLexicon:
    groups: dict[str, list[str]]

    @property
    def terms(self) -> list[str]:
        seen: dict[str, str] = {}
        for terms in self.groups.values():
            for t in terms:
                seen.setdefault(t.lower(), t)
        return list(seen.values())

    def prompt(self, group: str | None = None, max_terms: int = 40, fits: Callable[[str], bool] | None = None) -> str:
        """A short initial prompt: a dictation in the radiologist's style, then the group's first terms.

        The example teaches Whisper to write spoken punctuation as words (the normaliser turns
        them into marks). Short lists beat long ones: on the development set 40 terms gave a
        lower error rate than 12 or 100 (docs/benchmarks.md). Without a group (no template known),
        the first terms of every group take turns. With ``fits`` (whether the model keeps a whole
        prompt), terms are left off the end until it does: the model would cut the example instead.
        """
        if group and group in self.groups:
            terms = self.groups[group][:max_terms]
        else:
            columns = [g for name, g in self.groups.items() if name != "general"]
            terms = [col[i] for i in range(max(map(len, columns), default=0)) for col in columns if i < len(col)][:max_terms]
        style = "Findings colon there is mild atelectasis comma no pneumothorax period new paragraph impression colon number one"
        while terms and fits is not None and not fits(f"{style} {', '.join(terms)}."):
            terms = terms[:-1]
        return f"{style} {', '.join(terms)}." if terms else style


def load_term_lexicon(path: Path | None = None) -> TermLexicon:
    """One lexicon file, or (no path) the built-in with the site's terms added to their groups."""
    if path is not None:
        return _load_term_lexicon(Path(path))
    merged: dict[str, list[str]] = {}
    for layer in vocab_layers("lexicon.txt"):
        for group, terms in _load_term_lexicon(layer).groups.items():
            merged.setdefault(group, [])
            merged[group] += [t for t in terms if t not in merged[group]]
    return TermLexicon(merged)


def _load_term_lexicon(path: Path) -> TermLexicon:
    groups: dict[str, list[str]] = {}
    current: str | None = None
    for number, raw in enumerate(read_text(path).splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            m = _HEADING.match(line)
            if not m:
                raise DataFileError(path, number, f"bad heading {line!r}: write a group name in brackets, like [chest]")
            current = m.group(1)
            groups.setdefault(current, [])
            continue
        if current is None:
            raise DataFileError(path, number, f"term {line!r} comes before any [group] heading")
        if not _TERM.match(line):
            raise DataFileError(path, number, f"term {line!r} has characters a term cannot have (letters, digits, spaces, ' - / only)")
        groups[current].append(line)
    if not groups:
        raise DataFileError(path, None, "the lexicon has no terms")
    return TermLexicon(groups)


@dataclass
class Corrections:
    phrases: dict[str, str]
    protected: set[str]
    words: set[str] = field(default_factory=set)  # technical words the fuzzy pass may write


def load_corrections(path: Path | None = None) -> Corrections:
    """One corrections file, or (no path) the built-in with the site's entries over it."""
    if path is not None:
        return _load_corrections(Path(path))
    merged = Corrections({}, set(), set())
    for layer in vocab_layers("corrections.toml"):
        part = _load_corrections(layer)
        merged = Corrections({**merged.phrases, **part.phrases}, merged.protected | part.protected, merged.words | part.words)
    return merged


def _load_corrections(path: Path) -> Corrections:
    data = load_toml(path, {"corrections": dict, "protected": dict, "vocabulary": dict})
    check_keys(path, data, "protected", {"words"})
    check_keys(path, data, "vocabulary", {"words"})
    phrases = require_str_map(path, data, "corrections")
    words = require_str_list(path, data, "vocabulary", "words") if "vocabulary" in data else []
    for w in words:
        if not re.fullmatch(r"[A-Za-z][a-z]*", w):
            raise DataFileError(path, line_of(data["__text__"], f'"{w}"'),
                                f"[vocabulary] {w!r} is not one word (letters only; phrases belong in lexicon.txt)")
    return Corrections({" ".join(k.split()): v for k, v in phrases.items()},
                       {w.lower() for w in require_str_list(path, data, "protected", "words")},
                       {w.lower() for w in words})


@dataclass(frozen=True)
class Correction:
    heard: str
    written: str
    how: str  # "list" or "fuzzy"
    score: float = 1.0


_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")


def _key(s: str) -> str:
    return re.sub(r"[^a-z]", "", s.lower())


@dataclass
class _Term:
    text: str
    letters: str
    sound: str
    n_words: int


@dataclass
class Corrector:
    lexicon: TermLexicon
    corrections: Corrections
    threshold: float = 0.84
    anchored_threshold: float = 0.9
    rare_zipf: float = 2.5  # known to English but rarer than this: a technical word, keep it
    _terms: list[_Term] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        protected = self.corrections.protected
        known = {t.lower() for t in self.lexicon.terms}
        self._known = known
        self._known_words = {w for t in known for w in t.split()}
        # Terms that contain a protected word are never produced by the fuzzy pass.
        self._terms = [
            _Term(t, _key(t), jellyfish.metaphone(t.replace("-", " ")).replace(" ", ""), len(t.split()))
            for t in self.lexicon.terms
            if len(_key(t)) >= 5 and not (set(t.lower().split()) & protected)
        ]
        # The technical words inside longer terms are targets too ("oceus" → "osseous" from
        # "osseous lesion"): a misheard word alone has no phrase to match.
        # So are the [vocabulary] words of corrections.toml, whatever their frequency in English.
        singles = {t.text.lower() for t in self._terms if t.n_words == 1}
        inside = {w for w in self._known_words - singles
                  if len(w) >= 6 and w.isalpha() and zipf_frequency(w, "en") < self.rare_zipf}
        listed = {w for w in self.corrections.words - singles if len(w) >= 5}
        self._terms += [_Term(w, _key(w), jellyfish.metaphone(w), 1) for w in sorted((inside | listed) - protected)]
        self._known_words |= self.corrections.words
        self._letters = [t.letters for t in self._terms]
        self._by_letters = {t.letters: t for t in self._terms}
        self._list = sorted(self.corrections.phrases.items(), key=lambda kv: -len(kv[0].split()))
        self._list_patterns = [
            (re.compile(r"(?<![A-Za-z'\-])" + r"\s+".join(map(re.escape, heard.split())) + r"(?![A-Za-z'\-])", re.IGNORECASE), written)
            for heard, written in self._list
        ]

    def __call__(self, text: str) -> str:
        return self.correct(text)[0]

    def correct(self, text: str) -> tuple[str, list[Correction]]:
        made: list[Correction] = []
        for pattern, written in self._list_patterns:
            def repl(m: re.Match[str], written: str = written) -> str:
                made.append(Correction(m.group(0), written, "list"))
                return _match_case(m.group(0), written)
            text = pattern.sub(repl, text)
        return self._fuzzy(text, made)

    # -- fuzzy pass ---------------------------------------------------------------------------

    def _fuzzy(self, text: str, made: list[Correction]) -> tuple[str, list[Correction]]:
        words = list(_WORD.finditer(text))
        out: list[str] = []
        pos = 0
        i = 0
        while i < len(words):
            best: tuple[float, int, _Term] | None = None
            for n in (3, 2, 1):
                span = words[i : i + n]
                if len(span) < n or not self._contiguous(text, span):
                    continue
                hit = self._best_term([w.group(0) for w in span])
                if hit and (best is None or hit[0] > best[0] + 0.02):
                    best = (hit[0], n, hit[1])
            if best is None:
                i += 1
                continue
            score, n, term = best
            span = words[i : i + n]
            heard = text[span[0].start() : span[-1].end()]
            out.append(text[pos : span[0].start()])
            out.append(_match_case(heard, term.text))
            pos = span[-1].end()
            made.append(Correction(heard, term.text, "fuzzy", round(score, 3)))
            i += n
        out.append(text[pos:])
        return "".join(out), made

    @staticmethod
    def _contiguous(text: str, span: list[re.Match[str]]) -> bool:
        return all(text[a.end() : b.start()].strip() == "" for a, b in zip(span, span[1:]))

    def _best_term(self, span: list[str]) -> tuple[float, _Term] | None:
        low = [w.lower() for w in span]
        phrase = " ".join(low)
        if phrase in self._known or set(low) & self.corrections.protected:
            return None
        if len(low[0]) <= 2 or len(low[-1]) <= 2:
            return None  # a span never starts or ends on a stray letter it would swallow
        letters = _key(phrase)
        if len(letters) < 4:
            return None
        if len(span) > 1 and letters in self._by_letters:
            return 1.0, self._by_letters[letters]  # the term, spaced or hyphenated differently
        freq = [zipf_frequency(w, "en") for w in low]
        # A long rare word that English knows is medical vocabulary the lexicon lacks
        # ("hypointense", "hamartoma"): never change it. Words English does not know, and short
        # rare ones ("parl"), are mishearings.
        if any(0 < f < self.rare_zipf and len(w) >= 6 and w not in self._known_words for w, f in zip(low, freq)):
            return None
        unheard = [w for w, f in zip(low, freq) if f < self.rare_zipf and (f == 0 or len(w) < 6) and w not in self._known_words]
        # Only real words: leave them, unless they are a near-perfect match for a lexicon phrase
        # that shares one of them ("can use medullaris" → "conus medullaris").
        anchored = not unheard
        if anchored and (len(span) < 2 or not any(w in self._known_words for w in low)):
            return None
        sound = jellyfish.metaphone(phrase).replace(" ", "")
        best = None
        for _, spelled, idx in process.extract(letters, self._letters, scorer=fuzz.ratio, score_cutoff=60, limit=8):
            term = self._terms[idx]
            if abs(len(letters) - len(term.letters)) > 0.35 * len(term.letters):
                continue
            if term.n_words > len(span) + 1:
                continue
            term_words = term.text.lower().split()
            # Every heard word must be part of what it becomes: never swallow a word.
            if any(fuzz.partial_ratio(_key(w), term.letters) < 60 for w in low):
                continue
            # ...and the first and last heard words must be how it begins and ends: "tear biceps
            # tendon" is not "triceps tendon", "infraspinatus tendonosis" not "infraspinatus tendon".
            if len(low) > 1 and not _ends_match(_key(low[0]), _key(low[-1]), term.letters):
                continue
            # Never change only a word's ending (plural, -ed, -ic): that is the radiologist's word.
            if len(term_words) == len(low) and all(_same_stem(a, b) for a, b in zip(low, term_words)):
                continue
            same_sound = fuzz.ratio(sound, term.sound) / 100
            score = 0.5 * spelled / 100 + 0.5 * same_sound
            if anchored:
                if not set(term_words) & set(low) or score < self.anchored_threshold:
                    continue
            elif same_sound == 1.0 and spelled >= 65:
                score = max(score, self.threshold)
            if score >= self.threshold and (best is None or score > best[0]):
                best = (score, term)
        return best


def _ends_match(first: str, last: str, letters: str) -> bool:
    return fuzz.ratio(first, letters[: len(first)]) >= 65 and fuzz.ratio(last, letters[-len(last):]) >= 65


def _same_stem(a: str, b: str) -> bool:
    """Words that differ only in their ending: "defects"/"defect", "displace"/"displaced"."""
    if a == b:
        return True
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n >= 4 and a[n:] in _ENDINGS and b[n:] in _ENDINGS


_ENDINGS = {"", "s", "es", "ies", "y", "ed", "d", "e", "ic", "al", "ly", "ally", "ing", "ous", "a", "ia", "um", "i", "ae"}


def _match_case(heard: str, written: str) -> str:
    if heard[:1].isupper() and written[:1].islower():
        return written[0].upper() + written[1:]
    return written


@cache
def default_term_lexicon() -> TermLexicon:
    return load_term_lexicon()


@cache
def default_corrector() -> Corrector:
    return Corrector(default_term_lexicon(), load_corrections())


__all__ = ["TermLexicon", "Corrections", "Correction", "Corrector", "load_term_lexicon", "load_corrections",
           "default_term_lexicon", "default_corrector"]
