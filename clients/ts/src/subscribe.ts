// The event subscriber: SUB connections to every events URL, each event delivered once
// in seq order, gaps and a lost tail filled through ReadEvents (docs/contract.md §6.6).
// The algorithm is the one of the C library propsub.
import { fromBinary } from "@bufbuild/protobuf";
import { Protocol } from "./framing.js";
import { Code, RpcError } from "./errors.js";
import { EventSchema, type Event } from "./gen/property/v1/events_pb.js";
import { SpLink, parseUrl } from "./transport.js";
import type { Client } from "./client.js";

export interface SubscribeOptions {
  /** The EVENTS_URL of every instance (tcp:// or ipc://): a list or a comma-separated string. */
  eventsUrls: string | string[];
  /** The client used for ReadEvents (needs a token). */
  client: Client;
  /**
   * Deliver events with a seq above this one (0: from the beginning of the log).
   * Omitted: from now (the newest seq in the log when the subscription starts).
   */
  afterSeq?: bigint | number | string;
  /** Only events whose type starts with this ("property.created"); empty: every type. */
  typePrefix?: string;
  /** After this much silence on the live stream, ReadEvents is asked once (lost tail). Default 1500 ms. */
  silenceMs?: number;
  /** Deadline of each ReadEvents call, ms (default: the client's). */
  readTimeoutMs?: number;
  /** Events per ReadEvents call (default 1000, the server's maximum). */
  readLimit?: number;
  /** Called when events were read from the log rather than live (from..to inclusive). */
  onReread?: (from: bigint, to: bigint) => void;
  /** Called when a ReadEvents call failed and will be retried (after 1 s). */
  onError?: (err: Error) => void;
  /** Ends the iteration. */
  signal?: AbortSignal;
}

export interface SubscriptionStats {
  delivered: number;
  reread: number;
  duplicates: number;
  malformed: number;
  liveDropped: number;
}

/** Errors after which ReadEvents is not tried again: the iteration throws them. */
const FINAL = new Set<number>([Code.OUT_OF_RANGE, Code.UNAUTHENTICATED, Code.INVALID_ARGUMENT, Code.UNIMPLEMENTED, Code.PERMISSION_DENIED]);

const READ_LIMIT = 1000;
const SYNC_MAX_PAGES = 16;
const RETRY_MS = 1000;
const LIVE_QUEUE_MAX = 4096;
const TYPE_MAX = 256;
const MAX_EVENT_MESSAGE = 1024 * 1024;

interface Live {
  ev: Event;
  matches: boolean;
}

/**
 * A subscription: an async iterator of property.v1.Event. Iterate it with for await;
 * break (or close()) ends it and closes its connections.
 */
