"""A thread-safe RPC channel to one or more propertyd instances, balancing over them.

This module promises:

- :func:`connect` returns a :class:`Channel` at once; every instance is dialed by a
  background thread of its own, which redials after a failure or a broken connection
  (100 ms, doubling to 2 s). An instance is every URL given, and every A/AAAA address of a
  ``dns+tcp://HOST:PORT`` or ``dns+tls+tcp://HOST:PORT`` URL; such names are resolved by a
  background thread at once and then every ``dns_refresh`` seconds (30), never by a call.
- Balancing (gRPC's round_robin with health checking), on by default with more than one
  URL or any dns+ URL (``health_check=``): a background thread sends
  ``/grpc.health.v1.Health/Check`` every ``probe_interval`` (0.5 s) on each instance's
  connection. An instance is in rotation only while it is connected and its last check on
  that connection said SERVING; NOT_SERVING, no answer within ``probe_timeout`` (1 s) or a
  lost connection takes it out at once, until a check says SERVING again. Calls go round
  robin over the instances in rotation. With one plain URL there are no health checks: a
  connected instance is in rotation (the behaviour before balancing).
- Any number of threads may call at once. Calls on one connection are multiplexed: each
  request carries its own SP request id and replies are matched by it, so one slow call
  does not hold up the others.
- Each call has a deadline (the per-call ``timeout`` or the channel's default). What is left
  of it is sent as ``timeout_ms`` and also enforced here: with no reply in time the call
  raises ``RpcError`` DEADLINE_EXCEEDED (``local=True``) and a late reply is dropped. No
  call outlives its deadline, retries included.
- The retry rule (the same as the C library's, include/nrpc/retry.h; see
  :mod:`propertyd.balance`): a request that did not leave (no connection, the write
  failed) may go to any instance. A request whose connection was lost after it was written
  goes once to each other instance in rotation, within its deadline, only when it is a read
  (GetProperty, ListPropertiesByOwner, SearchProperties, ReadEvents, Health/Check,
  rpc.v1.Reflection) or a CreateProperty with an ``idempotency-key``; any other call ends
  with 14 UNAVAILABLE (``local=True``): the caller decides (use an ``idempotency_key`` for
  CreateProperty, ``expected_version`` for Update and Delete). A call marked
  ``idempotent=True`` (by the generated stubs, from the proto's ``idempotency_level``) may
  also be resent to any instance, the same one included.
- When no instance is in rotation and none is about to be (no dial, first health check or
  first DNS answer pending), a call asks every instance to redial at once and waits for
  that attempt; if all fail it raises UNAVAILABLE without waiting for its deadline.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from . import balance, envelope, sp
from .errors import DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, RpcError

DEFAULT_TIMEOUT = 5.0
DEFAULT_DIAL_TIMEOUT = 2.0
RECONNECT_MIN = 0.1
RECONNECT_MAX = 2.0
PROBE_INTERVAL = 0.5  # health check period per instance
PROBE_TIMEOUT = 1.0  # a check unanswered this long takes the instance out
DNS_REFRESH = 30.0  # dns+ names are re-resolved this often
DNS_RETRY = 1.0  # ... and this often while a name has given no address yet

# Connection states of an endpoint.
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


class _Probe(_Pending):
    """A health check in flight: ``done`` hands it to the channel instead of a waiter."""

    __slots__ = ("ep", "gen", "deadline", "rid")

    def __init__(self, ep: _Endpoint, gen: int, deadline: float) -> None:
        super().__init__()
        self.ep = ep
        self.gen = gen  # the connection it was sent on
        self.deadline = deadline
        self.rid = 0

    def done(self) -> None:
        self.ep.ch._probe_done(self)


class _NotSent(Exception):
    """The request did not leave (no connection, or the write failed part-way)."""


class _Origin:
    """A dns+ URL and what its last lookup said (guarded by channel._cond)."""

    def __init__(self, target: balance.DnsTarget, tls: sp.TlsConfig | None) -> None:
        self.target = target
        self.tls = tls
        self.answered = False  # a lookup has ended (with addresses or not)
        self.error = ""
        self.next = 0.0  # monotonic time of the next lookup


class _Endpoint:
    """One instance: its connection, its in-flight requests and its dial/read thread."""

    def __init__(self, channel: Channel, url: sp.Url, tls: sp.TlsConfig | None,
                 origin: _Origin | None = None) -> None:
        self.ch = channel
        self.url = url
        self.tls = tls
        self.origin = origin
        # Guarded by channel._cond:
        self.state = _DIALING
        self.health: bool | None = None  # last check's verdict on this connection; None: none yet
        self.gen = 0  # counts connections
        self.probe: _Probe | None = None
        self.next_probe = 0.0
        self.retiring = False  # dropped by DNS: out of rotation, closed once idle
        self.last_error = ""
        self._lock = threading.Lock()  # guards the fields below
        self._stream: sp.Stream | None = None
        self._pending: dict[int, _Pending] = {}
        self._next = random.randrange(1, 1 << 31)
        self._kick = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"propertyd-rpc {url}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def lb_state(self) -> str:
        """CONNECTING, READY or DOWN (the caller holds channel._cond)."""
        if self.retiring or self.state in (_DOWN, _CLOSED):
            return balance.DOWN
        if self.state == _DIALING:
            return balance.CONNECTING
        if not self.ch.health_check or self.health:
            return balance.READY
        return balance.CONNECTING if self.health is None else balance.DOWN

    @property
    def busy(self) -> bool:
        """True while a call (not a health check) waits on this instance."""
        with self._lock:
            return any(not isinstance(p, _Probe) for p in self._pending.values())

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
                stream = sp.open_stream(self.url, sp.PROTO_REQ, self.ch.dial_timeout, self.tls)
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
            with self.ch._cond:
                if self.state != _CLOSED:
                    self.state = _UP
                    self.gen += 1
                    self.health = None
                    self.probe = None
                    self.next_probe = 0.0  # checked at once
                    self.ch._cond.notify_all()
            self.ch._wake_prober()
            reason = self._read(stream)
            # Out of rotation first, so that a call retried from _drop never picks it.
            self._set_state(_DOWN, f"{self.url}: {reason}")
            self._drop(stream, reason)
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

    def send(self, body: bytes, p: _Pending | None = None) -> tuple[int, _Pending]:
        """Sends one request; returns its id and waiter. Raises _NotSent."""
        if p is None:
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
            self._set_state(_DOWN, f"{self.url}: {e}")  # out of rotation until redialed
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
    """Calls to propertyd over one multiplexed connection per instance. Use :func:`connect`."""

    def __init__(self, urls: Iterable[str], *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 tls: sp.TlsConfig | None = None, dial_timeout: float = DEFAULT_DIAL_TIMEOUT,
                 metadata: Mapping[str, str] | None = None, health_check: bool | None = None,
                 resolver: balance.Resolver | None = None, dns_refresh: float = DNS_REFRESH,
                 probe_interval: float = PROBE_INTERVAL, probe_timeout: float = PROBE_TIMEOUT) -> None:
        given = list(urls)
        if not given:
            raise ValueError("no server URL given")
        plain: list[sp.Url] = []
        targets: list[balance.DnsTarget] = []
        for u in given:
            t = balance.parse_dns_url(u)
            if t is not None:
                targets.append(t)
            else:
                plain.append(sp.parse_url(u))
        if any(u.tls for u in plain) or any(t.scheme == "tls+tcp" for t in targets):
            (tls or sp.TlsConfig()).context()  # refuse unusable TLS settings before dialing
        self.timeout = float(timeout)
        self.dial_timeout = float(dial_timeout)
        self.tls = tls
        self.token = token
        self.health_check = (len(given) > 1 or bool(targets)) if health_check is None else bool(health_check)
        self.probe_interval = float(probe_interval)
        self.probe_timeout = float(probe_timeout)
        self.dns_refresh = float(dns_refresh)
        self.retries = 0  # calls sent again to another instance after theirs was lost
        self._resolver = resolver or balance.default_resolver
        self._md: dict[str, str] = dict(metadata or {})
        if token:
            self._md[envelope.AUTHORIZATION] = "Bearer " + token
        envelope.check_metadata(self._md)
        self._cond = threading.Condition()
        self._rr = 0
        self._closed = False
        self._origins = [_Origin(t, self._dns_tls(t)) for t in targets]
        self._eps = [_Endpoint(self, u, tls) for u in plain]
        self._prober_wake = threading.Event()
        self._dns_wake = threading.Event()
        self._threads: list[threading.Thread] = []
        for ep in self._eps:
            ep.start()
        if self.health_check:
            self._threads.append(threading.Thread(target=self._prober, name="propertyd-health", daemon=True))
        if self._origins:
            self._threads.append(threading.Thread(target=self._resolve_loop, name="propertyd-dns", daemon=True))
        for t in self._threads:
            t.start()

    def _dns_tls(self, t: balance.DnsTarget) -> sp.TlsConfig | None:
        """TLS of a dns+tls+tcp:// name's instances: the certificate must be for HOST unless
        server_name names another (as the C clients)."""
        if t.scheme != "tls+tcp":
            return self.tls
        base = self.tls or sp.TlsConfig()
        return base if base.server_name else dataclasses.replace(base, server_name=t.host)

    @property
    def urls(self) -> list[str]:
        """The instances dialed now: every plain URL and each address of the dns+ names."""
        with self._cond:
            return [str(e.url) for e in self._eps if not e.retiring]

    def connected(self) -> list[str]:
        """The instances in rotation right now: connected and, with health checks, whose last
        check said SERVING."""
        with self._cond:
            return [str(e.url) for e in self._eps if e.lb_state() == balance.READY]

    def instances(self) -> list[tuple[str, str]]:
        """(url, state) of every instance, state "ready", "connecting" or "down"."""
        with self._cond:
            return [(str(e.url), e.lb_state()) for e in self._eps if not e.retiring]

    def wait_connected(self, timeout: float) -> bool:
        """Waits until at least one instance is in rotation; False if none is within `timeout`."""
        end = time.monotonic() + timeout
        with self._cond:
            while not any(e.lb_state() == balance.READY for e in self._eps):
                left = end - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._cond.wait(left)
            return True

    # -- health checks ---------------------------------------------------------------------

    def _wake_prober(self) -> None:
        if self.health_check:
            self._prober_wake.set()

    def _prober(self) -> None:
        """Sends each connected instance a health check every probe_interval; a check not
        answered within probe_timeout takes it out."""
        body = balance.probe_request(max(1, int(self.probe_timeout * 1000)))
        while True:
            now = time.monotonic()
            send: list[_Probe] = []
            late: list[_Probe] = []
            wait = self.probe_interval
            with self._cond:
                if self._closed:
                    return
                for ep in self._eps:
                    if ep.state != _UP or ep.retiring:
                        continue
                    p = ep.probe
                    if p is not None and now >= p.deadline:  # no answer in time: out
                        ep.probe = None
                        if ep.gen == p.gen:
                            ep.health = False
                            ep.last_error = f"{ep.url}: health check unanswered for {self.probe_timeout:g} s"
                        late.append(p)
                        p = None
                        self._cond.notify_all()
                    if p is None and now >= ep.next_probe:
                        p = ep.probe = _Probe(ep, ep.gen, now + self.probe_timeout)
                        send.append(p)
                    due = p.deadline if p is not None else ep.next_probe
                    wait = min(wait, max(0.005, due - now))
            for p in late:
                p.ep.abandon(p.rid)
            for p in send:
                try:
                    p.rid, _ = p.ep.send(body, p)
                except _NotSent:
                    with self._cond:
                        if p.ep.probe is p:
                            p.ep.probe = None
            self._prober_wake.wait(wait)
            self._prober_wake.clear()

    def _probe_done(self, p: _Probe) -> None:
        """A health check's reply came, or its connection was lost (reader thread)."""
        ep = p.ep
        with self._cond:
            if ep.probe is p:
                ep.probe = None
            if p.body is None or ep.gen != p.gen or ep.state != _UP:
                return  # lost with its connection: the drop took the instance out already
            ep.health = balance.probe_serving(p.body)
            if not ep.health:
                ep.last_error = f"{ep.url}: health check: not serving"
            ep.next_probe = time.monotonic() + self.probe_interval
            self._cond.notify_all()

    # -- DNS -------------------------------------------------------------------------------

    def _resolve_loop(self) -> None:
        """Resolves every dns+ name at once, then every dns_refresh seconds (every DNS_RETRY
        while a name has given no address); closes retired instances once idle."""
        while True:
            now = time.monotonic()
            with self._cond:
                if self._closed:
                    return
                due = [o for o in self._origins if now >= o.next]
            for o in due:
                try:
                    got: list[str] | None = balance.expand(o.target, self._resolver)
                    err = "" if got else "no address"
                except Exception as e:  # noqa: BLE001 - whatever the resolver raises
                    got, err = None, str(e) or type(e).__name__
                self._apply_dns(o, got or [], err)
            self._close_retired()
            with self._cond:
                nxt = min(o.next for o in self._origins)
            self._dns_wake.wait(max(0.01, min(DNS_RETRY, nxt - time.monotonic())))
            self._dns_wake.clear()

    def _apply_dns(self, o: _Origin, got: list[str], err: str) -> None:
        """Dials new addresses and retires vanished ones; a failed or empty answer keeps the
        current set."""
        new: list[_Endpoint] = []
        with self._cond:
            if self._closed:
                return
            o.answered = True
            have = [e for e in self._eps if e.origin is o and not e.retiring]
            if err:
                o.error = f"{o.target}: {err}"
                o.next = time.monotonic() + (self.dns_refresh if have else DNS_RETRY)
                self._cond.notify_all()
                return
            o.error = ""
            o.next = time.monotonic() + self.dns_refresh
            keep, add = balance.merge([str(e.url) for e in have], got)
            for e, k in zip(have, keep):
                if not k:
                    e.retiring = True
            new = [_Endpoint(self, sp.parse_url(u), o.tls, o) for u in add]
            self._eps = self._eps + new
            self._cond.notify_all()
        for e in new:
            e.start()

    def _close_retired(self) -> None:
        with self._cond:
            gone = [e for e in self._eps if e.retiring and not e.busy]
            if gone:
                self._eps = [e for e in self._eps if e not in gone]
        for e in gone:
            e.close()

    # -- calls -----------------------------------------------------------------------------

    def _pick(self, deadline: float, method: str, tried: set[_Endpoint], lost: str) -> _Endpoint:
        kicked = False
        with self._cond:
            while True:
                if self._closed:
                    raise RpcError(UNAVAILABLE, "channel closed", method=method, local=True)
                eps = self._eps
                states = [e.lb_state() for e in eps]
                skip = [e in tried for e in eps]
                i, self._rr = balance.pick(states, skip, self._rr)
                if i >= 0:
                    return eps[i]
                waiting_dns = any(not o.answered for o in self._origins)
                if not balance.pending(states, skip) and not waiting_dns:
                    if tried:
                        raise RpcError(UNAVAILABLE, f"connection lost before the reply ({lost}); "
                                       "no other instance to resend it to", method=method, local=True)
                    if kicked:
                        errs = "; ".join([e.last_error for e in eps if e.last_error]
                                         + [o.error for o in self._origins if o.error])
                        raise RpcError(UNAVAILABLE, f"no server reachable ({errs or 'no instance'})",
                                       method=method, local=True)
                    for e in eps:
                        if not e.retiring:
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
        has_key = balance.has_idempotency_key(md)
        tried: set[_Endpoint] = set()  # instances lost with this call in flight
        lost = ""
        while True:
            ep = self._pick(deadline, method, tried, lost)
            left = deadline - time.monotonic()
            if left <= 0:
                raise RpcError(DEADLINE_EXCEEDED, "deadline exceeded before the request was sent",
                               method=method, local=True)
            body = envelope.encode_request(method, payload, md, envelope.clamp_timeout_ms(left))
            try:
                rid, p = ep.send(body)
            except _NotSent:
                continue  # the server did not see it: any instance may take it
            if not p.wait(max(0.0, deadline - time.monotonic())):
                ep.abandon(rid)
                if p.body is None and p.lost is None:
                    raise RpcError(DEADLINE_EXCEEDED, f"deadline exceeded waiting for the reply ({t:g} s)",
                                   method=method, local=True)
            if p.body is not None:
                return envelope.decode_response(p.body, method)
            lost = p.lost or "connection lost"
            if deadline > time.monotonic():
                if idempotent:
                    continue
                if balance.may_retry(True, method, has_key):
                    tried.add(ep)
                    self.retries += 1
                    continue
            raise RpcError(UNAVAILABLE, f"connection lost before the reply, request not resent: {lost}",
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
            eps = list(self._eps)
        self._prober_wake.set()
        self._dns_wake.set()
        for e in eps:
            e.close()
        for e in eps:
            e.join(1.0)
        for t in self._threads:
            if t.is_alive() and t is not threading.current_thread():
                t.join(1.0)

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(urls: str | Iterable[str], *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT,
            ca: str | None = None, cert: str | None = None, key: str | None = None,
            server_name: str | None = None, insecure: bool = False,
            dial_timeout: float = DEFAULT_DIAL_TIMEOUT, metadata: Mapping[str, str] | None = None,
            health_check: bool | None = None, resolver: balance.Resolver | None = None,
            dns_refresh: float = DNS_REFRESH) -> Channel:
    """Opens a Channel to one URL or several (a list, or one string with commas).

    URLs: tcp://, tls+tcp://, ipc://, and dns+tcp://HOST:PORT or dns+tls+tcp://HOST:PORT
    (every A/AAAA address of HOST is an instance). token: bearer token sent with every
    call; timeout: default deadline of a call in seconds; ca/cert/key/server_name/insecure:
    TLS settings for tls+tcp:// URLs (a CA is required unless insecure=True); metadata:
    entries sent with every call; health_check: health-check the instances (default: with
    more than one URL or a dns+ URL); resolver: (host, port) -> addresses, for dns+ URLs
    (default: getaddrinfo); dns_refresh: seconds between lookups of a dns+ name.
    """
    if isinstance(urls, str):
        urls = [u.strip() for u in urls.split(",") if u.strip()]
    tls = None
    if ca or cert or key or server_name or insecure:
        tls = sp.TlsConfig(ca=ca, cert=cert, key=key, server_name=server_name, insecure=insecure)
    return Channel(urls, token=token, timeout=timeout, tls=tls, dial_timeout=dial_timeout, metadata=metadata,
                   health_check=health_check, resolver=resolver, dns_refresh=dns_refresh)
