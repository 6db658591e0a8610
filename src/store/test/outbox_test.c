// store_outbox: seq assignment, leadership, notifications, lag and pruning.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/migrate.h"
#include "store/outbox.h"
#include "testutil.h"

#define SCHEMA "test_outbox"
// Rows not claimed yet: no (seq, ins_id) pair in event_seq.
#define UNCLAIMED_SQL                                                                              \
	"SELECT count(*) FROM event_log e WHERE NOT EXISTS "                                       \
	"(SELECT 1 FROM event_seq s WHERE s.ins_id = e.ins_id)"

static char *conninfo;
static PGconn *admin;

// Appends n unpublished events whose title is "t<prefix>-<i>", in i order.
static void insert_events(PGconn *c, int n, const char *prefix)
{
	char sql[1024];
	snprintf(sql, sizeof sql,
	         "INSERT INTO event_log (type, aggregate_id, owner_id, occurred_at_us, title, "
	         "description, address, city, country_code, latitude, longitude, price_cents, "
	         "currency, bedrooms, status, version, created_at_us, updated_at_us) "
	         "SELECT 'property.created', gen_random_uuid(), 'o', "
	         "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint, 't%s-' || g, 'd', "
	         "'a', 'c', 'PT', 1.5, -2.5, g, 'EUR', 2, 1, 1, 10, 20 "
	         "FROM generate_series(1, %d) g ORDER BY g",
	         prefix, n);
	PQclear(tu_exec(c, sql));
}

static void reset(void)
{
	PQclear(tu_exec(admin,
	                "TRUNCATE event_log, event_seq; UPDATE relay_state SET last_seq = 0, "
	                "floor_ins = 0, hz_ins = NULL, hz_xid = NULL"));
}

static store_outbox *open_ok(const char *ci)
{
	store_outbox *o = NULL;
	char err[256];
	if (store_outbox_open(&o, ci, err, sizeof err) != 0) {
		fprintf(stderr, "store_outbox_open: %s\n", err);
		exit(2);
	}
	return o;
}

static void test_claim_gap_free(void)
{
	reset();
	insert_events(admin, 25, "a");
	store_outbox *o = open_ok(conninfo);
	uint64_t next = 1;
	int batches[] = {10, 10, 5, 0};
	for (int b = 0; b < 4; b++) {
		Property__V1__Event **ev = NULL;
		int n = store_outbox_claim(o, 10, &ev);
		CHECK(n == batches[b], "batch %d: %d", b, n);
		for (int i = 0; i < n; i++, next++) {
			char title[32];
			snprintf(title, sizeof title, "ta-%llu", (unsigned long long)next);
			CHECK(ev[i]->seq == next, "seq %llu want %llu",
			      (unsigned long long)ev[i]->seq, (unsigned long long)next);
			CHECK(strcmp(ev[i]->property->title, title) == 0, "insert order: %s",
			      ev[i]->property->title);
			CHECK(strcmp(ev[i]->type, "property.created") == 0 &&
			          strcmp(ev[i]->owner_id, "o") == 0 &&
			          strcmp(ev[i]->aggregate_id, ev[i]->property->id) == 0 &&
			          ev[i]->property->location->longitude == -2.5 &&
			          ev[i]->property->updated_at_us == 20,
			      "fields of %llu", (unsigned long long)next);
		}
		store_outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	}
	CHECK(tu_scalar(admin, "SELECT last_seq FROM relay_state") == 25, "last_seq");
	store_outbox_close(o);
}

static void test_one_leader(void)
{
	store_outbox *a = open_ok(conninfo), *b = open_ok(conninfo);
	CHECK(store_outbox_try_lead(a) == STORE_OUTBOX_LEAD_HELD, "a leads");
	CHECK(store_outbox_try_lead(b) == STORE_OUTBOX_LEAD_OTHER, "b follows");
	CHECK(store_outbox_try_lead(a) == STORE_OUTBOX_LEAD_HELD, "a still leads");
	store_outbox_close(a);
	store_outbox_lead r = STORE_OUTBOX_LEAD_OTHER;
	for (int i = 0; i < 100 && (r = store_outbox_try_lead(b)) == STORE_OUTBOX_LEAD_OTHER; i++)
		usleep(20 * 1000);
	CHECK(r == STORE_OUTBOX_LEAD_HELD, "b takes over: %d", r);
	store_outbox_close(b);
}

