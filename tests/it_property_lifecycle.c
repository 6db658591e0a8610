// it_property: the create/get/update/delete life cycle, NOT_FOUND for missing
// ids, optimistic concurrency (version mismatch), verbatim storage of
// strings, and the default status (docs/contract.md section 5).
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_property_common.h"

static const char *const missing_id = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";

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

void case_lifecycle(void *arg)
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

void case_missing_ids(void *arg)
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

void case_version_mismatch(void *arg)
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

void case_verbatim_strings(void *arg)
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

void case_status_default(void *arg)
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
