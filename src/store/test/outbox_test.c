// store_outbox: seq assignment, leadership, notifications, lag and pruning.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/migrate.h"
#include "store/outbox.h"
#include "testutil.h"

#define SCHEMA "test_outbox"

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
	PQclear(tu_exec(admin, "TRUNCATE event_log; UPDATE relay_state SET last_seq = 0"));
}

static outbox *open_ok(const char *ci)
{
	outbox *o = NULL;
	char err[256];
	if (outbox_open(&o, ci, err, sizeof err) != 0) {
		fprintf(stderr, "outbox_open: %s\n", err);
		exit(2);
	}
	return o;
}

static void test_claim_gap_free(void)
{
	reset();
	insert_events(admin, 25, "a");
	outbox *o = open_ok(conninfo);
	uint64_t next = 1;
	int batches[] = {10, 10, 5, 0};
	for (int b = 0; b < 4; b++) {
		Property__V1__Event **ev = NULL;
		int n = outbox_claim(o, 10, &ev);
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
		outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	}
	CHECK(tu_scalar(admin, "SELECT last_seq FROM relay_state") == 25, "last_seq");
	outbox_close(o);
}

static void test_one_leader(void)
{
	outbox *a = open_ok(conninfo), *b = open_ok(conninfo);
	CHECK(outbox_try_lead(a) == 1, "a leads");
	CHECK(outbox_try_lead(b) == 0, "b follows");
	CHECK(outbox_try_lead(a) == 1, "a still leads");
	outbox_close(a);
	int r = 0;
	for (int i = 0; i < 100 && (r = outbox_try_lead(b)) == 0; i++)
		usleep(20 * 1000);
	CHECK(r == 1, "b takes over: %d", r);
	outbox_close(b);
}

// A writer that took its ins_id first but commits last is still published.
static void test_late_commit(void)
{
	reset();
	outbox *o = open_ok(conninfo);
	PGconn *w1 = tu_connect(conninfo), *w2 = tu_connect(conninfo);
	PQclear(tu_exec(w1, "BEGIN"));
	insert_events(w1, 1, "late");
	insert_events(w2, 2, "early");
	Property__V1__Event **ev = NULL;
	int n = outbox_claim(o, 100, &ev);
	CHECK(n == 2 && ev[0]->seq == 1 && ev[1]->seq == 2, "committed rows first: %d", n);
	outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	PQclear(tu_exec(w1, "COMMIT"));
	n = outbox_claim(o, 100, &ev);
	CHECK(n == 1 && ev[0]->seq == 3 && strcmp(ev[0]->property->title, "tlate-1") == 0,
	      "late row: %d", n);
	outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	CHECK(tu_scalar(admin, "SELECT count(*) FROM event_log WHERE seq IS NULL") == 0, "all");
	PQfinish(w1);
	PQfinish(w2);
	outbox_close(o);
}

static void test_wait_and_lag(void)
{
	reset();
	outbox *o = open_ok(conninfo);
	CHECK(outbox_try_lead(o) == 1, "lead");
	CHECK(outbox_wait(o, 50, -1) == 0, "nothing yet");
	insert_events(admin, 3, "w");
	PQclear(tu_exec(admin, "SELECT pg_notify('propertyd_events', '')"));
	CHECK(outbox_wait(o, 5000, -1) == 1, "woken");
	// Another instance's outbox_notify wakes the leader; so does the wake fd.
	outbox *o2 = open_ok(conninfo);
	CHECK(outbox_notify(o2) == 0, "notify");
	CHECK(outbox_wait(o, 5000, -1) == 1, "woken by another instance's notify");
	outbox_close(o2);
	int fds[2];
	CHECK(pipe(fds) == 0 && write(fds[1], "x", 1) == 1, "pipe");
	CHECK(outbox_wait(o, 5000, fds[0]) == 2, "woken by the wake fd");
	close(fds[0]);
	close(fds[1]);
	int64_t rows = -1, oldest = -1;
	CHECK(outbox_lag(o, &rows, &oldest) == 0 && rows == 3 && oldest >= 0, "lag %lld %lld",
	      (long long)rows, (long long)oldest);
	Property__V1__Event **ev = NULL;
	int n = outbox_claim(o, 100, &ev);
	outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	CHECK(outbox_lag(o, &rows, &oldest) == 0 && rows == 0 && oldest == 0, "no lag");
	outbox_close(o);
}

