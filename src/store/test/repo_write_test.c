// store_repo: writes call by call: a create/get/update/delete round trip, the
// owner and version checks, partial update masks, strings stored verbatim,
// and values the database refuses.
#include <stdio.h>
#include <string.h>

#include "repo_common.h"

void test_crud_roundtrip(void)
{
	tu_arena a;
	tu_arena_init(&a);
	prop_buf b;
	Property__V1__Property *in = mk_simple(&b, "owner-crud");
	Property__V1__Property *c = create_ok(&a, in);
	if (c == NULL)
		goto out;
	CHECK(same_values(c, in), "created values differ");
	CHECK(strlen(c->id) == 36 && c->version == 1, "id %s version %llu", c->id,
	      (unsigned long long)c->version);
	CHECK(c->created_at_us > 1600000000000000LL && c->created_at_us == c->updated_at_us,
	      "times %lld %lld", (long long)c->created_at_us, (long long)c->updated_at_us);

	prop_ctx ctx = tu_ctx(&a, 5000);
	Property__V1__Property *got = NULL;
	nrpc_code rc = s_get(port, &ctx, c->id, &got);
	CHECK(rc == NRPC_OK && got && same_row(got, c), "get: %d %s", rc, ctx.err);

	prop_buf nb;
	Property__V1__Property *nv = mk(&nb, "ignored", "New title", "X", "XX", 0, 0, 1, 9, 5);
	Property__V1__Property *up = NULL;
	rc = s_update(port, &ctx, c->id, 1, "owner-crud", PROP_F_TITLE, nv, &up);
	CHECK(rc == NRPC_OK && up, "update: %d %s", rc, ctx.err);
	if (up) {
		CHECK(strcmp(up->title, "New title") == 0, "title %s", up->title);
		CHECK(up->version == 2 && up->created_at_us == c->created_at_us &&
		          up->updated_at_us >= c->updated_at_us,
		      "version/times");
		up->title = c->title;
		CHECK(same_values(up, c), "only the title changed");
		up->title = "New title";
		rc = s_get(port, &ctx, c->id, &got);
		CHECK(rc == NRPC_OK && same_row(got, up), "get after update");
	}
	Property__V1__Property *last = NULL;
	rc = s_remove(port, &ctx, c->id, 2, "owner-crud", &last);
	CHECK(rc == NRPC_OK && last && up && same_row(last, up), "delete: %d %s", rc, ctx.err);
	rc = s_get(port, &ctx, c->id, &got);
	CHECK(rc == NRPC_NOT_FOUND, "get after delete: %d", rc);
	CHECK(events_of(c->id) == 3, "3 events, got %lld", (long long)events_of(c->id));
	CHECK(count_sql("SELECT count(*) FROM event_log WHERE aggregate_id = '%s' AND "
	                "((type = 'property.created' AND version = 1) OR "
	                "(type = 'property.updated' AND version = 2 AND title = 'New title') OR "
	                "(type = 'property.deleted' AND version = 2)) AND seq IS NULL",
	                c->id) == 3,
	      "event snapshots");
out:
	tu_arena_reset(&a);
}

typedef struct precond_case {
	const char *name;
	int missing;       // use an id that does not exist
	const char *owner; // NULL: no owner check
	uint64_t version;  // 0: no version check
	nrpc_code want;
} precond_case;

