"""Report templates and the report a radiologist builds from them.

    templates.py    TemplateLibrary and the template schema (YAML + Jinja2 body)
    render.py       the report text from a template and its fields
    lint.py         the template linter (`radscribe templates check`)
    report.py       Report: fields, cursor, status, undo; commands applied to it
    commands.py     voice commands and macros: the parser that tells a command from dictation
    controller.py   ReportController: one utterance -> command or dictation -> stored -> checked
    versions.py     signed versions of a report, and what each version changed
"""
