"""What the terminal UI tests share: waiting on the screen, and a vocabulary whose clinical
checks cannot load (for the fail-closed tests)."""

import shutil
import time
from pathlib import Path

from dictation.data.resources import data_dir


async def wait_for(pilot, condition, seconds=90.0):
    """Until ``condition()`` holds; the limit only stops a test that would otherwise hang (a
    loaded machine is slow, not wrong)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await pilot.pause(0.05)


def broken_checks_vocab(folder: Path) -> Path:
    """A copy of the built-in vocabulary with one malformed value in critical_findings.toml
    (``category = "one"``): dictation works, the clinical checks cannot load."""
    shutil.copytree(data_dir("vocab"), folder)
    broken = folder / "critical_findings.toml"
    broken.write_text(broken.read_text().replace("category = 1\n", 'category = "one"\n', 1))
    return folder
