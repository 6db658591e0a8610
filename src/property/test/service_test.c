// property_service: the use cases against in-memory fakes of the ports.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test/check.h"
#include "fakes.h"
#include "obs/metrics.h"
#include "property/service.h"

// One test's world: fakes, a service, and a request arena per call.
typedef struct world {
	fake_repo repo;
	fake_cache cache;
	obs_registry *metrics;
	prop_service *svc;
	fake_arena arena; // every call of the test allocates here
} world;

static void world_init(world *w, bool with_cache)
{
	prop_service_config cfg = {0};
	fake_repo_init(&w->repo);
	fake_cache_init(&w->cache);
	fake_arena_init(&w->arena);
	w->metrics = obs_registry_create();
	cfg.repo = fake_repo_port(&w->repo);
	cfg.cache = with_cache ? fake_cache_port(&w->cache) : (prop_cache){0};
	cfg.token_key = (const uint8_t *)"secret";
	cfg.token_key_len = 6;
	cfg.metrics = w->metrics;
	if (prop_service_create(&w->svc, &cfg) != 0) {
		abort();
	}
}

static void world_fini(world *w)
{
	prop_service_destroy(w->svc);
	obs_registry_destroy(w->metrics);
	fake_arena_fini(&w->arena);
	fake_cache_fini(&w->cache);
	fake_repo_fini(&w->repo);
}

static void call_init(world *w, prop_call *c, const char *subject)
{
	fake_call_init(c, &w->arena.a, subject);
}

static uint64_t counter(world *w, const char *name)
{
	return obs_counter_value(obs_counter_get(w->metrics, name, "", NULL));
}

static Property__V1__Location paris = {PROTOBUF_C_MESSAGE_INIT(&property__v1__location__descriptor),
                                       "1 Rue",
                                       "Paris",
                                       "FR",
                                       48.85,
                                       2.35};

static Property__V1__CreatePropertyRequest create_req(const char *owner, const char *title)
{
	Property__V1__CreatePropertyRequest r = PROPERTY__V1__CREATE_PROPERTY_REQUEST__INIT;
	r.owner_id = (char *)owner;
	r.title = (char *)title;
	r.location = &paris;
	r.price_cents = 100;
	r.currency = "EUR";
	r.bedrooms = 2;
	return r;
}

// Creates a property as `subject` and returns it (NULL on failure).
static Property__V1__Property *create(world *w, const char *subject, const char *owner,
                                      int64_t price)
{
	prop_call c;
	Property__V1__Property *p = NULL;
	Property__V1__CreatePropertyRequest r = create_req(owner, "Flat");
	r.price_cents = price;
	call_init(w, &c, subject);
	nrpc_code rc = fake_run_create(w->svc, &c, &r, &p);
	CHECK(rc == NRPC_OK, "create: %d %s", rc, c.ctx.err);
	return p;
}

static bool has_violation(const prop_call *c, const char *field)
{
	for (size_t i = 0; i < c->viol.n; i++) {
		if (strcmp(c->viol.v[i].field, field) == 0) {
			return true;
		}
	}
	return false;
}

// ---- create: owner rules, defaults, idempotency ---------------------------------------------