// A writer that took its ins_id first but commits last is still published.
static void test_late_commit(void)
{
	reset();
	store_outbox *o = open_ok(conninfo);
	PGconn *w1 = tu_connect(conninfo), *w2 = tu_connect(conninfo);
	PQclear(tu_exec(w1, "BEGIN"));
	insert_events(w1, 1, "late");
	insert_events(w2, 2, "early");
	Property__V1__Event **ev = NULL;
	int n = store_outbox_claim(o, 100, &ev);
	CHECK(n == 2 && ev[0]->seq == 1 && ev[1]->seq == 2, "committed rows first: %d", n);
	store_outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	PQclear(tu_exec(w1, "COMMIT"));
	n = store_outbox_claim(o, 100, &ev);
	CHECK(n == 1 && ev[0]->seq == 3 && strcmp(ev[0]->property->title, "tlate-1") == 0,
	      "late row: %d", n);
	store_outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	CHECK(tu_scalar(admin, UNCLAIMED_SQL) == 0, "all");
	PQfinish(w1);
	PQfinish(w2);
	store_outbox_close(o);
}

// Claims until a claim returns nothing; returns how many events were claimed.
static int claim_all(store_outbox *o)
{
	int total = 0;
	for (;;) {
		Property__V1__Event **ev = NULL;
		int n = store_outbox_claim(o, 100, &ev);
		store_outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
		if (n <= 0)
			return total;
		total += n;
	}
}

// The floor (below which the claim no longer looks) never passes the ins_id
// of a writer still in progress, however many claims run meanwhile, and it
// does pass the ids of writers that rolled back.
static void test_floor(void)
{
	reset();
	store_outbox *o = open_ok(conninfo);
	PGconn *w = tu_connect(conninfo);
	PQclear(tu_exec(w, "BEGIN"));
	insert_events(w, 1, "slow");
	int64_t slow = tu_scalar(w, "SELECT max(ins_id) FROM event_log");
	insert_events(admin, 3, "fast");
	for (int i = 0; i < 6; i++) {
		CHECK(claim_all(o) == (i == 0 ? 3 : 0), "claim %d", i);
		CHECK(tu_scalar(admin, "SELECT floor_ins FROM relay_state") < slow,
		      "floor stays below the open writer (claim %d)", i);
	}
	PQclear(tu_exec(w, "COMMIT"));
	Property__V1__Event **ev = NULL;
	int n = store_outbox_claim(o, 100, &ev);
	CHECK(n == 1 && ev[0]->seq == 4 && strcmp(ev[0]->property->title, "tslow-1") == 0,
	      "the slow row: %d", n);
	store_outbox_events_free(ev, (size_t)(n > 0 ? n : 0));

	// An aborted writer leaves a gap that is crossed within a few claims.
	PQclear(tu_exec(w, "BEGIN"));
	insert_events(w, 2, "gone");
	PQclear(tu_exec(w, "ROLLBACK"));
	insert_events(admin, 2, "after");
	int64_t top = tu_scalar(admin, "SELECT max(ins_id) FROM event_log");
	CHECK(claim_all(o) == 2, "rows after the gap");
	for (int i = 0; i < 5 && tu_scalar(admin, "SELECT floor_ins FROM relay_state") < top; i++)
		CHECK(claim_all(o) == 0, "nothing more");
	CHECK(tu_scalar(admin, "SELECT floor_ins FROM relay_state") == top, "floor over the gap");
	CHECK(tu_scalar(admin, "SELECT last_seq FROM relay_state") == 6, "last_seq");

	// Caught up, a claim writes nothing (no new row version of relay_state).
	int64_t before = tu_scalar(admin, "SELECT xmin::text::bigint FROM relay_state");
	CHECK(claim_all(o) == 0 && claim_all(o) == 0, "idle");
	CHECK(tu_scalar(admin, "SELECT xmin::text::bigint FROM relay_state") == before,
	      "idle claims do not write");
	PQfinish(w);
	store_outbox_close(o);
}

