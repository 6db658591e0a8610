// The pure decisions of client-side balancing, apart from sockets and timers:
//
//  - the safe-retry rule (retrySafe, mayRetry): the same rule and the same method list as
//    the C library's include/nrpc/retry.h (src/rpc/retry.c);
//  - round robin over the instances in rotation (pick), and whether waiting may still
//    bring one (pending);
//  - the health check: probeRequest builds /grpc.health.v1.Health/Check of "" in an
//    envelope, probeServing reads its reply;
//  - the DNS form "dns+tcp://HOST:PORT" / "dns+tls+tcp://HOST:PORT" (as the C clients spell
//    it): parseDnsUrl, addrUrl, expand (every A/AAAA address through a resolver that can be
//    injected) and merge (what a refresh changes).
//
// The model is gRPC's round_robin with health checking: an instance is "connecting" (no
// verdict yet: dialing, or connected and not yet checked), "ready" (connected, and its last
// check on this connection said SERVING) or "down"; calls go round robin over the ready ones.
import { lookup } from "node:dns/promises";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "./gen/grpc/health/v1/health_pb.js";
import { RequestSchema, ResponseSchema } from "./gen/rpc/v1/rpc_pb.js";

export type InstanceState = "connecting" | "ready" | "down";

export const HEALTH_CHECK = "/grpc.health.v1.Health/Check";
const CREATE_PROPERTY = "/property.v1.PropertyService/CreateProperty";
const UNIMPLEMENTED = 12;

/**
 * The methods whose call may be sent again to another instance after the instance it was
 * sent to died with it in flight: reads, where doing it twice changes nothing.
 * THIS LIST AND retrySafe() MUST MATCH include/nrpc/retry.h (src/rpc/retry.c), the rule
 * the gateway and the C, Python and TypeScript clients share. Change them together.
 */
export const RETRY_SAFE_METHODS: ReadonlySet<string> = new Set([
  "/property.v1.PropertyService/GetProperty",
  "/property.v1.PropertyService/ListPropertiesByOwner",
  "/property.v1.PropertyService/SearchProperties",
  "/property.v1.EventService/ReadEvents",
  "/grpc.health.v1.Health/Check",
  "/rpc.v1.Reflection/ListServices",
  "/rpc.v1.Reflection/GetFileDescriptorSet",
]);

/**
 * True when a call of `method` may be sent again after an instance died with it in flight:
 * reads, and a CreateProperty carrying an idempotency-key (the second one replays the
 * first's outcome). Must match nrpc_retry_safe() of include/nrpc/retry.h.
 */
export function retrySafe(method: string, hasIdempotencyKey: boolean): boolean {
  if (RETRY_SAFE_METHODS.has(method)) return true;
  return hasIdempotencyKey && method === CREATE_PROPERTY;
}

/**
 * Whether a call whose instance was lost may go to another one: always when it was never
 * sent (the server cannot have seen it), else per retrySafe().
 */
export function mayRetry(sent: boolean, method: string, hasIdempotencyKey: boolean): boolean {
  return !sent || retrySafe(method, hasIdempotencyKey);
}

/** True when request metadata carries a non-empty idempotency-key (keys match exactly). */
export function hasIdempotencyKey(md: Readonly<Record<string, string>>): boolean {
  const v = Object.prototype.hasOwnProperty.call(md, "idempotency-key") ? md["idempotency-key"] : undefined;
  return typeof v === "string" && v !== "";
}

/**
 * Round robin: the first "ready" index at or after `cursor` (mod n) not marked in `tried`.
 * Returns [index, next cursor], or [-1, cursor] when there is none.
 */
export function pick(states: readonly InstanceState[], tried: readonly boolean[], cursor: number): [number, number] {
  const n = states.length;
  for (let k = 0; k < n; k++) {
    const i = (cursor + k) % n;
    if (states[i] === "ready" && !tried[i]) return [i, (i + 1) % n];
  }
  return [-1, cursor];
}

