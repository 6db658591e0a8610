"""A thread-safe RPC channel to one or more propertyd instances.

This module promises:

- :func:`connect` returns a :class:`Channel` at once; every URL is dialed by a background
  thread of its own, which redials after a failure or a broken connection (100 ms, doubling
  to 2 s). A URL that is down is skipped; calls go round-robin over the connected ones.
- Any number of threads may call at once. Calls on one connection are multiplexed: each
  request carries its own SP request id and replies are matched by it, so one slow call
  does not hold up the others.
- Each call has a deadline (the per-call ``timeout`` or the channel's default). What is left
  of it is sent as ``timeout_ms`` and also enforced here: with no reply in time the call
  raises ``RpcError`` DEADLINE_EXCEEDED (``local=True``) and a late reply is dropped.
- A request is sent at most once, unless its method is marked idempotent
  (``idempotent=True``, given by the generated stubs from the proto's ``idempotency_level``).
  Only a request that could not be written whole is tried again (on another connection) for
  any method: the server never saw it. A connection lost after the request was written
  ends the call with UNAVAILABLE (``local=True``): the caller decides (use an
  ``idempotency_key`` for CreateProperty, ``expected_version`` for Update and Delete).
- When no connection is up and no dial is in progress, a call asks every URL to redial at
  once and waits for that attempt; if all fail it raises UNAVAILABLE without waiting for
  its deadline.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from . import envelope, sp
from .errors import DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, RpcError

DEFAULT_TIMEOUT = 5.0
DEFAULT_DIAL_TIMEOUT = 2.0
RECONNECT_MIN = 0.1
RECONNECT_MAX = 2.0

# Endpoint states.
_DIALING, _UP, _DOWN, _CLOSED = "dialing", "up", "down", "closed"

M = TypeVar("M", bound=Message)


class _Pending:
    """One request waiting for its reply.

    A plain lock, taken at creation, serves as a one-shot signal (cheaper than an Event):
    ``done`` releases it, ``wait`` takes it. Whoever removes the entry from the endpoint's
    table (under its lock) is the only one to call ``done``.
    """

    __slots__ = ("_signal", "body", "lost")

    def __init__(self) -> None:
        self._signal = threading.Lock()
        self._signal.acquire()
        self.body: bytes | None = None
        self.lost: str | None = None  # why the connection ended before the reply

    def done(self) -> None:
        self._signal.release()

    def wait(self, timeout: float) -> bool:
        return self._signal.acquire(timeout=timeout)


class _NotSent(Exception):
    """The request did not leave (no connection, or the write failed part-way)."""


class _Endpoint:
    """One URL: its connection, its in-flight requests and its dial/read thread."""

    def __init__(self, channel: Channel, url: sp.Url) -> None:
        self.ch = channel
        self.url = url
        self.state = _DIALING  # guarded by channel._cond
        self.last_error = ""
        self._lock = threading.Lock()  # guards the fields below
        self._stream: sp.Stream | None = None
        self._pending: dict[int, _Pending] = {}
        self._next = random.randrange(1, 1 << 31)
        self._kick = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"propertyd-rpc {url}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _set_state(self, state: str, error: str = "") -> None:
        with self.ch._cond:
            if self.state == _CLOSED:
                return
            self.state = state
            if error:
                self.last_error = error
            self.ch._cond.notify_all()

    def kick(self) -> None:
        """Redial now instead of at the end of the backoff (the caller holds channel._cond)."""
        if self.state == _DOWN:
            self.state = _DIALING
            self._kick.set()

    def _run(self) -> None:
        backoff = RECONNECT_MIN
        while self.state != _CLOSED:
            self._set_state(_DIALING)
            try:
                stream = sp.open_stream(self.url, sp.PROTO_REQ, self.ch.dial_timeout, self.ch.tls)
            except (OSError, sp.ProtocolError, ValueError) as e:
                self._set_state(_DOWN, f"{self.url}: {e}")
                self._kick.wait(backoff)
                self._kick.clear()
                backoff = min(backoff * 2, RECONNECT_MAX)
                continue
            with self._lock:
                if self.state == _CLOSED:
                    stream.close()
                    return
                self._stream = stream
            backoff = RECONNECT_MIN
            self._set_state(_UP)
            reason = self._read(stream)
            self._drop(stream, reason)
            self._set_state(_DOWN, f"{self.url}: {reason}")
            self._kick.wait(RECONNECT_MIN)
            self._kick.clear()

    def _read(self, stream: sp.Stream) -> str:
        """Delivers replies until the connection ends; returns why it ended."""
        try:
            while True:
                rid, body = sp.split_reply(stream.recv_message())
                with self._lock:
                    p = self._pending.pop(rid, None)
                if p is not None:  # else: abandoned after its deadline
                    p.body = body
                    p.done()
        except (OSError, sp.ProtocolError) as e:
            return str(e) or type(e).__name__

    def _drop(self, stream: sp.Stream, reason: str) -> None:
        """Closes `stream` and fails every request still waiting on it."""
        stream.close()
        with self._lock:
            if self._stream is stream:
                self._stream = None
            pending, self._pending = self._pending, {}
        for p in pending.values():
            p.lost = reason
            p.done()

    def send(self, body: bytes) -> tuple[int, _Pending]:
        """Sends one request; returns its id and waiter. Raises _NotSent."""
        p = _Pending()
        with self._lock:
            stream = self._stream
            if stream is None:
                raise _NotSent("not connected")
            rid = sp.request_id(self._next)
            while rid in self._pending:  # a 2^31 wrap onto a call still waiting
                self._next += 1
                rid = sp.request_id(self._next)
            self._next += 1
            self._pending[rid] = p
        try:
            stream.send(sp.encode_request(rid, body, stream.ipc))
        except OSError as e:
            self.abandon(rid)
            stream.close()  # the reader thread notices and redials
            raise _NotSent(str(e)) from None
        return rid, p

    def abandon(self, rid: int) -> None:
        """Stops waiting for `rid`; its reply, if it comes, is dropped."""
        with self._lock:
            self._pending.pop(rid, None)

    def close(self) -> None:
        with self.ch._cond:
            self.state = _CLOSED
        self._kick.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)


class Channel:
    """Calls to propertyd over one multiplexed connection per URL. Use :func:`connect`."""

    def __init__(self, urls: Iterable[str], *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 tls: sp.TlsConfig | None = None, dial_timeout: float = DEFAULT_DIAL_TIMEOUT,
                 metadata: Mapping[str, str] | None = None) -> None:
        parsed = [sp.parse_url(u) for u in urls]
        if not parsed:
            raise ValueError("no server URL given")
        if any(u.tls for u in parsed):
            (tls or sp.TlsConfig()).context()  # refuse unusable TLS settings before dialing
        self.timeout = float(timeout)
        self.dial_timeout = float(dial_timeout)
        self.tls = tls
        self.token = token
        self._md: dict[str, str] = dict(metadata or {})
        if token:
            self._md[envelope.AUTHORIZATION] = "Bearer " + token
        envelope.check_metadata(self._md)
        self._cond = threading.Condition()
        self._rr = 0
        self._closed = False
        self._eps = [_Endpoint(self, u) for u in parsed]
        for ep in self._eps:
            ep.start()

    @property
    def urls(self) -> list[str]:
        return [str(e.url) for e in self._eps]

    def connected(self) -> list[str]:
        """The URLs connected right now."""
        with self._cond:
            return [str(e.url) for e in self._eps if e.state == _UP]

    def wait_connected(self, timeout: float) -> bool:
        """Waits until at least one URL is connected; False if none is within `timeout`."""
        end = time.monotonic() + timeout
        with self._cond:
            while not any(e.state == _UP for e in self._eps):
                left = end - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._cond.wait(left)
            return True

    def _pick(self, deadline: float, method: str) -> _Endpoint:
        kicked = False
        with self._cond:
            while True:
                if self._closed:
                    raise RpcError(UNAVAILABLE, "channel closed", method=method, local=True)
                up = [e for e in self._eps if e.state == _UP]
                if up:
                    self._rr += 1
                    return up[self._rr % len(up)]
                if not any(e.state == _DIALING for e in self._eps):
                    if kicked:
                        errs = "; ".join(e.last_error for e in self._eps if e.last_error)
                        raise RpcError(UNAVAILABLE, f"no server reachable ({errs})", method=method, local=True)
                    for e in self._eps:
                        e.kick()
                    kicked = True
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RpcError(DEADLINE_EXCEEDED, "deadline exceeded waiting for a connection",
                                   method=method, local=True)
                self._cond.wait(left)

    def call_raw(self, method: str, payload: bytes, *, timeout: float | None = None,
                 metadata: Mapping[str, str] | None = None, idempotent: bool = False) -> tuple[bytes, dict[str, str]]:
        """Sends one request; returns the reply's (payload, metadata) or raises RpcError.

        `method` is the path "/package.Service/Method"; `payload` the serialized request.
        `metadata` adds to (and may override) the channel's, authorization included.
        """
        t = self.timeout if timeout is None else float(timeout)
        deadline = time.monotonic() + t
        md = self._md
        if metadata:
            md = {**self._md, **metadata}
            try:
                envelope.check_metadata(md)
            except ValueError as e:
                raise envelope.bad_argument(str(e), method) from None
        while True:
            ep = self._pick(deadline, method)
            left = deadline - time.monotonic()
            if left <= 0:
                raise RpcError(DEADLINE_EXCEEDED, "deadline exceeded before the request was sent",
                               method=method, local=True)
            body = envelope.encode_request(method, payload, md, envelope.clamp_timeout_ms(left))
            try:
                rid, p = ep.send(body)
            except _NotSent:
                continue  # the server did not see it: any connection may take it
            if not p.wait(max(0.0, deadline - time.monotonic())):
                ep.abandon(rid)
                if p.body is None and p.lost is None:
                    raise RpcError(DEADLINE_EXCEEDED, f"deadline exceeded waiting for the reply ({t:g} s)",
                                   method=method, local=True)
            if p.body is not None:
                return envelope.decode_response(p.body, method)
            if idempotent and deadline > time.monotonic():
                continue
            raise RpcError(UNAVAILABLE, f"connection lost before the reply, request not resent: {p.lost}",
                           method=method, local=True)

    def unary(self, method: str, request: Message, response_type: type[M], *, timeout: float | None = None,
              metadata: Mapping[str, str] | None = None, idempotency_key: str | None = None,
              idempotent: bool = False) -> M:
        """Calls `method` with a protobuf request; returns the decoded `response_type`."""
        md = dict(metadata) if metadata else {}
        if idempotency_key is not None:
            md[envelope.IDEMPOTENCY_KEY] = idempotency_key
        payload, _ = self.call_raw(method, request.SerializeToString(), timeout=timeout,
                                   metadata=md, idempotent=idempotent)
        out = response_type()
        try:
            out.ParseFromString(payload)
        except DecodeError as e:
            raise RpcError(INTERNAL, f"undecodable reply payload: {e}", method=method, local=True) from None
        return out

    def close(self) -> None:
        """Closes every connection; calls in flight end with UNAVAILABLE. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for e in self._eps:
            e.close()
        for e in self._eps:
            e.join(1.0)

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(urls: str | Iterable[str], *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT,
            ca: str | None = None, cert: str | None = None, key: str | None = None,
            server_name: str | None = None, insecure: bool = False,
            dial_timeout: float = DEFAULT_DIAL_TIMEOUT, metadata: Mapping[str, str] | None = None) -> Channel:
    """Opens a Channel to one URL or several (a list, or one string with commas).

    token: bearer token sent with every call; timeout: default deadline of a call in
    seconds; ca/cert/key/server_name/insecure: TLS settings for tls+tcp:// URLs (a CA is
    required unless insecure=True); metadata: entries sent with every call.
    """
    if isinstance(urls, str):
        urls = [u.strip() for u in urls.split(",") if u.strip()]
    tls = None
    if ca or cert or key or server_name or insecure:
        tls = sp.TlsConfig(ca=ca, cert=cert, key=key, server_name=server_name, insecure=insecure)
    return Channel(urls, token=token, timeout=timeout, tls=tls, dial_timeout=dial_timeout, metadata=metadata)
