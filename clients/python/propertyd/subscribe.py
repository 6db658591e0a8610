"""Subscribing to propertyd's events, each exactly once and in seq order (contract §6).

This module promises: a :class:`Subscription` dials every given EVENTS_URL (a raw SP SUB
connection each, redialed after a failure) and yields ``property.v1.Event`` messages whose
type starts with ``type_prefix``, each once, in ``seq`` order, whatever the live stream
loses, repeats or reorders:

- at start, events after ``after_seq`` are read from the log (EventService/ReadEvents over
  the given Channel) before live ones; ``after_seq=None`` means "from now";
- a live event whose seq is already handled is dropped; one that jumps ahead reveals a gap,
  filled through ReadEvents before it is delivered;
- after ``silence`` seconds without a live message, one ReadEvents call looks for a lost
  tail;
- a failing ReadEvents is retried every second when its code is retryable (4, 8, 14) or
  the connection failed; any other error, notably 11 OUT_OF_RANGE (events after the
  position were pruned), is raised from the iterator, and the subscription stops there.

Filtering by type happens here: every message is received, so a seq of another type is
not a gap. Events are delivered on the thread that iterates. Leaving a ``for`` loop over
the subscription (or over ``events()``) early loses nothing: the position moves before an
event is handed out, and iterating again goes on after the last event handed out.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from . import sp
from .channel import Channel
from .errors import RETRYABLE, RpcError
from .property.v1 import events_pb2

READ_EVENTS = "/property.v1.EventService/ReadEvents"
READ_LIMIT = 1000  # the server's maximum per call
SILENCE = 1.5  # seconds without a live message before looking for a lost tail
RETRY = 1.0  # seconds between failed ReadEvents calls
QUEUE_MAX = 1024  # live messages buffered; beyond that they are dropped (and re-read)
RECV_MAX = 1 << 20  # largest live message accepted
TYPE_MAX = 256  # the type part of a live message is at most this long


@dataclass
class Stats:
    """Counters of a Subscription."""

    delivered: int = 0
    reread: int = 0  # delivered from ReadEvents rather than the live stream
    duplicates: int = 0
    malformed: int = 0
    dropped: int = 0  # live messages lost to a full queue
    read_calls: int = 0
    read_errors: int = 0


def split_event(msg: bytes) -> tuple[str, bytes]:
    """Splits a live message into (type, serialized Event); ValueError if malformed."""
    nul = msg.find(b"\x00", 0, TYPE_MAX + 1)
    if nul < 0:
        raise ValueError("no type terminator")
    return msg[:nul].decode("utf-8"), msg[nul + 1 :]


def encode_event(ev: events_pb2.Event) -> bytes:
    """The live message of `ev`: type, 0x00, serialized Event (for tests and tools)."""
    return ev.type.encode() + b"\x00" + ev.SerializeToString()


class _Listener:
    """One SUB connection feeding a shared queue, redialed after failures."""

    def __init__(self, url: sp.Url, q: queue.Queue[bytes], stats: Stats, stop: threading.Event) -> None:
        self.url = url
        self._q = q
        self._stats = stats
        self._stop = stop
        self._stream: sp.Stream | None = None
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"propertyd-sub {url}", daemon=True)
        self.connected = threading.Event()

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                stream = sp.open_stream(self.url, sp.PROTO_SUB, 2.0, None, RECV_MAX)
            except (OSError, sp.ProtocolError):
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            with self._lock:
                if self._stop.is_set():
                    stream.close()
                    return
                self._stream = stream
            backoff = 0.1
            self.connected.set()
            try:
                while True:
                    msg = stream.recv_message()
                    try:
                        self._q.put_nowait(msg)
                    except queue.Full:
                        self._stats.dropped += 1
            except (OSError, sp.ProtocolError):
                pass
            finally:
                self.connected.clear()
                stream.close()
            self._stop.wait(0.1)

    def close(self) -> None:
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()


class Subscription:
    """An iterator of events; see the module docstring. Close it (or use ``with``) to stop."""

    def __init__(self, event_urls: str | Iterable[str], channel: Channel, *, after_seq: int | None = 0,
                 type_prefix: str = "", silence: float = SILENCE, read_timeout: float = 5.0) -> None:
        if isinstance(event_urls, str):
            event_urls = [u.strip() for u in event_urls.split(",") if u.strip()]
        urls = [sp.parse_url(u) for u in event_urls]
        if not urls:
            raise ValueError("no events URL given")
        if any(u.tls for u in urls):
            raise ValueError("the event stream has no TLS (contract §6.8): use tcp:// or ipc://")
        self.channel = channel
        self.type_prefix = type_prefix
        self.silence = silence
        self.read_timeout = read_timeout
        self.stats = Stats()
        self._prefix = type_prefix.encode()
        self._next_known = after_seq is not None
        self._next = (after_seq or 0) + 1  # the next seq to deliver
        self._need_sync = True
        self._live_high = 0
        self._quiet_since = time.monotonic()
        self._retry_at = 0.0
        self._stop = threading.Event()
        self._q: queue.Queue[bytes] = queue.Queue(QUEUE_MAX)
        self._listeners = [_Listener(u, self._q, self.stats, self._stop) for u in urls]
        for li in self._listeners:
            li.thread.start()

    @property
    def position(self) -> int | None:
        """The seq of the last event handled (delivered or skipped); None while "from now" is unknown."""
        return self._next - 1 if self._next_known else None

    def wait_connected(self, timeout: float) -> bool:
        """Waits until every events URL is connected (useful before writing in tests)."""
        end = time.monotonic() + timeout
        return all(li.connected.wait(max(0.0, end - time.monotonic())) for li in self._listeners)

    def close(self) -> None:
        """Stops the subscription; may be called from any thread."""
        self._stop.set()
        for li in self._listeners:
            li.close()

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[events_pb2.Event]:
        return self.events()

    def events(self, timeout: float | None = None) -> Iterator[events_pb2.Event]:
        """Yields events until closed, or until `timeout` seconds pass without one."""
        idle_since = time.monotonic()
        while not self._stop.is_set():
            got = False
            for ev in self._turn():
                got = True
                yield ev
                idle_since = time.monotonic()
            if not got and timeout is not None and time.monotonic() - idle_since >= timeout:
                return

    # ---- the delivery state machine (the same rules as the C propsub) ----------------

    def _turn(self) -> Iterator[events_pb2.Event]:
        """One step: a sync when needed, then at most one live message (100 ms wait)."""
        now = time.monotonic()
        if self._need_sync or now - self._quiet_since >= self.silence:
            yield from self._try_sync(None)
        try:
            msg = self._q.get(timeout=0.1)
        except queue.Empty:
            return
        try:
            etype, raw = split_event(msg)
            ev = events_pb2.Event()
            ev.ParseFromString(raw)
            if ev.seq == 0:
                raise ValueError("seq 0")
        except Exception:  # noqa: BLE001 - any malformed message is counted and dropped
            self.stats.malformed += 1
            return
        self._quiet_since = time.monotonic()
        yield from self._on_live(ev, etype.encode().startswith(self._prefix))

    def _on_live(self, ev: events_pb2.Event, matches: bool) -> Iterator[events_pb2.Event]:
        self._live_high = max(self._live_high, ev.seq)
        if not self._next_known:
            self._next, self._next_known, self._need_sync = ev.seq, True, False
        if ev.seq < self._next:
            self.stats.duplicates += 1
            return
        if ev.seq > self._next:
            yield from self._try_sync(ev.seq - 1)
            if ev.seq != self._next:
                self._need_sync = True  # the log could not be read now; it holds this one too
                return
        if self._stop.is_set():
            return
        # State moves before the yield: a consumer may abandon the iterator at a yield.
        self._next = ev.seq + 1
        if matches:
            self.stats.delivered += 1
            yield ev

    def _try_sync(self, upto: int | None) -> Iterator[events_pb2.Event]:
        now = time.monotonic()
        if now < self._retry_at:
            return
        try:
            yield from self._sync(upto)
        except RpcError as e:
            if not (e.local or e.code in RETRYABLE):
                self.close()
                raise
            self._need_sync = True
            self._retry_at = time.monotonic() + RETRY
        self._quiet_since = time.monotonic()

    def _read(self, after: int, limit: int) -> events_pb2.ReadEventsResponse:
        self.stats.read_calls += 1
        req = events_pb2.ReadEventsRequest(after_seq=after, limit=limit, type_prefix=self.type_prefix)
        try:
            return self.channel.unary(READ_EVENTS, req, events_pb2.ReadEventsResponse,
                                      timeout=self.read_timeout, idempotent=True)
        except RpcError:
            self.stats.read_errors += 1
            raise

    def _sync(self, upto: int | None) -> Iterator[events_pb2.Event]:
        """Reads the log from the position until caught up (or up to seq `upto`)."""
        if not self._next_known:
            r = self._read(0, 1)
            self._next, self._next_known, self._need_sync = r.last_seq + 1, True, False
            return
        self._need_sync = True
        limit = upto if upto is not None else 1 << 64
        for _ in range(16):  # pages per turn; a longer catch-up goes on at the next turn
            r = self._read(self._next - 1, READ_LIMIT)
            last = 0
            done = False
            for ev in r.events:
                if ev.seq < self._next:
                    continue
                if ev.seq > limit:
                    if limit >= self._next:
                        self._next = limit + 1
                    done = True
                    break
                if self._stop.is_set():
                    return
                self._next = ev.seq + 1
                last = ev.seq
                self.stats.delivered += 1
                self.stats.reread += 1
                yield ev  # if abandoned here, need_sync stays set: the rest is read again
            if not done and (last == 0 or last >= r.last_seq):
                # Caught up. Seqs the reply skipped do not match the prefix; move past them,
                # but not past an event seen live (the reply's snapshot surely covers it).
                known = min(r.last_seq, self._live_high, limit)
                if known >= self._next:
                    self._next = known + 1
                done = True
            if done:
                self._need_sync = False
                return


def subscribe(event_urls: str | Iterable[str], *, channel: Channel, after_seq: int | None = 0,
              type_prefix: str = "", silence: float = SILENCE) -> Subscription:
    """Starts a Subscription (iterate it for events; close it to stop).

    event_urls: the EVENTS_URL of every instance (only the relay leader publishes);
    channel: where ReadEvents calls go (its token is used); after_seq: deliver events with a
    larger seq (None: only new ones); type_prefix: e.g. "property." or "property.created".
    """
    return Subscription(event_urls, channel, after_seq=after_seq, type_prefix=type_prefix, silence=silence)
