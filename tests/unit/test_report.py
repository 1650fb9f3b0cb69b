"""The report model: defaults stay "not dictated" until accepted, undo, scratch, routing, status."""

import pytest

from dictation.reporting.commands import Command, CommandParser
from dictation.reporting.report import Report
from dictation.reporting.routing import route_sentence, split_sentences
from dictation.reporting.templates import TemplateLibrary


@pytest.fixture(scope="module")
def library():
    return TemplateLibrary()


@pytest.fixture
def chest(library):
    return Report.new(library.get("xr-chest"))


def test_defaults_are_not_in_the_report_until_accepted(chest):
    assert "The lungs are clear." not in chest.render()
    assert "The lungs are clear." in chest.render(with_unaccepted=True)
    assert "findings.lungs" in chest.unaccepted_defaults()
    chest.accept_default("findings.lungs")
    assert "Lungs: The lungs are clear. No focal consolidation." in chest.render()
    assert "findings.lungs" not in chest.unaccepted_defaults()
    piece = chest.slots["findings.lungs"][0]
    assert (piece.source, piece.accepted) == ("default", True)


def test_dictating_over_a_default_replaces_it(chest):
    chest.go_to("findings.lungs")
    chest.dictate("Patchy right lower lobe opacity.", utterance=1)
    assert chest.slot_text("findings.lungs", with_unaccepted=True) == "Patchy right lower lobe opacity."
    assert chest.slots["findings.lungs"][0].source == "dictated"


def test_scratching_dictation_that_replaced_a_default_brings_the_default_back_unaccepted(chest):
    from dictation.reporting.records import UtteranceRecord

    chest.go_to("findings.lungs")
    chest.dictate("Patchy right lower lobe opacity.", utterance=1)
    chest.utterances.append(UtteranceRecord(1, "dictation", "Patchy right lower lobe opacity.", "", 0, 1, []))
    assert chest.scratch_last().ok
    piece = chest.slots["findings.lungs"][0]
    assert (piece.source, piece.accepted) == ("default", False)
    assert "findings.lungs" in chest.unaccepted_defaults()
    assert "Lungs:" not in chest.render()  # still not in the report until accepted


def test_dictating_into_a_field_that_holds_only_its_accepted_default_replaces_it(chest):
    chest.accept_all_defaults()
    chest.go_to("findings.pleura")
    chest.dictate("Large right pneumothorax.", utterance=1)
    assert chest.slot_text("findings.pleura") == "Large right pneumothorax."
    chest.dictate("No effusion.", utterance=2)  # dictation adds to dictation
    assert chest.slot_text("findings.pleura") == "Large right pneumothorax. No effusion."


def test_empty_optional_sections_vanish(chest):
    chest.go_to("impression")
    chest.dictate("No acute cardiopulmonary process.")
    text = chest.render()
    assert "RECOMMENDATIONS" not in text and "COMMUNICATION" not in text and "TECHNIQUE" not in text
    assert "IMPRESSION:\nNo acute cardiopulmonary process.\n" in text
    assert "\n\n\n" not in text


def test_scratch_removes_the_last_utterance_and_undo_brings_it_back(chest):
    chest.go_to("indication")
    chest.dictate("Cough.", utterance=1)
    chest.dictate("Fever.", utterance=2)
    assert chest.slot_text("indication") == "Cough. Fever."
    assert chest.scratch_last().ok is False  # no utterance records yet: nothing known to scratch
    from dictation.reporting.records import UtteranceRecord

    chest.utterances += [UtteranceRecord(1, "dictation", "Cough.", "cough", 0, 1, []),
                         UtteranceRecord(2, "dictation", "Fever.", "fever", 1, 2, [])]
    assert chest.scratch_last().ok
    assert chest.slot_text("indication") == "Cough."
    assert chest.utterances[1].scratched
    assert chest.scratch_last().ok
    assert chest.slot_text("indication") == ""
    chest.undo()
    assert chest.slot_text("indication") == "Cough."
    chest.undo()
    assert chest.slot_text("indication") == "Cough. Fever." and not chest.utterances[1].scratched
    chest.redo()
    assert chest.slot_text("indication") == "Cough."
    chest.undo()
    chest.undo()
    chest.undo()
    assert chest.slot_text("indication") == ""
    assert chest.undo().ok is False


