"""The Scalability Protocols (SP) wire format, as nng 1.5.2 speaks it over TCP, TLS and IPC.

This module promises:

- byte-exact encoders and decoders for the 8-byte SP handshake, the 64-bit length framing
  (with the extra ``0x01`` byte of ``ipc://``) and the 32-bit REQ/REP request id;
- :func:`parse_url` for the URL forms propertyd uses (``tcp://``, ``tls+tcp://``, ``ipc://``);
- :func:`open_stream`, which connects, runs the TLS handshake when asked to, runs the SP
  handshake and returns a :class:`Stream` whose ``send`` may be called from several threads
  at once while one other thread calls ``recv_message``.

Nothing here knows about protobuf or about propertyd's envelope.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from dataclasses import dataclass

# Protocol numbers of the SP patterns used by propertyd (nng's NNI_PROTO(major, minor)).
PROTO_PUB = 0x20
PROTO_SUB = 0x21
PROTO_REQ = 0x30
PROTO_REP = 0x31

# The peer each pattern talks to.
PEER_OF = {PROTO_REQ: PROTO_REP, PROTO_REP: PROTO_REQ, PROTO_SUB: PROTO_PUB, PROTO_PUB: PROTO_SUB}

# Request ids carry this bit; REP copies the id back unchanged.
REQUEST_ID_FLAG = 0x80000000

# The marker byte nng's ipc transport puts before each length.
IPC_MSG_MARKER = 0x01

# Largest message we accept from a peer (nng's receive limit does the same job); a bigger
# one closes the connection.
DEFAULT_RECV_MAX = 16 << 20

_LEN = struct.Struct(">Q")
_U32 = struct.Struct(">I")


class ProtocolError(Exception):
    """The peer broke the SP protocol (bad handshake, oversized or malformed message)."""


def handshake(proto: int) -> bytes:
    """The 8 bytes a socket of pattern `proto` sends right after connecting."""
    return b"\x00SP\x00" + struct.pack(">H", proto) + b"\x00\x00"


def check_handshake(data: bytes, expect_peer: int) -> None:
    """Raises ProtocolError unless `data` is the handshake of pattern `expect_peer`."""
    if len(data) != 8 or data[0:4] != b"\x00SP\x00" or data[6:8] != b"\x00\x00":
        raise ProtocolError(f"not an SP peer (handshake {data.hex()})")
    (peer,) = struct.unpack(">H", data[4:6])
    if peer != expect_peer:
        raise ProtocolError(f"peer speaks protocol 0x{peer:02x}, expected 0x{expect_peer:02x}")


def frame(body: bytes, ipc: bool = False) -> bytes:
    """One message on the wire: [0x01 on ipc] + 64-bit big-endian length + body."""
    head = _LEN.pack(len(body))
    if ipc:
        head = bytes([IPC_MSG_MARKER]) + head
    return head + body


def request_id(n: int) -> int:
    """The wire form of request number `n` (31 bits, top bit set)."""
    return REQUEST_ID_FLAG | (n & 0x7FFFFFFF)


def encode_request(req_id: int, body: bytes, ipc: bool = False) -> bytes:
    """A REQ message: the framed request id followed by the body."""
    if not req_id & REQUEST_ID_FLAG:
        raise ValueError("request id must have its top bit set")
    return frame(_U32.pack(req_id) + body, ipc)


def split_reply(msg: bytes) -> tuple[int, bytes]:
    """Splits a REP message into (request id, body). Raises ProtocolError if malformed."""
    if len(msg) < 4:
        raise ProtocolError("reply shorter than its request id")
    (rid,) = _U32.unpack_from(msg, 0)
    if not rid & REQUEST_ID_FLAG:
        raise ProtocolError(f"reply header 0x{rid:08x} has no request-id bit")
    return rid, msg[4:]


class FrameDecoder:
    """Incremental decoder of a byte stream into SP messages."""

    def __init__(self, ipc: bool = False, recv_max: int = DEFAULT_RECV_MAX) -> None:
        self._buf = bytearray()
        self._ipc = ipc
        self._max = recv_max

    def feed(self, data: bytes) -> list[bytes]:
        """Adds bytes; returns the messages now complete (possibly none)."""
        self._buf += data
        out: list[bytes] = []
        head = 9 if self._ipc else 8
        while len(self._buf) >= head:
            if self._ipc and self._buf[0] != IPC_MSG_MARKER:
                raise ProtocolError(f"ipc message marker 0x{self._buf[0]:02x}")
            (n,) = _LEN.unpack_from(self._buf, head - 8)
            if n > self._max:
                raise ProtocolError(f"message of {n} bytes exceeds the limit of {self._max}")
            if len(self._buf) < head + n:
                break
            out.append(bytes(self._buf[head : head + n]))
            del self._buf[: head + n]
        return out


@dataclass(frozen=True)
class Url:
    """A parsed endpoint: scheme is "tcp", "tls+tcp" or "ipc"."""

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def tls(self) -> bool:
        return self.scheme == "tls+tcp"

    @property
    def ipc(self) -> bool:
        return self.scheme == "ipc"

    def __str__(self) -> str:
        if self.ipc:
            return f"ipc://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_url(url: str) -> Url:
    """Parses tcp://host:port, tls+tcp://host:port ([v6] hosts allowed) or ipc:///path."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"URL {url!r} has no scheme")
    if scheme == "ipc":
        if not rest:
            raise ValueError(f"URL {url!r} has no path")
        return Url("ipc", path=rest)
    if scheme not in ("tcp", "tls+tcp"):
        raise ValueError(f"URL {url!r}: unsupported scheme {scheme!r} (tcp, tls+tcp, ipc)")
    if rest.startswith("["):
        host, sep, tail = rest[1:].partition("]")
        if not sep or not tail.startswith(":"):
            raise ValueError(f"URL {url!r}: bad IPv6 address")
        port_s = tail[1:]
    else:
        host, sep, port_s = rest.rpartition(":")
        if not sep:
            raise ValueError(f"URL {url!r} has no port")
    if not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise ValueError(f"URL {url!r}: bad port {port_s!r}")
    return Url(scheme, host=host or "127.0.0.1", port=int(port_s))


