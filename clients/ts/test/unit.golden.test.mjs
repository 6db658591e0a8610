// The cross-language golden vectors (clients/python/tests/golden, shared by the
// C, Python and TypeScript tests): this client's framing, envelope encoding,
// reply decoding and token minting must produce and read exactly those bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { frame, FrameDecoder, handshake, Protocol, decodeResponse, mintToken } from "../dist/index.js";
import { RequestSchema } from "../dist/gen/rpc/v1/rpc_pb.js";
import { GetPropertyRequestSchema } from "../dist/gen/property/v1/property_pb.js";

const here = dirname(fileURLToPath(import.meta.url));
const goldenDir = process.env.PD_GOLDEN_DIR ?? join(here, "..", "..", "python", "tests", "golden");

// A golden file: '#' comment lines, then hex digits (whitespace ignored).
function golden(name) {
  const text = readFileSync(join(goldenDir, name), "utf8");
  const hex = text
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .join("")
    .replace(/\s+/g, "");
  return Buffer.from(hex, "hex");
}

test("handshakes", () => {
  assert.deepEqual(handshake(Protocol.REQ), golden("handshake_req.hex"));
  assert.deepEqual(handshake(Protocol.REP), golden("handshake_rep.hex"));
  assert.deepEqual(handshake(Protocol.PUB), golden("handshake_pub.hex"));
  assert.deepEqual(handshake(Protocol.SUB), golden("handshake_sub.hex"));
});

test("a GetProperty request, tcp:// framing, byte for byte", () => {
  const want = golden("request_get_tcp.hex");
  const payload = toBinary(
    GetPropertyRequestSchema,
    create(GetPropertyRequestSchema, { id: "3f2b8c1e-5d4a-4b7e-9c2d-1a0b9e8f7d6c" }),
  );
  // Metadata in key order, as the vectors are written.
  const req = create(RequestSchema, {
    method: "/property.v1.PropertyService/GetProperty",
    payload,
    metadata: { authorization: "Bearer t0k3n", "x-request-id": "golden-1" },
    timeoutMs: 2000,
  });
  const got = frame(toBinary(RequestSchema, req), { id: 0x80000001 });
  assert.deepEqual(got, want);
  // And the golden bytes decode to the same envelope.
  const back = fromBinary(RequestSchema, want.subarray(12));
  assert.equal(back.method, "/property.v1.PropertyService/GetProperty");
  assert.equal(back.timeoutMs, 2000);
  assert.equal(back.metadata["x-request-id"], "golden-1");
});

test("golden replies decode to their status, message and request id", () => {
  const frames = [];
  const dec = new FrameDecoder(
    (m) => frames.push(m),
    (e) => assert.fail(e),
    1 << 20,
  );
  dec.push(golden("reply_not_found.hex"));
  assert.equal(frames.length, 1);
  // The message starts with the 4-byte request id the reply echoes.
  assert.equal(frames[0].readUInt32BE(0), 0x80000003);
  const res = decodeResponse(frames[0].subarray(4), "/property.v1.PropertyService/GetProperty");
  assert.equal(res.code, 5);
  assert.match(res.message, /not found/);
  assert.equal(res.metadata["x-request-id"], "golden-3");
});

test("an HS256 token, byte for byte", () => {
  const lines = readFileSync(join(goldenDir, "token_hs256.txt"), "utf8")
    .split("\n")
    .filter((l) => l && !l.startsWith("#"));
  const tok = mintToken("golden-secret-0123456789abcdef-0123456789", "alice", 3600, {
    now: 1700000000,
  });
  assert.equal(tok, lines[0].trim());
});
