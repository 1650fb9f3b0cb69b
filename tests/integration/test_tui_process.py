"""The real process in a real terminal: `radscribe --audio FILE` in tmux, read with capture-pane."""

import shutil
import subprocess
import time
import uuid

import pytest

pytestmark = pytest.mark.model


def test_dictated_text_appears_on_screen(radscribe_cmd, recordings):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: run `make test`, which installs the Debian packages")
    name = f"radscribe-{uuid.uuid4().hex[:8]}"
    cmd = " ".join([*radscribe_cmd, "--audio", str(recordings["two"])])
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "30", cmd], check=True)
    try:
        screen = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
            if "pneumothorax." in screen.lower():
                break
            time.sleep(0.5)
        assert "The lungs are clear." in screen, screen
        assert "pneumothorax." in screen.lower(), screen
        assert "tiny.en" in screen  # the model in the status bar
        subprocess.run(["tmux", "send-keys", "-t", name, "C-q"], check=True)
        for _ in range(40):
            if subprocess.run(["tmux", "has-session", "-t", name], capture_output=True).returncode != 0:
                break
            time.sleep(0.25)
        else:
            pytest.fail("radscribe did not quit on Ctrl+Q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
