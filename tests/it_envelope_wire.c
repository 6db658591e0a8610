// it_envelope: envelopes written byte by byte: the order of the checks and
// the metadata limits on the wire (docs/contract.md 2.5, 2.6).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test/pbwrite.h"
#include "it_envelope_common.h"

// ---- order of checks and metadata limits on the wire (docs/contract.md 2.5, 2.6) ----------------

// Sends b raw and checks the code and the echoed x-request-id; frees b.
static void expect_wire(ctx *c, const char *what, check_pb *b, unsigned want, const char *rid)
{
	Rpc__V1__Response *r = raw_envelope(c, b->p, b->n);
	if (r != NULL) {
		H_CHECK(r->code == want, "%s: code %u (%s), want %u", what, r->code, r->message,
		        want);
		const char *got = resp_md(r, "x-request-id");
		if (rid != NULL)
			H_CHECK(got != NULL && strcmp(got, rid) == 0,
			        "%s: x-request-id %s, want %s", what, got ? got : "(none)", rid);
		rpc__v1__response__free_unpacked(r, NULL);
	}
	free(b->p);
	*b = (check_pb){0};
}

// A GetProperty envelope with `payload`, optional authorization and request id.
static void wb_get(check_pb *b, const void *payload, size_t plen, const char *auth, const char *rid)
{
	check_pb_field(b, 1, M_GET, strlen(M_GET));
	check_pb_field(b, 2, payload, plen);
	if (auth != NULL)
		check_pb_meta(b, "authorization", 13, auth, strlen(auth));
	if (rid != NULL)
		check_pb_meta(b, "x-request-id", 12, rid, strlen(rid));
}

void case_order_of_checks(void *arg)
{
	ctx *c = arg;
	static const char garbage[] = "\xff\xff\xff\xff\xff";
	check_pb b = {0};
	// The token comes before the payload: no token, or a bad one, is 16 whatever
	// the payload; with a valid token the same payload is 3.
	wb_get(&b, garbage, sizeof(garbage) - 1, NULL, "it-order-1");
	expect_wire(c, "undecodable payload, no token", &b, 16, "it-order-1");
	wb_get(&b, garbage, sizeof(garbage) - 1, "Bearer x.y.z", "it-order-2");
	expect_wire(c, "undecodable payload, bad token", &b, 16, "it-order-2");
	wb_get(&b, garbage, sizeof(garbage) - 1, c->auth, "it-order-3");
	expect_wire(c, "undecodable payload, valid token", &b, 3, "it-order-3");
	// The method before the token.
	check_pb_field(&b, 1, "/no.such.Service/M", 18);
	expect_wire(c, "unknown method, no token", &b, 12, NULL);
	// Health needs no token, so its payload is checked: 3.
	check_pb_field(&b, 1, M_HEALTH, strlen(M_HEALTH));
	check_pb_field(&b, 2, garbage, sizeof(garbage) - 1);
	expect_wire(c, "Health, undecodable payload", &b, 3, NULL);
}

void case_metadata_limits(void *arg)
{
	ctx *c = arg;
	Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	g.id = (char *)missing_id;
	uint8_t pl[128];
	size_t pn = property__v1__get_property_request__pack(&g, pl);
	check_pb b = {0};
	char key[200];

	// 64 entries (authorization and x-request-id among them): served; 65: 3.
	for (int extra = 62; extra <= 63; extra++) {
		wb_get(&b, pl, pn, c->auth, "it-limits-n");
		for (int i = 0; i < extra; i++) {
			int kn = snprintf(key, sizeof(key), "x-extra-%d", i);
			check_pb_meta(&b, key, (size_t)kn, "v", 1);
		}
		expect_wire(c, extra == 62 ? "64 entries" : "65 entries", &b, extra == 62 ? 5 : 3,
		            "it-limits-n");
	}
	// Keys: 128 bytes served, 129 refused.
	memset(key, 'k', sizeof(key));
	wb_get(&b, pl, pn, c->auth, "it-limits-k");
	check_pb_meta(&b, key, 128, "v", 1);
	expect_wire(c, "128-byte key", &b, 5, "it-limits-k");
	wb_get(&b, pl, pn, c->auth, "it-limits-k");
	check_pb_meta(&b, key, 129, "v", 1);
	expect_wire(c, "129-byte key", &b, 3, "it-limits-k");
	// Values count in bytes, NULs included: "a\0" and 5000 more bytes is too long.
	size_t vlen = 5002;
	char *val = malloc(vlen);
	memset(val, 'v', vlen);
	val[0] = 'a';
	val[1] = '\0';
	wb_get(&b, pl, pn, c->auth, "it-limits-v");
	check_pb_meta(&b, "x-note", 6, val, vlen);
	expect_wire(c, "\"a\\0\" + 5000 bytes", &b, 3, "it-limits-v");
	wb_get(&b, pl, pn, c->auth, "it-limits-v");
	check_pb_meta(&b, "x-note", 6, val, 4096);
	expect_wire(c, "4096-byte value", &b, 5, "it-limits-v");
	// The limits come first: a too-long value is 3 even without a token.
	wb_get(&b, pl, pn, NULL, "it-limits-v");
	check_pb_meta(&b, "x-note", 6, val, vlen);
	expect_wire(c, "too-long value, no token", &b, 3, "it-limits-v");
	free(val);
}
