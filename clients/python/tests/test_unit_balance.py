"""Client-side balancing: the pure decisions (propertyd.balance) and the channel over
several fake servers (no propertyd needed).

Covers the retry rule (and that its method list is the C library's), round robin, the
health-check verdict, the dns+ URL form, DNS expansion and refresh with an injected
resolver, NOT_SERVING and unanswered health checks taking an instance out and SERVING
bringing it back, reads and keyed creates resent to another instance after theirs was
lost, other calls not resent, and failing fast when no instance serves.
"""

from __future__ import annotations

import os
import re
import threading
import time
import unittest

import propertyd
from fakesrv import FakeRep, count, fakes_on_one_port
from propertyd import balance, health_pb2, rpc_pb2
from propertyd.errors import RpcError

GET = "/property.v1.PropertyService/GetProperty"
CREATE = "/property.v1.PropertyService/CreateProperty"
UPDATE = "/property.v1.PropertyService/UpdateProperty"
DELETE = "/property.v1.PropertyService/DeleteProperty"
HEALTH = "/grpc.health.v1.Health/Check"
R, C, D = balance.READY, balance.CONNECTING, balance.DOWN


def wait_for(pred, timeout: float = 5.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class RetryRule(unittest.TestCase):
    def test_reads_and_keyed_creates_only(self) -> None:
        for m in ("/property.v1.PropertyService/GetProperty", "/property.v1.PropertyService/ListPropertiesByOwner",
                  "/property.v1.PropertyService/SearchProperties", "/property.v1.EventService/ReadEvents",
                  "/grpc.health.v1.Health/Check", "/rpc.v1.Reflection/ListServices",
                  "/rpc.v1.Reflection/GetFileDescriptorSet"):
            with self.subTest(m):
                self.assertTrue(balance.retry_safe(m, False))
                self.assertTrue(balance.retry_safe(m, True))
        self.assertTrue(balance.retry_safe(CREATE, True))
        self.assertFalse(balance.retry_safe(CREATE, False))
        for m in (UPDATE, DELETE, "/t.T/Echo", "", GET + "X", GET.upper(), "/property.v1.PropertyService/GetProperty/",
                  "property.v1.PropertyService/GetProperty"):
            with self.subTest(m):
                self.assertFalse(balance.retry_safe(m, True))

    def test_never_sent_may_always_go_elsewhere(self) -> None:
        self.assertTrue(balance.may_retry(False, UPDATE, False))
        self.assertTrue(balance.may_retry(False, CREATE, False))
        self.assertFalse(balance.may_retry(True, UPDATE, True))
        self.assertFalse(balance.may_retry(True, CREATE, False))
        self.assertTrue(balance.may_retry(True, CREATE, True))
        self.assertTrue(balance.may_retry(True, GET, False))

    def test_idempotency_key(self) -> None:
        self.assertTrue(balance.has_idempotency_key({"idempotency-key": "k"}))
        self.assertFalse(balance.has_idempotency_key({"idempotency-key": ""}))
        self.assertFalse(balance.has_idempotency_key({"Idempotency-Key": "k"}))
        self.assertFalse(balance.has_idempotency_key({}))

    def test_method_list_matches_the_c_library(self) -> None:
        """The list here and in src/rpc/retry.c (include/nrpc/retry.h) must be the same."""
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "src", "rpc", "retry.c")
        with open(src) as f:
            text = f.read()
        table = re.search(r"reads\[\]\s*=\s*\{(.*?)\};", text, re.S)
        self.assertIsNotNone(table, "no reads[] table in src/rpc/retry.c")
        c_reads = set(re.findall(r'"([^"]+)"', table.group(1)))  # type: ignore[union-attr]
        self.assertEqual(c_reads, set(balance.RETRY_SAFE_METHODS))
        self.assertIn(f'"{CREATE}"', text)


