// An in-process SP REP server for unit tests: speaks the handshake and framing, decodes
// each rpc.v1.Request and lets the test decide the reply.
import { createServer } from "node:net";
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { rpc, FrameDecoder, handshake, checkHandshake, frame, Protocol } from "../../dist/index.js";

export function fakeRep(handler, { proto = Protocol.REP, peer = Protocol.REQ } = {}) {
  const conns = new Set();
  const requests = [];
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
        requests.push(req);
        const reply = (init, delayMs = 0) => {
          const bytes = toBinary(rpc.ResponseSchema, create(rpc.ResponseSchema, init));
          const send = () => s.destroyed || s.write(frame(bytes, { id }));
          if (delayMs) setTimeout(send, delayMs);
          else send();
        };
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
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const port = server.address().port;
      resolve({
        url: `tcp://127.0.0.1:${port}`,
        port,
        requests,
        conns,
        dropAll() {
          for (const c of conns) c.destroy();
        },
        close() {
          for (const c of conns) c.destroy();
          return new Promise((r) => server.close(() => r()));
        },
      });
    }),
  );
}
