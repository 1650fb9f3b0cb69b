"""A short utterance whose words are no command, checked against its audio (a scored short list)."""

import numpy as np
import pytest

from dictation.reporting.commands import CommandParser, load_commands
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.reporting.verify import audio_command, written_as
from dictation.speech.audio import SAMPLE_RATE
from dictation.testing import ScriptedRecognizer

AUDIO = np.zeros(SAMPLE_RATE, np.float32)
DICTATION_WORDS = frozenset({"no", "left", "right", "period", "comma"})


PHRASES = {written_as(p) for p, _ in CommandParser(template=TemplateLibrary().get("xr-chest")).phrases()}


class Scorer:
    """Scores the phrases and readings in ``says`` as given, any other command phrase -9, and a
    reading that is no command phrase (the words heard) ``own``. ``asked``: the phrases scored."""

    def __init__(self, own: float = -1.0, **says: float) -> None:
        self.own, self.says, self.asked = own, says, []

    def score(self, audio, texts):
        self.asked.extend(t for t in texts if t in PHRASES)
        return [self.says.get(t, -9.0 if t in PHRASES else self.own) for t in texts]


@pytest.fixture(scope="module")
def parser():
    return CommandParser(template=TemplateLibrary().get("xr-chest"))


def test_a_phrase_about_as_probable_as_the_words_heard_is_obeyed(parser):
    verdict = audio_command(parser, Scorer(-1.5, **{"Go to impression.": -1.9}), AUDIO, "Got impression.", [],
                            DICTATION_WORDS)
    assert verdict is not None and verdict.sure
    assert (verdict.command.name, verdict.command.arg) == ("go_to", "impression")
    assert verdict.margin == pytest.approx(-0.4)


def test_a_little_less_probable_is_asked_and_much_less_is_dictation(parser):
    asked = audio_command(parser, Scorer(-1.5, **{"Go to impression.": -3.0}), AUDIO, "Got impression.", [],
                          DICTATION_WORDS)
    assert asked is not None and not asked.sure and asked.command.name == "go_to"
    assert audio_command(parser, Scorer(-1.5, **{"Go to impression.": -4.5}), AUDIO, "Got impression.", [],
                         DICTATION_WORDS) is None


def test_function_words_alone_are_no_dictation_a_command_close_to_them_is_asked(parser):
    # "And you." says nothing a report could hold: a command well below it is still asked...
    verdict = audio_command(parser, Scorer(-1.0, **{"Undo.": -4.8}), AUDIO, "And you.", [], DICTATION_WORDS)
    assert verdict is not None and not verdict.sure and verdict.command.name == "undo"
    # ...but words with content keep the ordinary margin.
    assert audio_command(parser, Scorer(-1.0, **{"Undo.": -4.8}), AUDIO, "Endo view.", [], DICTATION_WORDS) is None


def test_a_meaning_word_or_spoken_punctuation_heard_makes_it_dictation_unscored(parser):
    """"no intracranial hemorrhage period" is acoustically close to the macro "normal ...": the
    phrases that would drop "no" or "period" are never even scored."""
    scorer = Scorer(-2.0, **{"Normal lungs.": -0.5})
    assert audio_command(parser, scorer, AUDIO, "No lungs period.", [], DICTATION_WORDS) is None
    assert not [t for t in scorer.asked if "normal" in t.lower()]
    scorer = Scorer(-2.0, **{"Go to lungs.": -0.5})
    assert audio_command(parser, scorer, AUDIO, "Go to lungs 2.", [], DICTATION_WORDS) is None