void test_checks(void)
{
	static const precond_case cases[] = {
	    {"missing", 1, NULL, 0, NRPC_NOT_FOUND},
	    {"missing_and_wrong_owner", 1, "mallory", 7, NRPC_NOT_FOUND},
	    {"wrong_owner", 0, "mallory", 0, NRPC_PERMISSION_DENIED},
	    {"wrong_owner_and_version", 0, "mallory", 7, NRPC_PERMISSION_DENIED},
	    {"wrong_version", 0, "owner-checks", 7, NRPC_ABORTED},
	    {"wrong_version_no_owner", 0, NULL, 2, NRPC_ABORTED},
	};
	tu_arena a;
	tu_arena_init(&a);
	prop_buf b;
	Property__V1__Property *c = create_ok(&a, mk_simple(&b, "owner-checks"));
	if (c == NULL)
		goto out;
	prop_buf nb;
	Property__V1__Property *nv = mk(&nb, "x", "Changed", "Y", "YY", 1, 1, 2, 3, 4);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const precond_case *k = &cases[i];
		const char *id = k->missing ? "00000000-0000-4000-8000-000000000000" : c->id;
		int64_t events = events_of(c->id);
		prop_ctx ctx = tu_ctx(&a, 5000);
		Property__V1__Property *out = NULL;
		nrpc_code rc = s_update(port, &ctx, id, k->version, k->owner, 0x7f, nv, &out);
		CHECK(rc == k->want && out == NULL, "%s update: %d want %d", k->name, rc, k->want);
		CHECK(ctx.err[0] != '\0', "%s: no message", k->name);
		rc = s_remove(port, &ctx, id, k->version, k->owner, &out);
		CHECK(rc == k->want && out == NULL, "%s delete: %d want %d", k->name, rc, k->want);
		Property__V1__Property *now = NULL;
		rc = s_get(port, &ctx, c->id, &now);
		CHECK(rc == NRPC_OK && now && same_row(now, c), "%s: row changed", k->name);
		CHECK(events_of(c->id) == events, "%s: an event was written", k->name);
	}
	// Matching owner and version succeed.
	prop_ctx ctx = tu_ctx(&a, 5000);
	Property__V1__Property *out = NULL;
	nrpc_code rc = s_update(port, &ctx, c->id, 1, "owner-checks", PROP_F_STATUS, nv, &out);
	CHECK(rc == NRPC_OK && out && out->status == 4 && out->version == 2, "good update: %d", rc);
	rc = s_remove(port, &ctx, c->id, 0, NULL, &out);
	CHECK(rc == NRPC_OK && out && out->version == 2, "unchecked delete: %d", rc);
out:
	tu_arena_reset(&a);
}

void test_partial_mask(void)
{
	static const struct {
		const char *name;
		unsigned mask;
	} cases[] = {
	    {"location_price", PROP_F_LOCATION | PROP_F_PRICE},
	    {"description", PROP_F_DESCRIPTION},
	    {"currency_bedrooms", PROP_F_CURRENCY | PROP_F_BEDROOMS},
	    {"all", 0x7f},
	};
	tu_arena a;
	tu_arena_init(&a);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		prop_buf b, nb;
		Property__V1__Property *c = create_ok(&a, mk_simple(&b, "owner-mask"));
		if (c == NULL)
			break;
		Property__V1__Property *nv =
		    mk(&nb, "other", "T2", "Porto", "ES", -41.5, 174.25, 777, 5, 3);
		nv->description = "D2";
		nv->currency = "USD";
		nb.l.address = "2 Side Road";
		prop_ctx ctx = tu_ctx(&a, 5000);
		Property__V1__Property *up = NULL;
		nrpc_code rc = s_update(port, &ctx, c->id, 0, NULL, cases[i].mask, nv, &up);
		CHECK(rc == NRPC_OK && up, "%s: %d %s", cases[i].name, rc, ctx.err);
		if (up == NULL)
			continue;
		unsigned m = cases[i].mask;
		const Property__V1__Property *t = (m & PROP_F_TITLE) ? nv : c;
		const Property__V1__Property *d = (m & PROP_F_DESCRIPTION) ? nv : c;
		const Property__V1__Property *l = (m & PROP_F_LOCATION) ? nv : c;
		const Property__V1__Property *p = (m & PROP_F_PRICE) ? nv : c;
		const Property__V1__Property *k = (m & PROP_F_CURRENCY) ? nv : c;
		const Property__V1__Property *r = (m & PROP_F_BEDROOMS) ? nv : c;
		const Property__V1__Property *s = (m & PROP_F_STATUS) ? nv : c;
		CHECK(strcmp(up->owner_id, "owner-mask") == 0, "%s owner changed", cases[i].name);
		CHECK(strcmp(up->title, t->title) == 0 &&
		          strcmp(up->description, d->description) == 0 &&
		          strcmp(up->location->address, l->location->address) == 0 &&
		          strcmp(up->location->city, l->location->city) == 0 &&
		          strcmp(up->location->country_code, l->location->country_code) == 0 &&
		          up->location->latitude == l->location->latitude &&
		          up->location->longitude == l->location->longitude &&
		          up->price_cents == p->price_cents &&
		          strcmp(up->currency, k->currency) == 0 && up->bedrooms == r->bedrooms &&
		          up->status == s->status,
		      "%s: wrong fields", cases[i].name);
	}
	tu_arena_reset(&a);
}

