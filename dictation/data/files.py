"""Loading the plain data files reporting leads edit (vocab/), with errors that name file and line.

Every file goes through one of these functions; unknown keys are rejected (a typo in a heading
must not silently switch a rule off), as medspaCy's ``ConTextRule.from_dict`` does.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dictation.errors import DataFileError


def line_of(text: str, needle: str) -> int | None:
    """The first line that mentions ``needle`` (as a key or a table heading), for messages."""
    pattern = re.compile(r'^[ \t]*(\[+[ \t]*)?"?' + re.escape(needle) + r'"?\s*(\]|=)', re.MULTILINE)
    m = pattern.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def parse_toml(path: Path) -> tuple[dict[str, Any], str]:
    """The file's TOML data and its text; a syntax error names the file and line."""
    text = read_text(path)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise DataFileError(path, int(m.group(1)) if m else None, f"not valid TOML: {str(e).split(' (at')[0]}") from None


def load_toml(path: Path, allowed: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
    """Read a TOML file whose top-level tables are ``allowed`` (name → expected type)."""
    data, text = parse_toml(path)
    for key, value in data.items():
        if key not in allowed:
            raise DataFileError(path, line_of(text, key), f"unknown section [{key}]; known: {', '.join(sorted(allowed))}")
        if not isinstance(value, allowed[key]):
            raise DataFileError(path, line_of(text, key), f"[{key}] has the wrong shape")
    data["__text__"] = text
    return data


def read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFileError(path, None, "file not found") from None
    except UnicodeDecodeError as e:
        raise DataFileError(path, None, f"not UTF-8 text ({e.reason})") from None


def require_str_map(path: Path, data: dict[str, Any], table: str) -> dict[str, str]:
    """A table of phrase → string; every value must be a string."""
    out: dict[str, str] = {}
    for key, value in data.get(table, {}).items():
        if not isinstance(value, str):
            raise DataFileError(path, line_of(data["__text__"], key), f"[{table}] {key!r} must map to text, got {value!r}")
        out[key.lower()] = value
    return out


def require_str_list(path: Path, data: dict[str, Any], table: str, key: str) -> list[str]:
    value = data.get(table, {}).get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataFileError(path, line_of(data["__text__"], key), f"[{table}] {key} must be a list of words")
    return value


def check_keys(path: Path, data: dict[str, Any], table: str, allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    for key in data.get(table, {}):
        if key not in allowed:
            raise DataFileError(path, line_of(data["__text__"], key), f"unknown key {key!r} in [{table}]; known: {', '.join(sorted(allowed))}")


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """``data`` in ``path`` whole or not at all (a temporary file, flushed to disk, renamed), owner-only by default."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".radscribe-", suffix=".tmp")  # created 0600
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
