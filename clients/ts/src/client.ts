// The RPC client: a REQ peer on one or more instances (URLs, or every address of a dns+
// name), calls multiplexed by request id on each connection, spread round robin over the
// instances that are connected and (when health-checked) SERVING; a call lost with its
// instance is resent elsewhere only as balance.ts's retry rule allows.
import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Protocol, frame, requestId } from "./framing.js";
import { Code, RpcError, decodeResponse, errorFromResponse } from "./errors.js";
import { RequestSchema } from "./gen/rpc/v1/rpc_pb.js";
import { createServiceClients, type ServiceClients } from "./gen/clients.js";
import type { CallOptions, Invoker } from "./invoker.js";
import { SpLink, checkTls, parseUrl, type SpSocket, type TlsOptions } from "./transport.js";
import {
  defaultResolver,
  expand,
  hasIdempotencyKey,
  mayRetry,
  merge,
  parseDnsUrl,
  pending,
  pick,
  probeRequest,
  probeServing,
  type DnsTarget,
  type InstanceState,
  type Resolver,
} from "./balance.js";

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
  /** Settings for tls+tcp:// and dns+tls+tcp:// URLs. */
  tls?: TlsOptions;
  /** Limit of one dial (TCP connect, TLS and SP handshake), ms; default 5000. */
  dialTimeoutMs?: number;
  /**
   * How long connect() waits for the first instance in rotation, ms (default: timeoutMs).
   * When none is by then, connect() rejects with UNAVAILABLE. 0: do not wait (calls wait
   * for an instance up to their deadline).
   */
  connectTimeoutMs?: number;
  /**
   * Health-check every instance with /grpc.health.v1.Health/Check and keep in rotation only
   * those whose last check said SERVING. Default: on with more than one URL or a dns+ URL,
   * off with one plain URL.
   */
  healthCheck?: boolean;
  /** Period of the health checks of each instance, ms (default 500). */
  probeIntervalMs?: number;
  /** A health check unanswered this long takes the instance out, ms (default 1000). */
  probeTimeoutMs?: number;
  /** dns+ names are looked up again this often, ms (default 30000). */
  dnsRefreshMs?: number;
  /** Gives the addresses of a dns+ URL's host (default: node:dns lookup, every A and AAAA). */
  resolver?: Resolver;
}

/** The state of one instance, as instances() reports it. */
export interface InstanceInfo {
  url: string;
  state: InstanceState;
}

const DNS_RETRY_MS = 1000; // a dns+ name that gave no address yet is looked up this often

interface Pending {
  resolve(bytes: Buffer): void;
  reject(err: RpcError): void;
  /** A health check: does not keep the process alive, never counts as a call. */
  probe?: boolean;
}

/** Errors of calls whose connection was lost after they were written. */
const lostErrors = new WeakSet<RpcError>();

/** A dns+ URL and what its last lookup said. */
interface DnsOrigin {
  target: DnsTarget;
  tls: TlsOptions | undefined;
  answered: boolean;
  error: string;
  timer: NodeJS.Timeout | undefined;
}

/** One instance: its link, the calls in flight on the current connection, its health. */
class Endpoint {
  readonly link: SpLink;
  private readonly pending = new Map<number, Pending>();
  private calls = 0; // entries of pending that are calls (not health checks)
  private nextId = (Math.random() * 0x7fffffff) >>> 0;
  /** The last health check's verdict on this connection; undefined: none yet. */
  health: boolean | undefined;
  private gen = 0; // counts connections
  private probing = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private nextProbe: NodeJS.Timeout | undefined;
  /** Dropped by DNS: out of rotation, closed once no call uses it. */
  retiring = false;
  healthError: string | undefined;

  constructor(
    url: string,
    tlsOpts: TlsOptions | undefined,
    dialTimeoutMs: number,
    private readonly owner: Client,
    readonly origin?: DnsOrigin,
  ) {
    const u = parseUrl(url);
    checkTls(u, tlsOpts);
    this.link = new SpLink(u, Protocol.REQ, Protocol.REP, tlsOpts, dialTimeoutMs, MAX_REPLY_BYTES, {
      onUp: (sock) => {
        if (this.calls === 0) sock.socket.unref();
        this.gen++;
        this.health = undefined;
        this.healthError = undefined;
        if (owner.healthCheck) this.probeNow();
        owner.endpointChanged();
      },
      onMessage: (m) => this.onReply(m),
      onDown: (err) => {
        this.stopProbes();
        this.failAll(err);
        owner.endpointChanged();
      },
      onDialFailed: () => owner.endpointChanged(),
    });
  }

  get url(): string {
    return this.link.url.raw;
  }

