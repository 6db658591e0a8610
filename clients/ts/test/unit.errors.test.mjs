import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { rpc, Code, RpcError, codeName, decodeResponse, errorFromResponse } from "../dist/index.js";

test("code names", () => {
  assert.equal(codeName(0), "OK");
  assert.equal(codeName(3), "INVALID_ARGUMENT");
  assert.equal(codeName(16), "UNAUTHENTICATED");
  assert.equal(codeName(99), "UNKNOWN");
  assert.equal(Code.DEADLINE_EXCEEDED, 4);
});

test("an INVALID_ARGUMENT reply decodes to an RpcError with violations and request id", () => {
  const bytes = toBinary(
    rpc.ResponseSchema,
    create(rpc.ResponseSchema, {
      code: 3,
      message: "invalid argument: 2 invalid fields",
      metadata: { "x-request-id": "req-1" },
      violations: [
        { field: "title", description: "must be 1 to 200 characters" },
        { field: "location.country_code", description: "must be two upper-case letters" },
      ],
    }),
  );
  const err = errorFromResponse(decodeResponse(bytes), "/property.v1.PropertyService/CreateProperty", "fallback");
  assert.ok(err instanceof RpcError && err instanceof Error);
  assert.equal(err.code, 3);
  assert.equal(err.codeName, "INVALID_ARGUMENT");
  assert.equal(err.message, "invalid argument: 2 invalid fields");
  assert.equal(err.requestId, "req-1");
  assert.equal(err.local, false);
  assert.deepEqual(err.violations, [
    { field: "title", description: "must be 1 to 200 characters" },
    { field: "location.country_code", description: "must be two upper-case letters" },
  ]);
  assert.match(String(err), /RpcError 3 INVALID_ARGUMENT: .*title: must be/);
});

test("a reply without x-request-id keeps the id that was sent; an empty message gets the code's name", () => {
  const err = errorFromResponse(create(rpc.ResponseSchema, { code: 5 }), "", "mine");
  assert.equal(err.requestId, "mine");
  assert.equal(err.message, "not found");
  assert.deepEqual(err.violations, []);
});

test("bytes that are not a Response give INTERNAL", () => {
  assert.throws(() => decodeResponse(Buffer.from([0xff, 0xff, 0xff])), (e) => e instanceof RpcError && e.code === Code.INTERNAL);
});
