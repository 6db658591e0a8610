// The client against in-process fake REP servers: multiplexing, deadlines, round robin,
// dead URLs, lost connections (never resent), reconnect.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { connect, Code, RpcError, PropertySchema, GetPropertyRequestSchema, HealthCheckResponseSchema, methodPaths } from "../dist/index.js";
import { fakeRep } from "./helpers/fake.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const propertyReply = (id) => ({ code: 0, payload: toBinary(PropertySchema, create(PropertySchema, { id, version: 3n })), metadata: { "x-request-id": "srv" } });

test("generated clients cover every method of the protos", () => {
  assert.deepEqual([...methodPaths].sort(), [
    "/grpc.health.v1.Health/Check",
    "/property.v1.EventService/ReadEvents",
    "/property.v1.PropertyService/CreateProperty",
    "/property.v1.PropertyService/DeleteProperty",
    "/property.v1.PropertyService/GetProperty",
    "/property.v1.PropertyService/ListPropertiesByOwner",
    "/property.v1.PropertyService/SearchProperties",
    "/property.v1.PropertyService/UpdateProperty",
    "/rpc.v1.Reflection/GetFileDescriptorSet",
    "/rpc.v1.Reflection/ListServices",
  ]);
});

test("envelope: method, payload, metadata and timeout_ms", async () => {
  const srv = await fakeRep((req, reply) => reply(propertyReply("p1")));
  const c = await connect(srv.url, { token: "tok", timeoutMs: 2500 });
  try {
    const p = await c.property.getProperty({ id: "p1" }, { idempotencyKey: "k", metadata: { traceparent: "t" } });
    assert.equal(p.id, "p1");
    assert.equal(p.version, 3n);
    const req = srv.requests[0];
    assert.equal(req.method, "/property.v1.PropertyService/GetProperty");
    assert.equal(fromBinary(GetPropertyRequestSchema, req.payload).id, "p1");
    assert.equal(req.metadata.authorization, "Bearer tok");
    assert.equal(req.metadata["idempotency-key"], "k");
    assert.equal(req.metadata.traceparent, "t");
    assert.match(req.metadata["x-request-id"], /^[0-9a-f-]{36}$/);
    assert.ok(req.timeoutMs > 2000 && req.timeoutMs <= 2500, `timeout_ms ${req.timeoutMs}`);
    await c.property.getProperty({ id: "p1" }, { timeoutMs: 700 });
    assert.ok(srv.requests[1].timeoutMs <= 700 && srv.requests[1].timeoutMs > 500);
  } finally {
    c.close();
    await srv.close();
  }
});

test("many concurrent calls on one connection, replies out of order, matched by request id", async () => {
  const srv = await fakeRep((req, reply) => {
    const id = fromBinary(GetPropertyRequestSchema, req.payload).id;
    reply(propertyReply(id), Math.floor(Math.random() * 30));
  });
  const c = await connect(srv.url);
  try {
    const ids = Array.from({ length: 200 }, (_, i) => `id-${i}`);
    const got = await Promise.all(ids.map((id) => c.property.getProperty({ id })));
    assert.deepEqual(got.map((p) => p.id), ids);
    assert.equal(srv.conns.size, 1);
  } finally {
    c.close();
    await srv.close();
  }
});

