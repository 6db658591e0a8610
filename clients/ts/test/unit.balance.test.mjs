// Client-side balancing: the pure decisions (balance.ts) and the client over several
// in-process fake servers: round robin, health checks (NOT_SERVING and unanswered checks
// take an instance out, SERVING brings it back), the retry rule (reads and keyed creates
// resent to another instance after theirs was lost, nothing else), deadlines, and the dns+
// form with an injected resolver (expansion, refresh, a name that does not resolve).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { connect, balance, Code, RpcError, GetPropertyRequestSchema, PropertySchema, HealthCheckResponseSchema, rpc } from "../dist/index.js";
import { fakeRep, fakesOnOnePort } from "./helpers/fake.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const GET = "/property.v1.PropertyService/GetProperty";
const CREATE = "/property.v1.PropertyService/CreateProperty";
const UPDATE = "/property.v1.PropertyService/UpdateProperty";
const DELETE = "/property.v1.PropertyService/DeleteProperty";
const HEALTH = "/grpc.health.v1.Health/Check";
const READS = [
  GET,
  "/property.v1.PropertyService/ListPropertiesByOwner",
  "/property.v1.PropertyService/SearchProperties",
  "/property.v1.EventService/ReadEvents",
  HEALTH,
  "/rpc.v1.Reflection/ListServices",
  "/rpc.v1.Reflection/GetFileDescriptorSet",
];

async function waitFor(pred, what, ms = 5000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A handler by method: "echo" (the payload back), "drop" (close the connection), "never". */
function routes(map = {}) {
  return (req, reply, sock) => {
    const act = map[req.method] ?? "echo";
    if (act === "drop") sock.destroy();
    else if (act === "echo") reply({ code: 0, payload: req.payload, metadata: { "x-request-id": "f" } });
  };
}
const count = (srv, m) => srv.requests.filter((r) => r.method === m).length;
/** A call of `path` that sends a GetPropertyRequest and reads the echo as a Property. */
const call = (c, path, id, opts) => c.unary(path, GetPropertyRequestSchema, PropertySchema, { id }, opts).then((p) => p.id);

async function fakes(n, map) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await fakeRep(routes(map?.[i])));
  return out;
}
async function closeAll(c, srvs) {
  c?.close();
  await Promise.all(srvs.map((s) => s.close()));
}

// ---- pure parts ------------------------------------------------------------------------

test("retry rule: reads and keyed creates only", () => {
  for (const m of READS) {
    assert.equal(balance.retrySafe(m, false), true, m);
    assert.equal(balance.retrySafe(m, true), true, m);
  }
  assert.equal(balance.retrySafe(CREATE, true), true);
  assert.equal(balance.retrySafe(CREATE, false), false);
  for (const m of [UPDATE, DELETE, "/t.T/Echo", "", `${GET}X`, GET.toUpperCase(), `${GET}/`, GET.slice(1)])
    assert.equal(balance.retrySafe(m, true), false, m);
  assert.equal(balance.mayRetry(false, UPDATE, false), true); // never sent: always
  assert.equal(balance.mayRetry(true, UPDATE, true), false);
  assert.equal(balance.mayRetry(true, CREATE, false), false);
  assert.equal(balance.mayRetry(true, CREATE, true), true);
  assert.equal(balance.hasIdempotencyKey({ "idempotency-key": "k" }), true);
  assert.equal(balance.hasIdempotencyKey({ "idempotency-key": "" }), false);
  assert.equal(balance.hasIdempotencyKey({ "Idempotency-Key": "k" }), false);
});

test("retry rule: the method list is the C library's (src/rpc/retry.c, include/nrpc/retry.h)", () => {
  const text = readFileSync(join(here, "..", "..", "..", "src", "rpc", "retry.c"), "utf8");
  const table = /reads\[\]\s*=\s*\{([\s\S]*?)\};/.exec(text);
  assert.ok(table, "no reads[] table in src/rpc/retry.c");
  const cReads = [...table[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]).sort();
  assert.deepEqual(cReads, [...balance.RETRY_SAFE_METHODS].sort());
  assert.ok(text.includes(`"${CREATE}"`));
});