def test_signing_from_the_audio_is_asked_unless_the_second_look_heard_it_too(parser):
    verdict = audio_command(parser, Scorer(-2.0, **{"Sign as preliminary.": -1.9}), AUDIO, "Sign up really binary.",
                            [], DICTATION_WORDS)
    assert verdict is not None and verdict.command.name == "sign_preliminary" and not verdict.sure
    # "Sine is final." read again with the command prompt as "Sign as final.", borne out by the audio.
    verdict = audio_command(parser, Scorer(-1.2, **{"Sign as final.": -1.5}), AUDIO, "Sine is final.",
                            ["Sign as final."], DICTATION_WORDS)
    assert verdict is not None and verdict.command.name == "sign_final" and verdict.sure
    # Suggested but not borne out: asked.
    verdict = audio_command(parser, Scorer(-1.2, **{"Sign as final.": -2.8}), AUDIO, "Sine is final.",
                            ["Sign as final."], DICTATION_WORDS)
    assert verdict is not None and verdict.command.name == "sign_final" and not verdict.sure


def test_no_score_means_no_command_from_the_audio(parser):
    scorer = Scorer(float("-inf"), **{"Undo.": float("-inf")})
    assert audio_command(parser, scorer, AUDIO, "And you.", [], DICTATION_WORDS) is None


def test_long_utterances_are_dictation_without_scoring(parser):
    scorer = Scorer(-1.0)
    assert audio_command(parser, scorer, AUDIO, "the heart size is normal and the lungs are clear", [],
                         DICTATION_WORDS) is None
    assert scorer.asked == []


def test_another_reading_of_the_same_audio_brings_its_phrases_to_the_list(parser):
    scorer = Scorer(-2.0, **{"Scratch that.": -2.2})
    verdict = audio_command(parser, scorer, AUDIO, "Crouch Earth.", ["Scratch note."], DICTATION_WORDS)
    assert verdict is not None and verdict.command.name == "scratch_that" and verdict.sure


def test_the_second_look_only_suggests_the_audio_decides(parser):
    """The command prompt makes Whisper write a command for almost any short sound: the
    phrase it suggests is scored like any other, never taken unscored."""
    # A suggestion the audio says far less than the words heard ("Clear layer"): dictation.
    scorer = Scorer(-1.8, **{"Clear field.": -5.4})
    assert audio_command(parser, scorer, AUDIO, "Clear layer", ["Clear field."], DICTATION_WORDS) is None
    assert "Clear field." in scorer.asked
    # Two readings agree on it: obeyed within the wider margin; beyond it, asked.
    verdict = audio_command(parser, Scorer(-1.2, **{"Go to indication.": -2.6}), AUDIO, "Got the indication,",
                            ["Go to indication."], DICTATION_WORDS)
    assert verdict is not None and verdict.sure and verdict.margin == pytest.approx(-1.4)
    verdict = audio_command(parser, Scorer(-1.2, **{"Go to sleep.": -3.5}), AUDIO, "Now to see it.",
                            ["Go to sleep."], DICTATION_WORDS)
    assert verdict is not None and not verdict.sure and verdict.command.name == "stop_listening"
    # A phrase only the short list brought keeps the ordinary margin: -1.4 is asked.
    verdict = audio_command(parser, Scorer(-1.2, **{"Go to indication.": -2.6}), AUDIO, "Got the indication,", [],
                            DICTATION_WORDS)
    assert verdict is not None and not verdict.sure
    # Borne out by the audio, the suggestion is obeyed ("Delta to findings" → "Go to findings.").
    verdict = audio_command(parser, Scorer(-4.1, **{"Go to findings.": -0.8}), AUDIO, "Delta to findings",
                            ["Go to findings."], DICTATION_WORDS)
    assert verdict is not None and verdict.sure and verdict.command.name == "go_to"


def test_a_phrase_must_match_the_best_reading_that_is_no_command(parser):
    # The words heard with the dictation prompt score badly ("improved fruit", -5.8); another
    # reading of the same audio that is no command ("Improve.", -3.0) is what the phrase is
    # measured against: "Move to findings." (-6.0) is then far less probable: dictation.
    scorer = Scorer(-5.8, **{"Improve.": -3.0, "Move to findings.": -6.0})
    assert audio_command(parser, scorer, AUDIO, "improved fruit", ["Improve."], DICTATION_WORDS) is None
    # Against the words heard alone the same phrase would have been obeyed.
    verdict = audio_command(parser, Scorer(-5.8, **{"Move to findings.": -6.0}), AUDIO, "improved fruit", [],
                            DICTATION_WORDS)
    assert verdict is not None and verdict.sure


