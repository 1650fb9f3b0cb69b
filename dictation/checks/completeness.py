"""Completeness: empty required sections, no impression, empty required fields, defaults never
accepted, leftover placeholders."""

from __future__ import annotations

import re

from dictation.checks.document import CheckDocument
from dictation.checks.flags import Flag

_PLACEHOLDER = re.compile(r"\[[^\]\n]{0,40}\]|_{3,}|\bX{3,}\b|\*{3,}|<[^<>\n]{1,40}>|\{\{[^}]*\}\}|\?{3,}")
_DEFAULT_REQUIRED = ("findings", "impression")


def completeness_flags(doc: CheckDocument) -> list[Flag]:
    flags: list[Flag] = []
    template = doc.template
    if template is not None:
        required = [(s.key, s.title) for s in template.spec.sections if s.required]
        if not any(k == "impression" for k, _ in required) and any(s.key == "impression" for s in template.spec.sections):
            required.append(("impression", "Impression"))
    else:
        # Plain text without a template: a report needs findings and an impression, but only
        # when it is sectioned at all (a single sentence is checked for findings alone).
        headed = any(p.section != "findings" for p in doc.parts)
        required = [(k, k.title()) for k in _DEFAULT_REQUIRED] if headed else []
    for key, title in required:
        if doc.section_text(key):
            continue
        anchor = next((p for p in doc.parts if p.section == key), None)
        message = "No impression: dictate one before signing" if key == "impression" else f"The required section {title} is empty"
        flags.append(
            Flag(
                kind="missing_section",
                severity="warning",
                message=message,
                section=key,
                start=anchor.start if anchor else None,
                end=anchor.end if anchor else None,
                action=f"Dictate \"go to {title.lower()}\" and fill it in.",
            )
        )
    if template is not None:
        for slot in template.slots:
            if slot.field is None or not slot.field.required:
                continue
            part = next((p for p in doc.parts if p.slot == slot.key), None)
            if part is not None and not doc.text[part.start:part.end].strip():
                flags.append(
                    Flag(
                        kind="missing_field",
                        severity="warning",
                        message=f"The required field {slot.title} is empty",
                        section=slot.section.key,
                        slot=slot.key,
                        start=part.start,
                        end=part.end,
                        action=f"Dictate it, or say \"normal {slot.field.title.lower()}\".",
                    )
                )
        for key in doc.unaccepted_defaults:
            try:
                slot = template.slot(key)
            except KeyError:
                continue
            flags.append(
                Flag(
                    kind="default_not_accepted",
                    severity="info",
                    message=f"{slot.title}: default text not accepted (left out of the report)",
                    section=slot.section.key,
                    slot=key,
                    text=slot.default or "",
                    action="Say \"accept defaults\" (all) or \"normal <field>\" (one), or dictate it.",
                )
            )
    for part in doc.parts:
        body = doc.text[part.start:part.end]
        for m in _PLACEHOLDER.finditer(body):
            flags.append(
                Flag(
                    kind="placeholder",
                    severity="warning",
                    message=f"Leftover placeholder {m.group(0)!r}",
                    text=m.group(0),
                    start=part.start + m.start(),
                    end=part.start + m.end(),
                    section=part.section,
                    slot=part.slot,
                    action="Replace it with what you mean, or delete it.",
                )
            )
    return flags
