// store_batch: group commit. Creates made in one loop pass share a batch;
// each caller still gets its own outcome: one bad row among good ones, a
// create whose deadline passed before its batch went out, idempotency keys
// (replays, conflicts and a key repeated inside one pass), all against the
// real PostgreSQL.
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/ioloop.h"
#include "obs/metrics.h"
#include "store/migrate.h"
#include "store/repo_pg.h"
#include "testutil.h"

#define SCHEMA "test_batch"
#define N      16

static char *conninfo;
static obs_registry *reg;
static base_ioloop *loop;
static store_apg *pool;
static store_repo_pg *repo;
static PGconn *admin;

// One create of a pass: its input, its outcome.
typedef struct one {
	prop_ctx ctx; // first: the continuation finds us from it
	Property__V1__Property p;
	Property__V1__Location l;
	char owner[32], title[512];
	const char *key, *hash;
	Property__V1__Property *out;
	bool replayed;
	nrpc_code rc;
	bool done;
} one;

typedef struct pass {
	base_ioloop_task task;
	one *ones;
	size_t n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t ended;
} pass;

static pass *current; // the pass whose creates are running (one at a time)

static void one_done(prop_ctx *ctx, nrpc_code rc)
{
	one *o = (one *)(void *)ctx;
	o->rc = rc;
	o->done = true;
	pthread_mutex_lock(&current->mu);
	current->ended++;
	pthread_cond_signal(&current->cv);
	pthread_mutex_unlock(&current->mu);
}

// On the loop: every create of the pass, before the loop runs anything else.
static void start_pass(base_ioloop_task *t)
{
	pass *ps = (pass *)(void *)t;
	prop_repo port = store_repo_pg_port(repo);
	for (size_t i = 0; i < ps->n; i++) {
		one *o = &ps->ones[i];
		port.ops->create(port.self, &o->ctx, &o->p, o->key, o->hash, &o->out, &o->replayed,
		                 one_done);
	}
}

static void run_pass(one *ones, size_t n)
{
	pass ps = {.task.fn = start_pass, .ones = ones, .n = n};
	pthread_mutex_init(&ps.mu, NULL);
	pthread_cond_init(&ps.cv, NULL);
	current = &ps;
	base_ioloop_post(loop, &ps.task);
	pthread_mutex_lock(&ps.mu);
	while (ps.ended < n)
		pthread_cond_wait(&ps.cv, &ps.mu);
	pthread_mutex_unlock(&ps.mu);
	pthread_cond_destroy(&ps.cv);
	pthread_mutex_destroy(&ps.mu);
}

static void init_one(one *o, tu_arena *a, const char *owner, int i, int timeout_ms)
{
	memset(o, 0, sizeof *o);
	o->ctx = tu_ctx(a, timeout_ms);
	property__v1__property__init(&o->p);
	property__v1__location__init(&o->l);
	snprintf(o->owner, sizeof o->owner, "%s", owner);
	snprintf(o->title, sizeof o->title, "Flat %d", i);
	o->p.owner_id = o->owner;
	o->p.title = o->title;
	o->p.description = "Batched.";
	o->l.address = "1 Main Street";
	o->l.city = "Porto";
	o->l.country_code = "PT";
	o->l.latitude = 41.15;
	o->l.longitude = -8.61;
	o->p.location = &o->l;
	o->p.price_cents = 1000 + i;
	o->p.currency = "EUR";
	o->p.bedrooms = 1;
	o->p.status = PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_DRAFT;
}

// Rows of `table` owned by `owner`.
static int64_t owned(const char *table, const char *owner)
{
	char sql[512];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE owner_id = '%s'", table, owner);
	return tu_scalar(admin, sql);
}

// Fifteen good rows and one the database refuses (a title over 200
// characters, which only the table's CHECK catches here): the batch fails
// as a whole, and each create is retried on its own.
static void test_one_bad_row(void)
{
	tu_arena a;
	tu_arena_init(&a);
	static one ones[N];
	for (int i = 0; i < N; i++)
		init_one(&ones[i], &a, "owner-bad", i, 5000);
	memset(ones[7].title, 'x', 300);
	ones[7].title[300] = '\0';
	run_pass(ones, N);
	for (int i = 0; i < N; i++) {
		if (i == 7)
			CHECK(ones[i].rc == NRPC_INVALID_ARGUMENT && ones[i].out == NULL,
			      "bad row: %d %s", ones[i].rc, ones[i].ctx.err);
		else
			CHECK(ones[i].rc == NRPC_OK && ones[i].out != NULL && !ones[i].replayed &&
			          strcmp(ones[i].out->title, ones[i].title) == 0,
			      "row %d: %d %s", i, ones[i].rc, ones[i].ctx.err);
	}
	CHECK(owned("properties", "owner-bad") == 15, "fifteen rows");
	CHECK(owned("event_log", "owner-bad") == 15, "fifteen events");
	tu_arena_reset(&a);
}

// Creates whose deadline passed before their batch was sent are answered
// DEADLINE_EXCEEDED and never written; the others of the pass are.
static void test_deadline_cut(void)
{
	tu_arena a;
	tu_arena_init(&a);
	static one ones[N];
	for (int i = 0; i < N; i++) {
		init_one(&ones[i], &a, "owner-late", i, 5000);
		if (i % 2 == 1)
			ones[i].ctx.deadline_us = tu_now_us() - 1;
	}
	run_pass(ones, N);
	for (int i = 0; i < N; i++) {
		nrpc_code want = i % 2 == 1 ? NRPC_DEADLINE_EXCEEDED : NRPC_OK;
		CHECK(ones[i].rc == want, "row %d: %d, want %d (%s)", i, ones[i].rc, want,
		      ones[i].ctx.err);
	}
	CHECK(owned("properties", "owner-late") == 8, "only the live ones written");
	tu_arena_reset(&a);
}

