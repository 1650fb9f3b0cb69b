"""A group's recognition server, for real: WhisperLive's OpenAI-compatible REST server serving the
bundled tiny.en on 127.0.0.1 (its own venv), dictated through, then stopped mid-dictation."""

import json
import os
import re
import signal
import sqlite3
import subprocess

import pytest

from tests.peers.whisper_live import WhisperLive
from tests.voice import speak_with_pauses, write_wav

REPORT = ["go to findings", "the lungs are clear period", "there is no pneumothorax period",
          "the heart size is normal period", "go to impression", "no acute disease period"]


@pytest.fixture(scope="module")
def report_wav(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("server") / "report.wav", speak_with_pauses(REPORT))


# Where the server is meant to read every utterance, its deadline is far beyond what a request
# takes when the test machine is loaded (beside two busy loops the peer took about 2.3 s a
# request, and an utterance asks it for more than one reading, one after the other: about 10 s an
# utterance). The deadline itself is tested with a server that stops answering: long enough for
# the readings before it stops, short enough that waiting for it twice does not make the test slow.
PATIENT = 60  # the most the product allows
DEADLINE = 30


def config(tmp_path, deadline, server="http://127.0.0.1:9", extra=""):
    (tmp_path / "config.toml").write_text('[reader]\nid = "R-TEST"\nfamily = "Reader"\ngiven = "Tess"\n\n'
                                          f'[speech]\nserver = "{server}"\ndeadline_seconds = {deadline}\n{extra}')


@pytest.fixture
def env(tmp_path):
    config(tmp_path, PATIENT)
    return {**os.environ, "RADSCRIBE_STORE": str(tmp_path / "store.db"), "RADSCRIBE_CONFIG": str(tmp_path / "config.toml")}


def run(cmd, env, timeout=240):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def test_transcribe_through_the_server_reads_the_dictation_with_word_timings(radscribe_cmd, report_wav, env):
    with WhisperLive() as server:
        done = run([*radscribe_cmd, "transcribe", str(report_wav), "--json", "--server", server.url], env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["model"] == f"whisper-1 on 127.0.0.1:{server.port}", done.stderr
    assert {s["decoder"] for s in result["segments"]} == {result["model"]}  # every utterance read by the server
    text = result["text"].lower()
    for words in ("lungs are clear", "pneumothorax", "heart size is normal", "acute disease"):
        assert words in text, text
    words = [w for s in result["segments"] for w in s["words"]]
    assert words and all(0.0 <= w["probability"] <= 1.0 and w["start"] <= w["end"] for w in words)
    assert "read on this workstation" not in done.stderr


def test_a_server_that_stops_answering_mid_dictation_loses_nothing_and_splices_nothing(radscribe_cmd, report_wav, env,
                                                                                       tmp_path):
    """`dictate --realtime` through the server; after two stored utterances the server stops
    answering (SIGSTOP: it holds the connection and says nothing). The next utterance waits the
    deadline, then this workstation reads it, and every one after (the server is asked again only
    later); the command says so at once; every utterance is stored once, in order, read whole by
    one model, and the stored record names which."""
    config(tmp_path, DEADLINE)
    with WhisperLive() as server:
        lines = []
        with subprocess.Popen([*radscribe_cmd, "dictate", str(report_wav), "--template", "xr-chest", "--realtime",
                               "--progress", "--json", "--server", server.url], stderr=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env) as proc:
            while sum(line.startswith("stored utterance") for line in lines) < 2:
                line = proc.stderr.readline()
                assert line, lines
                lines.append(line)
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                out, rest = proc.communicate(timeout=240)
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
        lines += rest.splitlines(keepends=True)
    assert proc.returncode == 0, lines
    said = [line for line in lines if "read on this workstation" in line]
    assert said and f"did not answer within {DEADLINE} s" in said[0], lines
    report = json.loads(out)
    utterances = report["utterances"]
    assert [u["seq"] for u in utterances] == list(range(1, len(REPORT) + 1)), [u["text"] for u in utterances]
    on_server, local = f"whisper-1 on 127.0.0.1:{server.port}", "tiny.en (bundled)"
    decoders = [u["decoder"] for u in utterances]
    assert decoders[:2] == [on_server, on_server] and decoders[2:] == [local] * (len(REPORT) - 2), decoders
    with sqlite3.connect(env["RADSCRIBE_STORE"]) as db:  # the store keeps which model read each one
        assert [r[0] for r in db.execute("SELECT decoder FROM utterances ORDER BY seq")] == decoders
    assert [u["kind"] for u in utterances] == ["command", "dictation", "dictation", "dictation", "command", "dictation"]
    for u in utterances:  # nothing read twice, nothing spliced from two readings
        assert not re.search(r"\b(\w+ \w+)\b.*\b\1\b", u["text"].lower()), u["text"]
    findings = " ".join(v for k, v in report["sections"].items() if k.startswith("findings")).lower()
    assert "lungs are clear" in findings and "pneumothorax" in findings and "heart size is normal" in findings
    assert "acute disease" in report["sections"]["impression"].lower()


def test_audio_goes_over_tls_only_to_the_server_the_certificate_proves(radscribe_cmd, report_wav, env, certs, tmp_path):
    """HTTPS with the group's CA ([speech] ca_file): the server reads. A server whose certificate
    that CA did not sign gets no audio: this workstation reads, and says why."""
    for cert, trusted in (("server", True), ("rogue", False)):
        with WhisperLive(certs / f"{cert}.pem", certs / f"{cert}.key") as server:
            config(tmp_path, PATIENT, server.url, f'ca_file = "{certs / "ca.pem"}"\n')
            done = run([*radscribe_cmd, "transcribe", str(report_wav), "--json"], env)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert "pneumothorax" in result["text"].lower()
        decoders = {s["decoder"] for s in result["segments"]}
        if trusted:
            assert decoders == {f"whisper-1 on 127.0.0.1:{server.port}"}, done.stderr
        else:
            assert decoders == {"tiny.en (bundled)"}
            assert "certificate is not trusted" in done.stderr and "read on this workstation" in done.stderr
