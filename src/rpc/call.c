// Handler-side accessors of a call, and building its reply.
#include "call.h"

#include <nng/nng.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "base/clock.h"
#include "base/hex.h"
#include "nrpc/text.h"

#define REQUEST_ID_MAX 128  // longer caller-chosen ids are replaced, not echoed
#define MESSAGE_MAX    1024 // reply messages are cut here: they are for people

void nrpc_call_begin(struct nrpc_call *c, int64_t now_us, size_t mem_limit,
                     nrpc_arena_budget *budget)
{
	nrpc_arena_init_bounded(&c->c_arena, mem_limit, budget);
	c->c_caller = NULL;
	c->c_pause_us = 0;
	c->c_start_us = now_us;
	c->c_deadline_us = now_us + (int64_t)NRPC_DEFAULT_TIMEOUT * 1000;
	c->c_req = NULL;
	c->c_m = NULL;
	c->c_input = NULL;
	c->c_packed = NULL;
	c->c_packed_len = 0;
	c->c_raw = NULL;
	c->c_raw_len = 0;
	c->c_raw_method = NULL;
	c->c_request_id = NULL;
	c->c_traceparent = NULL;
	c->c_subject = NULL;
	c->c_code = NRPC_OK;
	c->c_message = NULL;
	c->c_viol = NULL;
	c->c_nviol = c->c_capviol = 0;
	c->c_meta = NULL;
	c->c_nmeta = c->c_capmeta = 0;
}

void nrpc_call_end(struct nrpc_call *c)
{
	nrpc_arena_fini(&c->c_arena);
}

// A request id a caller may choose: printable ASCII, bounded. Anything else
// (including invalid UTF-8) is replaced so that it is never echoed.
static bool request_id_ok_n(const char *s, size_t n)
{
	if (n == 0 || n > REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

static bool request_id_ok(const char *s)
{
	return request_id_ok_n(s, strlen(s));
}

// W3C traceparent: 2 hex version, 32 hex trace id, 16 hex parent, 2 hex flags.
static bool traceparent_ok(const char *s)
{
	static const char shape[] = "xx-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-xxxxxxxxxxxxxxxx-xx";
	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == '-') {
			if (s[i] != '-')
				return false;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return false;
		}
	}
	return true;
}

void nrpc_call_seed(struct nrpc_call *c)
{
	if (getrandom(&c->c_rng, sizeof(c->c_rng), 0) != (ssize_t)sizeof(c->c_rng))
		c->c_rng = (uint64_t)base_now_us() ^ (uint64_t)(uintptr_t)c;
}

// splitmix64: request ids need uniqueness, not secrecy, and a syscall per
// request (getrandom) costs more than the rest of an inline call.
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static char *generate_request_id(struct nrpc_call *c)
{
	unsigned char b[16];
	uint64_t hi = next_random(&c->c_rng), lo = next_random(&c->c_rng);
	memcpy(b, &hi, 8);
	memcpy(b + 8, &lo, 8);
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); // UUID version 4
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); // RFC 4122 variant
	char *out = nrpc_arena_alloc(&c->c_arena, BASE_UUID_TEXT_LEN + 1);
	base_hex_uuid(b, out);
	return out;
}

void nrpc_call_take_ids(struct nrpc_call *c)
{
	const char *rid = c->c_req ? nrpc_call_metadata(c, "x-request-id") : NULL;
	c->c_request_id = (rid && request_id_ok(rid)) ? rid : generate_request_id(c);
	const char *tp = c->c_req ? nrpc_call_metadata(c, "traceparent") : NULL;
	c->c_traceparent = (tp && traceparent_ok(tp)) ? tp : NULL;
	nrpc_call_set_metadata(c, "x-request-id", c->c_request_id);
}

void nrpc_call_take_ids_raw(struct nrpc_call *c, const uint8_t *rid, size_t len)
{
	// request_id_ok_n refuses NUL and anything outside 0x21..0x7e.
	if (rid != NULL && request_id_ok_n((const char *)rid, len))
		c->c_request_id = nrpc_arena_strndup(&c->c_arena, (const char *)rid, len);
	else
		c->c_request_id = generate_request_id(c);
	c->c_traceparent = NULL;
	nrpc_call_set_metadata(c, "x-request-id", c->c_request_id);
}

const char *nrpc_call_metadata(const nrpc_call *c, const char *key)
{
	if (c->c_req == NULL)
		return NULL;
	for (size_t i = 0; i < c->c_req->n_metadata; i++) {
		const Rpc__V1__Request__MetadataEntry *e = c->c_req->metadata[i];
		if (e->key != NULL && strcmp(e->key, key) == 0)
			return e->value;
	}
	return NULL;
}

const char *nrpc_call_request_id(const nrpc_call *c)
{
	return c->c_request_id ? c->c_request_id : "";
}

const char *nrpc_call_traceparent(const nrpc_call *c)
{
	return c->c_traceparent;
}

