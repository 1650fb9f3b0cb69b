"""Voice commands and macros (vocab/commands.toml, vocab/macros.toml) and the parser.

The rule is the whole utterance: an utterance is a command when all of it matches a command
phrase; anything else is dictation, so "no pneumothorax, next field" is dictated, not obeyed.
Matching is fuzzy (rapidfuzz ratio on the lower-cased utterance without punctuation and
fillers) to tolerate what the recogniser makes of a command, with a stricter threshold for very
short phrases; never across a word that changes a meaning (no, left, right, normal, a number:
``meaning_words``), so "a comparison" is not the macro "no comparison". Phrases with
``{target}``, ``{field}`` and ``{option}`` are expanded with the current template's spoken names
and pick-list options.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from dictation.data.files import check_keys, line_of, load_toml
from dictation.data.resources import vocab_file, vocab_layers
from dictation.errors import DataFileError
from dictation.reporting.templates import Template
from dictation.speech.critical import is_critical, token

COMMANDS = (
    "go_to", "next_field", "previous_field", "scratch_that", "undo", "redo", "new_paragraph",
    "insert_normal", "normal_field", "accept_all_defaults", "choose", "clear_field",
    "sign_final", "sign_preliminary", "stop_listening", "start_listening",
    "begin_addendum", "begin_correction", "cancel_amendment", "confirm_words",
    # for the screen, not the report: the worklist and moving between studies
    "open_next", "open_stat", "close_study", "play_back",
)
UI_COMMANDS = frozenset({"open_next", "open_stat", "close_study", "play_back"})
# Not in the second look's prompt: "confirm" in it changed how other short commands were read (the
# robustness benchmark's test part obeyed 3 and 4 commands fewer); it is found by the words alone.
NOT_PROMPTED = frozenset({"confirm_words"})
# The placeholder each command may (or must) use.
_PLACEHOLDERS = {"go_to": "target", "normal_field": "field", "choose": "option"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Macro:
    name: str
    phrases: list[str]
    templates: list[str]
    text: str | None = None
    target: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def applies_to(self, template_id: str | None) -> bool:
        return not self.templates or template_id in self.templates


@dataclass(frozen=True)
class CommandSet:
    phrases: dict[str, list[str]]
    macros: list[Macro]
    threshold: float = 88
    short_threshold: float = 95
    fillers: frozenset[str] = frozenset()
    # A short utterance checked against its audio (dictation/reporting/verify.py): how much less
    # probable than the words heard a command phrase may be, in mean log-probability per token,
    # and still be obeyed, or asked.
    audio_obey: float = -0.9
    audio_ask: float = -2.5


@dataclass(frozen=True)
class Command:
    """A recognised command: its name, its argument (a slot key, an option, a macro name)."""

    name: str
    arg: str | None = None
    phrase: str = ""
    score: float = 100.0

    def describe(self) -> str:
        return f"{self.name} {self.arg}" if self.arg else self.name


def load_commands(path: Path | None = None, macros_path: Path | None = None) -> CommandSet:
    path = Path(path) if path else vocab_file("commands.toml")
    data = load_toml(path, {"commands": dict, "matching": dict})
    text = data["__text__"]
    check_keys(path, data, "commands", COMMANDS)
    check_keys(path, data, "matching", {"threshold", "short_threshold", "fillers", "audio_obey", "audio_ask"})
    phrases: dict[str, list[str]] = {}
    for name, value in data.get("commands", {}).items():
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise DataFileError(path, line_of(text, name), f"[commands] {name} must be a list of phrases")
        for phrase in value:
            used = set(_PLACEHOLDER.findall(phrase))
            wanted = _PLACEHOLDERS.get(name)
            if used - ({wanted} if wanted else set()) or (wanted and wanted not in used):
                need = f"must contain {{{wanted}}}" if wanted else "takes no placeholder"
                raise DataFileError(path, line_of(text, name), f"[commands] {name}: {phrase!r} {need}")
        phrases[name] = [" ".join(p.lower().split()) for p in value]
    matching = data.get("matching", {})
    for key in ("threshold", "short_threshold"):
        v = matching.get(key, 90)
        if not isinstance(v, (int, float)) or not 50 <= v <= 100:
            raise DataFileError(path, line_of(text, key), f"[matching] {key} must be a number from 50 to 100")
    fillers = matching.get("fillers", [])
    if not isinstance(fillers, list) or not all(isinstance(f, str) for f in fillers):
        raise DataFileError(path, line_of(text, "fillers"), "[matching] fillers must be a list of words")
    margins = {key: matching.get(key, default) for key, default in (("audio_obey", -0.9), ("audio_ask", -2.5))}
    for key, v in margins.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not -10 <= v <= 0:
            raise DataFileError(path, line_of(text, key), f"[matching] {key} must be a number from -10 to 0")
    if margins["audio_ask"] > margins["audio_obey"]:
        raise DataFileError(path, line_of(text, "audio_ask"), "[matching] audio_ask must not be above audio_obey")
    return CommandSet(phrases, load_macros(macros_path), float(matching.get("threshold", 88)),
                      float(matching.get("short_threshold", 95)), frozenset(f.lower() for f in fillers),
                      float(margins["audio_obey"]), float(margins["audio_ask"]))


def load_macros(path: Path | None = None) -> list[Macro]:
    """One macros file, or (no path) the built-in macros with the site's added (a site macro
    with a built-in's name replaces it)."""
    if path is not None:
        return _load_macros(Path(path))
    by_name: dict[str, Macro] = {}
    for layer in vocab_layers("macros.toml"):
        by_name.update({m.name: m for m in _load_macros(layer)})
    return list(by_name.values())