static void test_owner_rules(void)
{
	static const struct {
		const char *name;
		const char *subject; // NULL: insecure mode
		const char *owner_id;
		nrpc_code want;
		const char *want_owner; // on OK
		const char *violation;  // on 3
	} cases[] = {
	    {"identity, empty owner takes sub", "alice", "", NRPC_OK, "alice", NULL},
	    {"identity, own id", "alice", "alice", NRPC_OK, "alice", NULL},
	    {"identity, another owner", "alice", "bob", NRPC_PERMISSION_DENIED, NULL, NULL},
	    {"insecure, owner required", NULL, "", NRPC_INVALID_ARGUMENT, NULL, "owner_id"},
	    {"insecure, any owner", NULL, "carol", NRPC_OK, "carol", NULL},
	    {"identity, sub too long",
	     "ooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooo", "",
	     NRPC_INVALID_ARGUMENT, NULL, "owner_id"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		world w;
		prop_call c;
		Property__V1__Property *p = NULL;
		Property__V1__CreatePropertyRequest r = create_req(cases[i].owner_id, "Flat");
		world_init(&w, true);
		call_init(&w, &c, cases[i].subject);
		nrpc_code rc = fake_run_create(w.svc, &c, &r, &p);
		CHECK(rc == cases[i].want, "%s: code %d, want %d (%s)", cases[i].name, rc,
		      cases[i].want, c.ctx.err);
		if (rc == NRPC_OK) {
			CHECK(p != NULL && strcmp(p->owner_id, cases[i].want_owner) == 0,
			      "%s: owner", cases[i].name);
			CHECK(p != NULL &&
			          p->status == PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_DRAFT,
			      "%s: status 0 becomes DRAFT", cases[i].name);
			CHECK(counter(&w, "propertyd_properties_created_total") == 1,
			      "%s: created counter", cases[i].name);
		} else {
			CHECK(w.repo.n_create == 0, "%s: repo must not be called", cases[i].name);
			CHECK(c.ctx.err[0] != '\0', "%s: error message", cases[i].name);
		}
		if (cases[i].violation != NULL) {
			CHECK(has_violation(&c, cases[i].violation), "%s: violation on %s",
			      cases[i].name, cases[i].violation);
		}
		world_fini(&w);
	}
}

static void test_create_validation(void)
{
	world w;
	prop_call c;
	Property__V1__Property *p = NULL;
	Property__V1__CreatePropertyRequest r = create_req("", "");
	r.currency = "eur";
	world_init(&w, true);
	call_init(&w, &c, "alice");
	nrpc_code rc = fake_run_create(w.svc, &c, &r, &p);
	CHECK(rc == NRPC_INVALID_ARGUMENT && c.viol.n == 2 && has_violation(&c, "title") &&
	          has_violation(&c, "currency"),
	      "create violations: %d n=%zu", rc, c.viol.n);

	// An embedded NUL is only visible in the raw payload.
	static const uint8_t wire[] = {0x12, 0x04, 'a', 'b', 0x00, 'c'}; // title = "ab\0c"
	r = create_req("", "ab");
	call_init(&w, &c, "alice");
	c.payload = wire;
	c.payload_len = sizeof(wire);
	rc = fake_run_create(w.svc, &c, &r, &p);
	CHECK(rc == NRPC_INVALID_ARGUMENT && c.viol.n == 1 && has_violation(&c, "title"),
	      "embedded NUL: %d n=%zu", rc, c.viol.n);
	CHECK(w.repo.n_create == 0, "no write on invalid input");
	world_fini(&w);
}

static void test_idempotency(void)
{
	world w;
	prop_call c;
	Property__V1__Property *p1 = NULL, *p2 = NULL, *p3 = NULL;
	char hash1[65];
	world_init(&w, true);

	// The owner resolved from the token and the explicit one hash alike.
	Property__V1__CreatePropertyRequest r = create_req("", "Flat");
	call_init(&w, &c, "alice");
	c.idempotency_key = "key-1";
	CHECK(fake_run_create(w.svc, &c, &r, &p1) == NRPC_OK, "first create");
	CHECK(strcmp(w.repo.last_idem_key, "key-1") == 0, "key passed");
	CHECK(strlen(w.repo.last_hash) == 64, "hash is hex SHA-256");
	snprintf(hash1, sizeof(hash1), "%s", w.repo.last_hash);

	r = create_req("alice", "Flat");
	call_init(&w, &c, "alice");
	c.idempotency_key = "key-1";
	CHECK(fake_run_create(w.svc, &c, &r, &p2) == NRPC_OK, "replay");
	CHECK(strcmp(w.repo.last_hash, hash1) == 0, "stable hash");
	CHECK(p1 != NULL && p2 != NULL && strcmp(p1->id, p2->id) == 0, "replay returns the first");
	CHECK(w.repo.n_rows == 1, "replay creates nothing");
	CHECK(counter(&w, "propertyd_properties_created_total") == 1, "replay is not counted");

	r = create_req("", "Another flat");
	call_init(&w, &c, "alice");
	c.idempotency_key = "key-1";
	CHECK(fake_run_create(w.svc, &c, &r, &p3) == NRPC_ALREADY_EXISTS,
	      "same key, other request");
	CHECK(strcmp(w.repo.last_hash, hash1) != 0, "other request, other hash");

	// No key: none passed.
	call_init(&w, &c, "alice");
	CHECK(fake_run_create(w.svc, &c, &r, &p3) == NRPC_OK, "no key");
	CHECK(w.repo.last_idem_key[0] == '\0' && w.repo.last_hash[0] == '\0', "no key, no hash");

	// Over-long key: 3, nothing written.
	char longkey[202];
	memset(longkey, 'k', 201);
	longkey[201] = '\0';
	int before = w.repo.n_create;
	call_init(&w, &c, "alice");
	c.idempotency_key = longkey;
	CHECK(fake_run_create(w.svc, &c, &r, &p3) == NRPC_INVALID_ARGUMENT, "key over 200 bytes");
	CHECK(w.repo.n_create == before, "long key reaches no repo");
	longkey[200] = '\0';
	call_init(&w, &c, "alice");
	c.idempotency_key = longkey;
	CHECK(fake_run_create(w.svc, &c, &r, &p3) == NRPC_OK, "key of 200 bytes");
	world_fini(&w);
}

// ---- get, update, delete and the cache ------------------------------------------------------

static void test_get_cache(void)
{
	world w;
	prop_call c;
	Property__V1__Property *p = NULL;
	world_init(&w, true);
	Property__V1__Property *made = create(&w, "alice", "", 100);
	CHECK(fake_cache_entry(&w.cache, made->id) != NULL, "create puts the row");
	CHECK(w.cache.n_invalidate == 1 && strcmp(w.cache.last_invalidated, "alice") == 0,
	      "create invalidates the owner's pages");

	Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	g.id = made->id;
	call_init(&w, &c, "bob");
	CHECK(fake_run_get(w.svc, &c, &g, &p) == NRPC_OK && p != NULL, "get hit");
	CHECK(w.repo.n_get == 0, "a cache hit does not touch the repository");

	fake_cache_clear(&w.cache);
	call_init(&w, &c, "bob");
	CHECK(fake_run_get(w.svc, &c, &g, &p) == NRPC_OK, "get miss");
	CHECK(w.repo.n_get == 1 && fake_cache_entry(&w.cache, made->id) != NULL,
	      "a miss reads the repository and fills the cache");
	call_init(&w, &c, "bob");
	CHECK(fake_run_get(w.svc, &c, &g, &p) == NRPC_OK && w.repo.n_get == 1, "then hits");

	// Upper case ids are the same property (and the same cache key).
	char upper[37];
	for (size_t i = 0; i < 37; i++) {
		upper[i] = (char)(made->id[i] >= 'a' && made->id[i] <= 'f' ? made->id[i] - 32
		                                                           : made->id[i]);
	}
	g.id = upper;
	call_init(&w, &c, NULL);
	CHECK(fake_run_get(w.svc, &c, &g, &p) == NRPC_OK && w.repo.n_get == 1,
	      "upper-case id hits the canonical key");

	// Not found; bad id.
	g.id = "00000000-0000-4000-8000-999999999999";
	call_init(&w, &c, NULL);
	CHECK(fake_run_get(w.svc, &c, &g, &p) == NRPC_NOT_FOUND, "absent id");
	g.id = "nope";
	call_init(&w, &c, NULL);
	CHECK(fake_run_get(w.svc, &c, &g, &p) == NRPC_INVALID_ARGUMENT && has_violation(&c, "id"),
	      "bad id");

	// Repository down, cache cold: the repository's code and message.
	fake_cache_clear(&w.cache);
	w.repo.fail_all = NRPC_UNAVAILABLE;
	g.id = made->id;
	call_init(&w, &c, NULL);
	CHECK(fake_run_get(w.svc, &c, &g, &p) == NRPC_UNAVAILABLE &&
	          strstr(c.ctx.err, "fake") != NULL,
	      "repository error passes through");
	world_fini(&w);
}

static void test_update_delete(void)
{
	world w;
	prop_call c;
	Property__V1__Property *p = NULL;
	world_init(&w, true);
	Property__V1__Property *made = create(&w, "alice", "", 100);

	Property__V1__Property values = PROPERTY__V1__PROPERTY__INIT;
	char *mask[] = {"title"};
	Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	values.title = "Renamed";
	u.id = made->id;
	u.property = &values;
	u.update_mask = mask;
	u.n_update_mask = 1;

	static const struct {
		const char *name;
		const char *subject;
		uint64_t expected;
		nrpc_code want;
	} cases[] = {
	    {"another owner", "bob", 0, NRPC_PERMISSION_DENIED},
	    {"stale version", "alice", 7, NRPC_ABORTED},
	    {"owner, current version", "alice", 1, NRPC_OK},
	    {"insecure, no owner check", NULL, 0, NRPC_OK},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int puts = w.cache.n_put, inv = w.cache.n_invalidate;
		u.expected_version = cases[i].expected;
		call_init(&w, &c, cases[i].subject);
		nrpc_code rc = fake_run_update(w.svc, &c, &u, &p);
		CHECK(rc == cases[i].want, "update %s: %d (%s)", cases[i].name, rc, c.ctx.err);
		CHECK(strcmp(w.repo.last_owner, cases[i].subject ? cases[i].subject : "(null)") ==
		          0,
		      "update %s: owner passed", cases[i].name);
		if (rc == NRPC_OK) {
			CHECK(w.cache.n_put == puts + 1 && w.cache.n_invalidate == inv + 1,
			      "update %s: put and invalidate", cases[i].name);
			const fake_entry *e = fake_cache_entry(&w.cache, made->id);
			CHECK(e != NULL && e->version == p->version &&
			          strcmp(e->p->title, "Renamed") == 0,
			      "update %s: cache holds the new row", cases[i].name);
		} else {
			CHECK(w.cache.n_put == puts && w.cache.n_invalidate == inv,
			      "update %s: no cache write on failure", cases[i].name);
		}
	}
	CHECK(counter(&w, "propertyd_properties_updated_total") == 2, "updated counter");

	// Invalid update: violations named as in Property.
	values.title = "";
	call_init(&w, &c, "alice");
	CHECK(fake_run_update(w.svc, &c, &u, &p) == NRPC_INVALID_ARGUMENT &&
	          has_violation(&c, "title"),
	      "update empty title");
	static const uint8_t wire[] = {0x1a, 0x04, 0x1a, 0x02, 'x', 0x00}; // property.title "x\0"
	values.title = "x";
	call_init(&w, &c, "alice");
	c.payload = wire;
	c.payload_len = sizeof(wire);
	CHECK(fake_run_update(w.svc, &c, &u, &p) == NRPC_INVALID_ARGUMENT &&
	          has_violation(&c, "title"),
	      "update NUL title named as in Property");

	// Delete: another owner, then the owner; a tombstone, and Get says 5.
	Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
	d.id = made->id;
	call_init(&w, &c, "bob");
	CHECK(fake_run_delete(w.svc, &c, &d) == NRPC_PERMISSION_DENIED, "delete other's");
	call_init(&w, &c, "alice");
	CHECK(fake_run_delete(w.svc, &c, &d) == NRPC_OK, "delete own");
	const fake_entry *e = fake_cache_entry(&w.cache, made->id);
	CHECK(e != NULL && e->tombstone && e->version == 3, "tombstone at the last version");
	CHECK(strcmp(w.cache.last_invalidated, "alice") == 0, "delete invalidates");
	CHECK(counter(&w, "propertyd_properties_deleted_total") == 1, "deleted counter");

	int gets = w.repo.n_get;
	Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	g.id = made->id;
	call_init(&w, &c, NULL);
	CHECK(fake_run_get(w.svc, &c, &g, &p) == NRPC_NOT_FOUND && w.repo.n_get == gets,
	      "GONE answers 5 without the repository");
	call_init(&w, &c, NULL);
	CHECK(fake_run_delete(w.svc, &c, &d) == NRPC_NOT_FOUND, "delete twice");
	world_fini(&w);
}

// ---- listing and search ---------------------------------------------------------------------

static nrpc_code list(world *w, const char *owner, uint32_t size, const char *token,
                      Property__V1__ListPropertiesResponse **out, prop_call *c)
{
	Property__V1__ListPropertiesByOwnerRequest r =
	    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
	r.owner_id = (char *)owner;
	r.page_size = size;
	r.page_token = (char *)token;
	call_init(w, c, "viewer");
	return fake_run_list(w->svc, c, &r, out);
}

static void test_list(void)
{
	world w;
	prop_call c;
	Property__V1__ListPropertiesResponse *r = NULL;
	world_init(&w, true);
	for (int i = 0; i < 25; i++) {
		create(&w, "alice", "", 100 + i);
	}
	create(&w, "bob", "", 1);

	// Walk all pages: every row once, newest first, last token empty.
	char seen[32][37];
	size_t n_seen = 0;
	char token[128] = "";
	int pages = 0;
	int64_t prev = INT64_MAX;
	do {
		nrpc_code rc = list(&w, "alice", 10, token, &r, &c);
		CHECK(rc == NRPC_OK, "list page %d: %d %s", pages, rc, c.ctx.err);
		if (rc != NRPC_OK) {
			break;
		}
		for (size_t i = 0; i < r->n_properties; i++) {
			CHECK(r->properties[i]->created_at_us < prev, "order");
			prev = r->properties[i]->created_at_us;
			for (size_t k = 0; k < n_seen; k++) {
				CHECK(strcmp(seen[k], r->properties[i]->id) != 0, "duplicate row");
			}
			if (n_seen < 32) {
				snprintf(seen[n_seen++], 37, "%s", r->properties[i]->id);
			}
		}
		snprintf(token, sizeof(token), "%s", r->next_page_token);
		pages++;
	} while (token[0] != '\0' && pages < 10);
	CHECK(pages == 3 && n_seen == 25, "pages %d rows %zu", pages, n_seen);
	CHECK(w.cache.n_page_put == 1, "only the first page is stored (%d)", w.cache.n_page_put);
	CHECK(w.repo.last_limit == 11, "limit is page size + 1");

	// The first page again: from the cache.
	int lists = w.repo.n_list;
	CHECK(list(&w, "alice", 10, "", &r, &c) == NRPC_OK && r->n_properties == 10 &&
	          r->next_page_token[0] != '\0',
	      "cached first page");
	CHECK(w.repo.n_list == lists && w.cache.n_page_hit == 1, "first page hit");
	// The second page: never from the cache.
	char second[128];
	snprintf(second, sizeof(second), "%s", r->next_page_token);
	CHECK(list(&w, "alice", 10, second, &r, &c) == NRPC_OK && w.repo.n_list == lists + 1,
	      "second page from the repository");
	// Another page size is another key.
	CHECK(list(&w, "alice", 5, "", &r, &c) == NRPC_OK && w.repo.n_list == lists + 2,
	      "page size is part of the key");

	// A write invalidates: the next first page is read again and shows the row.
	Property__V1__Property *fresh = create(&w, "alice", "", 5);
	CHECK(list(&w, "alice", 10, "", &r, &c) == NRPC_OK && w.repo.n_list == lists + 3 &&
	          strcmp(r->properties[0]->id, fresh->id) == 0,
	      "read-your-writes after create");

	// Tokens belong to their query.
	CHECK(list(&w, "bob", 10, second, &r, &c) == NRPC_INVALID_ARGUMENT &&
	          has_violation(&c, "page_token"),
	      "token of another owner");
	CHECK(list(&w, "alice", 10, "garbage", &r, &c) == NRPC_INVALID_ARGUMENT &&
	          has_violation(&c, "page_token"),
	      "garbage token");
	CHECK(list(&w, "alice", 20, second, &r, &c) == NRPC_OK, "page size may change");
	CHECK(list(&w, "", 10, "", &r, &c) == NRPC_INVALID_ARGUMENT &&
	          has_violation(&c, "owner_id"),
	      "owner required");

	// Page size clamps and the exact last page.
	static const struct {
		uint32_t size, limit;
		size_t rows;
		bool token;
	} sizes[] = {
	    {0, 21, 20, true}, {500, 101, 26, false}, {26, 27, 26, false}, {25, 26, 25, true}};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fake_cache_clear(&w.cache);
		CHECK(list(&w, "alice", sizes[i].size, "", &r, &c) == NRPC_OK, "list %u",
		      sizes[i].size);
		CHECK(w.repo.last_limit == sizes[i].limit && r->n_properties == sizes[i].rows &&
		          (r->next_page_token[0] != '\0') == sizes[i].token,
		      "page size %u: limit %u rows %zu token '%s'", sizes[i].size,
		      w.repo.last_limit, r->n_properties, r->next_page_token);
	}
	world_fini(&w);

	// Without a cache: the same answers.
	world_init(&w, false);
	create(&w, "alice", "", 1);
	CHECK(list(&w, "alice", 0, "", &r, &c) == NRPC_OK && r->n_properties == 1 &&
	          r->next_page_token[0] == '\0',
	      "no cache");
	world_fini(&w);
}

