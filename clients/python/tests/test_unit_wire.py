"""Pure tests of the wire format: SP framing, URLs, the envelope, errors, tokens, golden vectors.

Nothing here opens a socket to propertyd.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import unittest

import goldens
import propertyd
from propertyd import envelope, events_pb2, property_pb2, rpc_pb2, sp
from propertyd.errors import RpcError
from propertyd.subscribe import encode_event, split_event


class Framing(unittest.TestCase):
    def test_handshakes(self) -> None:
        for proto, name in ((sp.PROTO_REQ, "handshake_req"), (sp.PROTO_REP, "handshake_rep"),
                            (sp.PROTO_SUB, "handshake_sub"), (sp.PROTO_PUB, "handshake_pub")):
            self.assertEqual(sp.handshake(proto), goldens.read_hex(name))
        sp.check_handshake(goldens.read_hex("handshake_rep"), sp.PROTO_REP)
        with self.assertRaises(sp.ProtocolError):
            sp.check_handshake(goldens.read_hex("handshake_pub"), sp.PROTO_REP)
        with self.assertRaises(sp.ProtocolError):
            sp.check_handshake(b"\x00SP\x00\x00\x31\x00\x01", sp.PROTO_REP)  # reserved bytes
        with self.assertRaises(sp.ProtocolError):
            sp.check_handshake(b"HTTP/1.1", sp.PROTO_REP)

    def test_frame_and_request_id(self) -> None:
        self.assertEqual(sp.frame(b"abc"), b"\x00" * 7 + b"\x03abc")
        self.assertEqual(sp.frame(b"abc", ipc=True), b"\x01" + b"\x00" * 7 + b"\x03abc")
        self.assertEqual(sp.request_id(1), 0x80000001)
        self.assertEqual(sp.request_id(0x7FFFFFFF), 0xFFFFFFFF)
        self.assertEqual(sp.request_id(0x80000000), 0x80000000)  # wraps within 31 bits
        self.assertEqual(sp.encode_request(0x80000001, b"x"), b"\x00" * 7 + b"\x05\x80\x00\x00\x01x")
        with self.assertRaises(ValueError):
            sp.encode_request(1, b"x")
        self.assertEqual(sp.split_reply(b"\x80\x00\x00\x07body"), (0x80000007, b"body"))
        with self.assertRaises(sp.ProtocolError):
            sp.split_reply(b"\x00\x00\x00\x07body")
        with self.assertRaises(sp.ProtocolError):
            sp.split_reply(b"\x80\x00")

    def test_decoder_byte_by_byte(self) -> None:
        msgs = [b"", b"a", b"hello" * 1000]
        stream = b"".join(sp.frame(m) for m in msgs)
        d = sp.FrameDecoder()
        got: list[bytes] = []
        for i in range(len(stream)):
            got += d.feed(stream[i : i + 1])
        self.assertEqual(got, msgs)
        d = sp.FrameDecoder(ipc=True)
        self.assertEqual(d.feed(b"".join(sp.frame(m, ipc=True) for m in msgs)), msgs)

    def test_decoder_limits(self) -> None:
        with self.assertRaises(sp.ProtocolError):
            sp.FrameDecoder(recv_max=10).feed(sp.frame(b"x" * 11)[:8])
        with self.assertRaises(sp.ProtocolError):
            sp.FrameDecoder(ipc=True).feed(b"\x02" + b"\x00" * 8)

    def test_urls(self) -> None:
        u = sp.parse_url("tcp://127.0.0.1:7700")
        self.assertEqual((u.scheme, u.host, u.port, u.tls), ("tcp", "127.0.0.1", 7700, False))
        u = sp.parse_url("tls+tcp://[::1]:7700")
        self.assertEqual((u.host, u.port, u.tls, str(u)), ("::1", 7700, True, "tls+tcp://[::1]:7700"))
        self.assertEqual(sp.parse_url("ipc:///tmp/pd.sock").path, "/tmp/pd.sock")
        self.assertEqual(sp.parse_url("tcp://:7700").host, "127.0.0.1")
        for bad in ("127.0.0.1:7700", "http://x:1", "tcp://x", "tcp://x:0", "tcp://x:65536", "tcp://x:ab", "ipc://"):
            with self.assertRaises(ValueError, msg=bad):
                sp.parse_url(bad)

    def test_tls_refuses_without_ca(self) -> None:
        with self.assertRaisesRegex(ValueError, "needs a CA"):
            propertyd.connect("tls+tcp://127.0.0.1:1")
        with self.assertRaisesRegex(ValueError, "cert and key"):
            propertyd.connect("tls+tcp://127.0.0.1:1", insecure=True, cert="c.pem")


class Envelope(unittest.TestCase):
    def test_request_matches_golden_get(self) -> None:
        payload = property_pb2.GetPropertyRequest(id=goldens.ID).SerializeToString()
        # Metadata given in the other order: the encoder sorts it.
        body = envelope.encode_request("/property.v1.PropertyService/GetProperty", payload,
                                       {"x-request-id": "golden-1", "authorization": "Bearer " + goldens.TOKEN},
                                       2000)
        self.assertEqual(sp.encode_request(0x80000001, body), goldens.read_hex("request_get_tcp"))
        self.assertEqual(sp.encode_request(0x80000001, body, ipc=True), goldens.read_hex("request_get_ipc"))

    def test_request_matches_golden_create(self) -> None:
        req = property_pb2.CreatePropertyRequest(
            owner_id="alice", title="Flat by the river", description="Two rooms, sunny.",
            location=property_pb2.Location(address="1 Rue de Rivoli", city="Paris", country_code="FR",
                                           latitude=48.8566, longitude=2.3522),
            price_cents=45000000, currency="EUR", bedrooms=2, status=property_pb2.PROPERTY_STATUS_LISTED)
        body = envelope.encode_request("/property.v1.PropertyService/CreateProperty", req.SerializeToString(),
                                       goldens.CREATE_MD, 5000)
        self.assertEqual(sp.encode_request(0x80000002, body), goldens.read_hex("request_create_tcp"))

    def test_golden_files_match_independent_encoder(self) -> None:
        for name, (_, data) in goldens.VECTORS.items():
            self.assertEqual(goldens.read_hex(name), data, name)

    def _reply(self, name: str) -> tuple[int, bytes]:
        msgs = sp.FrameDecoder().feed(goldens.read_hex(name))
        self.assertEqual(len(msgs), 1)
        return sp.split_reply(msgs[0])

    def test_decode_ok_reply(self) -> None:
        rid, body = self._reply("reply_ok_property")
        self.assertEqual(rid, 0x80000001)
        payload, md = envelope.decode_response(body)
        self.assertEqual(md, {"x-request-id": "golden-1"})
        p = property_pb2.Property()
        p.ParseFromString(payload)
        self.assertEqual((p.id, p.owner_id, p.location.city, p.price_cents, p.status, p.version),
                         (goldens.ID, "alice", "Paris", 45000000, property_pb2.PROPERTY_STATUS_LISTED, 1))
        self.assertEqual(p.location.latitude, 48.8566)

    def test_decode_invalid_argument(self) -> None:
        rid, body = self._reply("reply_invalid_argument")
        self.assertEqual(rid, 0x80000002)
        with self.assertRaises(RpcError) as cm:
            envelope.decode_response(body, "/m")
        e = cm.exception
        self.assertEqual((e.code, e.code_name, e.request_id, e.method, e.local),
                         (3, "INVALID_ARGUMENT", "golden-2", "/m", False))
        self.assertEqual(e.message, "invalid argument: 2 invalid fields")
        self.assertEqual(e.violations, goldens.VIOLATIONS)
        self.assertIn("title: must be 1 to 200 characters", str(e))

    def test_decode_not_found(self) -> None:
        _, body = self._reply("reply_not_found")
        with self.assertRaises(RpcError) as cm:
            envelope.decode_response(body)
        self.assertEqual((cm.exception.code, cm.exception.code_name, cm.exception.violations), (5, "NOT_FOUND", []))

    def test_decode_garbage(self) -> None:
        with self.assertRaises(RpcError) as cm:
            envelope.decode_response(b"\xff\xff\xff")
        self.assertEqual((cm.exception.code, cm.exception.local), (13, True))

    def test_code_names(self) -> None:
        self.assertEqual(propertyd.code_name(16), "UNAUTHENTICATED")
        self.assertEqual(propertyd.code_name(99), "UNKNOWN")
        self.assertEqual(len(propertyd.CODE_NAMES), 17)

    def test_metadata_limits(self) -> None:
        envelope.check_metadata({"k" * 128: "v" * 4096})
        for bad in ({"k" * 129: ""}, {"k": "v" * 4097}, {"Upper": "x"}, {str(i): "" for i in range(65)}):
            with self.assertRaises(ValueError):
                envelope.check_metadata(bad)

    def test_timeout_ms(self) -> None:
        self.assertEqual(envelope.clamp_timeout_ms(2.0), 2000)
        self.assertEqual(envelope.clamp_timeout_ms(0.0001), 1)
        self.assertEqual(envelope.clamp_timeout_ms(1.0001), 1001)  # rounded up, never 0
        self.assertEqual(envelope.clamp_timeout_ms(1e9), 300000)

    def test_event_message(self) -> None:
        msgs = sp.FrameDecoder().feed(goldens.read_hex("event_created"))
        etype, raw = split_event(msgs[0])
        ev = events_pb2.Event()
        ev.ParseFromString(raw)
        self.assertEqual((etype, ev.seq, ev.type, ev.property.id), ("property.created", 42, "property.created", goldens.ID))
        self.assertEqual(encode_event(ev), msgs[0])
        with self.assertRaises(ValueError):
            split_event(b"no terminator")


class Token(unittest.TestCase):
    def test_golden(self) -> None:
        tok = propertyd.mint_token(goldens.TOKEN_SECRET, goldens.TOKEN_SUB, goldens.TOKEN_TTL, now=goldens.TOKEN_IAT)
        self.assertEqual(tok, goldens.read_token())
        self.assertEqual(tok, goldens.token_vector())

    def test_shape(self) -> None:
        secret = os.urandom(32)
        tok = propertyd.mint_token(secret, "bob", 60)
        parts = tok.split(".")
        self.assertEqual(len(parts), 3)
        self.assertTrue(all(p and "=" not in p for p in parts))

        def dec(s: str) -> bytes:
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

        self.assertEqual(json.loads(dec(parts[0])), {"alg": "HS256", "typ": "JWT"})
        claims = json.loads(dec(parts[1]))
        self.assertEqual(claims["sub"], "bob")
        self.assertEqual(claims["exp"] - claims["iat"], 60)
        mac = hmac.new(secret, (parts[0] + "." + parts[1]).encode(), hashlib.sha256).digest()
        self.assertEqual(dec(parts[2]), mac)
        with self.assertRaises(ValueError):
            propertyd.mint_token(secret, "")
        nbf = json.loads(dec(propertyd.mint_token(secret, "x", now=10, nbf=5).split(".")[1]))
        self.assertEqual(nbf, {"exp": 3610, "iat": 10, "nbf": 5, "sub": "x"})


class Stubs(unittest.TestCase):
    def test_every_proto_method_has_a_stub(self) -> None:
        for mod in (property_pb2, events_pb2, propertyd.health_pb2):
            for svc in mod.DESCRIPTOR.services_by_name.values():
                stub = getattr(propertyd, svc.name + "Stub")
                self.assertEqual(stub.SERVICE, svc.full_name)
                for m in svc.methods:
                    self.assertTrue(callable(getattr(stub, m.name)), m.full_name)

    def test_stub_checks_request_type(self) -> None:
        ps = propertyd.PropertyServiceStub(None)  # type: ignore[arg-type]
        with self.assertRaisesRegex(TypeError, "GetPropertyRequest"):
            ps.GetProperty(property_pb2.CreatePropertyRequest())

    def test_reexports(self) -> None:
        self.assertIs(propertyd.rpc_pb2, rpc_pb2)
        self.assertTrue(hasattr(propertyd, "EventServiceStub"))
        self.assertTrue(hasattr(propertyd, "HealthStub"))


if __name__ == "__main__":
    unittest.main()
