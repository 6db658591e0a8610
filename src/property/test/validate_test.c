// property_validate: every input rule of docs/contract.md section 5, as tables of
// named cases, plus pbscan on hand-built wire bytes.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test/check.h"
#include "property/pbscan.h"
#include "property/ports.h"
#include "property/validate.h"

// Checks that vs holds exactly the violation `want` ("" = none).
static void expect(const char *name, const prop_violations *vs, const char *want)
{
	if (want[0] == '\0') {
		if (vs->n != 0) {
			CHECK_FAIL("%s: unexpected violation %s: %s", name, vs->v[0].field,
			           vs->v[0].description);
		}
		return;
	}
	if (vs->n != 1 || strcmp(vs->v[0].field, want) != 0) {
		CHECK_FAIL("%s: want one violation on %s, got %zu%s%s", name, want, vs->n,
		           vs->n > 0 ? " first on " : "", vs->n > 0 ? vs->v[0].field : "");
	}
}

// s repeated rep times (rep 0: once), in a static buffer.
static const char *rep(const char *s, int n)
{
	static char buf[64 * 1024];
	size_t len = strlen(s), o = 0;
	for (int i = 0; i < (n > 0 ? n : 1); i++) {
		memcpy(buf + o, s, len);
		o += len;
	}
	buf[o] = '\0';
	return buf;
}

// ---- create ---------------------------------------------------------------------------------

enum cfield {
	C_NONE,
	C_OWNER,
	C_TITLE,
	C_DESC,
	C_CITY,
	C_ADDR,
	C_CC,
	C_LAT,
	C_LON,
	C_PRICE,
	C_CUR,
	C_BED,
	C_STATUS,
	C_NO_LOCATION,
};

struct create_case {
	const char *name;
	enum cfield f;
	const char *s; // string value
	int rep;       // s repeated
	double d;      // latitude / longitude
	int64_t i;     // integers
	const char *want;
};

