// Status codes (gRPC's numbers, docs/contract.md §2.8) and the error every failed call
// rejects with.
import { fromBinary } from "@bufbuild/protobuf";
import { ResponseSchema, type Response } from "./gen/rpc/v1/rpc_pb.js";

export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type CodeName = keyof typeof Code;

const NAMES: string[] = [];
for (const [name, n] of Object.entries(Code)) NAMES[n] = name;

/** The name of a status code; an unknown number is "UNKNOWN" (as propertyd's metrics do). */
export function codeName(code: number): CodeName {
  return (NAMES[code] ?? "UNKNOWN") as CodeName;
}

export interface Violation {
  field: string;
  description: string;
}

/**
 * A call that did not succeed. `code` is the status number; `codeName` its name;
 * `violations` lists the invalid fields of an INVALID_ARGUMENT; `requestId` is the
 * x-request-id of the call (the server's echo, or the id this client sent when no reply
 * came). `local` is true when the error was decided by this client (deadline passed
 * before a reply, no connection, connection lost, request too large) rather than
 * answered by the server; `sent` tells whether the request may have reached a server.
 */
export class RpcError extends Error {
  readonly code: number;
  readonly codeName: CodeName;
  readonly violations: Violation[];
  readonly requestId: string;
  readonly method: string;
  readonly local: boolean;
  readonly sent: boolean;

  constructor(
    code: number,
    message: string,
    opts: { violations?: Violation[]; requestId?: string; method?: string; local?: boolean; sent?: boolean } = {},
  ) {
    super(message);
    this.name = "RpcError";
    this.code = code;
    this.codeName = codeName(code);
    this.violations = opts.violations ?? [];
    this.requestId = opts.requestId ?? "";
    this.method = opts.method ?? "";
    this.local = opts.local ?? false;
    this.sent = opts.sent ?? true;
  }

  override toString(): string {
    const v = this.violations.length
      ? " [" + this.violations.map((x) => `${x.field}: ${x.description}`).join("; ") + "]"
      : "";
    return `RpcError ${this.code} ${this.codeName}: ${this.message}${v}`;
  }
}

/** An RpcError from a decoded rpc.v1.Response whose code is not 0. */
export function errorFromResponse(res: Response, method = "", fallbackRequestId = ""): RpcError {
  return new RpcError(res.code, res.message || codeName(res.code).toLowerCase().replace(/_/g, " "), {
    violations: res.violations.map((v) => ({ field: v.field, description: v.description })),
    requestId: res.metadata["x-request-id"] ?? fallbackRequestId,
    method,
  });
}

/**
 * Decodes the bytes of a reply (after the request id) into an rpc.v1.Response. Throws an
 * RpcError INTERNAL when they are not one.
 */
export function decodeResponse(bytes: Uint8Array, method = "", requestId = ""): Response {
  try {
    return fromBinary(ResponseSchema, bytes);
  } catch (e) {
    throw new RpcError(Code.INTERNAL, `reply is not a valid rpc.v1.Response: ${(e as Error).message}`, {
      method,
      requestId,
      local: true,
    });
  }
}
