// Starts a real propertyd for the live tests, as the C harness does: AUTH_SECRET, RPC_URL,
// EVENTS_URL and HTTP_ADDR on free loopback ports in 20000-32000, DATABASE_URL and
// REDIS_URL from the environment, then waits for Health SERVING.
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, closeSync, readFileSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "../../dist/index.js";

export const SECRET = "ts-client-test-secret-2b9e41c07d5f-a81c";

/** Why live tests cannot run here, or null. */
export function liveMissing() {
  const miss = [];
  if (!process.env.PD_BIN_DIR) miss.push("PD_BIN_DIR");
  if (!process.env.DATABASE_URL) miss.push("DATABASE_URL");
  if (!process.env.REDIS_URL) miss.push("REDIS_URL");
  if (miss.length) return `live tests need ${miss.join(", ")} in the environment`;
  const bin = join(process.env.PD_BIN_DIR, "propertyd");
  if (!existsSync(bin)) return `no propertyd binary at ${bin}`;
  return null;
}

/** Options for node:test: skip when live tests cannot run, unless PD_REQUIRE_LIVE=1. */
export function liveSkip() {
  const why = liveMissing();
  if (why && process.env.PD_REQUIRE_LIVE === "1") throw new Error(`${why} (PD_REQUIRE_LIVE=1)`);
  return why ? why : false;
}

function portFree(port, host = "127.0.0.1") {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A port in 20000-32000 nobody listens on, on every address of `hosts`. */
export async function freePort(avoid = [], hosts = ["127.0.0.1"]) {
  for (let i = 0; i < 200; i++) {
    const p = 20000 + Math.floor(Math.random() * 12000);
    if (avoid.includes(p)) continue;
    let free = true;
    for (const h of hosts) free = free && (await portFree(p, h));
    if (free) return p;
  }
  throw new Error("no free loopback port in 20000-32000");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Propertyd {
  constructor(opts = {}) {
    this.opts = opts;
    this.dir = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "ts-client-pd-"));
    this.logPath = join(this.dir, "propertyd.log");
    this.proc = null;
  }

  /** opts.rpcHost (default 127.0.0.1; the dns+ tests use .2 and .3) and opts.rpcPort (default: a free one). */
  get rpcUrl() {
    return `${this.opts.tlsEnv ? "tls+tcp" : "tcp"}://${this.opts.rpcHost ?? "127.0.0.1"}:${this.rpcPort}`;
  }
  get eventsUrl() {
    return `tcp://127.0.0.1:${this.evPort}`;
  }

  log() {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  /** Starts on fresh ports (or the same ones again with keepPorts), waits for SERVING. */
  async start({ keepPorts = false } = {}) {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!keepPorts || this.rpcPort === undefined) {
        this.rpcPort = this.opts.rpcPort ?? (await freePort());
        this.evPort = await freePort([this.rpcPort]);
        this.httpPort = await freePort([this.rpcPort, this.evPort]);
      }
      const logfd = openSync(this.logPath, "a");
      const env = {
        ...process.env,
        AUTH_SECRET: SECRET,
        RPC_URL: this.rpcUrl,
        EVENTS_URL: this.eventsUrl,
        HTTP_ADDR: `127.0.0.1:${this.httpPort}`,
        WORKERS: process.env.WORKERS || "4",
        ...(this.opts.tlsEnv || {}),
        ...(this.opts.env || {}),
      };
      this.proc = spawn(join(process.env.PD_BIN_DIR, "propertyd"), [], { env, stdio: ["ignore", logfd, logfd] });
      closeSync(logfd);
      this.exited = new Promise((resolve) => this.proc.once("exit", (code, sig) => resolve(code ?? 128 + (sig ? 9 : 0))));
      this.proc.once("exit", () => (this.proc = null));
      if (await this.waitServing()) return this;
      const inUse = /in use/.test(this.log());
      await this.kill();
      if (!inUse || keepPorts || this.opts.rpcPort) break;
    }
    throw new Error(`propertyd did not start; log ${this.logPath}:\n${this.log().split("\n").slice(-30).join("\n")}`);
  }

  async waitServing(limitMs = 20000) {
    const end = Date.now() + limitMs;
    const tls = this.opts.clientTls;
    while (Date.now() < end) {
      if (!this.proc) return false;
      try {
        const c = await connect(this.rpcUrl, { timeoutMs: 1000, tls });
        try {
          const r = await c.health.check({});
          if (r.status === 1) return true;
        } finally {
          c.close();
        }
      } catch {
        // not yet
      }
      await sleep(100);
    }
    return false;
  }

  /** The instance's /metrics as a Map of 'name{label=value,...}' (labels sorted) to value. */
  async metrics() {
    const res = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`);
    const out = new Map();
    for (const line of (await res.text()).split("\n")) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = [...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => `${x[1]}=${x[2]}`).sort().join(",");
      out.set(`${m[1]}{${labels}}`, Number(m[3]));
    }
    return out;
  }

  /** propertyd_requests_total{method, code} (docs/metrics.md); 0 before the first one. */
  async requestsTotal(method, code = "0") {
    return (await this.metrics()).get(`propertyd_requests_total{code=${code},method=${method}}`) ?? 0;
  }

  /** SIGTERM and wait for the exit (SIGKILL after 20 s). */
  async stop() {
    if (!this.proc) return;
    const p = this.proc;
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 20000);
    await this.exited;
    clearTimeout(t);
  }

  async kill() {
    if (!this.proc) return;
    this.proc.kill("SIGKILL");
    await this.exited;
  }

  /** SIGSTOP, and wait until the kernel reports the process stopped (state T). */
  async pause() {
    if (!this.proc) return;
    const pid = this.proc.pid;
    this.proc.kill("SIGSTOP");
    for (let i = 0; i < 200; i++) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        if (/\) T /.test(stat)) break;
      } catch {
        break; // no /proc: rely on the delay below
      }
      await sleep(5);
    }
    await sleep(20); // let every thread reach the stop
  }
  resume() {
    this.proc?.kill("SIGCONT");
  }
}
