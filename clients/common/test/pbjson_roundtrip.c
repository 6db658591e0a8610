// pbjson_roundtrip: JSON -> message -> wire -> message -> JSON, for every
// shape of field the protos use. Each decoded message is freed with
// protobuf_c_message_free_unpacked(), which under ASan proves that pbjson
// allocates exactly as protobuf-c's own unpack does.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "pbjson.h"
#include "property/v1/events.pb-c.h"
#include "property/v1/property.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

typedef struct rt_case {
	const char *name;
	const ProtobufCMessageDescriptor *desc;
	const char *in;
	int flags;
	const char *want; // encode(decode(in)) and encode(unpack(pack(decode(in))))
} rt_case;

static const rt_case cases[] = {
    {"property_all_fields_json_names", &property__v1__property__descriptor,
     "{\"id\":\"6f1c2b9e-8a4d-4c3e-9b1a-2d5e7f8a9b0c\",\"ownerId\":\"alice\",\"title\":\"Flat\","
     "\"description\":\"Nice \\\"view\\\"\\n\",\"location\":{\"address\":\"1 Main St\","
     "\"city\":\"Berlin\",\"countryCode\":\"DE\",\"latitude\":52.52,\"longitude\":13.405},"
     "\"priceCents\":\"25000000\",\"currency\":\"EUR\",\"bedrooms\":3,"
     "\"status\":\"PROPERTY_STATUS_LISTED\",\"version\":\"2\",\"createdAtUs\":1700000000000000,"
     "\"updatedAtUs\":\"1700000000000001\"}",
     0,
     "{\"id\":\"6f1c2b9e-8a4d-4c3e-9b1a-2d5e7f8a9b0c\",\"owner_id\":\"alice\",\"title\":\"Flat\","
     "\"description\":\"Nice \\\"view\\\"\\n\",\"location\":{\"address\":\"1 Main St\","
     "\"city\":\"Berlin\",\"country_code\":\"DE\",\"latitude\":52.52,\"longitude\":13.405},"
     "\"price_cents\":\"25000000\",\"currency\":\"EUR\",\"bedrooms\":3,"
     "\"status\":\"PROPERTY_STATUS_LISTED\",\"version\":\"2\",\"created_at_us\":"
     "\"1700000000000000\","
     "\"updated_at_us\":\"1700000000000001\"}"},
    {"create_request_enum_number_unicode", &property__v1__create_property_request__descriptor,
     "{\"owner_id\":\"bob\",\"title\":\"Maison \\u00e0 Paris \xe2\x9c\x93\",\"location\":{},"
     "\"price_cents\":-5,\"status\":2,\"bedrooms\":0}",
     0,
     "{\"owner_id\":\"bob\",\"title\":\"Maison \xc3\xa0 Paris \xe2\x9c\x93\",\"location\":{},"
     "\"price_cents\":\"-5\",\"status\":\"PROPERTY_STATUS_LISTED\"}"},
    {"update_request_repeated_strings", &property__v1__update_property_request__descriptor,
     "{\"id\":\"x\",\"expectedVersion\":7,\"property\":{\"title\":\"T\",\"priceCents\":100},"
     "\"updateMask\":[\"title\",\"price_cents\",\"\"]}",
     0,
     "{\"id\":\"x\",\"expected_version\":\"7\",\"property\":{\"title\":\"T\",\"price_cents\":"
     "\"100\"},"
     "\"update_mask\":[\"title\",\"price_cents\",\"\"]}"},
    {"update_request_empty_mask", &property__v1__update_property_request__descriptor,
     "{\"update_mask\":[]}", PBJSON_EMIT_DEFAULTS,
     "{\"id\":\"\",\"expected_version\":\"0\",\"property\":null,\"update_mask\":[]}"},
    {"search_request_nested_bbox", &property__v1__search_properties_request__descriptor,
     "{\"city\":\"Lyon\",\"minPriceCents\":\"0\",\"max_price_cents\":900000,"
     "\"bbox\":{\"minLatitude\":-45.5,\"min_longitude\":-0.1,\"maxLatitude\":45.75,"
     "\"maxLongitude\":4.85},\"status\":\"PROPERTY_STATUS_UNSPECIFIED\",\"pageSize\":5,"
     "\"pageToken\":\"abc\"}",
     0,
     "{\"city\":\"Lyon\",\"max_price_cents\":\"900000\",\"bbox\":{\"min_latitude\":-45.5,"
     "\"min_longitude\":-0.1,\"max_latitude\":45.75,\"max_longitude\":4.85},\"page_size\":5,"
     "\"page_token\":\"abc\"}"},
    {"read_events_repeated_messages", &property__v1__read_events_response__descriptor,
     "{\"events\":[{\"seq\":\"1\",\"id\":\"e1\",\"type\":\"property.created\","
     "\"aggregateId\":\"p1\",\"property\":{\"id\":\"p1\",\"version\":1}},"
     "{\"seq\":2,\"type\":\"property.deleted\",\"occurredAtUs\":\"-1\"},{}],"
     "\"lastSeq\":\"18446744073709551615\"}",
     0,
     "{\"events\":[{\"seq\":\"1\",\"id\":\"e1\",\"type\":\"property.created\","
     "\"aggregate_id\":\"p1\",\"property\":{\"id\":\"p1\",\"version\":\"1\"}},"
     "{\"seq\":\"2\",\"type\":\"property.deleted\",\"occurred_at_us\":\"-1\"},{}],"
     "\"last_seq\":\"18446744073709551615\"}"},
    {"rpc_request_map_and_bytes", &rpc__v1__request__descriptor,
     "{\"method\":\"/grpc.health.v1.Health/Check\",\"payload\":\"AAEC/w==\","
     "\"metadata\":{\"authorization\":\"Bearer t\",\"x-request-id\":\"r1\"},\"timeoutMs\":250}",
     0,
     "{\"method\":\"/grpc.health.v1.Health/Check\",\"payload\":\"AAEC/w==\","
     "\"metadata\":{\"authorization\":\"Bearer t\",\"x-request-id\":\"r1\"},\"timeout_ms\":250}"},
    {"rpc_request_urlsafe_unpadded_base64", &rpc__v1__request__descriptor,
     "{\"payload\":\"AAEC_w\",\"metadata\":[{\"key\":\"k\",\"value\":\"v\"}]}", 0,
     "{\"payload\":\"AAEC/w==\",\"metadata\":{\"k\":\"v\"}}"},
    {"rpc_request_empty_bytes_and_map", &rpc__v1__request__descriptor,
     "{\"payload\":\"\",\"metadata\":{}}", PBJSON_EMIT_DEFAULTS,
     "{\"method\":\"\",\"payload\":\"\",\"metadata\":{},\"timeout_ms\":0}"},
    {"rpc_response_violations", &rpc__v1__response__descriptor,
     "{\"code\":3,\"message\":\"bad\",\"violations\":[{\"field\":\"location.city\","
     "\"description\":\"required\"},{\"field\":\"title\",\"description\":\"too long\"}]}",
     0,
     "{\"code\":3,\"message\":\"bad\",\"violations\":[{\"field\":\"location.city\","
     "\"description\":\"required\"},{\"field\":\"title\",\"description\":\"too long\"}]}"},
    {"nulls_mean_unset", &property__v1__property__descriptor,
     "{\"location\":null,\"title\":null,\"status\":null}", 0, "{}"},
    {"property_emit_defaults", &property__v1__property__descriptor, "{}", PBJSON_EMIT_DEFAULTS,
     "{\"id\":\"\",\"owner_id\":\"\",\"title\":\"\",\"description\":\"\",\"location\":null,"
     "\"price_cents\":\"0\",\"currency\":\"\",\"bedrooms\":0,"
     "\"status\":\"PROPERTY_STATUS_UNSPECIFIED\",\"version\":\"0\",\"created_at_us\":\"0\","
     "\"updated_at_us\":\"0\"}"},
    {"json_names_flag", &property__v1__location__descriptor,
     "{\"country_code\":\"FR\",\"latitude\":0.1}", PBJSON_JSON_NAMES,
     "{\"countryCode\":\"FR\",\"latitude\":0.1}"},
    {"doubles_special_and_integral", &property__v1__bounding_box__descriptor,
     "{\"min_latitude\":\"NaN\",\"min_longitude\":\"-Infinity\",\"max_latitude\":1e21,"
     "\"max_longitude\":\"90\"}",
     0,
     "{\"min_latitude\":\"NaN\",\"min_longitude\":\"-Infinity\",\"max_latitude\":1e+21,"
     "\"max_longitude\":90}"},
    {"doubles_plain_notation", &property__v1__bounding_box__descriptor,
     "{\"min_latitude\":1500000000,\"min_longitude\":0.00001234,\"max_latitude\":-2.5e-8,"
     "\"max_longitude\":1.2345678901234568e23}",
     0,
     "{\"min_latitude\":1500000000,\"min_longitude\":0.00001234,\"max_latitude\":-2.5e-08,"
     "\"max_longitude\":1.2345678901234569e+23}"},
    {"control_characters_escaped", &property__v1__get_property_request__descriptor,
     "{\"id\":\"a\\u0001\\t\\\\b\"}", 0, "{\"id\":\"a\\u0001\\t\\\\b\"}"},
    {"health_enum_name", &grpc__health__v1__health_check_response__descriptor,
     "{\"status\":\"NOT_SERVING\"}", 0, "{\"status\":\"NOT_SERVING\"}"},
    {"unknown_enum_number_kept", &grpc__health__v1__health_check_response__descriptor,
     "{\"status\":42}", 0, "{\"status\":42}"},
    {"pretty", &property__v1__update_property_request__descriptor,
     "{\"id\":\"x\",\"property\":{\"location\":{\"city\":\"Oslo\"}},\"update_mask\":[\"location\"]"
     "}",
     PBJSON_PRETTY,
     "{\n  \"id\": \"x\",\n  \"property\": {\n    \"location\": {\n      \"city\": \"Oslo\"\n"
     "    }\n  },\n  \"update_mask\": [\n    \"location\"\n  ]\n}\n"},
    {"pretty_empty", &property__v1__delete_property_response__descriptor, "{}", PBJSON_PRETTY,
     "{}\n"},
};

