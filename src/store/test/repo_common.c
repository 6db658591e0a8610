// store_repo's shared set-up and fixtures: see repo_common.h.
#include "repo_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct open_args {
	const char *conninfo;
	bool no_prepare;
	store_apg **pool;
	store_repo_pg **repo;
	char *err;
	size_t errcap;
	int rc;
};

// On the loop: a pool of 4 pipelined connections and the repository on it.
static void open_on_loop(void *arg)
{
	struct open_args *o = arg;
	struct event_base *base = base_ioloop_base(sync_loop);
	store_apg_config cfg = {.conninfo = o->conninfo,
	                        .base = base,
	                        .connections = 4,
	                        .no_prepare = o->no_prepare,
	                        .metrics = reg};
	store_repo_pg_config rc = {.pools = o->pool, .bases = &base, .nshards = 1};
	o->rc = store_apg_create(o->pool, &cfg, o->err, o->errcap) != 0 ||
	                store_repo_pg_create(o->repo, &rc, o->err, o->errcap) != 0
	            ? -1
	            : 0;
}

int open_repo(const char *ci, bool no_prepare, store_apg **pool_out, store_repo_pg **repo_out,
              char *err, size_t errcap)
{
	struct open_args o = {ci, no_prepare, pool_out, repo_out, err, errcap, 0};
	base_ioloop_call(sync_loop, open_on_loop, &o);
	return o.rc;
}

struct close_args {
	store_apg *pool;
	store_repo_pg *repo;
};

static void close_on_loop(void *arg)
{
	struct close_args *c = arg;
	store_apg_destroy(c->pool);
	store_repo_pg_destroy(c->repo);
}

void close_repo(store_apg *p, store_repo_pg *r)
{
	struct close_args c = {p, r};
	base_ioloop_call(sync_loop, close_on_loop, &c);
}

// ---- fixtures ---------------------------------------------------------------------------

Property__V1__Property *mk(prop_buf *b, const char *owner, const char *title, const char *city,
                           const char *cc, double lat, double lon, int64_t price, uint32_t beds,
                           int status)
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

Property__V1__Property *mk_simple(prop_buf *b, const char *owner)
{
	return mk(b, owner, "Flat", "Lisbon", "PT", 38.72, -9.14, 25000000, 2, 2);
}

// The fields a client sets are equal (id, version and times aside).
int same_values(const Property__V1__Property *a, const Property__V1__Property *b)
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

int same_row(const Property__V1__Property *a, const Property__V1__Property *b)
{
	return same_values(a, b) && strcmp(a->id, b->id) == 0 && a->version == b->version &&
	       a->created_at_us == b->created_at_us && a->updated_at_us == b->updated_at_us;
}

Property__V1__Property *create_ok(tu_arena *a, const Property__V1__Property *in)
{
	prop_ctx ctx = tu_ctx(a, 5000);
	Property__V1__Property *out = NULL;
	bool replayed = true;
	nrpc_code rc = s_create(port, &ctx, in, NULL, NULL, &out, &replayed);
	CHECK(rc == NRPC_OK && out != NULL, "create: %d %s", rc, ctx.err);
	CHECK(!replayed, "not a replay");
	return out;
}

int64_t count_sql(const char *fmt, ...)
{
	va_list ap;
	char sql[512];
	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	return tu_scalar(admin, sql);
}

int64_t events_of(const char *id)
{
	return count_sql("SELECT count(*) FROM event_log WHERE aggregate_id = '%s'", id);
}
