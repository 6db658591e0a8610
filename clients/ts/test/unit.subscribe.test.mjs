// The subscriber against a fake PUB server and a fake ReadEvents server: a gap in the live
// stream is filled from the log, duplicates are dropped, the prefix filters.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { connect, subscribe, frame, handshake, Protocol, EventSchema, ReadEventsRequestSchema, ReadEventsResponseSchema } from "../dist/index.js";
import { fakeRep } from "./helpers/fake.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const types = ["property.created", "property.updated", "property.deleted"];
const log = Array.from({ length: 8 }, (_, i) =>
  create(EventSchema, { seq: BigInt(i + 1), type: types[i % 3], aggregateId: `agg-${i + 1}`, id: `ev-${i + 1}` }),
);
const liveMsg = (ev) => frame(Buffer.concat([Buffer.from(ev.type), Buffer.from([0]), Buffer.from(toBinary(EventSchema, ev))]));

function fakePub() {
  const conns = new Set();
  const server = createServer((s) => {
    s.on("error", () => {});
    s.write(handshake(Protocol.PUB));
    s.once("data", () => conns.add(s)); // the SUB's handshake
    s.on("close", () => conns.delete(s));
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `tcp://127.0.0.1:${server.address().port}`,
        conns,
        send(ev) {
          for (const c of conns) c.write(liveMsg(ev));
        },
        close() {
          for (const c of conns) c.destroy();
          return new Promise((r) => server.close(() => r()));
        },
      }),
    ),
  );
}

function readEventsServer(reads) {
  return fakeRep((req, reply) => {
    const r = fromBinary(ReadEventsRequestSchema, req.payload);
    reads.push(r);
    const evs = log.filter((e) => e.seq > r.afterSeq && e.type.startsWith(r.typePrefix)).slice(0, r.limit || 100);
    reply({ code: 0, payload: toBinary(ReadEventsResponseSchema, create(ReadEventsResponseSchema, { events: evs, lastSeq: BigInt(log.length) })) });
  });
}

test("a live gap is read from the log; duplicates are dropped; exactly once in order", async () => {
  const reads = [];
  const rep = await readEventsServer(reads);
  const pub = await fakePub();
  const client = await connect(rep.url);
  const got = [];
  const rereads = [];
  const sub = subscribe({ eventsUrls: pub.url, client, afterSeq: 0, silenceMs: 60000, onReread: (a, b) => rereads.push([a, b]) });
  // The log holds 1..8 but starts "empty" for the catch-up: the fake answers from `log`,
  // so trim it to 2 events for the first read.
  const full = log.splice(2);
  const done = (async () => {
    for await (const ev of sub) {
      got.push(ev.seq);
      if (ev.seq === 8n) break;
    }
  })();
  for (let i = 0; i < 100 && (pub.conns.size === 0 || got.length < 2); i++) await sleep(10);
  assert.deepEqual(got, [1n, 2n]);
  log.push(...full);
  pub.send(log[1]); // duplicate of 2
  pub.send(log[2]); // 3, live
  pub.send(log[5]); // 6: 4 and 5 missing -> read from the log
  pub.send(log[5]); // duplicate
  pub.send(log[6]); // 7
  pub.send(log[7]); // 8
  await done;
  assert.deepEqual(got, [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
  assert.ok(sub.stats.duplicates >= 2, `duplicates ${sub.stats.duplicates}`);
  assert.deepEqual(rereads.map(([a, b]) => [a, b]), [[1n, 2n], [4n, 5n]]);
  assert.equal(reads[1].afterSeq, 3n);
  client.close();
  await pub.close();
  await rep.close();
});

test("a type prefix: other types are skipped, matching ones come once", async () => {
  const reads = [];
  const rep = await readEventsServer(reads);
  const pub = await fakePub();
  const client = await connect(rep.url);
  const got = [];
  const sub = subscribe({ eventsUrls: pub.url, client, afterSeq: 0, typePrefix: "property.updated", silenceMs: 60000 });
  for await (const ev of sub) {
    assert.equal(ev.type, "property.updated");
    got.push(ev.seq);
    if (ev.seq === 8n) break;
  }
  assert.deepEqual(got, [2n, 5n, 8n]);
  assert.equal(reads[0].typePrefix, "property.updated");
  assert.equal(sub.position(), 8n);
  client.close();
  await pub.close();
  await rep.close();
});
