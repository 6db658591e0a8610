// store_repo: the repository port on PostgreSQL, call by call.
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obs/metrics.h"
#include "repo_sync.h"
#include "store/migrate.h"
#include "store/outbox.h"
#include "store/repo_pg.h"
#include "testutil.h"

// STORE_TEST_NO_PREPARE=1 runs every case without named prepared statements
// (DB_NO_PREPARE, for pgbouncer in transaction mode), in a schema of its own.
static const char *schema = "test_repo";

static char *conninfo;
static obs_registry *reg;
ioloop *sync_loop;
static apg *pool;
static repo_pg *repo;
static prop_repo port;
static PGconn *admin;

struct open_args {
	const char *conninfo;
	bool no_prepare;
	apg **pool;
	repo_pg **repo;
	char *err;
	size_t errcap;
	int rc;
};

// On the loop: a pool of 4 pipelined connections and the repository on it.
static void open_on_loop(void *arg)
{
	struct open_args *o = arg;
	struct event_base *base = ioloop_base(sync_loop);
	apg_config cfg = {.conninfo = o->conninfo,
	                  .base = base,
	                  .connections = 4,
	                  .no_prepare = o->no_prepare,
	                  .metrics = reg};
	repo_pg_config rc = {.pools = o->pool, .bases = &base, .nshards = 1};
	o->rc = apg_create(o->pool, &cfg, o->err, o->errcap) != 0 ||
	                repo_pg_create(o->repo, &rc, o->err, o->errcap) != 0
	            ? -1
	            : 0;
}

static int open_repo(const char *ci, bool no_prepare, apg **pool_out, repo_pg **repo_out, char *err,
                     size_t errcap)
{
	struct open_args o = {ci, no_prepare, pool_out, repo_out, err, errcap, 0};
	ioloop_call(sync_loop, open_on_loop, &o);
	return o.rc;
}

struct close_args {
	apg *pool;
	repo_pg *repo;
};

static void close_on_loop(void *arg)
{
	struct close_args *c = arg;
	apg_destroy(c->pool);
	repo_pg_destroy(c->repo);
}

static void close_repo(apg *p, repo_pg *r)
{
	struct close_args c = {p, r};
	ioloop_call(sync_loop, close_on_loop, &c);
}

// ---- fixtures ---------------------------------------------------------------------------

typedef struct prop_buf {
	Property__V1__Property p;
	Property__V1__Location l;
} prop_buf;

static Property__V1__Property *mk(prop_buf *b, const char *owner, const char *title,
                                  const char *city, const char *cc, double lat, double lon,
                                  int64_t price, uint32_t beds, int status)
{
	property__v1__property__init(&b->p);
	property__v1__location__init(&b->l);
	b->p.owner_id = (char *)owner;
	b->p.title = (char *)title;
	b->p.description = "A fine place.";
	b->l.address = "1 Main Street";
	b->l.city = (char *)city;
	b->l.country_code = (char *)cc;
	b->l.latitude = lat;
	b->l.longitude = lon;
	b->p.location = &b->l;
	b->p.price_cents = price;
	b->p.currency = "EUR";
	b->p.bedrooms = beds;
	b->p.status = (Property__V1__PropertyStatus)status;
	return &b->p;
}

static Property__V1__Property *mk_simple(prop_buf *b, const char *owner)
{
	return mk(b, owner, "Flat", "Lisbon", "PT", 38.72, -9.14, 25000000, 2, 2);
}

// The fields a client sets are equal (id, version and times aside).
static int same_values(const Property__V1__Property *a, const Property__V1__Property *b)
{
	return strcmp(a->owner_id, b->owner_id) == 0 && strcmp(a->title, b->title) == 0 &&
	       strcmp(a->description, b->description) == 0 &&
	       strcmp(a->location->address, b->location->address) == 0 &&
	       strcmp(a->location->city, b->location->city) == 0 &&
	       strcmp(a->location->country_code, b->location->country_code) == 0 &&
	       a->location->latitude == b->location->latitude &&
	       a->location->longitude == b->location->longitude &&
	       a->price_cents == b->price_cents && strcmp(a->currency, b->currency) == 0 &&
	       a->bedrooms == b->bedrooms && a->status == b->status;
}