static int run(const rt_case *c)
{
	char err[256];
	int ok = 0;
	uint8_t *wire = NULL;
	char *direct = NULL, *again = NULL;
	ProtobufCMessage *back = NULL;
	ProtobufCMessage *m = pdc_pbjson_decode(c->desc, c->in, err, sizeof err);
	if (m == NULL) {
		printf("FAIL %s: decode: %s\n", c->name, err);
		return 0;
	}
	direct = pdc_pbjson_encode(m, c->flags);
	size_t n = protobuf_c_message_get_packed_size(m);
	wire = malloc(n ? n : 1);
	if (direct == NULL || wire == NULL) {
		printf("FAIL %s: out of memory\n", c->name);
		goto out;
	}
	protobuf_c_message_pack(m, wire);
	back = protobuf_c_message_unpack(c->desc, NULL, n, wire);
	if (back == NULL) {
		printf("FAIL %s: the packed message does not unpack\n", c->name);
		goto out;
	}
	again = pdc_pbjson_encode(back, c->flags);
	if (again == NULL) {
		printf("FAIL %s: encode after unpack\n", c->name);
		goto out;
	}
	if (strcmp(direct, c->want) != 0) {
		printf("FAIL %s: encode(decode)\n  got  %s\n  want %s\n", c->name, direct, c->want);
		goto out;
	}
	if (strcmp(again, c->want) != 0) {
		printf("FAIL %s: encode(unpack(pack))\n  got  %s\n  want %s\n", c->name, again,
		       c->want);
		goto out;
	}
	ok = 1;
out:
	protobuf_c_message_free_unpacked(m, NULL);
	if (back != NULL)
		protobuf_c_message_free_unpacked(back, NULL);
	free(wire);
	free(direct);
	free(again);
	return ok;
}

