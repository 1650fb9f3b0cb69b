"""DictationSession's flow around the recognizer (scripted recognizer; the real one is in integration)."""

import numpy as np

from dictation.speech.audio import SAMPLE_RATE, ArraySource
from dictation.speech.session import DictationSession, LevelChanged, PartialText, SessionError, StateChanged, UtteranceCommitted
from dictation.testing import MissingMicrophone, ScriptedRecognizer
from tests.voice import synthesize


def run(audio, texts, events=None, **kw):
    events = [] if events is None else events
    recognizer = ScriptedRecognizer(texts)
    session = DictationSession(ArraySource(audio), events.append, recognizer=recognizer, **kw)
    session.start()
    assert session.wait(30)
    return session, events, recognizer


def test_utterances_are_stored_before_they_are_shown():
    first = synthesize("there is a small left pleural effusion period", lead=0.3, trail=1.0)
    second = synthesize("no pneumothorax period", lead=0.3, trail=1.0)
    stored = []
    events = []

    def on_utterance(u):  # record how many utterances had been shown when this one was stored
        stored.append((u.text, sum(isinstance(e, UtteranceCommitted) for e in events)))

    session, events, recognizer = run(np.concatenate([first, second]), ["small effusion period", "no pneumothorax period"],
                                      events, on_utterance=on_utterance)
    committed = [e for e in events if isinstance(e, UtteranceCommitted)]
    assert [e.utterance.text for e in committed] == ["Small effusion.", "No pneumothorax."]
    assert stored == [("Small effusion.", 0), ("No pneumothorax.", 1)]
    assert session.text == "Small effusion. No pneumothorax."
    assert any(isinstance(e, PartialText) and e.tentative for e in events)  # tentative text while speaking
    assert any(isinstance(e, LevelChanged) and e.peak > 0.1 for e in events)
    assert [e.state for e in events if isinstance(e, StateChanged)][-1] == "stopped"
    # The final text came from the speculative decode made during the silence: no decode after it.
    assert len(recognizer.final_calls) <= 3


def test_words_keep_times_in_the_recording():
    speech = synthesize("no pneumothorax", lead=1.0, trail=1.0)
    _, events, _ = run(speech, ["no pneumothorax"])
    u = next(e for e in events if isinstance(e, UtteranceCommitted)).utterance
    assert u.start > 0.5
    assert u.segment_json()["words"][0]["start"] >= round(u.start, 3)


def test_no_microphone_is_a_state_not_a_crash():
    events = []
    session = DictationSession(MissingMicrophone(), events.append, recognizer=ScriptedRecognizer([]))
    session.start()
    assert session.wait(5)
    assert any(isinstance(e, StateChanged) and e.state == "no_microphone" for e in events)
    assert any(isinstance(e, SessionError) and "no microphone" in e.message for e in events)


def test_pause_drops_audio():
    speech = synthesize("there is a small left pleural effusion", lead=0.3, trail=1.0)
    events = []
    session = DictationSession(ArraySource(speech), events.append, recognizer=ScriptedRecognizer(["x"]))
    session.pause()
    session.start()
    assert session.wait(30)
    assert not any(isinstance(e, UtteranceCommitted) for e in events)
    assert len(speech) / SAMPLE_RATE > 1


