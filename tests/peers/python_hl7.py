"""A real HL7 receiver for benchmarks and tests: python-hl7's asyncio MLLP server on 127.0.0.1,
scripted per message (ACK, AR, AE, silence, garbage, hang-up). Needs the `hl7` package
(`pip install radscribe[test]`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
from collections.abc import Callable


def wait_for_port(port: int, seconds: float = 60.0, alive: Callable[[], bool] | None = None) -> None:
    """Until something accepts connections on 127.0.0.1:``port`` (AssertionError after ``seconds``,
    or as soon as ``alive`` says the server process has gone)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert alive is None or alive(), f"the server for port {port} exited"
            assert time.monotonic() < deadline, f"nothing listens on port {port} after {seconds:g} s"
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ack(message: str, code: str, text: str = "", control_id: str | None = None) -> str:
    fields = message.split("\r", 1)[0].split("|")
    cid = control_id if control_id is not None else (fields[9] if len(fields) > 9 else "")
    now = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    return "\r".join([
        "|".join(["MSH", "^~\\&", fields[4] if len(fields) > 4 else "", fields[5] if len(fields) > 5 else "",
                  fields[2] if len(fields) > 2 else "", fields[3] if len(fields) > 3 else "", now, "",
                  "ACK^R01^ACK", "A" + cid[-19:], "P", "2.5.1"]),
        "|".join(["MSA", code, cid, text]),
    ]) + "\r"


Behaviour = Callable[[str, int], "str | None | bytes"]


class PythonHL7Peer:
    """python-hl7's asyncio server. ``behave(message, n)`` returns the reply for the n-th message
    (1-based): an ACK string, raw bytes (sent as they are), or None (say nothing)."""

    def __init__(self, behave: Behaviour | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.behave = behave or (lambda m, n: ack(m, "AA"))
        self.received: list[str] = []
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import hl7.mllp

        asyncio.set_event_loop(self._loop)

        async def handle(reader, writer):  # type: ignore[no-untyped-def]
            self.connections += 1
            try:
                while not writer.is_closing():
                    message = await reader.readmessage()
                    text = str(message).replace("\n", "\r")
                    self.received.append(text)
                    reply = self.behave(text, len(self.received))
                    if reply == "close":
                        writer.close()
                        return
                    if isinstance(reply, bytes):
                        writer.write(reply)
                    elif reply is not None:
                        writer.writemessage(hl7.parse(reply))
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                if not writer.is_closing():
                    writer.close()

        async def start():  # type: ignore[no-untyped-def]
            self._server = await hl7.mllp.start_hl7_server(handle, host="127.0.0.1", port=self.port, encoding="utf-8")
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def __enter__(self) -> PythonHL7Peer:
        self.thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop():  # type: ignore[no-untyped-def]
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self.thread.join(10)
        self._loop.close()

    @property
    def control_ids(self) -> list[str]:
        return [m.split("\r", 1)[0].split("|")[9] for m in self.received]
