// it_property: every validation rule of CreateProperty with its code and
// violation field, many violations in one reply, and raw (non-UTF-8, NUL)
// strings (docs/contract.md section 4).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_property_common.h"

// A string literal and its length without the terminating NUL (it may hold NULs).
#define BYTES(s) s, sizeof(s) - 1

// unit repeated n times, malloc'd.
static char *rep(const char *unit, size_t n)
{
	size_t ul = strlen(unit);
	char *s = malloc(ul * n + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * n] = '\0';
	return s;
}

// ---- validation of CreateProperty --------------------------------------------------------

typedef struct vcase {
	const char *name;
	enum vkind kind;
	const char *unit; // string kinds: unit repeated count times
	size_t count;
	double num;        // number kinds
	const char *field; // expected violation, NULL: valid
} vcase;

static const vcase create_cases[] = {
    {"title 0 chars", V_TITLE, "", 0, 0, "title"},
    {"title 1 char (2 bytes)", V_TITLE, "é", 1, 0, NULL},
    {"title 200 chars (600 bytes)", V_TITLE, "€", 200, 0, NULL},
    {"title 201 chars", V_TITLE, "€", 201, 0, "title"},
    {"title 200 4-byte chars", V_TITLE, "😀", 200, 0, NULL},
    {"title 201 ascii", V_TITLE, "t", 201, 0, "title"},
    {"description empty", V_DESC, "", 0, 0, NULL},
    {"description 10000 bytes", V_DESC, "d", 10000, 0, NULL},
    {"description 10001 bytes", V_DESC, "d", 10001, 0, "description"},
    {"description 5000 2-byte chars", V_DESC, "é", 5000, 0, NULL},
    {"description 3334 3-byte chars (10002 bytes)", V_DESC, "€", 3334, 0, "description"},
    {"city 0 chars", V_CITY, "", 0, 0, "location.city"},
    {"city 100 chars (200 bytes)", V_CITY, "ü", 100, 0, NULL},
    {"city 101 chars", V_CITY, "ü", 101, 0, "location.city"},
    {"address empty", V_ADDRESS, "", 0, 0, NULL},
    {"address 300 chars (900 bytes)", V_ADDRESS, "€", 300, 0, NULL},
    {"address 301 chars", V_ADDRESS, "€", 301, 0, "location.address"},
    {"country us", V_COUNTRY, "us", 1, 0, "location.country_code"},
    {"country USA", V_COUNTRY, "USA", 1, 0, "location.country_code"},
    {"country U1", V_COUNTRY, "U1", 1, 0, "location.country_code"},
    {"country empty", V_COUNTRY, "", 0, 0, "location.country_code"},
    {"country ÄB", V_COUNTRY, "ÄB", 1, 0, "location.country_code"},
    {"latitude 90", V_LAT, NULL, 0, 90.0, NULL},
    {"latitude -90", V_LAT, NULL, 0, -90.0, NULL},
    {"latitude 90.0001", V_LAT, NULL, 0, 90.0001, "location.latitude"},
    {"latitude -90.0001", V_LAT, NULL, 0, -90.0001, "location.latitude"},
    {"latitude NaN", V_LAT, NULL, 0, NAN, "location.latitude"},
    {"longitude 180", V_LON, NULL, 0, 180.0, NULL},
    {"longitude -180", V_LON, NULL, 0, -180.0, NULL},
    {"longitude -180.5", V_LON, NULL, 0, -180.5, "location.longitude"},
    {"longitude 180.0001", V_LON, NULL, 0, 180.0001, "location.longitude"},
    {"longitude inf", V_LON, NULL, 0, INFINITY, "location.longitude"},
    {"price 0", V_PRICE, NULL, 0, 0, NULL},
    {"price -1", V_PRICE, NULL, 0, -1, "price_cents"},
    {"currency usd", V_CURRENCY, "usd", 1, 0, "currency"},
    {"currency US", V_CURRENCY, "US", 1, 0, "currency"},
    {"currency USDX", V_CURRENCY, "USDX", 1, 0, "currency"},
    {"currency empty", V_CURRENCY, "", 0, 0, "currency"},
    {"bedrooms 0", V_BEDROOMS, NULL, 0, 0, NULL},
    {"bedrooms 1000", V_BEDROOMS, NULL, 0, 1000, NULL},
    {"bedrooms 1001", V_BEDROOMS, NULL, 0, 1001, "bedrooms"},
    {"owner_id 64 bytes", V_OWNER, "o", 64, 0, NULL},
    {"owner_id 65 bytes", V_OWNER, "o", 65, 0, "owner_id"},
};

