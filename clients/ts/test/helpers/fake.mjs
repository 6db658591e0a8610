// An in-process SP REP server for unit tests: speaks the handshake and framing, decodes
// each rpc.v1.Request and lets the test decide the reply.
//
// Health checks (/grpc.health.v1.Health/Check) are answered here, by `health` (settable on
// the returned object): a status number (1 SERVING, the default; 2 NOT_SERVING), "silent"
// (no answer), or "handler" (passed to the handler like any request). They are counted in
// `probes`, not recorded in `requests`. `host` and `port` choose where to listen (the dns+
// tests put several fakes on one port of 127.0.0.1, .2, .3).
import { createServer } from "node:net";
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { rpc, FrameDecoder, handshake, checkHandshake, frame, Protocol, HealthCheckResponseSchema } from "../../dist/index.js";

const HEALTH = "/grpc.health.v1.Health/Check";

export function fakeRep(handler, { proto = Protocol.REP, peer = Protocol.REQ, health = 1, host = "127.0.0.1", port = 0 } = {}) {
  const conns = new Set();
  const requests = [];
  const state = { health, probes: 0 };
  const server = createServer((s) => {
    conns.add(s);
    s.on("close", () => conns.delete(s));
    s.on("error", () => {});
    s.write(handshake(proto));
    let hs = Buffer.alloc(0);
    let open = false;
    const dec = new FrameDecoder(
      (msg) => {
        const id = msg.readUInt32BE(0);
        const req = fromBinary(rpc.RequestSchema, msg.subarray(4));
        const reply = (init, delayMs = 0) => {
          const bytes = toBinary(rpc.ResponseSchema, create(rpc.ResponseSchema, init));
          const send = () => s.destroyed || s.write(frame(bytes, { id }));
          if (delayMs) setTimeout(send, delayMs);
          else send();
        };
        if (req.method === HEALTH && state.health !== "handler") {
          state.probes++;
          if (state.health !== "silent")
            reply({ code: 0, payload: toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status: state.health })) });
          return;
        }
        requests.push(req);
        handler(req, reply, s);
      },
      () => s.destroy(),
      1 << 20,
    );
    s.on("data", (c) => {
      if (open) return dec.push(c);
      hs = Buffer.concat([hs, c]);
      if (hs.length < 8) return;
      if (checkHandshake(hs.subarray(0, 8), peer)) return s.destroy();
      open = true;
      if (hs.length > 8) dec.push(hs.subarray(8));
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const port = server.address().port;
      resolve({
        url: `tcp://${host}:${port}`,
        port,
        requests,
        conns,
        get health() {
          return state.health;
        },
        set health(v) {
          state.health = v;
        },
        get probes() {
          return state.probes;
        },
        dropAll() {
          for (const c of conns) c.destroy();
        },
        close() {
          for (const c of conns) c.destroy();
          return new Promise((r) => server.close(() => r()));
        },
      });
    });
  });
}

/** Fakes on one port of each address of `hosts` (all answering with `handler`). */
export async function fakesOnOnePort(hosts, handler, opts = {}) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await fakeRep(handler, { ...opts, host: hosts[0] });
    const out = [first];
    try {
      for (const h of hosts.slice(1)) out.push(await fakeRep(handler, { ...opts, host: h, port: first.port }));
      return out;
    } catch {
      await Promise.all(out.map((f) => f.close()));
    }
  }
  throw new Error("no port free on every address");
}
