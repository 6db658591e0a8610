// The RPC client: a REQ peer on one or more URLs, calls multiplexed by request id on each
// connection, spread round robin over the connected ones.
import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Protocol, frame, requestId } from "./framing.js";
import { Code, RpcError, decodeResponse, errorFromResponse } from "./errors.js";
import { RequestSchema } from "./gen/rpc/v1/rpc_pb.js";
import { createServiceClients, type ServiceClients } from "./gen/clients.js";
import type { CallOptions, Invoker } from "./invoker.js";
import { SpLink, checkTls, parseUrl, type SpSocket, type TlsOptions } from "./transport.js";

/** The server's default deadline, used when a call names none (docs/contract.md §2.4). */
export const DEFAULT_TIMEOUT_MS = 5000;
/** The server clamps longer deadlines to this. */
export const MAX_TIMEOUT_MS = 300000;
/** The server drops (and closes the connection of) a larger request: refused locally. */
export const MAX_REQUEST_BYTES = 1024 * 1024;
/** Largest reply accepted (as the C client). */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;

export interface ConnectOptions {
  /** Bearer token, or a function giving the token for each call (for rotation). */
  token?: string | (() => string);
  /** Default deadline of a call in ms (default 5000, at most 300000). */
  timeoutMs?: number;
  /** Settings for tls+tcp:// URLs. */
  tls?: TlsOptions;
  /** Limit of one dial (TCP connect, TLS and SP handshake), ms; default 5000. */
  dialTimeoutMs?: number;
  /**
   * How long connect() waits for the first connection, ms (default: timeoutMs). When no
   * URL could be reached by then, connect() rejects with UNAVAILABLE. 0: do not wait
   * (calls wait for a connection up to their deadline).
   */
  connectTimeoutMs?: number;
}

interface Pending {
  resolve(bytes: Buffer): void;
  reject(err: RpcError): void;
}

/** One URL: its link and the calls in flight on the current connection. */
class Endpoint {
  readonly link: SpLink;
  private readonly pending = new Map<number, Pending>();
  private nextId = (Math.random() * 0x7fffffff) >>> 0;

  constructor(
    url: string,
    tlsOpts: TlsOptions | undefined,
    dialTimeoutMs: number,
    owner: Client,
  ) {
    const u = parseUrl(url);
    checkTls(u, tlsOpts);
    this.link = new SpLink(u, Protocol.REQ, Protocol.REP, tlsOpts, dialTimeoutMs, MAX_REPLY_BYTES, {
      onUp: (sock) => {
        if (this.pending.size === 0) sock.socket.unref();
        owner.endpointUp();
      },
      onMessage: (m) => this.onReply(m),
      onDown: (err) => this.failAll(err),
      onDialFailed: () => owner.endpointDialFailed(),
    });
  }

  get url(): string {
    return this.link.url.raw;
  }

  get ready(): boolean {
    return this.link.state === "up";
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends one envelope; returns its request id. The socket must be up. */
  send(envelope: Uint8Array, p: Pending): number {
    const sock = this.link.sock as SpSocket;
    let id: number;
    do {
      this.nextId = (this.nextId + 1) & 0x7fffffff;
      id = requestId(this.nextId);
    } while (this.pending.has(id));
    if (this.pending.size === 0) sock.socket.ref();
    this.pending.set(id, p);
    sock.write(frame(envelope, { id, ipc: sock.ipc }));
    return id;
  }

  /** Forgets a call (deadline or cancel): a late reply is discarded. */
  forget(id: number): void {
    if (this.pending.delete(id) && this.pending.size === 0) this.link.sock?.socket.unref();
  }

  private onReply(m: Buffer): void {
    if (m.length < 4) return; // not a reply to anything
    const id = m.readUInt32BE(0);
    const p = this.pending.get(id);
    if (p === undefined) return; // late or unknown: discard
    this.forget(id);
    p.resolve(m.subarray(4));
  }

  private failAll(err: Error | undefined): void {
    const why = err ? `: ${err.message}` : "";
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const p of calls)
      p.reject(
        new RpcError(
          Code.UNAVAILABLE,
          `connection to ${this.url} lost before the reply${why}; the call may or may not have run (not resent)`,
          { local: true, sent: true },
        ),
      );
  }

  close(): void {
    this.link.close();
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const p of calls) p.reject(new RpcError(Code.CANCELLED, "client closed", { local: true, sent: true }));
  }
}

/** A propertyd client. Create it with connect(). */
export class Client implements Invoker {
  readonly property: ServiceClients["property"];
  readonly events: ServiceClients["events"];
  readonly health: ServiceClients["health"];
  readonly urls: readonly string[];
  private readonly endpoints: Endpoint[];
  private rr = 0;
  private closed = false;
  private waiters = new Set<() => void>();
  private readonly token: ConnectOptions["token"];
  readonly timeoutMs: number;

  constructor(urls: string | string[], opts: ConnectOptions = {}) {
    const list = (Array.isArray(urls) ? urls : urls.split(","))
      .map((u) => u.trim())
      .filter((u) => u !== "");
    if (list.length === 0) throw new Error("connect: no URL");
    this.urls = list;
    this.token = opts.token;
    this.timeoutMs = clampTimeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const dialTimeout = opts.dialTimeoutMs ?? 5000;
    this.endpoints = list.map((u) => new Endpoint(u, opts.tls, dialTimeout, this));
    const s = createServiceClients(this);
    this.property = s.property;
    this.events = s.events;
    this.health = s.health;
  }

  /** Starts dialing every URL. */
  start(): void {
    for (const e of this.endpoints) e.link.start();
  }

