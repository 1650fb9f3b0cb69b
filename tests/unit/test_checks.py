"""The clinical checks: lexicon and rules as data, context, completeness, consistency, follow-up."""

import json
import shutil

import pytest

from dictation.checks import Checker, Flag, fleischner, load_clinical_lexicon
from dictation.checks.document import from_report, from_text
from dictation.checks.lexicon import expand
from dictation.data.resources import data_dir
from dictation.errors import DataFileError
from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from tests.datasets import load_sentences, sentence_document

SENTENCES = load_sentences()


@pytest.fixture(scope="module")
def checker():
    return Checker()


@pytest.fixture(scope="module")
def library():
    return TemplateLibrary()


def kinds(flags, kind):
    return [f for f in flags if f.kind == kind]


# -- the data -----------------------------------------------------------------------------------

def test_the_lexicon_has_at_least_40_findings_each_with_an_acr_category_and_a_deadline():
    lex = load_clinical_lexicon()
    assert len(lex.findings) >= 40
    assert set(lex.categories) == {1, 2, 3}
    assert lex.categories[1].deadline_minutes < lex.categories[2].deadline_minutes < lex.categories[3].deadline_minutes
    for f in lex.findings:
        assert f.category in (1, 2, 3) and lex.deadline(f) > 0 and f.terms and f.action
    names = {f.name for f in lex.findings}
    for required in ("subdural hematoma", "epidural hematoma", "subarachnoid hemorrhage", "tension pneumothorax",
                     "pneumothorax", "aortic dissection", "ruptured aortic aneurysm", "pulmonary embolism",
                     "free intraperitoneal air", "bowel ischemia", "bowel obstruction", "testicular torsion",
                     "ovarian torsion", "ectopic pregnancy", "spinal cord compression", "cauda equina compression",
                     "acute ischemic stroke", "brain herniation", "midline shift", "malpositioned endotracheal tube",
                     "unstable spine fracture", "appendicitis"):
        assert required in names


def test_braces_expand_to_alternatives():
    assert expand("{is|are} not {seen|identified}") == ["is not seen", "is not identified", "are not seen", "are not identified"]
    assert expand("no pneumothorax") == ["no pneumothorax"]


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace("category = 1\n", "category = 4\n", 1), "category"),
    (lambda s: s.replace('action = "Call the ordering clinician (and neurosurgery', 'actoin = "Call the ordering clinician (and neurosurgery', 1), "actoin"),
    (lambda s: s + '\n[[finding]]\nname = "copy"\ncategory = 2\nterms = ["pneumothorax"]\naction = "x"\n', "belongs to both"),
    (lambda s: s + "\n[[finding\n", "not valid TOML"),
])
def test_a_malformed_critical_findings_file_is_one_clear_error_with_file_and_line(tmp_path, edit, message):
    folder = tmp_path / "vocab"
    shutil.copytree(data_dir("vocab"), folder)
    path = folder / "critical_findings.toml"
    path.write_text(edit(path.read_text()))
    with pytest.raises(DataFileError) as e:
        load_clinical_lexicon(folder)
    assert message in str(e.value) and "critical_findings.toml:" in str(e.value)
    assert "\n" not in str(e.value)


def test_one_phrase_in_two_directions_of_a_context_category_is_refused(tmp_path):
    folder = tmp_path / "vocab"
    shutil.copytree(data_dir("vocab"), folder)
    path = folder / "context_rules.toml"
    path.write_text(path.read_text() + '\n[[rule]]\ncategory = "NEGATED_EXISTENCE"\ndirection = "BACKWARD"\nphrases = ["without"]\n')
    with pytest.raises(DataFileError, match="'without' is a NEGATED_EXISTENCE rule both FORWARD and BACKWARD"):
        load_clinical_lexicon(folder)