static const struct create_case create_cases[] = {
    {"valid", C_NONE, NULL, 0, 0, 0, ""},
    {"title 200 two-byte chars", C_TITLE, "\xC3\xA9", 200, 0, 0, ""},
    {"title 201 two-byte chars", C_TITLE, "\xC3\xA9", 201, 0, 0, "title"},
    {"title 200 four-byte chars", C_TITLE, "\xF0\x9F\x98\x80", 200, 0, 0, ""},
    {"title 201 ascii", C_TITLE, "a", 201, 0, 0, "title"},
    {"title empty", C_TITLE, "", 0, 0, 0, "title"},
    {"title overlong slash", C_TITLE, "a\xC0\xAF", 0, 0, 0, "title"},
    {"title overlong 3-byte", C_TITLE, "\xE0\x80\xAF", 0, 0, 0, "title"},
    {"title overlong 4-byte", C_TITLE, "\xF0\x80\x80\xAF", 0, 0, 0, "title"},
    {"title surrogate", C_TITLE, "\xED\xA0\x80", 0, 0, 0, "title"},
    {"title above U+10FFFF", C_TITLE, "\xF4\x90\x80\x80", 0, 0, 0, "title"},
    {"title truncated sequence", C_TITLE, "ab\xE2\x82", 0, 0, 0, "title"},
    {"title lone continuation", C_TITLE, "\x80", 0, 0, 0, "title"},
    {"title 0xFF", C_TITLE, "\xFF", 0, 0, 0, "title"},
    {"title U+10FFFF ok", C_TITLE, "\xF4\x8F\xBF\xBF", 0, 0, 0, ""},
    {"title U+FFFD ok", C_TITLE, "\xEF\xBF\xBD", 0, 0, 0, ""},
    {"description 10000 bytes", C_DESC, "a", 10000, 0, 0, ""},
    {"description 10001 bytes", C_DESC, "a", 10001, 0, 0, "description"},
    {"description 5000 two-byte chars", C_DESC, "\xC3\xA9", 5000, 0, 0, ""},
    {"description 5001 two-byte chars", C_DESC, "\xC3\xA9", 5001, 0, 0, "description"},
    {"description empty", C_DESC, "", 0, 0, 0, ""},
    {"description bad utf8", C_DESC, "\xC3", 0, 0, 0, "description"},
    {"city empty", C_CITY, "", 0, 0, 0, "location.city"},
    {"city 100 chars", C_CITY, "\xC3\xBC", 100, 0, 0, ""},
    {"city 101 chars", C_CITY, "\xC3\xBC", 101, 0, 0, "location.city"},
    {"address 300 chars", C_ADDR, "\xC3\x9F", 300, 0, 0, ""},
    {"address 301 chars", C_ADDR, "\xC3\x9F", 301, 0, 0, "location.address"},
    {"address empty", C_ADDR, "", 0, 0, 0, ""},
    {"country us", C_CC, "us", 0, 0, 0, "location.country_code"},
    {"country USA", C_CC, "USA", 0, 0, 0, "location.country_code"},
    {"country U1", C_CC, "U1", 0, 0, 0, "location.country_code"},
    {"country empty", C_CC, "", 0, 0, 0, "location.country_code"},
    {"country GB", C_CC, "GB", 0, 0, 0, ""},
    {"no location", C_NO_LOCATION, NULL, 0, 0, 0, "location.city"},
    {"lat 90", C_LAT, NULL, 0, 90.0, 0, ""},
    {"lat -90", C_LAT, NULL, 0, -90.0, 0, ""},
    {"lat 90.0001", C_LAT, NULL, 0, 90.0001, 0, "location.latitude"},
    {"lat -90.0001", C_LAT, NULL, 0, -90.0001, 0, "location.latitude"},
    {"lat NaN", C_LAT, NULL, 0, NAN, 0, "location.latitude"},
    {"lat inf", C_LAT, NULL, 0, INFINITY, 0, "location.latitude"},
    {"lon 180", C_LON, NULL, 0, 180.0, 0, ""},
    {"lon -180", C_LON, NULL, 0, -180.0, 0, ""},
    {"lon 180.0001", C_LON, NULL, 0, 180.0001, 0, "location.longitude"},
    {"lon NaN", C_LON, NULL, 0, NAN, 0, "location.longitude"},
    {"lon -inf", C_LON, NULL, 0, -INFINITY, 0, "location.longitude"},
    {"price 0", C_PRICE, NULL, 0, 0, 0, ""},
    {"price -1", C_PRICE, NULL, 0, 0, -1, "price_cents"},
    {"currency EUR", C_CUR, "EUR", 0, 0, 0, ""},
    {"currency usd", C_CUR, "usd", 0, 0, 0, "currency"},
    {"currency EURO", C_CUR, "EURO", 0, 0, 0, "currency"},
    {"currency E1R", C_CUR, "E1R", 0, 0, 0, "currency"},
    {"currency empty", C_CUR, "", 0, 0, 0, "currency"},
    {"bedrooms 1000", C_BED, NULL, 0, 0, 1000, ""},
    {"bedrooms 1001", C_BED, NULL, 0, 0, 1001, "bedrooms"},
    {"owner empty", C_OWNER, "", 0, 0, 0, "owner_id"},
    {"owner 64 bytes", C_OWNER, "o", 64, 0, 0, ""},
    {"owner 65 bytes", C_OWNER, "o", 65, 0, 0, "owner_id"},
    {"owner bad utf8", C_OWNER, "\xC0\x80", 0, 0, 0, "owner_id"},
    {"status 0 (draft)", C_STATUS, NULL, 0, 0, 0, ""},
    {"status 5", C_STATUS, NULL, 0, 0, 5, ""},
    {"status 6", C_STATUS, NULL, 0, 0, 6, "status"},
    {"status -1", C_STATUS, NULL, 0, 0, -1, "status"},
};