// The decoded message must carry exactly the values given, at the C level too.
static int check_struct(void)
{
	char err[256];
	ProtobufCMessage *m = pdc_pbjson_decode(
	    &rpc__v1__request__descriptor,
	    "{\"payload\":\"AAEC/w==\",\"metadata\":{\"a\":\"1\",\"b\":\"2\"}}", err, sizeof err);
	if (m == NULL) {
		printf("FAIL struct_values: %s\n", err);
		return 0;
	}
	Rpc__V1__Request *r = (Rpc__V1__Request *)m;
	int ok = r->method == protobuf_c_empty_string && r->payload.len == 4 &&
	         r->payload.data[3] == 0xff && r->n_metadata == 2 &&
	         strcmp(r->metadata[1]->key, "b") == 0 && strcmp(r->metadata[1]->value, "2") == 0 &&
	         r->timeout_ms == 0;
	if (!ok)
		printf("FAIL struct_values: fields differ from the JSON\n");
	protobuf_c_message_free_unpacked(m, NULL);
	return ok;
}

int main(void)
{
	size_t n = sizeof cases / sizeof cases[0], passed = 0;
	for (size_t i = 0; i < n; i++)
		passed += (size_t)run(&cases[i]);
	int extra = check_struct();
	printf("%zu passed, %zu failed\n", passed + (size_t)extra, n + 1 - passed - (size_t)extra);
	return passed == n && extra ? 0 : 1;
}
