"""radscribe's dictation engine, importable without the terminal UI.

Subpackages read as the data flow: ``speech`` (audio, segmenter, recogniser, live session),
``text`` (spoken → written, corrections), ``reporting`` (templates, the report, commands, the
controller), ``checks`` (the clinical pass), ``store`` (all persistence), ``ris`` (HL7, FHIR,
DICOM SR, the outbox, orders), ``practice`` (facilities, licences, review, statistics), ``data``
(data files), ``cli`` (the ``radscribe`` command). ``workstation`` is the one composition root;
``errors`` the whole exception tree; ``testing`` the fakes for unit tests.

The names below are the public API; each is imported on first use, so ``import dictation`` stays
cheap (the speech model and spaCy load only when asked for).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("radscribe")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_PUBLIC = {
    "Checker": "dictation.checks",
    "Flag": "dictation.checks",
    "DictationSession": "dictation.speech.session",
    "Recognizer": "dictation.speech.recognizer",
    "Report": "dictation.reporting.report",
    "ReportController": "dictation.reporting.controller",
    "TemplateLibrary": "dictation.reporting.templates",
    "Store": "dictation.store",
    "Workstation": "dictation.workstation",
    "RadscribeError": "dictation.errors",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'dictation' has no attribute {name!r}")