  /** The URLs connected now. */
  connectedUrls(): string[] {
    return this.endpoints.filter((e) => e.ready).map((e) => e.url);
  }

  /** @internal */
  endpointUp(): void {
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }

  /** @internal */
  endpointDialFailed(): void {
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }

  /** Resolves when some URL is connected, or rejects at `until` (ms since epoch). */
  async waitReady(until: number, failFast = false): Promise<void> {
    if (!failFast) for (const e of this.endpoints) e.link.kick(); // once, not per failed dial
    for (;;) {
      if (this.closed) throw new RpcError(Code.CANCELLED, "client closed", { local: true, sent: false });
      if (this.endpoints.some((e) => e.ready)) return;
      if (failFast && this.endpoints.every((e) => e.link.state === "backoff")) {
        throw this.noConnection();
      }
      const left = until - Date.now();
      if (left <= 0) throw this.noConnection();
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  private noConnection(): RpcError {
    const why = this.endpoints
      .map((e) => `${e.url}: ${e.link.lastError?.message ?? e.link.state}`)
      .join("; ");
    return new RpcError(Code.UNAVAILABLE, `no connection to propertyd (${why})`, { local: true, sent: false });
  }

  private pick(): Endpoint | undefined {
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      const e = this.endpoints[(this.rr + i) % n];
      if (e.ready) {
        this.rr = (this.rr + i + 1) % n;
        return e;
      }
    }
    return undefined;
  }

  async unary<I extends DescMessage, O extends DescMessage>(
    path: string,
    input: I,
    output: O,
    request: MessageInitShape<I>,
    options: CallOptions = {},
  ): Promise<MessageShape<O>> {
    const timeoutMs = options.timeoutMs === undefined ? this.timeoutMs : clampTimeout(options.timeoutMs);
    const start = Date.now();
    const deadline = start + timeoutMs;
    const rid = options.requestId ?? randomUUID();
    const local = (code: number, msg: string, sent: boolean) =>
      new RpcError(code, msg, { local: true, sent, requestId: rid, method: path });
    if (this.closed) throw local(Code.CANCELLED, "client closed", false);
    if (options.signal?.aborted) throw local(Code.CANCELLED, "call cancelled", false);

    const metadata: Record<string, string> = { "x-request-id": rid };
    const token = typeof this.token === "function" ? this.token() : this.token;
    if (token) metadata.authorization = `Bearer ${token}`;
    if (options.idempotencyKey !== undefined) metadata["idempotency-key"] = options.idempotencyKey;
    if (options.metadata) Object.assign(metadata, options.metadata);

    const payload = toBinary(input, create(input, request) as MessageShape<I>);

    let ep = this.pick();
    if (ep === undefined) {
      try {
        await this.waitReady(deadline);
      } catch (e) {
        const err = e as RpcError;
        throw local(err.code, err.message, false);
      }
      ep = this.pick();
      if (ep === undefined) throw local(Code.UNAVAILABLE, "no connection to propertyd", false);
    }
    const remaining = Math.max(1, deadline - Date.now());
    const envelope = toBinary(
      RequestSchema,
      create(RequestSchema, { method: path, payload, metadata, timeoutMs: remaining }),
    );
    if (envelope.length + 4 > MAX_REQUEST_BYTES)
      throw local(
        Code.INVALID_ARGUMENT,
        `request of ${envelope.length + 4} bytes is larger than the server's limit of ${MAX_REQUEST_BYTES} (not sent)`,
        false,
      );

    const endpoint = ep;
    const replyBytes = await new Promise<Buffer>((resolve, reject) => {
      let id = 0;
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        finish();
        endpoint.forget(id);
        reject(local(Code.CANCELLED, "call cancelled; it may still run on the server", true));
      };
      const finish = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      };
      id = endpoint.send(envelope, {
        resolve: (b) => {
          finish();
          resolve(b);
        },
        reject: (err) => {
          finish();
          reject(new RpcError(err.code, err.message, { local: true, sent: true, requestId: rid, method: path }));
        },
      });
      timer = setTimeout(() => {
        endpoint.forget(id);
        options.signal?.removeEventListener("abort", onAbort);
        reject(local(Code.DEADLINE_EXCEEDED, `deadline of ${timeoutMs} ms exceeded waiting for the reply from ${endpoint.url}`, true));
      }, remaining);
      options.signal?.addEventListener("abort", onAbort, { once: true });
    });
    const res = decodeResponse(replyBytes, path, rid);
    if (res.code !== 0) throw errorFromResponse(res, path, rid);
    try {
      return fromBinary(output, res.payload);
    } catch (e) {
      throw new RpcError(Code.INTERNAL, `reply payload is not a valid ${output.typeName}: ${(e as Error).message}`, {
        local: true,
        requestId: res.metadata["x-request-id"] ?? rid,
        method: path,
      });
    }
  }

  /** Closes every connection; calls in flight reject with CANCELLED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.endpoints) e.close();
    this.endpointUp();
  }
}

function clampTimeout(ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0) return DEFAULT_TIMEOUT_MS;
  return Math.min(Math.ceil(ms), MAX_TIMEOUT_MS);
}

/**
 * Creates a client for one URL, a list, or a comma-separated string of URLs, and waits
 * (up to connectTimeoutMs) until one of them is connected. URLs that cannot be reached
 * are dialed again in the background.
 */
export async function connect(urls: string | string[], opts: ConnectOptions = {}): Promise<Client> {
  const c = new Client(urls, opts);
  c.start();
  const wait = opts.connectTimeoutMs ?? c.timeoutMs;
  if (wait > 0) {
    try {
      await c.waitReady(Date.now() + wait, true);
    } catch (e) {
      c.close();
      throw e;
    }
  }
  return c;
}