void case_create_validation(void *arg)
{
	ctx *c = arg;
	for (size_t i = 0; i < sizeof(create_cases) / sizeof(create_cases[0]); i++) {
		const vcase *v = &create_cases[i];
		Property__V1__CreatePropertyRequest cr;
		Property__V1__Location loc;
		h_valid_create(&cr, &loc, "");
		char *s = v->unit != NULL ? rep(v->unit, v->count) : NULL;
		char *auth = c->auth;
		char owner_buf[128];
		switch (v->kind) {
		case V_TITLE:
			cr.title = s;
			break;
		case V_DESC:
			cr.description = s;
			break;
		case V_CITY:
			loc.city = s;
			break;
		case V_ADDRESS:
			loc.address = s;
			break;
		case V_COUNTRY:
			loc.country_code = s;
			break;
		case V_CURRENCY:
			cr.currency = s;
			break;
		case V_LAT:
			loc.latitude = v->num;
			break;
		case V_LON:
			loc.longitude = v->num;
			break;
		case V_PRICE:
			cr.price_cents = (int64_t)v->num;
			break;
		case V_BEDROOMS:
			cr.bedrooms = (uint32_t)v->num;
			break;
		case V_OWNER:
			// Unique per run: the token's sub is the same owner, so only the
			// length can be wrong.
			h_owner(owner_buf, sizeof(owner_buf), "len");
			memset(owner_buf + strlen(owner_buf), 'o',
			       sizeof(owner_buf) - strlen(owner_buf));
			owner_buf[v->count] = '\0';
			cr.owner_id = owner_buf;
			auth = h_bearer(H_SECRET, owner_buf, 600);
			break;
		case V_NO_LOCATION:
			cr.location = NULL;
			break;
		}
		nrpc_result r;
		h_md md = {.auth = auth};
		Property__V1__Property *p = NULL;
		unsigned code = h_call(c->p.cli, M_CREATE, &cr.base,
		                       &property__v1__property__descriptor, &md, (void **)&p, &r);
		if (v->field == NULL) {
			H_CHECK(code == 0, "Create with %s: code %u, want 0", v->name, code);
			print_violations_if(code != 0, v->name, &r);
		} else {
			bool ok = code == 3 && h_has_violation(&r, v->field);
			H_CHECK(ok, "Create with %s: code %u, want 3 with violation %s", v->name,
			        code, v->field);
			print_violations_if(!ok, v->name, &r);
			H_CHECK(r.n_violations == 1 || !ok,
			        "Create with %s: %zu violations, want 1", v->name, r.n_violations);
		}
		if (p != NULL)
			protobuf_c_message_free_unpacked(&p->base, NULL);
		nrpc_result_free(&r);
		free(s);
		if (auth != c->auth)
			free(auth);
	}
}

void case_create_many_violations(void *arg)
{
	ctx *c = arg;
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	cr.title = "";
	cr.price_cents = -5;
	cr.currency = "eur";
	loc.latitude = 91;
	nrpc_result r;
	h_md md = {.auth = c->auth};
	unsigned code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
	                       &md, NULL, &r);
	static const char *const want[] = {"title", "price_cents", "currency", "location.latitude"};
	bool ok = code == 3;
	for (size_t i = 0; i < 4; i++)
		ok = ok && h_has_violation(&r, want[i]);
	H_CHECK(ok, "four bad fields: code %u, %zu violations; want one per bad field", code,
	        r.n_violations);
	print_violations_if(!ok, "Create", &r);
	nrpc_result_free(&r);

	// No location at all: the city (required) is missing.
	h_valid_create(&cr, &loc, "");
	cr.location = NULL;
	code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor, &md, NULL,
	              &r);
	ok = code == 3 && (h_has_violation(&r, "location.city") || h_has_violation(&r, "location"));
	H_CHECK(ok, "Create without location: code %u, want 3 on location(.city)", code);
	print_violations_if(!ok, "Create", &r);
	nrpc_result_free(&r);
}