def test_a_reading_opening_with_the_phrases_own_words_is_that_command_misheard_not_dictation(parser):
    # "go to impression" read again as "Go to expression.": the model's spelling of the last word,
    # no report sentence. The phrase is measured against the words heard ("Got the expression.").
    verdict = audio_command(parser, Scorer(-2.0, **{"Go to expression.": -1.0, "Go to impression.": -2.2}), AUDIO,
                            "Got the expression.", ["Go to expression."], DICTATION_WORDS)
    assert verdict is not None and verdict.sure and verdict.margin == pytest.approx(-0.2)
    # Both readings so: measured against them, with the margin of a command two readings heard.
    verdict = audio_command(parser, Scorer(-1.0, **{"Go to impression.": -2.2}), AUDIO, "Go to expression.",
                            ["Go to expression."], DICTATION_WORDS)
    assert verdict is not None and verdict.sure and verdict.margin == pytest.approx(-1.2)
    verdict = audio_command(parser, Scorer(-1.0, **{"Go to impression.": -3.0}), AUDIO, "Go to expression.",
                            ["Go to expression."], DICTATION_WORDS)
    assert verdict is not None and not verdict.sure
    # Well below them, asked all the same: "go to" and a garbled name is no sentence to write.
    verdict = audio_command(parser, Scorer(-1.0, **{"Go to impression.": -5.5}), AUDIO, "Go to expression.",
                            ["Go to expression."], DICTATION_WORDS)
    assert verdict is not None and not verdict.sure and verdict.command.arg == "impression"
    assert audio_command(parser, Scorer(-1.0, **{"Go to impression.": -6.5}), AUDIO, "Go to expression.",
                         ["Go to expression."], DICTATION_WORDS) is None
    # One reading with words of its own ("Got the expression."): the ordinary margin.
    assert audio_command(parser, Scorer(-1.0, **{"Go to impression.": -5.5}), AUDIO, "Got the expression.",
                         ["Go to expression."], DICTATION_WORDS) is None
    # A two-word phrase has no such opening: "Clear fluid." is dictation weighed against "clear field".
    verdict = audio_command(parser, Scorer(-1.0, **{"Clear field.": -2.2}), AUDIO, "Clear fluid.", ["Clear fluid."],
                            DICTATION_WORDS)
    assert verdict is not None and not verdict.sure


def test_a_suggestion_against_a_meaning_word_heard_is_asked_never_obeyed(parser):
    # "go to indication" heard "No two indication", read again as "Go to indication.": the words
    # heard carry "no", so the command may only be asked about.
    verdict = audio_command(parser, Scorer(-1.6, **{"Go to indication.": -1.6}), AUDIO, "No two indication",
                            ["Go to indication."], DICTATION_WORDS)
    assert verdict is not None and not verdict.sure and verdict.command.arg == "indication"
    # Without the second look's reading, "no" keeps the phrase off the list altogether.
    assert audio_command(parser, Scorer(-1.6, **{"Go to indication.": -1.6}), AUDIO, "No two indication", [],
                         DICTATION_WORDS) is None


def test_a_repeated_word_is_said_once_for_commands():
    parser = CommandParser(template=TemplateLibrary().get("xr-chest"))
    command = parser.parse("Go to to impression.")
    assert command is not None and (command.name, command.arg) == ("go_to", "impression")


def test_margins_are_checked_in_the_commands_file(tmp_path):
    from dictation.errors import DataFileError

    path = tmp_path / "commands.toml"
    path.write_text('[commands]\nundo = ["undo"]\n[matching]\naudio_obey = -3\naudio_ask = -1\n')
    with pytest.raises(DataFileError, match="audio_ask must not be above audio_obey"):
        load_commands(path)
    path.write_text('[commands]\nundo = ["undo"]\n[matching]\naudio_obey = 1\n')
    with pytest.raises(DataFileError, match="audio_obey must be a number from -10 to 0"):
        load_commands(path)