// Keys in one pass: a key recorded before (same request: replay; other
// request: conflict), a new key used twice in the pass with the same
// request (one row, the second a replay), and keyless creates around them.
static void test_keys_in_a_pass(void)
{
	tu_arena a;
	tu_arena_init(&a);
	static one first[1];
	init_one(&first[0], &a, "owner-keys", 100, 5000);
	first[0].key = "k-old";
	first[0].hash = "h-old";
	run_pass(first, 1);
	CHECK(first[0].rc == NRPC_OK && first[0].out != NULL, "first: %d", first[0].rc);
	if (first[0].out == NULL)
		goto out;

	static one ones[6];
	for (int i = 0; i < 6; i++)
		init_one(&ones[i], &a, "owner-keys", i, 5000);
	ones[0].key = "k-old"; // the same request again: the first result
	ones[0].hash = "h-old";
	ones[0].p.title = first[0].title;
	ones[1].key = "k-old"; // another request with that key
	ones[1].hash = "h-other";
	ones[2].key = "k-new"; // a new key, twice in one pass
	ones[2].hash = "h-new";
	ones[3].key = "k-new";
	ones[3].hash = "h-new";
	run_pass(ones, 6);
	CHECK(ones[0].rc == NRPC_OK && ones[0].replayed && ones[0].out &&
	          strcmp(ones[0].out->id, first[0].out->id) == 0,
	      "replay: %d", ones[0].rc);
	CHECK(ones[1].rc == NRPC_ALREADY_EXISTS, "conflict: %d", ones[1].rc);
	CHECK(ones[2].rc == NRPC_OK && ones[3].rc == NRPC_OK && ones[2].out && ones[3].out &&
	          strcmp(ones[2].out->id, ones[3].out->id) == 0 &&
	          ones[2].replayed != ones[3].replayed,
	      "one row for k-new: %d %d", ones[2].rc, ones[3].rc);
	CHECK(ones[4].rc == NRPC_OK && ones[5].rc == NRPC_OK && !ones[4].replayed &&
	          !ones[5].replayed,
	      "keyless: %d %d", ones[4].rc, ones[5].rc);
	// k-old's row, k-new's row, two keyless ones.
	CHECK(owned("properties", "owner-keys") == 4, "four rows");
	CHECK(owned("event_log", "owner-keys") == 4, "four events");
out:
	tu_arena_reset(&a);
}

// Many passes in a row: every create lands exactly once, with its event.
static void test_many_passes(void)
{
	tu_arena a;
	tu_arena_init(&a);
	static one ones[64];
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 64; i++)
			init_one(&ones[i], &a, "owner-many", round * 64 + i, 5000);
		run_pass(ones, 64);
		for (int i = 0; i < 64; i++)
			CHECK(ones[i].rc == NRPC_OK, "round %d row %d: %d %s", round, i, ones[i].rc,
			      ones[i].ctx.err);
		tu_arena_reset(&a);
	}
	CHECK(owned("properties", "owner-many") == 1280, "every create once");
	CHECK(tu_scalar(admin, "SELECT count(DISTINCT aggregate_id) FROM event_log "
	                       "WHERE owner_id = 'owner-many'") == 1280,
	      "every event once");
}

struct setup_args {
	char err[256];
	int rc;
};

static void setup_on_loop(void *arg)
{
	struct setup_args *s = arg;
	struct event_base *base = base_ioloop_base(loop);
	store_apg_config cfg = {
	    .conninfo = conninfo, .base = base, .connections = 2, .metrics = reg};
	// One batch in flight: the creates of a pass gather behind the first.
	store_repo_pg_config rc = {
	    .pools = &pool, .bases = &base, .nshards = 1, .batches_in_flight = 1};
	s->rc = store_apg_create(&pool, &cfg, s->err, sizeof s->err) != 0 ||
	                store_repo_pg_create(&repo, &rc, s->err, sizeof s->err) != 0
	            ? -1
	            : 0;
}

static void teardown_on_loop(void *arg)
{
	(void)arg;
	store_apg_destroy(pool);
	store_repo_pg_destroy(repo);
}

int main(int argc, char **argv)
{
	static const tu_case cases[] = {
	    {"one_bad_row", test_one_bad_row},
	    {"deadline_cut", test_deadline_cut},
	    {"keys_in_a_pass", test_keys_in_a_pass},
	    {"many_passes", test_many_passes},
	};
	char err[256];
	conninfo = tu_schema_conninfo(SCHEMA);
	if (store_migrate_run(conninfo, err, sizeof err) < 0) {
		fprintf(stderr, "migrate: %s\n", err);
		return 2;
	}
	reg = obs_registry_create();
	struct setup_args s = {0};
	if (base_ioloop_create(&loop, "batch", err, sizeof err) != 0 ||
	    base_ioloop_start(loop, err, sizeof err) != 0) {
		fprintf(stderr, "loop: %s\n", err);
		return 2;
	}
	base_ioloop_call(loop, setup_on_loop, &s);
	if (s.rc != 0) {
		fprintf(stderr, "setup: %s\n", s.err);
		return 2;
	}
	admin = tu_connect(conninfo);
	int rc = tu_run(cases, sizeof cases / sizeof cases[0], argc, argv);
	PQfinish(admin);
	base_ioloop_call(loop, teardown_on_loop, NULL);
	base_ioloop_destroy(loop);
	obs_registry_destroy(reg);
	tu_drop_schema(SCHEMA);
	free(conninfo);
	return rc;
}