static void test_prune(void)
{
	reset();
	outbox *o = open_ok(conninfo);
	insert_events(admin, 5, "old");
	Property__V1__Event **ev = NULL;
	int n = outbox_claim(o, 3, &ev); // 3 published, 2 not
	outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	insert_events(admin, 2, "new");
	n = outbox_claim(o, 100, &ev); // claims the 2 old unpublished and 2 new ones
	outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	insert_events(admin, 1, "waiting");
	// Age everything but the "new" rows by ten days.
	PQclear(tu_exec(admin, "UPDATE event_log SET occurred_at_us = occurred_at_us - "
	                       "864000000000 WHERE title NOT LIKE 'tnew-%'"));
	PQclear(tu_exec(admin, "INSERT INTO idempotency_keys VALUES ('o', 'old', 'h', "
	                       "gen_random_uuid(), 0), ('o', 'fresh', 'h', gen_random_uuid(), "
	                       "(extract(epoch FROM now()) * 1000000)::bigint)"));
	int64_t gone = outbox_prune(o, 86400);
	CHECK(gone == 5, "pruned %lld", (long long)gone);
	CHECK(tu_scalar(admin, "SELECT count(*) FROM event_log WHERE title LIKE 'tnew-%'") == 2,
	      "recent kept");
	CHECK(tu_scalar(admin, "SELECT count(*) FROM event_log WHERE seq IS NULL") == 1,
	      "unpublished kept");
	CHECK(tu_scalar(admin, "SELECT count(*) FROM idempotency_keys WHERE key = 'old'") == 0 &&
	          tu_scalar(admin, "SELECT count(*) FROM idempotency_keys") == 1,
	      "expired keys pruned");
	CHECK(outbox_prune(o, 86400) == 0, "second prune");
	outbox_close(o);
}

static void test_reconnect(void)
{
	reset();
	// A name of its own, so that only this outbox's session is terminated.
	char app[64], ci[4200], sql[160];
	snprintf(app, sizeof app, "store_outbox_test_%d", (int)getpid());
	snprintf(ci, sizeof ci, "%s application_name=%s", conninfo, app);
	outbox *o = open_ok(ci);
	CHECK(outbox_try_lead(o) == 1, "lead");
	snprintf(
	    sql, sizeof sql,
	    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '%s'",
	    app);
	PQclear(tu_exec(admin, sql));
	int r = outbox_wait(o, 2000, -1);
	CHECK(r == -1, "wait sees the broken connection: %d", r);
	CHECK(outbox_try_lead(o) == 1, "reconnected and leads again");
	insert_events(admin, 1, "r");
	Property__V1__Event **ev = NULL;
	int n = outbox_claim(o, 10, &ev);
	CHECK(n == 1 && ev[0]->seq == 1, "claim after reconnect: %d", n);
	outbox_events_free(ev, (size_t)(n > 0 ? n : 0));
	outbox_close(o);
}

static void test_unreachable(void)
{
	outbox *o = open_ok("host=127.0.0.1 port=1 user=postgres");
	CHECK(outbox_try_lead(o) == -1, "lead");
	Property__V1__Event **ev = NULL;
	CHECK(outbox_claim(o, 10, &ev) == -1 && ev == NULL, "claim");
	CHECK(outbox_wait(o, 10, -1) == -1, "wait");
	int64_t rows, oldest;
	CHECK(outbox_lag(o, &rows, &oldest) == -1, "lag");
	CHECK(outbox_prune(o, 1) == -1, "prune");
	outbox_close(o);
}

int main(int argc, char **argv)
{
	static const tu_case cases[] = {
	    {"claim_gap_free", test_claim_gap_free},
	    {"one_leader", test_one_leader},
	    {"late_commit", test_late_commit},
	    {"wait_and_lag", test_wait_and_lag},
	    {"prune", test_prune},
	    {"reconnect", test_reconnect},
	    {"unreachable", test_unreachable},
	};
	conninfo = tu_schema_conninfo(SCHEMA);
	char err[256];
	if (migrate_run(conninfo, err, sizeof err) < 0) {
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