static void run_create_case(const struct create_case *tc)
{
	Property__V1__Location loc = PROPERTY__V1__LOCATION__INIT;
	Property__V1__CreatePropertyRequest r = PROPERTY__V1__CREATE_PROPERTY_REQUEST__INIT;
	prop_violations vs;
	char *s = tc->s != NULL ? strdup(rep(tc->s, tc->rep)) : NULL;

	loc.address = "1 Main St";
	loc.city = "Paris";
	loc.country_code = "FR";
	loc.latitude = 48.85;
	loc.longitude = 2.35;
	r.owner_id = "alice";
	r.title = "Flat";
	r.description = "Nice";
	r.location = &loc;
	r.price_cents = 100;
	r.currency = "EUR";
	r.bedrooms = 2;
	switch (tc->f) {
	case C_NONE:
		break;
	case C_OWNER:
		r.owner_id = s;
		break;
	case C_TITLE:
		r.title = s;
		break;
	case C_DESC:
		r.description = s;
		break;
	case C_CITY:
		loc.city = s;
		break;
	case C_ADDR:
		loc.address = s;
		break;
	case C_CC:
		loc.country_code = s;
		break;
	case C_LAT:
		loc.latitude = tc->d;
		break;
	case C_LON:
		loc.longitude = tc->d;
		break;
	case C_PRICE:
		r.price_cents = tc->i;
		break;
	case C_CUR:
		r.currency = s;
		break;
	case C_BED:
		r.bedrooms = (uint32_t)tc->i;
		break;
	case C_STATUS:
		r.status = (Property__V1__PropertyStatus)tc->i;
		break;
	case C_NO_LOCATION:
		r.location = NULL;
		break;
	}
	prop_violations_init(&vs);
	prop_validate_create(&r, &vs);
	if (tc->f == C_NO_LOCATION) {
		// every location field is then wrong; city is the first reported
		if (vs.n == 0 || strcmp(vs.v[0].field, "location.city") != 0) {
			CHECK_FAIL("%s: want location.city among violations", tc->name);
		}
	} else {
		expect(tc->name, &vs, tc->want);
	}
	free(s);
}

// ---- update ---------------------------------------------------------------------------------

struct update_case {
	const char *name;
	const char *id;
	const char *mask[3]; // NULL-terminated
	const char *title;
	const char *country; // location.country_code when location is in the mask
	int status;
	const char *want;
	unsigned want_mask;
};

#define UUID_OK "123e4567-e89b-42d3-a456-426614174000"

static const struct update_case update_cases[] = {
    {"title", UUID_OK, {"title"}, "New", "FR", 1, "", PROP_F_TITLE},
    {"empty mask", UUID_OK, {NULL}, "New", "FR", 1, "update_mask", 0},
    {"unknown path", UUID_OK, {"nope"}, "New", "FR", 1, "update_mask", 0},
    {"nested path", UUID_OK, {"location.city"}, "New", "FR", 1, "update_mask", 0},
    {"immutable id", UUID_OK, {"id"}, "New", "FR", 1, "update_mask", 0},
    {"immutable version", UUID_OK, {"version"}, "New", "FR", 1, "update_mask", 0},
    {"immutable owner_id", UUID_OK, {"owner_id"}, "New", "FR", 1, "update_mask", 0},
    {"immutable with valid",
     UUID_OK,
     {"title", "owner_id"},
     "New",
     "FR",
     1,
     "update_mask",
     PROP_F_TITLE},
    {"masked title empty", UUID_OK, {"title"}, "", "FR", 1, "title", PROP_F_TITLE},
    {"unmasked title empty", UUID_OK, {"bedrooms"}, "", "FR", 1, "", PROP_F_BEDROOMS},
    {"location country us",
     UUID_OK,
     {"location"},
     "x",
     "us",
     1,
     "location.country_code",
     PROP_F_LOCATION},
    {"location ok",
     UUID_OK,
     {"location", "price_cents"},
     "x",
     "FR",
     1,
     "",
     PROP_F_LOCATION | PROP_F_PRICE},
    {"status 0", UUID_OK, {"status"}, "x", "FR", 0, "status", PROP_F_STATUS},
    {"status 6", UUID_OK, {"status"}, "x", "FR", 6, "status", PROP_F_STATUS},
    {"status 4", UUID_OK, {"status"}, "x", "FR", 4, "", PROP_F_STATUS},
    {"id not uuid", "not-a-uuid", {"title"}, "x", "FR", 1, "id", PROP_F_TITLE},
    {"id upper case",
     "123E4567-E89B-42D3-A456-426614174000",
     {"title"},
     "x",
     "FR",
     1,
     "",
     PROP_F_TITLE},
    {"id empty", "", {"title"}, "x", "FR", 1, "id", PROP_F_TITLE},
};