static int same_row(const Property__V1__Property *a, const Property__V1__Property *b)
{
	return same_values(a, b) && strcmp(a->id, b->id) == 0 && a->version == b->version &&
	       a->created_at_us == b->created_at_us && a->updated_at_us == b->updated_at_us;
}

static Property__V1__Property *create_ok(tu_arena *a, const Property__V1__Property *in)
{
	prop_ctx ctx = tu_ctx(a, 5000);
	Property__V1__Property *out = NULL;
	bool replayed = true;
	nrpc_code rc = s_create(port, &ctx, in, NULL, NULL, &out, &replayed);
	CHECK(rc == NRPC_OK && out != NULL, "create: %d %s", rc, ctx.err);
	CHECK(!replayed, "not a replay");
	return out;
}

__attribute__((format(printf, 1, 2))) static int64_t count_sql(const char *fmt, ...);

static int64_t count_sql(const char *fmt, ...)
{
	va_list ap;
	char sql[512];
	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	return tu_scalar(admin, sql);
}

static int64_t events_of(const char *id)
{
	return count_sql("SELECT count(*) FROM event_log WHERE aggregate_id = '%s'", id);
}

// ---- cases ------------------------------------------------------------------------------

static void test_crud_roundtrip(void)
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

static void test_checks(void)
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

static void test_partial_mask(void)
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

static void test_verbatim_strings(void)
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

static void test_bad_values(void)
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

static int cmp_list(const void *x, const void *y) // created_at_us DESC, id DESC
{
	const Property__V1__Property *a = *(Property__V1__Property *const *)x;
	const Property__V1__Property *b = *(Property__V1__Property *const *)y;
	if (a->created_at_us != b->created_at_us)
		return a->created_at_us > b->created_at_us ? -1 : 1;
	return -strcmp(a->id, b->id);
}

static void test_list_walk(void)
{
	enum { N = 45, PAGE = 20 };
	tu_arena a;
	tu_arena_init(&a);
	Property__V1__Property *all[N];
	for (int i = 0; i < N; i++) {
		prop_buf b;
		all[i] = create_ok(&a, mk_simple(&b, "owner-walk"));
		if (all[i] == NULL)
			goto out;
	}
	qsort(all, N, sizeof all[0], cmp_list);
	prop_cursor cur = {0};
	int seen = 0, pages = 0;
	const size_t want_sizes[] = {PAGE, PAGE, N - 2 * PAGE, 0};
	for (;;) {
		prop_ctx ctx = tu_ctx(&a, 5000);
		prop_page page = {0};
		nrpc_code rc =
		    s_list_by_owner(port, &ctx, "owner-walk", pages ? &cur : NULL, PAGE, &page);
		CHECK(rc == NRPC_OK, "page %d: %d %s", pages, rc, ctx.err);
		if (rc != NRPC_OK || pages >= 4)
			break;
		CHECK(page.n == want_sizes[pages], "page %d has %zu rows", pages, page.n);
		for (size_t i = 0; i < page.n && seen < N; i++, seen++)
			CHECK(strcmp(page.items[i]->id, all[seen]->id) == 0, "row %d out of order",
			      seen);
		pages++;
		if (page.n < PAGE)
			break;
		cur.key = page.items[page.n - 1]->created_at_us;
		snprintf(cur.id, sizeof cur.id, "%s", page.items[page.n - 1]->id);
	}
	CHECK(seen == N && pages == 3, "walked %d rows in %d pages", seen, pages);
out:
	tu_arena_reset(&a);
}

// ---- search: every result compared to a filter computed here ----------------------------

enum { SN = 45 };
static Property__V1__Property *srows[SN];

