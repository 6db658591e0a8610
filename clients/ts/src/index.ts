// propertyd's TypeScript client.
export { connect, Client, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, MAX_REQUEST_BYTES, MAX_REPLY_BYTES } from "./client.js";
export type { ConnectOptions } from "./client.js";
export type { CallOptions, Invoker } from "./invoker.js";
export { Code, RpcError, codeName, errorFromResponse, decodeResponse } from "./errors.js";
export type { CodeName, Violation } from "./errors.js";
export { mintToken, decodeTokenClaims } from "./token.js";
export { subscribe, Subscription } from "./subscribe.js";
export type { SubscribeOptions, SubscriptionStats } from "./subscribe.js";
export type { TlsOptions } from "./transport.js";
export { parseUrl } from "./transport.js";
export { Protocol, frame, handshake, checkHandshake, requestId, FrameDecoder } from "./framing.js";
export { HealthClient, EventServiceClient, PropertyServiceClient, methodPaths } from "./gen/clients.js";
export type { ServiceClients } from "./gen/clients.js";
export * from "./gen/property/v1/property_pb.js";
export * from "./gen/property/v1/events_pb.js";
export * from "./gen/grpc/health/v1/health_pb.js";
export * as rpc from "./gen/rpc/v1/rpc_pb.js";
