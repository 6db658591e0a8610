// it_paging: ListPropertiesByOwner and SearchProperties paging and filters
// (docs/contract.md section 5). Every search names one of this run's unique cities,
// so the expected rows are exactly those this test created, filtered again
// here independently of the server.
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"

#define N_ROWS   45  // one owner's properties, spread over three cities
#define N_BIG    101 // a second owner, enough to see the page-size cap of 100
#define MAX_WALK 64  // pages; far above what any walk here needs

typedef struct row {
	char id[40];
	char city[80];
	char country[4];
	int64_t price;
	uint32_t bedrooms;
	double lat, lon;
	int status;
	int64_t created_at_us;
} row;

typedef struct ctx {
	h_proc p;
	char owner[96], owner_big[96];
	char *auth, *auth_big;
	char city_base[3][64]; // canonical spelling of the three cities
	row rows[N_ROWS];
	size_t n_rows;
} ctx;

// ---- setup -------------------------------------------------------------------------------
static int create_rows(ctx *c)
{
	char tag[48];
	h_owner(tag, sizeof(tag), "c");
	static const char *const names[3] = {"Alpha", "Beta", "Gamma"};
	for (int k = 0; k < 3; k++)
		snprintf(c->city_base[k], sizeof(c->city_base[k]), "Itc-%s-%s", tag + 5, names[k]);
	h_md md = {.auth = c->auth};
	for (int i = 0; i < N_ROWS; i++) {
		row *r = &c->rows[i];
		int k = i < 25 ? 0 : i < 37 ? 1 : 2; // 25 alpha, 12 beta, 8 gamma
		snprintf(r->city, sizeof(r->city), "%s", c->city_base[k]);
		if (i % 3 == 1) // stored in other cases: the search must ignore case
			for (char *s = r->city; *s; s++)
				*s = (char)toupper((unsigned char)*s);
		if (i % 3 == 2)
			for (char *s = r->city; *s; s++)
				*s = (char)tolower((unsigned char)*s);
		snprintf(r->country, sizeof(r->country), "%s", i % 4 == 0 ? "DE" : "NL");
		r->price = (int64_t)(i % 9) * 10000; // ties: the id decides
		r->bedrooms = (uint32_t)(i % 6);
		r->lat = 10 + (i % 5);
		r->lon = 20 + (i % 7);
		r->status = 1 + i % 5;
		Property__V1__CreatePropertyRequest cr;
		Property__V1__Location loc;
		h_valid_create(&cr, &loc, "");
		loc.city = r->city;
		loc.country_code = r->country;
		loc.latitude = r->lat;
		loc.longitude = r->lon;
		cr.price_cents = r->price;
		cr.bedrooms = r->bedrooms;
		cr.status = (Property__V1__PropertyStatus)r->status;
		Property__V1__Property *p = NULL;
		nrpc_result res;
		unsigned code = h_call(c->p.cli, M_CREATE, &cr.base,
		                       &property__v1__property__descriptor, &md, (void **)&p, &res);
		if (code != 0 || p == NULL) {
			H_FAIL("create row %d: code %u", i, code);
			h_print_result("Create", &res);
			nrpc_result_free(&res);
			return -1;
		}
		nrpc_result_free(&res);
		snprintf(r->id, sizeof(r->id), "%s", p->id);
		r->created_at_us = p->created_at_us;
		protobuf_c_message_free_unpacked(&p->base, NULL);
		c->n_rows++;
	}
	md.auth = c->auth_big;
	for (int i = 0; i < N_BIG; i++) {
		Property__V1__CreatePropertyRequest cr;
		Property__V1__Location loc;
		h_valid_create(&cr, &loc, "");
		unsigned code = h_call(c->p.cli, M_CREATE, &cr.base,
		                       &property__v1__property__descriptor, &md, NULL, NULL);
		if (code != 0) {
			H_FAIL("create big row %d: code %u", i, code);
			return -1;
		}
	}
	return 0;
}

