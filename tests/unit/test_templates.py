"""Templates: the built-ins pass the linter and render; each broken template names file and line."""

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from dictation.cli import main
from dictation.data.resources import data_dir
from dictation.errors import DataFileError, TemplateNotFound
from dictation.reporting.lint import check_paths, loinc_valid
from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary, load_template

REQUIRED_IDS = {"generic", "xr-chest", "ct-head", "cta-chest-pe", "ct-abdomen-pelvis", "ct-cervical-spine", "mr-brain",
                "mr-lumbar-spine", "us-abdomen", "us-pelvis", "us-scrotum", "us-venous-lower-extremity",
                # what a musculoskeletal reading group reads
                "mr-knee", "mr-shoulder", "mr-hip", "mr-ankle", "mr-wrist", "mr-cervical-spine"}
DATA = Path(__file__).parent.parent / "data" / "templates"

GOOD = """\
---
id: {id}
title: Test
modality: CT
body_part: HEAD
sections:
  - key: findings
    title: Findings
    loinc: 59776-5
    required: true
    fields:
      - key: liver
        title: Liver
        default: Normal.
  - key: impression
    title: Impression
    required: true
---
FINDINGS:
Liver: {{{{ findings.liver }}}}
IMPRESSION: {{{{ impression }}}}
"""


def test_every_required_template_exists_passes_the_linter_and_renders():
    library = TemplateLibrary()
    assert set(library.ids()) >= REQUIRED_IDS
    checked, problems = check_paths([data_dir("templates")])
    assert [str(p) for p in problems] == []
    assert len(checked) == len(library.ids())
    for t in library:
        full = Report.new(t).render(with_unaccepted=True)
        empty = Report.new(t).render()
        assert "{{" not in full and "\n\n\n" not in full and "\n\n\n" not in empty
        for slot in t.slots:  # every default shows up when accepted
            if slot.default:
                assert slot.default in full, (t.id, slot.key)
        assert not any(slot.default and slot.default in empty for slot in t.slots), t.id


@pytest.mark.parametrize("template_id,fields", [
    ("xr-chest", {"lungs", "pleura", "heart_mediastinum", "bones", "lines_tubes"}),
    ("ct-head", {"hemorrhage", "parenchyma", "ventricles", "extra_axial", "mass_effect", "calvarium"}),
    ("ct-abdomen-pelvis", {"liver", "biliary", "pancreas", "spleen", "adrenals", "kidneys", "bowel", "appendix", "bladder"}),
])
def test_findings_have_fields_by_organ(template_id, fields):
    t = TemplateLibrary().get(template_id)
    assert fields <= {f.key for f in t.section("findings").fields}


def test_section_codes_are_the_loinc_section_codes():
    for t in TemplateLibrary():
        codes = {s.key: s.loinc for s in t.spec.sections}
        assert codes["findings"] == "59776-5" and codes["impression"] == "19005-8", t.id


def test_loinc_check_digit():
    assert loinc_valid("59776-5") and loinc_valid("19005-8") and loinc_valid("36643-5")
    assert not loinc_valid("59776-4") and not loinc_valid("5977x-5") and not loinc_valid("59776")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def lint_one(tmp_path, text, name="t-one.j2"):
    write(tmp_path, name, text)
    _, problems = check_paths([tmp_path])
    return [(p.line, p.message) for p in problems]


def test_a_good_template_has_no_problems(tmp_path):
    assert lint_one(tmp_path, GOOD.format(id="t-one")) == []


BROKEN = [
    # (what, replace this, with this, expected line, words in the message)
    ("unknown key", "    required: true\n    fields:", "    required: true\n    colour: red\n    fields:", 11, "unknown key"),
    ("missing title", "title: Test\n", "", 2, "title: is required"),
    ("bad modality", "modality: CT", "modality: XX", 4, "modality"),
    ("bad section loinc", "loinc: 59776-5", "loinc: 59776-4", 9, "check digit"),
    ("duplicate section", "  - key: impression", "  - key: findings", 15, "used twice"),
    ("undeclared variable", "IMPRESSION: {{ impression }}", "IMPRESSION: {{ impresion }}", 21, "'impresion'"),
    ("undeclared field", "Liver: {{ findings.liver }}", "Liver: {{ findings.livr }}", 20, "no field 'livr'"),
    ("required section not in body", "IMPRESSION: {{ impression }}", "", 15, "required section 'impression'"),
    ("jinja syntax", "IMPRESSION: {{ impression }}", "{% if impression %}", 21, "Jinja2 syntax"),
    ("yaml syntax", "title: Test", "title: [Test", 4, "not valid YAML"),
    ("reserved field key", "- key: liver", "- key: text", 12, "reserved"),
    ("spoken name that is a command", "        title: Liver", "        title: Liver\n        spoken: [next field]", 14,
     "itself the voice command 'next_field'"),
    ("spoken names alike", "        default: Normal.", "        default: Normal.\n      - key: livers\n        title: Livers", 15,
     "sound alike"),
    ("pick-list default", "        default: Normal.", "        options: [mild, severe]\n        default: moderate", 15,
     "not one of its options"),
]