def _load_macros(path: Path) -> list[Macro]:
    raw = load_toml(path, _AnyTable())
    text = raw.pop("__text__")
    out = []
    for name, table in raw.items():
        line = line_of(text, name)
        unknown = set(table) - {"phrases", "templates", "text", "target", "fields"}
        if unknown:
            raise DataFileError(path, line, f"[{name}] unknown key {sorted(unknown)[0]!r}; known: fields, phrases, target, templates, text")
        phrases = table.get("phrases")
        if not isinstance(phrases, list) or not phrases or not all(isinstance(p, str) and p.strip() for p in phrases):
            raise DataFileError(path, line, f"[{name}] needs phrases = [\"...\"], what the radiologist says")
        templates = table.get("templates", [])
        if not isinstance(templates, list) or not all(isinstance(t, str) for t in templates):
            raise DataFileError(path, line, f"[{name}] templates must be a list of template ids")
        has_text, fields = "text" in table, table.get("fields", {})
        if has_text == bool(fields):
            raise DataFileError(path, line, f"[{name}] needs either text = \"...\" or fields = {{ ... }}, not both or neither")
        if has_text and not (isinstance(table["text"], str) and table["text"].strip()):
            raise DataFileError(path, line, f"[{name}] text must be non-empty text")
        if not isinstance(fields, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in fields.items()):
            raise DataFileError(path, line, f"[{name}] fields maps \"section.field\" to text")
        target = table.get("target")
        if target is not None and not isinstance(target, str):
            raise DataFileError(path, line, f"[{name}] target must be a section key or \"section.field\"")
        out.append(Macro(name, [" ".join(p.lower().split()) for p in phrases], templates,
                         table.get("text"), target, dict(fields)))
    return out