// Strings protobuf-c cannot build: invalid UTF-8 and U+0000, put in by hand.
typedef struct rawcase {
	const char *name;
	bool in_location; // field number is Location's, else CreatePropertyRequest's
	unsigned field_no;
	const char *bytes;
	size_t len;
	const char *violation;
} rawcase;

static const rawcase raw_cases[] = {
    {"title invalid UTF-8", false, 2, BYTES("ab\xc3\x28"), "title"},
    {"title lone continuation", false, 2, BYTES("\x80\x81x"), "title"},
    {"title overlong slash", false, 2, BYTES("a\xc0\xaf"), "title"},
    {"title surrogate", false, 2, BYTES("\xed\xa0\x80"), "title"},
    {"title above U+10FFFF", false, 2, BYTES("\xf4\x90\x80\x80"), "title"},
    {"title U+0000", false, 2, BYTES("a\0b"), "title"},
    {"description invalid UTF-8", false, 3, BYTES("desc\xff"), "description"},
    {"description U+0000", false, 3, BYTES("line\0more"), "description"},
    {"currency invalid UTF-8", false, 6, BYTES("E\xffR"), "currency"},
    {"owner_id U+0000", false, 1, BYTES("\0"), "owner_id"},
    {"city invalid UTF-8", true, 2, BYTES("Ber\xe2\x82"), "location.city"},
    {"city U+0000", true, 2, BYTES("Ber\0lin"), "location.city"},
    {"address U+0000", true, 1, BYTES("1 Main\0St"), "location.address"},
    {"address invalid UTF-8", true, 1, BYTES("\xfe\xfe"), "location.address"},
    {"country U+0000", true, 3, BYTES("N\0"), "location.country_code"},
};

void case_create_raw_strings(void *arg)
{
	ctx *c = arg;
	for (size_t i = 0; i < sizeof(raw_cases) / sizeof(raw_cases[0]); i++) {
		const rawcase *rc = &raw_cases[i];
		Property__V1__CreatePropertyRequest cr;
		Property__V1__Location loc;
		h_valid_create(&cr, &loc, "");
		// Empty proto3 strings are not packed, so the hand-written field is the only one.
		static char empty[] = "";
		if (rc->in_location) {
			if (rc->field_no == 1)
				loc.address = empty;
			if (rc->field_no == 2)
				loc.city = empty;
			if (rc->field_no == 3)
				loc.country_code = empty;
		} else {
			if (rc->field_no == 1)
				cr.owner_id = empty;
			if (rc->field_no == 2)
				cr.title = empty;
			if (rc->field_no == 3)
				cr.description = empty;
			if (rc->field_no == 6)
				cr.currency = empty;
		}
		pbuf lb = {0}, b = {0};
		pb_msg(&lb, &loc.base);
		if (rc->in_location)
			pb_bytes(&lb, rc->field_no, rc->bytes, rc->len);
		cr.location = NULL;
		pb_msg(&b, &cr.base);
		pb_bytes(&b, 4, lb.p, lb.n);
		if (!rc->in_location)
			pb_bytes(&b, rc->field_no, rc->bytes, rc->len);
		nrpc_result r;
		h_md md = {.auth = c->auth};
		unsigned code = h_call_raw(c->p.cli, M_CREATE, b.p, b.n, &md, &r);
		bool ok = code == 3 && h_has_violation(&r, rc->violation);
		H_CHECK(ok, "Create with %s: code %u, want 3 with violation %s", rc->name, code,
		        rc->violation);
		print_violations_if(!ok, rc->name, &r);
		nrpc_result_free(&r);
		free(lb.p);
		free(b.p);
	}
}
