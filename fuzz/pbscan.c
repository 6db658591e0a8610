// fuzz_pbscan: the payload wire scan (src/property/pbscan.h) on arbitrary
// bytes. The first byte picks the message type the bytes are scanned as (the
// request messages of property.v1, whose strings the handlers scan) and
// whether the "property." prefix is stripped; the rest is the payload.
//
// Checks beyond the sanitizers: every violation names a NUL-terminated field
// shorter than PROP_FIELD_MAX with a description; the counts are consistent;
// the scan never calls malformed what protobuf-c decodes.
#include "property/pbscan.h"
#include "fuzz.h"
#include "property/v1/events.pb-c.h"
#include "property/v1/property.pb-c.h"

static const ProtobufCMessageDescriptor *const types[] = {
    &property__v1__create_property_request__descriptor,
    &property__v1__update_property_request__descriptor,
    &property__v1__get_property_request__descriptor,
    &property__v1__delete_property_request__descriptor,
    &property__v1__list_properties_by_owner_request__descriptor,
    &property__v1__search_properties_request__descriptor,
    &property__v1__read_events_request__descriptor,
    &property__v1__property__descriptor,
    &property__v1__event__descriptor,
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const ProtobufCMessageDescriptor *d = types[(data[0] & 0x7f) % NTYPES];
	const char *strip = (data[0] & 0x80) ? "property." : NULL;
	data++;
	size--;

	prop_violations vs;
	prop_violations_init(&vs);
	// A copy of exactly `size` bytes, so that ASan sees any read past the end.
	uint8_t *buf = malloc(size > 0 ? size : 1);
	FUZZ_ASSERT(buf != NULL, "malloc");
	if (size > 0)
		memcpy(buf, data, size);
	int rc = prop_pbscan_strings(size > 0 ? buf : NULL, size, d, strip, &vs);
	FUZZ_ASSERT(rc == 0 || rc == -1, "rc %d", rc);
	FUZZ_ASSERT(vs.n <= PROP_MAX_VIOLATIONS && vs.n <= vs.total, "n %zu total %zu", vs.n,
	            vs.total);
	for (size_t i = 0; i < vs.n; i++) {
		FUZZ_ASSERT(memchr(vs.v[i].field, 0, PROP_FIELD_MAX) != NULL,
		            "field not terminated");
		FUZZ_ASSERT(vs.v[i].description != NULL, "no description");
	}
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, size, buf);
	if (m != NULL) {
		FUZZ_ASSERT(rc == 0, "protobuf-c decodes a %s that the scan calls malformed",
		            d->name);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	free(buf);
	return 0;
}
