"""The client against a real propertyd (started here; see livesrv.py for what it needs).

Covers CRUD, every error shape (INVALID_ARGUMENT with violations, NOT_FOUND,
UNAUTHENTICATED, PERMISSION_DENIED, ABORTED, ALREADY_EXISTS, DEADLINE_EXCEEDED), paging,
idempotent retry, many threads on one channel, several URLs with a dead one, the golden
request bytes on a raw socket, events with a gap filled through ReadEvents, and TLS.
"""

from __future__ import annotations

import os
import socket
import struct
import tempfile
import threading
import time
import unittest
import uuid

import goldens
import livesrv
import propertyd
from propertyd import events_pb2, health_pb2, property_pb2, rpc_pb2
from propertyd.errors import RpcError

SRV: livesrv.Server | None = None


def setUpModule() -> None:
    global SRV
    SRV = livesrv.Server().start()


def tearDownModule() -> None:
    if SRV is not None:
        rc = SRV.stop()
        if rc != 0:
            raise AssertionError(f"propertyd exited {rc}")


def srv() -> livesrv.Server:
    assert SRV is not None
    return SRV


def new_property(title: str = "Flat", owner: str = "", **kw: object) -> property_pb2.CreatePropertyRequest:
    return property_pb2.CreatePropertyRequest(
        owner_id=owner, title=title, description="A test listing.",
        location=property_pb2.Location(address="1 Main St", city="Lyon", country_code="FR",
                                       latitude=45.76, longitude=4.83),
        price_cents=25000000, currency="EUR", bedrooms=3, **kw)  # type: ignore[arg-type]


class LiveBase(unittest.TestCase):
    sub = "alice"

    def setUp(self) -> None:
        self.ch = propertyd.connect(srv().rpc_url, token=srv().token(self.sub), timeout=5.0)
        self.addCleanup(self.ch.close)
        self.ps = propertyd.PropertyServiceStub(self.ch)

    def assertRpc(self, code_name: str, fn, *a: object, **kw: object) -> RpcError:  # type: ignore[no-untyped-def]
        with self.assertRaises(RpcError) as cm:
            fn(*a, **kw)
        self.assertEqual(cm.exception.code_name, code_name, str(cm.exception))
        return cm.exception


class Crud(LiveBase):
    def test_health(self) -> None:
        hs = propertyd.HealthStub(propertyd.connect(srv().rpc_url))  # no token needed
        self.addCleanup(hs._channel.close)
        self.assertEqual(hs.Check(health_pb2.HealthCheckRequest()).status, health_pb2.HealthCheckResponse.SERVING)
        self.assertEqual(hs.Check(health_pb2.HealthCheckRequest(service="property.v1.EventService")).status,
                         health_pb2.HealthCheckResponse.SERVING)
        self.assertRpc("NOT_FOUND", hs.Check, health_pb2.HealthCheckRequest(service="nope"))

    def test_create_get_update_delete(self) -> None:
        p = self.ps.CreateProperty(new_property("Loft"),
                                   metadata={"traceparent": goldens.TRACEPARENT, "x-request-id": "py-crud-1"})
        self.assertEqual((p.owner_id, p.title, p.version, p.status), ("alice", "Loft", 1, property_pb2.PROPERTY_STATUS_DRAFT))
        uuid.UUID(p.id)
        self.assertEqual(p.created_at_us, p.updated_at_us)
        got = self.ps.GetProperty(property_pb2.GetPropertyRequest(id=p.id.upper()))
        self.assertEqual(got, p)
        upd = self.ps.UpdateProperty(property_pb2.UpdatePropertyRequest(
            id=p.id, expected_version=1, property=property_pb2.Property(title="Loft, renovated", price_cents=1),
            update_mask=["title"]))
        self.assertEqual((upd.title, upd.version, upd.price_cents), ("Loft, renovated", 2, p.price_cents))
        self.assertEqual(self.ps.DeleteProperty(property_pb2.DeletePropertyRequest(id=p.id, expected_version=2)),
                         property_pb2.DeletePropertyResponse())
        e = self.assertRpc("NOT_FOUND", self.ps.GetProperty, property_pb2.GetPropertyRequest(id=p.id))
        self.assertEqual(e.code, 5)
        self.assertIn(p.id, e.message)
        self.assertFalse(e.local)
        self.assertRpc("NOT_FOUND", self.ps.DeleteProperty, property_pb2.DeletePropertyRequest(id=p.id))

    def test_search(self) -> None:
        city = "Pycity" + uuid.uuid4().hex[:8]
        req = new_property("Search me")
        req.location.city = city
        p = self.ps.CreateProperty(req)
        r = self.ps.SearchProperties(property_pb2.SearchPropertiesRequest(city=city.lower()))
        self.assertEqual([x.id for x in r.properties], [p.id])


