// fuzz_pbjson: JSON -> protobuf decoding (clients/common/pbjson.h) of any
// text into every message type of proto/. The first byte picks the type (low
// 5 bits), the size of the error buffer and the encode flags (top 3 bits);
// the rest is the JSON text.
//
// Checks beyond the sanitizers: a refusal writes a NUL-terminated reason
// within errcap; a decoded message packs, and encoding it back to JSON and
// decoding that again gives the same message (same serialized bytes).
#include "pbjson.h"
#include "fuzz.h"
#include "grpc/health/v1/health.pb-c.h"
#include "property/v1/events.pb-c.h"
#include "property/v1/property.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

static const ProtobufCMessageDescriptor *const types[] = {
    &property__v1__event__descriptor,
    &property__v1__read_events_request__descriptor,
    &property__v1__read_events_response__descriptor,
    &property__v1__location__descriptor,
    &property__v1__property__descriptor,
    &property__v1__create_property_request__descriptor,
    &property__v1__get_property_request__descriptor,
    &property__v1__update_property_request__descriptor,
    &property__v1__delete_property_request__descriptor,
    &property__v1__delete_property_response__descriptor,
    &property__v1__list_properties_by_owner_request__descriptor,
    &property__v1__bounding_box__descriptor,
    &property__v1__search_properties_request__descriptor,
    &property__v1__list_properties_response__descriptor,
    &rpc__v1__request__descriptor,
    &rpc__v1__field_violation__descriptor,
    &rpc__v1__response__descriptor,
    &grpc__health__v1__health_check_request__descriptor,
    &grpc__health__v1__health_check_response__descriptor,
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(*len + 1);
	FUZZ_ASSERT(buf != NULL, "malloc");
	size_t n = protobuf_c_message_pack(m, buf);
	FUZZ_ASSERT(n == *len, "packed %zu of %zu bytes", n, *len);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const ProtobufCMessageDescriptor *d = types[(data[0] & 31) % NTYPES];
	static const size_t errcaps[] = {0, 1, 16, 256};
	size_t errcap = errcaps[(data[0] >> 5) & 3];
	int flags = (data[0] & 0x80) ? PBJSON_PRETTY | PBJSON_JSON_NAMES : PBJSON_EMIT_DEFAULTS;
	char *json = fuzz_cstr(data + 1, size - 1);

	// The error buffer is exactly errcap bytes, so ASan sees a write past it.
	char *err = malloc(errcap > 0 ? errcap : 1);
	FUZZ_ASSERT(err != NULL, "malloc");
	memset(err, 'x', errcap > 0 ? errcap : 1);
	ProtobufCMessage *m = pdc_pbjson_decode(d, json, err, errcap);
	if (m == NULL) {
		if (errcap > 0)
			FUZZ_ASSERT(memchr(err, 0, errcap) != NULL, "reason not terminated");
	} else {
		FUZZ_ASSERT(m->descriptor == d, "decoded a %s for a %s", m->descriptor->name,
		            d->name);
		size_t len1, len2;
		uint8_t *b1 = pack(m, &len1);
		char *text = pdc_pbjson_encode(m, flags);
		FUZZ_ASSERT(text != NULL, "cannot encode what was decoded");
		char again_err[256];
		ProtobufCMessage *m2 = pdc_pbjson_decode(d, text, again_err, sizeof(again_err));
		FUZZ_ASSERT(m2 != NULL, "own encoding refused: %s\n  input: %s\n  encoded: %s",
		            again_err, json, text);
		uint8_t *b2 = pack(m2, &len2);
		FUZZ_ASSERT(len1 == len2 && memcmp(b1, b2, len1) == 0,
		            "JSON round trip changed the %s\n  input: %s\n  encoded: %s", d->name,
		            json, text);
		free(b2);
		protobuf_c_message_free_unpacked(m2, NULL);
		free(text);
		free(b1);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	free(err);
	free(json);
	return 0;
}
