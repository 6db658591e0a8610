// gate wire: the few protobuf encodings the gateway reads or writes without
// unpacking whole messages (proto/rpc/v1/rpc.proto, proto/grpc/health).
//
// The gateway forwards a request's bytes as they came, except that the
// caller's remaining deadline is re-stated (the `timeout_ms` field is dropped
// and written again at each send) and a generated x-request-id is added when
// the caller sent none, so that every hop logs the same id.
//
// Pure functions over caller-owned buffers; no allocation.
#ifndef GATE_WIRE_H
#define GATE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define GATE_TIMEOUT_FIELD_MAX 6 // tag + a 32-bit varint

// Copies the top-level fields of a well-formed rpc.v1.Request in[len] to out
// (at least len bytes), leaving out every timeout_ms field. Returns the bytes
// written, or 0 when in is malformed.
size_t gate_env_strip_timeout(const uint8_t *in, size_t len, uint8_t *out);
// Writes a timeout_ms field of `ms` at p (GATE_TIMEOUT_FIELD_MAX bytes room);
// returns its length.
size_t gate_env_put_timeout(uint8_t *p, uint32_t ms);
// Bytes a metadata entry of key[klen]/value[vlen] takes on the wire.
size_t gate_env_meta_size(size_t klen, size_t vlen);
// Writes that entry at p; returns its length.
size_t gate_env_put_meta(uint8_t *p, const char *key, size_t klen, const char *value, size_t vlen);
// The status code of a serialized rpc.v1.Response (0 when absent), or -1 when
// it is malformed.
int gate_resp_code(const uint8_t *b, size_t len);
// The serving status of a Health/Check reply: the HealthCheckResponse's
// status (1 SERVING, 2 NOT_SERVING, ...) when the reply's code is 0, else -1.
int gate_health_status(const uint8_t *b, size_t len);
// The request envelope of a Health/Check with a deadline of timeout_ms,
// written to out (cap bytes); returns its length, 0 when it does not fit.
size_t gate_health_request(uint8_t *out, size_t cap, uint32_t timeout_ms);

#endif
