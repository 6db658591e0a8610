// it_property: the property methods' behaviour (CONTRACT.md sections 4 and 5):
// every validation rule with its code and violation field, the create/get/
// update/delete life cycle, NOT_FOUND, optimistic concurrency, verbatim storage.
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct ctx {
	h_proc p;
	char owner[96];
	char *auth;
} ctx;

// A string literal and its length without the terminating NUL (it may hold NULs).
#define BYTES(s) s, sizeof(s) - 1

static const char *const missing_id = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";

// ---- helpers -----------------------------------------------------------------------------
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

static bool is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

static void print_violations_if(bool bad, const char *what, const nrpc_result *r)
{
	if (bad)
		h_print_result(what, r);
}

// A growing byte buffer for hand-built protobuf payloads.
typedef struct pbuf {
	uint8_t *p;
	size_t n, cap;
} pbuf;

static void pb_need(pbuf *b, size_t more)
{
	if (b->n + more > b->cap) {
		b->cap = (b->n + more) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
}

static void pb_varint(pbuf *b, uint64_t v)
{
	pb_need(b, 10);
	do {
		uint8_t byte = v & 0x7f;
		v >>= 7;
		b->p[b->n++] = byte | (v ? 0x80 : 0);
	} while (v);
}

// Field `field`, wire type 2 (length-delimited), holding data[len].
static void pb_bytes(pbuf *b, unsigned field, const void *data, size_t len)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, len);
	pb_need(b, len);
	memcpy(b->p + b->n, data, len);
	b->n += len;
}

static void pb_msg(pbuf *b, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	pb_need(b, n);
	b->n += protobuf_c_message_pack(m, b->p + b->n);
}

// ---- validation of CreateProperty --------------------------------------------------------
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

static void case_create_validation(void *arg)
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

static void case_create_many_violations(void *arg)
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

static void case_create_raw_strings(void *arg)
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

// ---- ids ---------------------------------------------------------------------------------
static const char *const bad_ids[] = {
    "",
    "not-a-uuid",
    "12345678-1234-1234-1234-12345678901",   // one short
    "12345678-1234-1234-1234-1234567890123", // one long
    "g2345678-1234-1234-1234-123456789012",  // not hex
    "12345678_1234_1234_1234_123456789012",
    "' OR '1'='1",
    "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d; DROP TABLE properties",
};

static void case_bad_ids(void *arg)
{
	ctx *c = arg;
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		h_md md = {.auth = c->auth};
		nrpc_result r;
		Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
		g.id = (char *)bad_ids[i];
		unsigned code = h_call(c->p.cli, M_GET, &g.base,
		                       &property__v1__property__descriptor, &md, NULL, &r);
		bool ok = code == 3 && h_has_violation(&r, "id");
		H_CHECK(ok, "Get id \"%s\": code %u, want 3 with violation id", bad_ids[i], code);
		print_violations_if(!ok, "Get", &r);
		nrpc_result_free(&r);

		Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
		np.title = "x";
		char *mask[] = {"title"};
		Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
		u.id = (char *)bad_ids[i];
		u.property = &np;
		u.n_update_mask = 1;
		u.update_mask = mask;
		code = h_call(c->p.cli, M_UPDATE, &u.base, &property__v1__property__descriptor, &md,
		              NULL, &r);
		ok = code == 3 && h_has_violation(&r, "id");
		H_CHECK(ok, "Update id \"%s\": code %u, want 3 with violation id", bad_ids[i],
		        code);
		print_violations_if(!ok, "Update", &r);
		nrpc_result_free(&r);

		Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
		d.id = (char *)bad_ids[i];
		code = h_call(c->p.cli, M_DELETE, &d.base,
		              &property__v1__delete_property_response__descriptor, &md, NULL, &r);
		ok = code == 3 && h_has_violation(&r, "id");
		H_CHECK(ok, "Delete id \"%s\": code %u, want 3 with violation id", bad_ids[i],
		        code);
		print_violations_if(!ok, "Delete", &r);
		nrpc_result_free(&r);
	}
}

// ---- update validation -------------------------------------------------------------------
typedef struct ucase {
	const char *name;
	const char *mask[3];
	size_t n_mask;
	enum vkind kind;
	const char *value;
	double num;
	const char *violation;
} ucase;

