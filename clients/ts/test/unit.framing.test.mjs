import { test } from "node:test";
import assert from "node:assert/strict";
import { frame, handshake, checkHandshake, requestId, FrameDecoder, Protocol, parseUrl } from "../dist/index.js";

test("handshake bytes per protocol", () => {
  assert.deepEqual([...handshake(Protocol.REQ)], [0x00, 0x53, 0x50, 0x00, 0x00, 0x30, 0x00, 0x00]);
  assert.deepEqual([...handshake(Protocol.REP)], [0x00, 0x53, 0x50, 0x00, 0x00, 0x31, 0x00, 0x00]);
  assert.deepEqual([...handshake(Protocol.PUB)], [0x00, 0x53, 0x50, 0x00, 0x00, 0x20, 0x00, 0x00]);
  assert.deepEqual([...handshake(Protocol.SUB)], [0x00, 0x53, 0x50, 0x00, 0x00, 0x21, 0x00, 0x00]);
});

test("checkHandshake accepts the right peer and refuses the rest", () => {
  assert.equal(checkHandshake(handshake(Protocol.REP), Protocol.REP), null);
  assert.match(checkHandshake(handshake(Protocol.PUB), Protocol.REP), /peer protocol 0x20, want 0x31/);
  assert.match(checkHandshake(Buffer.from("HTTP/1.1"), Protocol.REP), /bad magic/);
  const bad = handshake(Protocol.REP);
  bad[7] = 1;
  assert.match(checkHandshake(bad, Protocol.REP), /reserved/);
  assert.match(checkHandshake(Buffer.alloc(4), Protocol.REP), /4 bytes/);
});

test("request ids have the high bit set", () => {
  assert.equal(requestId(1), 0x80000001);
  assert.equal(requestId(0x7fffffff), 0xffffffff);
  assert.equal(requestId(0x80000000), 0x80000000); // wraps within 31 bits
});

test("frame matches the contract's example (id 1, 120-byte envelope)", () => {
  const body = Buffer.alloc(120, 0xab);
  const f = frame(body, { id: requestId(1) });
  assert.equal(f.length, 8 + 4 + 120);
  assert.deepEqual([...f.subarray(0, 12)], [0, 0, 0, 0, 0, 0, 0, 0x7c, 0x80, 0, 0, 1]);
  assert.deepEqual(f.subarray(12), body);
});

test("frame without id (PUB/SUB) and over ipc", () => {
  const f = frame(Buffer.from("abc"));
  assert.deepEqual([...f], [0, 0, 0, 0, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
  const g = frame(Buffer.from("abc"), { ipc: true, id: 0x80000002 });
  assert.deepEqual([...g], [1, 0, 0, 0, 0, 0, 0, 0, 7, 0x80, 0, 0, 2, 0x61, 0x62, 0x63]);
});

function collect(maxSize = 1 << 20, ipc = false) {
  const msgs = [];
  const errs = [];
  const d = new FrameDecoder((m) => msgs.push(Buffer.from(m)), (e) => errs.push(e), maxSize, ipc);
  return { d, msgs, errs };
}

test("decoder: messages split at every byte and several in one chunk", () => {
  const a = frame(Buffer.from("hello"));
  const b = frame(Buffer.alloc(0));
  const c = frame(Buffer.alloc(70000, 7));
  const all = Buffer.concat([a, b, c]);
  const one = collect();
  one.d.push(all);
  assert.equal(one.msgs.length, 3);
  const bytewise = collect();
  for (let i = 0; i < all.length; i++) bytewise.d.push(all.subarray(i, i + 1));
  assert.equal(bytewise.msgs.length, 3);
  for (const r of [one, bytewise]) {
    assert.equal(r.msgs[0].toString(), "hello");
    assert.equal(r.msgs[1].length, 0);
    assert.equal(r.msgs[2].length, 70000);
    assert.ok(r.msgs[2].every((x) => x === 7));
    assert.equal(r.errs.length, 0);
  }
});

test("decoder: ragged chunks", () => {
  const parts = [];
  for (let i = 0; i < 50; i++) parts.push(frame(Buffer.alloc(i * 13, i)));
  const all = Buffer.concat(parts);
  const r = collect();
  let off = 0;
  let k = 1;
  while (off < all.length) {
    r.d.push(all.subarray(off, off + k));
    off += k;
    k = (k * 7) % 97 + 1;
  }
  assert.equal(r.msgs.length, 50);
  r.msgs.forEach((m, i) => assert.equal(m.length, i * 13));
});

test("decoder: a message over the limit is an error, once", () => {
  const r = collect(100);
  r.d.push(frame(Buffer.alloc(101)));
  r.d.push(frame(Buffer.alloc(1)));
  assert.equal(r.msgs.length, 0);
  assert.equal(r.errs.length, 1);
  assert.match(r.errs[0].message, /101 bytes exceeds/);
  const huge = collect();
  huge.d.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
  assert.equal(huge.errs.length, 1);
});

test("decoder: ipc framing", () => {
  const r = collect(1 << 20, true);
  r.d.push(frame(Buffer.from("x"), { ipc: true }));
  assert.equal(r.msgs[0].toString(), "x");
  r.d.push(frame(Buffer.from("y")));
  assert.equal(r.errs.length, 1);
});

test("parseUrl", () => {
  assert.deepEqual(parseUrl("tcp://127.0.0.1:7700"), { raw: "tcp://127.0.0.1:7700", scheme: "tcp", host: "127.0.0.1", port: 7700, path: "" });
  assert.equal(parseUrl("tls+tcp://[::1]:9").host, "::1");
  assert.equal(parseUrl("tcp://localhost:1").host, "localhost");
  assert.equal(parseUrl("ipc:///tmp/pd.sock").path, "/tmp/pd.sock");
  assert.throws(() => parseUrl("http://x:1"), /unsupported/);
  assert.throws(() => parseUrl("tcp://x"), /host:port/);
  assert.throws(() => parseUrl("tcp://x:70000"), /range/);
});