@pytest.mark.parametrize("what,old,new,line,words", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_templates_name_file_line_and_problem(tmp_path, what, old, new, line, words):
    text = GOOD.format(id="t-one")
    assert old in text
    problems = lint_one(tmp_path, text.replace(old, new, 1))
    assert any(words in message for _, message in problems), problems
    assert any(found == line for found, message in problems if words in message), problems


def test_codes_are_checked(tmp_path):
    text = GOOD.format(id="t-one").replace("body_part: HEAD\n", 'body_part: HEAD\ncodes:\n  cpt: ["7045"]\n  loinc: ["30799-2"]\n  radlex: ["RP123"]\n')
    messages = [m for _, m in lint_one(tmp_path, text)]
    assert any("CPT code '7045'" in m for m in messages)
    assert any("LOINC code '30799-2'" in m for m in messages)
    assert any("RadLex code 'RP123'" in m for m in messages)


def test_ids_are_unique_and_match_the_file_name(tmp_path):
    write(tmp_path, "t-one.j2", GOOD.format(id="t-one"))
    write(tmp_path, "t-two.j2", GOOD.format(id="t-one"))
    _, problems = check_paths([tmp_path])
    messages = [p.message for p in problems]
    assert any("also used by" in m for m in messages)
    assert any("must be named t-one.j2" in m for m in messages)


def test_no_front_matter_is_an_error_with_a_line(tmp_path):
    path = write(tmp_path, "t-one.j2", "FINDINGS: {{ findings }}\n")
    with pytest.raises(DataFileError) as e:
        load_template(path)
    assert e.value.line == 1 and "starts with a '---' line" in str(e.value)


def test_site_folder_overrides_a_builtin_by_id(tmp_path):
    site = GOOD.format(id="ct-head").replace("title: Test", "title: Site CT head")
    write(tmp_path, "ct-head.j2", site)
    library = TemplateLibrary([tmp_path])
    assert library.get("ct-head").title == "Site CT head"
    assert library.get("xr-chest").title.startswith("XR Chest")
    assert TemplateLibrary().get("ct-head").title != "Site CT head"


def test_unknown_id_names_close_ids():
    with pytest.raises(TemplateNotFound) as e:
        TemplateLibrary().get("xr-chst")
    assert "xr-chest" in str(e.value)


def test_cli_templates_check_list_show(tmp_path, monkeypatch):
    monkeypatch.setenv("RADSCRIBE_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "site").mkdir()
    write(tmp_path / "site", "good-minimal.j2", (DATA / "good-minimal.j2").read_text())
    (tmp_path / "config.toml").write_text(f'[templates]\nfolders = ["{tmp_path / "site"}"]\n')
    runner = CliRunner()
    ok = runner.invoke(main, ["templates", "check"])
    built_in = len(list(data_dir("templates").glob("*.j2")))
    assert ok.exit_code == 0 and f"{built_in + 1} templates OK" in ok.output  # the site's one beside the built-ins
    listed = runner.invoke(main, ["templates", "list"])
    assert listed.exit_code == 0 and "good-minimal" in listed.output and "xr-chest" in listed.output
    shown = runner.invoke(main, ["templates", "show", "ct-head"])
    assert shown.exit_code == 0 and "No intracranial hemorrhage." in shown.output
    (tmp_path / "bad").mkdir()
    write(tmp_path / "bad", "t-one.j2", GOOD.format(id="t-one").replace("{{ impression }}", "{{ impresion }}"))
    bad = runner.invoke(main, ["templates", "check", str(tmp_path / "bad")])
    assert bad.exit_code == 1
    assert f"{tmp_path / 'bad' / 't-one.j2'}:21:" in bad.output
    missing = runner.invoke(main, ["templates", "show", "xr-chst"])
    assert missing.exit_code == 2 and "did you mean xr-chest" in missing.output


@pytest.mark.parametrize("template_id, sentence, field", [
    ("mr-knee", "Horizontal tear of the posterior horn of the medial meniscus.", "findings.medial_meniscus"),
    ("mr-knee", "Complete tear of the anterior cruciate ligament.", "findings.cruciates"),
    ("mr-knee", "Small joint effusion with a popliteal cyst.", "findings.joint"),
    ("mr-knee", "Bone contusion of the lateral femoral condyle.", "findings.bones"),
    ("mr-shoulder", "Full thickness tear of the supraspinatus tendon with retraction.", "findings.rotator_cuff"),
    ("mr-shoulder", "Anteroinferior labral tear, Bankart lesion.", "findings.labrum"),
    ("mr-hip", "Anterosuperior labral tear with a paralabral cyst.", "findings.labrum"),
    ("mr-ankle", "Complete tear of the anterior talofibular ligament.", "findings.ligaments"),
    ("mr-ankle", "Split tear of the peroneus brevis tendon.", "findings.lateral_tendons"),
    ("mr-wrist", "Central perforation of the triangular fibrocartilage.", "findings.tfcc"),
    ("mr-cervical-spine", "At C5-C6 a disc osteophyte complex narrows the canal.", "findings.levels"),
    ("mr-cervical-spine", "Increased T2 signal in the spinal cord at C4.", "findings.cord"),
])
def test_a_dictated_msk_sentence_lands_in_its_field(template_id, sentence, field):
    template = TemplateLibrary().get(template_id)
    report = Report.new(template)
    assert report.go_to(next(s.key for s in template.slots if s.section.key == "findings")).ok
    # on the first field of the findings, the words choose the field (as in a session)
    report.dictate(sentence, route=True)
    assert report.slot_text(field) == sentence


def test_a_procedure_code_on_two_templates_is_refused(tmp_path):
    """An order chooses its template by procedure code: one code on two templates is ambiguous."""
    for tid in ("t-one", "t-two"):
        write(tmp_path, f"{tid}.j2", GOOD.format(id=tid).replace("modality:", 'codes:\n  cpt: ["73721"]\nmodality:', 1))
    _, problems = check_paths([tmp_path])
    assert [p.message for p in problems] == [
        "CPT code 73721 is also listed by template t-one: an order with it could open either; keep it on one and "
        "map the RIS's own codes in [orders] templates"]
