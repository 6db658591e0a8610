#!/usr/bin/env node
// GetProperty throughput and latency through this client: C calls in flight at once on
// one client (one connection per URL), for a duration, over KEYS properties created first.
//
//   AUTH_SECRET=... node bench/get.mjs --url tcp://127.0.0.1:7700 -c 16 -d 10 [--keys 1000] [--warmup 2]
//
// Prints one line: calls/s, p50, p99, p99.9 (microseconds), errors.
import { connect, mintToken } from "../dist/index.js";

const args = process.argv.slice(2);
const opt = (names, def) => {
  for (const n of names) {
    const i = args.indexOf(n);
    if (i >= 0) return args[i + 1];
  }
  return def;
};
const url = opt(["--url", "-u"], process.env.RPC_URL || "tcp://127.0.0.1:7700");
const conc = Number(opt(["-c"], "1"));
const durS = Number(opt(["-d"], "10"));
const warmS = Number(opt(["--warmup"], "2"));
const nkeys = Number(opt(["--keys"], "1000"));
const secret = process.env.AUTH_SECRET;
if (!secret) {
  console.error("bench/get.mjs: set AUTH_SECRET");
  process.exit(2);
}

const client = await connect(url.split(","), { token: mintToken(secret, "ts-bench", 3600), timeoutMs: 10000 });
const ids = [];
for (let i = 0; i < nkeys; i += 50) {
  const batch = await Promise.all(
    Array.from({ length: Math.min(50, nkeys - i) }, (_, k) =>
      client.property.createProperty(
        { title: `bench ${i + k}`, location: { city: "Bench", countryCode: "BE" }, currency: "EUR", priceCents: BigInt(i + k) },
        { idempotencyKey: `ts-bench-${nkeys}-${i + k}` },
      ),
    ),
  );
  ids.push(...batch.map((p) => p.id));
}

async function phase(seconds, record) {
  const lat = [];
  let errors = 0;
  let calls = 0;
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const worker = async () => {
    while (process.hrtime.bigint() < end) {
      const id = ids[(Math.random() * ids.length) | 0];
      const t0 = process.hrtime.bigint();
      try {
        await client.property.getProperty({ id });
        calls++;
        if (record) lat.push(Number(process.hrtime.bigint() - t0) / 1000);
      } catch {
        errors++;
      }
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: conc }, worker));
  const took = Number(process.hrtime.bigint() - t0) / 1e9;
  return { lat, errors, calls, took };
}

if (warmS > 0) await phase(warmS, false);
const r = await phase(durS, true);
r.lat.sort((a, b) => a - b);
const q = (p) => r.lat[Math.min(r.lat.length - 1, Math.floor(p * r.lat.length))] ?? NaN;
console.log(
  `ts-client GetProperty c=${conc} keys=${ids.length} ${durS}s: ${(r.calls / r.took).toFixed(0)} calls/s` +
    `  p50 ${q(0.5).toFixed(0)} us  p99 ${q(0.99).toFixed(0)} us  p99.9 ${q(0.999).toFixed(0)} us  errors ${r.errors}`,
);
client.close();
