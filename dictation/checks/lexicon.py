"""The data the clinical checks run on, from vocab/ (edited by reporting leads).

- ``critical_findings.toml``: critical and actionable findings with synonyms, abbreviations, the
  ACR actionable-finding category and the communication deadline;
- ``observations.toml``: other findings the checks recognise (nodules, effusions...);
- ``context_rules.toml``: ConText rules (negated, uncertain, historical, hypothetical, family);
- ``anatomy.toml``: laterality words, sex-specific anatomy, imaging modalities, follow-up words.

Every file is validated with pydantic (unknown keys rejected) and errors name the file and line.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dictation.data.files import line_of, parse_toml, read_text
from dictation.data.resources import data_dir, site_vocab, vocab_file
from dictation.errors import DataFileError

CONTEXT_CATEGORIES = ("NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "PROBABLE_EXISTENCE", "HISTORICAL", "HYPOTHETICAL", "FAMILY")
DIRECTIONS = ("FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(_Strict):
    label: str
    deadline_minutes: int = Field(gt=0)


class Finding(_Strict):
    name: str
    category: Literal[1, 2, 3]
    terms: list[str] = Field(min_length=1)
    abbreviations: list[str] = []
    patterns: list[list[dict[str, Any]]] = []
    regions: list[str] = []
    action: str
    deadline_minutes: int | None = Field(default=None, gt=0)
    covers: list[str] = []

    @field_validator("terms", "abbreviations")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        for v in value:
            if not v.strip():
                raise ValueError("empty phrase")
        return value


class Observation(_Strict):
    name: str
    terms: list[str] = Field(min_length=1)
    abbreviations: list[str] = []
    exclude: list[str] = []


class ContextRuleSpec(_Strict):
    category: Literal["NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "PROBABLE_EXISTENCE", "HISTORICAL", "HYPOTHETICAL", "FAMILY"]
    direction: Literal["FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO"]
    phrases: list[str] = Field(min_length=1)
    max_scope: int | None = Field(default=None, gt=0)
    new_clause: bool = False


class CriticalFile(_Strict):
    category: dict[Literal["1", "2", "3"], Category]
    finding: list[Finding] = Field(min_length=1)


class ObservationFile(_Strict):
    observation: list[Observation] = []


class ContextFile(_Strict):
    rule: list[ContextRuleSpec] = Field(min_length=1)


class Laterality(_Strict):
    left: list[str]
    right: list[str]
    bilateral: list[str]


class Sex(_Strict):
    female: list[str]
    male: list[str]


class FollowUp(_Strict):
    triggers: list[str]
    imaging: list[str]
    modalities: list[str]
    intervals: list[str]
    no_imaging: list[str] = []


class AnatomyFile(_Strict):
    laterality: Laterality
    sex: Sex
    followup: FollowUp
    confirm_words: list[str]
    nodule_types: dict[Literal["solid", "part_solid", "ground_glass"], list[str]]
    multiple_words: list[str]


def expand(phrase: str) -> list[str]:
    """``"{is|are} not seen"`` → ``["is not seen", "are not seen"]`` (any number of groups)."""
    parts = re.split(r"(\{[^{}]*\})", phrase)
    choices = [p[1:-1].split("|") if p.startswith("{") else [p] for p in parts]
    return [re.sub(r"\s+", " ", "".join(c)).strip() for c in itertools.product(*choices)]


def _load(path: Path, model: type[BaseModel]) -> Any:
    data, text = parse_toml(path)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        # A misspelt key first: it is the likely cause of a "required" error beside it.
        err = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
        loc = [str(x) for x in err["loc"]]
        line = None
        where = ".".join(loc)
        after = 0
        if len(loc) >= 2 and loc[1].isdigit() and isinstance(data.get(loc[0]), list):
            item = data[loc[0]][int(loc[1])]
            label = item.get("name") if isinstance(item, dict) else None
            where = f'[[{loc[0]}]] {label!r}' if isinstance(label, str) else f"[[{loc[0]}]] number {int(loc[1]) + 1}"
            if isinstance(label, str):
                line = _line_of_value(text, label)
                after = text.find(f'"{label}"')
            if len(loc) > 2:
                where += " " + ".".join(loc[2:])
        key = loc[-1]
        if not key.isdigit():
            found = line_of(text[max(after, 0):], key)
            if found is not None:
                line = text.count("\n", 0, max(after, 0)) + found
        message = f"unknown key {key!r}" if err["type"] == "extra_forbidden" else err["msg"]
        raise DataFileError(path, line, f"{where}: {message}") from None


def _line_of_value(text: str, value: str) -> int | None:
    i = text.find(f'"{value}"')
    return text.count("\n", 0, i) + 1 if i >= 0 else None


@dataclass(frozen=True)
class ClinicalLexicon:
    categories: dict[int, Category]
    findings: list[Finding]
    observations: list[Observation]
    context: list[ContextRuleSpec]
    anatomy: AnatomyFile
    folder: Path

    def finding(self, name: str) -> Finding | None:
        return next((f for f in self.findings if f.name == name), None)

    def deadline(self, finding: Finding) -> int:
        return finding.deadline_minutes or self.categories[finding.category].deadline_minutes


def load_clinical_lexicon(folder: Path | None = None) -> ClinicalLexicon:
    def where(name: str) -> Path:  # a folder given: its files; else the site's file or the built-in
        return Path(folder) / name if folder else vocab_file(name)

    crit: CriticalFile = _load(where("critical_findings.toml"), CriticalFile)
    obs: ObservationFile = _load(where("observations.toml"), ObservationFile)
    ctx: ContextFile = _load(where("context_rules.toml"), ContextFile)
    anatomy: AnatomyFile = _load(where("anatomy.toml"), AnatomyFile)
    path = where("critical_findings.toml")
    text = read_text(path)
    seen: dict[str, str] = {}
    for f in crit.finding:
        if f.name in seen:
            raise DataFileError(path, _line_of_value(text, f.name), f"finding {f.name!r} is listed twice")
        seen[f.name] = f.name
    for f in crit.finding:
        for other in f.covers:
            if other not in seen:
                raise DataFileError(path, _line_of_value(text, f.name), f"{f.name!r} covers {other!r}, which is not a finding")
    owner: dict[str, str] = {}
    for f in crit.finding:
        for term in f.terms:
            other = owner.setdefault(term.lower(), f.name)
            if other != f.name:
                raise DataFileError(path, _line_of_value(text, term), f"term {term!r} belongs to both {other!r} and {f.name!r}")
    _check_context(where("context_rules.toml"), ctx)
    return ClinicalLexicon(
        categories={int(k): v for k, v in crit.category.items()},
        findings=list(crit.finding),
        observations=list(obs.observation),
        context=list(ctx.rule),
        anatomy=anatomy,
        folder=where("critical_findings.toml").parent,
    )


def _check_context(path: Path, ctx: ContextFile) -> None:
    """One phrase, one meaning: the same phrase twice in a category with two directions (or in
    two categories with the same direction twice) would make the result depend on file order."""
    text = read_text(path)
    seen: dict[tuple[str, str], str] = {}
    for spec in ctx.rule:
        for phrase in spec.phrases:
            for literal in expand(phrase):
                key = (spec.category, literal.lower())
                other = seen.setdefault(key, spec.direction)
                if other != spec.direction:
                    raise DataFileError(path, _line_of_value(text, phrase), f"{literal!r} is a {spec.category} rule both {other} and {spec.direction}; keep one")


def default_clinical_lexicon() -> ClinicalLexicon:
    """The lexicon of the vocabulary folder in use (read once per folder and process)."""
    return _lexicon_of(data_dir("vocab"), site_vocab())


@cache
def _lexicon_of(builtin: Path, site: Path | None) -> ClinicalLexicon:
    """Read once per pair of folders in use (the arguments key the cache; the loader finds the
    same files through ``vocab_file``)."""
    return load_clinical_lexicon()