// ---- list --------------------------------------------------------------------------------
static Property__V1__ListPropertiesResponse *list_page(ctx *c, const char *owner, uint32_t size,
                                                       const char *token, unsigned *code)
{
	Property__V1__ListPropertiesByOwnerRequest l =
	    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
	l.owner_id = (char *)owner;
	l.page_size = size;
	l.page_token = (char *)(token ? token : "");
	Property__V1__ListPropertiesResponse *lr = NULL;
	h_md md = {.auth = c->auth};
	*code =
	    h_call(c->p.cli, M_LIST, &l.base, &property__v1__list_properties_response__descriptor,
	           &md, (void **)&lr, NULL);
	return lr;
}

static int find_row(const ctx *c, const char *id)
{
	for (size_t i = 0; i < c->n_rows; i++)
		if (strcmp(c->rows[i].id, id) == 0)
			return (int)i;
	return -1;
}

static void case_list_pages(void *arg)
{
	ctx *c = arg;
	int seen[N_ROWS] = {0};
	size_t sizes[MAX_WALK];
	int pages = 0;
	char *token = NULL;
	int64_t prev_ts = INT64_MAX;
	char prev_id[40] = "";
	do {
		unsigned code;
		Property__V1__ListPropertiesResponse *lr = list_page(c, c->owner, 20, token, &code);
		free(token);
		token = NULL;
		if (code != 0 || lr == NULL) {
			H_FAIL("List page %d: code %u", pages, code);
			break;
		}
		sizes[pages++] = lr->n_properties;
		for (size_t i = 0; i < lr->n_properties; i++) {
			const Property__V1__Property *p = lr->properties[i];
			int k = find_row(c, p->id);
			H_CHECK(k >= 0, "List returned a property not created here: %s", p->id);
			if (k >= 0)
				seen[k]++;
			bool ordered = p->created_at_us < prev_ts ||
			               (p->created_at_us == prev_ts && strcmp(p->id, prev_id) < 0);
			H_CHECK(ordered,
			        "List order broken at page %d row %zu (%lld/%s after %lld/%s)",
			        pages, i, (long long)p->created_at_us, p->id, (long long)prev_ts,
			        prev_id);
			prev_ts = p->created_at_us;
			snprintf(prev_id, sizeof(prev_id), "%s", p->id);
		}
		if (lr->next_page_token != NULL && lr->next_page_token[0] != '\0')
			token = strdup(lr->next_page_token);
		protobuf_c_message_free_unpacked(&lr->base, NULL);
	} while (token != NULL && pages < MAX_WALK);
	free(token);
	H_CHECK(pages == 3 && sizes[0] == 20 && sizes[1] == 20 && sizes[2] == 5,
	        "pages of 20 over 45 rows: %d pages (%zu, %zu, %zu)", pages,
	        pages > 0 ? sizes[0] : 0, pages > 1 ? sizes[1] : 0, pages > 2 ? sizes[2] : 0);
	for (size_t i = 0; i < c->n_rows; i++)
		H_CHECK(seen[i] == 1, "row %zu (%s) seen %d times", i, c->rows[i].id, seen[i]);
}

static void case_list_page_size(void *arg)
{
	ctx *c = arg;
	static const struct {
		uint32_t ask;
		size_t want;
		bool more;
	} sizes[] = {{0, 20, true},    {1, 1, true},     {100, 100, true},
	             {101, 100, true}, {500, 100, true}, {UINT32_MAX, 100, true}};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned code;
		Property__V1__ListPropertiesResponse *lr =
		    list_page(c, c->owner_big, sizes[i].ask, NULL, &code);
		H_CHECK(code == 0 && lr != NULL && lr->n_properties == sizes[i].want,
		        "page_size %u over %d rows: code %u, %zu rows, want %zu", sizes[i].ask,
		        N_BIG, code, lr ? lr->n_properties : 0, sizes[i].want);
		if (lr != NULL) {
			H_CHECK(lr->next_page_token[0] != '\0', "page_size %u: no next token",
			        sizes[i].ask);
			protobuf_c_message_free_unpacked(&lr->base, NULL);
		}
	}
	// An owner with nothing: an empty page, empty token.
	char nobody[96];
	h_owner(nobody, sizeof(nobody), "nobody");
	unsigned code;
	Property__V1__ListPropertiesResponse *lr = list_page(c, nobody, 0, NULL, &code);
	H_CHECK(code == 0 && lr != NULL && lr->n_properties == 0 && lr->next_page_token[0] == '\0',
	        "List of an owner with nothing: code %u", code);
	if (lr != NULL)
		protobuf_c_message_free_unpacked(&lr->base, NULL);
}

