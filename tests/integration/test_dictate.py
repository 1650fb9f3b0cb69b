"""`radscribe dictate`: the whole chain on synthesised speech, and drafts that survive SIGKILL."""

import json
import os
import re
import signal
import subprocess
import time

import pytest
from rapidfuzz import fuzz

from tests.pilot import broken_checks_vocab
from tests.voice import speak_with_pauses, write_wav

REPORT = ["go to indication", "shortness of breath period", "go to findings", "the lungs are clear period",
          "scratch that", "there is a small left pleural effusion period", "go to impression",
          "small left pleural effusion period", "sign as preliminary"]


@pytest.fixture(scope="module")
def report_wav(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("dictate") / "report.wav", speak_with_pauses(REPORT))


# The same dictation as several recordings: two voices (Piper's neural voice, espeak-ng's formant
# voice), each clean and perturbed (speed, room noise at 25 dB SNR, an echo; seeded). A test that
# holds on all of them asserts what the product promises, not one rendering's exact decode.
RECORDINGS = [("piper", None), ("piper", 11), ("espeak", None), ("espeak", 23)]


@pytest.fixture(scope="module", params=RECORDINGS, ids=lambda r: f"{r[0]}-{'clean' if r[1] is None else f'seed{r[1]}'}")
def recording(request, tmp_path_factory):
    voice, seed = request.param
    path = tmp_path_factory.mktemp("dictate") / f"report-{voice}-{seed}.wav"
    return voice, seed, write_wav(path, speak_with_pauses(REPORT, voice=voice, seed=seed))


def run(cmd, env=None, timeout=180):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def env(tmp_path):
    # Not the user's own config: defaults, no site templates, and a reader (a final names who signed).
    (tmp_path / "config.toml").write_text('[reader]\nid = "R-TEST"\nfamily = "Reader"\ngiven = "Tess"\n')
    return {**os.environ, "RADSCRIBE_STORE": str(tmp_path / "store.db"), "RADSCRIBE_CONFIG": str(tmp_path / "config.toml")}


def said(text: str, expected: str) -> bool:
    """The section holds the dictated sentence once: close in spelling, never doubled."""
    words = re.findall(r"[a-z]+", text.lower())
    last = re.findall(r"[a-z]+", expected)[-1]
    return fuzz.ratio(text.lower(), expected) >= 80 and words.count(last) == 1


COMMAND_OF = {"go to indication": "go_to indication", "go to findings": "go_to findings.lines_tubes",
              "scratch that": "scratch_that", "go to impression": "go_to impression",
              "sign as preliminary": "sign_preliminary"}


