"""Golden wire vectors: their inputs, an independent encoder, and the hex file format.

The vectors live in ``golden/*.hex``. File format (meant for the C and TypeScript tests
too): lines starting with ``#`` are comments describing the inputs; every other character
that is not whitespace is a hex digit; the bytes are the concatenation of all hex digits.

The expected bytes are built here with a tiny hand-written protobuf writer that shares no
code with the client (nor with the protobuf library), so a test that compares the client's
encoder to the file compares two independent encoders. Regenerate the files with
``python3 goldens.py write`` (only when the wire format really changed).
"""

from __future__ import annotations

import os
import struct
import sys

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")

# ---- a minimal protobuf writer (proto3, fields in number order) ------------------------


def varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field: int, n: int) -> bytes:
    return varint(field << 3 | 0) + varint(n) if n else b""


def f_bytes(field: int, data: bytes | str) -> bytes:
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data if data else b""


def f_msg(field: int, data: bytes) -> bytes:
    """An embedded message (written even when empty: presence matters)."""
    return varint(field << 3 | 2) + varint(len(data)) + data


def f_double(field: int, x: float) -> bytes:
    return varint(field << 3 | 1) + struct.pack("<d", x) if x else b""


def f_map(field: int, entries: dict[str, str]) -> bytes:
    """Map entries sorted by key (what deterministic serialization gives)."""
    return b"".join(f_msg(field, f_bytes(1, k) + f_bytes(2, v)) for k, v in sorted(entries.items()))


# ---- messages ---------------------------------------------------------------------------

ID = "3f2b8c1e-5d4a-4b7e-9c2d-1a0b9e8f7d6c"
TOKEN = "t0k3n"  # not a valid JWT: the server answers 16 to it (used by a live test)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def location(address: str, city: str, cc: str, lat: float, lon: float) -> bytes:
    return f_bytes(1, address) + f_bytes(2, city) + f_bytes(3, cc) + f_double(4, lat) + f_double(5, lon)


LOCATION = location("1 Rue de Rivoli", "Paris", "FR", 48.8566, 2.3522)


def create_request() -> bytes:
    # CreatePropertyRequest: 1 owner_id, 2 title, 3 description, 4 location, 5 price_cents,
    # 6 currency, 7 bedrooms, 8 status
    return (f_bytes(1, "alice") + f_bytes(2, "Flat by the river") + f_bytes(3, "Two rooms, sunny.")
            + f_msg(4, LOCATION) + f_varint(5, 45000000) + f_bytes(6, "EUR") + f_varint(7, 2)
            + f_varint(8, 2))


def property_msg() -> bytes:
    # Property: 1 id, 2 owner_id, 3 title, 4 description, 5 location, 6 price_cents,
    # 7 currency, 8 bedrooms, 9 status, 10 version, 11 created_at_us, 12 updated_at_us
    return (f_bytes(1, ID) + f_bytes(2, "alice") + f_bytes(3, "Flat by the river")
            + f_bytes(4, "Two rooms, sunny.") + f_msg(5, LOCATION) + f_varint(6, 45000000)
            + f_bytes(7, "EUR") + f_varint(8, 2) + f_varint(9, 2) + f_varint(10, 1)
            + f_varint(11, 1700000000123456) + f_varint(12, 1700000000123456))


def envelope_request(method: str, payload: bytes, md: dict[str, str], timeout_ms: int) -> bytes:
    return f_bytes(1, method) + f_bytes(2, payload) + f_map(3, md) + f_varint(4, timeout_ms)


def envelope_response(code: int, message: str, payload: bytes, md: dict[str, str],
                      violations: list[tuple[str, str]]) -> bytes:
    return (f_varint(1, code) + f_bytes(2, message) + f_bytes(3, payload) + f_map(4, md)
            + b"".join(f_msg(5, f_bytes(1, f) + f_bytes(2, d)) for f, d in violations))


def event_created() -> bytes:
    # Event: 1 seq, 2 id, 3 type, 4 aggregate_id, 5 owner_id, 6 occurred_at_us, 7 property
    return (f_varint(1, 42) + f_bytes(2, "9d0e6a56-1f7c-4c38-8b1e-6c1d2f3a4b5c") + f_bytes(3, "property.created")
            + f_bytes(4, ID) + f_bytes(5, "alice") + f_varint(6, 1700000000123456) + f_msg(7, property_msg()))