// A database from before event_seq: rows claimed the old way (seq set in
// event_log) keep their seqs, rows not yet claimed are claimed after them.
static void test_migrate_old_rows(void)
{
	const char *schema = SCHEMA "_old";
	char *ci = tu_schema_conninfo(schema);
	PGconn *c = tu_connect(ci);
	PQclear(tu_exec(c, "CREATE TABLE schema_migrations (version int PRIMARY KEY, "
	                   "name text NOT NULL, applied_at timestamptz NOT NULL)"));
	for (size_t i = 0; i < store_migrate_entries_n && store_migrate_entries[i].version < 3;
	     i++) {
		char rec[256];
		PQclear(tu_exec(c, "BEGIN"));
		PQclear(tu_exec(c, store_migrate_entries[i].sql));
		snprintf(rec, sizeof rec,
		         "INSERT INTO schema_migrations VALUES (%d, '%s', now()); COMMIT",
		         store_migrate_entries[i].version, store_migrate_entries[i].name);
		PQclear(tu_exec(c, rec));
	}
	insert_events(c, 5, "v1");
	// The old claim gave the 2nd and 4th rows seqs 1 and 2.
	PQclear(tu_exec(c,
	                "UPDATE event_log SET seq = CASE title WHEN 'tv1-2' THEN 1 ELSE 2 END "
	                "WHERE title IN ('tv1-2', 'tv1-4'); UPDATE relay_state SET last_seq = 2"));
	char err[256];
	CHECK(store_migrate_run(ci, err, sizeof err) >= 1, "migrate: %s", err);
	CHECK(tu_scalar(c, "SELECT count(*) FROM event_seq s JOIN event_log e USING (ins_id) "
	                   "WHERE s.seq = e.seq") == 2,
	      "old seqs copied");
	store_outbox *o = open_ok(ci);
	Property__V1__Event **ev = NULL;
	int n = store_outbox_claim(o, 100, &ev);
	const char *want[] = {"tv1-1", "tv1-3", "tv1-5"};
	CHECK(n == 3, "old unclaimed rows: %d", n);
	for (int i = 0; i < n && i < 3; i++)
		CHECK(ev[i]->seq == (uint64_t)i + 3 && strcmp(ev[i]->property->title, want[i]) == 0,
		      "row %d: %llu %s", i, (unsigned long long)ev[i]->seq, ev[i]->property->title);
	store_outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	CHECK(claim_all(o) == 0, "nothing twice");
	// An older binary's claim (setting event_log.seq) is refused.
	PGresult *r = PQexec(c, "UPDATE event_log SET seq = 99 WHERE title = 'tv1-1'");
	CHECK(PQresultStatus(r) == PGRES_FATAL_ERROR, "old-style claim refused");
	PQclear(r);
	store_outbox_close(o);
	PQfinish(c);
	tu_drop_schema(schema);
	free(ci);
}

static void test_wait_and_lag(void)
{
	reset();
	store_outbox *o = open_ok(conninfo);
	CHECK(store_outbox_try_lead(o) == STORE_OUTBOX_LEAD_HELD, "lead");
	CHECK(store_outbox_wait(o, 50, -1) == STORE_OUTBOX_WAIT_TIMEOUT, "nothing yet");
	insert_events(admin, 3, "w");
	PQclear(tu_exec(admin, "SELECT pg_notify('propertyd_events', '')"));
	CHECK(store_outbox_wait(o, 5000, -1) == STORE_OUTBOX_WAIT_NOTIFIED, "woken");
	// Another instance's store_outbox_notify wakes the leader; so does the wake fd.
	store_outbox *o2 = open_ok(conninfo);
	CHECK(store_outbox_notify(o2) == 0, "notify");
	CHECK(store_outbox_wait(o, 5000, -1) == STORE_OUTBOX_WAIT_NOTIFIED,
	      "woken by another instance's notify");
	store_outbox_close(o2);
	int fds[2];
	CHECK(pipe(fds) == 0 && write(fds[1], "x", 1) == 1, "pipe");
	CHECK(store_outbox_wait(o, 5000, fds[0]) == STORE_OUTBOX_WAIT_KICKED,
	      "woken by the wake fd");
	close(fds[0]);
	close(fds[1]);
	int64_t rows = -1, oldest = -1;
	CHECK(store_outbox_lag(o, &rows, &oldest) == 0 && rows == 3 && oldest >= 0, "lag %lld %lld",
	      (long long)rows, (long long)oldest);
	Property__V1__Event **ev = NULL;
	int n = store_outbox_claim(o, 100, &ev);
	store_outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	CHECK(store_outbox_lag(o, &rows, &oldest) == 0 && rows == 0 && oldest == 0, "no lag");
	store_outbox_close(o);
}

