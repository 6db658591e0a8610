// SP sockets over node:net and node:tls: URL parsing, dialing with the SP handshake, and
// a link that redials by itself after a failure.
import * as net from "node:net";
import * as tls from "node:tls";
import { readFileSync } from "node:fs";
import { FrameDecoder, checkHandshake, handshake } from "./framing.js";

export interface TlsOptions {
  /** PEM of the CA(s) that sign the server's certificate, or caFile. Required unless insecureSkipVerify. */
  ca?: string | Buffer;
  caFile?: string;
  /** Client certificate and key (mutual TLS), PEM or files. Both or neither. */
  cert?: string | Buffer;
  certFile?: string;
  key?: string | Buffer;
  keyFile?: string;
  /** Expected server name (SNI and verification). Without it any certificate signed by the CA is accepted. */
  serverName?: string;
  /** Dial without verifying the server (development only). */
  insecureSkipVerify?: boolean;
}

export interface SpUrl {
  raw: string;
  scheme: "tcp" | "tls+tcp" | "ipc";
  host: string;
  port: number;
  path: string;
}

/** Parses tcp://host:port, tls+tcp://host:port ([v6] hosts in brackets) and ipc:///path. */
export function parseUrl(raw: string): SpUrl {
  const m = /^(tcp|tls\+tcp|ipc):\/\/(.*)$/.exec(raw);
  if (!m) throw new Error(`unsupported URL ${JSON.stringify(raw)}: want tcp://, tls+tcp:// or ipc://`);
  const scheme = m[1] as SpUrl["scheme"];
  if (scheme === "ipc") {
    if (!m[2]) throw new Error(`${raw}: ipc:// needs a path`);
    return { raw, scheme, host: "", port: 0, path: m[2] };
  }
  const hp = /^(?:\[([^\]]+)\]|([^:/\[\]]+)):(\d{1,5})$/.exec(m[2]);
  if (!hp) throw new Error(`${raw}: want ${scheme}://host:port`);
  const port = Number(hp[3]);
  if (port < 1 || port > 65535) throw new Error(`${raw}: port out of range`);
  return { raw, scheme, host: hp[1] ?? hp[2], port, path: "" };
}

function pem(v: string | Buffer | undefined, file: string | undefined): string | Buffer | undefined {
  if (v !== undefined) return v;
  if (file !== undefined) return readFileSync(file);
  return undefined;
}

/** Checks TLS settings before anything is sent (docs/contract.md §3.5). Throws on a missing CA. */
export function checkTls(url: SpUrl, opts: TlsOptions | undefined): void {
  if (url.scheme !== "tls+tcp") return;
  if (!opts || (!opts.insecureSkipVerify && opts.ca === undefined && opts.caFile === undefined))
    throw new Error(`${url.raw}: tls+tcp:// needs a CA to verify the server (tls.ca or tls.caFile); set tls.insecureSkipVerify to skip verification`);
  const hasCert = opts.cert !== undefined || opts.certFile !== undefined;
  const hasKey = opts.key !== undefined || opts.keyFile !== undefined;
  if (hasCert !== hasKey) throw new Error("tls: a client certificate needs its key and the other way round (both or neither)");
}

let warnedInsecure = false;

/** Plain connected socket (after TLS, before the SP handshake). */
function rawConnect(url: SpUrl, tlsOpts: TlsOptions | undefined): net.Socket {
  if (url.scheme === "ipc") return net.connect({ path: url.path });
  if (url.scheme === "tcp") return net.connect({ host: url.host, port: url.port, noDelay: true });
  const o = tlsOpts ?? {};
  if (o.insecureSkipVerify && !warnedInsecure) {
    warnedInsecure = true;
    process.emitWarning("propertyd client: dialing tls+tcp:// without verifying the server (insecureSkipVerify)");
  }
  const options: tls.ConnectionOptions = {
    host: url.host,
    port: url.port,
    ca: pem(o.ca, o.caFile),
    cert: pem(o.cert, o.certFile),
    key: pem(o.key, o.keyFile),
    rejectUnauthorized: !o.insecureSkipVerify,
    minVersion: "TLSv1.2",
  };
  if (o.serverName) {
    options.servername = o.serverName;
    const name = o.serverName;
    options.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(name, cert);
  } else {
    if (!net.isIP(url.host)) options.servername = url.host; // SNI only; the name is not checked
    options.checkServerIdentity = () => undefined;
  }
  const s = tls.connect(options);
  s.setNoDelay(true);
  return s;
}

export interface SpSocket {
  readonly socket: net.Socket;
  readonly ipc: boolean;
  /** Writes one framed message. */
  write(buf: Buffer): void;
  close(): void;
}

/**
 * Dials url, exchanges the SP handshake (we are `ours`, the peer must be `peer`) and then
 * hands every message to onMessage. onClose is called once, when the connection ends
 * after a successful dial. Rejects when the dial or handshake fails or takes longer than
 * timeoutMs.
 */
