"""A group's shared store under load: simulated workstations claiming from one worklist.

Each workstation is a process with its own ``Store`` (its own connection pool, as on a real
workstation) that, as fast as it can, claims the next study (``claim_next``: the most urgent
nobody reads), and marks it read (the study leaves the worklist, the claim ends). Every claim is
timed. A study claimed by two workstations is a double claim. The same loop runs on one
workstation's SQLite file, side by side, as the baseline a single reader has today.

The PostgreSQL server is a throwaway cluster on this machine (tests/postgres.py: Unix socket,
fsync off), so the figures are the store's own cost on this CPU, not a network's or a disk's.
"""

from __future__ import annotations

import multiprocessing
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _fill(target: str | Path, studies: int) -> None:
    from dictation.store import Store

    store = Store(target)
    with store.transaction() as db:  # one transaction: filling is not what is measured
        for i in range(studies):
            db.execute("INSERT INTO worklist (accession, facility, priority, ordered_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                       (f"A{i:06}", f"F{i % 12}", ("stat", "urgent", "routine", "routine")[i % 4], float(i), 0.0))
    store.close()


def _workstation(target: str, name: str, claims: int, start_at: float, out: Any, pace: float = 0.0) -> None:
    """``pace``: seconds between claims on average (random, 0 to twice it); 0: back to back."""
    import random

    from dictation.store import Store

    store = Store(target, actor=name)
    got: list[tuple[str, float]] = []
    rng = random.Random(name)
    while time.time() < start_at:
        time.sleep(0.005)
    for _ in range(claims):
        if pace:
            time.sleep(rng.uniform(0, 2 * pace))
        t0 = time.perf_counter()
        item = store.claim_next(name)
        elapsed = time.perf_counter() - t0
        if item is None:
            break
        got.append((item.accession, elapsed))
        store.set_worklist_state(item.id, "done")
        store.release_study(item.id, name)
    store.close()
    out.put((name, got))


class _OrderWatch:
    """While the workstations claim: one more workstation watches the worklist (as its screen
    does) and the RIS writes a new order every quarter second; how long until the watcher, told
    of a change, reads each new order."""

    def __init__(self, target: str, start_at: float, orders: int = 20) -> None:
        from dictation.store import Store

        self.watcher, self.ris = Store(target, actor="watcher"), Store(target, actor="ris")
        self.ordered: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.watcher.watch_worklist, args=(self.stop, self._changed), daemon=True),
                        threading.Thread(target=self._order, args=(start_at, orders), daemon=True)]
        for t in self.threads:
            t.start()

    def _changed(self) -> None:
        now = time.perf_counter()
        for accession in [a for a in list(self.ordered) if a not in self.seen]:
            if self.watcher.worklist_item(accession) is not None:
                self.seen[accession] = now

    def _order(self, start_at: float, orders: int) -> None:
        while time.time() < start_at:
            time.sleep(0.01)
        for k in range(orders):
            accession = f"NEW{k:03}"
            self.ordered[accession] = time.perf_counter()  # before the commit: the watcher may hear it at once
            self.ris.add_worklist_item(accession, exam="CT HEAD", priority="routine", ordered_at=time.time())
            time.sleep(0.25)

    def finish(self) -> dict[str, Any]:
        self.threads[1].join()  # every order written (5 s at least, however quickly the claims ended)
        deadline = time.perf_counter() + 5.0
        while len(self.seen) < len(self.ordered) and time.perf_counter() < deadline:
            time.sleep(0.05)
        self.stop.set()
        self.threads[0].join(10)
        self.watcher.close()
        self.ris.close()
        lat = sorted(self.seen[a] - self.ordered[a] for a in self.seen)
        return {"orders": len(self.ordered), "orders_seen": len(lat),
                "order_p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
                "order_p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))] if lat else float("nan")}


def _run(target: str, workstations: int, claims: int, pace: float = 0.0) -> dict[str, Any]:
    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    start_at = time.time() + 3.0 + 0.15 * workstations  # every process up and connected before the first claim
    procs = [spawn.Process(target=_workstation, args=(target, f"W{k:02}", claims, start_at, out, pace))
             for k in range(workstations)]
    for p in procs:
        p.start()
    watch = _OrderWatch(target, start_at)
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
    began = start_at
    ended = time.time()
    orders = watch.finish()
    accessions = [a for _, got in results for a, _ in got]
    latencies = sorted(t for _, got in results for _, t in got)
    return {
        "workstations": workstations, "claims": len(accessions),
        "double_claims": len(accessions) - len(set(accessions)),
        "p50_ms": 1000 * statistics.median(latencies), "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "claims_per_s": len(accessions) / max(1e-9, ended - began), **orders,
    }


def run(echo: Callable[[str], None] = print, workstations: int = 50, studies: int = 10_000, claims: int = 20) -> dict:
    from tests.postgres import Cluster

    echo(f"group: {workstations} workstations claiming {claims} studies each from a worklist of {studies:,} "
         "(claim next, mark read, release), against one workstation on its SQLite file")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = Path(tmp) / "bench.db"
        _fill(sqlite, studies)
        rows.append(("sqlite, 1 workstation", _run(str(sqlite), 1, claims * 5)))
    cluster = Cluster()
    cluster.start()
    try:
        for n in sorted({1, min(10, workstations), workstations}):
            with cluster.database() as url:
                _fill(url, studies)
                rows.append((f"postgresql, {n} workstations", _run(url, n, claims)))
        with cluster.database() as url:  # as readers claim: one study each every second or so, not back to back
            _fill(url, studies)
            rows.append((f"postgresql, {workstations} paced 1 s", _run(url, workstations, claims, pace=1.0)))
    finally:
        cluster.stop()
    echo(f"{'':<28}{'claims':>8}{'double':>8}{'p50 ms':>9}{'p95 ms':>9}{'claims/s':>10}"
         f"   {'new order seen elsewhere: p50 ms':>33}{'p95 ms':>8}")
    for name, r in rows:
        echo(f"{name:<28}{r['claims']:>8}{r['double_claims']:>8}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
             f"{r['claims_per_s']:>10.0f}   {r['order_p50_ms']:>33.0f}{r['order_p95_ms']:>8.0f}"
             + ("" if r["orders_seen"] == r["orders"] else f"  (only {r['orders_seen']} of {r['orders']} seen)"))
    return {name: r for name, r in rows}


def outbox_kills(echo: Callable[[str], None] = print, reports: int = 100, senders: int = 4, seed: int = 7) -> dict[str, Any]:
    """Signed versions (a preliminary and a final per report) queued in one PostgreSQL store,
    delivered by ``senders`` `radscribe outbox send` processes at once, one of them SIGKILLed and
    started again every few tenths of a second, to python-hl7's MLLP server de-duplicating on
    MSH-10: each version once, each preliminary before its final; messages a second, against one
    undisturbed sender on the same queue."""
    import os
    import random
    import signal
    import subprocess
    import sys

    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.destinations import HL7Config, HL7Destination
    from dictation.ris.document import ReportVersion, Signer
    from dictation.ris.hl7 import field
    from dictation.ris.outbox import Outbox
    from dictation.store import Store
    from tests.peers.python_hl7 import PythonHL7Peer
    from tests.postgres import Cluster

    library, signer, rng = TemplateLibrary(), Signer("R1", "Bench", "Reader"), random.Random(seed)
    cli = [sys.executable, "-m", "dictation.cli"]

    def fill(url: str, port: int) -> list[tuple[str, str]]:
        store = Store(url)
        box = Outbox(store, [HL7Destination(HL7Config(name="ris", kind="hl7", host="127.0.0.1", port=port))])
        expected = []
        for i in range(reports):
            report = Report.new(library.get("xr-chest"), exam={"accession": f"K{i:05}", "patient_id": f"MRN{i}",
                                                                "patient_name": "Bench^Patient", "sex": "F"})
            report.go_to("impression")
            report.dictate("Small left pleural effusion. No pneumothorax.")
            for status in ("preliminary", "final"):
                report.sign(status)
                store.save_report(report)
                box.enqueue(ReportVersion.from_report(report, signer))
            expected += [(f"K{i:05}", "P"), (f"K{i:05}", "F")]
        box.close()
        store.close()
        return expected

    def deliver(url: str, tmp: Path, port: int, kill: bool) -> dict[str, Any]:
        config = tmp / "config.toml"
        config.write_text(f'[[export]]\nname = "ris"\nkind = "hl7"\nhost = "127.0.0.1"\nport = {port}\ntimeout_seconds = 5\n')
        env = {**os.environ, "RADSCRIBE_STORE": url, "RADSCRIBE_CONFIG": str(config)}

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen([*cli, "outbox", "send", "--wait", "60"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)

        t0, kills = time.perf_counter(), 0
        procs = [start() for _ in range(senders if kill else 1)]
        probe = Store(url)
        try:
            while probe.destination_counts("ris").sent < 2 * reports:
                time.sleep(rng.uniform(0.2, 0.6) if kill else 0.05)
                if kill:
                    alive = [p for p in procs if p.poll() is None]
                    if alive:
                        victim = rng.choice(alive)
                        victim.send_signal(signal.SIGKILL)
                        victim.wait(10)
                        kills += 1
                    procs = [p for p in procs if p.poll() is None]
                    procs += [start() for _ in range(senders - len(procs))]
                elif all(p.poll() is not None for p in procs):
                    procs = [start()]
        finally:
            for p in procs:
                p.kill()
                p.wait(10)
            probe.close()
        return {"seconds": time.perf_counter() - t0, "kills": kills}

    rows = []
    cluster = Cluster()
    cluster.start()
    try:
        for kill in (False, True):
            with tempfile.TemporaryDirectory() as tmp, cluster.database() as url, PythonHL7Peer() as peer:
                expected = fill(url, peer.port)
                run = deliver(url, Path(tmp), peer.port, kill)
                order, seen = [], set()
                for message in list(peer.received):
                    control = field(message, "MSH", 10)
                    if control not in seen:  # the receiver's de-duplication
                        seen.add(control)
                        order.append((field(message, "OBR", 18), field(message, "OBR", 25)))
                once = sorted(order) == sorted(expected)
                in_order = all([s for a, s in order if a == acc] == ["P", "F"] for acc in {a for a, _ in expected})
                rows.append((f"{senders} senders, SIGKILL every 0.2-0.6 s" if kill else "1 sender, undisturbed",
                             {**run, "messages": len(expected), "received": len(peer.received), "once": once,
                              "in_order": in_order, "per_s": len(expected) / run["seconds"]}))
    finally:
        cluster.stop()
    echo(f"\noutbox: {reports} reports, a preliminary and a final each, from one PostgreSQL store to python-hl7's "
         "MLLP server (de-duplicating on MSH-10)")
    echo(f"  {'':<36}{'messages/s':>11}{'kills':>7}{'received':>10}  each version once, in order")
    for name, r in rows:
        echo(f"  {name:<36}{r['per_s']:>11.1f}{r['kills']:>7}{r['received']:>10}  "
             f"{'yes' if r['once'] and r['in_order'] else 'NO'} ({r['messages']} versions)")
    return {name: r for name, r in rows}
