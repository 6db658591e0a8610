// it_envelope's shared context and helpers (it_envelope_common.c), for the
// cases in it_envelope_*.c: the instance under test with a bearer token, a
// raw envelope sent and its reply decoded, an envelope packed from method,
// payload and metadata, and a reply's metadata looked up.
#ifndef IT_ENVELOPE_COMMON_H
#define IT_ENVELOPE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

#define RAW_TIMEOUT_MS 5000

// A string literal and its length without the terminating NUL (it may hold NULs).
#define BYTES(s) s, sizeof(s) - 1

extern const char *const missing_id;

typedef struct ctx {
	h_proc p;
	char *auth;
} ctx;

// Sends a raw envelope and decodes the reply; NULL when no reply came.
Rpc__V1__Response *raw_envelope(ctx *c, const void *buf, size_t len);
// The value of a reply's metadata entry key, or NULL.
const char *resp_md(const Rpc__V1__Response *r, const char *key);
// Packs an envelope of method/payload/metadata and sends it raw.
Rpc__V1__Response *send_envelope(ctx *c, const char *method, const uint8_t *payload, size_t plen,
                                 const char *req_id, uint32_t timeout_ms);

// ---- the cases (it_envelope_*.c), run by it_envelope.c ------------------------------------

// it_envelope_replies.c
void case_garbage_bytes(void *arg);
void case_unknown_method(void *arg);
void case_undecodable_payload(void *arg);
void case_request_id(void *arg);
void case_bad_utf8_request_id(void *arg);
void case_deadline(void *arg);
// it_envelope_oversized.c
void case_oversized_request(void *arg);
// it_envelope_wire.c
void case_order_of_checks(void *arg);
void case_metadata_limits(void *arg);
// it_envelope_fuzz.c
void case_fuzz(void *arg);

#endif
