"""The application log: what happened, for support, without patient data.

One file, ``radscribe.log`` in the user log folder (or ``$RADSCRIBE_LOG``), created readable by
its owner only and rotated at 1 MB (three kept). What goes in it is chosen, not filtered: report
ids (random), utterance numbers and kinds, statuses, destinations and outcomes, message control
ids, reader ids, timings. Never a patient name or id, an accession, a date of birth, or report or
dictated text — tests/unit/test_logs.py runs a whole night through and looks for them.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

ENV = "RADSCRIBE_LOG"
log = logging.getLogger("radscribe")


def log_path() -> Path:
    override = os.environ.get(ENV)
    if override:
        return Path(override)
    from platformdirs import user_log_dir

    return Path(user_log_dir("radscribe", appauthor=False)) / "radscribe.log"


def setup_logging(path: Path | None = None, level: int = logging.INFO) -> Path | None:
    """Send the radscribe logger to the log file (owner-only). Returns the path, or None when the
    file cannot be written (logging then stays off: it must never stop dictation)."""
    path = Path(path) if path else log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for old in [h for h in log.handlers if getattr(h, "_radscribe", False)]:
        log.removeHandler(old)
        old.close()
    handler._radscribe = True  # type: ignore[attr-defined]  # marks our handler, to replace it on a second setup
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    return path
