"""Report templates: one file per template, YAML front matter for the structure, a Jinja2 body.

A template file (``templates/<id>.j2``) looks like this::

    ---
    id: xr-chest
    title: Chest radiograph
    modality: DX
    sections:
      - key: findings
        title: Findings
        loinc: 59776-5
        required: true
        fields:
          - key: lungs
            title: Lungs
            default: The lungs are clear.
    ---
    FINDINGS:
    Lungs: {{ findings.lungs }}

The structure is validated by pydantic models (unknown keys are errors: a typo must not
silently switch something off) and every problem is reported with the file and line it comes
from, which ruamel.yaml keeps for each key. ``TemplateLibrary`` finds templates in the built-in
folder and in site folders, a site template replacing a built-in one with the same id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator
from pydantic import Field as PydanticField
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from dictation.data.files import read_text
from dictation.data.resources import data_dir
from dictation.errors import DataFileError, TemplateNotFound

SUFFIX = ".j2"
_FRONT = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", re.DOTALL)

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
TemplateId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
Text = Annotated[str, StringConstraints(min_length=1)]

# Attributes the body can use on a section besides its fields (field keys may not shadow them).
SECTION_ATTRIBUTES = frozenset({"text", "title", "key", "fields", "filled", "empty"})
# Names a template body can use besides its section keys.
BODY_GLOBALS = frozenset({"exam", "status", "template"})
# DICOM modality codes (PS3.3 C.7.3.1.1.1) a radiology template can declare.
MODALITIES = ("CR", "DX", "CT", "MR", "US", "MG", "NM", "PT", "XA", "RF", "OT")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemplateField(_Model):
    """A field inside a section: one slot of text, optionally chosen from a pick list."""

    key: Key
    title: Text
    spoken: list[Text] = []
    anatomy: list[Text] = []  # words that route a sentence here ("heart", "cardiac", ...)
    options: list[Text] = []  # pick list ("mild", "moderate", "severe")
    default: str | None = None
    required: bool = False

    @field_validator("key")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in SECTION_ATTRIBUTES:
            raise ValueError(f"{v!r} is reserved (a section already has .{v}); choose another key")
        return v


class TemplateSection(_Model):
    key: Key
    title: Text
    spoken: list[Text] = []
    loinc: str | None = None
    required: bool = False
    default: str | None = None
    fields: list[TemplateField] = []


class Codes(_Model):
    cpt: list[str] = []
    loinc: list[str] = []
    radlex: list[str] = []


class AppliesTo(_Model):
    sex: Literal["any", "female", "male"] = "any"
    age_min: Annotated[int, PydanticField(ge=0, le=130)] | None = None
    age_max: Annotated[int, PydanticField(ge=0, le=130)] | None = None


class TemplateSpec(_Model):
    id: TemplateId
    title: Text
    modality: Literal[MODALITIES]  # type: ignore[valid-type]  # a Literal built from the tuple: pydantic checks it
    body_part: Text
    group: str | None = None  # lexicon group for the recognition prompt (chest, neuro, ...)
    codes: Codes = Codes()
    applies_to: AppliesTo = AppliesTo()
    sections: Annotated[list[TemplateSection], PydanticField(min_length=1)]


@dataclass(frozen=True)
class Slot:
    """Somewhere text can go: a field, or a section without fields."""

    section: TemplateSection
    field: TemplateField | None

    @property
    def key(self) -> str:
        return f"{self.section.key}.{self.field.key}" if self.field else self.section.key

    @property
    def title(self) -> str:
        return f"{self.section.title} › {self.field.title}" if self.field else self.section.title

    @property
    def default(self) -> str | None:
        return self.field.default if self.field else self.section.default

    @property
    def options(self) -> list[str]:
        return self.field.options if self.field else []

    @property
    def required(self) -> bool:
        return self.field.required if self.field else self.section.required

    def spoken_names(self) -> list[str]:
        names = [self.field.title, *self.field.spoken] if self.field else [self.section.title, *self.section.spoken]
        return _unique(n.lower() for n in names)


@dataclass(frozen=True)
class Template:
    spec: TemplateSpec
    body: str
    path: Path
    body_line: int  # line of the file where the body starts (for error messages)
    lines: dict[tuple[Any, ...], int]  # YAML path → line, for messages about the structure

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def title(self) -> str:
        return self.spec.title

    @cached_property
    def slots(self) -> list[Slot]:
        out: list[Slot] = []
        for s in self.spec.sections:
            if s.fields:
                out.extend(Slot(s, f) for f in s.fields)
            else:
                out.append(Slot(s, None))
        return out

    def slot(self, key: str) -> Slot:
        for s in self.slots:
            if s.key == key:
                return s
        raise KeyError(key)

    def section(self, key: str) -> TemplateSection:
        for s in self.spec.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    def targets(self) -> dict[str, str]:
        """Spoken name → slot key (a section name → its first slot), for "go to <target>"."""
        out: dict[str, str] = {}
        for s in self.spec.sections:
            first = f"{s.key}.{s.fields[0].key}" if s.fields else s.key
            for name in [s.title, *s.spoken]:
                out.setdefault(name.lower(), first)
        for slot in self.slots:
            if slot.field:
                for name in slot.spoken_names():
                    out.setdefault(name, slot.key)
        return out

    def line(self, *path: Any) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# -- reading a file ----------------------------------------------------------------------------


def _yaml_lines(node: Any, path: tuple[Any, ...] = (), offset: int = 0) -> Iterator[tuple[tuple[Any, ...], int]]:
    """Every key and list item of a ruamel.yaml document with its 1-based line in the file."""
    lc = getattr(node, "lc", None)
    if isinstance(node, dict):
        for k, v in node.items():
            if lc is not None:
                try:
                    yield path + (k,), lc.key(k)[0] + 1 + offset
                except (KeyError, TypeError):
                    pass
            yield from _yaml_lines(v, path + (k,), offset)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if lc is not None:
                try:
                    yield path + (i,), lc.item(i)[0] + 1 + offset
                except (KeyError, TypeError, IndexError):
                    pass
            yield from _yaml_lines(v, path + (i,), offset)


def load_template(path: str | Path) -> Template:
    """Read and validate one template file's structure (the linter checks the rest)."""
    path = Path(path)
    text = read_text(path)
    m = _FRONT.match(text)
    if not m:
        raise DataFileError(path, 1, "a template starts with a '---' line, its YAML definition, then another '---' line and the Jinja2 body")
    front = m.group(1)
    try:
        data = YAML(typ="rt").load(front)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 2 if mark is not None else None
        raise DataFileError(path, line, f"not valid YAML: {e.problem or e.context}") from None
    if not isinstance(data, dict):
        raise DataFileError(path, 2, "the part between the '---' lines must be a YAML mapping (id:, title:, sections:, ...)")
    lines = dict(_yaml_lines(data, offset=1))
    try:
        spec = TemplateSpec.model_validate(_plain(data))
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc) or "template"
        line = _line_for(lines, loc)
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise DataFileError(path, line, f"{where}: {_pydantic_message(err)}{more}") from None
    body_line = text.count("\n", 0, m.end()) + 1
    return Template(spec, text[m.end():], path, body_line, lines)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def _line_for(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return 2


def _pydantic_message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see templates/README.md for the keys)"
    if kind == "literal_error":
        return str(err["msg"]).replace("Input should be", "must be")
    if kind == "string_pattern_mismatch":
        return "must be lower-case letters, digits, and '_' (ids: '-')"
    msg = str(err["msg"])
    return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg[0].lower() + msg[1:]


