// it_envelope: fuzz: mutated envelopes and payloads, each answered by an
// rpc.v1.Response with an acceptable code; Health still answered afterwards.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "it_envelope_common.h"

// ---- fuzz: mutated envelopes and payloads ---------------------------------------------------
#define FUZZ_ITERATIONS 3000
#define FUZZ_SEED       0x5eed1234u

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

// Applies one random mutation to buf[*len] (capacity cap).
static void mutate(uint8_t *buf, size_t *len, size_t cap, uint32_t *rng)
{
	size_t n = *len;
	switch (xorshift(rng) % 6) {
	case 0: // flip bits
		for (int k = 0; k < 1 + (int)(xorshift(rng) % 4) && n > 0; k++)
			buf[xorshift(rng) % n] ^= (uint8_t)(1u << (xorshift(rng) % 8));
		break;
	case 1: // truncate
		if (n > 0)
			*len = xorshift(rng) % n;
		break;
	case 2: { // insert random bytes
		size_t k = 1 + xorshift(rng) % 8, at = n ? xorshift(rng) % (n + 1) : 0;
		if (n + k > cap)
			break;
		memmove(buf + at + k, buf + at, n - at);
		for (size_t i = 0; i < k; i++)
			buf[at + i] = (uint8_t)xorshift(rng);
		*len = n + k;
		break;
	}
	case 3: // overwrite a byte with an interesting value
		if (n > 0) {
			static const uint8_t v[] = {0x00, 0xff, 0x7f, 0x80, 0xc0,
			                            0xed, 0xf4, 0x0a, 0x12};
			buf[xorshift(rng) % n] = v[xorshift(rng) % sizeof(v)];
		}
		break;
	case 4: { // duplicate a chunk at the end (repeated fields, merged messages)
		size_t from = n ? xorshift(rng) % n : 0, k = n - from;
		if (n + k <= cap) {
			memcpy(buf + n, buf + from, k);
			*len = n + k;
		}
		break;
	}
	default: // a huge varint length somewhere
		if (n > 2) {
			size_t at = xorshift(rng) % (n - 1);
			buf[at] = 0xff;
			buf[at + 1] = 0xff;
		}
		break;
	}
}

static size_t pack_valid_payload(int which, const char *id, uint8_t *out)
{
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
	Property__V1__Location nloc = PROPERTY__V1__LOCATION__INIT;
	nloc.city = "Fuzzville";
	nloc.country_code = "FR";
	np.location = &nloc;
	np.title = "fuzzed";
	np.currency = "EUR";
	char *mask[] = {"title", "location", "currency"};
	Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	u.id = (char *)id;
	u.property = &np;
	u.n_update_mask = 3;
	u.update_mask = mask;
	Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	g.id = (char *)id;
	Property__V1__ListPropertiesByOwnerRequest l =
	    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
	l.owner_id = "it-envelope";
	l.page_size = 3;
	Property__V1__BoundingBox bb = PROPERTY__V1__BOUNDING_BOX__INIT;
	bb.max_latitude = 90;
	bb.max_longitude = 180;
	Property__V1__SearchPropertiesRequest sr = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	sr.city = "Testville";
	sr.bbox = &bb;
	sr.min_bedrooms = 1;
	sr.page_size = 2;
	Property__V1__ReadEventsRequest e = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
	e.limit = 2;
	e.type_prefix = "property.";
	const ProtobufCMessage *msgs[] = {&cr.base, &u.base, &g.base, &l.base, &sr.base, &e.base};
	return protobuf_c_message_pack(msgs[which], out);
}

static const char *const fuzz_methods[] = {M_CREATE, M_UPDATE, M_GET, M_LIST, M_SEARCH, M_EVENTS};

