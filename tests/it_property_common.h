// it_property's shared context and helpers (it_property_common.c), for the
// cases in it_property_*.c: the instance under test with its owner and bearer
// token, the fields a validation case sets wrong (create and update), the
// violations of a bad result printed, and hand-built protobuf payloads.
#ifndef IT_PROPERTY_COMMON_H
#define IT_PROPERTY_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

typedef struct ctx {
	h_proc p;
	char owner[96];
	char *auth;
} ctx;

// The field a validation case sets (it_property_create.c, it_property_update.c).
enum vkind {
	V_TITLE,
	V_DESC,
	V_CITY,
	V_ADDRESS,
	V_COUNTRY,
	V_CURRENCY,
	V_LAT,
	V_LON,
	V_PRICE,
	V_BEDROOMS,
	V_OWNER,
	V_NO_LOCATION
};

// Prints r's violations when bad.
void print_violations_if(bool bad, const char *what, const nrpc_result *r);

// A growing byte buffer for hand-built protobuf payloads.
typedef struct pbuf {
	uint8_t *p;
	size_t n, cap;
} pbuf;

// Field `field`, wire type 2 (length-delimited), holding data[len].
void pb_bytes(pbuf *b, unsigned field, const void *data, size_t len);
// m packed at the end of b.
void pb_msg(pbuf *b, const ProtobufCMessage *m);

// ---- the cases (it_property_*.c), run by it_property.c ------------------------------------

// it_property_create.c
void case_create_validation(void *arg);
void case_create_many_violations(void *arg);
void case_create_raw_strings(void *arg);
// it_property_update.c
void case_bad_ids(void *arg);
void case_update_validation(void *arg);
// it_property_lifecycle.c
void case_lifecycle(void *arg);
void case_missing_ids(void *arg);
void case_version_mismatch(void *arg);
void case_verbatim_strings(void *arg);
void case_status_default(void *arg);

#endif
