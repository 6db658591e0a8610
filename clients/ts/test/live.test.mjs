// Live tests against a real propertyd started on free loopback ports (see
// helpers/propertyd.mjs). Skipped when PD_BIN_DIR, DATABASE_URL or REDIS_URL is missing,
// unless PD_REQUIRE_LIVE=1 (as run-tests.sh sets), which makes that a failure.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { connect, mintToken, subscribe, Code, RpcError, PropertyStatus, HealthCheckResponse_ServingStatus } from "../dist/index.js";
import { Propertyd, SECRET, liveSkip, freePort } from "./helpers/propertyd.mjs";

const skip = liveSkip();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = randomUUID().slice(0, 8);
const ALICE = `alice-${run}`;
const BOB = `bob-${run}`;

function newProperty(i = 0, over = {}) {
  return {
    title: `Flat ${i}`,
    description: "two rooms",
    location: { address: `${i} Rue X`, city: "Lyon", countryCode: "FR", latitude: 45.76, longitude: 4.83 },
    priceCents: BigInt(100000 + i),
    currency: "EUR",
    bedrooms: 2,
    ...over,
  };
}

/** The rejection's RpcError, checked for its code. */
async function rejectsWith(promise, code) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof RpcError, `not an RpcError: ${e}`);
    assert.equal(e.code, code, `${e}`);
    return e;
  }
  assert.fail(`resolved, expected code ${code}`);
}

