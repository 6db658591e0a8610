// property validate: the input rules of docs/contract.md section 5, as pure checks.
//
// Every check appends (field, description) pairs to a caller-provided
// prop_violations list; nothing here allocates, blocks or touches a port, so
// the functions are safe on any thread. A field is reported at most once (the
// first description wins), matching "a violation per bad field".
//
// Field names follow the request message (`title`, `location.city`,
// `owner_id`); an update's fields are named as in Property.
//
// Strings arrive as protobuf-c char* (NUL-terminated): a U+0000 inside a
// string truncates it and cannot be seen here. pbscan.h covers that from the
// serialized payload.
#ifndef PROP_VALIDATE_H
#define PROP_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "property/v1/events.pb-c.h"
#include "property/v1/property.pb-c.h"

// A request has at most a few dozen string and number fields; more violations
// than this add nothing for the caller (the count is still reported).
#define PROP_MAX_VIOLATIONS 32
// Longest field path we name ("property.location.country_code" is 30).
#define PROP_FIELD_MAX 64

#define PROP_TITLE_MAX_CP      200
#define PROP_DESCRIPTION_MAX_B 10000
#define PROP_CITY_MAX_CP       100
#define PROP_ADDRESS_MAX_CP    300
#define PROP_BEDROOMS_MAX      1000u
#define PROP_OWNER_MAX_B       64
#define PROP_TYPE_PREFIX_MAX_B 100
#define PROP_IDEM_KEY_MAX_B    200 // idempotency-key metadata value
#define PROP_PAGE_SIZE_DEFAULT 20u
#define PROP_PAGE_SIZE_MAX     100u
#define PROP_EVENTS_DEFAULT    100u
#define PROP_EVENTS_MAX        1000u

typedef struct prop_violation {
	char field[PROP_FIELD_MAX];
	const char *description; // a static string
} prop_violation;

typedef struct prop_violations {
	size_t n;     // entries stored in v (at most PROP_MAX_VIOLATIONS)
	size_t total; // violations reported, including those that did not fit
	prop_violation v[PROP_MAX_VIOLATIONS];
} prop_violations;

static inline void prop_violations_init(prop_violations *vs)
{
	vs->n = 0;
	vs->total = 0;
}

// Appends unless `field` is already listed. `description` must be static.
void prop_violation_add(prop_violations *vs, const char *field, const char *description);

// True for 8-4-4-4-12 hexadecimal digits (either case).
bool prop_uuid_valid(const char *s);
// Copies a valid UUID into out[37] in lower case (the canonical form used as
// cache key and cursor). Returns false when s is not a UUID.
bool prop_uuid_canonical(const char *s, char out[37]);

// Page size rules: 0 -> 20, above 100 -> 100.
uint32_t prop_page_size(uint32_t requested);
// ReadEvents limit rules: 0 -> 100, above 1000 -> 1000.
uint32_t prop_events_limit(uint32_t requested);
// True when some event type this service writes (property.created, .updated,
// .deleted) starts with `prefix` ("" matches all). A ReadEvents whose prefix
// matches none has nothing to find and need not scan the log.
bool prop_event_prefix_can_match(const char *prefix);

// The create rules, applied after owner resolution (owner_id must then be
// 1..64 bytes). Status 0 is allowed (it means DRAFT).
void prop_validate_create(const Property__V1__CreatePropertyRequest *r, prop_violations *vs);

// `mask` receives the PROP_F_* bits of update_mask. An empty mask, an unknown
// path or an immutable one (`id`, `owner_id`, `version`, timestamps) is a
// violation on `update_mask`; masked fields of r->property are checked with
// their Property names. The id must be a UUID.
void prop_validate_update(const Property__V1__UpdatePropertyRequest *r, unsigned *mask,
                          prop_violations *vs);

// `id` must be a UUID; `field` names it in the violation.
void prop_validate_id(const char *id, const char *field, prop_violations *vs);

// owner_id 1..64 bytes of valid UTF-8.
void prop_validate_list(const Property__V1__ListPropertiesByOwnerRequest *r, prop_violations *vs);

void prop_validate_search(const Property__V1__SearchPropertiesRequest *r, prop_violations *vs);

void prop_validate_read_events(const Property__V1__ReadEventsRequest *r, prop_violations *vs);

#endif