class Rotation(unittest.TestCase):
    def test_round_robin_over_ready(self) -> None:
        states = [R, D, R, C, R]
        none = [False] * 5
        got, cur = [], 0
        for _ in range(6):
            i, cur = balance.pick(states, none, cur)
            got.append(i)
        self.assertEqual(got, [0, 2, 4, 0, 2, 4])

    def test_tried_are_skipped(self) -> None:
        states = [R, R, R]
        i, cur = balance.pick(states, [True, False, True], 0)
        self.assertEqual((i, cur), (1, 2))
        self.assertEqual(balance.pick(states, [True, True, True], 1), (-1, 1))
        self.assertEqual(balance.pick([], [], 0), (-1, 0))
        self.assertEqual(balance.pick([D, C], [False, False], 0), (-1, 0))

    def test_cursor_wraps(self) -> None:
        self.assertEqual(balance.pick([R, R], [False, False], 7), (1, 0))

    def test_pending(self) -> None:
        self.assertTrue(balance.pending([D, C], [False, False]))
        self.assertFalse(balance.pending([D, C], [False, True]))
        self.assertFalse(balance.pending([D, R, D], [False, False, False]))


class Probe(unittest.TestCase):
    def reply(self, code: int, status: int | None = None) -> bytes:
        rsp = rpc_pb2.Response(code=code)
        if status is not None:
            rsp.payload = health_pb2.HealthCheckResponse(status=status).SerializeToString()
        return rsp.SerializeToString()

    def test_verdicts(self) -> None:
        self.assertTrue(balance.probe_serving(self.reply(0, 1)))
        self.assertFalse(balance.probe_serving(self.reply(0, 2)))
        self.assertFalse(balance.probe_serving(self.reply(0, 0)))
        self.assertFalse(balance.probe_serving(self.reply(0)))  # UNKNOWN (0)
        self.assertTrue(balance.probe_serving(self.reply(12)))  # no health service: serving
        self.assertFalse(balance.probe_serving(self.reply(14)))
        self.assertFalse(balance.probe_serving(self.reply(16)))
        self.assertFalse(balance.probe_serving(b"\xff\xff\xff"))

    def test_request(self) -> None:
        req = rpc_pb2.Request()
        req.ParseFromString(balance.probe_request(1000))
        self.assertEqual((req.method, req.payload, req.timeout_ms, dict(req.metadata)), (HEALTH, b"", 1000, {}))


class Dns(unittest.TestCase):
    def test_parse(self) -> None:
        self.assertEqual(balance.parse_dns_url("dns+tcp://propertyd:7700"), balance.DnsTarget("tcp", "propertyd", 7700))
        self.assertEqual(balance.parse_dns_url("dns+tls+tcp://pd.example.org:443"),
                         balance.DnsTarget("tls+tcp", "pd.example.org", 443))
        self.assertEqual(str(balance.parse_dns_url("dns+tcp://a:1")), "dns+tcp://a:1")
        self.assertIsNone(balance.parse_dns_url("tcp://127.0.0.1:7700"))
        self.assertIsNone(balance.parse_dns_url("dns://host:7700"))  # not ours: parse_url refuses it
        for bad in ("dns+tcp://host", "dns+tcp://:7700", "dns+tcp://host:0", "dns+tcp://host:65536",
                    "dns+tcp://host:x", "dns+tcp://[::1]:7700", "dns+tcp://::1:7700", "dns+tcp://host:7700/x",
                    "dns+ipc:///tmp/x"):
            with self.subTest(bad), self.assertRaises(ValueError):
                balance.parse_dns_url(bad)

    def test_addr_url(self) -> None:
        self.assertEqual(balance.addr_url("tcp", "10.0.0.1", 7700), "tcp://10.0.0.1:7700")
        self.assertEqual(balance.addr_url("tls+tcp", "fd00::1", 7700), "tls+tcp://[fd00::1]:7700")

    def test_expand_with_an_injected_resolver(self) -> None:
        asked = []

        def resolver(host: str, port: int) -> list[str]:
            asked.append((host, port))
            return ["10.0.0.2", "fd00::2", "10.0.0.1", "10.0.0.2", "[fd00::3]"]

        t = balance.DnsTarget("tcp", "svc", 7700)
        self.assertEqual(balance.expand(t, resolver), ["tcp://10.0.0.2:7700", "tcp://[fd00::2]:7700",
                                                       "tcp://10.0.0.1:7700", "tcp://[fd00::3]:7700"])
        self.assertEqual(asked, [("svc", 7700)])
        self.assertEqual(balance.expand(t, lambda h, p: []), [])
        for u in balance.expand(t, resolver):
            propertyd.sp.parse_url(u)  # every expanded URL is one the channel can dial

    def test_default_resolver(self) -> None:
        self.assertIn("127.0.0.1", balance.default_resolver("localhost", 7700))
        self.assertEqual(balance.default_resolver("10.1.2.3", 1), ["10.1.2.3"])

    def test_merge(self) -> None:
        keep, add = balance.merge(["tcp://a:1", "tcp://b:1"], ["tcp://b:1", "tcp://c:1", "tcp://c:1"])
        self.assertEqual((keep, add), ([False, True], ["tcp://c:1"]))
        self.assertEqual(balance.merge([], ["x", "x"]), ([], ["x"]))
        self.assertEqual(balance.merge(["x"], []), ([False], []))