static void run_update_case(const struct update_case *tc)
{
	Property__V1__Location loc = PROPERTY__V1__LOCATION__INIT;
	Property__V1__Property p = PROPERTY__V1__PROPERTY__INIT;
	Property__V1__UpdatePropertyRequest r = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	prop_violations vs;
	unsigned mask = 0;
	char *paths[3];
	size_t n = 0;

	loc.city = "Paris";
	loc.country_code = (char *)tc->country;
	p.title = (char *)tc->title;
	p.location = &loc;
	p.currency = "EUR";
	p.status = (Property__V1__PropertyStatus)tc->status;
	while (n < 3 && tc->mask[n] != NULL) {
		paths[n] = (char *)tc->mask[n];
		n++;
	}
	r.id = (char *)tc->id;
	r.property = &p;
	r.update_mask = paths;
	r.n_update_mask = n;
	prop_violations_init(&vs);
	prop_validate_update(&r, &mask, &vs);
	expect(tc->name, &vs, tc->want);
	if (mask != tc->want_mask) {
		CHECK_FAIL("%s: mask %#x, want %#x", tc->name, mask, tc->want_mask);
	}
}

// ---- ids ------------------------------------------------------------------------------------

static void test_uuids(void)
{
	static const struct {
		const char *s;
		int ok;
	} cases[] = {
	    {UUID_OK, 1},
	    {"123E4567-E89B-42D3-A456-426614174000", 1},
	    {"123e4567-e89b-42d3-a456-42661417400", 0},
	    {"123e4567-e89b-42d3-a456-4266141740000", 0},
	    {"123e4567e-89b-42d3-a456-426614174000", 0},
	    {"123e4567-e89b-42d3-a456-42661417400g", 0},
	    {"123e4567_e89b_42d3_a456_426614174000", 0},
	    {"", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		prop_violations vs;
		prop_violations_init(&vs);
		prop_validate_id(cases[i].s, "id", &vs);
		expect(cases[i].s, &vs, cases[i].ok ? "" : "id");
	}
	char canon[37];
	if (!prop_uuid_canonical("123E4567-E89B-42D3-A456-426614174000", canon) ||
	    strcmp(canon, UUID_OK) != 0) {
		CHECK_FAIL("canonical uuid is not lower case");
	}
	prop_violations vs;
	prop_violations_init(&vs);
	prop_validate_id(NULL, "id", &vs);
	expect("NULL id", &vs, "id");
}

// ---- search, list, events, paging -----------------------------------------------------------

static void test_search(void)
{
	static const struct {
		const char *name;
		const char *city, *cc;
		int64_t min, max;
		uint32_t beds;
		int bbox; // 0: none, 1: ok, 2: lat out of range, 3: min > max lon
		int status;
		const char *want;
	} cases[] = {
	    {"empty", "", "", 0, 0, 0, 0, 0, ""},
	    {"all set", "paris", "FR", 10, 100, 3, 1, 2, ""},
	    {"country lower", "", "fr", 0, 0, 0, 0, 0, "country_code"},
	    {"country three", "", "FRA", 0, 0, 0, 0, 0, "country_code"},
	    {"min negative", "", "", -1, 0, 0, 0, 0, "min_price_cents"},
	    {"max below min", "", "", 100, 99, 0, 0, 0, "max_price_cents"},
	    {"max 0 no bound", "", "", 100, 0, 0, 0, 0, ""},
	    {"max equals min", "", "", 100, 100, 0, 0, 0, ""},
	    {"bedrooms 1000", "", "", 0, 0, 1000, 0, 0, ""},
	    {"bedrooms 1001", "", "", 0, 0, 1001, 0, 0, "min_bedrooms"},
	    {"bbox lat 91", "", "", 0, 0, 0, 2, 0, "bbox.max_latitude"},
	    {"bbox lon reversed", "", "", 0, 0, 0, 3, 0, "bbox.max_longitude"},
	    {"status 5", "", "", 0, 0, 0, 0, 5, ""},
	    {"status 6", "", "", 0, 0, 0, 0, 6, "status"},
	    {"city bad utf8", "\xED\xB0\x80", "", 0, 0, 0, 0, 0, "city"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Property__V1__SearchPropertiesRequest r =
		    PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
		Property__V1__BoundingBox b = PROPERTY__V1__BOUNDING_BOX__INIT;
		prop_violations vs;
		r.city = (char *)cases[i].city;
		r.country_code = (char *)cases[i].cc;
		r.min_price_cents = cases[i].min;
		r.max_price_cents = cases[i].max;
		r.min_bedrooms = cases[i].beds;
		r.status = (Property__V1__PropertyStatus)cases[i].status;
		b.min_latitude = 40;
		b.max_latitude = cases[i].bbox == 2 ? 91 : 50;
		b.min_longitude = cases[i].bbox == 3 ? 10 : 0;
		b.max_longitude = 5;
		if (cases[i].bbox == 1) {
			b.max_longitude = 10;
		}
		r.bbox = cases[i].bbox != 0 ? &b : NULL;
		prop_violations_init(&vs);
		prop_validate_search(&r, &vs);
		expect(cases[i].name, &vs, cases[i].want);
	}
	// city length
	Property__V1__SearchPropertiesRequest r = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	prop_violations vs;
	char *city = strdup(rep("\xC3\xBC", 101));
	r.city = city;
	prop_violations_init(&vs);
	prop_validate_search(&r, &vs);
	expect("search city 101 chars", &vs, "city");
	free(city);
}

static void test_list_and_events(void)
{
	static const struct {
		const char *name;
		const char *owner;
		int rep;
		const char *want;
	} lists[] = {
	    {"owner ok", "alice", 0, ""},
	    {"owner empty", "", 0, "owner_id"},
	    {"owner 64", "x", 64, ""},
	    {"owner 65", "x", 65, "owner_id"},
	};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		Property__V1__ListPropertiesByOwnerRequest r =
		    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
		prop_violations vs;
		char *o = strdup(rep(lists[i].owner, lists[i].rep));
		r.owner_id = o;
		prop_violations_init(&vs);
		prop_validate_list(&r, &vs);
		expect(lists[i].name, &vs, lists[i].want);
		free(o);
	}

	static const struct {
		const char *name;
		const char *prefix;
		int rep;
		const char *want;
	} evs[] = {
	    {"prefix empty", "", 0, ""},
	    {"prefix 100 bytes", "p", 100, ""},
	    {"prefix 101 bytes", "p", 101, "type_prefix"},
	    {"prefix bad utf8", "property.\xC3", 0, "type_prefix"},
	};
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		Property__V1__ReadEventsRequest r = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
		prop_violations vs;
		char *p = strdup(rep(evs[i].prefix, evs[i].rep));
		r.type_prefix = p;
		prop_violations_init(&vs);
		prop_validate_read_events(&r, &vs);
		expect(evs[i].name, &vs, evs[i].want);
		free(p);
	}

	static const struct {
		uint32_t in, page, events;
	} sizes[] = {{0, 20, 100},      {1, 1, 1},         {100, 100, 100},        {101, 100, 101},
	             {1000, 100, 1000}, {1001, 100, 1000}, {UINT32_MAX, 100, 1000}};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (prop_page_size(sizes[i].in) != sizes[i].page) {
			CHECK_FAIL("page size %u -> %u, want %u", sizes[i].in,
			           prop_page_size(sizes[i].in), sizes[i].page);
		}
		if (prop_events_limit(sizes[i].in) != sizes[i].events) {
			CHECK_FAIL("events limit %u -> %u, want %u", sizes[i].in,
			           prop_events_limit(sizes[i].in), sizes[i].events);
		}
	}
}