test("deadline enforced locally; the late reply is discarded and the connection stays usable", async () => {
  let n = 0;
  const srv = await fakeRep((req, reply) => reply(propertyReply(`r${n++}`), n === 1 ? 1000 : 0));
  const c = await connect(srv.url);
  try {
    const t0 = Date.now();
    await assert.rejects(c.property.getProperty({ id: "x" }, { timeoutMs: 150, requestId: "mine-1" }), (e) => {
      assert.ok(e instanceof RpcError);
      assert.equal(e.code, Code.DEADLINE_EXCEEDED);
      assert.equal(e.codeName, "DEADLINE_EXCEEDED");
      assert.equal(e.requestId, "mine-1");
      assert.equal(e.local, true);
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took >= 140 && took < 900, `took ${took} ms`);
    await sleep(1000 - took + 100); // the late reply arrives now and must be dropped
    const p = await c.property.getProperty({ id: "y" });
    assert.equal(p.id, "r1");
  } finally {
    c.close();
    await srv.close();
  }
});

test("server errors keep code, message, violations and request id", async () => {
  const srv = await fakeRep((req, reply) =>
    reply({ code: 3, message: "invalid argument: title: too long", metadata: { "x-request-id": req.metadata["x-request-id"] }, violations: [{ field: "title", description: "too long" }] }),
  );
  const c = await connect(srv.url);
  try {
    await assert.rejects(c.property.createProperty({ title: "x" }, { requestId: "rq-9" }), (e) => {
      assert.equal(e.code, 3);
      assert.equal(e.requestId, "rq-9");
      assert.equal(e.local, false);
      assert.deepEqual(e.violations, [{ field: "title", description: "too long" }]);
      return true;
    });
  } finally {
    c.close();
    await srv.close();
  }
});

test("round robin over connected URLs; a dead URL is skipped", async () => {
  const a = await fakeRep((req, reply) => reply(propertyReply("a")));
  const b = await fakeRep((req, reply) => reply(propertyReply("b")));
  const dead = await fakeRep(() => {});
  const deadUrl = dead.url;
  await dead.close(); // nothing listens there now
  const c = await connect([a.url, deadUrl, b.url]);
  try {
    for (let i = 0; i < 50 && c.connectedUrls().length < 2; i++) await sleep(20);
    const got = [];
    for (let i = 0; i < 10; i++) got.push((await c.property.getProperty({ id: "q" })).id);
    assert.equal(got.filter((x) => x === "a").length, 5);
    assert.equal(got.filter((x) => x === "b").length, 5);
    assert.deepEqual(c.connectedUrls().sort(), [a.url, b.url].sort());
  } finally {
    c.close();
    await a.close();
    await b.close();
  }
});

test("connect rejects UNAVAILABLE when no URL can be reached", async () => {
  const dead = await fakeRep(() => {});
  await dead.close();
  await assert.rejects(connect(dead.url, { timeoutMs: 1000 }), (e) => e.code === Code.UNAVAILABLE && /no connection/.test(e.message));
});

test("a lost connection fails its calls with UNAVAILABLE, never resends, and reconnects", async () => {
  let drop = true;
  const srv = await fakeRep((req, reply, sock) => {
    if (drop) {
      drop = false;
      setTimeout(() => sock.destroy(), 20);
      return;
    }
    reply({ code: 0, payload: toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status: 1 })) });
  });
  const c = await connect(srv.url);
  try {
    await assert.rejects(c.property.createProperty({ title: "t" }, { timeoutMs: 3000 }), (e) => {
      assert.equal(e.code, Code.UNAVAILABLE);
      assert.equal(e.sent, true);
      assert.match(e.message, /not resent/);
      return true;
    });
    assert.equal(srv.requests.length, 1);
    const h = await c.health.check({}, { timeoutMs: 3000 }); // waits for the redial
    assert.equal(h.status, 1);
    assert.equal(srv.requests.filter((r) => r.method.endsWith("CreateProperty")).length, 1);
  } finally {
    c.close();
    await srv.close();
  }
});

test("a request over 1 MiB is refused locally and not sent", async () => {
  const srv = await fakeRep((req, reply) => reply(propertyReply("x")));
  const c = await connect(srv.url);
  try {
    await assert.rejects(c.property.createProperty({ description: "x".repeat(1100000) }), (e) => e.code === Code.INVALID_ARGUMENT && e.sent === false && e.local);
    assert.equal(srv.requests.length, 0);
  } finally {
    c.close();
    await srv.close();
  }
});

test("a peer that is not REP is refused at the handshake", async () => {
  const srv = await fakeRep(() => {}, { proto: 0x20 });
  await assert.rejects(connect(srv.url, { timeoutMs: 500 }), (e) => e.code === Code.UNAVAILABLE && /peer protocol 0x20/.test(e.message));
  await srv.close();
});

test("close() rejects calls in flight with CANCELLED; abort signal cancels one call", async () => {
  const srv = await fakeRep(() => {});
  const c = await connect(srv.url);
  const ac = new AbortController();
  const p1 = c.property.getProperty({ id: "a" }, { signal: ac.signal });
  const p2 = c.property.getProperty({ id: "b" });
  ac.abort();
  await assert.rejects(p1, (e) => e.code === Code.CANCELLED);
  c.close();
  await assert.rejects(p2, (e) => e.code === Code.CANCELLED);
  await srv.close();
});

test("tls+tcp:// without a CA is refused before dialing", async () => {
  await assert.rejects(connect("tls+tcp://127.0.0.1:1"), /needs a CA/);
});