@dataclass(frozen=True)
class TlsConfig:
    """How to dial tls+tcp:// endpoints.

    ca: CA file to verify the server (required unless insecure); cert/key: client
    certificate (mutual TLS); server_name: SNI and the name checked (no name check without
    it, as the C clients do); insecure: skip verification (development only).
    """

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None
    insecure: bool = False

    def context(self) -> ssl.SSLContext:
        """An SSLContext for these settings; raises ValueError when they are unusable."""
        if (self.cert is None) != (self.key is None):
            raise ValueError("TLS: cert and key go together")
        if not self.insecure and not self.ca:
            raise ValueError(
                "tls+tcp:// needs a CA to verify the server (ca=...); "
                "pass insecure=True to skip verification"
            )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx.load_verify_locations(cafile=self.ca)
            ctx.check_hostname = self.server_name is not None
            ctx.verify_mode = ssl.CERT_REQUIRED
        if self.cert is not None:
            ctx.load_cert_chain(self.cert, self.key)
        return ctx


class Stream:
    """A connected, handshaken SP byte stream (plain socket or TLS).

    ``send`` is serialized by a lock and may be called from any thread; ``recv_message``
    must be called by one thread at a time. ``close`` may be called from any thread and
    wakes a blocked ``recv_message`` (which then raises OSError or ProtocolError).
    """

    def __init__(self, sock: socket.socket, ipc: bool, recv_max: int) -> None:
        self._sock = sock
        self._ipc = ipc
        self._send_lock = threading.Lock()
        self._decoder = FrameDecoder(ipc, recv_max)
        self._ready: list[bytes] = []
        self._closed = False

    @property
    def ipc(self) -> bool:
        return self._ipc

    def send(self, data: bytes) -> None:
        """Writes already framed bytes, whole, or raises OSError."""
        with self._send_lock:
            self._sock.sendall(data)

    def _recv_raw(self) -> bytes:
        return self._sock.recv(1 << 16)

    def recv_message(self) -> bytes:
        """The next whole message; raises ConnectionError at end of stream."""
        while not self._ready:
            data = self._recv_raw()
            if not data:
                raise ConnectionError("connection closed by peer")
            self._ready.extend(self._decoder.feed(data))
        return self._ready.pop(0)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