  /** "connecting" (dialing, or no verdict yet), "ready" (in rotation) or "down". */
  state(): InstanceState {
    if (this.retiring) return "down";
    const s = this.link.state;
    if (s === "idle" || s === "dialing") return "connecting";
    if (s !== "up") return "down";
    if (!this.owner.healthCheck || this.health === true) return "ready";
    return this.health === undefined ? "connecting" : "down";
  }

  get ready(): boolean {
    return this.state() === "ready";
  }

  get inFlight(): number {
    return this.calls;
  }

  /** Sends one envelope; returns its request id. The socket must be up. */
  send(envelope: Uint8Array, p: Pending): number {
    const sock = this.link.sock as SpSocket;
    let id: number;
    do {
      this.nextId = (this.nextId + 1) & 0x7fffffff;
      id = requestId(this.nextId);
    } while (this.pending.has(id));
    if (!p.probe && this.calls++ === 0) sock.socket.ref();
    this.pending.set(id, p);
    sock.write(frame(envelope, { id, ipc: sock.ipc }));
    return id;
  }

  /** Forgets a call (deadline or cancel): a late reply is discarded. */
  forget(id: number): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    if (!p.probe && --this.calls === 0) {
      this.link.sock?.socket.unref();
      if (this.retiring) this.owner.retired(this);
    }
  }

  private onReply(m: Buffer): void {
    if (m.length < 4) return; // not a reply to anything
    const id = m.readUInt32BE(0);
    const p = this.pending.get(id);
    if (p === undefined) return; // late or unknown: discard
    this.forget(id);
    p.resolve(m.subarray(4));
  }

  /** Sends a health check now (on this connection), unless one is in flight. */
  probeNow(): void {
    clearTimeout(this.nextProbe);
    this.nextProbe = undefined;
    if (this.probing || this.link.state !== "up" || this.retiring) return;
    const gen = this.gen;
    this.probing = true;
    let id = 0;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.probing = false;
      this.forget(id);
      this.verdict(gen, false, `no answer to the health check within ${this.owner.probeTimeoutMs} ms`);
      this.probeNow();
    }, this.owner.probeTimeoutMs);
    this.probeTimer.unref();
    id = this.send(this.owner.probeBytes, {
      probe: true,
      resolve: (b) => {
        clearTimeout(this.probeTimer);
        this.probeTimer = undefined;
        this.probing = false;
        this.verdict(gen, probeServing(b), "health check: not serving");
        if (this.link.state === "up" && !this.retiring) {
          this.nextProbe = setTimeout(() => this.probeNow(), this.owner.probeIntervalMs);
          this.nextProbe.unref();
        }
      },
      reject: () => {
        // Lost with its connection: onDown took the instance out already.
        clearTimeout(this.probeTimer);
        this.probeTimer = undefined;
        this.probing = false;
      },
    });
  }

  private verdict(gen: number, serving: boolean, why: string): void {
    if (gen !== this.gen || this.link.state !== "up") return;
    const was = this.health;
    this.health = serving;
    this.healthError = serving ? undefined : why;
    if (was !== serving) this.owner.endpointChanged();
  }

  private stopProbes(): void {
    clearTimeout(this.probeTimer);
    clearTimeout(this.nextProbe);
    this.probeTimer = this.nextProbe = undefined;
    this.probing = false;
  }

  private failAll(err: Error | undefined): void {
    const why = err ? `: ${err.message}` : "";
    const calls = [...this.pending.values()];
    this.pending.clear();
    this.calls = 0;
    for (const p of calls) {
      const e = new RpcError(
        Code.UNAVAILABLE,
        `connection to ${this.url} lost before the reply${why}; the call may or may not have run (not resent)`,
        { local: true, sent: true },
      );
      lostErrors.add(e);
      p.reject(e);
    }
    if (this.retiring) this.owner.retired(this);
  }

  close(): void {
    this.stopProbes();
    this.link.close();
    const calls = [...this.pending.values()];
    this.pending.clear();
    this.calls = 0;
    for (const p of calls) p.reject(new RpcError(Code.CANCELLED, "client closed", { local: true, sent: true }));
  }
}

/** A propertyd client. Create it with connect(). */
export class Client implements Invoker {
  readonly property: ServiceClients["property"];
  readonly events: ServiceClients["events"];
  readonly health: ServiceClients["health"];
  /** The URLs given (dns+ URLs as given; instances() lists their addresses). */
  readonly urls: readonly string[];
  readonly timeoutMs: number;
  /** Whether instances are health-checked (ConnectOptions.healthCheck). */
  readonly healthCheck: boolean;
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  /** @internal The health check envelope. */
  readonly probeBytes: Uint8Array;
  private endpoints: Endpoint[];
  private readonly origins: DnsOrigin[];
  private rr = 0;
  private closed = false;
  private waiters = new Set<() => void>();
  private readonly token: ConnectOptions["token"];
  private readonly dialTimeout: number;
  private readonly dnsRefreshMs: number;
  private readonly resolver: Resolver;
  private resent = 0;

