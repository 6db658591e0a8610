// pbjson_mutate: deterministic mutations (byte flips, truncations, spliced
// tokens) of valid requests must each decode or fail cleanly: no crash, no
// leak under ASan, an error message on failure, and every success must
// encode and pack.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "property/v1/events.pb-c.h"
#include "property/v1/property.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

// Mutations per seed: enough to reach every decoder branch, quick under ASan.
#define ROUNDS 4000

typedef struct seed {
	const ProtobufCMessageDescriptor *desc;
	const char *json;
} seed;

static const seed seeds[] = {
    {&property__v1__update_property_request__descriptor,
     "{\"id\":\"x\",\"expectedVersion\":7,\"property\":{\"title\":\"T\",\"priceCents\":\"100\","
     "\"location\":{\"latitude\":1.5,\"city\":\"c\"},\"status\":\"PROPERTY_STATUS_SOLD\"},"
     "\"updateMask\":[\"title\",\"price_cents\"]}"},
    {&property__v1__read_events_response__descriptor,
     "{\"events\":[{\"seq\":\"1\",\"property\":{\"id\":\"p\",\"bedrooms\":2}},{\"seq\":2}],"
     "\"last_seq\":9}"},
    {&rpc__v1__request__descriptor,
     "{\"method\":\"/a.B/C\",\"payload\":\"AAEC/w==\",\"metadata\":{\"k\":\"v\",\"k2\":\"v2\"},"
     "\"timeout_ms\":5}"},
};

static const char *const splices[] = {
    "null",    "[]",   "{}",           "\"\"",      "-1",          "1e999",
    "\"NaN\"", "true", "[null]",       "{\"a\":1}", "\"\\u0000\"", "18446744073709551616",
    "\"@@\"",  "0.5",  "[[[[[[]]]]]]",
};

static uint32_t rng = 2463534242u;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static char *mutate(const char *src)
{
	size_t n = strlen(src);
	char *s = malloc(n + 64);
	if (s == NULL)
		return NULL;
	memcpy(s, src, n + 1);
	size_t at = next() % n;
	switch (next() % 4) {
	case 0: // flip a byte
		s[at] = (char)(next() % 95 + 32);
		break;
	case 1: // truncate
		s[at] = '\0';
		break;
	case 2: { // replace what follows a ':' with a spliced value
		char *colon = strchr(s + at, ':');
		if (colon != NULL) {
			const char *sp = splices[next() % (sizeof splices / sizeof splices[0])];
			char *end = colon + 1;
			while (*end && *end != ',' && *end != '}')
				end++;
			char tail[512];
			snprintf(tail, sizeof tail, "%s", end);
			snprintf(colon + 1, n + 63 - (size_t)(colon + 1 - s), "%s%s", sp, tail);
		}
		break;
	}
	default: // delete a byte
		memmove(s + at, s + at + 1, n - at);
	}
	return s;
}

int main(void)
{
	size_t ok = 0, refused = 0, bad = 0;
	for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
		for (int i = 0; i < ROUNDS; i++) {
			char *in = mutate(seeds[k].json);
			if (in == NULL)
				return 1;
			char err[256] = "";
			ProtobufCMessage *m = pdc_pbjson_decode(seeds[k].desc, in, err, sizeof err);
			if (m == NULL) {
				refused++;
				if (err[0] == '\0') {
					printf("FAIL no error message for: %s\n", in);
					bad++;
				}
			} else {
				char *js = pdc_pbjson_encode(m, PBJSON_EMIT_DEFAULTS);
				size_t len = protobuf_c_message_get_packed_size(m);
				uint8_t *buf = malloc(len + 1);
				if (js == NULL || buf == NULL) {
					printf("FAIL encode of: %s\n", in);
					bad++;
				} else {
					protobuf_c_message_pack(m, buf);
					ok++;
				}
				free(js);
				free(buf);
				protobuf_c_message_free_unpacked(m, NULL);
			}
			free(in);
		}
	}
	printf("%zu decoded, %zu refused\n", ok, refused);
	printf("%zu passed, %zu failed\n", ok + refused - bad, bad);
	return bad == 0 ? 0 : 1;
}
