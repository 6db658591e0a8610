// Client-side balancing against three real propertyd instances (helpers/propertyd.mjs).
// They listen on one port of 127.0.0.1, 127.0.0.2 and 127.0.0.3, so that the same three
// are reached through a list of URLs and through a dns+tcp:// name whose (injected)
// resolver answers the three addresses. Checks, on each instance's own /metrics
// (propertyd_requests_total), that calls are spread over all three, and that a loop of reads
// sees no failure while instances are killed with SIGKILL. Skipped like live.test.mjs.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { connect, mintToken, Code, RpcError } from "../dist/index.js";
import { Propertyd, SECRET, liveSkip, freePort } from "./helpers/propertyd.mjs";

const skip = liveSkip();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
const GET = "/property.v1.PropertyService/GetProperty";
const LIST = "/property.v1.PropertyService/ListPropertiesByOwner";

async function waitFor(pred, what, ms = 10000) {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function newProperty() {
  return {
    title: "Balanced",
    description: "spread over three instances",
    location: { address: "1 Main St", city: "Lyon", countryCode: "FR" },
    priceCents: 100000n,
    currency: "EUR",
    bedrooms: 1,
  };
}

describe("balancing over three live propertyd instances", { skip, timeout: 180000 }, () => {
  let pds = [];
  let port = 0;
  let owner;
  let token;

  before(async () => {
    let last;
    for (let attempt = 0; attempt < 3 && pds.length < 3; attempt++) {
      port = await freePort([], HOSTS);
      pds = [];
      try {
        // RELAY=0: the relay is not what is tested, and it keeps the instances light.
        for (const h of HOSTS) pds.push(await new Propertyd({ rpcHost: h, rpcPort: port, env: { RELAY: "0" } }).start());
      } catch (e) {
        last = e;
        await Promise.all(pds.map((p) => p.kill()));
        pds = [];
      }
    }
    if (pds.length < 3) throw last;
    owner = `bal-${randomUUID().slice(0, 8)}`;
    token = mintToken(SECRET, owner, 3600);
  });
  after(async () => {
    for (const pd of pds) await pd.stop();
  });

  /** n GetProperty calls; how many each instance answered, from its metrics. */
  async function spread(c, n) {
    const p = await c.property.createProperty(newProperty());
    await waitFor(() => c.connectedUrls().length === 3, "three instances in rotation");
    const before = await Promise.all(pds.map((pd) => pd.requestsTotal(GET)));
    for (let i = 0; i < n; i++) assert.equal((await c.property.getProperty({ id: p.id })).id, p.id);
    let got = [];
    await waitFor(async () => {
      // A counter may move just after its reply was sent.
      got = (await Promise.all(pds.map((pd) => pd.requestsTotal(GET)))).map((v, i) => v - before[i]);
      return got.reduce((a, b) => a + b, 0) >= n;
    }, "the counters");
    assert.equal(got.reduce((a, b) => a + b, 0), n, `${got}`);
    return got;
  }

  test("a list of URLs: calls are spread over all three", async () => {
    const c = await connect(pds.map((pd) => pd.rpcUrl), { token });
    try {
      const got = await spread(c, 60);
      // Round robin gives 20 each while all three stay in rotation; a health check that a
      // loaded machine answers late may take one out for a moment.
      assert.ok(got.every((n) => n >= 10), `${got}`);
    } finally {
      c.close();
    }
  });

  test("dns+tcp:// expands to every address: calls are spread over all three", async () => {
    const asked = [];
    const resolver = (host, p) => {
      asked.push([host, p]);
      return HOSTS;
    };
    const c = await connect(`dns+tcp://propertyd.test:${port}`, { token, resolver });
    try {
      const got = await spread(c, 60);
      assert.ok(got.every((n) => n >= 10), `${got}`);
      assert.deepEqual(c.instances().map((i) => i.url).sort(), pds.map((pd) => pd.rpcUrl).sort());
      assert.deepEqual(asked[0], ["propertyd.test", port]);
    } finally {
      c.close();
    }
  });

  test("SIGKILL during a loop of reads: no read fails", async () => {
    // Two of the three die: the first while it serves, the second after a SIGSTOP of
    // 0.3 s, so that reads are certainly in flight on it when it dies (they must be resent).
    const c = await connect(pds.map((pd) => pd.rpcUrl), { token, timeoutMs: 5000 });
    try {
      const p = await c.property.createProperty(newProperty());
      await waitFor(() => c.connectedUrls().length === 3, "three instances in rotation");
      const errors = [];
      let stop = false;
      let n = 0;
      const loops = Array.from({ length: 16 }, async (_, i) => {
        while (!stop) {
          try {
            if (i % 2) {
              const r = await c.property.listPropertiesByOwner({ ownerId: owner, pageSize: 5 });
              if (!r.properties.some((x) => x.id === p.id)) throw new Error("wrong listing");
            } else if ((await c.property.getProperty({ id: p.id })).id !== p.id) throw new Error("wrong property");
            n++;
          } catch (e) {
            errors.push(e);
          }
        }
      });
      const served = async (pd) => (await pd.requestsTotal(GET)) + (await pd.requestsTotal(LIST));
      const [last, first, second] = pds;
      let r1 = 0;
      let lastAtKill = 0;
      try {
        await waitFor(async () => (await Promise.all(pds.map(served))).every((v) => v > 0), "all three serving the loop");
        await sleep(500);
        const n0 = n;
        await first.kill(); // SIGKILL while it serves
        await waitFor(() => n > n0 + 200, "reads after the first SIGKILL", 30000);
        assert.ok(!c.connectedUrls().includes(first.rpcUrl));
        const n1 = n;
        r1 = c.retries;
        await second.pause();
        await sleep(300); // reads pile up on it (an unanswered check would take it out after 1 s)
        await second.kill();
        lastAtKill = await served(last);
        await waitFor(() => n > n1 + 200, "reads after the second SIGKILL", 30000);
        await sleep(500);
      } finally {
        stop = true;
        await Promise.all(loops);
      }
      assert.deepEqual(errors.slice(0, 3), []);
      assert.deepEqual(c.connectedUrls(), [last.rpcUrl]);
      assert.deepEqual(
        c.instances().map((x) => `${x.url} ${x.state}`).sort(),
        [`${last.rpcUrl} ready`, `${first.rpcUrl} down`, `${second.rpcUrl} down`].sort(),
      );
      assert.ok((await served(last)) > lastAtKill);
      assert.ok(c.retries - r1 >= 1, "no read was in flight on the stopped instance");
      console.log(`${n} reads; resent after the first SIGKILL: ${r1}, after the second: ${c.retries - r1}; none failed`);
      // Writes, not resendable, still work on the instance left.
      const q = await c.property.createProperty(newProperty());
      assert.equal((await c.property.getProperty({ id: q.id })).title, "Balanced");
      await assert.rejects(c.property.getProperty({ id: "not-a-uuid" }), (e) => e instanceof RpcError && e.code === Code.INVALID_ARGUMENT);
    } finally {
      c.close();
    }
  });
});
