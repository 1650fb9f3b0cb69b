"""``radscribe templates check``: everything that can be wrong with a template, with file and line.

Checks: the file's shape and schema (pydantic), unique ids and matching file names, Jinja2
syntax, names and fields the body uses that the template does not declare, required sections
the body never shows, duplicate keys, malformed codes (LOINC check digit, CPT, RadLex), pick-list
defaults that are not options, unknown lexicon groups, spoken names that collide with voice
commands, macros or each other, and that the body renders (with defaults and empty).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dictation.errors import DataFileError
from dictation.reporting.commands import CommandParser, CommandSet, Macro, default_commands, normalise
from dictation.reporting.render import body_uses, compile_body, environment, render
from dictation.reporting.templates import BODY_GLOBALS, SECTION_ATTRIBUTES, SUFFIX, Template, load_template
from dictation.text.correction import default_term_lexicon

_CPT = re.compile(r"^\d{4}[0-9FTU]$")
_RADLEX = re.compile(r"^(RPID|RID)\d+$")
_LOINC = re.compile(r"^\d{1,7}-\d$")


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


def loinc_valid(code: str) -> bool:
    """Format and mod-10 check digit of a LOINC code (as LOINC computes it)."""
    if not _LOINC.match(code):
        return False
    number, check = code.split("-")
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10 == int(check)


def template_files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(p.glob(f"*{SUFFIX}")))
        else:
            out.append(p)
    return out


def check_paths(paths: Iterable[Path], commands: CommandSet | None = None) -> tuple[list[Template], list[Problem]]:
    commands = commands or default_commands()
    problems: list[Problem] = []
    templates: list[Template] = []
    seen: dict[str, Template] = {}
    for path in template_files(paths):
        try:
            t = load_template(path)
        except DataFileError as e:
            problems.append(Problem(e.path, e.line, e.detail))
            continue
        if t.id in seen:
            problems.append(Problem(str(path), t.line("id"), f"id {t.id!r} is also used by {seen[t.id].path}"))
        else:
            problems.extend(_shared_codes(t, templates))
        seen.setdefault(t.id, t)
        problems.extend(check_template(t, commands))
        templates.append(t)
    return templates, problems


def _shared_codes(t: Template, others: list[Template]) -> list[Problem]:
    """A procedure code on two templates: an order with that code would open either of them."""
    out = []
    for kind in ("cpt", "loinc", "radlex"):
        for i, code in enumerate(getattr(t.spec.codes, kind)):
            other = next((o for o in others if o.id != t.id and code in getattr(o.spec.codes, kind)), None)
            if other is not None:
                out.append(Problem(str(t.path), t.line("codes", kind, i),
                                   f"{kind.upper()} code {code} is also listed by template {other.id}: an order with it "
                                   "could open either; keep it on one and map the RIS's own codes in [orders] templates"))
    return out


def check_template(t: Template, commands: CommandSet) -> list[Problem]:
    out: list[Problem] = []
    path = str(t.path)

    def add(line: int | None, message: str) -> None:
        out.append(Problem(path, line, message))

    spec = t.spec
    if t.path.name != f"{t.id}{SUFFIX}":
        add(t.line("id"), f"the file of template {t.id!r} must be named {t.id}{SUFFIX}")
    if spec.group is not None and spec.group not in default_term_lexicon().groups:
        add(t.line("group"), f"group {spec.group!r} is not a lexicon group ({', '.join(sorted(default_term_lexicon().groups))})")

    # codes
    for i, code in enumerate(spec.codes.cpt):
        if not _CPT.match(code):
            add(t.line("codes", "cpt", i), f"CPT code {code!r} is malformed (five characters: 4 digits then a digit, F, T or U)")
    for i, code in enumerate(spec.codes.loinc):
        if not loinc_valid(code):
            add(t.line("codes", "loinc", i), f"LOINC code {code!r} is malformed or its check digit is wrong")
    for i, code in enumerate(spec.codes.radlex):
        if not _RADLEX.match(code):
            add(t.line("codes", "radlex", i), f"RadLex code {code!r} is malformed (RPID123 for a procedure, RID123 for a term)")
    if spec.applies_to.age_min is not None and spec.applies_to.age_max is not None and spec.applies_to.age_min > spec.applies_to.age_max:
        add(t.line("applies_to", "age_min"), "applies_to: age_min is above age_max")

    # sections and fields
    keys: dict[str, int] = {}
    for si, s in enumerate(spec.sections):
        if s.key in keys:
            add(t.line("sections", si, "key"), f"section key {s.key!r} is used twice")
        keys[s.key] = si
        if s.loinc is not None and not loinc_valid(s.loinc):
            add(t.line("sections", si, "loinc"), f"section {s.key}: LOINC code {s.loinc!r} is malformed or its check digit is wrong")
        if s.fields and s.default:
            add(t.line("sections", si, "default"), f"section {s.key} has fields: put default text on its fields, not on the section")
        field_keys: set[str] = set()
        for fi, f in enumerate(s.fields):
            if f.key in field_keys:
                add(t.line("sections", si, "fields", fi, "key"), f"field key {s.key}.{f.key} is used twice")
            field_keys.add(f.key)
            if f.options and f.default is not None and f.default not in f.options:
                add(t.line("sections", si, "fields", fi, "default"),
                    f"field {s.key}.{f.key}: default {f.default!r} is not one of its options ({', '.join(f.options)})")
            if len(set(o.lower() for o in f.options)) != len(f.options):
                add(t.line("sections", si, "fields", fi, "options"), f"field {s.key}.{f.key} lists an option twice")

    # spoken names: every command phrase the template makes ("go to <name>", "choose <option>")
    # against every other phrase with another meaning, commands and macros included
    where: dict[str, int | None] = {}
    for si, s in enumerate(spec.sections):
        for n in [s.title, *s.spoken]:
            where.setdefault(normalise(n), t.line("sections", si, "spoken") or t.line("sections", si))
        for fi, f in enumerate(s.fields):
            for n in [f.title, *f.spoken]:
                where.setdefault(normalise(n), t.line("sections", si, "fields", fi, "spoken") or t.line("sections", si, "fields", fi))
            for o in f.options:
                where.setdefault(normalise(o), t.line("sections", si, "fields", fi, "options"))
    parser = CommandParser(commands, t)
    reported: set[str] = set()
    for phrase, _, why in parser.collisions():
        if why not in reported:
            reported.add(why)
            add(where.get(normalise(phrase)) or t.line("sections"), why)
    for macro in commands.macros:
        if t.id not in macro.templates:
            continue  # a macro for every template simply does not apply where its target is missing
        for key in [*macro.fields, *([macro.target] if macro.target else [])]:
            if key not in {sl.key for sl in t.slots} | {sec.key for sec in spec.sections}:
                add(t.line("id"), f"macro {macro.name} (vocab/macros.toml) fills {key!r}, which this template does not have")

    # the body
    try:
        compile_body(t)
    except DataFileError as e:
        add(e.line, e.detail)
        return out
    section_keys = {s.key: s for s in spec.sections}
    names = set(environment().globals) | {"loop"}
    used: set[str] = set()
    for use in body_uses(t):
        if use.name in section_keys:
            used.add(use.name)
            s = section_keys[use.name]
            if use.attribute is not None and use.attribute not in SECTION_ATTRIBUTES and use.attribute not in {f.key for f in s.fields}:
                known = ", ".join(f.key for f in s.fields) or "none"
                add(use.line, f"the body uses {use.name}.{use.attribute}, but section {use.name} has no field {use.attribute!r} (fields: {known})")
        elif use.name not in BODY_GLOBALS and use.name not in names:
            add(use.line, f"the body uses {use.name!r}, which the template does not declare (sections: {', '.join(section_keys)}; also exam, status, template)")
    for si, s in enumerate(spec.sections):
        if s.required and s.key not in used:
            add(t.line("sections", si, "key"), f"required section {s.key!r} never appears in the body")
    if not any(p.line and p.line >= t.body_line for p in out):
        for label, filled in _fillings(t):
            section_texts = {k: v for k, v in filled.items() if "." not in k}
            fields: dict[str, dict[str, str]] = {}
            for k, v in filled.items():
                if "." in k:
                    sec, fld = k.split(".", 1)
                    fields.setdefault(sec, {})[fld] = v
            try:
                render(t, section_texts, fields, exam=_SAMPLE_EXAM)
            except DataFileError as e:
                add(e.line, f"rendering {label} fails: {e.detail}")
                break  # one rendering problem is enough to fix first
    return out


# What a real report puts into the body: every exam key an order or `dictate` fills.
_SAMPLE_EXAM = {"accession": "ACC1", "patient_id": "MRN1", "patient_name": "Doe^Jane", "birth_date": "19800101",
                "sex": "F", "facility": "GENERAL", "exam_code": "71046", "exam_description": "XR Chest",
                "exam_time": "2026-01-01 08:00", "ordering_physician": "Roe^Rick"}


def _fillings(t: Template) -> list[tuple[str, dict[str, str]]]:
    """The ways a report fills the body: every default, everything empty, every field dictated
    (free text with numbers and punctuation), and each pick-list option in turn."""
    slots = t.slots
    out = [("with defaults", {sl.key: sl.default or "" for sl in slots}),
           ("empty", {sl.key: "" for sl in slots}),
           ("with every field dictated", {sl.key: "A 12 mm nodule, 3.5 cm from the hilum; no effusion." for sl in slots})]
    width = max((len(sl.options) for sl in slots), default=0)
    for i in range(width):
        picked = {sl.key: sl.options[i % len(sl.options)] if sl.options else (sl.default or "") for sl in slots}
        out.append((f"with pick-list option {i + 1}", picked))
    return out


def check_vocabulary(root: Path | None = None, templates: Iterable[Template] = ()) -> list[str]:
    """Every problem in a vocab folder (``root``), or in the vocabulary in use (no root: the
    built-in files with the site's layered over them), one line each with file and line:
    spoken forms, the term lexicon, corrections, report sentences, commands and macros (and phrases the matcher
    cannot tell apart), and the clinical checks' files (critical findings, observations,
    context rules, anatomy). With ``templates``, a macro that applies to every template must
    fill only what every one of them has."""
    from dictation.checks import load_clinical_lexicon
    from dictation.data.resources import vocab_file
    from dictation.reporting.commands import CommandParser, load_commands, load_macros
    from dictation.text.correction import load_corrections, load_term_lexicon
    from dictation.text.language import load_sentences
    from dictation.text.spoken import load_spoken_rules

    def at(name: str) -> Path | None:
        return root / name if root is not None else None

    problems: list[str] = []
    loaders: tuple[tuple[str, Callable[[Path | None], object]], ...] = (
        ("spoken.toml", load_spoken_rules), ("lexicon.txt", load_term_lexicon),
        ("corrections.toml", load_corrections), ("macros.toml", load_macros), ("sentences.txt", load_sentences))
    for name, loader in loaders:
        try:
            loader(at(name))
        except DataFileError as e:
            problems.append(str(e))
    try:
        commands = load_commands(at("commands.toml"), at("macros.toml"))
    except DataFileError as e:
        problems.append(str(e))
    else:
        # Fixed phrases that the matcher cannot tell apart (two commands, or a command and a macro).
        where = root / "commands.toml" if root is not None else vocab_file("commands.toml")
        problems += [f"{where}: {why}" for _, _, why in CommandParser(commands).collisions()]
        problems += _macros_for_every_template(commands.macros, list(templates),
                                               root / "macros.toml" if root is not None else vocab_file("macros.toml"))
    try:
        load_clinical_lexicon(root)  # critical_findings, observations, context_rules, anatomy
    except DataFileError as e:
        problems.append(str(e))
    return problems


def _macros_for_every_template(macros: Iterable[Macro], templates: list[Template], path: Path) -> list[str]:
    """A macro without ``templates`` is offered in every report: what it fills must be in each."""
    out = []
    for macro in macros:
        if macro.templates or not templates:
            continue
        for key in [*macro.fields, *([macro.target] if macro.target else [])]:
            lacking = [t.id for t in templates
                       if key not in {sl.key for sl in t.slots} | {sec.key for sec in t.spec.sections}]
            if lacking:
                shown = ", ".join(lacking[:4]) + (f" and {len(lacking) - 4} more" if len(lacking) > 4 else "")
                out.append(f"{path}: macro {macro.name} applies to every template but fills {key!r}, which {shown} "
                           "do not have; list the templates it is for (templates = [...])")
                break
    return out
