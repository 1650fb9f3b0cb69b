"""Signing rules: a final report needs every critical finding's communication recorded and
every required section filled; a preliminary may go with open flags."""

import time

import pytest

from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report
from dictation.reporting.signing import signing_problems
from dictation.reporting.templates import TemplateLibrary
from dictation.ris.document import Signer
from dictation.speech.transcript import Transcript
from dictation.testing import READER
from tests.pilot import broken_checks_vocab


@pytest.fixture(scope="module")
def library():
    return TemplateLibrary()


def said(controller, text):
    return controller.handle(Transcript(text, (), 1.0))


def chest_with_pneumothorax(library):
    report = Report.new(library.get("xr-chest"), exam={"accession": "A1"})
    report.go_to("indication")
    report.dictate("Chest pain.")
    report.accept_all_defaults()
    report.go_to("findings.pleura")
    report.dictate("Large right pneumothorax.")
    report.go_to("impression")
    report.dictate("Large right pneumothorax.")
    return report


def test_sign_final_is_refused_until_the_critical_communication_is_recorded(library):
    report = chest_with_pneumothorax(library)
    controller = ReportController(report, signer=READER)
    handled = said(controller, "sign as final")
    assert handled.record.kind == "rejected" and report.status == "draft"
    assert "critical finding pneumothorax: record who was told" in handled.outcome.message
    at = time.time() - 120
    outcome = report.record_communication("Dr. Jane Roe", "ED physician", "telephone", at, ["pneumothorax"], by="Dr. Anna Smith")
    assert outcome.ok
    sentence = report.slot_text("communication")
    assert sentence.startswith("Pneumothorax communicated by Dr. Anna Smith to Dr. Jane Roe (ED physician) by telephone on ")
    handled = said(controller, "sign as final")
    assert handled.record.kind == "command" and report.status == "final"


def test_a_preliminary_may_be_signed_with_open_flags(library):
    report = chest_with_pneumothorax(library)
    controller = ReportController(report, signer=READER)
    assert said(controller, "sign as preliminary").record.kind == "command" and report.status == "preliminary"
    problems = signing_problems(report, controller.run_checks()[0], "final", signer=READER)
    assert problems == ["critical finding pneumothorax: record who was told, how and when before signing final"]


def test_required_sections_must_be_filled_for_a_final(library):
    report = Report.new(library.get("xr-chest"))
    controller = ReportController(report, signer=READER)
    handled = said(controller, "sign as final")
    assert handled.record.kind == "rejected" and "is empty" in handled.outcome.message and "more" in handled.outcome.message


def test_communication_record_is_validated_undone_and_saved(library):
    report = chest_with_pneumothorax(library)
    assert not report.record_communication("", "", "telephone", time.time(), ["pneumothorax"]).ok
    assert not report.record_communication("Dr Roe", "", "fax", time.time(), ["pneumothorax"]).ok
    assert not report.record_communication("Dr Roe", "", "telephone", time.time() + 3600, ["pneumothorax"]).ok
    assert report.record_communication("Dr Roe", "", "in person", time.time(), ["pneumothorax"]).ok
    again = Report.from_dict(report.to_dict(), report.template)
    assert again.communicated() == {"pneumothorax"} and again.communications[0].method == "in person"
    report.undo()
    assert report.communications == [] and report.slot_text("communication") == ""


def test_saying_who_was_told_records_the_communication_hands_free(library):
    report = chest_with_pneumothorax(library)
    controller = ReportController(report, signer=READER)
    handled = said(controller, "findings communicated to doctor jane roe the emergency physician by telephone period")
    assert handled.record.command == "record_communication" and handled.outcome.ok
    (record,) = report.communications
    assert (record.recipient, record.role, record.method, record.findings) == \
        ("Doctor Jane Roe", "emergency physician", "telephone", ["pneumothorax"])
    assert report.slot_text("communication").startswith("Pneumothorax communicated by Tess Reader to Doctor Jane Roe (emergency physician)")
    assert said(controller, "sign as final").record.kind == "command" and report.status == "final"


def test_the_same_words_without_a_critical_finding_are_plain_dictation(library):
    report = Report.new(library.get("xr-chest"))
    report.go_to("impression")
    controller = ReportController(report, signer=READER)
    handled = said(controller, "results discussed with doctor house by phone period")
    assert handled.record.command is None and report.communications == []
    assert report.slot_text("impression") == "Results discussed with doctor house by phone."