def _controller(texts, audio_says, other_prompt=None):
    recognizer = ScriptedRecognizer(texts, audio_says, other_prompt)
    controller = ReportController(Report.new(TemplateLibrary().get("xr-chest")), checks=False)
    return controller, recognizer


def _say(controller, recognizer, seed):
    audio = np.random.default_rng(seed).normal(0, 0.1, SAMPLE_RATE).astype(np.float32)
    return controller.handle(controller.recognise(recognizer, audio))


def test_obeyed_from_the_audio_the_record_keeps_the_words_heard():
    controller, recognizer = _controller(["go to impression", "pneumonia period", "And you."], {"Undo.": -1.5})
    for seed in range(3):
        handled = _say(controller, recognizer, seed)
    assert handled.record.kind == "command" and handled.record.command == "undo"
    assert handled.record.heard == "And you." and "heard “And you.”" in handled.outcome.message
    assert controller.report.slot_text("impression") == ""


def test_asked_from_the_audio_yes_obeys_and_anything_else_writes_the_words():
    controller, recognizer = _controller(["go to impression", "pneumonia period", "Scratch now.", "yes"],
                                         {"Scratch that.": -2.5})
    handled = [_say(controller, recognizer, seed) for seed in range(4)]
    assert handled[2].record.kind == "asked" and "“Scratch that?”" in handled[2].outcome.message
    assert handled[3].record.command == "scratch_that" and controller.report.slot_text("impression") == ""

    controller, recognizer = _controller(["go to impression", "Scratch now.", "pneumonia period"],
                                         {"Scratch that.": -2.5})
    for seed in range(3):
        _say(controller, recognizer, seed)
    text = controller.report.slot_text("impression").lower()
    assert "scratch now" in text and "pneumonia" in text  # nothing obeyed unasked, nothing lost


def test_a_command_only_the_second_look_heard_is_obeyed_when_the_audio_bears_it_out():
    # "Clear." heard "Clear layer"; the command prompt reads "Clear field." but the audio says
    # it far less than the words heard: written as dictation, the field not cleared.
    controller, recognizer = _controller(["go to impression", "pneumonia period", "Clear layer"],
                                         {"Clear field.": -5.4}, {"Clear layer": "Clear field."})
    handled = [_say(controller, recognizer, seed) for seed in range(3)]
    assert handled[2].record.kind == "dictation"
    text = controller.report.slot_text("impression").lower()
    assert "pneumonia" in text and "clear layer" in text
    # The same second look borne out by the audio is obeyed.
    controller, recognizer = _controller(["go to impression", "pneumonia period", "Delta to impression"],
                                         {"Go to impression.": -0.8}, {"Delta to impression": "Go to impression."})
    handled = [_say(controller, recognizer, seed) for seed in range(3)]
    assert handled[2].record.kind == "command" and handled[2].record.command == "go_to impression"


def test_start_listening_while_listening_is_its_twin_stop_when_the_audio_finds_that_about_as_probable():
    # espeak-ng's "stop listening" heard "Start listening": the audio scores the twin close.
    controller, recognizer = _controller(["go to impression", "Start listening.", "my phone call period"],
                                         {"Stop listening.": -2.2, "Start listening.": -0.6})
    handled = [_say(controller, recognizer, seed) for seed in range(3)]
    assert handled[1].record.command == "stop_listening" and "heard “Start listening.”" in handled[1].outcome.message
    assert not controller.report.listening and handled[2] is None  # asleep: the call is not written
    # The same when the words are no command and the audio matched "start listening".
    controller, recognizer = _controller(["go to impression", "It's partly studying.", "my phone call period"],
                                         {"Stop listening.": -2.0, "Start listening.": -0.9})
    handled = [_say(controller, recognizer, seed) for seed in range(3)]
    assert handled[1].record.command == "stop_listening" and handled[2] is None
    # "Start listening" really said scores its twin far lower: nothing changes, still listening.
    controller, recognizer = _controller(["go to impression", "Start listening.", "pneumonia period"],
                                         {"Stop listening.": -3.8, "Start listening.": -0.6})
    handled = [_say(controller, recognizer, seed) for seed in range(3)]
    assert handled[1].record.command == "start_listening" and controller.report.listening
    assert "pneumonia" in controller.report.slot_text("impression").lower()
    # Asleep, "start listening" wakes the tool whatever its twin scores.
    controller, recognizer = _controller(["stop listening", "Start listening.", "pneumonia period"],
                                         {"Stop listening.": -0.5, "Start listening.": -0.6})
    handled = [_say(controller, recognizer, seed) for seed in range(3)]
    assert handled[1].record.command == "start_listening" and controller.report.listening


