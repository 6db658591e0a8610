// pbjson_errors: every malformed input is refused with a message naming the
// problem (and the field's path), and nothing leaks on the way out (ASan):
// several cases fail deep inside a half-built message on purpose.
#include <stdio.h>
#include <string.h>

#include "pbjson.h"
#include "property/v1/events.pb-c.h"
#include "property/v1/property.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

typedef struct err_case {
	const char *name;
	const ProtobufCMessageDescriptor *desc;
	const char *in;
	const char *want; // a substring of the error message
} err_case;

#define PROP (&property__v1__property__descriptor)
#define UPD  (&property__v1__update_property_request__descriptor)
#define EVT  (&property__v1__read_events_response__descriptor)
#define REQ  (&rpc__v1__request__descriptor)

static const err_case cases[] = {
    {"unknown_field", PROP, "{\"title\":\"a\",\"nope\":1}",
     "unknown field \"nope\" in property.v1.Property"},
    {"unknown_nested_field", PROP, "{\"location\":{\"city\":\"x\",\"town\":\"y\"}}",
     "location: unknown field \"town\""},
    {"string_for_uint", PROP, "{\"bedrooms\":\"three\"}", "bedrooms: expected an unsigned integer"},
    {"number_for_string", PROP, "{\"title\":5}", "title: expected a string"},
    {"object_for_string", PROP, "{\"title\":{}}", "title: expected a string"},
    {"array_for_message", PROP, "{\"location\":[]}", "location: expected an object"},
    {"bool_for_double", PROP, "{\"location\":{\"latitude\":true}}",
     "location.latitude: expected a number"},
    {"bad_enum_name", PROP, "{\"status\":\"SOLD\"}",
     "status: unknown value \"SOLD\" for enum property.v1.PropertyStatus"},
    {"enum_as_bool", PROP, "{\"status\":true}", "status: expected a name or number"},
    {"bad_base64", REQ, "{\"payload\":\"@@@@\"}", "payload: invalid base64"},
    {"bad_base64_length", REQ, "{\"payload\":\"A\"}", "payload: invalid base64"},
    {"bad_base64_padding", REQ, "{\"payload\":\"AA=A\"}", "payload: invalid base64"},
    {"invalid_json", PROP, "{\"title\":", "invalid JSON"},
    {"invalid_json_trailing", PROP, "{} x", "invalid JSON"},
    {"empty_input", PROP, "", "invalid JSON"},
    {"not_an_object", PROP, "[1]", "expected a JSON object"},
    {"duplicate_key", PROP, "{\"title\":\"a\",\"title\":\"b\"}", "invalid JSON"},
    {"both_names", PROP, "{\"owner_id\":\"a\",\"ownerId\":\"b\"}", "ownerId"},
    {"negative_uint", PROP, "{\"bedrooms\":-1}", "bedrooms: integer -1 out of range"},
    {"uint32_overflow", PROP, "{\"bedrooms\":4294967296}", "out of range"},
    {"fraction_for_int", PROP, "{\"price_cents\":1.5}", "price_cents: expected an integer"},
    {"int64_garbage_string", PROP, "{\"price_cents\":\"12x\"}", "price_cents: expected an integer"},
    {"int64_overflow_string", PROP, "{\"price_cents\":\"9223372036854775808\"}", "out of range"},
    {"uint64_negative_string", PROP, "{\"version\":\"-1\"}", "version: expected an unsigned"},
    {"nan_for_int", PROP, "{\"price_cents\":\"NaN\"}", "expected an integer"},
    {"double_bad_string", PROP, "{\"location\":{\"longitude\":\"east\"}}",
     "location.longitude: expected a number"},
    {"string_for_repeated", UPD, "{\"update_mask\":\"title\"}", "update_mask: expected an array"},
    {"null_in_repeated", UPD, "{\"update_mask\":[\"a\",null]}", "update_mask[1]: null"},
    {"bad_repeated_element_after_good", UPD,
     "{\"id\":\"x\",\"property\":{\"title\":\"t\"},\"update_mask\":[\"a\",\"b\",3]}",
     "update_mask[2]: expected a string"},
    {"deep_error_in_second_event", EVT,
     "{\"events\":[{\"seq\":1,\"property\":{\"title\":\"ok\"}},{\"id\":\"e2\",\"property\":"
     "{\"title\":\"t\",\"location\":{\"city\":\"c\",\"latitude\":\"north\"}}}]}",
     "events[1].property.location.latitude: expected a number"},
    {"message_expected_in_repeated", EVT, "{\"events\":[{},1]}", "events[1]: expected an object"},
    {"map_value_wrong_type", REQ, "{\"metadata\":{\"a\":\"1\",\"b\":2}}",
     "metadata[\"b\"]: expected a string"},
    {"map_value_null", REQ, "{\"metadata\":{\"a\":null}}", "map value cannot be null"},
    {"map_wrong_shape", REQ, "{\"metadata\":\"a=b\"}", "metadata: expected an object"},
    {"map_entry_unknown_field", REQ, "{\"metadata\":[{\"key\":\"a\",\"val\":\"b\"}]}",
     "metadata[0]: unknown field \"val\""},
    {"nul_in_string", PROP, "{\"title\":\"a\\u0000b\"}", "invalid JSON"},
};

static int run(const err_case *c)
{
	char err[256];
	memset(err, 'x', sizeof err);
	ProtobufCMessage *m = pdc_pbjson_decode(c->desc, c->in, err, sizeof err);
	if (m != NULL) {
		printf("FAIL %s: decoded, want an error\n", c->name);
		protobuf_c_message_free_unpacked(m, NULL);
		return 0;
	}
	if (strstr(err, c->want) == NULL) {
		printf("FAIL %s: error \"%s\" lacks \"%s\"\n", c->name, err, c->want);
		return 0;
	}
	return 1;
}

// A zero-capacity error buffer must not be written.
static int no_err_buffer(void)
{
	ProtobufCMessage *m = pdc_pbjson_decode(PROP, "{\"nope\":1}", NULL, 0);
	if (m != NULL) {
		protobuf_c_message_free_unpacked(m, NULL);
		printf("FAIL no_err_buffer: decoded\n");
		return 0;
	}
	return 1;
}

int main(void)
{
	size_t n = sizeof cases / sizeof cases[0], passed = 0;
	for (size_t i = 0; i < n; i++)
		passed += (size_t)run(&cases[i]);
	int extra = no_err_buffer();
	printf("%zu passed, %zu failed\n", passed + (size_t)extra, n + 1 - passed - (size_t)extra);
	return passed == n && extra ? 0 : 1;
}