export function dialSp(
  url: SpUrl,
  ours: number,
  peer: number,
  tlsOpts: TlsOptions | undefined,
  timeoutMs: number,
  maxMessage: number,
  onMessage: (msg: Buffer) => void,
  onClose: (err: Error | undefined) => void,
): Promise<SpSocket> {
  return new Promise((resolve, reject) => {
    const ipc = url.scheme === "ipc";
    let s: net.Socket;
    try {
      s = rawConnect(url, tlsOpts);
    } catch (e) {
      reject(e);
      return;
    }
    let phase: "dial" | "open" | "closed" = "dial";
    let hs = Buffer.alloc(0);
    let lastErr: Error | undefined;
    const timer = setTimeout(() => fail(new Error(`${url.raw}: dial timed out after ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      if (phase !== "dial") return;
      phase = "closed";
      clearTimeout(timer);
      s.destroy();
      reject(err);
    };
    const decoder = new FrameDecoder(
      onMessage,
      (err) => {
        lastErr = err;
        s.destroy();
      },
      maxMessage,
      ipc,
    );
    const api: SpSocket = {
      socket: s,
      ipc,
      write: (buf) => {
        s.write(buf);
      },
      close: () => {
        s.destroy();
      },
    };
    s.on(url.scheme === "tls+tcp" ? "secureConnect" : "connect", () => {
      s.write(handshake(ours));
    });
    s.on("data", (chunk: Buffer) => {
      if (phase === "open") {
        decoder.push(chunk);
        return;
      }
      if (phase !== "dial") return;
      hs = Buffer.concat([hs, chunk]);
      if (hs.length < 8) return;
      const bad = checkHandshake(hs.subarray(0, 8), peer);
      if (bad) return fail(new Error(`${url.raw}: ${bad}`));
      phase = "open";
      clearTimeout(timer);
      resolve(api);
      if (hs.length > 8) decoder.push(hs.subarray(8));
    });
    s.on("error", (err) => {
      lastErr = err;
      fail(new Error(`${url.raw}: ${err.message}`));
    });
    s.on("close", () => {
      if (phase === "dial") {
        fail(lastErr ? new Error(`${url.raw}: ${lastErr.message}`) : new Error(`${url.raw}: connection closed during the handshake`));
        return;
      }
      if (phase === "open") {
        phase = "closed";
        onClose(lastErr);
      }
    });
  });
}

export interface LinkEvents {
  onUp(sock: SpSocket): void;
  onMessage(msg: Buffer): void;
  onDown(err: Error | undefined): void;
  onDialFailed?(err: Error): void;
}

/**
 * One URL kept connected: dials, and after a failure or a lost connection dials again
 * after a backoff (100 ms doubling up to 2 s, back to 100 ms after a success).
 */
export class SpLink {
  sock: SpSocket | undefined;
  state: "idle" | "dialing" | "up" | "backoff" | "closed" = "idle";
  lastError: Error | undefined;
  private backoff = 100;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly url: SpUrl,
    private readonly ours: number,
    private readonly peer: number,
    private readonly tlsOpts: TlsOptions | undefined,
    private readonly dialTimeoutMs: number,
    private readonly maxMessage: number,
    private readonly ev: LinkEvents,
  ) {}

  start(): void {
    if (this.state === "idle" || this.state === "backoff") this.dial();
  }

  /** Dials at once when waiting in backoff. */
  kick(): void {
    if (this.state === "backoff") {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.dial();
    }
  }

  private dial(): void {
    this.state = "dialing";
    dialSp(
      this.url,
      this.ours,
      this.peer,
      this.tlsOpts,
      this.dialTimeoutMs,
      this.maxMessage,
      (m) => this.ev.onMessage(m),
      (err) => this.down(err),
    ).then(
      (sock) => {
        if (this.state === "closed") {
          sock.close();
          return;
        }
        this.sock = sock;
        this.state = "up";
        this.backoff = 100;
        this.lastError = undefined;
        this.ev.onUp(sock);
      },
      (err: Error) => {
        if (this.state === "closed") return;
        this.lastError = err;
        this.ev.onDialFailed?.(err);
        this.retryLater();
      },
    );
  }

  private down(err: Error | undefined): void {
    this.sock = undefined;
    if (this.state === "closed") return;
    this.lastError = err ?? new Error(`${this.url.raw}: connection closed by the peer`);
    this.ev.onDown(err);
    this.retryLater();
  }

  private retryLater(): void {
    this.state = "backoff";
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 2000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.state === "backoff") this.dial();
    }, wait);
    this.timer.unref();
  }

  close(): void {
    this.state = "closed";
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sock?.close();
    this.sock = undefined;
  }
}