test("rotation: round robin over ready instances, tried ones skipped", () => {
  const states = ["ready", "down", "ready", "connecting", "ready"];
  const none = states.map(() => false);
  const got = [];
  let cur = 0;
  for (let k = 0; k < 6; k++) {
    let i;
    [i, cur] = balance.pick(states, none, cur);
    got.push(i);
  }
  assert.deepEqual(got, [0, 2, 4, 0, 2, 4]);
  assert.deepEqual(balance.pick(["ready", "ready", "ready"], [true, false, true], 0), [1, 2]);
  assert.deepEqual(balance.pick(["ready", "ready"], [true, true], 1), [-1, 1]);
  assert.deepEqual(balance.pick([], [], 0), [-1, 0]);
  assert.deepEqual(balance.pick(["ready", "ready"], [false, false], 7), [1, 0]);
  assert.equal(balance.pending(["down", "connecting"], [false, false]), true);
  assert.equal(balance.pending(["down", "connecting"], [false, true]), false);
  assert.equal(balance.pending(["down", "ready"], [false, false]), false);
});

test("health verdicts and the probe request", () => {
  const reply = (code, status) =>
    toBinary(rpc.ResponseSchema, create(rpc.ResponseSchema, {
      code,
      payload: status === undefined ? new Uint8Array() : toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status })),
    }));
  assert.equal(balance.probeServing(reply(0, 1)), true);
  assert.equal(balance.probeServing(reply(0, 2)), false);
  assert.equal(balance.probeServing(reply(0)), false); // UNKNOWN
  assert.equal(balance.probeServing(reply(12)), true); // no health service: serving
  assert.equal(balance.probeServing(reply(14)), false);
  assert.equal(balance.probeServing(new Uint8Array([0xff, 0xff, 0xff])), false);
  const req = fromBinary(rpc.RequestSchema, balance.probeRequest(1000));
  assert.equal(req.method, HEALTH);
  assert.equal(req.timeoutMs, 1000);
  assert.equal(req.payload.length, 0);
  assert.deepEqual(req.metadata, {});
});

test("dns+ URLs: parsing, address URLs, expansion with an injected resolver, merge", async () => {
  assert.deepEqual(balance.parseDnsUrl("dns+tcp://propertyd:7700"), { raw: "dns+tcp://propertyd:7700", scheme: "tcp", host: "propertyd", port: 7700 });
  assert.equal(balance.parseDnsUrl("dns+tls+tcp://pd.example.org:443").scheme, "tls+tcp");
  assert.equal(balance.parseDnsUrl("tcp://127.0.0.1:7700"), undefined);
  for (const bad of ["dns+tcp://host", "dns+tcp://:7700", "dns+tcp://host:0", "dns+tcp://host:65536", "dns+tcp://host:x", "dns+tcp://[::1]:7700", "dns+tcp://::1:7700", "dns+tcp://host:7700/x", "dns+ipc:///tmp/x"])
    assert.throws(() => balance.parseDnsUrl(bad), /want dns\+tcp/, bad);
  assert.equal(balance.addrUrl("tcp", "10.0.0.1", 7700), "tcp://10.0.0.1:7700");
  assert.equal(balance.addrUrl("tls+tcp", "fd00::1", 7700), "tls+tcp://[fd00::1]:7700");

  const asked = [];
  const resolver = (host, port) => {
    asked.push([host, port]);
    return ["10.0.0.2", "fd00::2", "10.0.0.1", "10.0.0.2", "[fd00::3]"];
  };
  const t = balance.parseDnsUrl("dns+tcp://svc:7700");
  assert.deepEqual(await balance.expand(t, resolver), ["tcp://10.0.0.2:7700", "tcp://[fd00::2]:7700", "tcp://10.0.0.1:7700", "tcp://[fd00::3]:7700"]);
  assert.deepEqual(asked, [["svc", 7700]]);
  assert.deepEqual(await balance.expand(t, async () => []), []);
  await assert.rejects(balance.expand(t, async () => { throw new Error("SERVFAIL"); }), /SERVFAIL/);
  assert.ok((await balance.defaultResolver("localhost")).some((a) => a === "127.0.0.1" || a === "::1"));

  assert.deepEqual(balance.merge(["tcp://a:1", "tcp://b:1"], ["tcp://b:1", "tcp://c:1", "tcp://c:1"]), { keep: [false, true], add: ["tcp://c:1"] });
  assert.deepEqual(balance.merge([], ["x", "x"]), { keep: [], add: ["x"] });
  assert.deepEqual(balance.merge(["x"], []), { keep: [false], add: [] });
});

