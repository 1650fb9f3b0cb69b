"""A real recognition server for the tests: WhisperLive's OpenAI-compatible REST API serving the
bundled tiny.en on 127.0.0.1, from its own venv (tests/peers/whisper-live, `make whisper-live-peer`)."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.peers.python_hl7 import free_port

PEER_DIR = Path(__file__).parent / "whisper-live"
PYTHON = Path(__file__).resolve().parents[2] / ".venv-whisper-live" / "bin" / "python"  # `make whisper-live-peer`


class WhisperLive:
    """``with WhisperLive() as server: server.url``; ``stop()`` kills it mid-test (as a crash would)."""

    def __init__(self, cert: Path | None = None, key: Path | None = None) -> None:
        if not PYTHON.is_file():
            raise RuntimeError("the WhisperLive test server is not installed: run `make test` (it runs "
                               "`make whisper-live-peer`)")
        self.port = free_port()
        self.tls = [str(cert), str(key)] if cert and key else []
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  # its stderr, closed on exit (an unread pipe could stall it)

    def __enter__(self) -> WhisperLive:
        from dictation.speech.models import bundled_model_path

        self.proc = subprocess.Popen([str(PYTHON), str(PEER_DIR / "serve.py"), str(bundled_model_path()), str(self.port),
                                      *self.tls],
                                     stdout=subprocess.DEVNULL, stderr=self._log, cwd=PEER_DIR)
        deadline = time.monotonic() + 120  # torch and faster-whisper import slowly on a busy machine
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.seek(0)
                err = self._log.read().decode(errors="replace")
                raise RuntimeError(f"the WhisperLive server did not start: {err[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1, verify=False).status_code == 200:  # readiness only
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the WhisperLive server did not answer /health within 120 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._log.close()