static const ucase update_cases[] = {
    {"empty mask", {NULL}, 0, V_TITLE, "fine", 0, "update_mask"},
    {"unknown path", {"nope"}, 1, V_TITLE, "fine", 0, "update_mask"},
    {"path id", {"id"}, 1, V_TITLE, "fine", 0, "update_mask"},
    {"path owner_id", {"owner_id"}, 1, V_TITLE, "fine", 0, "update_mask"},
    {"path version", {"version"}, 1, V_TITLE, "fine", 0, "update_mask"},
    {"path created_at_us", {"created_at_us"}, 1, V_TITLE, "fine", 0, "update_mask"},
    {"good and unknown paths", {"title", "bogus"}, 2, V_TITLE, "fine", 0, "update_mask"},
    {"empty title", {"title"}, 1, V_TITLE, "", 0, "title"},
    {"city empty", {"location"}, 1, V_CITY, "", 0, "location.city"},
    {"country lower", {"location"}, 1, V_COUNTRY, "de", 0, "location.country_code"},
    {"latitude 90.0001", {"location"}, 1, V_LAT, NULL, 90.0001, "location.latitude"},
    {"price -1", {"price_cents"}, 1, V_PRICE, NULL, -1, "price_cents"},
    {"currency usd", {"currency"}, 1, V_CURRENCY, "usd", 0, "currency"},
    {"bedrooms 1001", {"bedrooms"}, 1, V_BEDROOMS, NULL, 1001, "bedrooms"},
};

static void case_update_validation(void *arg)
{
	ctx *c = arg;
	Property__V1__Property *orig = h_create(c->p.cli, c->auth, "");
	if (orig == NULL)
		return;
	for (size_t i = 0; i < sizeof(update_cases) / sizeof(update_cases[0]); i++) {
		const ucase *uc = &update_cases[i];
		Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
		Property__V1__Location loc = PROPERTY__V1__LOCATION__INIT;
		loc.city = "Newtown";
		loc.country_code = "DE";
		loc.address = "2 Other Road";
		loc.latitude = 50;
		loc.longitude = 8;
		np.location = &loc;
		np.title = "Updated title";
		np.price_cents = 1;
		np.currency = "USD";
		np.bedrooms = 3;
		switch (uc->kind) {
		case V_TITLE:
			np.title = (char *)uc->value;
			break;
		case V_CITY:
			loc.city = (char *)uc->value;
			break;
		case V_COUNTRY:
			loc.country_code = (char *)uc->value;
			break;
		case V_LAT:
			loc.latitude = uc->num;
			break;
		case V_PRICE:
			np.price_cents = (int64_t)uc->num;
			break;
		case V_CURRENCY:
			np.currency = (char *)uc->value;
			break;
		case V_BEDROOMS:
			np.bedrooms = (uint32_t)uc->num;
			break;
		default:
			break;
		}
		Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
		u.id = orig->id;
		u.property = &np;
		u.n_update_mask = uc->n_mask;
		u.update_mask = (char **)uc->mask;
		nrpc_result r;
		h_md md = {.auth = c->auth};
		unsigned code = h_call(c->p.cli, M_UPDATE, &u.base,
		                       &property__v1__property__descriptor, &md, NULL, &r);
		bool ok = code == 3 && h_has_violation(&r, uc->violation);
		H_CHECK(ok, "Update with %s: code %u, want 3 with violation %s", uc->name, code,
		        uc->violation);
		print_violations_if(!ok, uc->name, &r);
		nrpc_result_free(&r);
	}
	// Invalid UTF-8 in an update: field named as in Property.
	{
		Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
		pbuf pb = {0}, b = {0};
		pb_msg(&pb, &np.base);
		pb_bytes(&pb, 3, "bad\xff", 4); // Property.title
		Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
		char *mask[] = {"title"};
		u.id = orig->id;
		u.n_update_mask = 1;
		u.update_mask = mask;
		pb_msg(&b, &u.base);
		pb_bytes(&b, 3, pb.p, pb.n);
		nrpc_result r;
		h_md md = {.auth = c->auth};
		unsigned code = h_call_raw(c->p.cli, M_UPDATE, b.p, b.n, &md, &r);
		bool ok = code == 3 && h_has_violation(&r, "title");
		H_CHECK(ok, "Update with invalid UTF-8 title: code %u, want 3 on title", code);
		print_violations_if(!ok, "Update", &r);
		nrpc_result_free(&r);
		free(pb.p);
		free(b.p);
	}
	unsigned code;
	Property__V1__Property *g = h_get(c->p.cli, c->auth, orig->id, &code);
	H_CHECK(code == 0 && g != NULL && g->version == 1,
	        "property changed by rejected updates (code %u, version %llu)", code,
	        g ? (unsigned long long)g->version : 0ULL);
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);
	protobuf_c_message_free_unpacked(&orig->base, NULL);
}

