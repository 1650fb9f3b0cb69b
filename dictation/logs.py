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
import time
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
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        handler = _OwnerOnlyHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
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


def _owner_only(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


class _OwnerOnlyHandler(logging.handlers.RotatingFileHandler):
    """Every file of the rotation is created owner-only (0600), not by the umask."""

    def _open(self):  # type: ignore[no-untyped-def]  # the stdlib's own signature
        return open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors, opener=_owner_only)


# -- anchors: the hash chains' heads, kept outside the store ---------------------------------------

def anchors_path() -> Path:
    """Beside the log, never rotated (one short line per signing)."""
    return log_path().with_name("radscribe-anchors.log")


def write_anchor(store: str, audit_id: int, audit_hash: str, versions: int, versions_hash: str) -> None:
    """The store's chain heads, after a signing: ``radscribe audit --verify`` compares them with
    the chain later. ``store`` is the store's ``anchor_key`` (the SQLite file's full path, or the
    PostgreSQL URL without secrets). Never stops a signing: a file that cannot be written is logged."""
    line = f"{time.time():.3f}\t{store}\taudit\t{audit_id}\t{audit_hash}\tversions\t{versions}\t{versions_hash}\n"
    try:
        path = anchors_path()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8", opener=_owner_only) as f:
            f.write(line)
    except OSError as e:
        log.warning("chain anchor not written (%s)", type(e).__name__)


def read_anchors(store: str) -> list[tuple[int, str]]:
    """The (audit id, hash) anchors recorded for ``store``, oldest first."""
    try:
        text = anchors_path().read_text(encoding="utf-8")
    except OSError:
        return []
    want = store
    out = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 8 and parts[1] == want and parts[3].isdigit():
            out.append((int(parts[3]), parts[4]))
    return out