class BalancingChannel(unittest.TestCase):
    """The channel over several fake servers."""

    def fakes(self, n: int) -> list[FakeRep]:
        out = [FakeRep() for _ in range(n)]
        for f in out:
            f.health = 1
            self.addCleanup(f.close)
        return out

    def chan(self, urls: list[str], **kw: object) -> propertyd.Channel:
        ch = propertyd.connect(urls, timeout=5.0, **kw)  # type: ignore[arg-type]
        self.addCleanup(ch.close)
        return ch

    def test_spread_and_health_checked(self) -> None:
        a, b, c = self.fakes(3)
        ch = self.chan([a.url, b.url, c.url])
        wait_for(lambda: len(ch.connected()) == 3, what="three instances in rotation")
        for _ in range(30):
            ch.call_raw("/t.T/Echo", b"x")
        got = [count(s, "/t.T/Echo") for s in (a, b, c)]
        self.assertEqual(sum(got), 30)
        # Round robin gives 10 each; a health check answered late on a loaded machine could
        # take one out for a moment (test_round_robin_over_ready checks the exact order).
        self.assertTrue(all(n >= 5 for n in got), got)
        wait_for(lambda: all(count(s, HEALTH) >= 3 for s in (a, b, c)), what="periodic health checks")
        self.assertEqual(a.requests[-1][1], {})  # health checks carry no token

    def test_not_serving_is_out_until_serving_again(self) -> None:
        a, b = self.fakes(2)
        a.health = 2  # NOT_SERVING
        ch = self.chan([a.url, b.url])
        wait_for(lambda: ch.connected() == [b.url], what="b alone in rotation")
        for _ in range(10):
            ch.call_raw("/t.T/Echo", b"x")
        self.assertEqual((count(a, "/t.T/Echo"), count(b, "/t.T/Echo")), (0, 10))
        self.assertIn((a.url, "down"), ch.instances())
        a.health = 1
        wait_for(lambda: len(ch.connected()) == 2, what="a back in rotation")
        for _ in range(10):
            ch.call_raw("/t.T/Echo", b"x")
        self.assertGreaterEqual(count(a, "/t.T/Echo"), 1)
        a.health = "silent"  # no answer within probe_timeout: out as well
        wait_for(lambda: ch.connected() == [b.url], what="a out after unanswered checks")
        self.assertEqual(len(a.conns), 1)  # still connected: out by its health alone

    def test_every_instance_not_serving_fails_fast(self) -> None:
        a, b = self.fakes(2)
        a.health = b.health = 2
        ch = self.chan([a.url, b.url])
        wait_for(lambda: all(s == "down" for _, s in ch.instances()), what="both verdicts")
        t0 = time.monotonic()
        with self.assertRaises(RpcError) as cm:
            ch.call_raw("/t.T/Echo", b"", timeout=10)
        self.assertEqual((cm.exception.code, cm.exception.local), (14, True))
        self.assertIn("not serving", cm.exception.message)
        self.assertLess(time.monotonic() - t0, 5)

    def test_lost_read_is_resent_to_another_instance(self) -> None:
        a, b = self.fakes(2)
        a.routes[GET] = "drop"  # a dies under every GetProperty
        b.routes[GET] = "echo"
        ch = self.chan([a.url, b.url])
        for i in range(6):
            wait_for(lambda: len(ch.connected()) == 2, what="both in rotation")
            self.assertEqual(ch.call_raw(GET, b"q%d" % i)[0], b"q%d" % i)
        self.assertEqual(count(b, GET), 6)
        self.assertGreaterEqual(count(a, GET), 1)
        self.assertEqual(ch.retries, count(a, GET))

    def test_lost_write_is_not_resent(self) -> None:
        a, b = self.fakes(2)
        for m in (CREATE, UPDATE):
            a.routes[m] = "drop"
            b.routes[m] = "echo"
        ch = self.chan([a.url, b.url])
        for m, md in ((CREATE, None), (UPDATE, {"idempotency-key": "k"})):
            ok = failed = 0
            for _ in range(4):
                wait_for(lambda: len(ch.connected()) == 2, what="both in rotation")
                try:
                    ch.call_raw(m, b"w", metadata=md)
                    ok += 1
                except RpcError as e:
                    self.assertEqual((e.code, e.local), (14, True))
                    self.assertIn("not resent", e.message)
                    failed += 1
            with self.subTest(m):
                self.assertGreaterEqual(failed, 1)
                self.assertEqual(count(a, m) + count(b, m), 4)  # each sent once
                self.assertEqual(count(a, m), failed)

    def test_keyed_create_is_resent(self) -> None:
        a, b = self.fakes(2)
        a.routes[CREATE] = "drop"
        b.routes[CREATE] = "echo"
        ch = self.chan([a.url, b.url])
        for _ in range(4):
            wait_for(lambda: len(ch.connected()) == 2, what="both in rotation")
            propertyd.PropertyServiceStub(ch).CreateProperty(propertyd.property_pb2.CreatePropertyRequest(title="t"),
                                                             idempotency_key="same")
        self.assertEqual(count(b, CREATE), 4)
        self.assertGreaterEqual(count(a, CREATE), 1)
        self.assertTrue(all(r[1].get("idempotency-key") == "same" for r in b.requests if r[0] == CREATE))

    def test_lost_read_with_nowhere_else_to_go(self) -> None:
        a, b = self.fakes(2)
        a.routes[GET] = b.routes[GET] = "drop"
        ch = self.chan([a.url, b.url])
        wait_for(lambda: len(ch.connected()) == 2, what="both in rotation")
        with self.assertRaises(RpcError) as cm:
            ch.call_raw(GET, b"", timeout=3)
        self.assertEqual((cm.exception.code, cm.exception.local), (14, True))
        self.assertEqual(count(a, GET) + count(b, GET), 2)  # once to each, never twice to one

    def test_deadline_bounds_the_retries(self) -> None:
        a, b = self.fakes(2)
        a.routes[GET] = "never"
        b.routes[GET] = "echo"
        ch = self.chan([a.url, b.url])
        wait_for(lambda: len(ch.connected()) == 2, what="both in rotation")
        errors = 0
        for _ in range(2):
            try:
                ch.call_raw(GET, b"", timeout=0.3)
            except RpcError as e:
                self.assertEqual(e.code, 4)  # a live instance that does not answer: not resent
                errors += 1
        self.assertEqual(errors, 1)

    def test_refused_instance_is_skipped_at_once(self) -> None:
        a, b = self.fakes(2)
        ch = self.chan([a.url, b.url])
        wait_for(lambda: len(ch.connected()) == 2, what="both in rotation")
        a.close()
        wait_for(lambda: ch.connected() == [b.url], timeout=1.0, what="a out when its connection closed")
        for _ in range(10):
            ch.call_raw("/t.T/Echo", b"x")

    def test_single_url_has_no_health_checks(self) -> None:
        (a,) = self.fakes(1)
        ch = self.chan([a.url])
        ch.call_raw("/t.T/Echo", b"x")
        time.sleep(0.7)
        self.assertEqual(count(a, HEALTH), 0)
        ch2 = self.chan([a.url], health_check=True)
        wait_for(lambda: count(a, HEALTH) >= 1, what="a health check when asked for")
        self.assertEqual(ch2.call_raw("/t.T/Echo", b"y")[0], b"y")


