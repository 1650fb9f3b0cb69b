"""Real parts: the bundled speech model, synthesised speech, a PulseAudio virtual microphone."""

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.voice import speak_with_pauses, synthesize, write_wav

CHEST = "there is a small left pleural effusion period no pneumothorax period the heart size is normal period"


@pytest.fixture(scope="session")
def recordings(tmp_path_factory):
    d = tmp_path_factory.mktemp("speech")
    return {
        "chest": write_wav(d / "chest.wav", synthesize(CHEST)),
        "measure": write_wav(d / "measure.wav", synthesize(
            "there is a four millimeter nodule in the right upper lobe period at L four L five there is a disc bulge period")),
        "two": write_wav(d / "two.wav", speak_with_pauses([
            "the lungs are clear period", "no pleural effusion or pneumothorax period"])),
    }


@pytest.fixture(scope="session")
def recognizer():
    from dictation.speech.recognizer import Recognizer

    return Recognizer()


def _run(cmd, env, **kw):
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30, **kw)


@contextlib.contextmanager
def pulseaudio_server(runtime: Path):
    """A private PulseAudio server whose default source is the monitor of a null sink.

    Whatever is played into the sink ``virtmic`` is what the "microphone" hears. Tests start and
    stop it themselves, so `make test` and CI need nothing running beforehand. Yields the
    environment that reaches it.
    """
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run `make test`, which installs the Debian packages")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "PULSE_RUNTIME_PATH": str(runtime / "pulse")}
    env.pop("PULSE_SERVER", None)
    started = _run(["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n",
                    "--load=module-native-protocol-unix", "--load=module-null-sink sink_name=virtmic",
                    "--log-target=stderr"], env)
    if started.returncode != 0:
        pytest.fail(f"PulseAudio did not start: {started.stderr.strip()[-300:]}")
    for _ in range(50):
        if _run(["pactl", "info"], env).returncode == 0:
            break
        time.sleep(0.1)
    assert _run(["pactl", "set-default-source", "virtmic.monitor"], env).returncode == 0
    assert _run(["pactl", "set-default-sink", "virtmic"], env).returncode == 0
    try:
        yield env
    finally:
        _run(["pulseaudio", "--kill"], env)


@pytest.fixture(scope="session")
def virtual_microphone(tmp_path_factory):
    with pulseaudio_server(tmp_path_factory.mktemp("pulse")) as env:
        yield env


@pytest.fixture
def radscribe_cmd():
    exe = Path(os.sys.executable).with_name("radscribe")
    return [str(exe)] if exe.exists() else [os.sys.executable, "-m", "dictation.cli"]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=radscribe test CA", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"), ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", cwd=d)
    return d