def sp_frame(body: bytes, ipc: bool = False) -> bytes:
    return (b"\x01" if ipc else b"") + struct.pack(">Q", len(body)) + body


def sp_request(rid: int, body: bytes, ipc: bool = False) -> bytes:
    return sp_frame(struct.pack(">I", rid) + body, ipc)


GET_MD = {"authorization": "Bearer " + TOKEN, "x-request-id": "golden-1"}
CREATE_MD = {"authorization": "Bearer " + TOKEN, "idempotency-key": "k-1", "traceparent": TRACEPARENT,
             "x-request-id": "golden-2"}
VIOLATIONS = [("title", "must be 1 to 200 characters"),
              ("location.country_code", "must be two upper-case letters (ISO 3166-1 alpha-2)")]

# name -> (comment lines, bytes)
VECTORS: dict[str, tuple[list[str], bytes]] = {
    "handshake_req": (["SP handshake sent by a REQ socket (protocol 0x30)"], b"\x00SP\x00\x00\x30\x00\x00"),
    "handshake_rep": (["SP handshake sent by a REP socket (protocol 0x31): what propertyd's RPC socket sends"],
                      b"\x00SP\x00\x00\x31\x00\x00"),
    "handshake_sub": (["SP handshake sent by a SUB socket (protocol 0x21)"], b"\x00SP\x00\x00\x21\x00\x00"),
    "handshake_pub": (["SP handshake sent by a PUB socket (protocol 0x20): what propertyd's events socket sends"],
                      b"\x00SP\x00\x00\x20\x00\x00"),
    "request_get_tcp": ([
        "A whole tcp:// request message: 8-byte length, request id 0x80000001, rpc.v1.Request:",
        "  method     /property.v1.PropertyService/GetProperty",
        f"  payload    GetPropertyRequest{{id: \"{ID}\"}}",
        f"  metadata   authorization: \"Bearer {TOKEN}\", x-request-id: \"golden-1\" (entries sorted by key)",
        "  timeout_ms 2000",
        "propertyd answers it 16 UNAUTHENTICATED (the token is not a JWT), reply id 0x80000001,",
        "x-request-id golden-1.",
    ], sp_request(0x80000001, envelope_request("/property.v1.PropertyService/GetProperty",
                                                f_bytes(1, ID), GET_MD, 2000))),
    "request_get_ipc": (["The same request as request_get_tcp over ipc://: one 0x01 byte before the length"],
                        sp_request(0x80000001, envelope_request("/property.v1.PropertyService/GetProperty",
                                                                 f_bytes(1, ID), GET_MD, 2000), ipc=True)),
    "request_create_tcp": ([
        "A whole tcp:// request message: request id 0x80000002, rpc.v1.Request:",
        "  method     /property.v1.PropertyService/CreateProperty",
        "  payload    CreatePropertyRequest{owner_id: alice, title: \"Flat by the river\",",
        "             description: \"Two rooms, sunny.\", location{address: \"1 Rue de Rivoli\", city: Paris,",
        "             country_code: FR, latitude: 48.8566, longitude: 2.3522}, price_cents: 45000000,",
        "             currency: EUR, bedrooms: 2, status: LISTED (2)}",
        f"  metadata   authorization: \"Bearer {TOKEN}\", idempotency-key: k-1,",
        f"             traceparent: {TRACEPARENT}, x-request-id: golden-2",
        "  timeout_ms 5000",
    ], sp_request(0x80000002, envelope_request("/property.v1.PropertyService/CreateProperty",
                                                create_request(), CREATE_MD, 5000))),
    "reply_ok_property": ([
        "A whole tcp:// reply message: request id 0x80000001, rpc.v1.Response:",
        "  code 0, metadata x-request-id: golden-1,",
        f"  payload Property{{id: {ID}, owner_id: alice, title/description/location/price/currency/",
        "          bedrooms/status as in request_create_tcp, version: 1,",
        "          created_at_us = updated_at_us = 1700000000123456}",
    ], sp_request(0x80000001, envelope_response(0, "", property_msg(), {"x-request-id": "golden-1"}, []))),
    "reply_invalid_argument": ([
        "A whole tcp:// reply message: request id 0x80000002, rpc.v1.Response:",
        "  code 3 INVALID_ARGUMENT, message \"invalid argument: 2 invalid fields\",",
        "  metadata x-request-id: golden-2, violations:",
        "    title: must be 1 to 200 characters",
        "    location.country_code: must be two upper-case letters (ISO 3166-1 alpha-2)",
    ], sp_request(0x80000002, envelope_response(3, "invalid argument: 2 invalid fields", b"",
                                                 {"x-request-id": "golden-2"}, VIOLATIONS))),
    "reply_not_found": ([
        "A whole tcp:// reply message: request id 0x80000003, rpc.v1.Response:",
        f"  code 5 NOT_FOUND, message \"property {ID} not found\", metadata x-request-id: golden-3",
    ], sp_request(0x80000003, envelope_response(5, f"property {ID} not found", b"",
                                                 {"x-request-id": "golden-3"}, []))),
    "event_created": ([
        "A whole tcp:// message of the events PUB socket (no request id): the bytes",
        "\"property.created\", 0x00, then property.v1.Event{seq: 42,",
        "id: 9d0e6a56-1f7c-4c38-8b1e-6c1d2f3a4b5c, type: property.created, aggregate_id: " + ID + ",",
        "owner_id: alice, occurred_at_us: 1700000000123456, property: as in reply_ok_property}",
    ], sp_frame(b"property.created\x00" + event_created())),
}