def test_vocab_check_validates_the_checks_files(tmp_path):
    from click.testing import CliRunner

    from dictation.cli import main

    folder = tmp_path / "vocab"
    shutil.copytree(data_dir("vocab"), folder)
    ok = CliRunner().invoke(main, ["vocab", "check", str(folder)])
    assert ok.exit_code == 0, ok.output
    (folder / "context_rules.toml").write_text('[[rule]]\ncategory = "MAYBE"\ndirection = "FORWARD"\nphrases = ["x"]\n')
    bad = CliRunner().invoke(main, ["vocab", "check", str(folder)])
    assert bad.exit_code == 1 and "context_rules.toml" in bad.output


# -- critical findings in context -----------------------------------------------------------------

@pytest.mark.parametrize("s", SENTENCES, ids=[f"{s.label}-{i}" for i, s in enumerate(SENTENCES)])
def test_labelled_sentence(checker, s):
    flags = {f.finding: f for f in kinds(checker.check_text(sentence_document(s)), "critical_finding")}
    expected = set(s.findings) if s.label in ("affirmed", "uncertain") else set()
    assert set(flags) == expected
    if s.label == "uncertain":
        assert all(flags[name].certainty == "suspected" for name in expected)


def test_the_labelled_set_covers_every_context_with_200_sentences_or_more():
    labels = [s.label for s in SENTENCES]
    assert len(SENTENCES) >= 200
    for label in ("affirmed", "negated", "uncertain", "historical", "hypothetical", "indication", "family"):
        assert labels.count(label) >= 5, label


def test_a_critical_flag_carries_category_deadline_offsets_and_context(checker):
    text = "INDICATION: Evaluate for pulmonary embolism.\n\nFINDINGS: Large right tension pneumothorax.\n\nIMPRESSION: Tension pneumothorax.\n"
    flags = kinds(checker.check_text(text), "critical_finding")
    assert [f.finding for f in flags] == ["tension pneumothorax"]  # the PE in the indication is the question
    f = flags[0]
    assert text[f.start:f.end] == "tension pneumothorax" and f.section == "findings"
    assert f.acr_category == 1 and f.deadline_minutes == 60 and f.certainty == "definite"
    assert f.context["negated"] is False and f.severity == "critical" and f.action
    assert Flag.from_dict(json.loads(json.dumps(f.to_dict()))) == f


def test_a_finding_covers_the_lesser_one_it_includes(checker):
    found = {f.finding for f in checker.check_text("FINDINGS: Large left tension pneumothorax.")}
    assert found == {"tension pneumothorax"}


def test_unknown_flag_kinds_are_refused():
    with pytest.raises(ValueError):
        Flag(kind="vibes", severity="info", message="x")


# -- completeness ---------------------------------------------------------------------------------

def test_required_sections_and_impression(checker, library):
    text = "EXAMINATION: CT head\n\nINDICATION:\n\nFINDINGS: No acute intracranial hemorrhage.\n\nIMPRESSION:\n"
    flags = checker.check_text(text, library.get("ct-head"))
    missing = {f.section: f for f in kinds(flags, "missing_section")}
    assert set(missing) == {"indication", "impression"}
    assert "No impression" in missing["impression"].message
    complete = "INDICATION: Fall.\n\nFINDINGS: Normal.\n\nIMPRESSION: Normal.\n"
    assert not kinds(checker.check_text(complete, library.get("ct-head")), "missing_section")


def test_plain_text_without_headings_is_checked_for_findings_only(checker):
    assert checker.check_text("No pneumothorax.") == []


def test_leftover_placeholders(checker):
    flags = kinds(checker.check_text("FINDINGS: The liver measures ___ cm. [side] kidney normal.\n\nIMPRESSION: Normal.\n"), "placeholder")
    assert [f.text for f in flags] == ["___", "[side]"]


def test_defaults_never_accepted_and_required_fields_on_a_report(checker, library):
    report = Report.new(library.get("ct-head"))
    report.go_to("indication")
    report.dictate("Headache.")
    flags = checker.check_report(report)
    unaccepted = kinds(flags, "default_not_accepted")
    assert {f.slot for f in unaccepted} == set(report.unaccepted_defaults()) and unaccepted
    # Findings has only defaults nobody accepted: as empty as the impression.
    assert {f.section for f in kinds(flags, "missing_section")} == {"findings", "impression"}
    report.accept_all_defaults()
    assert not kinds(checker.check_report(report), "default_not_accepted")


