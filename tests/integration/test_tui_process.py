"""The real process in a real terminal: `radscribe --audio FILE` in tmux, read with capture-pane."""

import shutil
import subprocess
import time
import uuid

import pytest

pytestmark = pytest.mark.model


@pytest.mark.parametrize("loops", [0, 2], ids=["idle", "two-busy-loops"])
def test_dictated_text_appears_on_screen(radscribe_cmd, recordings, busy_cpu, loops):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: run `make test`, which installs the Debian packages")
    name = f"radscribe-{uuid.uuid4().hex[:8]}"
    cmd = " ".join([*radscribe_cmd, "--audio", str(recordings["two"])])
    with busy_cpu(loops):
        _dictate_in_tmux(name, cmd)


def _dictate_in_tmux(name: str, cmd: str) -> None:
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


def test_the_ui_listens_for_orders_when_configured(radscribe_cmd, recordings, tmp_path):
    import hl7
    import hl7.client

    from dictation.store import Store
    from tests.integration.test_orders import orm
    from tests.peers.hl7 import free_port, wait_for_port

    port = free_port()
    (tmp_path / "config.toml").write_text(f"[orders]\nport = {port}\n")
    env = f"RADSCRIBE_CONFIG={tmp_path / 'config.toml'} RADSCRIBE_STORE={tmp_path / 'store.db'}"
    name = f"radscribe-{uuid.uuid4().hex[:8]}"
    cmd = f"env {env} " + " ".join([*radscribe_cmd, "--audio", str(recordings["two"])])
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "30", cmd], check=True)
    try:
        wait_for_port(port)  # the UI started the orders listener
        with hl7.client.MLLPClient("127.0.0.1", port) as client:
            reply = hl7.parse(client.send_message(orm("C1", "ACC-UI")).decode())
        assert str(reply.segment("MSA")[1]) == "AA"
        assert [i.accession for i in Store(tmp_path / "store.db").worklist()] == ["ACC-UI"]
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