/**
 * True when waiting may still produce a ready instance outside `tried` (some such instance
 * is "connecting"); false means fail fast.
 */
export function pending(states: readonly InstanceState[], tried: readonly boolean[]): boolean {
  return states.some((s, i) => s === "connecting" && !tried[i]);
}

/** The health check: Health/Check of "" (the whole server), without metadata (no token needed). */
export function probeRequest(timeoutMs: number): Uint8Array {
  return toBinary(RequestSchema, create(RequestSchema, { method: HEALTH_CHECK, timeoutMs }));
}

/**
 * The verdict of a health check's reply (an rpc.v1.Response): true for code 0 with status
 * SERVING, and for 12 UNIMPLEMENTED (a server without the health service counts as serving,
 * as in gRPC); false for anything else, undecodable bytes included.
 */
export function probeServing(reply: Uint8Array): boolean {
  try {
    const rsp = fromBinary(ResponseSchema, reply);
    if (rsp.code === UNIMPLEMENTED) return true;
    if (rsp.code !== 0) return false;
    return fromBinary(HealthCheckResponseSchema, rsp.payload).status === HealthCheckResponse_ServingStatus.SERVING;
  } catch {
    return false;
  }
}

/** A dns+ URL: every A/AAAA record of `host`, dialed with `scheme` on `port`. */
export interface DnsTarget {
  raw: string;
  scheme: "tcp" | "tls+tcp";
  host: string;
  port: number;
}

/**
 * The target of "dns+tcp://HOST:PORT" or "dns+tls+tcp://HOST:PORT"; undefined when `url` is
 * not a dns+ URL. Throws for a malformed one (no port, a port outside 1..65535, an empty,
 * bracketed or IPv6 host, a path).
 */
export function parseDnsUrl(url: string): DnsTarget | undefined {
  if (!url.startsWith("dns+")) return undefined;
  const m = /^dns\+(tcp|tls\+tcp):\/\/([^:/[\]]+):(\d{1,5})$/.exec(url);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535)
    throw new Error(`${JSON.stringify(url)}: want dns+tcp://HOST:PORT or dns+tls+tcp://HOST:PORT`);
  return { raw: url, scheme: m[1] as DnsTarget["scheme"], host: m[2], port };
}

/** "scheme://addr:port", with [brackets] around an IPv6 address. */
export function addrUrl(scheme: string, addr: string, port: number): string {
  return addr.includes(":") ? `${scheme}://[${addr}]:${port}` : `${scheme}://${addr}:${port}`;
}

/** Gives the addresses of a host name (A and AAAA). */
export type Resolver = (host: string, port: number) => Promise<readonly string[]> | readonly string[];

/** Every A and AAAA address of `host` (getaddrinfo through node:dns), once each, in order. */
export async function defaultResolver(host: string): Promise<string[]> {
  const all = await lookup(host, { all: true, verbatim: true });
  return [...new Set(all.map((a) => a.address))];
}

/**
 * The endpoint URL of every address `resolver` gives for the target, once each, in order.
 * Rejects with what the resolver throws; an empty answer gives [].
 */
export async function expand(t: DnsTarget, resolver: Resolver = defaultResolver): Promise<string[]> {
  const out: string[] = [];
  for (let a of await resolver(t.host, t.port)) {
    if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
    const u = addrUrl(t.scheme, a, t.port);
    if (!out.includes(u)) out.push(u);
  }
  return out;
}

/**
 * A DNS refresh: `have` are the URLs dialed now, `got` the new answer. keep[i] tells whether
 * have[i] is still in the answer; add lists the URLs of the answer not dialed yet (once each).
 */
export function merge(have: readonly string[], got: readonly string[]): { keep: boolean[]; add: string[] } {
  const keep = have.map((u) => got.includes(u));
  const add: string[] = [];
  for (const u of got) if (!have.includes(u) && !add.includes(u)) add.push(u);
  return { keep, add };
}