# -- consistency ----------------------------------------------------------------------------------

def test_laterality_findings_versus_impression(checker):
    text = "FINDINGS: Small right pneumothorax.\n\nIMPRESSION: Small left pneumothorax.\n"
    flags = kinds(checker.check_text(text), "laterality_mismatch")
    assert len(flags) == 1 and flags[0].section == "impression" and "LEFT in the impression but RIGHT" in flags[0].message
    same = "FINDINGS: Small right pneumothorax.\n\nIMPRESSION: Small right pneumothorax.\n"
    assert not kinds(checker.check_text(same), "laterality_mismatch")


def test_laterality_against_the_exam(checker):
    text = ("EXAMINATION: US venous lower extremity LEFT\n\nFINDINGS: Occlusive thrombus in the right popliteal vein.\n\n"
            "IMPRESSION: Deep vein thrombosis.\n")
    flags = kinds(checker.check_text(text), "laterality_mismatch")
    assert flags and "exam is LEFT" in flags[0].message


def test_sex_specific_anatomy(checker, library):
    text = "FINDINGS: The prostate is normal in size. The uterus is unremarkable.\n\nIMPRESSION: Normal.\n"
    female = kinds(checker.check_text(text, sex="F"), "sex_mismatch")
    assert [f.text for f in female] == ["prostate"]
    male = kinds(checker.check_text(text, sex="male"), "sex_mismatch")
    assert [f.text for f in male] == ["uterus"]
    assert not kinds(checker.check_text(text), "sex_mismatch")  # sex unknown: no guess
    # The template says who it is for.
    scrotal = kinds(checker.check_text("FINDINGS: Normal ovaries.\n\nIMPRESSION: Normal.\n", library.get("us-scrotum")), "sex_mismatch")
    assert [f.text for f in scrotal] == ["ovaries"]


def test_the_same_finding_measured_differently(checker):
    text = "FINDINGS: Left pleural effusion measuring 1.2 cm.\n\nIMPRESSION: Left pleural effusion measuring 15 mm.\n"
    flags = kinds(checker.check_text(text), "measurement_mismatch")
    assert len(flags) == 1 and "12 mm in the findings but 15 mm" in flags[0].message
    same = "FINDINGS: Left pleural effusion measuring 1.2 cm.\n\nIMPRESSION: Left pleural effusion measuring 12 mm.\n"
    assert not kinds(checker.check_text(same), "measurement_mismatch")


def dictated(report, seq, text, words):
    from dictation.reporting.records import UtteranceRecord

    report.utterances.append(UtteranceRecord(seq, "dictation", text, text, seq - 1, seq, words))
    report.dictate(text, utterance=seq)


def test_an_unsure_critical_word_is_flagged_wherever_it_is_and_other_unsure_words_beside_a_finding(checker, library):
    report = Report.new(library.get("xr-chest"))
    report.go_to("impression")
    dictated(report, 1, "Small left pleural effusion.", [{"word": " Small", "probability": 0.9},
             {"word": " left", "probability": 0.31}, {"word": " pleural", "probability": 0.9},
             {"word": " effusion.", "probability": 0.9}])
    dictated(report, 2, "No pneumothorax.", [{"word": " No", "probability": 0.31}, {"word": " pneumothorax.", "probability": 0.97}])
    dictated(report, 3, "Large pneumothorax.", [{"word": " Large", "probability": 0.2}, {"word": " pneumothorax.", "probability": 0.9}])
    dictated(report, 4, "Heart size is normal.", [{"word": " Heart", "probability": 0.2}, {"word": " size", "probability": 0.9}])
    flags = checker.check_report(report)
    (critical,) = kinds(flags, "critical_word")  # "left"; not an utterance's first "No" (tiny.en is always unsure of it)
    assert critical.text == "left" and "31%" in critical.message and critical.word == "1.1"
    assert from_report(report).text[critical.start:critical.end] == "left"
    (unsure,) = kinds(flags, "low_confidence")  # "Large", beside a finding; "Heart" changes no meaning
    assert unsure.text == "Large" and unsure.finding == "pneumothorax"


