// The Scalability Protocols (SP) wire format as nng 1.5 speaks it over TCP, TLS and IPC
// (docs/contract.md §2.2): an 8-byte handshake per side, then messages of a 64-bit
// big-endian length and that many bytes (over ipc:// preceded by one byte 0x01).

/** SP protocol numbers (16-bit, sent big-endian in the handshake). */
export const Protocol = {
  PUB: 0x20,
  SUB: 0x21,
  REQ: 0x30,
  REP: 0x31,
} as const;
export type ProtocolNumber = (typeof Protocol)[keyof typeof Protocol];

/** The 8 handshake bytes a peer speaking `proto` sends. */
export function handshake(proto: number): Buffer {
  const b = Buffer.from([0x00, 0x53, 0x50, 0x00, 0, 0, 0x00, 0x00]);
  b.writeUInt16BE(proto, 4);
  return b;
}

/** Checks the peer's 8 handshake bytes; returns an error text, or null when they are right. */
export function checkHandshake(got: Buffer, expectProto: number): string | null {
  if (got.length !== 8) return `handshake: ${got.length} bytes, want 8`;
  if (got[0] !== 0x00 || got[1] !== 0x53 || got[2] !== 0x50 || got[3] !== 0x00)
    return "handshake: peer does not speak SP (bad magic)";
  const proto = got.readUInt16BE(4);
  if (proto !== expectProto)
    return `handshake: peer protocol 0x${proto.toString(16)}, want 0x${expectProto.toString(16)}`;
  if (got[6] !== 0 || got[7] !== 0) return "handshake: reserved bytes not zero";
  return null;
}

/** The largest request id counter value before the high bit (31 bits). */
const ID_MASK = 0x7fffffff;

/** A REQ request id: the low 31 bits of n with the high bit set, as nng's REQ uses. */
export function requestId(n: number): number {
  return (0x80000000 | (n & ID_MASK)) >>> 0;
}

/**
 * One framed message: [0x01 on ipc] + 64-bit BE length + optional 32-bit BE request id +
 * body, in a single buffer (one write per message).
 */
export function frame(body: Uint8Array, opts: { id?: number; ipc?: boolean } = {}): Buffer {
  const pre = opts.ipc ? 1 : 0;
  const idLen = opts.id === undefined ? 0 : 4;
  const len = idLen + body.length;
  const out = Buffer.allocUnsafe(pre + 8 + len);
  if (pre) out[0] = 0x01;
  out.writeUInt32BE(Math.floor(len / 0x100000000), pre);
  out.writeUInt32BE(len >>> 0, pre + 4);
  if (opts.id !== undefined) out.writeUInt32BE(opts.id >>> 0, pre + 8);
  out.set(body, pre + 8 + idLen);
  return out;
}

/**
 * Incremental decoder of the byte stream after the handshake. push() takes chunks as
 * they come; each complete message goes to onMessage. A message longer than maxSize,
 * or a bad ipc marker, is a protocol error: onError is called once and the decoder stops.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = -1; // body length of the message being read, -1 while reading a header
  private failed = false;
  private readonly headerLen: number;

  constructor(
    private readonly onMessage: (msg: Buffer) => void,
    private readonly onError: (err: Error) => void,
    private readonly maxSize: number,
    private readonly ipc = false,
  ) {
    this.headerLen = ipc ? 9 : 8;
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < this.headerLen) return;
        const h = this.take(this.headerLen);
        let off = 0;
        if (this.ipc) {
          if (h[0] !== 0x01) return this.fail(new Error(`ipc: bad message marker 0x${h[0].toString(16)}`));
          off = 1;
        }
        const hi = h.readUInt32BE(off);
        const lo = h.readUInt32BE(off + 4);
        const len = hi * 0x100000000 + lo;
        if (hi >= 0x200000 || len > this.maxSize)
          return this.fail(new Error(`message of ${len} bytes exceeds the limit of ${this.maxSize}`));
        this.need = len;
      }
      if (this.buffered < this.need) return;
      const msg = this.take(this.need);
      this.need = -1;
      this.onMessage(msg);
      if (this.failed) return;
    }
  }

  private fail(err: Error): void {
    this.failed = true;
    this.chunks = [];
    this.buffered = 0;
    this.onError(err);
  }

  /** Removes and returns the first n buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length === n) {
      this.chunks.shift();
      this.buffered -= n;
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    // Spans chunks: copy, then drop the used chunks with one splice (shift per chunk
    // would be quadratic when a large message arrives in many small chunks).
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    let i = 0;
    while (off < n) {
      const c = this.chunks[i];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) i++;
      else this.chunks[i] = c.subarray(k);
    }
    this.chunks.splice(0, i);
    this.buffered -= n;
    return out;
  }
}