describe("live propertyd", { skip, timeout: 180000 }, () => {
  let pd;
  let client;
  let bobClient;

  before(async () => {
    pd = await new Propertyd().start();
    client = await connect(pd.rpcUrl, { token: mintToken(SECRET, ALICE, 3600) });
    bobClient = await connect(pd.rpcUrl, { token: mintToken(SECRET, BOB, 3600) });
  });
  after(async () => {
    client?.close();
    bobClient?.close();
    await pd?.stop();
  });

  test("health: SERVING without a token; unknown service NOT_FOUND", async () => {
    const anon = await connect(pd.rpcUrl);
    try {
      assert.equal((await anon.health.check({})).status, HealthCheckResponse_ServingStatus.SERVING);
      assert.equal((await anon.health.check({ service: "property.v1.PropertyService" })).status, 1);
      const e = await rejectsWith(anon.health.check({ service: "nope" }), Code.NOT_FOUND);
      assert.ok(e.requestId.length > 0);
    } finally {
      anon.close();
    }
  });

  test("CRUD", async () => {
    const created = await client.property.createProperty(newProperty(1));
    assert.match(created.id, /^[0-9a-f-]{36}$/);
    assert.equal(created.ownerId, ALICE);
    assert.equal(created.version, 1n);
    assert.equal(created.status, PropertyStatus.DRAFT);
    assert.equal(created.priceCents, 100001n);
    assert.equal(typeof created.createdAtUs, "bigint");

    const got = await client.property.getProperty({ id: created.id.toUpperCase() });
    assert.equal(got.id, created.id);
    assert.equal(got.location.city, "Lyon");

    const upd = await client.property.updateProperty({
      id: created.id,
      expectedVersion: 1n,
      property: { title: "Renamed", priceCents: 5n, status: PropertyStatus.LISTED },
      updateMask: ["title", "price_cents", "status"],
    });
    assert.equal(upd.version, 2n);
    assert.equal(upd.title, "Renamed");
    assert.equal(upd.priceCents, 5n);
    assert.equal(upd.description, "two rooms");
    assert.ok(upd.updatedAtUs >= upd.createdAtUs);

    const e = await rejectsWith(client.property.updateProperty({ id: created.id, expectedVersion: 1n, property: { title: "x" }, updateMask: ["title"] }), Code.ABORTED);
    assert.match(e.message, /version mismatch/);
    await rejectsWith(bobClient.property.deleteProperty({ id: created.id }), Code.PERMISSION_DENIED);

    await client.property.deleteProperty({ id: created.id, expectedVersion: 2n });
    await rejectsWith(client.property.getProperty({ id: created.id }), Code.NOT_FOUND);
    await rejectsWith(client.property.deleteProperty({ id: created.id }), Code.NOT_FOUND);
  });

  test("INVALID_ARGUMENT with field violations", async () => {
    const e = await rejectsWith(
      client.property.createProperty({ title: "", location: { city: "", countryCode: "fr", latitude: 91 }, currency: "eu", priceCents: -1n }),
      Code.INVALID_ARGUMENT,
    );
    assert.equal(e.codeName, "INVALID_ARGUMENT");
    assert.match(e.message, /invalid fields/);
    const fields = e.violations.map((v) => v.field).sort();
    assert.deepEqual(fields, ["currency", "location.city", "location.country_code", "location.latitude", "price_cents", "title"]);
    for (const v of e.violations) assert.ok(v.description.length > 0);
    assert.match(e.requestId, /^[0-9a-f-]{36}$/);
    assert.equal(e.local, false);

    const one = await rejectsWith(client.property.getProperty({ id: "not-a-uuid" }), Code.INVALID_ARGUMENT);
    assert.deepEqual(one.violations.map((v) => v.field), ["id"]);
    assert.match(one.message, /^invalid argument: id: /);

    const mask = await rejectsWith(
      client.property.updateProperty({ id: randomUUID(), property: { title: "t" }, updateMask: ["owner_id"] }),
      Code.INVALID_ARGUMENT,
    );
    assert.deepEqual(mask.violations.map((v) => v.field), ["update_mask"]);
  });

  test("NOT_FOUND carries the message and the request id sent", async () => {
    const id = randomUUID();
    const e = await rejectsWith(client.property.getProperty({ id }, { requestId: `ts-${run}` }), Code.NOT_FOUND);
    assert.match(e.message, new RegExp(`property ${id} not found`));
    assert.equal(e.requestId, `ts-${run}`);
    assert.equal(e.violations.length, 0);
  });

  test("UNAUTHENTICATED: no token, wrong secret, expired token", async () => {
    const anon = await connect(pd.rpcUrl);
    const forged = await connect(pd.rpcUrl, { token: mintToken("another-secret-of-at-least-32-bytes!!", ALICE) });
    const expired = await connect(pd.rpcUrl, { token: mintToken(SECRET, ALICE, -60) });
    try {
      const a = await rejectsWith(anon.property.getProperty({ id: randomUUID() }), Code.UNAUTHENTICATED);
      assert.match(a.message, /missing bearer token/);
      assert.equal(a.codeName, "UNAUTHENTICATED");
      const b = await rejectsWith(forged.property.getProperty({ id: randomUUID() }), Code.UNAUTHENTICATED);
      assert.match(b.message, /signature/);
      const c = await rejectsWith(expired.events.readEvents({}), Code.UNAUTHENTICATED);
      assert.match(c.message, /expired/);
      await rejectsWith(client.property.createProperty(newProperty(0, { ownerId: BOB })), Code.PERMISSION_DENIED);
    } finally {
      anon.close();
      forged.close();
      expired.close();
    }
  });

  test("deadline: enforced locally while the server is stalled; the late reply is dropped", async () => {
    const p = await client.property.createProperty(newProperty(2));
    await pd.pause();
    let e;
    try {
      const t0 = Date.now();
      e = await rejectsWith(client.property.getProperty({ id: p.id }, { timeoutMs: 300 }), Code.DEADLINE_EXCEEDED);
      const took = Date.now() - t0;
      assert.ok(took >= 290 && took < 1500, `took ${took} ms`);
    } finally {
      pd.resume();
    }
    assert.equal(e.codeName, "DEADLINE_EXCEEDED");
    assert.equal(e.local, true);
    assert.ok(e.requestId);
    // The stalled request is answered after SIGCONT; that reply must not confuse later calls.
    for (let i = 0; i < 5; i++) assert.equal((await client.property.getProperty({ id: p.id })).id, p.id);
  });

  test("paging: ListPropertiesByOwner and SearchProperties walk every row once", async () => {
    const owner = `pager-${run}`;
    const pc = await connect(pd.rpcUrl, { token: mintToken(SECRET, owner) });
    try {
      const ids = [];
      for (let i = 0; i < 7; i++) ids.push((await pc.property.createProperty(newProperty(i, { location: { city: `Pagetown${run}`, countryCode: "DE" } }))).id);
      const seen = [];
      let token = "";
      let pages = 0;
      do {
        const r = await pc.property.listPropertiesByOwner({ ownerId: owner, pageSize: 3, pageToken: token });
        assert.ok(r.properties.length <= 3);
        seen.push(...r.properties.map((p) => p.id));
        token = r.nextPageToken;
        pages++;
      } while (token !== "");
      assert.equal(pages, 3);
      assert.deepEqual(seen, [...ids].reverse()); // newest first
      const first = await pc.property.listPropertiesByOwner({ ownerId: owner, pageSize: 3 });
      const e = await rejectsWith(pc.property.listPropertiesByOwner({ ownerId: ALICE, pageSize: 3, pageToken: first.nextPageToken }), Code.INVALID_ARGUMENT);
      assert.deepEqual(e.violations.map((v) => v.field), ["page_token"]);

      const found = [];
      token = "";
      do {
        const r = await pc.property.searchProperties({ city: `pagetown${run}`, countryCode: "DE", minPriceCents: 100002n, pageSize: 2, pageToken: token });
        found.push(...r.properties);
        token = r.nextPageToken;
      } while (token !== "");
      assert.deepEqual(found.map((p) => p.priceCents), [100002n, 100003n, 100004n, 100005n, 100006n]);
    } finally {
      pc.close();
    }
  });

  test("idempotent retry of CreateProperty", async () => {
    const key = `key-${randomUUID()}`;
    const a = await client.property.createProperty(newProperty(3), { idempotencyKey: key });
    const b = await client.property.createProperty(newProperty(3), { idempotencyKey: key });
    assert.equal(b.id, a.id);
    assert.equal(b.version, 1n);
    const e = await rejectsWith(client.property.createProperty(newProperty(4), { idempotencyKey: key }), Code.ALREADY_EXISTS);
    assert.match(e.message, /idempotency key/);
    const c = await bobClient.property.createProperty(newProperty(3), { idempotencyKey: key }); // scoped per owner
    assert.notEqual(c.id, a.id);
  });

  test("concurrent calls on one client", async () => {
    const p = await client.property.createProperty(newProperty(5));
    const all = await Promise.all(Array.from({ length: 48 }, () => client.property.getProperty({ id: p.id })));
    assert.ok(all.every((x) => x.id === p.id));
  });

  test("several URLs: a dead one is skipped", async () => {
    const deadPort = await freePort([pd.rpcPort]);
    const c = await connect([`tcp://127.0.0.1:${deadPort}`, pd.rpcUrl], { token: mintToken(SECRET, ALICE) });
    try {
      for (let i = 0; i < 10; i++) assert.equal((await c.health.check({})).status, 1);
      assert.deepEqual(c.connectedUrls(), [pd.rpcUrl]);
    } finally {
      c.close();
    }
  });

  test("events: subscribe from seq 0 after events were published; the gap is read from the log, then live", async () => {
    // Events of this test, all published before the subscription starts.
    const mine = await client.property.createProperty(newProperty(6));
    await client.property.updateProperty({ id: mine.id, property: { title: "Changed" }, updateMask: ["title"] });
    await client.property.deleteProperty({ id: mine.id });
    let lastSeq = 0n;
    for (let i = 0; i < 100; i++) {
      // Wait until the relay numbered our delete.
      const r = await client.events.readEvents({ afterSeq: 0n, limit: 1000, typePrefix: "property.deleted" });
      lastSeq = r.lastSeq;
      let after = 0n;
      let found = false;
      for (let page = r; ; ) {
        if (page.events.some((e) => e.aggregateId === mine.id)) found = true;
        if (found || page.events.length === 0) break;
        after = page.events[page.events.length - 1].seq;
        page = await client.events.readEvents({ afterSeq: after, limit: 1000, typePrefix: "property.deleted" });
      }
      if (found) break;
      await sleep(100);
    }
    assert.ok(lastSeq >= 3n);

    const rereads = [];
    const sub = subscribe({ eventsUrls: [pd.eventsUrl], client, afterSeq: 0, onReread: (a, b) => rereads.push([a, b]) });
    let prev = 0n;
    const types = new Map();
    let liveId;
    const deadline = Date.now() + 30000;
    for await (const ev of sub) {
      assert.equal(ev.seq, prev + 1n, `seq ${ev.seq} after ${prev}`);
      prev = ev.seq;
      if (ev.aggregateId === mine.id) types.set(ev.type, ev.seq);
      if (ev.seq === lastSeq && liveId === undefined) {
        // Caught up with the log: one more write, which must come too (live or read).
        liveId = (await client.property.createProperty(newProperty(7))).id;
      }
      if (liveId !== undefined && ev.aggregateId === liveId) break;
      assert.ok(Date.now() < deadline, "subscription too slow");
    }
    assert.deepEqual([...types.keys()], ["property.created", "property.updated", "property.deleted"]);
    assert.ok(types.get("property.created") < types.get("property.updated"));
    assert.ok(sub.stats.reread >= Number(lastSeq), `reread ${sub.stats.reread}`);
    assert.ok(rereads.length > 0 && rereads[0][0] === 1n);
    assert.equal(sub.stats.delivered, Number(prev));
    assert.equal(sub.position(), prev);

    // A narrower prefix: only deletes, in seq order, ours among them.
    const del = subscribe({ eventsUrls: pd.eventsUrl, client, afterSeq: 0, typePrefix: "property.deleted" });
    let p2 = 0n;
    for await (const ev of del) {
      assert.equal(ev.type, "property.deleted");
      assert.ok(ev.seq > p2);
      p2 = ev.seq;
      if (ev.aggregateId === mine.id) break;
    }
    assert.equal(p2, types.get("property.deleted"));
  });

  test("events: live delivery from now", async () => {
    const sub = subscribe({ eventsUrls: pd.eventsUrl, client, typePrefix: "property.created" });
    const it = sub[Symbol.asyncIterator]();
    const first = it.next();
    // Wait until the position is located (the newest seq when the subscription started).
    for (let i = 0; i < 200 && sub.position() === undefined; i++) await sleep(50);
    assert.notEqual(sub.position(), undefined);
    await sleep(200); // and the SUB connection is up (else the event comes from the log)
    const p = await client.property.createProperty(newProperty(8));
    const t0 = Date.now();
    let got;
    for (let r = await first; !r.done; r = await it.next()) {
      if (r.value.aggregateId === p.id) {
        got = r.value;
        break;
      }
    }
    await it.return();
    assert.equal(got.type, "property.created");
    assert.equal(got.property.id, p.id);
    assert.ok(Date.now() - t0 < 5000);
  });

  test("reconnect: calls fail while the server is down and succeed after it is back", async () => {
    const c = await connect(pd.rpcUrl, { token: mintToken(SECRET, ALICE) });
    try {
      assert.equal((await c.health.check({})).status, 1);
      await pd.stop();
      const e = await rejectsWith(c.health.check({}, { timeoutMs: 500 }), Code.UNAVAILABLE);
      assert.equal(e.sent, false);
      await pd.start({ keepPorts: true });
      assert.equal((await c.health.check({}, { timeoutMs: 5000 })).status, 1);
      const p = await c.property.createProperty(newProperty(9));
      assert.equal((await c.property.getProperty({ id: p.id })).id, p.id);
    } finally {
      c.close();
    }
  });
});