static int cmp_search(const void *x, const void *y) // price_cents ASC, id ASC
{
	const Property__V1__Property *a = *(Property__V1__Property *const *)x;
	const Property__V1__Property *b = *(Property__V1__Property *const *)y;
	if (a->price_cents != b->price_cents)
		return a->price_cents < b->price_cents ? -1 : 1;
	return strcmp(a->id, b->id);
}

static int matches(const Property__V1__Property *p, const prop_search_query *q)
{
	const Property__V1__Location *l = p->location;
	if (q->city[0] && strcasecmp(l->city, q->city) != 0)
		return 0;
	if (q->country_code[0] && strcmp(l->country_code, q->country_code) != 0)
		return 0;
	if (p->price_cents < q->min_price_cents)
		return 0;
	if (q->max_price_cents && p->price_cents > q->max_price_cents)
		return 0;
	if (p->bedrooms < q->min_bedrooms)
		return 0;
	if (q->has_bbox && (l->latitude < q->min_lat || l->latitude > q->max_lat ||
	                    l->longitude < q->min_lon || l->longitude > q->max_lon))
		return 0;
	if (q->status && (int)p->status != q->status)
		return 0;
	return 1;
}

// Walks every page of q (page size `page`) and compares with the expectation.
static void walk_search(tu_arena *a, const char *name, const prop_search_query *q, uint32_t page,
                        int want_min)
{
	Property__V1__Property *want[SN] = {0};
	int nw = 0;
	for (int i = 0; i < SN; i++)
		if (matches(srows[i], q))
			want[nw++] = srows[i];
	CHECK(nw >= want_min, "%s: the fixture matches only %d rows", name, nw);
	qsort(want, (size_t)nw, sizeof want[0], cmp_search);
	prop_cursor cur = {0};
	int seen = 0, pages = 0;
	for (; pages < SN + 2; pages++) {
		prop_ctx ctx = tu_ctx(a, 5000);
		prop_page pg = {0};
		nrpc_code rc = s_search(port, &ctx, q, pages ? &cur : NULL, page, &pg);
		CHECK(rc == NRPC_OK, "%s page %d: %d %s", name, pages, rc, ctx.err);
		if (rc != NRPC_OK)
			return;
		CHECK(pg.n <= page, "%s: page too long", name);
		for (size_t i = 0; i < pg.n; i++, seen++)
			CHECK(seen < nw && strcmp(pg.items[i]->id, want[seen]->id) == 0,
			      "%s: row %d differs", name, seen);
		if (pg.n < page)
			break;
		cur.key = pg.items[pg.n - 1]->price_cents;
		snprintf(cur.id, sizeof cur.id, "%s", pg.items[pg.n - 1]->id);
	}
	CHECK(seen == nw, "%s: saw %d of %d", name, seen, nw);
}

