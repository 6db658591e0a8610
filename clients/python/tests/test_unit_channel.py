"""The channel and the subscriber against fake servers on loopback (no propertyd needed).

Covers multiplexing and out-of-order replies, deadlines (sent and enforced), metadata,
reconnection, no resend after a lost connection, round-robin and skipping a dead URL, and
the subscriber's exactly-once delivery over a lossy, duplicating live stream.
"""

from __future__ import annotations

import threading
import time
import unittest

import propertyd
from fakesrv import FakePub, FakeRep, free_port
from propertyd import events_pb2
from propertyd.errors import RpcError
from propertyd.subscribe import encode_event


class ChannelTest(unittest.TestCase):
    def setUp(self) -> None:
        self.srv = FakeRep()
        self.addCleanup(self.srv.close)

    def chan(self, *urls: str, **kw: object) -> propertyd.Channel:
        ch = propertyd.connect(list(urls) or [self.srv.url], token="tok", **kw)  # type: ignore[arg-type]
        self.addCleanup(ch.close)
        return ch

    def test_echo_and_metadata(self) -> None:
        ch = self.chan(timeout=3.0, metadata={"x-tenant": "t1"})
        payload, md = ch.call_raw("/t.T/Echo", b"hi", metadata={"x-request-id": "r-1"})
        self.assertEqual((payload, md), (b"hi", {"x-request-id": "r-1"}))
        method, rmd, tmo, rid = self.srv.requests[-1]
        self.assertEqual(method, "/t.T/Echo")
        self.assertEqual(rmd, {"authorization": "Bearer tok", "x-request-id": "r-1", "x-tenant": "t1"})
        self.assertTrue(2900 <= tmo <= 3000, tmo)
        self.assertTrue(rid & 0x80000000)

    def test_error_reply(self) -> None:
        ch = self.chan()
        with self.assertRaises(RpcError) as cm:
            ch.call_raw("/t.T/Fail", b"")
        e = cm.exception
        self.assertEqual((e.code, e.code_name, e.local, e.request_id), (3, "INVALID_ARGUMENT", False, "fake-1"))
        self.assertEqual(e.violations[0], ("title", "must be 1 to 200 characters"))

    def test_bad_metadata_is_refused_locally(self) -> None:
        ch = self.chan()
        with self.assertRaises(RpcError) as cm:
            ch.call_raw("/t.T/Echo", b"", metadata={"k": "v" * 5000})
        self.assertEqual((cm.exception.code, cm.exception.local), (3, True))

    def test_multiplexed_out_of_order(self) -> None:
        ch = self.chan()
        results: dict[int, bytes] = {}
        t0 = time.monotonic()

        def call(ms: int) -> None:
            results[ms] = ch.call_raw("/t.T/Sleep", str(ms).encode())[0]

        threads = [threading.Thread(target=call, args=(ms,)) for ms in (600, 400, 200, 10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, {ms: str(ms).encode() for ms in (600, 400, 200, 10)})
        self.assertLess(time.monotonic() - t0, 1.2)  # concurrent, not one after the other
        self.assertEqual(self.srv.accepted, 1)  # all on one connection
        self.assertEqual(len({r[3] for r in self.srv.requests}), 4)  # distinct request ids

    def test_many_threads(self) -> None:
        ch = self.chan()
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                for j in range(50):
                    body = f"{i}-{j}".encode()
                    if ch.call_raw("/t.T/Echo", body)[0] != body:
                        raise AssertionError("reply of another call")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def test_deadline(self) -> None:
        ch = self.chan()
        t0 = time.monotonic()
        with self.assertRaises(RpcError) as cm:
            ch.call_raw("/t.T/Never", b"", timeout=0.3)
        took = time.monotonic() - t0
        self.assertEqual((cm.exception.code, cm.exception.code_name, cm.exception.local), (4, "DEADLINE_EXCEEDED", True))
        self.assertTrue(0.28 <= took < 1.0, took)
        self.assertTrue(250 <= self.srv.requests[-1][2] <= 300)
        # A late reply to an abandoned call is dropped; the connection goes on.
        with self.assertRaises(RpcError):
            ch.call_raw("/t.T/Sleep", b"300", timeout=0.1)
        time.sleep(0.4)
        self.assertEqual(ch.call_raw("/t.T/Echo", b"after")[0], b"after")

    def test_lost_connection_is_not_resent_and_reconnects(self) -> None:
        ch = self.chan()
        with self.assertRaises(RpcError) as cm:
            ch.call_raw("/t.T/Drop", b"")
        self.assertEqual((cm.exception.code, cm.exception.local), (14, True))
        self.assertIn("not resent", cm.exception.message)
        self.assertEqual(sum(1 for r in self.srv.requests if r[0] == "/t.T/Drop"), 1)
        # The next call goes over a new connection.
        self.assertEqual(ch.call_raw("/t.T/Echo", b"again", timeout=3)[0], b"again")
        self.assertEqual(self.srv.accepted, 2)

    def test_idempotent_call_is_resent(self) -> None:
        ch = self.chan()
        calls: list[int] = []

        def drop_first() -> None:  # drop the connection while a call waits
            time.sleep(0.2)
            calls.append(1)
            self.srv.drop_all()

        threading.Thread(target=drop_first).start()
        self.assertEqual(ch.call_raw("/t.T/Sleep", b"500", idempotent=True, timeout=5)[0], b"500")
        self.assertEqual(sum(1 for r in self.srv.requests if r[0] == "/t.T/Sleep"), 2)

    def test_server_down_fails_fast(self) -> None:
        ch = self.chan(f"tcp://127.0.0.1:{free_port()}")
        t0 = time.monotonic()
        with self.assertRaises(RpcError) as cm:
            ch.call_raw("/t.T/Echo", b"", timeout=5)
        self.assertEqual((cm.exception.code, cm.exception.local), (14, True))
        self.assertLess(time.monotonic() - t0, 2.0)

    def test_restarted_server_is_redialed(self) -> None:
        ch = self.chan()
        self.assertEqual(ch.call_raw("/t.T/Echo", b"1")[0], b"1")
        self.srv.drop_all()
        time.sleep(0.05)
        self.assertEqual(ch.call_raw("/t.T/Echo", b"2", timeout=3)[0], b"2")

    def test_round_robin_and_dead_url(self) -> None:
        other = FakeRep()
        self.addCleanup(other.close)
        ch = self.chan(self.srv.url, f"tcp://127.0.0.1:{free_port()}", other.url)
        self.assertTrue(ch.wait_connected(2))
        deadline = time.monotonic() + 2
        while len(ch.connected()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(20):
            ch.call_raw("/t.T/Echo", b"x")
        a = sum(1 for r in self.srv.requests if r[0] == "/t.T/Echo")
        b = sum(1 for r in other.requests if r[0] == "/t.T/Echo")
        self.assertEqual((a, b), (10, 10))
        other.close()
        for i in range(10):  # the closed one is skipped (after at most the call that noticed)
            try:
                ch.call_raw("/t.T/Echo", b"x")
            except RpcError as e:
                self.assertEqual(e.code, 14)
        self.assertEqual(ch.call_raw("/t.T/Echo", b"y")[0], b"y")

    def test_wrong_peer_protocol(self) -> None:
        pub = FakeRep(proto=0x20, peer=0x21)  # a PUB socket, not a REP
        self.addCleanup(pub.close)
        ch = self.chan(pub.url)
        with self.assertRaises(RpcError) as cm:
            ch.call_raw("/t.T/Echo", b"", timeout=2)
        self.assertEqual(cm.exception.code, 14)
        self.assertIn("0x20", cm.exception.message)

    def test_close(self) -> None:
        ch = self.chan()
        out: list[RpcError] = []

        def waiter() -> None:
            try:
                ch.call_raw("/t.T/Never", b"", timeout=5)
            except RpcError as e:
                out.append(e)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.2)
        ch.close()
        t.join(2)
        self.assertEqual(out[0].code, 14)
        with self.assertRaises(RpcError):
            ch.call_raw("/t.T/Echo", b"")


class FakeLog:
    """A stand-in Channel: answers ReadEvents from an in-memory log."""

    def __init__(self) -> None:
        self.events: list[events_pb2.Event] = []
        self.calls: list[tuple[int, str]] = []
        self.fail_next = 0

    def add(self, etype: str) -> events_pb2.Event:
        ev = events_pb2.Event(seq=len(self.events) + 1, type=etype, id=f"e{len(self.events) + 1}")
        self.events.append(ev)
        return ev

    def unary(self, method: str, req: events_pb2.ReadEventsRequest, rtype: type, **kw: object) -> object:
        assert method == "/property.v1.EventService/ReadEvents"
        self.calls.append((req.after_seq, req.type_prefix))
        if self.fail_next:
            self.fail_next -= 1
            raise RpcError(14, "database unavailable")
        evs = [e for e in self.events if e.seq > req.after_seq and e.type.startswith(req.type_prefix)]
        return events_pb2.ReadEventsResponse(events=evs[: req.limit or 100],
                                             last_seq=self.events[-1].seq if self.events else 0)


class SubscribeTest(unittest.TestCase):
    def setUp(self) -> None:
        self.pub = FakePub()
        self.addCleanup(self.pub.close)
        self.log = FakeLog()

    def sub(self, **kw: object) -> propertyd.Subscription:
        s = propertyd.subscribe([self.pub.url], channel=self.log, **kw)  # type: ignore[arg-type]
        self.addCleanup(s.close)
        self.assertTrue(s.wait_connected(2))
        self.assertTrue(self.pub.ready.wait(2))  # the fake has registered the connection too
        return s

    def take(self, s: propertyd.Subscription, n: int, timeout: float = 5) -> list[int]:
        out: list[int] = []
        for ev in s.events(timeout=timeout):
            out.append(ev.seq)
            if len(out) == n:
                break
        return out

    def test_backlog_then_live_with_loss_and_duplicates(self) -> None:
        for _ in range(3):
            self.log.add("property.created")
        s = self.sub(after_seq=0, type_prefix="property.")
        self.assertEqual(self.take(s, 3), [1, 2, 3])
        # Live: 4 published, 5 lost, 6 published twice, 4 again (a duplicate).
        evs = [self.log.add("property.updated") for _ in range(3)]
        self.pub.publish(encode_event(evs[0]))
        self.pub.publish(encode_event(evs[2]))
        self.pub.publish(encode_event(evs[2]))
        self.pub.publish(encode_event(evs[0]))
        self.assertEqual(self.take(s, 3), [4, 5, 6])
        self.assertEqual(s.position, 6)
        self.assertEqual(self.take(s, 1, timeout=0.5), [])  # the repeats are dropped
        # Whether 4-6 came live or from the log depends on timing; each came once.
        self.assertEqual(s.stats.delivered, 6)
        self.assertGreaterEqual(s.stats.duplicates, 2)
        self.assertGreaterEqual(s.stats.reread, 4)  # 1-3 from the backlog, 5 at least

    def test_lost_tail_found_after_silence(self) -> None:
        s = self.sub(after_seq=0, silence=0.3)
        self.assertEqual(self.take(s, 1, timeout=0.5), [])
        self.log.add("property.created")  # published by nobody: only the log has it
        self.assertEqual(self.take(s, 1, timeout=3), [1])

    def test_prefix_and_from_now(self) -> None:
        self.log.add("property.created")
        s = self.sub(after_seq=None, type_prefix="property.deleted")
        self.assertEqual(self.take(s, 1, timeout=0.3), [])
        self.assertEqual(s.position, 1)
        a, b = self.log.add("property.updated"), self.log.add("property.deleted")
        self.pub.publish(encode_event(a))
        self.pub.publish(encode_event(b))
        self.assertEqual(self.take(s, 1), [3])

    def test_read_failure_is_retried(self) -> None:
        self.log.add("property.created")
        self.log.fail_next = 1
        s = self.sub(after_seq=0)
        self.assertEqual(self.take(s, 1, timeout=4), [1])
        self.assertEqual(s.stats.read_errors, 1)

    def test_pruned_log_is_raised(self) -> None:
        def pruned(*a: object, **kw: object) -> object:
            raise RpcError(11, "events after seq 0 were pruned; the oldest kept is 5")

        self.log.unary = pruned  # type: ignore[method-assign]
        s = self.sub(after_seq=0)
        with self.assertRaises(RpcError) as cm:
            self.take(s, 1)
        self.assertEqual(cm.exception.code_name, "OUT_OF_RANGE")
        self.assertTrue(s.closed)

    def test_malformed_messages_are_counted(self) -> None:
        s = self.sub(after_seq=0)
        self.pub.publish(b"no terminator at all")
        self.pub.publish(b"property.created\x00\xff\xff")
        self.assertEqual(self.take(s, 1, timeout=0.5), [])
        self.assertEqual(s.stats.malformed, 2)


if __name__ == "__main__":
    unittest.main()