// ---- the client over fakes -------------------------------------------------------------

test("calls spread over three instances; each is health-checked, without a token", async () => {
  const srvs = await fakes(3);
  const c = await connect(srvs.map((s) => s.url), { token: "tok" });
  try {
    await waitFor(() => c.connectedUrls().length === 3, "three in rotation");
    for (let i = 0; i < 30; i++) await call(c, GET, "x");
    // Round robin gives 10 each; a health check answered late on a loaded machine could take
    // one out for a moment (the rotation test checks the exact order).
    const got = srvs.map((s) => count(s, GET));
    assert.equal(got.reduce((x, y) => x + y, 0), 30);
    assert.ok(got.every((n) => n >= 5), `${got}`);
    await waitFor(() => srvs.every((s) => s.probes >= 3), "periodic health checks");
    assert.deepEqual(c.instances().map((i) => i.state), ["ready", "ready", "ready"]);
  } finally {
    await closeAll(c, srvs);
  }
});

test("NOT_SERVING is out of rotation until SERVING again; an unanswered check takes it out too", async () => {
  const [a, b] = await fakes(2);
  a.health = 2;
  const c = await connect([a.url, b.url]);
  try {
    await waitFor(() => c.instances().every((i) => i.state !== "connecting"), "both verdicts");
    assert.deepEqual(c.connectedUrls(), [b.url]);
    for (let i = 0; i < 10; i++) await call(c, GET, "x");
    assert.deepEqual([count(a, GET), count(b, GET)], [0, 10]);
    a.health = 1;
    await waitFor(() => c.connectedUrls().length === 2, "a back");
    for (let i = 0; i < 10; i++) await call(c, GET, "x");
    assert.ok(count(a, GET) >= 1);
    a.health = "silent";
    await waitFor(() => c.connectedUrls().length === 1, "a out after an unanswered check");
    assert.deepEqual(c.instances().find((i) => i.url === a.url).state, "down");
    assert.equal(a.conns.size, 1); // still connected: out by its health alone
  } finally {
    await closeAll(c, [a, b]);
  }
});

test("every instance NOT_SERVING: connect rejects UNAVAILABLE without waiting for its timeout", async () => {
  const [a, b] = await fakes(2);
  a.health = b.health = 2;
  try {
    const t0 = Date.now();
    await assert.rejects(connect([a.url, b.url], { timeoutMs: 20000 }), (e) => e.code === Code.UNAVAILABLE && /not serving/.test(e.message));
    assert.ok(Date.now() - t0 < 10000);
  } finally {
    await closeAll(undefined, [a, b]);
  }
});

test("a read lost with its instance is resent to another one", async () => {
  const srvs = await fakes(2, [{ [GET]: "drop" }, {}]);
  const [a, b] = srvs;
  const c = await connect([a.url, b.url]);
  try {
    for (let i = 0; i < 6; i++) {
      await waitFor(() => c.connectedUrls().length === 2, "both in rotation");
      assert.equal(await call(c, GET, `q${i}`), `q${i}`);
    }
    assert.equal(count(b, GET), 6);
    assert.ok(count(a, GET) >= 1);
    assert.equal(c.retries, count(a, GET));
  } finally {
    await closeAll(c, srvs);
  }
});