  constructor(urls: string | string[], opts: ConnectOptions = {}) {
    const list = (Array.isArray(urls) ? urls : urls.split(","))
      .map((u) => u.trim())
      .filter((u) => u !== "");
    if (list.length === 0) throw new Error("connect: no URL");
    this.urls = list;
    this.token = opts.token;
    this.timeoutMs = clampTimeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.dialTimeout = opts.dialTimeoutMs ?? 5000;
    this.probeIntervalMs = opts.probeIntervalMs ?? 500;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 1000;
    this.dnsRefreshMs = opts.dnsRefreshMs ?? 30000;
    this.resolver = opts.resolver ?? defaultResolver;
    this.probeBytes = probeRequest(this.probeTimeoutMs);
    const targets: DnsTarget[] = [];
    const plain: string[] = [];
    for (const u of list) {
      const t = parseDnsUrl(u);
      if (t) targets.push(t);
      else plain.push(u);
    }
    this.healthCheck = opts.healthCheck ?? (list.length > 1 || targets.length > 0);
    this.origins = targets.map((t) => {
      checkTls({ raw: t.raw, scheme: t.scheme, host: t.host, port: t.port, path: "" }, opts.tls);
      // dns+tls+tcp://: the certificate must be for HOST unless serverName names another.
      const tls = t.scheme === "tls+tcp" ? { ...opts.tls, serverName: opts.tls?.serverName ?? t.host } : opts.tls;
      return { target: t, tls, answered: false, error: "", timer: undefined };
    });
    this.endpoints = plain.map((u) => new Endpoint(u, opts.tls, this.dialTimeout, this));
    const s = createServiceClients(this);
    this.property = s.property;
    this.events = s.events;
    this.health = s.health;
  }

  /** Starts dialing every URL and looking up every dns+ name. */
  start(): void {
    for (const e of this.endpoints) e.link.start();
    for (const o of this.origins) void this.lookup(o);
  }

  /** The instances in rotation now: connected and, with health checks, last check SERVING. */
  connectedUrls(): string[] {
    return this.endpoints.filter((e) => e.ready).map((e) => e.url);
  }

  /** Every instance (each plain URL, each address of the dns+ names) and its state. */
  instances(): InstanceInfo[] {
    return this.endpoints.filter((e) => !e.retiring).map((e) => ({ url: e.url, state: e.state() }));
  }

  /** How many calls were sent again to another instance after theirs was lost with them in flight. */
  get retries(): number {
    return this.resent;
  }

  /** @internal An instance changed state: wake the calls waiting for one. */
  endpointChanged(): void {
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }

  /** @internal A retiring instance has no call left: close it. */
  retired(e: Endpoint): void {
    const i = this.endpoints.indexOf(e);
    if (i < 0) return;
    this.endpoints = this.endpoints.filter((x) => x !== e);
    e.close();
    this.endpointChanged();
  }

  private async lookup(o: DnsOrigin): Promise<void> {
    let got: string[] = [];
    let err = "";
    try {
      got = await expand(o.target, this.resolver);
      if (got.length === 0) err = "no address";
    } catch (e) {
      err = (e as Error).message || String(e);
    }
    if (this.closed) return;
    o.answered = true;
    const have = this.endpoints.filter((e) => e.origin === o && !e.retiring);
    if (err) {
      o.error = `${o.target.raw}: ${err}`; // a failed or empty answer keeps the current set
    } else {
      o.error = "";
      const { keep, add } = merge(
        have.map((e) => e.url),
        got,
      );
      have.forEach((e, i) => {
        if (!keep[i]) e.retiring = true;
      });
      const fresh = add.map((u) => new Endpoint(u, o.tls, this.dialTimeout, this, o));
      this.endpoints = [...this.endpoints, ...fresh];
      for (const e of fresh) e.link.start();
      for (const e of have) if (e.retiring && e.inFlight === 0) this.retired(e);
    }
    this.endpointChanged();
    o.timer = setTimeout(() => void this.lookup(o), err && have.length === 0 ? DNS_RETRY_MS : this.dnsRefreshMs);
    o.timer.unref();
  }

  /** True when no instance outside `tried` may come into rotation without new news. */
  private hopeless(tried: ReadonlySet<Endpoint>): boolean {
    const states = this.endpoints.map((e) => e.state());
    const skip = this.endpoints.map((e) => tried.has(e));
    return !pending(states, skip) && this.origins.every((o) => o.answered);
  }

