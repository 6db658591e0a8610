// it_property: malformed ids refused by Get, Update and Delete (3, violation
// id), and UpdateProperty's validation: the update mask and each field.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_property_common.h"

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

void case_bad_ids(void *arg)
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

void case_update_validation(void *arg)
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