// ---- life cycle --------------------------------------------------------------------------
static bool same_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static void expect_same(const Property__V1__Property *a, const Property__V1__Property *b,
                        const char *what)
{
	bool ok = same_str(a->id, b->id) && same_str(a->owner_id, b->owner_id) &&
	          same_str(a->title, b->title) && same_str(a->description, b->description) &&
	          a->price_cents == b->price_cents && same_str(a->currency, b->currency) &&
	          a->bedrooms == b->bedrooms && a->status == b->status &&
	          a->version == b->version && a->created_at_us == b->created_at_us &&
	          a->updated_at_us == b->updated_at_us && a->location != NULL &&
	          b->location != NULL && same_str(a->location->city, b->location->city) &&
	          same_str(a->location->address, b->location->address) &&
	          same_str(a->location->country_code, b->location->country_code) &&
	          a->location->latitude == b->location->latitude &&
	          a->location->longitude == b->location->longitude;
	H_CHECK(ok, "%s: properties differ (title \"%s\" vs \"%s\", version %llu vs %llu)", what,
	        a->title, b->title, (unsigned long long)a->version, (unsigned long long)b->version);
}

static void case_lifecycle(void *arg)
{
	ctx *c = arg;
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	cr.title = "Life-cycle 🏠 flat";
	h_md md = {.auth = c->auth};
	Property__V1__Property *p = NULL;
	unsigned code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
	                       &md, (void **)&p, NULL);
	H_CHECK(code == 0 && p != NULL, "Create: code %u", code);
	if (p == NULL)
		return;
	H_CHECK(is_uuid(p->id), "id %s is not a UUID", p->id);
	H_CHECK(strcmp(p->owner_id, c->owner) == 0, "owner %s", p->owner_id);
	H_CHECK(strcmp(p->title, cr.title) == 0, "title %s", p->title);
	H_CHECK(strcmp(p->description, cr.description) == 0, "description");
	H_CHECK(p->location != NULL && strcmp(p->location->city, "Testville") == 0 &&
	            strcmp(p->location->country_code, "NL") == 0 &&
	            strcmp(p->location->address, loc.address) == 0 &&
	            p->location->latitude == loc.latitude &&
	            p->location->longitude == loc.longitude,
	        "location differs");
	H_CHECK(p->price_cents == cr.price_cents && strcmp(p->currency, "EUR") == 0 &&
	            p->bedrooms == 2 && p->status == cr.status,
	        "price/currency/bedrooms/status differ");
	H_CHECK(p->version == 1, "version %llu on create", (unsigned long long)p->version);
	H_CHECK(p->created_at_us > 1600000000000000LL && p->updated_at_us >= p->created_at_us,
	        "timestamps %lld %lld", (long long)p->created_at_us, (long long)p->updated_at_us);

	Property__V1__Property *g = h_get(c->p.cli, c->auth, p->id, &code);
	H_CHECK(code == 0 && g != NULL, "Get after Create: %u", code);
	if (g != NULL) {
		expect_same(p, g, "Get after Create");
		protobuf_c_message_free_unpacked(&g->base, NULL);
	}

	// Update title and price only; the other new values must be ignored.
	Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
	Property__V1__Location nloc = PROPERTY__V1__LOCATION__INIT;
	nloc.city = "Elsewhere";
	nloc.country_code = "FR";
	np.location = &nloc;
	np.title = "Renamed flat";
	np.description = "must not be applied";
	np.price_cents = 123;
	np.currency = "USD";
	np.bedrooms = 9;
	np.status = PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_SOLD;
	np.owner_id = "someone-else";
	np.version = 77;
	char *mask[] = {"title", "price_cents"};
	Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	u.id = p->id;
	u.expected_version = 1;
	u.property = &np;
	u.n_update_mask = 2;
	u.update_mask = mask;
	Property__V1__Property *up = NULL;
	nrpc_result r;
	code = h_call(c->p.cli, M_UPDATE, &u.base, &property__v1__property__descriptor, &md,
	              (void **)&up, &r);
	H_CHECK(code == 0 && up != NULL, "Update: code %u", code);
	print_violations_if(code != 0, "Update", &r);
	nrpc_result_free(&r);
	if (up != NULL) {
		H_CHECK(up->version == 2, "version after update %llu",
		        (unsigned long long)up->version);
		H_CHECK(strcmp(up->title, "Renamed flat") == 0 && up->price_cents == 123,
		        "masked fields not applied");
		H_CHECK(strcmp(up->description, p->description) == 0 &&
		            strcmp(up->currency, "EUR") == 0 && up->bedrooms == 2 &&
		            up->status == p->status && strcmp(up->owner_id, c->owner) == 0 &&
		            up->location != NULL && strcmp(up->location->city, "Testville") == 0 &&
		            strcmp(up->location->country_code, "NL") == 0,
		        "unmasked fields changed");
		H_CHECK(up->created_at_us == p->created_at_us, "created_at_us changed");
		H_CHECK(up->updated_at_us >= p->updated_at_us, "updated_at_us went back");
		g = h_get(c->p.cli, c->auth, p->id, &code);
		H_CHECK(code == 0 && g != NULL, "Get after Update: %u", code);
		if (g != NULL) {
			expect_same(up, g, "Get after Update");
			protobuf_c_message_free_unpacked(&g->base, NULL);
		}
		// Location as a whole.
		char *lmask[] = {"location", "status"};
		u.update_mask = lmask;
		u.expected_version = 2;
		Property__V1__Property *up2 = NULL;
		code = h_call(c->p.cli, M_UPDATE, &u.base, &property__v1__property__descriptor, &md,
		              (void **)&up2, NULL);
		H_CHECK(code == 0 && up2 != NULL && up2->version == 3 && up2->location != NULL &&
		            strcmp(up2->location->city, "Elsewhere") == 0 &&
		            strcmp(up2->location->country_code, "FR") == 0 &&
		            up2->status == PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_SOLD &&
		            strcmp(up2->title, "Renamed flat") == 0,
		        "Update of location+status: code %u", code);
		if (up2 != NULL)
			protobuf_c_message_free_unpacked(&up2->base, NULL);
		protobuf_c_message_free_unpacked(&up->base, NULL);
	}

	Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
	d.id = p->id;
	d.expected_version = 3;
	code = h_call(c->p.cli, M_DELETE, &d.base,
	              &property__v1__delete_property_response__descriptor, &md, NULL, NULL);
	H_CHECK(code == 0, "Delete: code %u", code);
	g = h_get(c->p.cli, c->auth, p->id, &code);
	H_CHECK(code == 5, "Get after Delete: code %u, want 5", code);
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);
	d.expected_version = 0;
	code = h_call(c->p.cli, M_DELETE, &d.base,
	              &property__v1__delete_property_response__descriptor, &md, NULL, NULL);
	H_CHECK(code == 5, "second Delete: code %u, want 5", code);
	u.expected_version = 0;
	u.update_mask = mask;
	code = h_call(c->p.cli, M_UPDATE, &u.base, &property__v1__property__descriptor, &md, NULL,
	              NULL);
	H_CHECK(code == 5, "Update after Delete: code %u, want 5", code);
	protobuf_c_message_free_unpacked(&p->base, NULL);
}