class Errors(LiveBase):
    def test_invalid_argument_with_violations(self) -> None:
        bad = property_pb2.CreatePropertyRequest(title="", location=property_pb2.Location(city="X", country_code="fr"),
                                                 currency="euro", price_cents=-1)
        e = self.assertRpc("INVALID_ARGUMENT", self.ps.CreateProperty, bad, metadata={"x-request-id": "py-bad-1"})
        self.assertEqual(e.code, 3)
        fields = [f for f, _ in e.violations]
        self.assertEqual(set(fields), {"title", "location.country_code", "currency", "price_cents"})
        self.assertTrue(all(d for _, d in e.violations))
        self.assertEqual(e.message, "invalid argument: 4 invalid fields")
        self.assertEqual(e.request_id, "py-bad-1")
        e = self.assertRpc("INVALID_ARGUMENT", self.ps.GetProperty, property_pb2.GetPropertyRequest(id="not-a-uuid"))
        self.assertEqual([f for f, _ in e.violations], ["id"])
        self.assertTrue(e.request_id)  # generated by the server

    def test_not_found(self) -> None:
        e = self.assertRpc("NOT_FOUND", self.ps.GetProperty, property_pb2.GetPropertyRequest(id=str(uuid.uuid4())))
        self.assertEqual(e.violations, [])

    def test_unauthenticated(self) -> None:
        cases = {
            "none": None,
            "wrong secret": propertyd.mint_token("another-secret-0123456789abcdef-0123456", "alice"),
            "expired": propertyd.mint_token(livesrv.SECRET, "alice", ttl=-10),
            "too long-lived": propertyd.mint_token(livesrv.SECRET, "alice", ttl=48 * 3600),
            "garbage": goldens.TOKEN,
        }
        for name, tok in cases.items():
            with self.subTest(name), propertyd.connect(srv().rpc_url, token=tok) as ch:
                e = self.assertRpc("UNAUTHENTICATED", propertyd.PropertyServiceStub(ch).GetProperty,
                                   property_pb2.GetPropertyRequest(id=str(uuid.uuid4())))
                self.assertEqual(e.code, 16)
                self.assertTrue(e.message)

    def test_permission_denied_and_aborted(self) -> None:
        self.assertRpc("PERMISSION_DENIED", self.ps.CreateProperty, new_property(owner="bob"))
        p = self.ps.CreateProperty(new_property())
        e = self.assertRpc("ABORTED", self.ps.UpdateProperty, property_pb2.UpdatePropertyRequest(
            id=p.id, expected_version=7, property=property_pb2.Property(title="x"), update_mask=["title"]))
        self.assertIn("version mismatch", e.message)
        with propertyd.connect(srv().rpc_url, token=srv().token("bob")) as ch:
            self.assertRpc("PERMISSION_DENIED", propertyd.PropertyServiceStub(ch).DeleteProperty,
                           property_pb2.DeletePropertyRequest(id=p.id))

    def test_deadline(self) -> None:
        t0 = time.monotonic()
        # A deadline that has passed before the request can leave: a cached page can be
        # answered within half a millisecond, so any deadline the server could meet races.
        e = self.assertRpc("DEADLINE_EXCEEDED", self.ps.ListPropertiesByOwner,
                           property_pb2.ListPropertiesByOwnerRequest(owner_id="alice", page_size=100), timeout=1e-7)
        self.assertEqual(e.code, 4)
        self.assertLess(time.monotonic() - t0, 1.0)
        # The channel is still good afterwards (the late reply is dropped).
        self.ps.ListPropertiesByOwner(property_pb2.ListPropertiesByOwnerRequest(owner_id="alice"))

    def test_unknown_method(self) -> None:
        e = self.assertRpc("UNIMPLEMENTED", self.ch.call_raw, "/property.v1.PropertyService/Nope", b"")
        self.assertEqual(e.code, 12)

    def test_metadata_too_long_refused_locally(self) -> None:
        e = self.assertRpc("INVALID_ARGUMENT", self.ps.GetProperty, property_pb2.GetPropertyRequest(id="x"),
                           metadata={"x-big": "v" * 5000})
        self.assertTrue(e.local)