static void test_search(void)
{
	static const char *const cities[] = {"Lisbon", "LISBON", "lisbon", "Porto", "Faro"};
	static const char *const ccs[] = {"PT", "ES", "FR"};
	tu_arena a;
	tu_arena_init(&a);
	PQclear(tu_exec(admin, "TRUNCATE properties"));
	for (int i = 0; i < SN; i++) {
		prop_buf b;
		// Prices repeat (i % 9) so the id breaks ties; coordinates land on
		// the bbox edges below for some rows.
		double lat = 38.0 + (i % 5) * 0.5, lon = -9.0 + (i % 4) * 0.5;
		srows[i] =
		    create_ok(&a, mk(&b, "owner-search", "S", cities[i % 5], ccs[i % 3], lat, lon,
		                     100000 + (i % 9) * 1000, (uint32_t)(i % 6), 1 + i % 5));
		if (srows[i] == NULL)
			goto out;
	}
	const prop_search_query all = {.city = "", .country_code = ""};
	prop_search_query q = all;
	walk_search(&a, "no_filter_pages_of_20", &q, 20, SN);
	q.country_code = "PT";
	walk_search(&a, "country", &q, 4, 10);
	q = all, q.city = "lIsBoN";
	walk_search(&a, "city_ignores_case", &q, 5, 20);
	q.min_price_cents = 103000, q.max_price_cents = 106000;
	walk_search(&a, "city_price", &q, 3, 5);
	q = all, q.min_bedrooms = 3;
	walk_search(&a, "bedrooms", &q, 7, 10);
	q = all, q.has_bbox = true, q.min_lat = 38.5, q.max_lat = 39.5, q.min_lon = -8.5,
	q.max_lon = -8.0;
	walk_search(&a, "bbox_edges_included", &q, 6, 10);
	q.status = 2;
	walk_search(&a, "bbox_status", &q, 2, 1);
	q = all, q.city = "porto", q.country_code = "ES", q.min_bedrooms = 1, q.status = 0;
	walk_search(&a, "city_country_bedrooms", &q, 2, 1);
	q = all, q.max_price_cents = 100000;
	walk_search(&a, "max_price_inclusive", &q, 20, 5);
	q = all, q.city = "Nowhere";
	walk_search(&a, "nothing", &q, 20, 0);
out:
	tu_arena_reset(&a);
}

// ---- idempotency ------------------------------------------------------------------------

static nrpc_code create_key(tu_arena *a, const Property__V1__Property *in, const char *key,
                            const char *hash, Property__V1__Property **out, bool *replayed)
{
	prop_ctx ctx = tu_ctx(a, 5000);
	nrpc_code rc = s_create(port, &ctx, in, key, hash, out, replayed);
	if (rc != NRPC_OK)
		fprintf(stderr, "  (create with key: %d %s)\n", rc, ctx.err);
	return rc;
}

static void test_idempotency(void)
{
	tu_arena a;
	tu_arena_init(&a);
	prop_buf b;
	Property__V1__Property *in = mk_simple(&b, "owner-idem");
	Property__V1__Property *first = NULL, *again = NULL, *other = NULL;
	bool replayed = false;
	nrpc_code rc = create_key(&a, in, "k1", "h1", &first, &replayed);
	CHECK(rc == NRPC_OK && first && !replayed, "first: %d", rc);
	if (first == NULL)
		goto out;
	rc = create_key(&a, in, "k1", "h1", &again, &replayed);
	CHECK(rc == NRPC_OK && again && replayed && same_row(again, first), "replay: %d", rc);
	CHECK(count_sql("SELECT count(*) FROM properties WHERE owner_id = '%s'", "owner-idem") == 1,
	      "one row");
	CHECK(events_of(first->id) == 1, "one event");
	rc = create_key(&a, in, "k1", "h2", &other, &replayed);
	CHECK(rc == NRPC_ALREADY_EXISTS && other == NULL, "other hash: %d", rc);
	// Keys belong to an owner.
	prop_buf b2;
	rc = create_key(&a, mk_simple(&b2, "owner-idem-2"), "k1", "h2", &other, &replayed);
	CHECK(rc == NRPC_OK && other && !replayed && strcmp(other->id, first->id) != 0,
	      "another owner: %d", rc);
	// After 24 h the key may be used again, for anything.
	PQclear(tu_exec(admin, "UPDATE idempotency_keys SET created_at_us = created_at_us - "
	                       "86400000001 WHERE owner_id = 'owner-idem' AND key = 'k1'"));
	rc = create_key(&a, in, "k1", "h3", &other, &replayed);
	CHECK(rc == NRPC_OK && other && !replayed && strcmp(other->id, first->id) != 0,
	      "expired key: %d", rc);
	rc = create_key(&a, in, "k1", "h3", &again, &replayed);
	CHECK(rc == NRPC_OK && again && replayed && other && strcmp(again->id, other->id) == 0,
	      "replay of the reused key: %d", rc);
	// Later changes do not change what a replay returns: the first result.
	prop_ctx ctx = tu_ctx(&a, 5000);
	Property__V1__Property *changed = NULL, *last = NULL;
	prop_buf b3;
	Property__V1__Property *values = mk_simple(&b3, "owner-idem");
	values->title = "changed since";
	if (other) {
		s_update(port, &ctx, other->id, 0, NULL, PROP_F_TITLE, values, &changed);
		CHECK(changed && changed->version == 2, "update before the replay");
	}
	rc = create_key(&a, in, "k1", "h3", &again, &replayed);
	CHECK(rc == NRPC_OK && again && replayed && other && same_row(again, other),
	      "replay after an update returns the first result: %d", rc);
	if (other)
		s_remove(port, &ctx, other->id, 0, NULL, &last);
	rc = create_key(&a, in, "k1", "h3", &again, &replayed);
	CHECK(rc == NRPC_OK && again && replayed && other && same_row(again, other),
	      "replay after a delete returns the first result: %d", rc);
	// Left: the first key's property; the reused key's one was deleted.
	CHECK(count_sql("SELECT count(*) FROM properties WHERE owner_id = '%s'", "owner-idem") == 1,
	      "the replay created nothing");
out:
	tu_arena_reset(&a);
}