# -- finding templates -----------------------------------------------------------------------------




class TemplateLibrary:
    """Templates by id from the built-in folder and site folders (a site template wins)."""

    def __init__(self, folders: Iterable[Path] | None = None) -> None:
        builtin = data_dir("templates")
        self.folders = [builtin, *[Path(f) for f in (folders or [])]]
        self._paths: dict[str, Path] = {}
        for folder in self.folders:
            if not folder.is_dir():
                raise DataFileError(folder, None, "template folder not found (check [templates] folders in the config)")
            for path in sorted(folder.glob(f"*{SUFFIX}")):
                self._paths[path.stem] = path  # later folders override earlier ones by id
        self._loaded: dict[str, Template] = {}

    def ids(self) -> list[str]:
        return sorted(self._paths)

    def path(self, template_id: str) -> Path:
        return self._paths[template_id]

    def get(self, template_id: str) -> Template:
        if template_id not in self._paths:
            from rapidfuzz import process

            close = [m for m, score, _ in process.extract(template_id, self.ids(), limit=3) if score >= 50]
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise TemplateNotFound(f"no template {template_id!r}{hint} (`radscribe templates list` shows them all)")
        if template_id not in self._loaded:
            template = load_template(self._paths[template_id])
            if template.id != template_id:
                raise DataFileError(template.path, template.line("id"), f"id {template.id!r} does not match the file name {template_id}{SUFFIX}")
            self._loaded[template_id] = template
        return self._loaded[template_id]

    def __iter__(self) -> Iterator[Template]:
        for template_id in self.ids():
            yield self.get(template_id)

    def loadable(self) -> list[Template]:
        """Every template that loads (the broken ones are `radscribe templates check`'s to report)."""
        out = []
        for template_id in self.ids():
            try:
                out.append(self.get(template_id))
            except DataFileError:
                continue
        return out