static void case_missing_ids(void *arg)
{
	ctx *c = arg;
	h_md md = {.auth = c->auth};
	unsigned code;
	Property__V1__Property *g = h_get(c->p.cli, c->auth, missing_id, &code);
	H_CHECK(code == 5, "Get missing: code %u", code);
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);
	Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
	np.title = "x";
	char *mask[] = {"title"};
	Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	u.id = (char *)missing_id;
	u.property = &np;
	u.n_update_mask = 1;
	u.update_mask = mask;
	code = h_call(c->p.cli, M_UPDATE, &u.base, &property__v1__property__descriptor, &md, NULL,
	              NULL);
	H_CHECK(code == 5, "Update missing: code %u, want 5", code);
	u.expected_version = 1;
	code = h_call(c->p.cli, M_UPDATE, &u.base, &property__v1__property__descriptor, &md, NULL,
	              NULL);
	H_CHECK(code == 5, "Update missing with expected_version: code %u, want 5", code);
	Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
	d.id = (char *)missing_id;
	code = h_call(c->p.cli, M_DELETE, &d.base,
	              &property__v1__delete_property_response__descriptor, &md, NULL, NULL);
	H_CHECK(code == 5, "Delete missing: code %u, want 5", code);
}

static void case_version_mismatch(void *arg)
{
	ctx *c = arg;
	Property__V1__Property *p = h_create(c->p.cli, c->auth, "");
	if (p == NULL)
		return;
	h_md md = {.auth = c->auth};
	Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
	np.title = "should not apply";
	char *mask[] = {"title"};
	Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	u.id = p->id;
	u.property = &np;
	u.n_update_mask = 1;
	u.update_mask = mask;
	static const uint64_t wrong[] = {2, 5, UINT64_MAX};
	for (size_t i = 0; i < 3; i++) {
		u.expected_version = wrong[i];
		unsigned code = h_call(c->p.cli, M_UPDATE, &u.base,
		                       &property__v1__property__descriptor, &md, NULL, NULL);
		H_CHECK(code == 10, "Update expected_version %llu (current 1): code %u, want 10",
		        (unsigned long long)wrong[i], code);
	}
	Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
	d.id = p->id;
	d.expected_version = 3;
	unsigned code =
	    h_call(c->p.cli, M_DELETE, &d.base, &property__v1__delete_property_response__descriptor,
	           &md, NULL, NULL);
	H_CHECK(code == 10, "Delete expected_version 3 (current 1): code %u, want 10", code);
	Property__V1__Property *g = h_get(c->p.cli, c->auth, p->id, &code);
	H_CHECK(code == 0 && g != NULL, "Get after rejected writes: %u", code);
	if (g != NULL) {
		expect_same(p, g, "after rejected writes");
		protobuf_c_message_free_unpacked(&g->base, NULL);
	}
	protobuf_c_message_free_unpacked(&p->base, NULL);
}