static void test_prune(void)
{
	reset();
	store_outbox *o = open_ok(conninfo);
	insert_events(admin, 5, "old");
	Property__V1__Event **ev = NULL;
	int n = store_outbox_claim(o, 3, &ev); // 3 published, 2 not
	store_outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	insert_events(admin, 2, "new");
	n = store_outbox_claim(o, 100, &ev); // claims the 2 old unpublished and 2 new ones
	store_outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	insert_events(admin, 1, "waiting");
	// Age everything but the "new" rows by ten days.
	PQclear(tu_exec(admin, "UPDATE event_log SET occurred_at_us = occurred_at_us - "
	                       "864000000000 WHERE title NOT LIKE 'tnew-%'"));
	PQclear(tu_exec(admin, "INSERT INTO idempotency_keys VALUES ('o', 'old', 'h', "
	                       "gen_random_uuid(), 0), ('o', 'fresh', 'h', gen_random_uuid(), "
	                       "(extract(epoch FROM now()) * 1000000)::bigint)"));
	int64_t gone = store_outbox_prune(o, 86400);
	CHECK(gone == 5, "pruned %lld", (long long)gone);
	CHECK(tu_scalar(admin, "SELECT count(*) FROM event_log WHERE title LIKE 'tnew-%'") == 2,
	      "recent kept");
	CHECK(tu_scalar(admin, UNCLAIMED_SQL) == 1, "unpublished kept");
	CHECK(tu_scalar(admin, "SELECT count(*) FROM idempotency_keys WHERE key = 'old'") == 0 &&
	          tu_scalar(admin, "SELECT count(*) FROM idempotency_keys") == 1,
	      "expired keys pruned");
	CHECK(store_outbox_prune(o, 86400) == 0, "second prune");
	store_outbox_close(o);
}

static void test_reconnect(void)
{
	reset();
	// A name of its own, so that only this outbox's session is terminated.
	char app[64], ci[4200], sql[160];
	snprintf(app, sizeof app, "store_outbox_test_%d", (int)getpid());
	snprintf(ci, sizeof ci, "%s application_name=%s", conninfo, app);
	store_outbox *o = open_ok(ci);
	CHECK(store_outbox_try_lead(o) == STORE_OUTBOX_LEAD_HELD, "lead");
	snprintf(
	    sql, sizeof sql,
	    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '%s'",
	    app);
	PQclear(tu_exec(admin, sql));
	store_outbox_wake r = store_outbox_wait(o, 2000, -1);
	CHECK(r == STORE_OUTBOX_WAIT_ERROR, "wait sees the broken connection: %d", r);
	CHECK(store_outbox_try_lead(o) == STORE_OUTBOX_LEAD_HELD, "reconnected and leads again");
	insert_events(admin, 1, "r");
	Property__V1__Event **ev = NULL;
	int n = store_outbox_claim(o, 10, &ev);
	CHECK(n == 1 && ev[0]->seq == 1, "claim after reconnect: %d", n);
	store_outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	store_outbox_close(o);
}

static void test_unreachable(void)
{
	store_outbox *o = open_ok("host=127.0.0.1 port=1 user=postgres");
	CHECK(store_outbox_try_lead(o) == -1, "lead");
	Property__V1__Event **ev = NULL;
	CHECK(store_outbox_claim(o, 10, &ev) == -1 && ev == NULL, "claim");
	CHECK(store_outbox_wait(o, 10, -1) == STORE_OUTBOX_WAIT_ERROR, "wait");
	int64_t rows, oldest;
	CHECK(store_outbox_lag(o, &rows, &oldest) == -1, "lag");
	CHECK(store_outbox_prune(o, 1) == -1, "prune");
	store_outbox_close(o);
}

int main(int argc, char **argv)
{
	static const tu_case cases[] = {
	    {"claim_gap_free", test_claim_gap_free},
	    {"one_leader", test_one_leader},
	    {"late_commit", test_late_commit},
	    {"floor", test_floor},
	    {"migrate_old_rows", test_migrate_old_rows},
	    {"wait_and_lag", test_wait_and_lag},
	    {"prune", test_prune},
	    {"reconnect", test_reconnect},
	    {"unreachable", test_unreachable},
	};
	conninfo = tu_schema_conninfo(SCHEMA);
	char err[256];
	if (store_migrate_run(conninfo, err, sizeof err) < 0) {
		fprintf(stderr, "migrate: %s\n", err);
		return 2;
	}
	admin = tu_connect(conninfo);
	int rc = tu_run(cases, sizeof cases / sizeof cases[0], argc, argv);
	PQfinish(admin);
	tu_drop_schema(SCHEMA);
	free(conninfo);
	return rc;
}