static void case_list_bad_tokens(void *arg)
{
	ctx *c = arg;
	unsigned code;
	Property__V1__ListPropertiesResponse *first = list_page(c, c->owner, 20, NULL, &code);
	Property__V1__ListPropertiesResponse *other = list_page(c, c->owner_big, 20, NULL, &code);
	if (first == NULL || other == NULL || first->next_page_token[0] == '\0' ||
	    other->next_page_token[0] == '\0') {
		H_FAIL("no first pages with tokens");
		goto out;
	}
	char *tampered[4];
	size_t tl = strlen(first->next_page_token);
	for (int i = 0; i < 3; i++) {
		tampered[i] = strdup(first->next_page_token);
		size_t pos = i == 0 ? 0 : i == 1 ? tl / 2 : tl - 1;
		tampered[i][pos] = tampered[i][pos] == 'A' ? 'B' : 'A';
	}
	tampered[3] = strdup(first->next_page_token);
	tampered[3][tl / 2] = '\0'; // truncated
	for (int i = 0; i < 4; i++) {
		Property__V1__ListPropertiesResponse *lr =
		    list_page(c, c->owner, 20, tampered[i], &code);
		H_CHECK(code == 3, "tampered token #%d: code %u, want 3", i, code);
		if (lr != NULL)
			protobuf_c_message_free_unpacked(&lr->base, NULL);
		free(tampered[i]);
	}
	static const char *const junk[] = {"garbage", "%%%%", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	                                   "' OR 1=1 --"};
	for (size_t i = 0; i < 4; i++) {
		Property__V1__ListPropertiesResponse *lr =
		    list_page(c, c->owner, 20, junk[i], &code);
		H_CHECK(code == 3, "junk token \"%s\": code %u, want 3", junk[i], code);
		if (lr != NULL)
			protobuf_c_message_free_unpacked(&lr->base, NULL);
	}
	// Another owner's token on this owner's listing.
	Property__V1__ListPropertiesResponse *lr =
	    list_page(c, c->owner, 20, other->next_page_token, &code);
	H_CHECK(code == 3, "another owner's page token: code %u, want 3", code);
	if (lr != NULL)
		protobuf_c_message_free_unpacked(&lr->base, NULL);
	// A List token given to Search.
	Property__V1__SearchPropertiesRequest s = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	s.city = c->city_base[0];
	s.page_token = first->next_page_token;
	h_md md = {.auth = c->auth};
	code = h_call(c->p.cli, M_SEARCH, &s.base,
	              &property__v1__list_properties_response__descriptor, &md, NULL, NULL);
	H_CHECK(code == 3, "a List token given to Search: code %u, want 3", code);
out:
	if (first != NULL)
		protobuf_c_message_free_unpacked(&first->base, NULL);
	if (other != NULL)
		protobuf_c_message_free_unpacked(&other->base, NULL);
}

// ---- search ------------------------------------------------------------------------------
typedef struct filter {
	const char *name;
	int city;      // index into city_base
	int city_case; // 0 as stored canonically, 1 upper, 2 lower
	const char *country;
	int64_t min_price, max_price;
	uint32_t min_bedrooms;
	bool bbox;
	double min_lat, min_lon, max_lat, max_lon;
	int status;
} filter;