def test_commands_are_obeyed_and_text_lands_in_the_right_sections(radscribe_cmd, recording, env):
    """On every rendering: dictation is never obeyed, no command is taken for another, nothing is
    written twice. On the reference recording every command is obeyed and every sentence lands
    in its section; on the perturbed ones and espeak-ng's formant voice (harder for tiny.en) a
    command may be asked about or misheard, which the robustness benchmark counts."""
    voice, seed, path = recording
    done = run([*radscribe_cmd, "dictate", str(path), "--template", "xr-chest", "--json"], env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # One stored utterance per thing said (a question left unanswered is stored again when its
    # words are written as dictation: the same stretch of audio, kept once here).
    utterances = list({(u["start"], u["end"]): u for u in reversed(report["utterances"])}.values())[::-1]
    assert len(utterances) == len(REPORT), [u["text"] for u in utterances]
    for spoken, u in zip(REPORT, utterances):
        command = COMMAND_OF.get(spoken)
        if command is None:
            assert u["kind"] != "command", (spoken, u)  # dictation is never obeyed
            assert not re.search(r"\b(\w+ \w+)\b.*\b\1\b", u["text"].lower()), (spoken, u["text"])  # nothing twice
        else:
            assert u["kind"] != "command" or u["command"] == command, (spoken, u)  # never the wrong command
    if voice == "piper" and seed is None:  # the reference recording: every command obeyed
        assert [u["command"] for u in utterances if u["kind"] == "command"] == list(COMMAND_OF.values())
    if [u["kind"] for u in utterances] != ["command", "dictation"] * 4 + ["command"]:
        # A command asked about, or misheard: how often is `python -m benchmarks robustness`'s
        # figure, not this test's; the promises above hold either way.
        return
    assert report["status"] == "preliminary"
    sections, pleura = report["sections"], report["fields"]["findings"]["pleura"]
    # Each sentence lands in its section, once, as it was heard (what tiny.en heard in a
    # perturbed rendering is the speech benchmarks' figure; the words are checked on the
    # reference recording only).
    assert said(sections["indication"], utterances[1]["text"].lower()), sections
    assert said(sections["impression"], utterances[7]["text"].lower()), sections
    if seed is None:
        assert said(sections["indication"], "shortness of breath."), sections
        assert said(sections["impression"], "small left pleural effusion."), sections
    # Routed by anatomy from the first findings field into the pleura field.
    assert "pleural" in pleura.lower() or voice == "espeak", report["fields"]
    assert "lungs are clear" not in json.dumps(report).split('"utterances"')[0]  # scratched from every section
    assert utterances[3]["scratched"] is True
    assert "Lungs:" not in report["text"]  # its default was never accepted: not in the report
    # The checks ran: nothing critical was said, and the defaults nobody accepted are listed.
    flags = report["flags"]
    assert not [f for f in flags if f["kind"] == "critical_finding"]
    assert "findings.lungs" in {f["slot"] for f in flags if f["kind"] == "default_not_accepted"}


def test_the_same_recording_gives_the_same_report_from_the_file_and_in_real_time_on_a_busy_machine(
        radscribe_cmd, report_wav, env, busy_cpu):
    """Audio is the only clock: replayed in real time beside two busy loops (as a PACS viewer
    would load the machine), every utterance is committed with the same text as from the file."""
    from_file = run([*radscribe_cmd, "dictate", str(report_wav), "--template", "xr-chest", "--json"], env)
    with busy_cpu(2):
        live = run([*radscribe_cmd, "dictate", str(report_wav), "--template", "xr-chest", "--json", "--realtime"], env,
                   timeout=300)
    assert from_file.returncode == 0 and live.returncode == 0, (from_file.stderr, live.stderr)
    texts = [[(u["kind"], u["text"]) for u in json.loads(out.stdout)["utterances"]] for out in (from_file, live)]
    assert texts[0] == texts[1]
    assert json.loads(live.stdout)["sections"] == json.loads(from_file.stdout)["sections"]


def test_bad_template_id_and_bad_audio_are_one_line_errors(radscribe_cmd, report_wav, env, tmp_path):
    bad = run([*radscribe_cmd, "dictate", str(report_wav), "--template", "ct-haed"], env)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "ct-head" in bad.stderr and "Traceback" not in bad.stderr
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    unreadable = run([*radscribe_cmd, "dictate", str(text), "--template", "ct-head"], env)
    assert unreadable.returncode == 2 and unreadable.stderr.count("\n") == 1 and "notes.wav" in unreadable.stderr


def test_sigkill_mid_dictation_loses_no_stored_utterance(radscribe_cmd, report_wav, env, tmp_path):
    store = tmp_path / "store.db"
    stored = []
    with subprocess.Popen([*radscribe_cmd, "dictate", str(report_wav), "--template", "xr-chest", "--realtime",
                           "--progress", "--store", str(store)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                          text=True, env=env) as proc:
        deadline = time.monotonic() + 120
        try:
            while len(stored) < 4 and time.monotonic() < deadline:
                line = proc.stderr.readline()
                if not line:
                    break
                if line.startswith("stored utterance"):
                    stored.append(line.strip())
            assert len(stored) == 4, stored
        finally:
            proc.send_signal(signal.SIGKILL)  # no chance to clean up: what is on disk is all there is
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    # A new process: the draft is there, with every utterance that had been reported stored.
    listed = run([*radscribe_cmd, "drafts", "--store", str(store)], env)
    assert listed.returncode == 0 and "xr-chest" in listed.stdout and "draft" in listed.stdout
    draft_id = listed.stdout.split()[0]
    shown = run([*radscribe_cmd, "drafts", "--store", str(store), "show", draft_id, "--json"], env)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["status"] == "draft"
    assert len(report["utterances"]) >= 4
    for line, utterance in zip(stored, report["utterances"]):
        assert line.startswith(f"stored utterance {utterance['seq']} ({utterance['kind']})")
    assert report["sections"]["indication"].lower() == "shortness of breath."
    # And dictation goes on into the same draft.
    more = write_wav(tmp_path / "more.wav", speak_with_pauses(["go to impression", "pneumonia period"]))
    resumed = run([*radscribe_cmd, "dictate", str(more), "--resume", draft_id, "--store", str(store), "--json"], env)
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads(resumed.stdout)
    assert after["id"].startswith(draft_id)
    assert after["sections"]["indication"].lower() == "shortness of breath."
    assert after["sections"]["impression"].lower() == "pneumonia."


def test_a_signed_report_is_finalised_then_amended_from_the_command_line(radscribe_cmd, report_wav, env, tmp_path):
    first = run([*radscribe_cmd, "dictate", str(report_wav), "--template", "xr-chest", "--json"], env)
    report_id = json.loads(first.stdout)["id"]
    sign = write_wav(tmp_path / "sign.wav", speak_with_pauses(["sign report"]))
    final = run([*radscribe_cmd, "dictate", str(sign), "--resume", report_id, "--json"], env)
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["status"] == "final"
    refused = run([*radscribe_cmd, "dictate", str(sign), "--resume", report_id], env)
    assert refused.returncode == 2 and "add --amend addendum" in refused.stderr
    addendum = write_wav(tmp_path / "addendum.wav",
                         speak_with_pauses(["the effusion was also seen on the prior CT period", "sign report"]))
    amended = run([*radscribe_cmd, "dictate", str(addendum), "--resume", report_id, "--amend", "addendum", "--json"], env)
    assert amended.returncode == 0, amended.stderr
    assert json.loads(amended.stdout)["status"] == "corrected"
    versions = run([*radscribe_cmd, "versions", report_id[:10], "--json"], env)
    rows = [json.loads(line) for line in versions.stdout.splitlines()]
    assert [(v["version"], v["kind"], v["status"]) for v in rows] == [
        (1, "preliminary", "preliminary"), (2, "final", "final"), (3, "addendum", "corrected")]
    assert "ADDENDUM (signed" in rows[2]["text"] and "prior CT" in rows[2]["text"]
    assert "ADDENDUM" not in rows[1]["text"]  # the final as it was signed
    audit = run([*radscribe_cmd, "audit", report_id[:10]], env)
    actions = [line.split()[3] for line in audit.stdout.splitlines()]
    assert actions.count("sign") == 3 and "command" in actions


PNEUMOTHORAX = ["go to indication", "chest pain period", "go to impression", "large right pneumothorax period",
                "sign as final"]


@pytest.fixture(scope="module")
def pneumothorax_wav(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("dictate") / "ptx.wav", speak_with_pauses(PNEUMOTHORAX))


def test_with_a_broken_vocabulary_file_no_final_is_signed_and_the_reason_is_said(radscribe_cmd, pneumothorax_wav, env,
                                                                                tmp_path):
    vocab = broken_checks_vocab(tmp_path / "vocab")
    done = run([*radscribe_cmd, "dictate", str(pneumothorax_wav), "--template", "xr-chest", "--json"],
               {**env, "RADSCRIBE_VOCAB_DIR": str(vocab)})
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "draft" and "pneumothorax" in report["sections"]["impression"].lower()
    assert "checks_off" in [f["kind"] for f in report["flags"]]
    assert "not signed: clinical checks are off" in done.stderr and "critical_findings.toml" in done.stderr
    drafts = run([*radscribe_cmd, "drafts"], env)
    assert report["id"][:8] in drafts.stdout  # kept as a draft, nothing lost


def test_a_refused_final_is_said_with_exit_status_1(radscribe_cmd, pneumothorax_wav, env, tmp_path):
    """The critical finding's communication is not recorded: the signing is refused, out loud."""
    done = run([*radscribe_cmd, "dictate", str(pneumothorax_wav), "--template", "xr-chest"], env)
    assert done.returncode == 1, done.stderr
    assert "radscribe: not signed: critical finding pneumothorax: record who was told" in done.stderr
    assert "draft report" in done.stderr


def test_without_a_reader_no_final_is_signed(radscribe_cmd, report_wav, env, tmp_path):
    (tmp_path / "config.toml").write_text("# no [reader]\n")
    first = run([*radscribe_cmd, "dictate", str(report_wav), "--template", "xr-chest", "--json"], env)
    assert first.returncode == 0, first.stderr  # a preliminary needs no reader
    sign = write_wav(tmp_path / "sign.wav", speak_with_pauses(["sign report"]))
    final = run([*radscribe_cmd, "dictate", str(sign), "--resume", json.loads(first.stdout)["id"]], env)
    assert final.returncode == 1
    assert "no reader configured" in final.stderr and str(tmp_path / "config.toml") in final.stderr


def test_a_worklist_study_is_dictated_headless_by_accession_and_exported(radscribe_cmd, report_wav, env, tmp_path):
    drop = tmp_path / "drop"
    with open(tmp_path / "config.toml", "a") as f:
        f.write(f'\n[[export]]\nname = "drop"\nkind = "dir"\npath = "{drop}"\n')
    added = run([*radscribe_cmd, "worklist", "add", "ACC-77", "--exam", "XR Chest 2 views", "--code", "71046",
                 "--patient-id", "MRN77", "--name", "Doe^Jane", "--sex", "F", "--template", "xr-chest"], env)
    assert added.returncode == 0, added.stderr
    done = run([*radscribe_cmd, "dictate", str(report_wav), "--accession", "ACC-77", "--json"], env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["template"] == "xr-chest" and report["status"] == "preliminary"
    assert report["exam"]["accession"] == "ACC-77" and report["exam"]["patient_id"] == "MRN77"
    sent = json.loads((drop / "ACC-77-v1-preliminary.json").read_text())  # delivered, not dead-lettered
    assert sent["accession"] == "ACC-77" and sent["exam"]["patient_name"] == "Doe^Jane"
    unknown = run([*radscribe_cmd, "dictate", str(report_wav), "--accession", "NOPE"], env)
    assert unknown.returncode == 2 and "no study with accession 'NOPE'" in unknown.stderr


def test_a_store_server_stopped_mid_dictation_loses_nothing(radscribe_cmd, report_wav, env, tmp_path):
    """`dictate --realtime` into PostgreSQL; the server stops after two utterances are stored:
    dictation goes on, kept on the workstation, nothing is signed, the command says where the
    utterances wait; once the server is back, reopening the draft gives the store all of them."""
    from tests.postgres import Cluster

    cluster = Cluster()
    cluster.start()
    env = {**env, "RADSCRIBE_UNSENT": str(tmp_path / "unsent")}
    try:
        with cluster.database() as url:
            lines = []
            with subprocess.Popen([*radscribe_cmd, "dictate", str(report_wav), "--template", "xr-chest", "--realtime",
                                   "--progress", "--store", url], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  text=True, env=env) as proc:
                while sum(line.startswith("stored utterance") for line in lines) < 2:
                    line = proc.stderr.readline()
                    assert line, lines
                    lines.append(line)
                cluster.stop_server()
                _, rest = proc.communicate(timeout=180)
            lines += rest.splitlines(keepends=True)
            kept = [line for line in lines if line.startswith("kept on this workstation")]
            assert proc.returncode == 2 and kept, lines
            assert "cannot be reached" in lines[-1] and "kept in" in lines[-1]
            assert not any("psycopg" in line or "error connecting" in line for line in lines)  # one line says it
            assert not any("stored utterance" in line for line in lines[lines.index(kept[0]):])
            said = [line for line in lines if line.startswith(("stored utterance", "kept on this workstation"))]
            files = list((tmp_path / "unsent").glob("*.json"))
            assert len(files) == 1
            draft_id = files[0].stem
            cluster.start_again()
            more = write_wav(tmp_path / "more.wav", speak_with_pauses(["go to impression", "pneumonia period"]))
            resumed = run([*radscribe_cmd, "dictate", str(more), "--resume", draft_id, "--store", url, "--json"], env)
            assert resumed.returncode == 0, resumed.stderr
            assert not files[0].exists()
            shown = run([*radscribe_cmd, "drafts", "--store", url, "show", draft_id, "--json"], env)
            report = json.loads(shown.stdout)
            assert [u["seq"] for u in report["utterances"]] == list(range(1, len(report["utterances"]) + 1))
            assert len(report["utterances"]) >= len(said) + 2  # every one said before, then the two more
            assert report["status"] == "draft"  # "sign as preliminary" waited: the store was away
            assert report["sections"]["impression"].lower().endswith("pneumonia.")
            audit = run([*radscribe_cmd, "audit", "--verify", "--store", url], env)
            assert audit.returncode == 0, audit.stdout + audit.stderr
    finally:
        cluster.stop()
