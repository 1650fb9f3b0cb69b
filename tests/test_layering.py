"""The structure the architecture document describes, enforced: who may import whom, and where SQL lives."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (absolute names), at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def offenders(folder: str, forbidden: tuple[str, ...], *, except_under: str | None = None) -> list[str]:
    out = []
    for path in python_files(folder):
        rel = path.relative_to(ROOT).as_posix()
        if except_under and rel.startswith(except_under):
            continue
        bad = [m for m in imports_of(path) if any(m == f or m.startswith(f + ".") for f in forbidden)]
        if bad:
            out.append(f"{rel}: {sorted(bad)}")
    return out


def test_the_engine_imports_no_user_interface_except_the_command_that_starts_it():
    assert offenders("dictation", ("tui", "textual"), except_under="dictation/cli/") == []


def test_the_store_imports_nothing_from_the_reporting_or_text_layers():
    assert offenders("dictation/store", ("dictation.reporting", "dictation.text", "dictation.speech",
                                         "dictation.checks", "dictation.ris", "rapidfuzz")) == []


def test_nothing_in_the_product_or_the_tests_imports_a_benchmark():
    assert offenders("dictation", ("benchmarks", "tests")) == []
    assert offenders("tui", ("benchmarks", "tests")) == []
    assert offenders("tests", ("benchmarks",)) == []


def test_all_sql_lives_in_the_store():
    statements = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", ".execute(")
    found = []
    for folder in ("dictation", "tui"):
        for path in python_files(folder):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("dictation/store/"):
                continue
            text = path.read_text(encoding="utf-8")
            found += [f"{rel}: {s.strip()}" for s in statements if s in text]
    assert found == []


def test_no_module_grows_past_about_five_hundred_lines():
    long = [f"{p.relative_to(ROOT)}: {n}" for folder in ("dictation", "tui")
            for p in python_files(folder) if (n := len(p.read_text(encoding="utf-8").splitlines())) > 520]
    assert long == []
