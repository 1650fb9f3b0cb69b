"""Rendering a report through its template's Jinja2 body.

Bodies are written by reporting leads, so they run in Jinja2's sandbox with StrictUndefined: a
misspelt name is an error, never a silently empty line. Each section is a ``SectionView``:
``{{ findings }}`` prints its text (for a section with fields, one "Title: text" line per
filled field), ``{{ findings.lungs }}`` one field, ``{% if comparison %}`` is false when the
section is empty, ``findings.filled`` lists the filled fields. After rendering, trailing spaces
go and runs of blank lines collapse to one, so empty optional sections vanish cleanly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from dictation.errors import DataFileError
from dictation.reporting.templates import Template, TemplateSection


@dataclass(frozen=True)
class FieldView:
    key: str
    title: str
    text: str

    def __str__(self) -> str:
        return self.text

    def __bool__(self) -> bool:
        return bool(self.text)


class SectionView:
    """What a template body sees for one section."""

    def __init__(self, section: TemplateSection, text: str, fields: Mapping[str, str]) -> None:
        self.key = section.key
        self.title = section.title
        self._own = text
        self.fields = [FieldView(f.key, f.title, fields.get(f.key, "")) for f in section.fields]
        self._by_key = {f.key: f for f in self.fields}

    @property
    def filled(self) -> list[FieldView]:
        return [f for f in self.fields if f.text]

    @property
    def text(self) -> str:
        if not self.fields:
            return self._own
        parts = [f"{f.title}: {f.text}" for f in self.filled]
        return "\n".join(parts)

    @property
    def empty(self) -> bool:
        return not self.text

    def __getitem__(self, key: str) -> FieldView:
        return self._by_key[key]

    def __str__(self) -> str:
        return self.text

    def __bool__(self) -> bool:
        return bool(self.text)


@cache
def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                keep_trailing_newline=True, autoescape=False)


@lru_cache(maxsize=256)
def _compiled(body: str) -> Any:
    """A body compiled once (Jinja2's from_string compiles on every call; a signing renders the
    report several times). Keyed on the text, so an edited template file is compiled anew."""
    return environment().from_string(body)


def compile_body(template: Template) -> Any:
    try:
        return _compiled(template.body)
    except TemplateSyntaxError as e:
        line = template.body_line + (e.lineno or 1) - 1
        raise DataFileError(template.path, line, f"Jinja2 syntax: {e.message}") from None


def tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return out + "\n" if out else ""


def render(template: Template, sections: Mapping[str, str], fields: Mapping[str, Mapping[str, str]],
           *, status: str = "draft", exam: Mapping[str, Any] | None = None) -> str:
    """The report text from section texts and field texts (missing ones are empty)."""
    context: dict[str, Any] = {
        s.key: SectionView(s, sections.get(s.key, ""), fields.get(s.key, {})) for s in template.spec.sections
    }
    context["exam"] = {"title": template.title, "modality": template.spec.modality,
                       "body_part": template.spec.body_part, **(exam or {})}
    context["status"] = status
    context["template"] = {"id": template.id, "title": template.title}
    try:
        return tidy(compile_body(template).render(context))
    except DataFileError:
        raise
    except TemplateError as e:
        raise DataFileError(template.path, _render_error_line(template, e), f"rendering failed: {e}") from None
    except Exception as e:  # {{ findings / 2 }} and the like: the body's fault, said with its line
        raise DataFileError(template.path, _render_error_line(template, e),
                            f"rendering failed: {type(e).__name__}: {e}") from None


def _render_error_line(template: Template, e: Exception) -> int | None:
    tb = e.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return template.body_line + line - 1 if line else template.body_line


# -- what a body uses (for the linter) -------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    name: str
    attribute: str | None
    line: int  # line in the file


def body_uses(template: Template) -> list[Use]:
    """Every top-level name the body reads, and attributes read on it (``findings.lungs``)."""
    env = environment()
    ast = env.parse(template.body)
    assigned = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    uses: list[Use] = []
    attr_nodes: set[int] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        target = node.node
        if isinstance(target, nodes.Name) and target.ctx == "load" and target.name not in assigned:
            attr = node.attr if isinstance(node, nodes.Getattr) else (
                node.arg.value if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) else None)
            uses.append(Use(target.name, attr, template.body_line + node.lineno - 1))
            attr_nodes.add(id(target))
    for node in ast.find_all(nodes.Name):
        if node.ctx == "load" and node.name not in assigned and id(node) not in attr_nodes:
            uses.append(Use(node.name, None, template.body_line + node.lineno - 1))
    return uses
