import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mintToken, decodeTokenClaims } from "../dist/index.js";

const SECRET = "0123456789abcdef0123456789abcdef";

test("mintToken: HS256 compact JWT, unpadded base64url, verifiable signature", () => {
  const t = mintToken(SECRET, "alice", 600, { now: 1700000000 });
  const parts = t.split(".");
  assert.equal(parts.length, 3);
  for (const p of parts) assert.match(p, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(JSON.parse(Buffer.from(parts[0], "base64url").toString()), { alg: "HS256", typ: "JWT" });
  assert.deepEqual(decodeTokenClaims(t), { sub: "alice", iat: 1700000000, exp: 1700000600 });
  const sig = createHmac("sha256", SECRET).update(`${parts[0]}.${parts[1]}`).digest("base64url");
  assert.equal(parts[2], sig);
});

test("mintToken: a known vector", () => {
  // Header and claims are fixed JSON (claims in key order), so the token is deterministic.
  const t = mintToken(SECRET, "bob", 60, { now: 1000 });
  assert.equal(
    t.split(".").slice(0, 2).join("."),
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwNjAsImlhdCI6MTAwMCwic3ViIjoiYm9iIn0",
  );
});

test("mintToken: default ttl is one hour; nbf when asked", () => {
  const now = Math.floor(Date.now() / 1000);
  const c = decodeTokenClaims(mintToken(SECRET, "x"));
  assert.ok(c.exp - c.iat === 3600 && Math.abs(c.iat - now) <= 2);
  assert.equal(decodeTokenClaims(mintToken(SECRET, "x", 10, { notBefore: 5 })).nbf, 5);
});

test("mintToken: refuses a short secret, an empty or long sub", () => {
  assert.throws(() => mintToken("short", "a"), /at least 32/);
  assert.throws(() => mintToken(SECRET, ""), /non-empty/);
  assert.throws(() => mintToken(SECRET, "x".repeat(257)), /256/);
  assert.ok(mintToken(Buffer.alloc(32, 1), "a")); // bytes are accepted
});