const char *nrpc_call_subject(const nrpc_call *c)
{
	return c->c_subject;
}

const char *nrpc_call_peer(const nrpc_call *c)
{
	return c->c_peer;
}

int64_t nrpc_call_deadline_us(const nrpc_call *c)
{
	return c->c_deadline_us;
}

int64_t nrpc_call_remaining_ms(const nrpc_call *c)
{
	int64_t left = c->c_deadline_us - base_now_us();
	return left > 0 ? left / 1000 : 0;
}

const uint8_t *nrpc_call_payload(const nrpc_call *c, size_t *len)
{
	if (c->c_req == NULL) {
		*len = 0;
		return (const uint8_t *)"";
	}
	*len = c->c_req->payload.len;
	return c->c_req->payload.data ? c->c_req->payload.data : (const uint8_t *)"";
}

void *nrpc_call_alloc(nrpc_call *c, size_t n)
{
	return nrpc_arena_alloc(&c->c_arena, n);
}

char *nrpc_call_strdup(nrpc_call *c, const char *s)
{
	return nrpc_arena_strdup(&c->c_arena, s);
}

ProtobufCAllocator *nrpc_call_allocator(nrpc_call *c)
{
	return &c->c_arena.a_pb;
}

nrpc_code nrpc_call_error(nrpc_call *c, nrpc_code code, const char *fmt, ...)
{
	char buf[MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->c_message = nrpc_arena_strdup(&c->c_arena, buf);
	c->c_code = code;
	return code;
}

// Grows an arena array of pointers by doubling (old contents copied).
static void *grow(nrpc_arena *a, void *old, size_t n, size_t *cap)
{
	if (n < *cap)
		return old;
	size_t ncap = *cap ? *cap * 2 : 8;
	void **p = nrpc_arena_alloc(a, ncap * sizeof(void *));
	if (n > 0)
		memcpy(p, old, n * sizeof(void *));
	*cap = ncap;
	return p;
}

void nrpc_call_violation(nrpc_call *c, const char *field, const char *description)
{
	c->c_viol = grow(&c->c_arena, c->c_viol, c->c_nviol, &c->c_capviol);
	Rpc__V1__FieldViolation *v = nrpc_arena_alloc(&c->c_arena, sizeof(*v));
	rpc__v1__field_violation__init(v);
	v->field = nrpc_arena_strdup(&c->c_arena, field);
	v->description = nrpc_arena_strdup(&c->c_arena, description);
	c->c_viol[c->c_nviol++] = v;
}

size_t nrpc_call_violation_count(const nrpc_call *c)
{
	return c->c_nviol;
}

void nrpc_call_set_metadata(nrpc_call *c, const char *key, const char *value)
{
	if (!nrpc_utf8_valid(value, strlen(value)))
		return; // never echo bytes that are not UTF-8
	c->c_meta = grow(&c->c_arena, c->c_meta, c->c_nmeta, &c->c_capmeta);
	Rpc__V1__Response__MetadataEntry *e = nrpc_arena_alloc(&c->c_arena, sizeof(*e));
	rpc__v1__response__metadata_entry__init(e);
	e->key = nrpc_arena_strdup(&c->c_arena, key);
	e->value = nrpc_arena_strdup(&c->c_arena, value);
	c->c_meta[c->c_nmeta++] = e;
}

nng_msg *nrpc_call_build_reply(struct nrpc_call *c, const ProtobufCMessage *output)
{
	if (c->c_raw != NULL) {
		nng_msg *raw;
		if (nng_msg_alloc(&raw, c->c_raw_len) != 0)
			return NULL;
		memcpy(nng_msg_body(raw), c->c_raw, c->c_raw_len);
		return raw;
	}
	Rpc__V1__Response resp = RPC__V1__RESPONSE__INIT;
	resp.code = c->c_code;
	if (c->c_code != NRPC_OK) {
		resp.message = c->c_message ? c->c_message : (char *)nrpc_code_name(c->c_code);
		resp.n_violations = c->c_nviol;
		resp.violations = c->c_viol;
	}
	resp.n_metadata = c->c_nmeta;
	resp.metadata = c->c_meta;
	if (c->c_code == NRPC_OK && c->c_packed != NULL) {
		resp.payload.data = (uint8_t *)c->c_packed;
		resp.payload.len = c->c_packed_len;
	} else if (c->c_code == NRPC_OK && output != NULL) {
		size_t n = protobuf_c_message_get_packed_size(output);
		uint8_t *buf = nrpc_arena_alloc(&c->c_arena, n);
		protobuf_c_message_pack(output, buf);
		resp.payload.data = buf;
		resp.payload.len = n;
	}
	size_t size = rpc__v1__response__get_packed_size(&resp);
	nng_msg *msg;
	if (nng_msg_alloc(&msg, size) != 0)
		return NULL;
	rpc__v1__response__pack(&resp, nng_msg_body(msg));
	return msg;
}
