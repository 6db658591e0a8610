"""Client-side balancing against three real propertyd instances (see livesrv.py for what
they need).

The three listen on one port of 127.0.0.1, 127.0.0.2 and 127.0.0.3, so that the same
instances are reached through a list of URLs and through a dns+tcp:// name whose
(injected) resolver answers the three addresses. Checks, on each instance's own /metrics
(propertyd_requests_total), that calls are spread over all three, and that a loop of reads
from several threads sees no failure while instances are killed with SIGKILL.
"""

from __future__ import annotations

import threading
import time
import unittest
import uuid

import livesrv
import propertyd
from propertyd import property_pb2
from propertyd.errors import RpcError

HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
GET = "/property.v1.PropertyService/GetProperty"
LIST = "/property.v1.PropertyService/ListPropertiesByOwner"
SRVS: list[livesrv.Server] = []
PORT = 0


def setUpModule() -> None:
    global PORT
    last: Exception | None = None
    for _ in range(3):  # a port free on the three addresses, taken by nobody meanwhile
        PORT = livesrv.free_port(set(), HOSTS)
        try:
            for h in HOSTS:
                # RELAY=0: the relay is not what is tested, and it keeps the instances light.
                SRVS.append(livesrv.Server(env={"RELAY": "0"}, rpc_host=h, rpc_port=PORT).start())
            return
        except RuntimeError as e:
            last = e
            for s in SRVS:
                s.kill()
            SRVS.clear()
    raise RuntimeError(f"could not start three instances: {last}")


def tearDownModule() -> None:
    bad = []
    for s in SRVS:
        if s.proc is not None and s.stop() != 0:
            bad.append(s.rpc_url)
    if bad:
        raise AssertionError(f"propertyd exited non-zero: {bad}")


def urls() -> list[str]:
    return [s.rpc_url for s in SRVS]


def wait_for(pred, timeout: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def new_property() -> property_pb2.CreatePropertyRequest:
    return property_pb2.CreatePropertyRequest(
        title="Balanced", description="spread over three instances",
        location=property_pb2.Location(address="1 Main St", city="Lyon", country_code="FR"),
        price_cents=100000, currency="EUR", bedrooms=1)


class Balancing(unittest.TestCase):
    def setUp(self) -> None:
        self.owner = "bal-" + uuid.uuid4().hex[:12]
        self.token = SRVS[0].token(self.owner)

    def spread(self, ch: propertyd.Channel, n: int) -> list[int]:
        """Makes n GetProperty calls; returns how many each instance answered (its metrics)."""
        ps = propertyd.PropertyServiceStub(ch)
        pid = ps.CreateProperty(new_property()).id
        wait_for(lambda: len(ch.connected()) == 3, what="three instances in rotation")
        before = [s.requests_total(GET) for s in SRVS]
        for _ in range(n):
            self.assertEqual(ps.GetProperty(property_pb2.GetPropertyRequest(id=pid)).id, pid)
        got: list[int] = []

        def counted() -> bool:  # a counter may move just after its reply was sent
            got[:] = [s.requests_total(GET) - b for s, b in zip(SRVS, before)]
            return sum(got) >= n

        wait_for(counted, 5, "the counters")
        self.assertEqual(sum(got), n, got)
        return got

    def test_1_urls_spread_over_all_three(self) -> None:
        with propertyd.connect(urls(), token=self.token) as ch:
            got = self.spread(ch, 60)
        # Round robin gives 20 each while all three stay in rotation; a health check that
        # a loaded machine answers late may take one out for a moment.
        self.assertTrue(all(n >= 10 for n in got), got)

    def test_2_dns_name_expands_to_every_address(self) -> None:
        asked: list[tuple[str, int]] = []

        def resolver(host: str, port: int) -> list[str]:
            asked.append((host, port))
            return list(HOSTS)

        with propertyd.connect(f"dns+tcp://propertyd.test:{PORT}", token=self.token, resolver=resolver) as ch:
            got = self.spread(ch, 60)
            self.assertEqual(sorted(ch.urls), sorted(urls()))
        self.assertEqual(asked[0], ("propertyd.test", PORT))
        self.assertTrue(all(n >= 10 for n in got), got)

    def test_3_sigkill_during_reads_fails_no_read(self) -> None:
        """Reads from 8 threads go on while two of the three instances are killed (SIGKILL):
        the first while running, the second after a SIGSTOP of 0.3 s, so that reads are
        certainly in flight on it when it dies (they must be resent to the last one)."""
        ch = propertyd.connect(urls(), token=self.token, timeout=5.0)
        self.addCleanup(ch.close)
        ps = propertyd.PropertyServiceStub(ch)
        pid = ps.CreateProperty(new_property()).id
        wait_for(lambda: len(ch.connected()) == 3, what="three instances in rotation")
        calls = [0] * 8
        errors: list[BaseException] = []
        stop = threading.Event()

        def reader(i: int) -> None:
            while not stop.is_set():
                try:
                    if i % 2:
                        r = ps.ListPropertiesByOwner(property_pb2.ListPropertiesByOwnerRequest(
                            owner_id=self.owner, page_size=5))
                        if [p.id for p in r.properties] != [pid]:
                            raise AssertionError(f"wrong listing {r}")
                    elif ps.GetProperty(property_pb2.GetPropertyRequest(id=pid)).id != pid:
                        raise AssertionError("wrong property")
                    calls[i] += 1
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)

        def served(s: livesrv.Server) -> int:
            return s.requests_total(GET) + s.requests_total(LIST)

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(len(calls))]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: all(served(s) > 0 for s in SRVS), what="all three serving the loop")
            time.sleep(0.5)
            first, second, last = SRVS[1], SRVS[2], SRVS[0]
            n0, r0 = sum(calls), ch.retries
            first.kill()  # SIGKILL while it serves
            wait_for(lambda: sum(calls) > n0 + 200, 30, "reads after the first SIGKILL")
            self.assertNotIn(first.rpc_url, ch.connected())
            n1, r1 = sum(calls), ch.retries
            second.pause()
            time.sleep(0.3)  # reads pile up on it (a check unanswered for 1 s would take it out)
            second.kill()
            last_at_kill = served(last)
            wait_for(lambda: sum(calls) > n1 + 200, 30, "reads after the second SIGKILL")
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertEqual(errors[:3], [])
        self.assertEqual(ch.connected(), [last.rpc_url])
        self.assertEqual(sorted(ch.instances()), sorted([(last.rpc_url, "ready"), (first.rpc_url, "down"),
                                                         (second.rpc_url, "down")]))
        self.assertGreater(served(last), last_at_kill)
        self.assertGreaterEqual(ch.retries - r1, 1, "no read was in flight on the stopped instance")
        print(f"\n  {sum(calls)} reads; resent after the first SIGKILL: {r1 - r0}, after the second: "
              f"{ch.retries - r1}; none failed", flush=True)
        # Writes, not resendable, still work on the instance left.
        q = ps.CreateProperty(new_property())
        self.assertEqual(ps.GetProperty(property_pb2.GetPropertyRequest(id=q.id)).title, "Balanced")
        with self.assertRaises(RpcError):
            ps.GetProperty(property_pb2.GetPropertyRequest(id="not-a-uuid"))


if __name__ == "__main__":
    unittest.main()