void case_fuzz(void *arg)
{
	ctx *c = arg;
	// A property of the token's owner, so mutated updates reach the database.
	char *auth = c->auth;
	h_step("create the owner's property");
	Property__V1__Property *p = h_create(c->p.cli, auth, "");
	const char *id = p != NULL ? p->id : "6a0d3f8e-1b2c-4d5e-8f90-a1b2c3d4e5f6";
	h_step("open the raw socket");
	nng_socket s;
	if (nng_req0_open(&s) != 0 ||
	    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, RAW_TIMEOUT_MS) != 0 ||
	    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, RAW_TIMEOUT_MS) != 0 ||
	    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) != 0 ||
	    nng_dial(s, c->p.rpc_url, NULL, 0) != 0) {
		H_FAIL("raw socket");
		goto out;
	}
	h_step("mutated requests");
	uint32_t rng = FUZZ_SEED;
	int by_code[NRPC_CODE_COUNT] = {0}, fails = 0;
	enum { CAP = 8192 };
	uint8_t payload[CAP], env[CAP];
	for (int i = 0; i < FUZZ_ITERATIONS && fails < 5; i++) {
		int which = (int)(xorshift(&rng) % 6);
		size_t plen = pack_valid_payload(which, id, payload);
		bool outer = xorshift(&rng) % 4 == 0; // else mutate only the payload
		if (!outer)
			for (int k = 0; k < 1 + (int)(xorshift(&rng) % 3); k++)
				mutate(payload, &plen, CAP / 2, &rng);
		Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
		Rpc__V1__Request__MetadataEntry e1 = RPC__V1__REQUEST__METADATA_ENTRY__INIT;
		Rpc__V1__Request__MetadataEntry *md[1] = {&e1};
		e1.key = "authorization";
		e1.value = auth;
		req.metadata = md;
		req.n_metadata = 1;
		req.method = (char *)fuzz_methods[which];
		req.payload.data = payload;
		req.payload.len = plen;
		size_t elen = rpc__v1__request__pack(&req, env);
		if (outer)
			mutate(env, &elen, CAP, &rng);
		uint8_t *reply = NULL;
		size_t rl = 0;
		int rv = nng_send(s, env, elen, 0);
		if (rv == 0)
			rv = nng_recv(s, &reply, &rl, NNG_FLAG_ALLOC);
		if (rv != 0) {
			H_FAIL("fuzz #%d (%s, %s mutation, %zu bytes): no reply: %s", i,
			       fuzz_methods[which], outer ? "envelope" : "payload", elen,
			       nng_strerror(rv));
			fails++;
			continue;
		}
		Rpc__V1__Response *r = rpc__v1__response__unpack(NULL, rl, reply);
		nng_free(reply, rl);
		if (r == NULL) {
			H_FAIL("fuzz #%d: the reply is not an rpc.v1.Response", i);
			fails++;
			continue;
		}
		if (r->code < NRPC_CODE_COUNT)
			by_code[r->code]++;
		if (r->code == 2 || r->code == 13 || r->code >= NRPC_CODE_COUNT) {
			char hex[200] = "";
			for (size_t k = 0; k < plen && k < 64; k++)
				snprintf(hex + 3 * k, 4, "%02x ", payload[k]);
			H_FAIL("fuzz #%d (%s, %s mutation): code %u (%s); payload starts %s", i,
			       fuzz_methods[which], outer ? "envelope" : "payload", r->code,
			       r->message, hex);
			fails++;
		}
		rpc__v1__response__free_unpacked(r, NULL);
	}
	h_step("close the raw socket");
	nng_close(s);
	h_step("Health after fuzzing");
	fprintf(stderr, "  replies by code:");
	for (int k = 0; k < NRPC_CODE_COUNT; k++)
		if (by_code[k])
			fprintf(stderr, " %d:%d", k, by_code[k]);
	fputc('\n', stderr);
	unsigned hc;
	H_CHECK(h_health(c->p.cli, "", &hc) == 1, "Health after fuzzing: code %u", hc);
out:
	if (p != NULL)
		protobuf_c_message_free_unpacked(&p->base, NULL);
}
