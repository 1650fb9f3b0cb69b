"""Commands tiny.en writes as other words, decided on the audio (the real model, synthesised speech)."""

from dictation.reporting.controller import ReportController
from dictation.reporting.dictate import dictate_audio
from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from tests.voice import speak_with_pauses


def _dictate(recognizer, script, template="us-abdomen", voice="piper"):
    controller = ReportController(Report.new(TemplateLibrary().get(template)), checks=False)
    dictate_audio(speak_with_pauses(script, voice=voice), recognizer, controller)
    return controller


def test_undo_heard_as_other_words_is_asked_never_written_and_yes_obeys_it(recognizer):
    """The Piper voice's "undo" comes out of tiny.en as "and you": written, it would put two
    stray words in the impression and leave the sentence the radiologist wanted gone."""
    controller = _dictate(recognizer, ["go to impression", "cholelithiasis without cholecystitis period", "undo"])
    last = controller.report.utterances[-1]
    assert last.command == "undo" and last.kind in ("asked", "command"), (last.kind, last.heard)
    assert "you" not in controller.report.slot_text("impression").lower()
    if last.kind == "asked":
        assert controller.question is not None and "“Undo?”" in controller.question.prompt
        handled = controller.answer(True)
        assert handled is not None and handled.record.command == "undo"
    assert controller.report.slot_text("impression") == ""


def test_short_dictation_is_never_taken_for_a_command_from_its_audio(recognizer):
    """Short sentences close to a command or a macro in sound ("no intracranial hemorrhage" and
    the macro "normal ...", "no comparison"): never obeyed, never asked."""
    script = ["go to findings", "no intracranial hemorrhage period", "no mass effect period", "unremarkable period",
              "mild ventricular enlargement period", "no fracture period"]
    for voice in ("piper", "espeak"):
        controller = _dictate(recognizer, script, template="ct-head", voice=voice)
        kinds = [(u.kind, u.heard) for u in controller.report.utterances[1:]]
        assert all(kind == "dictation" for kind, _ in kinds), (voice, kinds)