def test_a_second_reading_that_heard_no_marks_the_words_until_confirmed_and_blocks_a_final(checker, library):
    from dictation.reporting.confirm import confirm_critical
    from dictation.reporting.signing import signing_problems
    from dictation.testing import READER

    report = Report.new(library.get("xr-chest"))
    report.accept_all_defaults()
    report.go_to("impression")
    words = [{"word": w, "probability": 0.6} for w in (" now", " join", " the", " fusion.")]
    words[0].update(other="No joint effusion.", span=4)
    dictated(report, 1, "Now join the fusion.", words)
    (flag,) = kinds(checker.check_report(report), "critical_word")
    assert flag.text == "Now join the fusion" and "No joint effusion." in flag.message
    problems = signing_problems(report, checker.check_report(report), "final", signer=READER)
    assert any("critical word not confirmed" in p for p in problems)
    assert signing_problems(report, checker.check_report(report), "preliminary", signer=READER) == []
    outcome = confirm_critical(report.utterances, checker.check_report(report))
    assert outcome.ok and "Now join the fusion" in outcome.message
    assert kinds(checker.check_report(report), "critical_word") == []
    assert not any("critical word" in p for p in signing_problems(report, checker.check_report(report), "final",
                                                                   signer=READER))
    assert not confirm_critical(report.utterances, checker.check_report(report)).ok  # nothing left to confirm


def test_a_critical_word_written_twice_is_flagged_not_dropped(checker, library):
    from dictation.reporting.confirm import confirm_critical

    report = Report.new(library.get("xr-chest"))
    report.go_to("impression")
    dictated(report, 1, "No no pneumothorax.", [{"word": " No", "probability": 0.9}, {"word": " no", "probability": 0.9},
                                                {"word": " pneumothorax.", "probability": 0.9}])
    dictated(report, 2, "Very very small effusion.", [{"word": w, "probability": 0.9}
                                                      for w in (" Very", " very", " small", " effusion.")])
    (flag,) = kinds(checker.check_report(report), "critical_word")  # "very very" changes no meaning
    assert flag.text == "No no" and "written twice" in flag.message and flag.word == "1.1"
    assert confirm_critical(report.utterances, checker.check_report(report)).ok
    assert kinds(checker.check_report(report), "critical_word") == []


def test_a_number_written_as_digits_is_flagged_when_unsure_disputed_or_written_twice(checker, library):
    """The recogniser's words are "four millimeters"; the report says "4 mm": a number is a
    critical word in its written form too."""
    report = Report.new(library.get("xr-chest"))
    report.go_to("impression")
    dictated(report, 1, "Nodule measuring 4 mm.", [{"word": " Nodule", "probability": 0.9},
             {"word": " measuring", "probability": 0.9}, {"word": " four", "probability": 0.3},
             {"word": " millimeters.", "probability": 0.9}])
    dictated(report, 2, "Cyst of 7 mm.", [{"word": " Cyst", "probability": 0.9}, {"word": " of", "probability": 0.9},
             {"word": " seven", "probability": 0.8, "other": "eleven", "span": 1}, {"word": " millimeters.", "probability": 0.9}])
    dictated(report, 3, "Lesion in segment 7 seven.", [{"word": w, "probability": 0.9}
                                                        for w in (" Lesion", " in", " segment", " seven", " seven.")])
    dictated(report, 4, "Two lesions of 25 mm.", [{"word": w, "probability": 0.9}
                                                   for w in (" Two", " lesions", " of", " twenty", " five", " millimeters.")])
    flags = kinds(checker.check_report(report), "critical_word")
    assert [(f.word, f.text) for f in flags] == [("1.2", "4"), ("2.2", "7"), ("3.4", "7 seven")]
    text = from_report(report).text
    assert text[flags[0].start:flags[0].end] == "4" and text[flags[1].start:flags[1].end] == "7"
    assert "30%" in flags[0].message
    assert "'eleven'" in flags[1].message and "written twice" in flags[2].message


