"""MLLP: HL7 v2 over TCP (optionally TLS), one message, one acknowledgement.

Framing is <VT> message <FS><CR>. An acknowledgement counts only when its MSA-2 equals the
MSH-10 of what was sent; anything else (another id, garbage) is ignored while waiting, and
waiting ends at the timeout. The connection is kept open between messages and reopened after
any failure; the same bytes are sent again by the caller (the outbox), never rebuilt.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from dataclasses import dataclass

START, END = b"\x0b", b"\x1c\x0d"


@dataclass(frozen=True)
class TLSOptions:
    ca_file: str | None = None  # verify the server against this CA (default: the system's)
    cert_file: str | None = None  # client certificate (optional)
    key_file: str | None = None
    server_name: str | None = None  # name to verify, if not the host

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx  # verifies the certificate and the host name


@dataclass(frozen=True)
class Ack:
    """What came back: ``code`` AA/AE/AR (or CA/CE/CR), or one of our own outcomes:
    ``no_ack`` (timeout or the connection closed) and ``unreachable`` (could not connect)."""

    code: str
    text: str = ""
    raw: bytes = b""

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")

    @property
    def rejected(self) -> bool:  # try again later
        return self.code in ("AR", "CR")

    @property
    def error(self) -> bool:  # the message itself is wrong: dead-letter it
        return self.code in ("AE", "CE")


def frame(message: bytes) -> bytes:
    return START + message + END


def control_id_of(message: bytes) -> str:
    for segment in message.split(b"\r"):
        if segment.startswith(b"MSH"):
            fields = segment.split(b"|")
            return fields[9].decode("utf-8", "replace") if len(fields) > 9 else ""
    return ""


def parse_ack(message: bytes) -> tuple[str, str, str] | None:
    """(MSA-1 code, MSA-2 control id, MSA-3 or ERR text) or None if it is not an ACK."""
    msa = None
    err = ""
    for segment in message.replace(b"\n", b"\r").split(b"\r"):
        fields = segment.decode("utf-8", "replace").split("|")
        if fields[0] == "MSA" and len(fields) > 2:
            msa = fields
        elif fields[0] == "ERR" and len(fields) > 8 and fields[8]:
            err = fields[8]
    if msa is None:
        return None
    text = msa[3] if len(msa) > 3 and msa[3] else err
    return msa[1], msa[2], text


class MLLPClient:
    def __init__(self, host: str, port: int, *, tls: TLSOptions | None = None, timeout: float = 10.0,
                 connect_timeout: float = 5.0) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buffer = b""

    def __enter__(self) -> MLLPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
            if self.tls is not None:
                sock = self.tls.context().wrap_socket(sock, server_hostname=self.tls.server_name or self.host)
            self._sock = sock
            self._buffer = b""
        return self._sock

    def send(self, message: bytes) -> Ack:
        """Send one message and wait for its ACK. Never raises for network trouble: the outcome
        says what happened (and the connection is dropped after any failure)."""
        expected = control_id_of(message)
        if self._sock is not None and self._closed_by_peer():
            self.close()  # many receivers take one message per connection
        try:
            sock = self._connect()
        except (OSError, ssl.SSLError) as e:
            self.close()
            return Ack("unreachable", _reason(e))
        try:
            sock.sendall(frame(message))
            deadline = time.monotonic() + self.timeout
            while True:
                reply = self._read_frame(sock, deadline)
                if reply is None:
                    self.close()
                    return Ack("no_ack", f"no acknowledgement within {self.timeout:g} s")
                parsed = parse_ack(reply)
                if parsed is None or parsed[1] != expected:
                    continue  # garbage, or an ACK for another message: not ours, keep waiting
                code, _, text = parsed
                return Ack(code, text, reply)
        except (OSError, ssl.SSLError) as e:
            self.close()
            return Ack("no_ack", f"connection lost: {_reason(e)}")

    def _closed_by_peer(self) -> bool:
        assert self._sock is not None
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            if not readable:
                return False
            self._sock.settimeout(0.05)
            chunk = self._sock.recv(65536)
        except (OSError, ssl.SSLError, ValueError):
            return True
        if not chunk:
            return True
        self._buffer += chunk  # unsolicited bytes: kept, and ignored unless they are our ACK
        return False

    def _read_frame(self, sock: socket.socket, deadline: float) -> bytes | None:
        while True:
            start = self._buffer.find(START)
            if start >= 0:
                end = self._buffer.find(END, start)
                if end >= 0:
                    block = self._buffer[start + 1:end]
                    self._buffer = self._buffer[end + len(END):]
                    return block
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                return None  # the peer closed the connection
            self._buffer += chunk
            if len(self._buffer) > 10_000_000:
                self._buffer = b""  # garbage without framing: drop it


def _reason(e: BaseException) -> str:
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({e.verify_message})"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, TimeoutError | socket.timeout):
        return "timed out"
    return str(e) or type(e).__name__

