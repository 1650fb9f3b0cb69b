"""The recognition-server client: where audio may go, what an answer must hold, and the fallback to
this workstation's model (a stand-in HTTP server on 127.0.0.1 here; the real WhisperLive server is
in tests/integration/test_speech_server.py)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dictation.errors import DataFileError, ModelError
from dictation.speech.server import (
    ServerRecognizer,
    ServerUnusable,
    SpeechServer,
    check_server_url,
    segments_from_answer,
)
from tests.voice import synthesize


def test_audio_goes_over_https_or_stays_on_loopback():
    assert check_server_url("https://asr.group.example") == "https://asr.group.example/v1/audio/transcriptions"
    assert check_server_url("http://127.0.0.1:9000/v1/audio/transcriptions/") == \
        "http://127.0.0.1:9000/v1/audio/transcriptions"
    assert check_server_url("http://localhost:8000").startswith("http://localhost:8000/")
    for bad, said in [("http://10.1.2.3:8000", "over https"), ("ftp://asr.example", "not an http"),
                      ("https://user:secret@asr.example", "credentials"), ("asr.example", "not an http")]:
        with pytest.raises(ModelError, match=said):
            check_server_url(bad)


def _answer(words):
    return {"segments": [{"start": 0.0, "end": 1.0, "text": "no effusion", "avg_logprob": -0.2, "no_speech_prob": 0.01,
                          "words": words}]}


def test_an_answer_without_word_timings_or_probabilities_is_not_used():
    good = segments_from_answer(_answer([{"word": " no", "start": 0.0, "end": 0.3, "probability": 0.9},
                                         {"word": " effusion", "start": 0.3, "end": 0.9, "probability": 0.8}]), 1.0)
    assert [w.word for w in good[0].words] == ["no", "effusion"] and good[0].words[1].probability == 0.8
    # A token with no text is no word (it would give a copy "speech behind it" at the window's end).
    padded = segments_from_answer(_answer([{"word": " no", "start": 0.0, "end": 0.3, "probability": 0.9},
                                           {"word": " effusion", "start": 0.3, "end": 0.9, "probability": 0.8},
                                           {"word": " ", "start": 1.0, "end": 1.0, "probability": 0.99}]), 1.0)
    assert [w.word for w in padded[0].words] == ["no", "effusion"]
    # OpenAI's own word objects carry no probability: the safety net could not judge a word.
    for answer in [_answer([{"word": "no", "start": 0.0, "end": 0.3}]), _answer([]), {"text": "no effusion"},
                   _answer([{"word": "no", "start": 0.0, "end": 0.3, "probability": 7}]), ["no"]]:
        with pytest.raises(ServerUnusable):
            segments_from_answer(answer, 1.0)


class _Stand(BaseHTTPRequestHandler):
    """What the server does next: ("sleep", s) answers late; ("answer", obj) answers at once."""

    behaviour: list = []
    requests: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append(body)
        kind, arg = type(self).behaviour[0]
        if kind == "sleep":
            time.sleep(arg)
            arg = {}
        data = json.dumps(arg).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def stand():
    _Stand.behaviour, _Stand.requests = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stand)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def speech():
    return synthesize("there is no pleural effusion")


def test_an_utterance_the_server_does_not_read_in_time_is_read_here_and_the_server_asked_again(
        stand, speech, monkeypatch):
    url = f"http://127.0.0.1:{stand.server_address[1]}"
    recognizer = ServerRecognizer(SpeechServer(url, deadline=0.5))
    _Stand.behaviour = [("sleep", 3.0)]
    t0 = time.monotonic()
    heard = recognizer.transcribe(speech)
    waited = time.monotonic() - t0
    assert heard.decoder == "tiny.en (bundled)" and "did not answer within 0.5 s" in heard.fallback
    assert "effusion" in heard.text.lower() and waited < 0.5 + 3.0  # the deadline, then one local read
    assert recognizer.why == heard.fallback
    # The server took it but was late (a decode that looped?): the next utterance asks it again...
    assert "did not answer" in recognizer.transcribe(speech).fallback and len(_Stand.requests) == 2
    # ...late twice in a row (hung?), it is left alone for a while: utterances do not wait for it.
    assert recognizer.transcribe(speech).decoder == "tiny.en (bundled)" and len(_Stand.requests) == 2
    # Later the server is asked again, and what it reads is taken whole, with its word probabilities.
    monkeypatch.setattr(recognizer, "_retry_at", 0.0)
    _Stand.behaviour = [("answer", _answer([{"word": " no", "start": 0.1, "end": 0.4, "probability": 0.95},
                                            {"word": " effusion.", "start": 0.4, "end": 1.0, "probability": 0.9}]))]
    heard = recognizer.transcribe(speech)
    assert (heard.decoder, heard.fallback, heard.text) == (f"whisper-1 on 127.0.0.1:{stand.server_address[1]}", "",
                                                           "no effusion")
    # Why the last utterance read here was: still said after the server read the next one (an
    # utterance read here is often reported only once the next one has been read).
    assert "did not answer within 0.5 s" in recognizer.why
    assert [w.probability for w in heard.words] == [0.95, 0.9]
    sent = _Stand.requests[-1]
    assert b"RIFF" in sent and b"verbose_json" in sent and b'name="timestamp_granularities[]"' in sent


def test_a_server_that_gives_no_word_probabilities_is_not_used(stand, speech):
    url = f"http://127.0.0.1:{stand.server_address[1]}"
    recognizer = ServerRecognizer(SpeechServer(url))
    _Stand.behaviour = [("answer", _answer([{"word": "no", "start": 0.0, "end": 0.3}]))]
    heard = recognizer.transcribe(speech)
    assert heard.decoder == "tiny.en (bundled)" and "probabilities" in heard.fallback
    recognizer.transcribe(speech)  # a server that answers nonsense is left alone for a while
    assert len(_Stand.requests) == 1


def test_the_speech_section_of_the_config_is_checked(tmp_path):
    from dictation.config import load_config

    path = tmp_path / "config.toml"
    path.write_text('[speech]\nserver = "https://asr.group.example"\ndeadline_seconds = 1.5\nmodel = "large-v3"\n')
    server = load_config(path).speech_server
    assert server is not None and (server.deadline, server.model, server.host) == (1.5, "large-v3", "asr.group.example")
    for body, said in [('server = "http://10.0.0.7:8000"', "over https"), ('server = "https://a.example"\ndeadline_seconds = 0',
                       "deadline_seconds"), ('deadline_seconds = 2', "needs server"),
                       ('server = "https://a.example"\nca_file = "nowhere.pem"', "ca_file"),
                       ('server = "https://a.example"\nvoice = "x"', "voice")]:
        path.write_text(f"[speech]\n{body}\n")
        with pytest.raises(DataFileError, match=said):
            load_config(path)


def test_a_tail_the_server_invented_after_the_speech_is_dropped_but_never_a_meaning_word():
    first = {"start": 0.0, "end": 4.6, "text": "no hydrocephalus.", "avg_logprob": -0.2, "no_speech_prob": 0.01,
             "compression_ratio": 1.1, "words": [{"word": " no", "start": 3.3, "end": 3.5, "probability": 0.9},
                                                 {"word": " hydrocephalus.", "start": 3.5, "end": 4.5, "probability": 0.8}]}

    def tail(text, no_speech, ratio):
        return {"start": 4.6, "end": 4.76, "text": text, "avg_logprob": -1.0, "no_speech_prob": no_speech,
                "compression_ratio": ratio, "words": [{"word": f" {w}", "start": 4.7, "end": 4.7, "probability": 0.9}
                                                      for w in text.split()]}

    def kept(*segments):
        return " ".join(s.text for s in segments_from_answer({"segments": list(segments)}, 4.8))

    assert kept(first, tail("Now we're going to take a look", 0.6, 2.0)) == "no hydrocephalus."
    assert kept(first, tail("we're going to we're going to we're going to", 0.1, 13.0)) == "no hydrocephalus."
    assert kept(first, tail("No mass", 0.8, 0.9)) == "no hydrocephalus. No mass"  # a meaning word: kept, shown
    assert kept(first, tail("That is it", 0.1, 0.9)) == "no hydrocephalus. That is it"  # speech was likely: kept