# -- follow-up ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sentence, missing", [
    ("Follow-up imaging is recommended.", "no modality and no interval"),
    ("Recommend follow-up CT.", "no interval"),
    ("Recommend repeat imaging in 3 months.", "no modality"),
])
def test_a_recommendation_without_modality_or_interval(checker, sentence, missing):
    flags = kinds(checker.check_text(f"FINDINGS: Nodule.\n\nIMPRESSION: Nodule.\n\nRECOMMENDATIONS: {sentence}\n"), "incomplete_followup")
    assert len(flags) == 1 and missing in flags[0].message


@pytest.mark.parametrize("sentence", [
    "Recommend CT chest in 6 to 12 months.", "Clinical correlation is recommended.", "Follow-up ultrasound in 6 weeks.",
])
def test_complete_or_non_imaging_recommendations_pass(checker, sentence):
    assert not kinds(checker.check_text(f"FINDINGS: Normal.\n\nIMPRESSION: Normal.\n\nRECOMMENDATIONS: {sentence}\n"), "incomplete_followup")


@pytest.mark.parametrize("sentence, expected", [
    ("A 7 x 5 mm solid nodule in the right upper lobe.", "single solid nodule, 6 mm): low risk: CT at 6-12 months"),
    ("A 4 mm solid nodule in the left lower lobe.", "single solid nodule, 4 mm): low risk: No routine follow-up. High risk: Optional CT at 12 months."),
    ("A 12 mm part-solid nodule in the left upper lobe.", "single part-solid nodule, 12 mm): CT at 3-6 months to confirm persistence"),
    ("Multiple ground-glass nodules up to 5 mm.", "multiple ground-glass nodules, 5 mm): CT at 3-6 months. If stable, consider CT at 2 and 4 years."),
    ("A 10 mm solid nodule in the right lower lobe.", "Consider CT at 3 months, PET/CT, or tissue sampling."),
])
def test_fleischner_suggestion_for_an_incidental_nodule(checker, sentence, expected):
    flags = kinds(checker.check_text(f"FINDINGS: {sentence}\n\nIMPRESSION: Nodule.\n"), "followup_suggestion")
    assert len(flags) == 1
    assert flags[0].message.startswith("Suggestion (Fleischner 2017") and expected in flags[0].message
    assert flags[0].severity == "info"


def test_no_fleischner_suggestion_without_size_or_when_negated_or_calcified(checker):
    for sentence in ("No pulmonary nodule.", "A solid nodule in the right upper lobe.", "A 6 mm calcified granuloma."):
        assert not kinds(checker.check_text(f"FINDINGS: {sentence}\n\nIMPRESSION: x.\n"), "followup_suggestion"), sentence
    untyped = kinds(checker.check_text("FINDINGS: A 7 mm nodule in the right upper lobe.\n\nIMPRESSION: x.\n"), "followup_suggestion")
    assert "say whether it is solid, part-solid or ground-glass" in untyped[0].message


def test_fleischner_table_boundaries():
    assert fleischner("solid", False, 5.9)[0] == "No routine follow-up."
    assert fleischner("solid", False, 6)[0].startswith("CT at 6-12 months")
    assert fleischner("solid", False, 8)[0].startswith("CT at 6-12 months")
    assert fleischner("solid", False, 9)[0].startswith("Consider CT at 3 months")
    assert fleischner("ground_glass", False, 6)[0].startswith("CT at 6-12 months to confirm persistence")
    assert fleischner("part_solid", True, 5)[0].startswith("CT at 3-6 months")