test("a write lost with its instance is not resent (a key does not make Update resendable)", async () => {
  const srvs = await fakes(2, [{ [CREATE]: "drop", [UPDATE]: "drop" }, {}]);
  const [a, b] = srvs;
  const c = await connect([a.url, b.url]);
  try {
    for (const [m, opts] of [[CREATE, {}], [UPDATE, { idempotencyKey: "k" }]]) {
      let failed = 0;
      for (let i = 0; i < 4; i++) {
        await waitFor(() => c.connectedUrls().length === 2, "both in rotation");
        try {
          await call(c, m, "w", opts);
        } catch (e) {
          assert.ok(e instanceof RpcError);
          assert.equal(e.code, Code.UNAVAILABLE);
          assert.equal(e.sent, true);
          assert.match(e.message, /not resent/);
          failed++;
        }
      }
      assert.ok(failed >= 1, m);
      assert.equal(count(a, m) + count(b, m), 4, m); // each sent once
      assert.equal(count(a, m), failed, m);
    }
  } finally {
    await closeAll(c, srvs);
  }
});

test("a CreateProperty with an idempotency key is resent, with its key", async () => {
  const srvs = await fakes(2, [{ [CREATE]: "drop" }, {}]);
  const [a, b] = srvs;
  const c = await connect([a.url, b.url]);
  try {
    for (let i = 0; i < 4; i++) {
      await waitFor(() => c.connectedUrls().length === 2, "both in rotation");
      await call(c, CREATE, "c", { idempotencyKey: "same" });
    }
    assert.equal(count(b, CREATE), 4);
    assert.ok(count(a, CREATE) >= 1);
    assert.ok(b.requests.filter((r) => r.method === CREATE).every((r) => r.metadata["idempotency-key"] === "same"));
  } finally {
    await closeAll(c, srvs);
  }
});

test("a lost read with nowhere else to go: UNAVAILABLE, sent once to each instance", async () => {
  const srvs = await fakes(2, [{ [GET]: "drop" }, { [GET]: "drop" }]);
  const c = await connect(srvs.map((s) => s.url));
  try {
    await waitFor(() => c.connectedUrls().length === 2, "both in rotation");
    await assert.rejects(call(c, GET, "x", { timeoutMs: 3000 }), (e) => e.code === Code.UNAVAILABLE && e.sent && /no other instance/.test(e.message));
    assert.equal(count(srvs[0], GET) + count(srvs[1], GET), 2);
  } finally {
    await closeAll(c, srvs);
  }
});

test("a live instance that does not answer in time gives DEADLINE_EXCEEDED, not a resend", async () => {
  const srvs = await fakes(2, [{ [GET]: "never" }, {}]);
  const c = await connect(srvs.map((s) => s.url));
  try {
    await waitFor(() => c.connectedUrls().length === 2, "both in rotation");
    const codes = [];
    for (let i = 0; i < 2; i++) codes.push(await call(c, GET, "x", { timeoutMs: 300 }).then(() => 0, (e) => e.code));
    assert.deepEqual(codes.sort(), [0, Code.DEADLINE_EXCEEDED]);
    assert.equal(count(srvs[1], GET), 1);
  } finally {
    await closeAll(c, srvs);
  }
});

test("an instance whose connection closes is out at once; a single URL gets no health checks", async () => {
  const [a, b, d] = await fakes(3);
  const c = await connect([a.url, b.url]);
  const one = await connect(d.url);
  try {
    await waitFor(() => c.connectedUrls().length === 2, "both in rotation");
    await a.close();
    await waitFor(() => c.connectedUrls().length === 1, "a out", 1000);
    for (let i = 0; i < 5; i++) await call(c, GET, "x");
    assert.equal(await call(one, GET, "y"), "y");
    await sleep(700);
    assert.equal(d.probes, 0);
    assert.ok(b.probes > 0);
    assert.deepEqual(one.connectedUrls(), [d.url]);
    const checked = await connect(d.url, { healthCheck: true });
    await waitFor(() => d.probes > 0, "a check when asked for");
    checked.close();
  } finally {
    one.close();
    await closeAll(c, [b, d]);
  }
});

