// TLS: a propertyd with a tls+tcp:// RPC URL and a self-signed certificate made with the
// openssl command (skipped when openssl is missing).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, mintToken, Code } from "../dist/index.js";
import { Propertyd, SECRET, liveSkip } from "./helpers/propertyd.mjs";

function haveOpenssl() {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const skip = liveSkip() || (haveOpenssl() ? false : "openssl not found");

describe("live propertyd over TLS", { skip, timeout: 120000 }, () => {
  let pd;
  let dir;
  let ca;

  before(async () => {
    dir = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "ts-client-tls-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
      "-subj", "/CN=propertyd.test",
      "-addext", "subjectAltName=DNS:propertyd.test,IP:127.0.0.1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    ca = readFileSync(join(dir, "cert.pem"));
    pd = await new Propertyd({
      tlsEnv: { TLS_CERT_FILE: join(dir, "cert.pem"), TLS_KEY_FILE: join(dir, "key.pem"), RELAY: "0" },
      clientTls: { ca },
    }).start();
  });
  after(async () => {
    await pd?.stop();
  });

  test("calls over tls+tcp:// verified against the CA", async () => {
    assert.match(pd.rpcUrl, /^tls\+tcp:\/\//);
    const c = await connect(pd.rpcUrl, { token: mintToken(SECRET, "tls-user"), tls: { caFile: join(dir, "cert.pem"), serverName: "propertyd.test" } });
    try {
      assert.equal((await c.health.check({})).status, 1);
      const p = await c.property.createProperty({ title: "Over TLS", location: { city: "Oslo", countryCode: "NO" }, currency: "NOK" });
      assert.equal((await c.property.getProperty({ id: p.id })).title, "Over TLS");
      const e = await c.property.getProperty({ id: "bad" }).catch((x) => x);
      assert.equal(e.code, Code.INVALID_ARGUMENT);
    } finally {
      c.close();
    }
  });

  test("a wrong server name, or an unknown CA, is refused; insecureSkipVerify dials anyway", async () => {
    await assert.rejects(connect(pd.rpcUrl, { tls: { ca, serverName: "other.test" }, timeoutMs: 2000 }), (e) => e.code === Code.UNAVAILABLE);
    const other = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "ts-client-tls-"));
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=x", "-keyout", join(other, "k.pem"), "-out", join(other, "c.pem")], { stdio: "ignore" });
    await assert.rejects(connect(pd.rpcUrl, { tls: { caFile: join(other, "c.pem") }, timeoutMs: 2000 }), (e) => e.code === Code.UNAVAILABLE);
    const c = await connect(pd.rpcUrl, { tls: { insecureSkipVerify: true } });
    try {
      assert.equal((await c.health.check({})).status, 1);
    } finally {
      c.close();
    }
  });

  test("plain tcp:// to the TLS port does not get through", async () => {
    await assert.rejects(connect(pd.rpcUrl.replace("tls+tcp", "tcp"), { timeoutMs: 1500, dialTimeoutMs: 1000 }), (e) => e.code === Code.UNAVAILABLE);
  });
});