def test_choose_and_clear(chest):
    chest.go_to("findings.heart_size")
    assert chest.choose("mildly enlarged").ok
    assert "Heart size: mildly enlarged." in chest.render()
    assert chest.choose("purple").ok is False
    chest.go_to("findings.lungs")
    assert chest.choose("borderline").ok  # the one field in this section that has the option
    assert chest.slot_text("findings.heart_size") == "borderline"
    chest.go_to("findings.heart_size")
    assert chest.clear().ok and chest.slot_text("findings.heart_size") == ""


def test_navigation_stops_at_the_ends(chest):
    assert chest.move(-1).ok is False
    chest.go_to("communication")
    assert chest.move(+1).ok is False
    assert chest.move(-1).ok and chest.slot.key == "recommendations"


def test_macro_fills_fields_as_macro_text(chest):
    parser = CommandParser(template=chest.template)
    normal = parser.parse("normal chest")
    out = chest.apply(normal, utterance=4, macro=parser.macro(normal.arg))
    assert out.ok
    assert chest.slots["findings.lungs"][0].source == "macro"
    assert "Pleura: No pleural effusion or pneumothorax." in chest.render()
    assert "findings.bones" not in chest.unaccepted_defaults()


def test_sign_statuses_and_lock(chest):
    assert chest.sign("preliminary").ok and chest.status == "preliminary"
    chest.dictate("Still editable after a preliminary sign.")
    assert chest.sign("final").ok and chest.status == "final"
    out = chest.apply(Command("clear_field"))
    assert out.ok is False and "signed final" in out.message
    assert chest.sign("preliminary").ok is False
    assert chest.sign("corrected").ok


def test_asleep_only_wakes_on_start_listening(chest):
    chest.apply(Command("stop_listening"))
    assert chest.apply(Command("next_field")).ok is False
    assert chest.apply(Command("start_listening")).ok
    assert chest.apply(Command("next_field")).ok


def test_round_trip_through_json(chest, library):
    chest.go_to("findings.pleura")
    chest.dictate("Small left effusion.", utterance=1)
    chest.accept_default("findings.bones")
    again = Report.from_dict(chest.to_dict(), library.get("xr-chest"))
    assert again.render() == chest.render()
    assert again.slot.key == "findings.pleura" and again.unaccepted_defaults() == chest.unaccepted_defaults()


ROUTES = [
    ("The heart size is normal.", "findings.heart_mediastinum"),
    ("There is a small left pleural effusion.", "findings.pleura"),
    ("Endotracheal tube tip 4 cm above the carina.", "findings.lines_tubes"),
    ("Patchy opacity in the right lower lobe.", "findings.lungs"),
    ("Healing fracture of the left sixth rib.", "findings.bones"),
    ("Something nobody templated.", "findings.lungs"),  # no anatomy word: stays in the active field
]


@pytest.mark.parametrize("sentence,field", ROUTES)
def test_routing_by_anatomy(library, sentence, field):
    t = library.get("xr-chest")
    assert (route_sentence(sentence, t, t.slot("findings.lungs")) or "findings.lungs") == field


def test_routing_splits_sentences_and_keeps_to_the_section(library):
    report = Report.new(library.get("ct-abdomen-pelvis"))
    report.go_to("findings.liver")
    used = report.dictate("The liver is normal. The appendix is dilated to 12 mm. No free air.", route=True)
    assert used == ["findings.liver", "findings.appendix", "findings.peritoneum"]
    assert report.slot_text("findings.appendix") == "The appendix is dilated to 12 mm."
    assert report.slot.key == "findings.liver"  # routing does not move the cursor
    report.go_to("impression")
    assert report.dictate("Acute appendicitis.", route=True) == ["impression"]


def test_split_sentences():
    assert split_sentences("A 4.5 mm nodule. No effusion.") == ["A 4.5 mm nodule.", "No effusion."]