static nrpc_code search(world *w, const char *city, int64_t min, int64_t max, uint32_t size,
                        const char *token, Property__V1__ListPropertiesResponse **out, prop_call *c)
{
	Property__V1__SearchPropertiesRequest r = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	r.city = (char *)city;
	r.min_price_cents = min;
	r.max_price_cents = max;
	r.page_size = size;
	r.page_token = (char *)token;
	call_init(w, c, NULL);
	return fake_run_search(w->svc, c, &r, out);
}

static void test_search(void)
{
	world w;
	prop_call c;
	Property__V1__ListPropertiesResponse *r = NULL;
	world_init(&w, true);
	// Prices with ties: 7 rows at 50, 8 at 60.
	for (int i = 0; i < 15; i++) {
		create(&w, "alice", "", i < 7 ? 50 : 60);
	}
	char token[128] = "";
	int pages = 0, rows = 0;
	int64_t prev_price = -1;
	char prev_id[37] = "";
	do {
		CHECK(search(&w, "PARIS", 0, 0, 4, token, &r, &c) == NRPC_OK, "search page %d: %s",
		      pages, c.ctx.err);
		for (size_t i = 0; i < r->n_properties; i++) {
			const Property__V1__Property *p = r->properties[i];
			CHECK(p->price_cents > prev_price ||
			          (p->price_cents == prev_price && strcmp(p->id, prev_id) > 0),
			      "search order");
			prev_price = p->price_cents;
			snprintf(prev_id, sizeof(prev_id), "%s", p->id);
			rows++;
		}
		snprintf(token, sizeof(token), "%s", r->next_page_token);
		pages++;
	} while (token[0] != '\0' && pages < 10);
	CHECK(pages == 4 && rows == 15, "search pages %d rows %d", pages, rows);
	CHECK(w.cache.n_page_get == 0, "search is not cached");

	// A token from one search is refused by another.
	CHECK(search(&w, "Paris", 0, 0, 4, "", &r, &c) == NRPC_OK, "first page");
	snprintf(token, sizeof(token), "%s", r->next_page_token);
	CHECK(search(&w, "Paris", 0, 0, 10, token, &r, &c) == NRPC_OK,
	      "page size is not part of the query");
	CHECK(search(&w, "Lyon", 0, 0, 4, token, &r, &c) == NRPC_INVALID_ARGUMENT &&
	          has_violation(&c, "page_token"),
	      "token of another search");
	CHECK(search(&w, "Paris", 0, 55, 4, token, &r, &c) == NRPC_INVALID_ARGUMENT,
	      "token of another price range");
	CHECK(search(&w, "Paris", 0, 55, 0, "", &r, &c) == NRPC_OK && r->n_properties == 7,
	      "max price filter");
	CHECK(search(&w, "", 100, 50, 0, "", &r, &c) == NRPC_INVALID_ARGUMENT &&
	          has_violation(&c, "max_price_cents"),
	      "max below min");
	world_fini(&w);
}