enum { RACERS = 10 };

typedef struct racer {
	pthread_t t;
	pthread_barrier_t *start;
	nrpc_code rc;
	bool replayed;
	char id[37];
} racer;

static void *race(void *arg)
{
	racer *r = arg;
	tu_arena a;
	tu_arena_init(&a);
	prop_buf b;
	Property__V1__Property *in = mk_simple(&b, "owner-race");
	Property__V1__Property *out = NULL;
	pthread_barrier_wait(r->start);
	prop_ctx ctx = tu_ctx(&a, 10000);
	r->rc = s_create(port, &ctx, in, "race-key", "same", &out, &r->replayed);
	if (out)
		snprintf(r->id, sizeof r->id, "%s", out->id);
	tu_arena_reset(&a);
	return NULL;
}

static void test_idempotency_race(void)
{
	racer r[RACERS];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, RACERS);
	memset(r, 0, sizeof r);
	for (int i = 0; i < RACERS; i++) {
		r[i].start = &start;
		pthread_create(&r[i].t, NULL, race, &r[i]);
	}
	int firsts = 0;
	for (int i = 0; i < RACERS; i++) {
		pthread_join(r[i].t, NULL);
		CHECK(r[i].rc == NRPC_OK, "racer %d: %d", i, r[i].rc);
		CHECK(strcmp(r[i].id, r[0].id) == 0, "racer %d got another property", i);
		firsts += r[i].rc == NRPC_OK && !r[i].replayed;
	}
	pthread_barrier_destroy(&start);
	CHECK(firsts == 1, "%d creates were not replays", firsts);
	CHECK(count_sql("SELECT count(*) FROM properties WHERE owner_id = '%s'", "owner-race") == 1,
	      "rows");
	CHECK(count_sql("SELECT count(*) FROM event_log WHERE owner_id = '%s'", "owner-race") == 1,
	      "events");
}

// ---- events, deadlines, outages ---------------------------------------------------------