static void test_violation_list(void)
{
	prop_violations vs;
	prop_violations_init(&vs);
	prop_violation_add(&vs, "title", "a");
	prop_violation_add(&vs, "title", "b");
	if (vs.n != 1 || strcmp(vs.v[0].description, "a") != 0) {
		CHECK_FAIL("a field is reported once, first description wins");
	}
	for (int i = 0; i < PROP_MAX_VIOLATIONS + 5; i++) {
		char f[16];
		snprintf(f, sizeof(f), "f%d", i);
		prop_violation_add(&vs, f, "x");
	}
	if (vs.n != PROP_MAX_VIOLATIONS || vs.total != PROP_MAX_VIOLATIONS + 6) {
		CHECK_FAIL("violation list bound: n %zu total %zu", vs.n, vs.total);
	}
}

// ---- pbscan ---------------------------------------------------------------------------------

// Appends a length-delimited field (field < 16, len < 128: one-byte tag and length).
static size_t put_len(uint8_t *b, size_t o, unsigned field, const void *data, size_t len)
{
	b[o++] = (uint8_t)(field << 3 | 2);
	b[o++] = (uint8_t)len;
	memcpy(b + o, data, len);
	return o + len;
}

struct scan_case {
	const char *name;
	int kind; // see build_scan
	const char *strip;
	const char *want; // "" none
	const char *desc; // expected description when want is set
	int rc;
};