void test_verbatim_strings(void)
{
	static const char *const nasty[] = {
	    "'; DROP TABLE properties; --",
	    "Robert'); DROP TABLE students;--",
	    "\\' OR '1'='1",
	    "$1 $2 %s %n",
	    "Zürich 東京 🏠",
	    "line\nbreak\ttab\"quote",
	};
	tu_arena a;
	tu_arena_init(&a);
	for (size_t i = 0; i < sizeof nasty / sizeof nasty[0]; i++) {
		prop_buf b;
		Property__V1__Property *in =
		    mk(&b, nasty[i], nasty[i], nasty[i], "PT", 1, 2, 3, 4, 1);
		in->description = (char *)nasty[i];
		b.l.address = (char *)nasty[i];
		Property__V1__Property *c = create_ok(&a, in);
		if (c == NULL)
			continue;
		prop_ctx ctx = tu_ctx(&a, 5000);
		Property__V1__Property *got = NULL;
		nrpc_code rc = s_get(port, &ctx, c->id, &got);
		CHECK(rc == NRPC_OK && got && same_values(got, in), "case %zu not verbatim", i);
		prop_search_query q = {.city = nasty[i], .country_code = ""};
		prop_page page = {0};
		rc = s_search(port, &ctx, &q, NULL, 100, &page);
		CHECK(rc == NRPC_OK && page.n == 1 && strcmp(page.items[0]->id, c->id) == 0,
		      "case %zu search: %d n=%zu", i, rc, page.n);
		prop_page lp = {0};
		rc = s_list_by_owner(port, &ctx, nasty[i], NULL, 100, &lp);
		CHECK(rc == NRPC_OK && lp.n == 1, "case %zu list: %d n=%zu", i, rc, lp.n);
	}
	CHECK(tu_scalar(admin, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
	                       "AND tablename = 'properties'") == 1,
	      "the table survived");
	tu_arena_reset(&a);
}

void test_bad_values(void)
{
	static const struct {
		const char *name;
		const char *title, *cc, *id;
	} cases[] = {
	    {"empty_title", "", "PT", NULL},
	    {"bad_country", "T", "usa", NULL},
	    {"bad_uuid", "T", "PT", "not-a-uuid"},
	};
	tu_arena a;
	tu_arena_init(&a);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		prop_ctx ctx = tu_ctx(&a, 5000);
		Property__V1__Property *out = NULL;
		bool replayed = false;
		nrpc_code rc;
		if (cases[i].id) {
			rc = s_get(port, &ctx, cases[i].id, &out);
		} else {
			prop_buf b;
			Property__V1__Property *in = mk_simple(&b, "owner-bad");
			in->title = (char *)cases[i].title;
			b.l.country_code = (char *)cases[i].cc;
			rc = s_create(port, &ctx, in, NULL, NULL, &out, &replayed);
		}
		CHECK(rc == NRPC_INVALID_ARGUMENT, "%s: %d %s", cases[i].name, rc, ctx.err);
		CHECK(strstr(ctx.err, "properties") == NULL && strstr(ctx.err, "check") == NULL,
		      "%s leaks SQL: %s", cases[i].name, ctx.err);
	}
	tu_arena_reset(&a);
}
