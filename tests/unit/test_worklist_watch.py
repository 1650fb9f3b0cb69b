"""A change one workstation makes to the worklist reaches another's watcher (PostgreSQL: LISTEN/
NOTIFY, as a reader's least-privilege role; SQLite: the file's data_version), on both engines."""

import queue
import threading
import time

from dictation.store import Store


def _until_heard(heard: queue.Queue, act, tries: int = 20) -> float:
    """``act`` until the watcher hears a change (it may not be listening yet); seconds it took."""
    for n in range(tries):
        t0 = time.monotonic()
        act(n)
        try:
            at = heard.get(timeout=1.5)
        except queue.Empty:
            continue
        return at - t0
    raise AssertionError("the watcher heard no change")


def test_a_change_on_another_workstation_reaches_the_watcher_and_nothing_else_does(store_target):
    here, there = Store(store_target, actor="W1"), Store(store_target, actor="W2")
    heard: queue.Queue = queue.Queue()
    stop = threading.Event()
    watcher = threading.Thread(target=here.watch_worklist, args=(stop, lambda: heard.put(time.monotonic())),
                               daemon=True)
    watcher.start()
    try:
        _until_heard(heard, lambda n: there.add_worklist_item(f"NEW{n}", exam="CT HEAD", priority="stat"))
        time.sleep(0.6)
        while not heard.empty():  # the tries before the watcher listened may each be heard
            heard.get()
        here.worklist()  # reading is not a change
        assert heard.empty() and not _quiet_change(heard)
        item = there.worklist()[0]
        took = _until_heard(heard, lambda n: there.claim_study(item.id, "W2"), tries=1)
        assert took < 1.5
        assert here.study(item.id).claimed_by == "W2"  # what the watcher's refresh will show
    finally:
        stop.set()
        watcher.join(5)
        here.close()
        there.close()
    assert not watcher.is_alive()


def _quiet_change(heard: queue.Queue) -> bool:
    try:
        heard.get(timeout=1.0)
    except queue.Empty:
        return False
    return True