def test_a_final_needs_a_configured_reader_and_says_where_to_set_one(library):
    report = Report.new(library.get("xr-chest"), exam={"accession": "A1"})
    report.go_to("indication")
    report.dictate("Cough.")
    report.accept_all_defaults()
    report.go_to("impression")
    report.dictate("No acute abnormality.")
    for signer in (None, Signer(), Signer("R1")):  # nobody, or an id without a name
        handled = said(ReportController(report, signer=signer), "sign as final")
        assert handled.record.kind == "rejected" and report.status == "draft"
        assert "no reader configured" in handled.outcome.message and "config.toml" in handled.outcome.message
    assert said(ReportController(report, signer=None), "sign as preliminary").outcome.ok
    assert report.status == "preliminary"


def test_with_the_checks_off_a_final_is_refused_and_a_preliminary_says_it_was_not_checked(library, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.setenv("RADSCRIBE_VOCAB_DIR", str(broken_checks_vocab(tmp_path / "vocab")))
    report = chest_with_pneumothorax(library)
    report.record_communication("Dr Roe", "", "telephone", time.time(), ["pneumothorax"])
    controller = ReportController(report, signer=READER)
    handled = said(controller, "sign as final")
    assert handled.record.kind == "rejected" and report.status == "draft"
    assert "clinical checks are off" in handled.outcome.message and "critical_findings.toml" in handled.outcome.message
    assert "a final needs them" in handled.outcome.message
    handled = said(controller, "sign as preliminary")
    assert handled.outcome.ok and report.status == "preliminary" and "not checked" in handled.outcome.message
    assert [f.kind for f in controller.recorded_flags()] == ["checks_off"]


def test_a_signing_by_key_never_signs_an_utterance_written_while_it_checked(library):
    """F9 (the screen's thread) while the session thread writes an utterance: the signing checks
    the report and signs it in one turn, so a finding dictated meanwhile is refused after the
    signature (and kept as a record), never signed unchecked."""
    import threading

    from dictation.checks import Checker

    report = Report.new(library.get("xr-chest"), exam={"accession": "A1"})
    report.go_to("indication")
    report.dictate("Chest pain.")
    report.accept_all_defaults()
    report.go_to("impression")
    report.dictate("No acute cardiopulmonary process.")
    controller = ReportController(report, signer=READER)
    checked, go_on, real = threading.Event(), threading.Event(), Checker()

    class CheckedThenSlow:
        def check_report(self, r):
            flags = real.check_report(r)
            if threading.current_thread().name == "sign-key":
                checked.set()  # the report as the signing saw it; the session thread may come in now
                go_on.wait(10)
            return flags

    controller._checker = CheckedThenSlow()
    signing = threading.Thread(target=controller.command, args=("sign_final",), name="sign-key")
    signing.start()
    assert checked.wait(30)
    dictating = threading.Thread(target=said, args=(controller, "Large right pneumothorax."))
    dictating.start()
    dictating.join(1.0)  # in turns it waits for the signing; without, it writes into the checked report now
    go_on.set()
    signing.join(30)
    dictating.join(30)
    assert report.status == "final"
    assert "large right pneumothorax" not in report.render().lower()
    assert [(u.kind, u.text) for u in report.utterances][-2:] == [
        ("command", "[key] sign_final"), ("rejected", "Large right pneumothorax")]


def test_a_signing_waits_for_the_open_question_and_a_lapsed_one_writes_no_empty_words(library):
    """"undo" heard "And you." is asked ("Undo?"); "sign as preliminary" said before the answer
    signs nothing, by voice or by key; once something else is said the question lapses, and
    words that say nothing a report would ("and you") are not written (their record stays)."""
    from dictation.reporting.commands import Command
    from dictation.reporting.records import Question

    report = chest_with_pneumothorax(library)
    controller = ReportController(report, signer=READER)
    controller.question = Question(Command("undo"), Transcript("and you,", (), 1.0), 0.0, 1.0, 99)
    handled = said(controller, "sign as preliminary")
    assert handled.record.kind == "rejected" and report.status == "draft"
    assert handled.outcome.message == "not signed: first answer “Undo?” (yes or no)"
    assert controller.command("sign_preliminary").record.kind == "rejected" and controller.question is not None
    said(controller, "Small right apical pneumothorax.")
    assert controller.question is None
    assert "and you" not in report.render().lower() and "small right apical pneumothorax" in report.render().lower()
    assert said(controller, "sign as preliminary").record.kind == "command" and report.status == "preliminary"
    # Held words that say something are written when the question lapses; "No." and "None." too.
    from dictation.reporting.verify import nothing_to_write

    assert nothing_to_write("And you.") and nothing_to_write("and the")
    assert not nothing_to_write("No.") and not nothing_to_write("None.") and not nothing_to_write("two")
    assert not nothing_to_write("lets scratch that") and not nothing_to_write("")