# -- documents ------------------------------------------------------------------------------------

def test_headings_and_field_labels_are_read_from_text(library):
    t = library.get("ct-head")
    text = Report.new(t).render(with_unaccepted=True)
    doc = from_text(text, t)
    slots = {p.slot for p in doc.parts if p.slot}
    assert "findings.hemorrhage" in slots and "findings.calvarium" in slots
    hemorrhage = next(p for p in doc.parts if p.slot == "findings.hemorrhage")
    assert doc.text[hemorrhage.start:hemorrhage.end].strip() == "No intracranial hemorrhage."


def test_a_field_title_is_a_label_not_a_finding(checker, library):
    t = library.get("xr-chest")
    report = Report.new(t)
    report.go_to("findings.pleura")
    report.dictate("Normal.")
    assert not kinds(checker.check_report(report), "critical_finding")


def test_the_benchmark_report_gives_the_flags_a_radiologist_expects(checker):
    from tests.datasets import TYPICAL_REPORT

    flags = checker.check_text(TYPICAL_REPORT)
    assert [f.finding for f in kinds(flags, "critical_finding")] == ["pulmonary embolism"]  # not the indication's
    assert [f.kind for f in flags if f.kind != "critical_finding"] == ["measurement_mismatch", "followup_suggestion"]


@pytest.mark.parametrize("text, expected", [
    ("Findings: There is a large subdural hematoma.\nImpression: Subdural hematoma.\n", ["subdural hematoma"]),
    ("History: evaluate for subdural hematoma.\nFindings: Normal.\nImpression: Normal.\n", []),  # title-case headings
    ("Pneumothorax: none.", []),
    ("Pneumothorax: small, right apical.", ["pneumothorax"]),  # without a template a label is a statement
    ("FINDINGS: Negative for pulmonary embolism.\n\nIMPRESSION: Negative.\n", []),
])
def test_headings_and_labels_in_free_text(checker, text, expected):
    assert [f.finding for f in kinds(checker.check_text(text), "critical_finding")] == expected


def test_a_finding_said_present_and_absent_is_a_contradiction(checker):
    text = "FINDINGS:\nPleura: No pleural effusion or pneumothorax.\nLungs: Large right pneumothorax.\n\nIMPRESSION: Pneumothorax.\n"
    (flag,) = kinds(checker.check_text(text), "contradiction")
    assert flag.finding == "pneumothorax" and text[flag.start:flag.end] == "pneumothorax" and flag.severity == "warning"
    sides = "FINDINGS: Small right pneumothorax. No left pneumothorax.\n\nIMPRESSION: Right pneumothorax.\n"
    assert not kinds(checker.check_text(sides), "contradiction")


def test_saying_confirm_clears_the_flag_and_lets_the_final_be_signed(library, tmp_path):
    from dictation.reporting.controller import ReportController
    from dictation.speech.transcript import Transcript
    from dictation.store import Store
    from dictation.testing import READER

    report = Report.new(library.get("xr-chest"))
    report.go_to("indication")
    report.dictate("Cough.")
    report.accept_all_defaults()
    report.go_to("impression")
    words = [{"word": w, "probability": 0.9} for w in (" Small", " left", " pleural", " effusion.")]
    words[1].update(other="right", span=1)  # a second reading heard "right"
    dictated(report, 1, "Small left pleural effusion.", words)
    controller = ReportController(report, store=Store(tmp_path / "s.db"), signer=READER)
    refused = controller.handle(Transcript("sign report", (), 1.0))
    assert refused is not None and not refused.outcome.ok
    assert "critical word not confirmed" in refused.outcome.message, refused.outcome.message
    said = controller.handle(Transcript("Confirm.", (), 1.0))
    assert said is not None and said.outcome.ok and "'left'" in said.outcome.message
    assert report.utterances[0].confirmed == [1]
    signed = controller.handle(Transcript("sign report", (), 1.0))
    assert signed is not None and signed.outcome.ok and report.status == "final", signed.outcome.message