  /**
   * Resolves when some instance outside `tried` is in rotation; rejects at `until` (ms since
   * epoch), or at once when failFast (or retrying after a lost call) and none can be.
   */
  async waitReady(until: number, failFast = false, tried: ReadonlySet<Endpoint> = new Set()): Promise<void> {
    if (!failFast && tried.size === 0) for (const e of this.endpoints) e.link.kick(); // once, not per failed dial
    for (;;) {
      if (this.closed) throw new RpcError(Code.CANCELLED, "client closed", { local: true, sent: false });
      if (this.endpoints.some((e) => e.ready && !tried.has(e))) return;
      if ((failFast || tried.size > 0) && this.hopeless(tried)) throw this.noConnection();
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
    const why = [
      ...this.endpoints.map((e) => `${e.url}: ${e.healthError ?? e.link.lastError?.message ?? e.state()}`),
      ...this.origins.filter((o) => o.error).map((o) => o.error),
    ].join("; ");
    return new RpcError(Code.UNAVAILABLE, `no connection to propertyd (${why || "no instance"})`, { local: true, sent: false });
  }

  private pick(tried: ReadonlySet<Endpoint>): Endpoint | undefined {
    const eps = this.endpoints;
    const [i, cursor] = pick(
      eps.map((e) => e.state()),
      eps.map((e) => tried.has(e)),
      this.rr,
    );
    this.rr = cursor;
    return i < 0 ? undefined : eps[i];
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
    const keyed = hasIdempotencyKey(metadata);

    const payload = toBinary(input, create(input, request) as MessageShape<I>);

    // The retry rule (balance.ts, as include/nrpc/retry.h): a call lost with its instance
    // goes once to each other instance in rotation, within its deadline, when it is a read
    // or a CreateProperty with an idempotency-key. Nothing else is ever resent.
    const tried = new Set<Endpoint>();
    let lost: RpcError | undefined;
    let replyBytes: Buffer;
    for (;;) {
      if (options.signal?.aborted) throw local(Code.CANCELLED, "call cancelled", lost !== undefined);
      let ep = this.pick(tried);
      if (ep === undefined) {
        try {
          await this.waitReady(deadline, false, tried);
        } catch (e) {
          const err = e as RpcError;
          if (lost !== undefined && err.code === Code.UNAVAILABLE)
            throw local(Code.UNAVAILABLE, `${lost.message.replace(/ \(not resent\)$/, "")}; no other instance to resend it to (${err.message})`, true);
          throw local(err.code, err.message, lost !== undefined);
        }
        ep = this.pick(tried);
        if (ep === undefined) throw local(Code.UNAVAILABLE, "no connection to propertyd", lost !== undefined);
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
      try {
        replyBytes = await this.attempt(ep, envelope, remaining, timeoutMs, rid, path, options.signal);
        break;
      } catch (e) {
        const err = e as RpcError;
        if (lostErrors.has(err) && Date.now() < deadline && mayRetry(true, path, keyed)) {
          tried.add(ep);
          lost = err;
          this.resent++;
          continue;
        }
        throw err;
      }
    }
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

  /** One attempt of a call on one instance: its reply bytes, or a rejection. */
  private attempt(
    endpoint: Endpoint,
    envelope: Uint8Array,
    remaining: number,
    timeoutMs: number,
    rid: string,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<Buffer> {
    const local = (code: number, msg: string, sent: boolean) =>
      new RpcError(code, msg, { local: true, sent, requestId: rid, method: path });
    return new Promise<Buffer>((resolve, reject) => {
      let id = 0;
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        finish();
        endpoint.forget(id);
        reject(local(Code.CANCELLED, "call cancelled; it may still run on the server", true));
      };
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      id = endpoint.send(envelope, {
        resolve: (b) => {
          finish();
          resolve(b);
        },
        reject: (err) => {
          finish();
          const e = new RpcError(err.code, err.message, { local: true, sent: true, requestId: rid, method: path });
          if (lostErrors.has(err)) lostErrors.add(e);
          reject(e);
        },
      });
      timer = setTimeout(() => {
        endpoint.forget(id);
        signal?.removeEventListener("abort", onAbort);
        reject(local(Code.DEADLINE_EXCEEDED, `deadline of ${timeoutMs} ms exceeded waiting for the reply from ${endpoint.url}`, true));
      }, remaining);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Closes every connection; calls in flight reject with CANCELLED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const o of this.origins) clearTimeout(o.timer);
    for (const e of this.endpoints) e.close();
    this.endpointChanged();
  }
}

function clampTimeout(ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0) return DEFAULT_TIMEOUT_MS;
  return Math.min(Math.ceil(ms), MAX_TIMEOUT_MS);
}

/**
 * Creates a client for one URL, a list, or a comma-separated string of URLs (tcp://,
 * tls+tcp://, ipc://, and dns+tcp://HOST:PORT or dns+tls+tcp://HOST:PORT: every A/AAAA
 * address of HOST is an instance), and waits (up to connectTimeoutMs) until one instance is
 * in rotation. Instances that cannot be reached are dialed again in the background.
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