static const filter filters[] = {
    {"city only", 0, 2, NULL, 0, 0, 0, false, 0, 0, 0, 0, 0},
    {"city upper + country", 0, 1, "NL", 0, 0, 0, false, 0, 0, 0, 0, 0},
    {"price bounds inclusive", 0, 0, NULL, 20000, 60000, 0, false, 0, 0, 0, 0, 0},
    {"min price only", 1, 0, NULL, 30000, 0, 0, false, 0, 0, 0, 0, 0},
    {"max price only", 0, 0, NULL, 0, 30000, 0, false, 0, 0, 0, 0, 0},
    {"min bedrooms", 0, 0, NULL, 0, 0, 3, false, 0, 0, 0, 0, 0},
    {"bbox edges", 0, 0, NULL, 0, 0, 0, true, 11, 21, 13, 24, 0},
    {"bbox a point", 0, 0, NULL, 0, 0, 0, true, 12, 22, 12, 22, 0},
    {"status listed", 1, 0, NULL, 0, 0, 0, false, 0, 0, 0, 0, 2},
    {"all combined", 0, 1, "NL", 10000, 70000, 1, true, 10, 20, 13, 25, 3},
    {"nothing matches", 2, 0, NULL, 0, 0, 0, true, 50, 50, 60, 60, 0},
    {"gamma DE", 2, 2, "DE", 0, 0, 0, false, 0, 0, 0, 0, 0},
};

static bool matches(const ctx *c, const row *r, const filter *f)
{
	if (strcasecmp(r->city, c->city_base[f->city]) != 0)
		return false;
	if (f->country != NULL && strcmp(r->country, f->country) != 0)
		return false;
	if (r->price < f->min_price || (f->max_price != 0 && r->price > f->max_price))
		return false;
	if (r->bedrooms < f->min_bedrooms)
		return false;
	if (f->bbox && (r->lat < f->min_lat || r->lat > f->max_lat || r->lon < f->min_lon ||
	                r->lon > f->max_lon))
		return false;
	return f->status == 0 || r->status == f->status;
}