def test_streaming_recognizer_push_api():
    """insert_audio / process / finish, without I/O: partials only after enough new audio."""
    from dictation.speech.recognizer import StreamingRecognizer

    recognizer = ScriptedRecognizer(["no pneumothorax"])
    stream = StreamingRecognizer(recognizer)
    stream.insert_audio(np.zeros(SAMPLE_RATE // 2, np.float32))
    assert stream.process() is None  # half a second: too little to guess from
    stream.insert_audio(np.zeros(SAMPLE_RATE, np.float32))
    first = stream.process()
    assert first is not None and first.tentative == "partial 1" and first.committed == ""
    assert stream.process() is None  # nothing new since
    stream.insert_audio(np.zeros(SAMPLE_RATE, np.float32))
    second = stream.process()
    # LocalAgreement-2: the words two passes agree on are committed, the rest stays tentative.
    assert (second.committed, second.tentative) == ("partial", "2")
    final = stream.finish()
    assert final.text == "no pneumothorax" and final.words[0].word == "no"
    assert recognizer.final_calls == [int(2.5 * SAMPLE_RATE)]  # the whole utterance, once


def test_with_a_report_commands_are_obeyed_and_every_utterance_is_stored_before_it_is_shown(tmp_path):
    from dictation.reporting.controller import ReportController
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary
    from dictation.speech.session import CommandApplied
    from dictation.store import Store

    parts = [synthesize(t, lead=0.3, trail=1.0) for t in ("go to impression", "pneumonia period", "scratch that")]
    store = Store(tmp_path / "s.db")
    report = Report.new(TemplateLibrary().get("xr-chest"))
    controller = ReportController(report, store=store)
    seen_in_store = []
    events = []

    def on_event(e):
        events.append(e)
        if isinstance(e, (CommandApplied, UtteranceCommitted)):
            seen_in_store.append(len(store.utterances(report.id)))

    recognizer = ScriptedRecognizer(["go to impression", "pneumonia period", "scratch that"])
    session = DictationSession(ArraySource(np.concatenate(parts)), on_event, recognizer=recognizer, controller=controller)
    session.start()
    assert session.wait(30)
    applied = [e for e in events if isinstance(e, CommandApplied)]
    assert [(e.command.name, e.ok) for e in applied] == [("go_to", True), ("scratch_that", True)]
    assert [e.utterance.text for e in events if isinstance(e, UtteranceCommitted)] == ["Pneumonia."]
    assert seen_in_store == [1, 2, 3]  # each event came after its utterance was in the store
    assert report.slot_text("impression") == ""
    assert report.utterances[1].scratched


def _report_session(tmp_path, texts, controller_setup=None, *, spoken=None, events=None):
    """A session into an xr-chest report: ``texts`` are what the scripted recogniser hears, one
    per utterance of ``spoken`` (the same words unless given)."""
    from dictation.reporting.controller import ReportController
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary
    from dictation.store import Store

    parts = [synthesize(t, lead=0.3, trail=1.0) for t in (spoken or texts)]
    report = Report.new(TemplateLibrary().get("xr-chest"))
    controller = ReportController(report, store=Store(tmp_path / "s.db"))
    if controller_setup:
        controller_setup(controller)
    events = [] if events is None else events
    session = DictationSession(ArraySource(np.concatenate(parts)), events.append,
                               recognizer=ScriptedRecognizer(list(texts)), controller=controller)
    session.start()
    assert session.wait(60)
    return controller, events


def test_checks_run_after_every_utterance_and_flags_follow_the_text(tmp_path):
    from dictation.speech.session import FlagsChanged

    texts = ["go to impression", "large right pneumothorax period", "scratch that"]
    controller, events = _report_session(tmp_path, texts)
    order = [type(e).__name__ for e in events if isinstance(e, (UtteranceCommitted, FlagsChanged))
             or type(e).__name__ == "CommandApplied"]
    # Each change of flags comes right after the utterance that caused it is shown.
    assert order == ["CommandApplied", "FlagsChanged", "UtteranceCommitted", "FlagsChanged", "CommandApplied", "FlagsChanged"]
    flag_events = [e for e in events if isinstance(e, FlagsChanged)]
    critical = [[f.finding for f in e.flags if f.kind == "critical_finding"] for e in flag_events]
    assert ["pneumothorax"] in critical  # dictated: flagged
    assert critical[-1] == []  # scratched: the flag is gone
    assert controller.flags == flag_events[-1].flags


def test_broken_checks_are_said_once_and_dictation_goes_on(tmp_path):
    from dictation.errors import DataFileError

    class Broken:
        def check_report(self, report):
            raise DataFileError("vocab/critical_findings.toml", 3, "unknown key 'actoin'")

    def setup(controller):
        controller._checker = Broken()

    controller, events = _report_session(tmp_path, ["go to impression", "no pneumothorax period", "normal heart period"], setup)
    errors = [e.message for e in events if isinstance(e, SessionError)]
    assert errors == ["clinical checks are off: vocab/critical_findings.toml:3: unknown key 'actoin'"]
    assert controller.report.slot_text("impression") == "No pneumothorax. Normal heart."
    assert len(controller.report.utterances) == 3


def test_a_pause_inside_an_utterance_lets_the_piece_before_it_be_decoded_early():
    first = synthesize("the lungs are clear and the heart size is normal", lead=0.3, trail=0.35)
    second = synthesize("there is no pleural effusion or pneumothorax period", lead=0.0, trail=1.2)
    audio = np.concatenate([first, second])
    script = ["the lungs are clear and the heart size is normal", "there is no pleural effusion or pneumothorax period"]
    session, events, recognizer = run(audio, list(script), piece_seconds=2)
    (committed,) = [e for e in events if isinstance(e, UtteranceCommitted)]  # still one utterance
    assert committed.utterance.text == ("The lungs are clear and the heart size is normal there is no pleural effusion "
                                        "or pneumothorax.")
    words = committed.utterance.segment_json()["words"]
    assert words[0]["word"] == "the" and words[-1]["word"] == "period"
    # The second piece's words are placed after the first piece, in the recording's time.
    assert words[10]["start"] >= len(first) / SAMPLE_RATE - 0.5
    # Decoded as two pieces, the second alone: nothing was decoded twice from the start at the end.
    assert len(recognizer.final_calls) == 2 and recognizer.final_calls[1] < len(second)

    whole, events, recognizer = run(audio, [" ".join(script)], piece_seconds=0)
    (committed,) = [e for e in events if isinstance(e, UtteranceCommitted)]
    assert committed.utterance.text.endswith("normal there is no pleural effusion or pneumothorax.")
    assert max(recognizer.final_calls) > len(first)  # one decode of the whole utterance


def test_a_short_last_piece_is_decoded_with_the_piece_before_it():
    first = synthesize("the lungs are clear and the heart size is normal", lead=0.3, trail=0.35)
    second = synthesize("period", lead=0.0, trail=1.2)
    script = ["the lungs are clear and the heart size is normal", "period"]
    _, events, recognizer = run(np.concatenate([first, second]), script, piece_seconds=2)
    (committed,) = [e for e in events if isinstance(e, UtteranceCommitted)]
    # "period" alone (under 1.5 s) was not decoded alone: the last decode starts where the first
    # did (the scripted recogniser answers a decode from the same start with the same text) and
    # replaces the first piece rather than following it.
    assert committed.utterance.text == "The lungs are clear and the heart size is normal"
    assert recognizer.final_calls[-1] > len(first) - SAMPLE_RATE // 2


def test_a_command_with_a_stray_word_the_model_barely_heard_is_obeyed_not_written(tmp_path):
    spoken = ["go to indication", "shortness of breath period", "go to impression"]
    heard = ["go to indication in~0.22", "shortness of breath.", "go to impression in~0.9"]
    controller, _ = _report_session(tmp_path, heard, spoken=spoken)
    kinds = [(u.kind, u.command) for u in controller.report.utterances]
    assert kinds[0] == ("command", "go_to indication")
    assert controller.report.utterances[1].slot == "indication"
    assert controller.report.sections_text()["indication"].startswith("Shortness of breath")
    # The same word heard with confidence: neither obeyed nor written, but asked.
    assert kinds[2] == ("asked", "go_to impression")
    assert "go to" not in controller.report.render().lower()
    assert controller.question is not None and controller.report.slot.key == "indication"


def test_a_near_command_is_asked_and_yes_obeys_it(tmp_path):
    from dictation.speech.session import CommandApplied, CommandAsked

    controller, events = _report_session(tmp_path, ["go to impression", "pneumonia period", "lets scratch that", "yes"])
    asked = [e for e in events if isinstance(e, CommandAsked)]
    assert len(asked) == 1 and "Scratch that?" in asked[0].message
    assert controller.report.slot_text("impression") == ""  # scratched after the yes
    assert [e.command.name for e in events if isinstance(e, CommandApplied)] == ["go_to", "scratch_that"]
    assert "lets" not in controller.report.render().lower()


def test_a_near_command_answered_no_or_not_answered_is_written_as_dictation(tmp_path):
    controller, _ = _report_session(tmp_path, ["go to impression", "lets scratch that", "no"])
    assert controller.report.slot_text("impression").lower().startswith("lets scratch that")
    controller, _ = _report_session(tmp_path / "b", ["go to impression", "lets scratch that", "pneumonia period"])
    text = controller.report.slot_text("impression").lower()
    assert "lets scratch that" in text and "pneumonia" in text  # nothing lost, nothing obeyed unasked
    assert controller.question is None


def test_a_finding_or_another_command_said_while_a_question_waits_is_no_answer(tmp_path):
    # "Negative." is a finding, not "no": both it and the held words are written, nothing obeyed.
    controller, _ = _report_session(tmp_path, ["go to impression", "lets scratch that", "negative"])
    text = controller.report.slot_text("impression").lower()
    assert "lets scratch that" in text and "negative" in text
    assert controller.question is None
    # "confirm" is its own command, never a yes to the held one (nothing scratched).
    controller, _ = _report_session(tmp_path / "b", ["go to impression", "pneumonia period", "lets scratch that", "confirm"])
    assert "pneumonia" in controller.report.slot_text("impression").lower()
    assert controller.question is None


def test_falling_behind_the_microphone_and_dropped_audio_are_said_at_once():
    """A machine too busy to keep up: the session says how far behind it is, and again when it
    has caught up; audio the device dropped is counted, never hidden."""
    from dictation.speech.audio import make_block
    from dictation.speech.session import Backlog

    class LateMicrophone(ArraySource):
        overflows = 0

        def read(self, timeout=None):
            block = super().read(timeout)
            if block is None:
                return None
            lag = 2.6 if block.start < 1.0 else 0.0  # the first second arrives 2.6 s late, then it catches up
            if 0.5 <= block.start < 0.6:
                self.overflows = 1
            return make_block(block.samples, block.start, captured_at=block.captured_at - lag)

    events = []
    session = DictationSession(LateMicrophone(synthesize("the lungs are clear period", lead=0.3, trail=1.0)),
                               events.append, recognizer=ScriptedRecognizer(["The lungs are clear."]))
    session.start()
    assert session.wait(30)
    said = [(e.seconds, e.overflows) for e in events if isinstance(e, Backlog)]
    assert said[0] == (3.0, 0)  # at once, in whole seconds
    assert (3.0, 1) in said  # the dropped block, said as it happened
    assert said[-1] == (0.0, 1)  # caught up; the drop stays counted


def test_a_backlog_is_not_left_on_the_status_line_once_the_session_has_ended():
    """Behind until the very end (the recording ended while recognition was late): once the
    session has ended nothing waits, and the last word on it says so."""
    from dictation.speech.audio import make_block
    from dictation.speech.session import Backlog

    class LateToTheEnd(ArraySource):
        def read(self, timeout=None):
            block = super().read(timeout)
            if block is None:
                return None
            return make_block(block.samples, block.start, captured_at=block.captured_at - 2.6)

    events = []
    session = DictationSession(LateToTheEnd(synthesize("the lungs are clear period", lead=0.3, trail=1.0)),
                               events.append, recognizer=ScriptedRecognizer(["The lungs are clear."]))
    session.start()
    assert session.wait(30)
    said = [e.seconds for e in events if isinstance(e, Backlog)]
    assert said[0] == 3.0 and said[-1] == 0.0


def test_an_utterance_is_read_for_the_report_in_its_closing_pause_once(tmp_path, monkeypatch):
    """The report's reading (command checks, second reading) of an utterance is made in the pause
    that ends it, before the end is decided, and not made again when it ends with that audio."""
    import dictation.speech.session as session_module
    from dictation.reporting.controller import ReportController

    # A file is read as fast as it decodes: never "behind", unless the machine stalls the thread.
    monkeypatch.setattr(session_module, "READ_AHEAD_BEHIND_S", 60.0)

    calls, events = [], []

    def setup(controller):
        original = ReportController.recognise

        def recognise(recognizer, audio, heard=None):
            states = [e.state for e in events if isinstance(e, StateChanged)]
            calls.append(states[-1] if states else None)
            return original(controller, recognizer, audio, heard)

        controller.recognise = recognise

    texts = ["go to impression", "pneumonia period", "no effusion period"]
    controller, _ = _report_session(tmp_path, texts, setup, events=events)
    assert [(u.kind, u.command) for u in controller.report.utterances] == [
        ("command", "go_to impression"), ("dictation", None), ("dictation", None)]
    assert len(calls) == 3  # once per utterance
    assert "recognising" not in calls  # each before its end was decided (the final is then only written)


def test_a_check_that_started_before_an_utterance_never_overwrites_the_check_after_it(tmp_path):
    """The screen's first check (loading the NLP pipeline, slow on a busy machine) and the
    session's check after an utterance run on two threads: the flags kept are the later check's."""
    import threading

    from dictation.checks import Flag, FlagKind
    from dictation.reporting.controller import ReportController
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary

    first_started, release_first = threading.Event(), threading.Event()

    class SlowFirstChecker:
        calls = 0

        def check_report(self, report):
            SlowFirstChecker.calls += 1
            dictated = report.slot_text("impression")  # the report as this check saw it
            if SlowFirstChecker.calls == 1:
                first_started.set()
                release_first.wait(10)
            return [Flag(FlagKind.CRITICAL_FINDING, "critical", dictated, finding="pneumothorax")] if dictated else []

    controller = ReportController(Report.new(TemplateLibrary().get("xr-chest")))
    controller._checker = SlowFirstChecker()
    first = threading.Thread(target=controller.run_checks)
    first.start()
    assert first_started.wait(10)
    controller.report.go_to("impression")
    controller.report.dictate("Large right pneumothorax.")
    later = threading.Thread(target=controller.run_checks)
    later.start()
    later.join(0.5)  # waits for the earlier check (without the wait, it would finish first)
    release_first.set()
    first.join(10)
    later.join(10)
    assert [f.finding for f in controller.flags] == ["pneumothorax"]


def test_a_pause_from_the_screen_is_never_said_over_with_listening():
    """Push-to-talk: the screen pauses the session (another thread) just as the session thread
    decides what to say it is doing; the state said last is the one it is in."""
    import threading

    events, fired = [], []

    class PausedAtTheWorstMoment(threading.Event):
        def is_set(self):
            was = super().is_set()
            if threading.current_thread().name != "radscribe-dictation":
                return was
            if not was and not fired:
                # The screen's pause() lands between the check and the state said: it waits for
                # the state lock the session thread holds while it says what it is doing.
                fired.append(threading.Thread(target=session.pause))
                fired[0].start()
                fired[0].join(0.3)
            elif fired and fired[0].is_alive():
                fired[0].join(10)  # the next check, in the audio loop: the lock is free, the pause lands
                was = super().is_set()
            return was

    session = DictationSession(ArraySource(np.zeros(SAMPLE_RATE, np.float32)), events.append,
                               recognizer=ScriptedRecognizer([]))
    session._paused = PausedAtTheWorstMoment()
    session.start()
    assert session.wait(30) and fired
    states = [e.state for e in events if isinstance(e, StateChanged)]
    assert states[-1] == "stopped" and states[-2] == "paused", states