def test_a_phrase_with_a_meaning_word_no_reading_heard_is_asked_never_obeyed():
    knee = CommandParser(template=TemplateLibrary().get("mr-knee"))
    phrases = {written_as(p) for p, _ in knee.phrases()}

    class KneeScorer(Scorer):
        def score(self, audio, texts):
            return [self.says.get(t, -9.0 if t in phrases else self.own) for t in texts]

    # "go to comparison" heard "a comparison": the macro "no comparison" scores best, its "no" unheard.
    scorer = KneeScorer(-1.5, **{"No comparison.": -1.2})
    verdict = audio_command(knee, scorer, AUDIO, "a comparison.", [], DICTATION_WORDS)
    assert verdict is not None and not verdict.sure and verdict.command.arg == "no-prior"
    # With the "no" heard by the second look, the audio may decide.
    verdict = audio_command(knee, scorer, AUDIO, "a comparison.", ["No comparison."], DICTATION_WORDS)
    assert verdict is not None and verdict.sure


def test_two_targets_about_as_probable_are_asked_unless_a_reading_heard_the_one(parser):
    # espeak-ng's "go to lungs" heard "Dr learned," and read again "Go to learn.": the audio finds
    # "Go to lines." a little more probable than "Go to lungs.", and nothing heard either name.
    scorer = Scorer(-2.4, **{"Go to lines.": -2.6, "Go to lungs.": -3.3})
    verdict = audio_command(parser, scorer, AUDIO, "Dr learned,", ["Go to learn."], DICTATION_WORDS)
    assert verdict is not None and verdict.command.arg == "findings.lines_tubes" and not verdict.sure
    # The same closeness, but "lungs" was heard: obeyed.
    scorer = Scorer(-2.4, **{"Go to lines.": -3.3, "Go to lungs.": -2.6})
    verdict = audio_command(parser, scorer, AUDIO, "Outer lungs.", ["Go to lung."], DICTATION_WORDS)
    assert verdict is not None and verdict.command.arg == "findings.lungs" and verdict.sure
    # Far apart on the audio: obeyed though neither name was heard.
    scorer = Scorer(-2.4, **{"Go to lines.": -2.6, "Go to lungs.": -4.0})
    verdict = audio_command(parser, scorer, AUDIO, "Dr learned,", ["Go to learn."], DICTATION_WORDS)
    assert verdict is not None and verdict.command.arg == "findings.lines_tubes" and verdict.sure


def test_an_article_sets_no_command_apart_from_another(parser):
    # espeak-ng's "go to indication" heard "Got indication": "Go to the indication." is as probable
    # as the words heard and a little more than "Go to communication."; "indication" was heard, and
    # "the" is no word of the section's name.
    scorer = Scorer(-2.5, **{"Go to the indication.": -2.45, "Go to indication.": -2.5, "Go to communication.": -3.2})
    verdict = audio_command(parser, scorer, AUDIO, "Got indication", ["Go to indication."], DICTATION_WORDS)
    assert verdict is not None and verdict.command.arg == "indication" and verdict.sure
    # "Go to the findings." against "Go to other findings.": the phrase has no word of its own,
    # so it is obeyed only when no reading heard the other's ("other").
    scorer = Scorer(-3.6, **{"Go to the findings.": -2.7, "Go to findings.": -2.8, "Go to other findings.": -3.3})
    verdict = audio_command(parser, scorer, AUDIO, "Dr Eing", ["Go to finding."], DICTATION_WORDS)
    assert verdict is not None and verdict.command.arg == "findings.lines_tubes" and verdict.sure
    verdict = audio_command(parser, scorer, AUDIO, "Dr other fines", ["Go to finding."], DICTATION_WORDS)
    assert verdict is not None and verdict.command.arg == "findings.lines_tubes" and not verdict.sure