static void walk_search(ctx *c, const filter *f, uint32_t page_size)
{
	char city[80];
	snprintf(city, sizeof(city), "%s", c->city_base[f->city]);
	for (char *s = city; *s && f->city_case; s++)
		*s = (char)(f->city_case == 1 ? toupper((unsigned char)*s)
		                              : tolower((unsigned char)*s));
	Property__V1__BoundingBox bb = PROPERTY__V1__BOUNDING_BOX__INIT;
	bb.min_latitude = f->min_lat;
	bb.min_longitude = f->min_lon;
	bb.max_latitude = f->max_lat;
	bb.max_longitude = f->max_lon;
	int seen[N_ROWS] = {0};
	int64_t prev_price = INT64_MIN;
	char prev_id[40] = "";
	char *token = NULL;
	int pages = 0;
	size_t last_n = 0;
	do {
		Property__V1__SearchPropertiesRequest s =
		    PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
		s.city = city;
		s.country_code = (char *)(f->country ? f->country : "");
		s.min_price_cents = f->min_price;
		s.max_price_cents = f->max_price;
		s.min_bedrooms = f->min_bedrooms;
		s.bbox = f->bbox ? &bb : NULL;
		s.status = (Property__V1__PropertyStatus)f->status;
		s.page_size = page_size;
		s.page_token = token ? token : "";
		Property__V1__ListPropertiesResponse *lr = NULL;
		nrpc_result res;
		h_md md = {.auth = c->auth};
		unsigned code = h_call(c->p.cli, M_SEARCH, &s.base,
		                       &property__v1__list_properties_response__descriptor, &md,
		                       (void **)&lr, &res);
		free(token);
		token = NULL;
		if (code != 0 || lr == NULL) {
			H_FAIL("Search \"%s\" page %d: code %u", f->name, pages, code);
			h_print_result("Search", &res);
			nrpc_result_free(&res);
			break;
		}
		nrpc_result_free(&res);
		pages++;
		last_n = lr->n_properties;
		H_CHECK(lr->n_properties <= page_size, "Search \"%s\": %zu rows on a page of %u",
		        f->name, lr->n_properties, page_size);
		for (size_t i = 0; i < lr->n_properties; i++) {
			const Property__V1__Property *p = lr->properties[i];
			int k = find_row(c, p->id);
			if (k < 0) {
				H_FAIL(
				    "Search \"%s\" returned a row not created here: %s (city %s)",
				    f->name, p->id, p->location ? p->location->city : "?");
				continue;
			}
			seen[k]++;
			H_CHECK(matches(c, &c->rows[k], f),
			        "Search \"%s\" returned non-matching %s", f->name, p->id);
			bool ordered = p->price_cents > prev_price ||
			               (p->price_cents == prev_price && strcmp(p->id, prev_id) > 0);
			H_CHECK(ordered, "Search \"%s\" order broken: %lld/%s after %lld/%s",
			        f->name, (long long)p->price_cents, p->id, (long long)prev_price,
			        prev_id);
			prev_price = p->price_cents;
			snprintf(prev_id, sizeof(prev_id), "%s", p->id);
		}
		if (lr->next_page_token[0] != '\0')
			token = strdup(lr->next_page_token);
		protobuf_c_message_free_unpacked(&lr->base, NULL);
	} while (token != NULL && pages < MAX_WALK);
	free(token);
	size_t want = 0;
	for (size_t i = 0; i < c->n_rows; i++) {
		bool m = matches(c, &c->rows[i], f);
		want += m;
		H_CHECK(seen[i] == (m ? 1 : 0),
		        "Search \"%s\" (pages of %u): row %zu seen %d times, "
		        "want %d",
		        f->name, page_size, i, seen[i], m ? 1 : 0);
	}
	(void)last_n;
	fprintf(stderr, "  %s (pages of %u): %zu rows in %d pages\n", f->name, page_size, want,
	        pages);
}

static void case_search_filters(void *arg)
{
	ctx *c = arg;
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		walk_search(c, &filters[i], 20);
		walk_search(c, &filters[i], 7);
	}
}

static size_t search_count(ctx *c, const char *city, uint32_t page_size, unsigned *code)
{
	Property__V1__SearchPropertiesRequest s = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	s.city = (char *)city;
	s.page_size = page_size;
	Property__V1__ListPropertiesResponse *lr = NULL;
	h_md md = {.auth = c->auth};
	*code =
	    h_call(c->p.cli, M_SEARCH, &s.base, &property__v1__list_properties_response__descriptor,
	           &md, (void **)&lr, NULL);
	size_t n = lr != NULL ? lr->n_properties : 0;
	if (lr != NULL)
		protobuf_c_message_free_unpacked(&lr->base, NULL);
	return n;
}

// "city matches exactly": no prefix or pattern matching (LIKE wildcards are
// plain characters), and the page-size cap applies to Search too.
static void case_search_city_exact(void *arg)
{
	ctx *c = arg;
	const char *base = c->city_base[0];
	char probe[96];
	static const char *const suffixes[] = {"%", "_", "*", ".*", " "};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(probe, sizeof(probe), "%.*s%s", (int)strlen(base) - 1, base, suffixes[i]);
		unsigned code;
		size_t n = search_count(c, probe, 100, &code);
		H_CHECK(code == 0 && n == 0, "Search city \"%s\": code %u, %zu rows, want 0", probe,
		        code, n);
	}
	snprintf(probe, sizeof(probe), "%.6s%%", base); // "Itc-xx%"
	unsigned code;
	size_t n = search_count(c, probe, 100, &code);
	H_CHECK(code == 0 && n == 0, "Search city \"%s\": code %u, %zu rows, want 0", probe, code,
	        n);
	// 101 rows of the big owner are in Testville: the cap of 100 holds.
	n = search_count(c, "Testville", 500, &code);
	H_CHECK(code == 0 && n == 100, "Search page_size 500: code %u, %zu rows, want 100", code,
	        n);
	n = search_count(c, "testville", 0, &code);
	H_CHECK(code == 0 && n == 20, "Search page_size 0: code %u, %zu rows, want 20", code, n);
}

