"""Real, independent HL7 receivers on 127.0.0.1 for the export tests.

- `HL7apyPeer`: hl7apy's own MLLPServer (one message per connection), whose handler parses every
  message at hl7apy's STRICT validation level and answers AE when it does not validate.
- `PythonHL7Peer`: python-hl7's asyncio MLLP server (persistent connections), scripted to
  misbehave: AR before AA, AE, never answering, answering for another message, garbage, closing.

Both keep every message they receive, so a test can count what arrived.
"""

from __future__ import annotations

import threading

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.factories import datatype_factory
from hl7apy.mllp import AbstractErrorHandler, AbstractHandler, MLLPServer
from hl7apy.parser import parse_message

from tests.peers.python_hl7 import PythonHL7Peer, ack, free_port, wait_for_port

__all__ = ["HL7apyPeer", "PythonHL7Peer", "ack", "free_port", "strict_validate", "wait_for_port"]


def strict_validate(message: str) -> None:
    """hl7apy STRICT on the whole message. hl7apy types OBX-5 ("varies") as ST (199 characters)
    whatever OBX-2 says, so OBX-5 is validated as the type OBX-2 declares (FT up to 65,536),
    with hl7apy's own datatype at STRICT level, and left out of the structural parse."""
    segments = [s for s in message.replace("\n", "\r").split("\r") if s]
    structural = []
    for seg in segments:
        fields = seg.split("|")
        if fields[0] == "OBX" and len(fields) > 5:
            datatype_factory(fields[2], fields[5], version="2.5.1", validation_level=VALIDATION_LEVEL.STRICT)
            fields[5] = "x"
        structural.append("|".join(fields))
    parsed = parse_message("\r".join(structural), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    parsed.validate()


class HL7apyPeer:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[str] = []
        self.rejected: list[str] = []
        peer = self

        class Handler(AbstractHandler):
            def reply(self) -> str:
                msg = self.incoming_message
                peer.received.append(msg)
                try:
                    strict_validate(msg)
                except Exception as e:
                    peer.rejected.append(f"{type(e).__name__}: {e}")
                    return "\x0b" + ack(msg, "AE", f"{type(e).__name__}") + "\x1c\x0d"
                return "\x0b" + ack(msg, "AA") + "\x1c\x0d"

        class Errors(AbstractErrorHandler):
            def reply(self) -> str:
                peer.rejected.append(f"{type(self.exc).__name__}: {self.exc}")
                return "\x0b" + ack(self.incoming_message, "AE", type(self.exc).__name__) + "\x1c\x0d"

        self.server = MLLPServer("127.0.0.1", self.port, {"ORU^R01^ORU_R01": (Handler,), "ERR": (Errors,)}, timeout=5)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HL7apyPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


