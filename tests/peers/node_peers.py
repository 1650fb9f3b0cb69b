"""Start the Node.js test peers (tests/peers/node, installed by `make test` with `npm ci`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).parent / "node"


def require_node_peers() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules").is_dir():
        raise RuntimeError("the Node.js test peers are not installed: run `make test` (it runs "
                           "`npm ci --prefix tests/peers/node`)")
    return node


class NodePeer:
    """``node SCRIPT ARGS...``; the script prints ``listening PORT`` when ready."""

    def __init__(self, script: str, *args: str) -> None:
        self.cmd = [require_node_peers(), str(NODE_DIR / script), *args]
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> NodePeer:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=NODE_DIR, env={**os.environ, "NODE_NO_WARNINGS": "1"})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.proc.kill()
            raise RuntimeError(f"{self.cmd[1]} did not start: {line}{err}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


def hl7v2_check(message: bytes | str) -> dict[str, Any]:
    """One message through the npm `hl7v2` conformance check (hl7v2-peer.mjs): ``problems`` (empty
    when it conforms) and ``fields``, what that parser reads in PID-3, OBR-18, OBR-25, MSA-1, …"""
    data = message.encode("utf-8") if isinstance(message, str) else message
    done = subprocess.run([require_node_peers(), str(NODE_DIR / "hl7v2-peer.mjs"), "check"], input=data,
                          capture_output=True, cwd=NODE_DIR, timeout=60,
                          env={**os.environ, "NODE_NO_WARNINGS": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"hl7v2-peer.mjs check failed: {done.stderr.decode(errors='replace')}")
    verdict: dict[str, Any] = json.loads(done.stdout)
    return verdict


class HL7v2Peer(NodePeer):
    """An MLLP receiver that checks every message with the npm `hl7v2` parser (strict) against its
    2.5.1 dictionary: AA when it conforms, AE otherwise; `verdicts()` lists one per message."""

    def __init__(self, log: Path) -> None:
        super().__init__("hl7v2-peer.mjs", "serve", "0", str(log))
        self.log = log

    def verdicts(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]