def test_a_phrase_whose_opening_no_reading_heard_anything_for_is_asked(parser):
    # espeak-ng's "None." heard "the heart,": "Go to the heart." about as probable, but nothing was
    # heard where the command opens, and a field is answered so: asked, never obeyed.
    scorer = Scorer(-3.5, **{"Go to the heart.": -3.64, "Go to heart.": -4.8})
    verdict = audio_command(parser, scorer, AUDIO, "the heart,", ["Go to target."], DICTATION_WORDS)
    assert verdict is not None and verdict.command.arg == "findings.heart_mediastinum" and not verdict.sure
    # A word where it opens ("Dr", "to") is the command misheard: obeyed.
    for heard in ("Dr heart,", "to the heart,"):
        verdict = audio_command(parser, scorer, AUDIO, heard, ["Go to target."], DICTATION_WORDS)
        assert verdict is not None and verdict.command.arg == "findings.heart_mediastinum" and verdict.sure, heard


def test_dictation_whose_period_was_heard_as_a_word_ends_with_the_full_stop_and_its_record_says_so():
    controller, recognizer = _controller(["go to impression", "Small left pleural effusion aorta.", "Mild cardiomegaly"],
                                         {"Small left pleural effusion period.": -0.4,
                                          "Mild cardiomegaly period.": -0.8})
    handled = [_say(controller, recognizer, seed) for seed in range(3)]
    assert controller.report.slot_text("impression").startswith("Small left pleural effusion. Mild cardiomegaly.")
    assert handled[1].record.heard == "Small left pleural effusion period."
    assert [w["word"] for w in handled[1].record.words][-1] == "period."
    # A report whose punctuation is not dictated: the words stay as heard.
    from dictation.text.pipeline import TextPipeline
    from dictation.text.spoken import Normalizer

    plain = ReportController(Report.new(TemplateLibrary().get("xr-chest")), checks=False,
                             pipeline=TextPipeline(normalizer=Normalizer(spoken_punctuation=False)))
    assert plain.pipeline.full_stop is None and controller.pipeline.full_stop == "period"
    recognizer = ScriptedRecognizer(["go to impression", "Small left pleural effusion aorta."],
                                    {"Small left pleural effusion period.": -0.4})
    for seed in range(2):
        _say(plain, recognizer, seed)
    assert "aorta" in plain.report.slot_text("impression").lower()


@pytest.mark.parametrize(("seconds", "said"), [(1.5, "Clear layer~0.3"), (4.0, "Small left~0.4 pleural effusion period")])
def test_the_decodes_started_ahead_are_those_the_reading_asks_for_in_its_order(seconds, said):
    """ahead.py starts ``further_decodes`` on the model's second copy while the first decode is
    made: they must be the very decodes the reading then asks for, or none is ever taken."""
    controller, recognizer = _controller([said], {})
    asked = []
    transcribe = recognizer.transcribe

    def recorded(audio, options=None, **kw):
        asked.append(options)
        return transcribe(audio, options, **kw)

    recognizer.transcribe = recorded
    audio = np.random.default_rng(0).normal(0, 0.1, int(seconds * SAMPLE_RATE)).astype(np.float32)
    controller.recognise(recognizer, audio)
    assert asked[0] == controller.decode_options()
    assert asked[1:] == controller.further_decodes(audio) and asked[1:]
    assert len(asked) == (3 if seconds <= 3 else 2)