// Case-insensitive beyond ASCII, as a user of "ignoring case" would expect.
static void case_search_city_unicode_case(void *arg)
{
	ctx *c = arg;
	char city[96], upper[96];
	snprintf(city, sizeof(city), "%s-Zürich-Łódź", c->city_base[2]);
	snprintf(upper, sizeof(upper), "%s-ZÜRICH-ŁÓDŹ", c->city_base[2]);
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	loc.city = city;
	h_md md = {.auth = c->auth};
	unsigned code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
	                       &md, NULL, NULL);
	H_CHECK(code == 0, "Create in %s: code %u", city, code);
	size_t n = search_count(c, city, 10, &code);
	H_CHECK(code == 0 && n == 1, "Search \"%s\" as stored: %zu rows", city, n);
	n = search_count(c, upper, 10, &code);
	H_CHECK(code == 0 && n == 1,
	        "Search \"%s\" (non-ASCII letters in another case): code %u, %zu rows, want 1",
	        upper, code, n);
}

static void case_search_bad_token(void *arg)
{
	ctx *c = arg;
	Property__V1__SearchPropertiesRequest s = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	s.city = c->city_base[0];
	s.page_size = 5;
	Property__V1__ListPropertiesResponse *lr = NULL;
	h_md md = {.auth = c->auth};
	unsigned code =
	    h_call(c->p.cli, M_SEARCH, &s.base, &property__v1__list_properties_response__descriptor,
	           &md, (void **)&lr, NULL);
	if (code != 0 || lr == NULL || lr->next_page_token[0] == '\0') {
		H_FAIL("first Search page: code %u", code);
		if (lr != NULL)
			protobuf_c_message_free_unpacked(&lr->base, NULL);
		return;
	}
	char *tok = strdup(lr->next_page_token);
	protobuf_c_message_free_unpacked(&lr->base, NULL);
	// The same token with other filters is a different query.
	s.page_token = tok;
	s.city = c->city_base[1];
	code = h_call(c->p.cli, M_SEARCH, &s.base,
	              &property__v1__list_properties_response__descriptor, &md, NULL, NULL);
	H_CHECK(code == 3, "a Search token with another city: code %u, want 3", code);
	s.city = c->city_base[0];
	s.min_bedrooms = 2;
	code = h_call(c->p.cli, M_SEARCH, &s.base,
	              &property__v1__list_properties_response__descriptor, &md, NULL, NULL);
	H_CHECK(code == 3, "a Search token with another min_bedrooms: code %u, want 3", code);
	s.min_bedrooms = 0;
	tok[strlen(tok) / 2] ^= 1;
	code = h_call(c->p.cli, M_SEARCH, &s.base,
	              &property__v1__list_properties_response__descriptor, &md, NULL, NULL);
	H_CHECK(code == 3, "a tampered Search token: code %u, want 3", code);
	// A Search token given to List.
	tok[strlen(tok) / 2] ^= 1;
	Property__V1__ListPropertiesResponse *l2 = list_page(c, c->owner, 5, tok, &code);
	H_CHECK(code == 3, "a Search token given to List: code %u, want 3", code);
	if (l2 != NULL)
		protobuf_c_message_free_unpacked(&l2->base, NULL);
	free(tok);
}