static void test_events(void)
{
	world w;
	prop_call c;
	Property__V1__ReadEventsResponse *r = NULL;
	Property__V1__ReadEventsRequest q = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
	world_init(&w, true);
	create(&w, "alice", "", 1);
	create(&w, "alice", "", 2);

	static const struct {
		uint32_t limit, want_limit;
		uint64_t after;
		const char *prefix;
		size_t n;
	} cases[] = {
	    {0, 100, 0, "", 2},
	    {5000, 1000, 0, "", 2},
	    {1, 1, 0, "", 1},
	    {0, 100, 1, "", 1},
	    {0, 100, 0, "property.deleted", 0},
	    {0, 100, 0, "property.", 2},
	    {0, 100, 0, "prop", 2},
	    // No event type starts so: the log is not walked (limit 0).
	    {0, 0, 0, "property.createdX", 0},
	    {0, 0, 0, "order.", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		q.limit = cases[i].limit;
		q.after_seq = cases[i].after;
		q.type_prefix = (char *)cases[i].prefix;
		call_init(&w, &c, "x");
		CHECK(fake_run_read_events(w.svc, &c, &q, &r) == NRPC_OK, "read events %zu", i);
		CHECK(w.repo.last_limit == cases[i].want_limit && r->n_events == cases[i].n &&
		          r->last_seq == 2,
		      "events case %zu: limit %u n %zu", i, w.repo.last_limit, r->n_events);
	}
	// Retention: seq 1 pruned; after 0 is out of range, after 1 (the gap edge) is not.
	w.repo.pruned_through = 1;
	q.limit = 100;
	q.type_prefix = (char *)"";
	q.after_seq = 0;
	call_init(&w, &c, "x");
	CHECK(fake_run_read_events(w.svc, &c, &q, &r) == NRPC_OUT_OF_RANGE &&
	          strstr(c.ctx.err, "the oldest kept is 2") != NULL,
	      "pruned: %s", c.ctx.err);
	q.after_seq = 1;
	call_init(&w, &c, "x");
	CHECK(fake_run_read_events(w.svc, &c, &q, &r) == NRPC_OK && r->n_events == 1 &&
	          r->events[0]->seq == 2,
	      "gap edge");
	w.repo.pruned_through = 0;
	char prefix[128];
	memset(prefix, 'p', 101);
	prefix[101] = '\0';
	q.type_prefix = prefix;
	call_init(&w, &c, "x");
	CHECK(fake_run_read_events(w.svc, &c, &q, &r) == NRPC_INVALID_ARGUMENT &&
	          has_violation(&c, "type_prefix"),
	      "long prefix");
	world_fini(&w);
}

int main(void)
{
	test_owner_rules();
	test_create_validation();
	test_idempotency();
	test_get_cache();
	test_update_delete();
	test_list();
	test_search();
	test_events();
	return check_summary("property_service");
}
