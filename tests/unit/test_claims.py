"""Claims on worklist studies: one reader per study across workstations, on both engines."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from click.testing import CliRunner

from dictation.cli import main
from dictation.config import Config
from dictation.errors import StoreError
from dictation.practice.facilities import Facility, Licence, Practice
from dictation.ris.document import Signer
from dictation.speech.transcript import Segment, Transcript, Word
from dictation.store import Store
from dictation.workstation import Workstation

NIGHT = Signer("R-NIGHT", "Night", "Nora")
DAY = Signer("R-DAY", "Day", "Dan")


def heard(text):
    words = tuple(Word(w, i * 0.3, i * 0.3 + 0.25, 0.9) for i, w in enumerate(text.split()))
    return Transcript(text, (Segment(0, 1, text, words),), 1.0)


def test_one_reader_at_a_time_until_released_or_run_out(store_target):
    store = Store(store_target)
    study = store.add_worklist_item("A1", ordered_at=1.0, facility="GEN")
    store.claim_study(study, "R-NIGHT", seconds=60)
    with pytest.raises(StoreError, match=r"A1 is being read by R-NIGHT since \d\d:\d\d"):
        store.claim_study(study, "R-DAY")
    store.claim_study(study, "R-NIGHT", seconds=60)  # the holder again: renewed, not refused
    assert store.renew_claim(study, "R-NIGHT") and not store.renew_claim(study, "R-DAY")
    item = store.study(study)
    assert item.claimed_by == "R-NIGHT" and item.claimed_by_other("R-DAY", time.time())
    assert not store.release_study(study, "R-DAY")  # not theirs to release
    assert store.release_study(study, "R-NIGHT")
    store.claim_study(study, "R-DAY", seconds=0.5)
    with pytest.raises(StoreError, match="being read by R-DAY"):
        store.claim_study(study, "R-NIGHT")
    store.claim_study(study, "R-NIGHT", now=time.time() + 1)  # R-DAY's workstation died: the claim ran out
    assert store.release_study(study, "someone", admin="ADMIN1")
    released = store.audit_log()[-1]
    assert (released.action, released.actor, released.accession) == ("claim_released", "ADMIN1", "A1")
    assert "R-NIGHT" in released.detail
    assert [e.action for e in store.audit_log()].count("claim") == 3
    store.close()


def test_claim_next_takes_the_most_urgent_study_nobody_reads_where_licensed(store_target):
    store = Store(store_target)
    store.add_worklist_item("R-OLD", priority="routine", ordered_at=1.0, facility="GEN")
    store.add_worklist_item("S-NEW", priority="stat", ordered_at=30.0, facility="GEN")
    store.add_worklist_item("S-OLD", priority="stat", ordered_at=20.0, facility="GEN")
    store.add_worklist_item("S-NV", priority="stat", ordered_at=10.0, facility="NEVADA")
    store.add_worklist_item("U-1", priority="urgent", ordered_at=5.0, facility="GEN")
    store.claim_study(store.worklist_item("S-OLD").id, "R-DAY")
    taken = [store.claim_next("R-NIGHT", not_at={"NEVADA"}) for _ in range(4)]
    assert [t.accession if t else None for t in taken] == ["S-NEW", "U-1", "R-OLD", None]
    assert store.claim_next("R-DAY").accession == "S-NV"  # licensed there
    store.close()


def _claim_many(target: str, reader: str, n: int, out) -> None:
    store = Store(target)
    got = []
    for _ in range(n):
        item = store.claim_next(reader)
        got.append(item.accession if item else "")
    store.close()
    out.put((reader, got))


def test_workstations_claiming_at_once_never_get_the_same_study(store_target):
    """Eight processes, each a reader asking for the next study five times, all at once."""
    store = Store(store_target)
    for i in range(60):
        store.add_worklist_item(f"A{i:03}", priority=("stat", "urgent", "routine")[i % 3], ordered_at=float(i))
    store.close()
    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    workers = [spawn.Process(target=_claim_many, args=(str(store_target), f"R{k}", 5, out)) for k in range(8)]
    for w in workers:
        w.start()
    results = dict(out.get(timeout=120) for _ in workers)
    for w in workers:
        w.join(30)
    claimed = [a for got in results.values() for a in got]
    assert len(claimed) == 40 and "" not in claimed
    assert len(set(claimed)) == 40  # no study claimed twice
    store = Store(store_target)
    holders = {i.accession: i.claimed_by for i in store.worklist() if i.claimed_by}
    assert holders == {a: reader for reader, got in results.items() for a in got}
    # The 40 most urgent were taken (20 STAT, 20 urgent), whatever order the readers came in.
    assert {store.worklist_item(a).priority for a in claimed} == {"stat", "urgent"}
    store.close()


def test_opening_a_study_claims_it_signing_ends_the_claim(store_target):
    """The report screen's controller claims the study for its reader; another reader's
    workstation cannot open it; a preliminary signing sends it back for the final read."""
    practice = Practice({"GEN": Facility(id="GEN", name="General", jurisdiction="US-CA")},
                        (Licence(jurisdiction="US-CA", expires="2099-01-01"),))
    night = Workstation(Config(reader=NIGHT, practice=practice), store_target)
    day = Workstation(Config(reader=DAY, practice=practice), store_target)
    store_n, store_d = night.open_store(), day.open_store()
    store_n.add_worklist_item("A1", priority="stat", template_id="xr-chest", ordered_at=1.0, facility="GEN")
    item = store_n.worklist()[0]
    controller = night.controller(night.report_for_study(item, store_n), store_n)
    assert store_d.worklist()[0].claimed_by == "R-NIGHT"
    with pytest.raises(StoreError, match="being read by R-NIGHT"):
        day.controller(day.report_for_study(store_d.worklist()[0], store_d), store_d)
    for text in ["go to indication", "cough period", "go to findings", "right lower lobe consolidation period",
                 "go to impression", "pneumonia period", "sign as preliminary"]:
        controller.handle(heard(text), 0.0, 1.0)
    assert controller.report.status == "preliminary"
    waiting = store_d.worklist()[0]
    assert waiting.claimed_by == "" and waiting.report_status == "preliminary"
    controller.close()
    final = day.controller(day.report_for_study(waiting, store_d), store_d)  # the day reader takes it now
    assert store_n.worklist()[0].claimed_by == "R-DAY"
    final.close()
    assert store_n.worklist()[0].claimed_by == ""  # closed: released at once
    store_n.close()
    store_d.close()


def test_worklist_claim_and_release_from_the_command_line(store_target, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[reader]\nid = "R-NIGHT"\nfamily = "Night"\ngiven = "Nora"\n')
    monkeypatch.setenv("RADSCRIBE_CONFIG", str(config))
    store = Store(store_target)
    store.add_worklist_item("A1", priority="routine", ordered_at=1.0)
    store.add_worklist_item("A2", priority="stat", ordered_at=2.0)
    store.claim_study(store.worklist_item("A2").id, "R-DAY")
    run = CliRunner()
    taken = run.invoke(main, ["worklist", "--store", str(store_target), "claim", "--next"])
    assert taken.exit_code == 0 and taken.output.startswith("A1\t"), taken.output
    listed = run.invoke(main, ["worklist", "--store", str(store_target)])
    assert "being read by R-DAY since" in listed.output and "being read by R-NIGHT" in listed.output
    refused = run.invoke(main, ["worklist", "--store", str(store_target), "claim", "A2"])
    assert refused.exit_code == 2 and "being read by R-DAY" in refused.output
    assert run.invoke(main, ["worklist", "--store", str(store_target), "claim", "--next"]).exit_code == 1  # none left
    mine = run.invoke(main, ["worklist", "--store", str(store_target), "release", "A2"])
    assert mine.exit_code == 2 and "--admin" in mine.output
    admin = run.invoke(main, ["worklist", "--store", str(store_target), "release", "A2", "--admin"])
    assert admin.exit_code == 0
    assert store.worklist_item("A2").claimed_by == ""
    store.close()