# Token vector: HS256 JWT as mint_token / nrpc_jwt_sign produce it.
TOKEN_SECRET = "golden-secret-0123456789abcdef-0123456789"
TOKEN_SUB = "alice"
TOKEN_IAT = 1700000000
TOKEN_TTL = 3600


TOKEN_CLAIMS = b'{"exp":1700003600,"iat":1700000000,"sub":"alice"}'  # compact, keys sorted


def token_vector() -> str:
    """The expected token, from the literal header and claims bytes above."""
    import base64
    import hashlib
    import hmac

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    head = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(TOKEN_CLAIMS)
    return head + "." + b64(hmac.new(TOKEN_SECRET.encode(), head.encode(), hashlib.sha256).digest())


def read_token() -> str:
    """The token of golden/token_hs256.txt (its only line that is not a comment)."""
    with open(os.path.join(GOLDEN_DIR, "token_hs256.txt")) as f:
        return "".join(line.strip() for line in f if not line.startswith("#"))


def read_hex(name: str) -> bytes:
    """The bytes of golden/<name>.hex."""
    with open(os.path.join(GOLDEN_DIR, name + ".hex")) as f:
        digits = "".join("".join(line.split()) for line in f if not line.lstrip().startswith("#"))
    return bytes.fromhex(digits)


def write_hex(name: str, comment: list[str], data: bytes) -> None:
    lines = [f"# {c}" if c else "#" for c in comment]
    lines.append(f"# {len(data)} bytes")
    for i in range(0, len(data), 32):
        chunk = data[i : i + 32]
        lines.append(" ".join(chunk[j : j + 4].hex() for j in range(0, len(chunk), 4)))
    with open(os.path.join(GOLDEN_DIR, name + ".hex"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main() -> None:
    if sys.argv[1:] != ["write"]:
        sys.exit("usage: goldens.py write   (rewrites golden/*.hex)")
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    for name, (comment, data) in VECTORS.items():
        write_hex(name, comment, data)
    with open(os.path.join(GOLDEN_DIR, "token_hs256.txt"), "w") as f:
        f.write(f"# HS256 bearer token (JWT) for secret \"{TOKEN_SECRET}\" (ASCII bytes),\n"
                f"# header {{\"alg\":\"HS256\",\"typ\":\"JWT\"}}, claims {TOKEN_CLAIMS.decode()}\n"
                f"# (sub {TOKEN_SUB}, iat {TOKEN_IAT}, ttl {TOKEN_TTL}), unpadded base64url parts.\n"
                + token_vector() + "\n")


if __name__ == "__main__":
    main()