static void case_verbatim_strings(void *arg)
{
	ctx *c = arg;
	char city[80];
	char owner_tag[32];
	h_owner(owner_tag, sizeof(owner_tag), "q");
	snprintf(city, sizeof(city), "Robert'); DROP TABLE properties;-- %s", owner_tag + 3);
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	cr.title = "'; DROP TABLE properties; --";
	cr.description = "\" OR 1=1 -- \\ %s %n $1 \\x00 '' \"\" ; SELECT pg_sleep(10); 𝄞 ß";
	loc.city = city;
	loc.address = "1' UNION SELECT * FROM pg_user --";
	h_md md = {.auth = c->auth};
	Property__V1__Property *p = NULL;
	unsigned code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
	                       &md, (void **)&p, NULL);
	H_CHECK(code == 0 && p != NULL, "Create with SQL-looking strings: %u", code);
	if (p == NULL)
		return;
	Property__V1__Property *g = h_get(c->p.cli, c->auth, p->id, &code);
	H_CHECK(code == 0 && g != NULL && strcmp(g->title, cr.title) == 0 &&
	            strcmp(g->description, cr.description) == 0 && g->location != NULL &&
	            strcmp(g->location->city, city) == 0 &&
	            strcmp(g->location->address, loc.address) == 0,
	        "strings not returned verbatim (code %u)", code);
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);
	Property__V1__SearchPropertiesRequest s = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	s.city = city;
	Property__V1__ListPropertiesResponse *lr = NULL;
	code = h_call(c->p.cli, M_SEARCH, &s.base,
	              &property__v1__list_properties_response__descriptor, &md, (void **)&lr, NULL);
	H_CHECK(code == 0 && lr != NULL && lr->n_properties == 1 &&
	            strcmp(lr->properties[0]->id, p->id) == 0,
	        "Search by the SQL-looking city: code %u, %zu rows", code,
	        lr ? lr->n_properties : 0);
	if (lr != NULL)
		protobuf_c_message_free_unpacked(&lr->base, NULL);
	protobuf_c_message_free_unpacked(&p->base, NULL);
}

static void case_status_default(void *arg)
{
	ctx *c = arg;
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	cr.status = PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_UNSPECIFIED;
	h_md md = {.auth = c->auth};
	Property__V1__Property *p = NULL;
	unsigned code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
	                       &md, (void **)&p, NULL);
	H_CHECK(code == 0 && p != NULL &&
	            p->status == PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_DRAFT,
	        "status unspecified: code %u status %d, want DRAFT", code, p ? (int)p->status : -1);
	if (p != NULL) {
		Property__V1__Property *g = h_get(c->p.cli, c->auth, p->id, &code);
		H_CHECK(g != NULL &&
		            g->status == PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_DRAFT,
		        "Get: status not DRAFT");
		if (g != NULL)
			protobuf_c_message_free_unpacked(&g->base, NULL);
		protobuf_c_message_free_unpacked(&p->base, NULL);
	}
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"create_validation", case_create_validation},
	    {"create_many_violations", case_create_many_violations},
	    {"create_raw_strings", case_create_raw_strings},
	    {"bad_ids", case_bad_ids},
	    {"update_validation", case_update_validation},
	    {"lifecycle", case_lifecycle},
	    {"missing_ids", case_missing_ids},
	    {"version_mismatch", case_version_mismatch},
	    {"verbatim_strings", case_verbatim_strings},
	    {"status_default", case_status_default},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx c;
	memset(&c, 0, sizeof(c));
	h_owner(c.owner, sizeof(c.owner), "prop");
	c.auth = h_bearer(H_SECRET, c.owner, 600);
	if (h_start(&c.p, NULL) == 0) {
		h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), &c, argc, argv);
		rc = h_stop(&c.p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&c.p);
	free(c.auth);
	return h_status();
}