// Rows created while a client walks the pages must not make it see an older row
// twice or miss one (the tokens are positions, not offsets).
static void case_walk_while_inserting(void *arg)
{
	ctx *c = arg;
	int seen_list[N_ROWS] = {0}, seen_search[N_ROWS] = {0};
	char *token = NULL;
	int pages = 0;
	h_md md = {.auth = c->auth};
	do {
		unsigned code;
		Property__V1__ListPropertiesResponse *lr = list_page(c, c->owner, 10, token, &code);
		free(token);
		token = NULL;
		if (lr == NULL) {
			H_FAIL("List page %d while inserting: code %u", pages, code);
			break;
		}
		pages++;
		for (size_t i = 0; i < lr->n_properties; i++) {
			int k = find_row(c, lr->properties[i]->id);
			if (k >= 0)
				seen_list[k]++;
		}
		if (lr->next_page_token[0] != '\0')
			token = strdup(lr->next_page_token);
		protobuf_c_message_free_unpacked(&lr->base, NULL);
		// A newer row of the same owner (it sorts before everything seen).
		Property__V1__Property *p = h_create(c->p.cli, c->auth, "");
		if (p != NULL)
			protobuf_c_message_free_unpacked(&p->base, NULL);
	} while (token != NULL && pages < MAX_WALK);
	free(token);
	for (size_t i = 0; i < c->n_rows; i++)
		H_CHECK(seen_list[i] == 1, "List walk while inserting: row %zu seen %d times", i,
		        seen_list[i]);

	// Search alpha by price in pages of 5, inserting rows of every price in between.
	pages = 0;
	do {
		Property__V1__SearchPropertiesRequest s =
		    PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
		s.city = c->city_base[0];
		s.page_size = 5;
		s.page_token = token ? token : "";
		Property__V1__ListPropertiesResponse *lr = NULL;
		unsigned code = h_call(c->p.cli, M_SEARCH, &s.base,
		                       &property__v1__list_properties_response__descriptor, &md,
		                       (void **)&lr, NULL);
		free(token);
		token = NULL;
		if (lr == NULL) {
			H_FAIL("Search page %d while inserting: code %u", pages, code);
			break;
		}
		pages++;
		for (size_t i = 0; i < lr->n_properties; i++) {
			int k = find_row(c, lr->properties[i]->id);
			if (k >= 0)
				seen_search[k]++;
		}
		if (lr->next_page_token[0] != '\0')
			token = strdup(lr->next_page_token);
		protobuf_c_message_free_unpacked(&lr->base, NULL);
		Property__V1__CreatePropertyRequest cr;
		Property__V1__Location loc;
		h_valid_create(&cr, &loc, "");
		loc.city = c->city_base[0];
		cr.price_cents = (int64_t)(pages % 9) * 10000; // ties with rows already seen
		Property__V1__Property *p = NULL;
		h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor, &md,
		       (void **)&p, NULL);
		if (p != NULL)
			protobuf_c_message_free_unpacked(&p->base, NULL);
	} while (token != NULL && pages < MAX_WALK);
	free(token);
	for (size_t i = 0; i < c->n_rows; i++)
		if (strcasecmp(c->rows[i].city, c->city_base[0]) == 0)
			H_CHECK(seen_search[i] == 1,
			        "Search walk while inserting: row %zu seen %d times", i,
			        seen_search[i]);
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"list_pages", case_list_pages},
	    {"list_page_size", case_list_page_size},
	    {"list_bad_tokens", case_list_bad_tokens},
	    {"search_filters", case_search_filters},
	    {"search_bad_token", case_search_bad_token},
	    {"search_city_exact", case_search_city_exact},
	    {"search_city_unicode_case", case_search_city_unicode_case},
	    {"walk_while_inserting", case_walk_while_inserting}, // last: it adds rows
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx *c = calloc(1, sizeof(*c));
	h_owner(c->owner, sizeof(c->owner), "page");
	h_owner(c->owner_big, sizeof(c->owner_big), "big");
	c->auth = h_bearer(H_SECRET, c->owner, 600);
	c->auth_big = h_bearer(H_SECRET, c->owner_big, 600);
	if (h_start(&c->p, NULL) == 0) {
		if (create_rows(c) == 0)
			h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), c, argc, argv);
		rc = h_stop(&c->p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&c->p);
	free(c->auth);
	free(c->auth_big);
	free(c);
	return h_status();
}
