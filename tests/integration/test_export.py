"""RIS export against real HL7 receivers on 127.0.0.1: ORU^R01 validity, the outbox's promises
(exactly once, in order, nothing lost), and every failure visible."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from dictation.errors import StoreError
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report, load_report
from dictation.reporting.templates import TemplateLibrary
from dictation.ris.destinations import DirConfig, DirDestination, HL7Config, HL7Destination
from dictation.ris.document import ReportVersion, Signer
from dictation.ris.hl7 import HL7Options, build_oru, check_oru, field, unescape
from dictation.ris.outbox import Outbox
from dictation.store import Store
from tests.peers.hl7 import HL7apyPeer, PythonHL7Peer, ack, free_port, strict_validate
from tests.peers.node_peers import hl7v2_check

EXAM = {"accession": "ACC1001", "patient_id": "MRN42", "patient_name": "Doe^Jane", "sex": "F", "birth_date": "1961-04-09",
        "ordering_physician": {"id": "D7", "family": "House", "given": "Greg"}, "facility": "General Hospital",
        "exam_description": "XR Chest 2 views"}
SIGNER = Signer("R1", "Smith", "Anna")
TRICKY = "Pleural effusion | 2^3 cm & loculated ~ see \\ note.\nSecond line: café."


@pytest.fixture
def library():
    return TemplateLibrary()


def signed_report(library, status="preliminary", accession="ACC1001"):
    report = Report.new(library.get("xr-chest"), exam={**EXAM, "accession": accession})
    report.go_to("indication")
    report.dictate("Cough and fever.")
    report.go_to("findings.pleura")
    report.dictate(TRICKY)
    report.go_to("impression")
    report.dictate("Small left pleural effusion. " * 20)
    report.sign(status)
    return report


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


OPEN: list[Outbox] = []


@pytest.fixture(autouse=True)
def _close_outboxes():
    yield
    while OPEN:
        OPEN.pop().close()  # their MLLP connections


def outbox_with(store, *destinations, clock=None):
    box = Outbox(store, list(destinations), clock=clock or time.time, rng=lambda: 0.5)
    OPEN.append(box)
    return box


def hl7_to(port, timeout=2.0, name="ris", **kw):
    return HL7Destination(HL7Config(name=name, kind="hl7", host="127.0.0.1", port=port, timeout_seconds=timeout, **kw))


def queue(store, box, report):
    store.save_report(report)
    box.enqueue(ReportVersion.from_report(report, SIGNER))


# -- the message ----------------------------------------------------------------------------------

@pytest.mark.parametrize("obx", ["sections", "report", "tx"])
def test_oru_validates_strict_in_every_obx_layout(library, obx):
    version = ReportVersion.from_report(signed_report(library), SIGNER)
    message = build_oru(version, version.control_id("ris"), HL7Options(obx=obx))
    strict_validate(message.decode())
    assert check_oru(message) == []
    independent = hl7v2_check(message)  # a second parser (npm hl7v2) and its 2.5.1 dictionary
    assert independent["problems"] == [] and independent["structure"] == "ORU_R01"
    assert {k: independent["fields"][k] for k in ("MSH-10", "PID-3", "OBR-18", "OBR-25", "OBR-32")} == {
        "MSH-10": version.control_id("ris"), "PID-3": "MRN42", "OBR-18": "ACC1001", "OBR-25": "P", "OBR-32": "R1"}
    assert field(message, "MSH", 18) == "UNICODE UTF-8" and field(message, "OBR", 18) == "ACC1001"
    assert field(message, "OBR", 25) == "P" and field(message, "OBR", 32) == "R1&Smith&Anna"
    assert b"\n" not in message and message.count(b"\r") == len(message.decode().split("\r")) - 1
    values = [s.split("|")[5] for s in message.decode().split("\r") if s.startswith("OBX")]
    assert values and all(v.strip() for v in values)  # no empty observation (a blank line is not one)


def test_sections_are_ft_obx_with_their_loinc_codes_and_text_survives_escaping(library):
    version = ReportVersion.from_report(signed_report(library), SIGNER)
    message = build_oru(version, version.control_id("ris")).decode()
    obx = [s.split("|") for s in message.split("\r") if s.startswith("OBX")]
    codes = {o[3].split("^")[0] for o in obx}
    assert {"18785-6", "59776-5", "19005-8"} <= codes
    findings = next(o for o in obx if o[3].startswith("59776-5"))
    assert "\\F\\" in findings[5] and "\\S\\" in findings[5] and "\\T\\" in findings[5] and "\\R\\" in findings[5]
    assert "\\E\\" in findings[5] and "\\.br\\" in findings[5]
    assert TRICKY in unescape(findings[5])
    assert all(o[11] == "P" for o in obx)


def test_final_and_corrected_carry_their_status_and_a_new_control_id(library):
    report = signed_report(library)
    prelim = ReportVersion.from_report(report, SIGNER)
    report.sign("final")
    final = ReportVersion.from_report(report, SIGNER)
    assert (prelim.result_status, final.result_status) == ("P", "F")
    assert prelim.control_id("ris") != final.control_id("ris")
    assert final.control_id("ris") == ReportVersion.from_report(report, SIGNER).control_id("ris")  # deterministic
    message = build_oru(final, final.control_id("ris"))
    assert field(message, "OBR", 25) == "F" and check_oru(message) == []


def test_accession_as_filler_per_site(library):
    version = ReportVersion.from_report(signed_report(library), SIGNER)
    version.exam["filler_order"] = "F-77"
    plain = build_oru(version, "X1")
    site = build_oru(version, "X1", HL7Options(accession_as_filler=True))
    assert field(plain, "OBR", 3) == "F-77" and field(site, "OBR", 3) == "ACC1001"


# -- delivery to real receivers ------------------------------------------------------------------

def test_hl7apy_strict_receiver_accepts_what_the_outbox_sends(library, tmp_path):
    store = Store(tmp_path / "s.db")
    with HL7apyPeer() as peer:
        box = outbox_with(store, hl7_to(peer.port))
        queue(store, box, signed_report(library))
        attempts = box.deliver_due()
        assert [a.delivery.outcome for a in attempts] == ["sent"], attempts
        assert peer.rejected == [] and len(peer.received) == 1
    (state,) = box.states()
    assert (state.sent, state.pending, state.dead, state.alert) == (1, 0, 0, False)


def test_signing_by_voice_queues_in_the_same_transaction_and_delivers_once(library, tmp_path):
    store = Store(tmp_path / "s.db")
    with PythonHL7Peer() as peer:
        box = outbox_with(store, hl7_to(peer.port))
        report = Report.new(library.get("xr-chest"), exam=dict(EXAM))
        controller = ReportController(report, store=store, outbox=box, signer=SIGNER)
        report.go_to("indication")
        report.dictate("Cough.")
        report.accept_all_defaults()
        report.go_to("impression")
        report.dictate("No acute cardiopulmonary abnormality.")
        from dictation.speech.transcript import Transcript

        controller.handle(Transcript("sign as final", (), 1.0))
        rows = store.db.execute("SELECT r.status, o.state, o.status FROM reports r JOIN outbox o ON o.report_id = r.id").fetchall()
        assert [tuple(r) for r in rows] == [("final", "pending", "final")]
        box.deliver_due()
        box.deliver_due()
        assert len(peer.received) == 1 and field(peer.received[0], "OBR", 25) == "F"


def test_ris_down_when_signing_then_up_delivers_exactly_once(library, tmp_path):
    store = Store(tmp_path / "s.db")
    clock = Clock()
    port = free_port()
    box = outbox_with(store, hl7_to(port), clock=clock)
    queue(store, box, signed_report(library))
    (attempt,) = box.deliver_due()
    assert attempt.delivery.outcome == "retry" and "connection refused" in attempt.delivery.detail
    assert box.deliver_due() == []  # backing off
    (state,) = box.states()
    assert state.failing == 1 and "connection refused" in state.last_error
    with PythonHL7Peer(port=port) as peer:
        clock.advance(6)  # first retry after 5 s (±20%)
        (again,) = box.deliver_due()
        assert again.delivery.outcome == "sent"
        clock.advance(3600)
        assert box.deliver_due() == []
        assert len(peer.received) == 1


def test_ar_then_aa_resends_identical_bytes(library, tmp_path):
    store = Store(tmp_path / "s.db")
    clock = Clock()
    with PythonHL7Peer(lambda m, n: ack(m, "AR", "busy") if n == 1 else ack(m, "AA")) as peer:
        box = outbox_with(store, hl7_to(peer.port), clock=clock)
        queue(store, box, signed_report(library))
        (first,) = box.deliver_due()
        assert first.delivery.outcome == "retry" and "AR" in first.delivery.detail and "busy" in first.delivery.detail
        clock.advance(6)
        (second,) = box.deliver_due()
        assert second.delivery.outcome == "sent"
        assert len(peer.received) == 2 and peer.received[0] == peer.received[1]
        assert len(set(peer.control_ids)) == 1


def test_ae_dead_letters_with_the_reason_and_retry_requeues(library, tmp_path):
    store = Store(tmp_path / "s.db")
    with PythonHL7Peer(lambda m, n: ack(m, "AE", "unknown accession") if n == 1 else ack(m, "AA")) as peer:
        box = outbox_with(store, hl7_to(peer.port))
        queue(store, box, signed_report(library))
        (attempt,) = box.deliver_due()
        assert attempt.delivery.outcome == "dead"
        (state,) = box.states()
        assert state.dead == 1 and state.alert and "unknown accession" in state.last_error
        assert box.deliver_due() == []  # dead stays dead until someone acts
        assert box.retry(attempt.id)
        (again,) = box.deliver_due()
        assert again.delivery.outcome == "sent" and len(peer.received) == 2


@pytest.mark.parametrize("reply", [
    lambda m, n: None,  # never answers
    lambda m, n: ack(m, "AA", control_id="RSSOMEOTHERMESSAGE1"),  # an ACK for another message
    lambda m, n: b"\x0bthis is not HL7\x1c\x0d",  # garbage
    lambda m, n: "close",  # hangs up
], ids=["no-ack", "other-id", "garbage", "hang-up"])
def test_no_valid_ack_is_never_taken_as_delivered(library, tmp_path, reply):
    store = Store(tmp_path / "s.db")
    clock = Clock()
    with PythonHL7Peer(reply) as bad:
        box = outbox_with(store, hl7_to(bad.port, timeout=1.0), clock=clock)
        queue(store, box, signed_report(library))
        (attempt,) = box.deliver_due()
        assert attempt.delivery.outcome == "retry"
        sent_bytes = bad.received[0]
    (state,) = box.states()
    assert state.sent == 0 and state.failing == 1
    box.close()
    with PythonHL7Peer(port=bad.port) as good:
        clock.advance(6)
        (again,) = box.deliver_due()
        assert again.delivery.outcome == "sent"
        assert good.received == [sent_bytes]  # the same bytes, the same control id


def test_versions_of_a_report_go_strictly_in_order(library, tmp_path):
    store = Store(tmp_path / "s.db")
    clock = Clock()
    with PythonHL7Peer(lambda m, n: ack(m, "AR") if n == 1 else ack(m, "AA")) as peer:
        box = outbox_with(store, hl7_to(peer.port), clock=clock)
        report = signed_report(library)
        queue(store, box, report)
        report.sign("final")
        queue(store, box, report)
        (first,) = box.deliver_due()  # preliminary: AR; the final must wait behind it
        assert first.delivery.outcome == "retry"
        assert box.deliver_due() == []
        clock.advance(6)
        attempts = box.deliver_due()
        assert [a.delivery.outcome for a in attempts] == ["sent", "sent"]
        assert [field(m, "OBR", 25) for m in peer.received] == ["P", "P", "F"]


def test_a_message_that_cannot_be_built_is_dead_lettered_at_signing_not_lost(library, tmp_path):
    store = Store(tmp_path / "s.db")
    box = outbox_with(store, hl7_to(free_port()))
    report = signed_report(library, accession="")
    queue(store, box, report)
    (state,) = box.states()
    assert state.dead == 1 and "no accession number" in state.last_error


def test_directory_drop_writes_text_and_json_atomically(library, tmp_path):
    store = Store(tmp_path / "s.db")
    drop = tmp_path / "drop"
    box = outbox_with(store, DirDestination(DirConfig(name="drop", kind="dir", path=str(drop))))
    queue(store, box, signed_report(library))
    assert [a.delivery.outcome for a in box.deliver_due()] == ["sent"]
    assert sorted(p.name for p in drop.iterdir()) == ["ACC1001-v1-preliminary.json", "ACC1001-v1-preliminary.txt"]
    data = json.loads((drop / "ACC1001-v1-preliminary.json").read_text())
    assert data["status"] == "preliminary" and TRICKY in data["text"]
    assert (drop / "ACC1001-v1-preliminary.txt").read_text() == data["text"]


# -- processes: crash mid-send, the command line -------------------------------------------------

@pytest.fixture
def env(tmp_path):
    return {**os.environ, "RADSCRIBE_STORE": str(tmp_path / "store.db"), "RADSCRIBE_CONFIG": str(tmp_path / "config.toml")}


def write_config(tmp_path, port, timeout=30):
    (tmp_path / "config.toml").write_text(
        f'[reader]\nid = "R1"\nfamily = "Smith"\ngiven = "Anna"\n\n'
        f'[[export]]\nname = "ris"\nkind = "hl7"\nhost = "127.0.0.1"\nport = {port}\ntimeout_seconds = {timeout}\n')


def test_sigkill_mid_send_resends_the_same_control_id_and_the_receiver_sees_one_report(library, tmp_path, env, radscribe_cmd):
    port = free_port()
    write_config(tmp_path, port)
    store = Store(tmp_path / "store.db")
    store.save_report(signed_report(library))
    report = load_report(store, store.drafts(include_signed=True)[0].id, library)
    outbox_with(store, hl7_to(port)).enqueue(ReportVersion.from_report(report, SIGNER))
    store.close()
    with PythonHL7Peer(lambda m, n: None, port=port) as silent:  # receives, never answers
        with subprocess.Popen([*radscribe_cmd, "outbox", "send", "--wait", "60"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
            deadline = time.monotonic() + 60
            while not silent.received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert silent.received, "the exporter never sent"
            proc.send_signal(signal.SIGKILL)  # mid-send: the message is in flight in the store
            proc.wait(10)
        first = silent.received[0]
    store = Store(tmp_path / "store.db")
    assert store.db.execute("SELECT state FROM outbox").fetchone()[0] == "in_flight"
    store.close()
    with PythonHL7Peer(port=port) as peer:
        done = subprocess.run([*radscribe_cmd, "outbox", "send"], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert peer.received == [first]  # identical bytes, same MSH-10: one report at the receiver
    listing = subprocess.run([*radscribe_cmd, "outbox"], env=env, capture_output=True, text=True, timeout=60)
    assert "ris: 0 pending (0 failing), 0 in flight, 1 sent, 0 dead-lettered" in listing.stdout


def test_outbox_command_shows_failures_and_retry(library, tmp_path, env, radscribe_cmd):
    with PythonHL7Peer(lambda m, n: ack(m, "AE", "patient not found") if n == 1 else ack(m, "AA")) as peer:
        write_config(tmp_path, peer.port, timeout=5)
        store = Store(tmp_path / "store.db")
        report = signed_report(library)
        store.save_report(report)
        outbox_with(store, hl7_to(peer.port)).enqueue(ReportVersion.from_report(report, SIGNER))
        store.close()
        sent = subprocess.run([*radscribe_cmd, "outbox", "send"], env=env, capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0 and "dead" in sent.stdout  # nothing left to *try*: it is dead-lettered
        listing = subprocess.run([*radscribe_cmd, "outbox"], env=env, capture_output=True, text=True, timeout=60)
        assert listing.stdout.startswith("ALERT  ris: 0 pending") and "patient not found" in listing.stdout
        message_id = listing.stdout.split("#", 1)[1].split()[0]
        retried = subprocess.run([*radscribe_cmd, "outbox", "retry", message_id], env=env, capture_output=True, text=True)
        assert retried.returncode == 0, retried.stderr
        again = subprocess.run([*radscribe_cmd, "outbox", "send"], env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and ": sent:" in again.stdout and len(peer.received) == 2
        missing = subprocess.run([*radscribe_cmd, "outbox", "retry", "999"], env=env, capture_output=True, text=True)
        assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_export_command_sends_one_report_json(library, tmp_path, env, radscribe_cmd):
    (tmp_path / "config.toml").write_text("")
    report = signed_report(library, status="final")
    from dictation.reporting.exchange import report_json

    path = tmp_path / "report.json"
    path.write_text(json.dumps(report_json(report, [])))
    with HL7apyPeer() as peer:
        done = subprocess.run([*radscribe_cmd, "export", str(path), "--hl7", f"127.0.0.1:{peer.port}"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "delivered" in done.stdout and len(peer.received) == 1 and peer.rejected == []
        assert field(peer.received[0], "OBR", 25) == "F"
    drop = tmp_path / "drop"
    done = subprocess.run([*radscribe_cmd, "export", str(path), "--dir", str(drop)], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and (drop / "ACC1001-v1-final.json").exists()
    down = subprocess.run([*radscribe_cmd, "export", str(path), "--hl7", f"127.0.0.1:{free_port()}"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "not delivered: 127.0.0.1" in down.stderr and down.stderr.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    broken = subprocess.run([*radscribe_cmd, "export", str(bad), "--dir", str(drop)], env=env, capture_output=True, text=True)
    assert broken.returncode == 2 and "not JSON" in broken.stderr


def test_a_signed_voice_command_and_the_outbox_row_commit_together(library, tmp_path):
    """Store.commit_utterance writes the report, the utterance and the messages in one
    transaction: if the outbox insert fails, the signing is not stored either."""
    from dictation.reporting.records import UtteranceRecord
    from dictation.store import OutboxEntry

    store = Store(tmp_path / "s.db")
    report = Report.new(library.get("xr-chest"), exam=dict(EXAM))
    store.save_report(report)
    report.sign("preliminary")
    record = UtteranceRecord(1, "command", "sign as preliminary", "", 0, 1, [], command="sign_preliminary")
    bad = OutboxEntry(report.id, 1, "preliminary", "ris", "hl7", "X", None)  # type: ignore[arg-type]  # NULL payload
    with pytest.raises(StoreError, match="nothing was written"):
        store.commit_utterance(report, record, outbox=[bad])
    assert store.db.execute("SELECT status FROM reports").fetchone()[0] == "draft"
    assert store.db.execute("SELECT COUNT(*) FROM utterances").fetchone()[0] == 0


def test_each_hospital_gets_only_its_own_reports(library, tmp_path):
    store = Store(tmp_path / "s.db")
    general = tmp_path / "general"
    north = tmp_path / "north"
    box = outbox_with(store,
                      DirDestination(DirConfig(name="general", kind="dir", path=str(general), facilities=["General Hospital"])),
                      DirDestination(DirConfig(name="north", kind="dir", path=str(north), facilities=["North Clinic"])))
    queue(store, box, signed_report(library))  # EXAM facility: General Hospital
    assert [a.destination for a in box.deliver_due()] == ["general"]
    assert general.exists() and not north.exists()


# -- claims: a message in flight has an owner and a lease ----------------------------------------

def test_a_live_claim_is_never_taken_back_by_another_process_and_an_expired_one_is(library, store_target):
    clock = Clock()
    with PythonHL7Peer() as peer:
        store = Store(store_target)
        sender = outbox_with(store, hl7_to(peer.port), clock=clock)
        queue(store, sender, signed_report(library))
        full = store.next_due("ris", clock())
        assert store.claim(full, "workstation-2:4242#outbox", clock() + 60)  # another machine is sending it now
        other = Store(store_target)
        listing = outbox_with(other, hl7_to(peer.port), clock=clock)  # `radscribe outbox`, a TUI start, `dictate`
        assert [s.in_flight for s in listing.states()] == [1]
        assert listing.deliver_due() == [] and peer.received == []  # the live claim holds: no second send
        assert not other.mark_sent(full, b"", clock(), listing.owner)  # and only the owner records an outcome
        clock.advance(61)  # the other machine never came back: its lease ran out
        (attempt,) = listing.deliver_due()
        assert attempt.delivery.outcome == "sent" and len(peer.received) == 1
        assert [m.state for m in other.outbox_messages()] == ["sent"]
        assert not store.mark_sent(full, b"", clock(), "workstation-2:4242#outbox")  # too late: not the owner now


def test_several_senders_killed_at_random_deliver_each_version_once_in_order_to_a_deduplicating_receiver(
        library, tmp_path, env, radscribe_cmd, store_target):
    """Three `outbox send` processes on one store, one killed (SIGKILL) and started again every
    few tenths of a second: the receiver may see a message twice (at least once, by design), but
    de-duplicated on MSH-10 it gets every version exactly once, each preliminary before its final.
    On the SQLite file of one workstation, and on a group's PostgreSQL store."""
    env = {**env, "RADSCRIBE_STORE": str(store_target)}
    import random

    rng = random.Random(7)
    with PythonHL7Peer() as peer:
        write_config(tmp_path, peer.port, timeout=5)
        store = Store(store_target)
        box = outbox_with(store, hl7_to(peer.port))
        expected = []
        for i in range(12):
            report = signed_report(library, accession=f"ACC{2000 + i}")
            queue(store, box, report)
            report.sign("final")
            queue(store, box, report)
            expected += [(report.exam["accession"], "P"), (report.exam["accession"], "F")]
        store.close()

        def start():
            return subprocess.Popen([*radscribe_cmd, "outbox", "send", "--wait", "30"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        procs, kills = [start() for _ in range(3)], 0
        deadline = time.monotonic() + 150
        try:
            while time.monotonic() < deadline:
                time.sleep(rng.uniform(0.2, 0.6))
                alive = [p for p in procs if p.poll() is None]
                # Kill first, then look: on an idle machine the senders can finish within the
                # first pause, and a run with no kill would prove nothing.
                if alive and kills < 12:
                    victim = rng.choice(alive)
                    victim.send_signal(signal.SIGKILL)
                    victim.wait(10)
                    kills += 1
                probe = Store(store_target)
                sent = probe.destination_counts("ris").sent
                probe.close()
                if sent == len(expected):
                    break
                procs = [p for p in procs if p.poll() is None] + [start() for p in procs if p.poll() is not None]
                while len(procs) < 3:
                    procs.append(start())
        finally:  # no sender outlives the test
            for p in procs:
                p.kill()
                p.wait(10)
        # Whatever the kills left in flight is sent by one last, undisturbed pass.
        done = subprocess.run([*radscribe_cmd, "outbox", "send", "--wait", "30"], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        received = list(peer.received)
    assert kills > 0
    seen: dict[str, tuple[str, str]] = {}
    order = []
    for message in received:
        control = field(message, "MSH", 10)
        if control not in seen:  # the receiver's de-duplication
            seen[control] = (field(message, "OBR", 18), field(message, "OBR", 25))
            order.append(seen[control])
    assert sorted(order) == sorted(expected)  # every version, exactly once after de-duplication
    for accession in {a for a, _ in expected}:
        mine = [status for a, status in order if a == accession]
        assert mine == ["P", "F"], (accession, mine)  # never a final before its preliminary
    final = Store(store_target)
    assert [m.state for m in final.outbox_messages()] == ["sent"] * len(expected)


# -- nothing in the order data can move a field of the report ------------------------------------

HOSTILE_ORDER = "\r".join([
    "MSH|^~\\&|HIS|GEN\x1cERAL|RADSCRIBE|TELERAD|20261128031500||ORM^O01|C-HOSTILE|P|2.5.1",
    "PID|1||MRN42^^^GEN^MR||Doe\\F\\X^Jane\\.br\\||19610409|F",
    "PV1|1|E",
    "ORC|NW|PL-1|FI-1||SC||^^^^^S||20261128031000|||D7^Roe\\F\\ACC-OTHER\\F\\^Jane\\.br\\Evil",
    "OBR|1|PL-1|FI-1|71046^XR Chest 2 views^C4|||20261128031000|||||||||D7^Roe^Jane||ACC-REAL||||||CR",
]) + "\r"


def test_hostile_order_data_cannot_move_a_field_of_the_report(library, tmp_path):
    """A provider name with an escaped field separator, a line break in a name, a frame byte in
    the sending facility: the ORU built from that study still has every field where it belongs,
    validates strict, and reads back to the same values."""
    from dictation.config import Config
    from dictation.ris.orders import OrderHandler
    from dictation.workstation import Workstation

    store = Store(tmp_path / "s.db")
    _, result = OrderHandler(store, library, {}).handle(HOSTILE_ORDER.encode("utf-8"))
    assert result.code == "AA", result
    (item,) = store.worklist()
    assert "\x1c" not in item.facility and "\n" not in item.patient_name
    station = Workstation(Config(), tmp_path / "s.db")
    report = station.report_for_study(item, store)
    report.go_to("impression")
    report.dictate("No acute abnormality.")
    report.sign("preliminary")
    version = ReportVersion.from_report(report, SIGNER)
    message = build_oru(version, version.control_id("ris"))
    assert b"\x1c" not in message and field(message, "OBR", 18) == "ACC-REAL"
    assert field(message, "OBR", 25) == "P" and field(message, "OBR", 32).split("&")[0] == SIGNER.id
    assert "ACC-OTHER" in unescape(field(message, "OBR", 16))  # the name as data, not as fields
    strict_validate(message.decode("utf-8"))  # raises on a problem
    assert check_oru(message) == []
    independent = hl7v2_check(message)
    assert independent["problems"] == []
    assert (independent["fields"]["OBR-18"], independent["fields"]["OBR-25"]) == ("ACC-REAL", "P")
    assert independent["fields"]["OBR-32"] == SIGNER.id and independent["fields"]["PID-3"] == "MRN42"


def test_a_message_that_does_not_read_back_is_not_queued_and_says_why(library, tmp_path, monkeypatch):
    import dictation.ris.hl7 as hl7

    store = Store(tmp_path / "s.db")
    box = outbox_with(store, hl7_to(free_port()))
    report = signed_report(library)
    real = hl7.check_oru
    monkeypatch.setattr(hl7, "check_oru", lambda m: [*real(m), "OBR-25 moved"])  # as if a field had shifted
    (entry,) = box.entries_for(report, SIGNER)
    assert entry.state == "dead" and entry.payload == b""
    assert "did not read back as built" in entry.error and "not queued" in entry.error


def test_a_final_waits_behind_its_dead_lettered_preliminary_until_released(library, tmp_path):
    with PythonHL7Peer(lambda m, n: ack(m, "AE", "unknown order") if n == 1 else ack(m, "AA")) as peer:
        store = Store(tmp_path / "s.db")
        box = outbox_with(store, hl7_to(peer.port))
        report = signed_report(library)
        queue(store, box, report)
        report.sign("final")
        queue(store, box, report)
        other = signed_report(library, accession="ACC-OTHER")
        queue(store, box, other)
        attempts = box.deliver_due()
        assert [a.delivery.outcome for a in attempts] == ["dead", "sent"]  # another accession may overtake
        assert [field(m, "OBR", 18) for m in peer.received] == ["ACC1001", "ACC-OTHER"]
        assert box.deliver_due() == []  # the final is held behind its dead preliminary
        dead = next(m for m in store.outbox_messages() if m.state == "dead")
        assert store.held_behind(dead.id) == 1
        assert box.release(dead.id)
        (sent,) = box.deliver_due()
        assert sent.delivery.outcome == "sent" and field(peer.received[-1], "OBR", 25) == "F"
        assert store.audit_log()[-2].action == "export_released"


def test_the_folder_drop_names_an_addendum_and_a_correction_apart(library, tmp_path):
    drop = tmp_path / "drop"
    store = Store(tmp_path / "s.db")
    box = outbox_with(store, DirDestination(DirConfig(name="drop", kind="dir", path=str(drop))))
    report = signed_report(library, status="final")
    queue(store, box, report)
    assert report.begin_amendment("addendum").ok
    report.type_text("addendum", "Compared with the outside CT: no change.")
    assert report.sign("final").ok
    queue(store, box, report)
    assert report.begin_amendment("correction").ok
    report.type_text("impression", "Small right pleural effusion.")
    assert report.sign("final").ok
    queue(store, box, report)
    box.deliver_due()
    names = sorted(p.name for p in drop.glob("*.json"))
    assert names == ["ACC1001-v1-final.json", "ACC1001-v2-addendum.json", "ACC1001-v3-correction.json"]
    kinds = [(d["status"], d["kind"]) for d in (json.loads((drop / n).read_text()) for n in names)]
    assert kinds == [("final", "final"), ("corrected", "addendum"), ("corrected", "correction")]