class PagingAndIdempotency(LiveBase):
    def setUp(self) -> None:
        self.sub = "pager-" + uuid.uuid4().hex[:12]  # an owner of this test's own
        super().setUp()

    def test_paging(self) -> None:
        ids = [self.ps.CreateProperty(new_property(f"P{i}")).id for i in range(7)]
        seen: list[str] = []
        sizes = []
        token = ""
        while True:
            page = self.ps.ListPropertiesByOwner(property_pb2.ListPropertiesByOwnerRequest(
                owner_id=self.sub, page_size=3, page_token=token))
            sizes.append(len(page.properties))
            seen += [p.id for p in page.properties]
            token = page.next_page_token
            if not token:
                break
        self.assertEqual(sizes, [3, 3, 1])
        self.assertEqual(seen, list(reversed(ids)))  # newest first, each once
        e = self.assertRpc("INVALID_ARGUMENT", self.ps.ListPropertiesByOwner, property_pb2.ListPropertiesByOwnerRequest(
            owner_id="someone-else", page_size=3, page_token=page.next_page_token or self._first_token()))
        self.assertEqual([f for f, _ in e.violations], ["page_token"])

    def _first_token(self) -> str:
        return self.ps.ListPropertiesByOwner(property_pb2.ListPropertiesByOwnerRequest(
            owner_id=self.sub, page_size=1)).next_page_token

    def test_idempotent_retry(self) -> None:
        key = "py-" + uuid.uuid4().hex
        first = self.ps.CreateProperty(new_property("Once"), idempotency_key=key)
        again = self.ps.CreateProperty(new_property("Once"), idempotency_key=key)
        self.assertEqual(again, first)
        same_owner_named = self.ps.CreateProperty(new_property("Once", owner=self.sub), idempotency_key=key)
        self.assertEqual(same_owner_named.id, first.id)
        self.assertRpc("ALREADY_EXISTS", self.ps.CreateProperty, new_property("Twice"), idempotency_key=key)
        other = self.ps.CreateProperty(new_property("Once"), idempotency_key=key + "-b")
        self.assertNotEqual(other.id, first.id)


class Concurrency(LiveBase):
    def test_sixteen_threads_one_channel(self) -> None:
        p = self.ps.CreateProperty(new_property("Shared"))
        errors: list[BaseException] = []
        counts = [0] * 16

        def work(i: int) -> None:
            try:
                for _ in range(25):
                    got = self.ps.GetProperty(property_pb2.GetPropertyRequest(id=p.id), metadata={"x-request-id": f"t{i}"})
                    if got.id != p.id:
                        raise AssertionError("wrong reply")
                    counts[i] += 1
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(sum(counts), 400)

    def test_several_urls_with_a_dead_one(self) -> None:
        dead = f"tcp://127.0.0.1:{livesrv.free_port(set())}"
        with propertyd.connect([dead, srv().rpc_url], token=srv().token()) as ch:
            ps = propertyd.PropertyServiceStub(ch)
            for _ in range(10):
                ps.ListPropertiesByOwner(property_pb2.ListPropertiesByOwnerRequest(owner_id="alice", page_size=1))
            self.assertEqual(ch.connected(), [srv().rpc_url])

    def test_golden_request_on_a_raw_socket(self) -> None:
        """The golden bytes, sent as they are, get the answer the vector's comment promises."""
        host, port = srv().rpc_url[len("tcp://"):].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(goldens.read_hex("handshake_req"))
            got = b""
            while len(got) < 8:
                got += s.recv(8 - len(got))
            self.assertEqual(got, goldens.read_hex("handshake_rep"))
            s.sendall(goldens.read_hex("request_get_tcp"))
            head = b""
            while len(head) < 8:
                head += s.recv(8 - len(head))
            (n,) = struct.unpack(">Q", head)
            body = b""
            while len(body) < n:
                body += s.recv(n - len(body))
        self.assertEqual(body[:4], b"\x80\x00\x00\x01")
        rsp = rpc_pb2.Response()
        rsp.ParseFromString(body[4:])
        self.assertEqual((rsp.code, rsp.metadata["x-request-id"]), (16, "golden-1"))