export class Subscription implements AsyncIterableIterator<Event> {
  readonly stats: SubscriptionStats = { delivered: 0, reread: 0, duplicates: 0, malformed: 0, liveDropped: 0 };
  private readonly links: SpLink[];
  private readonly prefix: Buffer;
  private live: Live[] = [];
  private out: Event[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private started = false;

  private nextSeq = 1n; // the next seq to deliver (all below are done)
  private nextKnown: boolean;
  private needSync: boolean;
  private liveHigh = 0n;
  private quietSince = Date.now();
  private retryAt = 0;
  private final: Error | undefined;

  constructor(private readonly opts: SubscribeOptions) {
    const urls = (Array.isArray(opts.eventsUrls) ? opts.eventsUrls : opts.eventsUrls.split(","))
      .map((u) => u.trim())
      .filter((u) => u !== "");
    if (urls.length === 0) throw new Error("subscribe: no events URL");
    this.prefix = Buffer.from(opts.typePrefix ?? "", "utf8");
    if (opts.afterSeq === undefined) {
      this.nextKnown = false;
      this.needSync = true;
    } else {
      const after = BigInt(opts.afterSeq);
      if (after < 0n) throw new RangeError("subscribe: afterSeq must be >= 0");
      this.nextSeq = after + 1n;
      this.nextKnown = true;
      this.needSync = true;
    }
    this.links = urls.map((u) => {
      const url = parseUrl(u);
      if (url.scheme === "tls+tcp") throw new Error(`${u}: the event stream has no TLS (docs/contract.md §6.8)`);
      return new SpLink(url, Protocol.SUB, Protocol.PUB, undefined, 5000, MAX_EVENT_MESSAGE, {
        onUp: () => {},
        onMessage: (m) => this.onMessage(m),
        onDown: () => {},
      });
    });
    opts.signal?.addEventListener("abort", () => this.close(), { once: true });
  }

  /** The seq of the last event delivered (or skipped as not matching); the afterSeq to resume from. */
  position(): bigint | undefined {
    return this.nextKnown ? this.nextSeq - 1n : undefined;
  }

  /** Ends the iteration and closes the connections. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.links) l.close();
    this.wake?.();
  }

  private gen: AsyncGenerator<Event> | undefined;

  private iter(): AsyncGenerator<Event> {
    if (this.gen === undefined) this.gen = this.run();
    return this.gen;
  }

  /** The subscription is its own async iterator (one iteration per subscription). */
  [Symbol.asyncIterator](): AsyncIterableIterator<Event> {
    if (this.started) throw new Error("a Subscription can be iterated once");
    this.started = true;
    return this;
  }

  next(): Promise<IteratorResult<Event>> {
    return this.iter().next();
  }

  async return(): Promise<IteratorResult<Event>> {
    this.close();
    return this.iter().return(undefined);
  }

  private onMessage(m: Buffer): void {
    if (this.closed) return;
    const nul = m.subarray(0, Math.min(m.length, TYPE_MAX)).indexOf(0);
    let ev: Event | undefined;
    if (nul >= 0) {
      try {
        ev = fromBinary(EventSchema, m.subarray(nul + 1));
      } catch {
        ev = undefined;
      }
    }
    if (ev === undefined || ev.seq === 0n) {
      this.stats.malformed++;
      return;
    }
    const matches = nul >= this.prefix.length && m.subarray(0, this.prefix.length).equals(this.prefix);
    if (this.live.length >= LIVE_QUEUE_MAX) {
      // The consumer is behind: this one will be read from the log.
      this.stats.liveDropped++;
      this.needSync = true;
      return;
    }
    this.live.push({ ev, matches });
    this.wake?.();
  }

  private async *run(): AsyncGenerator<Event> {
    for (const l of this.links) l.start();
    try {
      for (;;) {
        if (this.closed) return;
        if (this.needSync || Date.now() - this.quietSince >= (this.opts.silenceMs ?? 1500)) await this.trySync(-1n);
        yield* this.drain();
        if (this.final) throw this.final;
        if (this.closed) return;
        const item = this.live.shift();
        if (item !== undefined) {
          this.quietSince = Date.now();
          await this.onLive(item.ev, item.matches);
          yield* this.drain();
          if (this.final) throw this.final;
          continue;
        }
        await this.idle();
      }
    } finally {
      this.close();
    }
  }

  private *drain(): Generator<Event> {
    while (this.out.length > 0 && !this.closed) {
      const ev = this.out.shift() as Event;
      this.stats.delivered++;
      yield ev;
    }
  }

  /** Waits for a live message, a close, or the next moment a sync is due. */
  private idle(): Promise<void> {
    const silence = this.opts.silenceMs ?? 1500;
    let wait = this.quietSince + silence - Date.now();
    if (this.needSync) wait = Math.min(wait, this.retryAt - Date.now());
    wait = Math.max(wait, 1);
    return new Promise((resolve) => {
      const t = setTimeout(done, wait);
      const self = this;
      function done() {
        clearTimeout(t);
        self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  private async onLive(ev: Event, matches: boolean): Promise<void> {
    if (ev.seq > this.liveHigh) this.liveHigh = ev.seq;
    if (!this.nextKnown) {
      // From now, and the log could not be read: start at this event.
      this.nextSeq = ev.seq;
      this.nextKnown = true;
      this.needSync = false;
    }
    if (ev.seq < this.nextSeq) {
      this.stats.duplicates++;
      return;
    }
    if (ev.seq > this.nextSeq) {
      await this.trySync(ev.seq - 1n);
      // Still short of it: the log could not be read now; the event will be read from there.
      if (ev.seq !== this.nextSeq) {
        this.needSync = true;
        return;
      }
    }
    if (this.closed) return;
    if (matches) this.out.push(ev);
    this.nextSeq = ev.seq + 1n;
  }

  /** A sync that remembers its failure, so the next one waits RETRY_MS. upto -1: no bound. */
  private async trySync(upto: bigint): Promise<void> {
    const now = Date.now();
    if (now < this.retryAt) return;
    try {
      await this.syncLog(upto);
    } catch (e) {
      const err = e as Error;
      if (err instanceof RpcError && FINAL.has(err.code)) {
        this.final = err;
        return;
      }
      this.needSync = true;
      this.retryAt = Date.now() + RETRY_MS;
      this.opts.onError?.(err);
    }
    this.quietSince = Date.now();
  }

  private read(after: bigint, limit: number) {
    return this.opts.client.events.readEvents(
      { afterSeq: after, limit, typePrefix: this.opts.typePrefix ?? "" },
      { timeoutMs: this.opts.readTimeoutMs },
    );
  }

  /**
   * Reads the log from `next` until caught up, or up to seq `upto` (a gap before a live
   * event), or SYNC_MAX_PAGES pages, queueing what it returns. Caught up means a reply
   * ended at the log's last_seq or returned nothing new. Seqs the replies skipped do not
   * match the prefix: `next` jumps over them up to the first returned event above upto,
   * or up to last_seq but never past the highest seq seen live (an event seen live was
   * numbered before this call began, so the reply covers it whenever the server took
   * last_seq).
   */
  private async syncLog(uptoIn: bigint): Promise<void> {
    const upto = uptoIn < 0n ? (1n << 64n) - 1n : uptoIn;
    if (!this.nextKnown) {
      const r = await this.read(0n, 1);
      this.nextSeq = r.lastSeq + 1n;
      this.nextKnown = true;
      this.needSync = false;
      return;
    }
    this.needSync = true;
    const limit = this.opts.readLimit ?? READ_LIMIT;
    for (let page = 0; page < SYNC_MAX_PAGES; page++) {
      const r = await this.read(this.nextSeq - 1n, limit);
      if (this.closed) return;
      let from = 0n;
      let to = 0n;
      let last = 0n;
      let done = false;
      for (const ev of r.events) {
        if (ev.seq < this.nextSeq) continue; // never expected; skip rather than repeat
        if (ev.seq > upto) {
          if (upto >= this.nextSeq) this.nextSeq = upto + 1n; // nothing matches between next and upto
          done = true;
          break;
        }
        this.out.push(ev);
        this.stats.reread++;
        this.nextSeq = ev.seq + 1n;
        last = ev.seq;
        if (from === 0n) from = ev.seq;
        to = ev.seq;
      }
      if (!done && (last === 0n || last >= r.lastSeq)) {
        let known = r.lastSeq < this.liveHigh ? r.lastSeq : this.liveHigh;
        if (known > upto) known = upto;
        if (known >= this.nextSeq) this.nextSeq = known + 1n;
        done = true;
      }
      if (from !== 0n) this.opts.onReread?.(from, to);
      if (done) {
        this.needSync = false;
        return;
      }
    }
  }
}

/**
 * Subscribes to the event stream. Returns an async iterable yielding each matching event
 * exactly once, in seq order, filling gaps through ReadEvents. Ends (throws) on an error
 * that retrying cannot mend, such as 11 OUT_OF_RANGE when the events after the position
 * were pruned, or 16 UNAUTHENTICATED.
 */
export function subscribe(opts: SubscribeOptions): Subscription {
  return new Subscription(opts);
}