static const struct scan_case scan_cases[] = {
    {"clean create", 0, NULL, "", NULL, 0},
    {"NUL in title", 1, NULL, "title", "must not contain U+0000", 0},
    {"NUL in location.city", 2, NULL, "location.city", "must not contain U+0000", 0},
    {"overlong in owner_id", 3, NULL, "owner_id", "must be valid UTF-8", 0},
    {"NUL in update property.title, stripped", 4, "property.", "title", "must not contain U+0000",
     0},
    {"NUL in update_mask", 5, "property.", "update_mask", "must not contain U+0000", 0},
    {"NUL in unknown field ignored", 6, NULL, "", NULL, 0},
    {"truncated length", 7, NULL, "", NULL, -1},
    {"NUL in nested update location", 8, "property.", "location.city", "must not contain U+0000",
     0},
    {"group wire type", 9, NULL, "", NULL, -1},
    {"NUL in get id", 10, NULL, "id", "must not contain U+0000", 0},
    {"field number 0", 11, NULL, "", NULL, -1},
};

static size_t build_scan(int kind, uint8_t *b, const ProtobufCMessageDescriptor **desc)
{
	size_t o = 0;
	uint8_t sub[64];
	size_t so = 0;
	*desc = &property__v1__create_property_request__descriptor;
	switch (kind) {
	case 0:
		o = put_len(b, o, 1, "alice", 5);
		o = put_len(b, o, 2, "Flat", 4);
		so = put_len(sub, so, 2, "Paris", 5);
		o = put_len(b, o, 4, sub, so);
		b[o++] = 5 << 3; // price_cents varint
		b[o++] = 0x96;
		b[o++] = 0x01;
		break;
	case 1:
		o = put_len(b, o, 2, "ab\0c", 4);
		break;
	case 2:
		so = put_len(sub, so, 2, "P\0", 2);
		o = put_len(b, o, 4, sub, so);
		break;
	case 3:
		o = put_len(b, o, 1, "\xC0\xAF", 2);
		break;
	case 4:
		*desc = &property__v1__update_property_request__descriptor;
		so = put_len(sub, so, 3, "x\0", 2);
		o = put_len(b, o, 3, sub, so);
		break;
	case 5:
		*desc = &property__v1__update_property_request__descriptor;
		o = put_len(b, o, 4, "title", 5);
		o = put_len(b, o, 4, "ti\0tle", 6);
		break;
	case 6:
		o = put_len(b, o, 15, "a\0b", 3); // 15: unknown, one-byte tag
		break;
	case 7:
		b[o++] = 2 << 3 | 2;
		b[o++] = 10;
		b[o++] = 'a';
		break;
	case 8: {
		uint8_t loc[16];
		size_t lo = put_len(loc, 0, 2, "\0", 1);
		*desc = &property__v1__update_property_request__descriptor;
		so = put_len(sub, so, 5, loc, lo);
		o = put_len(b, o, 3, sub, so);
		break;
	}
	case 9:
		b[o++] = 2 << 3 | 3;
		break;
	case 10:
		*desc = &property__v1__get_property_request__descriptor;
		o = put_len(b, o, 1, UUID_OK "\0x", 38);
		break;
	case 11: // protobuf-c refuses field number 0; so does pbwire (a cached page too)
		o = put_len(b, o, 0, "a\0b", 3);
		break;
	}
	return o;
}