class TlsStream(Stream):
    """A Stream over TLS, driven through memory BIOs.

    OpenSSL objects must not be used by two threads at once, so every SSLObject call
    happens under one lock while socket reads and writes stay outside it; bytes leave in
    the order the lock produced them (the send lock is always taken first).
    """

    def __init__(self, sock: socket.socket, obj: ssl.SSLObject, inc: ssl.MemoryBIO,
                 out: ssl.MemoryBIO, recv_max: int) -> None:
        super().__init__(sock, False, recv_max)
        self._obj = obj
        self._in = inc
        self._out = out
        self._ssl_lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self._send_lock:
            with self._ssl_lock:
                self._obj.write(data)
                pending = self._out.read()
            self._sock.sendall(pending)

    def _flush_out(self) -> None:
        with self._send_lock:
            with self._ssl_lock:
                pending = self._out.read()
            if pending:
                self._sock.sendall(pending)

    def _recv_raw(self) -> bytes:
        while True:
            with self._ssl_lock:
                try:
                    data = self._obj.read(1 << 16)
                except ssl.SSLWantReadError:
                    data = None
                except ssl.SSLZeroReturnError:
                    data = b""
            if self._out.pending:
                self._flush_out()
            if data is not None:
                return data
            raw = self._sock.recv(1 << 16)
            if not raw:
                return b""
            with self._ssl_lock:
                self._in.write(raw)


def _tls_handshake(sock: socket.socket, ctx: ssl.SSLContext, server_name: str | None,
                   recv_max: int) -> TlsStream:
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False, server_hostname=server_name)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                sock.sendall(pending)
            raw = sock.recv(1 << 16)
            if not raw:
                raise ConnectionError("connection closed during the TLS handshake")
            inc.write(raw)
    pending = out.read()
    if pending:
        sock.sendall(pending)
    return TlsStream(sock, obj, inc, out, recv_max)


def open_stream(url: Url, proto: int, timeout: float, tls: TlsConfig | None = None,
                recv_max: int = DEFAULT_RECV_MAX) -> Stream:
    """Connects to `url`, runs TLS and SP handshakes within `timeout` seconds.

    Returns a Stream in blocking mode. Raises OSError, ssl.SSLError or ProtocolError.
    """
    ctx = None
    if url.tls:
        ctx = (tls or TlsConfig()).context()  # raises before anything is sent
    if url.ipc:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(url.path)
        except BaseException:
            sock.close()
            raise
    else:
        sock = socket.create_connection((url.host, url.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        stream: Stream
        if ctx is not None:
            name = tls.server_name if tls is not None else None
            stream = _tls_handshake(sock, ctx, name, recv_max)
        else:
            stream = Stream(sock, url.ipc, recv_max)
        stream.send(handshake(proto))
        got = b""
        while len(got) < 8:
            # Read exactly 8 bytes: the first message may follow at once.
            chunk = _read_exact_prefix(stream, 8 - len(got))
            if not chunk:
                raise ConnectionError("connection closed during the SP handshake")
            got += chunk
        check_handshake(got, PEER_OF[proto])
        sock.settimeout(None)
        return stream
    except BaseException:
        sock.close()
        raise


def _read_exact_prefix(stream: Stream, n: int) -> bytes:
    """Reads up to n raw bytes, keeping any surplus for the frame decoder."""
    data = stream._recv_raw()  # noqa: SLF001 - same module
    if len(data) > n:
        stream._ready.extend(stream._decoder.feed(data[n:]))  # noqa: SLF001
        data = data[:n]
    return data