static void test_read_events(void)
{
	tu_arena a;
	tu_arena_init(&a);
	prop_ctx ctx = tu_ctx(&a, 5000);
	Property__V1__Event **ev = NULL;
	size_t n = 0;
	uint64_t last = 99;
	// Nothing is published before the relay claims.
	nrpc_code rc = s_read_events(port, &ctx, 0, 100, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 0 && last == 0, "before claim: %d n=%zu last=%llu", rc, n,
	      (unsigned long long)last);
	outbox *o = NULL;
	char err[256];
	CHECK(outbox_open(&o, conninfo, err, sizeof err) == 0, "outbox: %s", err);
	int64_t total = tu_scalar(admin, "SELECT count(*) FROM event_log");
	int64_t updates =
	    tu_scalar(admin, "SELECT count(*) FROM event_log WHERE type = 'property.updated'");
	Property__V1__Event **claimed = NULL;
	int k;
	while ((k = outbox_claim(o, 1000, &claimed)) > 0)
		outbox_events_free(claimed, (size_t)k);
	outbox_close(o);

	rc = s_read_events(port, &ctx, 0, 1000, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && (int64_t)n == total && (int64_t)last == total,
	      "all: n=%zu last=%llu total=%lld", n, (unsigned long long)last, (long long)total);
	for (size_t i = 0; i < n; i++)
		CHECK(ev[i]->seq == i + 1 && ev[i]->property &&
		          strcmp(ev[i]->aggregate_id, ev[i]->property->id) == 0 &&
		          strcmp(ev[i]->owner_id, ev[i]->property->owner_id) == 0 &&
		          strlen(ev[i]->id) == 36 && ev[i]->occurred_at_us > 0,
		      "event %zu", i);
	rc = s_read_events(port, &ctx, 0, 1000, "property.updated", &ev, &n, &last);
	CHECK(rc == NRPC_OK && (int64_t)n == updates && (int64_t)last == total, "prefix: n=%zu", n);
	for (size_t i = 0; i < n; i++)
		CHECK(strcmp(ev[i]->type, "property.updated") == 0 &&
		          (i == 0 || ev[i]->seq > ev[i - 1]->seq),
		      "prefix event %zu", i);
	rc = s_read_events(port, &ctx, 5, 3, "property.", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 3 && ev[0]->seq == 6 && ev[2]->seq == 8, "window: n=%zu", n);
	rc = s_read_events(port, &ctx, (uint64_t)total, 10, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 0 && (int64_t)last == total, "after the end: n=%zu", n);

	// Retention: prune seqs 1..3 as outbox_prune does (the row and its pair).
	PQclear(tu_exec(admin, "WITH d AS (DELETE FROM event_seq WHERE seq <= 3 RETURNING ins_id) "
	                       "DELETE FROM event_log WHERE ins_id IN (SELECT ins_id FROM d)"));
	for (uint64_t after = 0; after < 3; after++) {
		ctx.err[0] = '\0';
		rc = s_read_events(port, &ctx, after, 10, "", &ev, &n, &last);
		char want[96];
		snprintf(want, sizeof want,
		         "events after seq %llu were pruned; the oldest kept is 4",
		         (unsigned long long)after);
		CHECK(rc == NRPC_OUT_OF_RANGE && strcmp(ctx.err, want) == 0,
		      "after %llu, before the gap: %d %s", (unsigned long long)after, rc, ctx.err);
	}
	// The same whatever the prefix: what was pruned is unknown.
	rc = s_read_events(port, &ctx, 0, 10, "property.deleted", &ev, &n, &last);
	CHECK(rc == NRPC_OUT_OF_RANGE, "prefix before the gap: %d", rc);
	rc = s_read_events(port, &ctx, 3, 2, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 2 && ev[0]->seq == 4 && (int64_t)last == total,
	      "at the gap edge: %d n=%zu", rc, n);
	rc = s_read_events(port, &ctx, 5, 3, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 3 && ev[0]->seq == 6, "after the gap: %d n=%zu", rc, n);
	// Limit 0: no event, but the newest seq and the retention check.
	rc = s_read_events(port, &ctx, 5, 0, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 0 && (int64_t)last == total, "limit 0: %d n=%zu", rc, n);
	rc = s_read_events(port, &ctx, 0, 0, "", &ev, &n, &last);
	CHECK(rc == NRPC_OUT_OF_RANGE, "limit 0 before the gap: %d", rc);
	// Everything pruned: only the newest seq is a valid position.
	PQclear(tu_exec(admin, "TRUNCATE event_seq, event_log"));
	ctx.err[0] = '\0';
	rc = s_read_events(port, &ctx, (uint64_t)total - 1, 10, "", &ev, &n, &last);
	CHECK(rc == NRPC_OUT_OF_RANGE && strstr(ctx.err, "were pruned") != NULL,
	      "empty log, behind: %d %s", rc, ctx.err);
	rc = s_read_events(port, &ctx, (uint64_t)total, 10, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 0 && (int64_t)last == total, "empty log, at the end: %d", rc);
	tu_arena_reset(&a);
}