class _AnyTable(dict[str, Any]):
    """``load_toml``'s allowed-sections map that accepts every table (each is a macro)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> type:
        return dict


@cache
def default_commands() -> CommandSet:
    return load_commands()


_PUNCT = re.compile(r"[^\w\s']")


def said_once(said: str) -> str:
    """A normalised utterance with a word repeated at once said once ("go to to impression" →
    "go to impression"): the recogniser repeats a word, nobody says a command phrase so."""
    out: list[str] = []
    for word in said.split():
        if not out or out[-1] != word:
            out.append(word)
    return " ".join(out)


# Words that sound exactly like a side and that tiny.en writes for it ("go to write testis"): in a
# command they can only be that side. Never used to change dictation (there a side is flagged).
SOUNDS_LIKE_SIDE = {"write": "right", "rite": "right", "wright": "right"}


def meaning_words(said: str) -> frozenset[str]:
    """The words of a normalised utterance or phrase that change a meaning (no, left, normal, a
    number...), as compared: a close match must have the same ones, neither more nor fewer
    ("nondiagnostic" has the "non" of "non diagnostic"; "write" is the side "right")."""
    out = set()
    for w in said.split():
        if w in SOUNDS_LIKE_SIDE:
            out.add(SOUNDS_LIKE_SIDE[w])
        elif is_critical(w):
            out.add(token(w))
        elif w.startswith("non") and len(w) > 4:
            out.add("non")
    return frozenset(out)


@lru_cache(maxsize=4096)  # the same phrases are normalised for every parser (a controller per study)
def normalise(text: str, fillers: frozenset[str] = frozenset()) -> str:
    words = _PUNCT.sub(" ", text.lower().replace("-", " ")).split()
    while words and words[0] in fillers:
        words.pop(0)
    while words and words[-1] in fillers:
        words.pop()
    return " ".join(words)


@dataclass(frozen=True)
class _Pattern:
    name: str
    phrase: str
    kind: str  # target, field or option
    prefix: str
    suffix: str


class CommandParser:
    """Decides whether an utterance is a command, for one template (or none).

    Fixed phrases ("next field", macros) are compared with the whole utterance. A phrase with a
    placeholder ("go to {target}") is matched in parts: its fixed words against the start and
    end of the utterance, the words between against the template's spoken names, each part
    with the threshold. So "normal lines" and "normal lungs" stay apart even though, as whole
    strings, they differ by a few letters only.
    """

    def __init__(self, commands: CommandSet | None = None, template: Template | None = None) -> None:
        self.commands = commands or default_commands()
        self.template = template
        self._fixed: list[str] = []
        self._fixed_meaning: list[Command] = []
        self._patterns: list[_Pattern] = []
        self.values: dict[str, dict[str, str]] = {"target": {}, "field": {}, "option": {}}
        self._phrases: list[tuple[str, Command]] | None = None
        self._build()

    def _build(self) -> None:
        t = self.template
        if t:
            self.values["target"] = {normalise(k): v for k, v in t.targets().items()}
            for slot in t.slots:
                for name in slot.spoken_names():
                    self.values["field"].setdefault(normalise(name), slot.key)
                for opt in slot.options:
                    self.values["option"].setdefault(normalise(opt), opt)
        for name, phrases in self.commands.phrases.items():
            for phrase in phrases:
                holes = _PLACEHOLDER.findall(phrase)
                if not holes:
                    self._fixed.append(normalise(phrase))
                    self._fixed_meaning.append(Command(name, None, phrase))
                    continue
                before, _, after = phrase.partition("{" + holes[0] + "}")
                self._patterns.append(_Pattern(name, phrase, holes[0], normalise(before), normalise(after)))
        template_id = t.id if t else None
        keys = {sl.key for sl in t.slots} | {sec.key for sec in t.spec.sections} if t else set()
        for macro in self.commands.macros:
            # A macro for every template applies where the template has what it fills.
            wanted = [*macro.fields, *([macro.target] if macro.target else [])]
            if t and not macro.templates and not all(k in keys for k in wanted):
                continue
            if macro.applies_to(template_id):
                for phrase in macro.phrases:
                    self._fixed.append(normalise(phrase))
                    self._fixed_meaning.append(Command("macro", macro.name, phrase))

    def prompt(self, max_words: int = 70) -> str:
        """A recognition prompt made of command phrases, for a second look at a short utterance."""
        parts: list[str] = []
        sections = [s.title.lower() for s in self.template.spec.sections] if self.template else ["findings", "impression"]
        for name, phrases in self.commands.phrases.items():
            if name in NOT_PROMPTED:
                continue
            phrase = phrases[0]
            if "{target}" in phrase:
                parts += [phrase.replace("{target}", t) for t in sections]
            elif "{field}" in phrase or "{option}" in phrase:
                continue
            else:
                parts.append(phrase)
        text = ". ".join(p[0].upper() + p[1:] for p in parts) + "."
        return " ".join(text.split()[:max_words])

    def threshold_for(self, phrase: str) -> float:
        return self.commands.short_threshold if len(phrase) <= 8 else self.commands.threshold

    def phrases(self) -> list[tuple[str, Command]]:
        """Every phrase this parser knows, placeholders filled in (built once: the parser does not change)."""
        if self._phrases is None:
            self._phrases = [(phrase, command) for phrase, command, _ in self._expanded()]
        return self._phrases

    def _expanded(self) -> list[tuple[str, Command, str | None]]:
        out: list[tuple[str, Command, str | None]] = [(p, c, None) for p, c in zip(self._fixed, self._fixed_meaning)]
        for pat in self._patterns:
            for value, arg in self.values[pat.kind].items():
                phrase = " ".join(w for w in (pat.prefix, value, pat.suffix) if w)
                out.append((phrase, Command(pat.name, arg, pat.phrase), value))
        return out

    def _candidates(self, said: str) -> list[tuple[float, Command]]:
        out: list[tuple[float, Command]] = []
        for phrase, score, index in process.extract(said, self._fixed, scorer=fuzz.ratio, limit=3):
            if score >= self.threshold_for(phrase):
                out.append((score, Command(self._fixed_meaning[index].name, self._fixed_meaning[index].arg, phrase, round(score, 1))))
        words = said.split()
        for pat in self._patterns:
            values = self.values[pat.kind]
            if not values:
                continue
            np_, ns = len(pat.prefix.split()), len(pat.suffix.split())
            for p in sorted({max(np_ + d, 0) for d in (-1, 0, 1)} if np_ else {0}):
                for q in sorted({max(ns + d, 0) for d in (-1, 0, 1)} if ns else {0}):
                    if p + q >= len(words) or (np_ and not p) or (ns and not q):
                        continue
                    head, tail = " ".join(words[:p]), " ".join(words[len(words) - q:])
                    middle = " ".join(words[p:len(words) - q])
                    hs = fuzz.ratio(head, pat.prefix) if np_ else 100.0
                    ts = fuzz.ratio(tail, pat.suffix) if ns else 100.0
                    if hs < self.commands.threshold or ts < self.commands.threshold:
                        continue
                    for value, vs, _ in process.extract(middle, list(values), scorer=fuzz.ratio, limit=2):
                        if vs < self.commands.threshold:
                            continue
                        size = len(pat.prefix) + len(value) + len(pat.suffix)
                        score = (hs * len(pat.prefix) + vs * len(value) + ts * len(pat.suffix)) / size
                        phrase = " ".join(w for w in (pat.prefix, value, pat.suffix) if w)
                        out.append((score, Command(pat.name, values[value], phrase, round(score, 1))))
        return out

    def parse(self, heard: str) -> Command | None:
        """The command the whole utterance is, or None for dictation."""
        said = " ".join(SOUNDS_LIKE_SIDE.get(w, w) for w in said_once(normalise(heard, self.commands.fillers)).split())
        if not said:
            return None
        # A close match, never across a word that changes a meaning: "a comparison" is not the
        # macro "no comparison", "two left" not "choose left" (the audio check may still ask).
        meaning = meaning_words(said)
        candidates = sorted((c for c in self._candidates(said) if meaning_words(c[1].phrase) == meaning),
                            key=lambda c: -c[0])
        if not candidates:
            return None
        score, command = candidates[0]
        # Two different commands equally close: do not guess, treat it as dictation.
        for other_score, other in candidates[1:]:
            if other_score >= score - 1e-9 and (other.name, other.arg) != (command.name, command.arg):
                return None
        return command

    def collisions(self) -> list[tuple[str, str, str]]:
        """What the template linter reports: (spoken name or option, what it clashes with, why).

        Two spoken names (or options) of different targets that the matcher cannot tell apart, and
        a command phrase built from the template that is as close to another command or a macro
        as a match needs.
        """
        out: list[tuple[str, str, str]] = []
        pairs: set[frozenset[str]] = set()
        for values in self.values.values():
            names = list(values)
            for i, a in enumerate(names):
                for b in names[i + 1:]:
                    if values[a] != values[b] and fuzz.ratio(a, b) >= self.commands.threshold and frozenset((a, b)) not in pairs:
                        pairs.add(frozenset((a, b)))
                        out.append((b, a, f"the names {b!r} ({values[b]}) and {a!r} ({values[a]}) sound alike"))
        fixed = dict(zip(self._fixed, self._fixed_meaning))
        for name in dict.fromkeys(n for values in self.values.values() for n in values):
            if name in fixed:
                out.append((name, name, f"the name {name!r} is itself the voice command {fixed[name].describe()!r}"))
        for phrase, command, filled in self._expanded():
            if filled is None:
                continue
            hit = self.parse(phrase)
            if hit is not None and (hit.name, hit.arg) == (command.name, command.arg):
                continue
            what = f"{hit.describe()!r} ({hit.phrase!r})" if hit else "nothing (ambiguous)"
            out.append((filled, phrase, f"the command {phrase!r} is heard as {what}"))
        return out

    def macro(self, name: str) -> Macro:
        for m in self.commands.macros:
            if m.name == name:
                return m
        raise KeyError(name)