class DnsChannel(unittest.TestCase):
    """dns+tcp:// over fakes on 127.0.0.1, .2 and .3, one port, with an injected resolver."""

    HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]

    def setUp(self) -> None:
        self.srvs = fakes_on_one_port(self.HOSTS)
        for s in self.srvs:
            s.health = 1
            self.addCleanup(s.close)
        self.port = self.srvs[0].port
        self.answer: list[str] | Exception = list(self.HOSTS)
        self.lookups = 0

    def resolve(self, host: str, port: int) -> list[str]:
        self.assertEqual((host, port), ("pool.propertyd.test", self.port))
        self.lookups += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return list(self.answer)

    def chan(self, **kw: object) -> propertyd.Channel:
        ch = propertyd.connect(f"dns+tcp://pool.propertyd.test:{self.port}", resolver=self.resolve, **kw)  # type: ignore[arg-type]
        self.addCleanup(ch.close)
        return ch

    def test_every_address_is_an_instance(self) -> None:
        ch = self.chan()
        self.assertEqual(ch.call_raw("/t.T/Echo", b"first")[0], b"first")  # waits for the lookup
        wait_for(lambda: len(ch.connected()) == 3, what="three instances")
        self.assertEqual(sorted(ch.urls), [f"tcp://{h}:{self.port}" for h in self.HOSTS])
        for _ in range(30):
            ch.call_raw("/t.T/Echo", b"x")
        got = [count(s, "/t.T/Echo") for s in self.srvs]
        self.assertEqual(sum(got), 31)
        self.assertTrue(all(n >= 5 for n in got), got)

    def test_refresh_adds_and_removes(self) -> None:
        self.answer = self.HOSTS[:1]
        ch = self.chan(dns_refresh=0.2)
        wait_for(lambda: len(ch.connected()) == 1, what="one instance")
        self.answer = self.HOSTS[1:]
        wait_for(lambda: sorted(ch.connected()) == [f"tcp://{h}:{self.port}" for h in self.HOSTS[1:]],
                 what="the new answer")
        self.assertNotIn(f"tcp://{self.HOSTS[0]}:{self.port}", ch.urls)
        before = count(self.srvs[0], "/t.T/Echo")
        for _ in range(10):
            ch.call_raw("/t.T/Echo", b"x")
        self.assertEqual(count(self.srvs[0], "/t.T/Echo"), before)
        self.answer = OSError("resolver down")  # a failed lookup keeps the current set
        n = self.lookups
        wait_for(lambda: self.lookups > n + 1, what="more lookups")
        self.assertEqual(len(ch.connected()), 2)
        ch.call_raw("/t.T/Echo", b"x")

    def test_name_that_does_not_resolve(self) -> None:
        self.answer = OSError("no such name")
        ch = self.chan()
        t0 = time.monotonic()
        with self.assertRaises(RpcError) as cm:
            ch.call_raw("/t.T/Echo", b"", timeout=5)
        self.assertEqual(cm.exception.code, 14)
        self.assertIn("no such name", cm.exception.message)
        self.assertLess(time.monotonic() - t0, 4)
        self.answer = self.HOSTS[:2]  # looked up again (every second until it resolves)
        wait_for(lambda: len(ch.connected()) == 2, what="the name resolving later")

    def test_real_resolver_on_localhost(self) -> None:
        ch = propertyd.connect(f"dns+tcp://localhost:{self.port}")
        self.addCleanup(ch.close)
        self.assertEqual(ch.call_raw("/t.T/Echo", b"lo")[0], b"lo")
        self.assertIn(f"tcp://127.0.0.1:{self.port}", ch.urls)

    def test_bad_dns_url_is_refused(self) -> None:
        with self.assertRaises(ValueError):
            propertyd.connect(f"dns+tcp://[::1]:{self.port}")
        with self.assertRaises(ValueError):
            propertyd.connect("dns+tls+tcp://pd.test:7700")  # no CA and not insecure
        with self.assertRaises(ValueError):
            propertyd.connect("dns://pd.test:7700")


class Threads(unittest.TestCase):
    def test_concurrent_reads_while_an_instance_dies(self) -> None:
        srvs = [FakeRep() for _ in range(3)]
        for s in srvs:
            s.health = 1
            s.routes[GET] = "echo"
            self.addCleanup(s.close)
        ch = propertyd.connect([s.url for s in srvs], timeout=5.0)
        self.addCleanup(ch.close)
        wait_for(lambda: len(ch.connected()) == 3, what="three instances")
        errors: list[BaseException] = []
        stop = threading.Event()

        def work() -> None:
            while not stop.is_set():
                try:
                    ch.call_raw(GET, b"r")
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        srvs[1].close()
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertNotIn(srvs[1].url, ch.connected())


if __name__ == "__main__":
    unittest.main()