static void run_scan_case(const struct scan_case *tc)
{
	uint8_t buf[256];
	const ProtobufCMessageDescriptor *desc;
	size_t len = build_scan(tc->kind, buf, &desc);
	prop_violations vs;
	prop_violations_init(&vs);
	int rc = prop_pbscan_strings(buf, len, desc, tc->strip, &vs);
	if (rc != tc->rc) {
		CHECK_FAIL("%s: rc %d, want %d", tc->name, rc, tc->rc);
	}
	expect(tc->name, &vs, tc->want);
	if (tc->desc != NULL && vs.n == 1 && strcmp(vs.v[0].description, tc->desc) != 0) {
		CHECK_FAIL("%s: description %s, want %s", tc->name, vs.v[0].description, tc->desc);
	}
}

// What protobuf-c does with an embedded NUL: the char* is cut short, which is
// why pbscan exists. If this ever changes, pbscan may be simplified.
static void test_protobuf_c_truncates(void)
{
	uint8_t buf[64];
	size_t len = put_len(buf, 0, 2, "ab\0c", 4);
	Property__V1__CreatePropertyRequest *r =
	    property__v1__create_property_request__unpack(NULL, len, buf);
	if (r == NULL) {
		return; // rejected outright: also safe
	}
	if (strcmp(r->title, "ab") != 0) {
		CHECK_FAIL("protobuf-c kept %s", r->title);
	}
	property__v1__create_property_request__free_unpacked(r, NULL);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(create_cases) / sizeof(create_cases[0]); i++) {
		run_create_case(&create_cases[i]);
	}
	for (size_t i = 0; i < sizeof(update_cases) / sizeof(update_cases[0]); i++) {
		run_update_case(&update_cases[i]);
	}
	for (size_t i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]); i++) {
		run_scan_case(&scan_cases[i]);
	}
	test_uuids();
	test_search();
	test_list_and_events();
	test_violation_list();
	test_protobuf_c_truncates();
	return check_summary("property_validate");
}