test("concurrent reads see no failure while an instance goes away", async () => {
  const srvs = await fakes(3);
  const c = await connect(srvs.map((s) => s.url));
  try {
    await waitFor(() => c.connectedUrls().length === 3, "three in rotation");
    const errors = [];
    let stop = false;
    let n = 0;
    const loops = Array.from({ length: 16 }, async () => {
      while (!stop) {
        try {
          await call(c, GET, "r");
          n++;
        } catch (e) {
          errors.push(e);
        }
      }
    });
    await sleep(200);
    srvs[1].dropAll();
    await srvs[1].close();
    const at = n;
    await sleep(300);
    stop = true;
    await Promise.all(loops);
    assert.deepEqual(errors, []);
    assert.ok(n > at);
    assert.ok(!c.connectedUrls().includes(srvs[1].url));
  } finally {
    await closeAll(c, [srvs[0], srvs[2]]);
  }
});

// ---- dns+ ------------------------------------------------------------------------------

const HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];

test("dns+tcp://: every address is an instance; refresh adds and retires; a failed lookup keeps the set", async () => {
  const srvs = await fakesOnOnePort(HOSTS, routes());
  const port = srvs[0].port;
  let answer = [...HOSTS];
  let lookups = 0;
  const resolver = async (host, p) => {
    assert.deepEqual([host, p], ["pool.propertyd.test", port]);
    lookups++;
    if (answer instanceof Error) throw answer;
    return answer;
  };
  const c = await connect(`dns+tcp://pool.propertyd.test:${port}`, { resolver, dnsRefreshMs: 200 });
  try {
    await waitFor(() => c.connectedUrls().length === 3, "three instances");
    assert.deepEqual(c.instances().map((i) => i.url).sort(), HOSTS.map((h) => `tcp://${h}:${port}`));
    for (let i = 0; i < 30; i++) await call(c, GET, "x");
    assert.ok(srvs.every((s) => count(s, GET) >= 5), `${srvs.map((s) => count(s, GET))}`);

    answer = HOSTS.slice(1);
    await waitFor(() => c.instances().length === 2, "the first address retired");
    await waitFor(() => srvs[0].conns.size === 0, "its connection closed");
    const before = count(srvs[0], GET);
    for (let i = 0; i < 10; i++) await call(c, GET, "x");
    assert.equal(count(srvs[0], GET), before);

    answer = new Error("resolver down");
    const n = lookups;
    await waitFor(() => lookups > n + 1, "more lookups");
    assert.equal(c.connectedUrls().length, 2);
    answer = [...HOSTS];
    await waitFor(() => c.connectedUrls().length === 3, "the address back");
  } finally {
    await closeAll(c, srvs);
  }
});

test("dns+tcp://: a name that does not resolve fails connect with the reason; a real lookup of localhost works", async () => {
  await assert.rejects(
    connect("dns+tcp://nowhere.propertyd.test:7700", { resolver: async () => { throw new Error("no such name"); }, timeoutMs: 5000 }),
    (e) => e.code === Code.UNAVAILABLE && /no such name/.test(e.message),
  );
  await assert.rejects(connect("dns+tls+tcp://pd.test:7700"), /needs a CA/);
  await assert.rejects(connect("dns+tcp://[::1]:7700"), /want dns\+tcp/);
  const srv = await fakeRep(routes());
  const c = await connect(`dns+tcp://localhost:${srv.port}`);
  try {
    assert.equal(await call(c, GET, "lo"), "lo");
    assert.ok(c.instances().some((i) => i.url === `tcp://127.0.0.1:${srv.port}`));
  } finally {
    await closeAll(c, [srv]);
  }
});
