"""A fake propertyd for the unit tests: an SP REP (and PUB) server on loopback, in threads.

It speaks exactly the wire format of contract §2.2, written here independently of the
client's ``sp`` module (struct calls on raw sockets), and answers by method path:

- ``/t.T/Echo``: OK with the request payload as reply payload, at once;
- ``/t.T/Sleep``: OK after the number of milliseconds in the payload (ASCII), so replies
  on one connection come back out of order;
- ``/t.T/Drop``: closes the connection without a reply;
- ``/t.T/Never``: never replies;
- ``/t.T/Fail``: code 3 with two violations and x-request-id "fake-1";
- ``/grpc.health.v1.Health/Check``: by ``health``: None answers 12 UNIMPLEMENTED (as any
  other unknown method), a number answers OK with that status (1 SERVING, 2 NOT_SERVING),
  "silent" never answers;
- a method named in ``routes`` behaves as the action given there ("echo", "drop" or
  "never"), whatever its path.

Every request is recorded (method, metadata, timeout_ms, request id) in ``requests``.
A server may listen on any loopback address and a given port (for the dns+ tests, which
put several on one port).
"""

from __future__ import annotations

import socket
import struct
import threading
import time

from propertyd import health_pb2
from propertyd.rpc.v1 import rpc_pb2


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("eof")
        buf += chunk
    return buf


class FakeRep:
    """A REP server on 127.0.0.1:<port>; close() stops it and drops every connection."""

    def __init__(self, proto: int = 0x31, peer: int = 0x30, host: str = "127.0.0.1", port: int = 0) -> None:
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.lsock.bind((host, port))
        except OSError:
            self.lsock.close()
            raise
        self.lsock.listen(16)
        self.host = host
        self.port = self.lsock.getsockname()[1]
        self.url = f"tcp://{host}:{self.port}"
        self.proto = proto
        self.peer = peer
        self.health: int | str | None = None
        self.routes: dict[str, str] = {}
        self.requests: list[tuple[str, dict[str, str], int, int]] = []
        self.conns: list[socket.socket] = []
        self.accepted = 0
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
                self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        wlock = threading.Lock()
        try:
            c.sendall(b"\x00SP\x00" + struct.pack(">H", self.proto) + b"\x00\x00")
            hs = _recv_exact(c, 8)
            if hs[:4] != b"\x00SP\x00" or struct.unpack(">H", hs[4:6])[0] != self.peer:
                c.close()
                return
            while True:
                (n,) = struct.unpack(">Q", _recv_exact(c, 8))
                msg = _recv_exact(c, n)
                rid, body = msg[:4], msg[4:]
                req = rpc_pb2.Request()
                req.ParseFromString(body)
                with self.lock:
                    self.requests.append((req.method, dict(req.metadata), req.timeout_ms,
                                          struct.unpack(">I", rid)[0]))
                threading.Thread(target=self._answer, args=(c, wlock, rid, req), daemon=True).start()
        except (OSError, ConnectionError):
            pass

    def _answer(self, c: socket.socket, wlock: threading.Lock, rid: bytes, req: rpc_pb2.Request) -> None:
        m = req.method
        rsp = rpc_pb2.Response()
        rsp.metadata["x-request-id"] = req.metadata.get("x-request-id", "fake-1")
        m = {"echo": "/t.T/Echo", "drop": "/t.T/Drop", "never": "/t.T/Never"}.get(self.routes.get(m, ""), m)
        if m == "/grpc.health.v1.Health/Check" and self.health is not None:
            if self.health == "silent":
                return
            rsp.payload = health_pb2.HealthCheckResponse(status=int(self.health)).SerializeToString()
        elif m == "/t.T/Echo":
            rsp.payload = req.payload
        elif m == "/t.T/Sleep":
            time.sleep(int(req.payload.decode()) / 1000)
            rsp.payload = req.payload
        elif m == "/t.T/Drop":
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
            return
        elif m == "/t.T/Never":
            return
        elif m == "/t.T/Fail":
            rsp.code = 3
            rsp.message = "invalid argument: 2 invalid fields"
            for f, d in (("title", "must be 1 to 200 characters"), ("currency", "must be three letters")):
                v = rsp.violations.add()
                v.field, v.description = f, d
        else:
            rsp.code = 12
            rsp.message = "unknown method"
        body = rid + rsp.SerializeToString()
        try:
            with wlock:
                c.sendall(struct.pack(">Q", len(body)) + body)
        except OSError:
            pass

    def drop_all(self) -> None:
        """Closes every open connection (the listener stays)."""
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def close(self) -> None:
        self.closed = True
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in progress
        except OSError:
            pass
        self.lsock.close()
        self.drop_all()


def count(srv: FakeRep, method: str) -> int:
    """How many requests of `method` `srv` received."""
    with srv.lock:
        return sum(1 for r in srv.requests if r[0] == method)


def fakes_on_one_port(hosts: list[str]) -> list[FakeRep]:
    """One FakeRep on each loopback address of `hosts`, all on the same port."""
    for _ in range(50):
        first = FakeRep(host=hosts[0])
        out = [first]
        try:
            for h in hosts[1:]:
                out.append(FakeRep(host=h, port=first.port))
            return out
        except OSError:
            for f in out:
                f.close()
    raise RuntimeError("no port free on every address")


def free_port() -> int:
    """A loopback port nobody listens on (right now)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class FakePub:
    """A PUB server: accepts SUB connections and sends what publish() is given to all."""

    def __init__(self) -> None:
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.url = f"tcp://127.0.0.1:{self.lsock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.lsock.accept()
                c.sendall(b"\x00SP\x00\x00\x20\x00\x00")
                hs = _recv_exact(c, 8)
            except (OSError, ConnectionError):
                return
            if hs != b"\x00SP\x00\x00\x21\x00\x00":
                c.close()
                continue
            with self.lock:
                self.conns.append(c)
            self.ready.set()

    def publish(self, msg: bytes) -> None:
        with self.lock:
            for c in self.conns:
                try:
                    c.sendall(struct.pack(">Q", len(msg)) + msg)
                except OSError:
                    pass

    def close(self) -> None:
        self.lsock.close()
        with self.lock:
            for c in self.conns:
                c.close()
