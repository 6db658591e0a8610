// What the generated service clients call.
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";

export interface CallOptions {
  /** Deadline of this call in ms (default: the client's timeoutMs). Sent as timeout_ms. */
  timeoutMs?: number;
  /** CreateProperty: sent as metadata `idempotency-key` (docs/contract.md §5.2). */
  idempotencyKey?: string;
  /** Extra request metadata; keys must be lower case. Wins over the client's own entries. */
  metadata?: Record<string, string>;
  /** The x-request-id to send (default: a random UUID). */
  requestId?: string;
  /** Cancels the call locally (rejects with CANCELLED; a request already sent may still run). */
  signal?: AbortSignal;
}

export interface Invoker {
  unary<I extends DescMessage, O extends DescMessage>(
    path: string,
    input: I,
    output: O,
    request: MessageInitShape<I>,
    options?: CallOptions,
  ): Promise<MessageShape<O>>;
}