class Events(LiveBase):
    def test_subscribe_fills_the_gap_then_goes_live(self) -> None:
        es = propertyd.EventServiceStub(self.ch)
        base = es.ReadEvents(events_pb2.ReadEventsRequest(limit=1)).last_seq
        # Published before anyone subscribes: the subscriber must read them from the log.
        before = [self.ps.CreateProperty(new_property(f"Before {i}")).id for i in range(3)]
        # Wait until the relay numbered (and so published) them, before the subscriber connects.
        end = time.monotonic() + 10
        while es.ReadEvents(events_pb2.ReadEventsRequest(after_seq=base, limit=1)).last_seq < base + 3:
            self.assertLess(time.monotonic(), end, "the relay did not number the events")
            time.sleep(0.05)
        time.sleep(0.2)
        sub = propertyd.subscribe([srv().events_url], channel=self.ch, after_seq=base, type_prefix="property.")
        self.addCleanup(sub.close)
        self.assertTrue(sub.wait_connected(5))
        got: list[events_pb2.Event] = []
        for ev in sub.events(timeout=10):
            got.append(ev)
            if len(got) == 3:
                break
        self.assertEqual([e.aggregate_id for e in got], before)
        self.assertEqual(sub.stats.reread, 3)
        # Now live: a create, an update and a delete.
        p = self.ps.CreateProperty(new_property("Live"))
        self.ps.UpdateProperty(property_pb2.UpdatePropertyRequest(id=p.id, property=property_pb2.Property(bedrooms=9),
                                                                  update_mask=["bedrooms"]))
        self.ps.DeleteProperty(property_pb2.DeletePropertyRequest(id=p.id))
        for ev in sub.events(timeout=10):
            got.append(ev)
            if len(got) == 6:
                break
        self.assertEqual([e.type for e in got[3:]], ["property.created", "property.updated", "property.deleted"])
        self.assertEqual({e.aggregate_id for e in got[3:]}, {p.id})
        self.assertEqual(got[4].property.bedrooms, 9)
        seqs = [e.seq for e in got]
        self.assertEqual(seqs, list(range(base + 1, base + 7)))  # exactly once, in order, no gap
        self.assertEqual(sub.position, base + 6)
        # Whether the last three came live or were read back depends on which
        # instance leads the relay (another test's instance on the same database
        # may): exactly once and in order, checked above, is what is promised.

    def test_prefix(self) -> None:
        es = propertyd.EventServiceStub(self.ch)
        base = es.ReadEvents(events_pb2.ReadEventsRequest(limit=1)).last_seq
        p = self.ps.CreateProperty(new_property("Doomed"))
        self.ps.DeleteProperty(property_pb2.DeletePropertyRequest(id=p.id))
        with propertyd.subscribe(srv().events_url, channel=self.ch, after_seq=base,
                                 type_prefix="property.deleted") as sub:
            got = []
            for ev in sub.events(timeout=10):
                got.append(ev)
                break
        self.assertEqual([(e.type, e.aggregate_id) for e in got], [("property.deleted", p.id)])

    def test_read_events_out_of_range_shape(self) -> None:
        es = propertyd.EventServiceStub(self.ch)
        r = es.ReadEvents(events_pb2.ReadEventsRequest(after_seq=0, limit=2))
        self.assertLessEqual(len(r.events), 2)
        e = self.assertRpc("INVALID_ARGUMENT", es.ReadEvents, events_pb2.ReadEventsRequest(type_prefix="p" * 101))
        self.assertTrue(e.message)


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.mkdtemp(prefix="pyclient-tls-")
        cls.certs = livesrv.make_certs(cls.dir)
        c = cls.certs
        cls.srv = livesrv.Server(tls={"cert": c["server_crt"], "key": c["server_key"], "client_ca": c["client_crt"],
                                      "client_cert": c["client_crt"], "client_key": c["client_key"]},
                                 env={"RELAY": "0"}).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.srv.stop()
        for f in os.listdir(cls.dir):
            os.unlink(os.path.join(cls.dir, f))
        os.rmdir(cls.dir)

    def connect(self, **kw: object) -> propertyd.Channel:
        ch = propertyd.connect(self.srv.rpc_url, token=self.srv.token(), timeout=5.0, **kw)  # type: ignore[arg-type]
        self.addCleanup(ch.close)
        return ch

    def test_mutual_tls_calls(self) -> None:
        c = self.certs
        ch = self.connect(ca=c["server_crt"], cert=c["client_crt"], key=c["client_key"], server_name="localhost")
        ps = propertyd.PropertyServiceStub(ch)
        p = ps.CreateProperty(new_property("Over TLS"))
        self.assertEqual(ps.GetProperty(property_pb2.GetPropertyRequest(id=p.id)).title, "Over TLS")
        results: list[str] = []

        def work() -> None:
            for _ in range(20):
                results.append(ps.GetProperty(property_pb2.GetPropertyRequest(id=p.id)).id)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [p.id] * 160)

    def test_wrong_ca_or_no_client_cert_is_refused(self) -> None:
        c = self.certs
        for kw in ({"ca": c["other_crt"], "cert": c["client_crt"], "key": c["client_key"]},
                   {"ca": c["server_crt"]},
                   {"ca": c["server_crt"], "cert": c["other_crt"], "key": c["other_key"]}):
            with self.subTest(kw=sorted(kw)):
                ch = self.connect(**kw)
                with self.assertRaises(RpcError) as cm:
                    propertyd.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=3)
                self.assertIn(cm.exception.code_name, ("UNAVAILABLE", "DEADLINE_EXCEEDED"))

    def test_insecure_skips_verification(self) -> None:
        c = self.certs
        ch = self.connect(insecure=True, cert=c["client_crt"], key=c["client_key"])
        r = propertyd.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
        self.assertEqual(r.status, health_pb2.HealthCheckResponse.SERVING)


if __name__ == "__main__":
    unittest.main()