static void test_deadline_passed(void)
{
	tu_arena a;
	tu_arena_init(&a);
	prop_ctx ctx = tu_ctx(&a, 0);
	ctx.deadline_us = tu_now_us() - 1;
	Property__V1__Property *out = NULL;
	nrpc_code rc = s_get(port, &ctx, "00000000-0000-4000-8000-000000000000", &out);
	CHECK(rc == NRPC_DEADLINE_EXCEEDED, "get: %d", rc);
	tu_arena_reset(&a);
}

static void test_database_down(void)
{
	apg *p = NULL;
	repo_pg *r = NULL;
	char err[256];
	CHECK(open_repo("host=127.0.0.1 port=1 user=postgres", false, &p, &r, err, sizeof err) == 0,
	      "%s", err);
	usleep(300 * 1000); // the first connect fails: the pool knows the database is down
	prop_repo down = repo_pg_port(r);
	tu_arena a;
	tu_arena_init(&a);
	prop_ctx ctx = tu_ctx(&a, 1000);
	Property__V1__Property *out = NULL;
	bool replayed = false;
	prop_buf b;
	nrpc_code rc = s_get(down, &ctx, "00000000-0000-4000-8000-000000000000", &out);
	CHECK(rc == NRPC_UNAVAILABLE, "get: %d", rc);
	rc = s_create(down, &ctx, mk_simple(&b, "o"), NULL, NULL, &out, &replayed);
	CHECK(rc == NRPC_UNAVAILABLE, "create: %d", rc);
	prop_search_query q = {.city = "", .country_code = ""};
	prop_page page = {0};
	rc = s_search(down, &ctx, &q, NULL, 10, &page);
	CHECK(rc == NRPC_UNAVAILABLE, "search: %d", rc);
	tu_arena_reset(&a);
	close_repo(p, r);
}

int main(int argc, char **argv)
{
	static const tu_case cases[] = {
	    {"crud_roundtrip", test_crud_roundtrip},   {"checks", test_checks},
	    {"partial_mask", test_partial_mask},       {"verbatim_strings", test_verbatim_strings},
	    {"bad_values", test_bad_values},           {"list_walk", test_list_walk},
	    {"idempotency", test_idempotency},         {"idempotency_race", test_idempotency_race},
	    {"read_events", test_read_events},         {"search", test_search},
	    {"deadline_passed", test_deadline_passed}, {"database_down", test_database_down},
	};
	const char *np = getenv("STORE_TEST_NO_PREPARE");
	bool no_prepare = np != NULL && strcmp(np, "1") == 0;
	if (no_prepare)
		schema = "test_repo_np";
	conninfo = tu_schema_conninfo(schema);
	char err[256];
	if (migrate_run(conninfo, err, sizeof err) < 0) {
		fprintf(stderr, "migrate: %s\n", err);
		return 2;
	}
	reg = obs_registry_create();
	if (ioloop_create(&sync_loop, "repo", err, sizeof err) != 0 ||
	    ioloop_start(sync_loop, err, sizeof err) != 0 ||
	    open_repo(conninfo, no_prepare, &pool, &repo, err, sizeof err) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return 2;
	}
	port = repo_pg_port(repo);
	admin = tu_connect(conninfo);
	int rc = tu_run(cases, sizeof cases / sizeof cases[0], argc, argv);
	PQfinish(admin);
	close_repo(pool, repo);
	ioloop_destroy(sync_loop);
	obs_registry_destroy(reg);
	tu_drop_schema(schema);
	free(conninfo);
	return rc;
}
