"""`radscribe check FILE... [--template ID] [--json]`: the command line contract."""

import json

from click.testing import CliRunner

from dictation.cli import main

CRITICAL = """INDICATION: Chest pain, evaluate for aortic dissection.

FINDINGS: Intimal flap in the descending thoracic aorta consistent with aortic dissection. No pneumothorax.

IMPRESSION: Type B aortic dissection.
"""
CLEAN = """INDICATION: Cough.

FINDINGS: The lungs are clear. No pleural effusion or pneumothorax.

IMPRESSION: No acute cardiopulmonary abnormality.
"""


def run(*args):
    return CliRunner().invoke(main, ["check", *args])


def test_json_is_one_object_per_file_per_line_in_order(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(CRITICAL)
    b.write_text(CLEAN)
    done = run(str(a), str(b), "--json")
    assert done.exit_code == 1  # a file has a critical flag
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [x["path"] for x in lines] == [str(a), str(b)]
    (flag,) = [f for f in lines[0]["flags"] if f["kind"] == "critical_finding"]
    assert flag["finding"] == "aortic dissection" and flag["section"] == "findings"
    assert CRITICAL[flag["start"]:flag["end"]].lower() == "aortic dissection"
    for key in ("kind", "severity", "finding", "text", "start", "end", "section", "acr_category", "deadline_minutes", "action", "context"):
        assert key in flag
    assert lines[1]["flags"] == []


def test_exit_zero_when_nothing_needs_a_look(tmp_path):
    clean = tmp_path / "clean.txt"
    clean.write_text(CLEAN)
    done = run(str(clean))
    assert done.exit_code == 0 and "no flags" in done.stdout


def test_human_output_names_line_and_column_and_what_to_do(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text(CRITICAL)
    done = run(str(path))
    line = next(x for x in done.stdout.splitlines() if "critical_finding" in x)
    assert line.strip().startswith("3:") and "ACR category 1" in line and "communicate within 1 hour" in line
    assert "→ Call the ordering clinician" in done.stdout


def test_template_brings_its_required_sections_and_sex(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("FINDINGS: Normal ovaries.\n\nIMPRESSION: Normal.\n")
    done = run(str(path), "--template", "us-scrotum", "--json")
    kinds = {f["kind"] for f in json.loads(done.stdout)["flags"]}
    assert {"sex_mismatch", "missing_section"} <= kinds


def test_bad_input_is_a_one_line_error_and_exit_2(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(CLEAN)
    missing = run(str(good), str(tmp_path / "nope.txt"))
    assert missing.exit_code == 2 and "nope.txt: file not found" in missing.output
    assert missing.output.strip().count("\n") == 0 and "Traceback" not in missing.output
    binary = tmp_path / "scan.dcm"
    binary.write_bytes(b"\x00\xff\xfe" * 50)
    assert run(str(binary)).exit_code == 2
    unknown = run(str(good), "--template", "ct-haed")
    assert unknown.exit_code == 2 and "ct-head" in unknown.output
