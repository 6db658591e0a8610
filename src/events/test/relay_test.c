// The relay against a real PostgreSQL (DATABASE_URL).
//
// The relay's advisory lock and NOTIFY channel are database-wide, so this test
// creates a database of its own (and drops it at the end): another test's
// relay in the same database would otherwise compete for leadership.
// Rows are appended by direct INSERTs into event_log, as writers would.
#include <libpq-fe.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "events/relay.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "property/v1/events.pb-c.h"
#include "store/migrate.h"

// Bounds on waiting for the relay: a hang fails the case instead of the run.
#define WAIT_LEADER_MS 20000
#define WAIT_EVENTS_MS 20000
#define KICK_ROUNDS    200  // kicked appends, each published before the next
#define HAMMER_MS      1000 // concurrent kicks before the rounds
// Rows not claimed yet: no (seq, ins_id) pair in event_seq.
#define UNCLAIMED_SQL                                                                              \
	"SELECT count(*) FROM event_log e WHERE NOT EXISTS "                                       \
	"(SELECT 1 FROM event_seq s WHERE s.ins_id = e.ins_id)"
#define SUB_RECVBUF 8192

static const char TYPE_CREATED[] = "property.created";
static const char TYPE_UPDATED[] = "property.updated";

// The fixture shared by the cases, which run in order.
static struct {
	char dbname[64];
	char *admin_conninfo; // DATABASE_URL
	char *conninfo;       // the test's own database
	PGconn *pg;
	uint64_t next_seq; // the seq the next appended row will get
	uint64_t n_created, n_updated;
	char url_a[128], url_b[128];
} fx;

static int fail(const char *what)
{
	fprintf(stderr, "  failed: %s\n", what);
	return 1;
}

// DATABASE_URL with dbname replaced (malloc'd).
static char *conninfo_for_db(const char *base, const char *db)
{
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(base, &errmsg);
	if (opts == NULL) {
		fprintf(stderr, "DATABASE_URL does not parse: %s\n", errmsg ? errmsg : "");
		PQfreemem(errmsg);
		return NULL;
	}
	size_t cap = 4096, len = 0;
	char *buf = calloc(1, cap);
	for (PQconninfoOption *o = opts; o->keyword != NULL && buf != NULL; o++) {
		const char *v = strcmp(o->keyword, "dbname") == 0 ? db : o->val;
		if (v == NULL)
			continue;
		len += (size_t)snprintf(buf + len, cap - len, "%s%s='", len ? " " : "", o->keyword);
		for (const char *p = v; *p && len + 3 < cap; p++) {
			if (*p == '\'' || *p == '\\')
				buf[len++] = '\\';
			buf[len++] = *p;
		}
		len += (size_t)snprintf(buf + len, cap - len, "'");
	}
	PQconninfoFree(opts);
	return buf;
}

static int exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "  SQL failed: %s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

static int64_t scalar(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int64_t v = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

static int fixture_open(void)
{
	const char *url = getenv("DATABASE_URL");
	if (url == NULL || url[0] == '\0') {
		fprintf(stderr, "DATABASE_URL is not set: this test needs a PostgreSQL (e.g. "
		                "DATABASE_URL='host=127.0.0.1 port=54329 user=postgres "
		                "dbname=postgres')\n");
		return -1;
	}
	fx.admin_conninfo = strdup(url);
	snprintf(fx.dbname, sizeof(fx.dbname), "pd_events_test_%d", (int)getpid());
	PGconn *admin = PQconnectdb(url);
	if (PQstatus(admin) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect to DATABASE_URL: %s", PQerrorMessage(admin));
		PQfinish(admin);
		return -1;
	}
	char sql[256];
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", fx.dbname);
	int rc = exec_ok(admin, sql);
	PQfinish(admin);
	if (rc != 0)
		return -1;
	fx.conninfo = conninfo_for_db(url, fx.dbname);
	char err[256];
	if (fx.conninfo == NULL || store_migrate_run(fx.conninfo, err, sizeof(err)) < 0) {
		fprintf(stderr, "migrations failed: %s\n", fx.conninfo ? err : "conninfo");
		return -1;
	}
	fx.pg = PQconnectdb(fx.conninfo);
	if (PQstatus(fx.pg) != CONNECTION_OK)
		return -1;
	fx.next_seq = 1;
	snprintf(fx.url_a, sizeof(fx.url_a), "ipc:///tmp/pd_events_test_%d_a", (int)getpid());
	snprintf(fx.url_b, sizeof(fx.url_b), "ipc:///tmp/pd_events_test_%d_b", (int)getpid());
	return 0;
}

static void fixture_close(void)
{
	PQfinish(fx.pg);
	if (fx.admin_conninfo != NULL && fx.dbname[0] != '\0') {
		PGconn *admin = PQconnectdb(fx.admin_conninfo);
		char sql[256];
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", fx.dbname);
		if (PQstatus(admin) == CONNECTION_OK)
			(void)exec_ok(admin, sql);
		PQfinish(admin);
	}
	free(fx.conninfo);
	free(fx.admin_conninfo);
}

// Appends n rows in one transaction (every third an update), as a writer
// does: no seq, and a notification for the relay.
// Appends n rows in one transaction, announcing them with NOTIFY (as another
// instance's relay would) or silently (as a local writer does, which kicks).
static int append_rows_opt(int n, bool notify)
{
	char sql[2048];
	snprintf(sql, sizeof(sql),
	         "WITH ins AS (INSERT INTO event_log (type, aggregate_id, owner_id, "
	         "occurred_at_us, title, description, address, city, country_code, latitude, "
	         "longitude, price_cents, currency, bedrooms, status, version, created_at_us, "
	         "updated_at_us) SELECT CASE WHEN (i + %llu) %% 3 = 0 THEN '%s' ELSE '%s' END, "
	         "gen_random_uuid(), 'owner-' || i, 1700000000000000 + i, 'Flat ' || i, '', "
	         "'1 Main St', 'Lisbon', 'PT', 38.7, -9.1, 100000 + i, 'EUR', 2, 2, 1, "
	         "1700000000000000, 1700000000000000 FROM generate_series(0, %d) i RETURNING 1) "
	         "SELECT count(*)%s FROM ins",
	         (unsigned long long)fx.next_seq, TYPE_UPDATED, TYPE_CREATED, n - 1,
	         notify ? ", pg_notify('propertyd_events', '')" : "");
	if (exec_ok(fx.pg, sql) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if ((i + fx.next_seq) % 3 == 0)
			fx.n_updated++;
		else
			fx.n_created++;
	}
	return 0;
}

static int append_rows(int n)
{
	return append_rows_opt(n, true);
}

typedef struct sub {
	nng_socket sock;
	atomic_int pipes;
} sub;

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	atomic_fetch_add((atomic_int *)arg, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1);
}

// A raw subscriber to every event on the given URLs; waits until connected.
static int sub_open(sub *s, const char *const *urls, size_t n)
{
	atomic_init(&s->pipes, 0);
	if (nng_sub0_open(&s->sock) != 0)
		return -1;
	nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_POST, on_pipe, &s->pipes);
	nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, on_pipe, &s->pipes);
	nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, SUB_RECVBUF);
	nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, 200);
	nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	for (size_t i = 0; i < n; i++)
		nng_dial(s->sock, urls[i], NULL, NNG_FLAG_NONBLOCK);
	int64_t limit = base_now_ms() + WAIT_EVENTS_MS;
	while (atomic_load(&s->pipes) < (int)n && base_now_ms() < limit)
		nng_msleep(10);
	return atomic_load(&s->pipes) == (int)n ? 0 : -1;
}

// Receives n events and checks each: framing (type, 0x00, Event with the
// same type), and seq exactly fx.next_seq, in order.
static int sub_expect(sub *s, int n)
{
	int bad = 0, got = 0;
	int64_t limit = base_now_ms() + WAIT_EVENTS_MS;
	while (got < n && base_now_ms() < limit && !bad) {
		nng_msg *m;
		int rv = nng_recvmsg(s->sock, &m, 0);
		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv != 0)
			return fail(nng_strerror(rv));
		const uint8_t *b = nng_msg_body(m);
		size_t len = nng_msg_len(m);
		const uint8_t *nul = memchr(b, 0, len);
		Property__V1__Event *ev =
		    nul ? property__v1__event__unpack(NULL, len - (size_t)(nul - b) - 1, nul + 1)
		        : NULL;
		if (ev == NULL) {
			bad = fail("a message is not type, 0x00, Event");
		} else if (strlen(ev->type) != (size_t)(nul - b) ||
		           memcmp(b, ev->type, strlen(ev->type)) != 0) {
			bad = fail("the message's type prefix differs from the event's type");
		} else if (ev->seq != fx.next_seq) {
			fprintf(stderr, "  got seq %llu, want %llu\n", (unsigned long long)ev->seq,
			        (unsigned long long)fx.next_seq);
			bad = 1;
		} else if (ev->property == NULL ||
		           strcmp(ev->property->id, ev->aggregate_id) != 0 ||
		           ev->property->location == NULL ||
		           strcmp(ev->property->location->city, "Lisbon") != 0 ||
		           ev->id[0] == '\0') {
			bad = fail("the event's property snapshot is incomplete");
		} else {
			fx.next_seq++;
			got++;
		}
		if (ev != NULL)
			property__v1__event__free_unpacked(ev, NULL);
		nng_msg_free(m);
	}
	if (!bad && got < n) {
		fprintf(stderr, "  received %d of %d events\n", got, n);
		bad = 1;
	}
	return bad;
}

// Nothing more arrives for a moment (no duplicate, no extra).
static int sub_expect_quiet(sub *s)
{
	nng_msg *m;
	int64_t until = base_now_ms() + 500;
	while (base_now_ms() < until) {
		if (nng_recvmsg(s->sock, &m, 0) == 0) {
			nng_msg_free(m);
			return fail("an unexpected extra message");
		}
	}
	return 0;
}

static int start_relay_poll(events_relay **r, const char *url, obs_registry *reg, int poll_ms)
{
	events_relay_config cfg = {
	    .conninfo = fx.conninfo,
	    .pub_url = url,
	    .metrics = reg,
	    .retention_s = 0,
	    .poll_ms = poll_ms,
	};
	char err[256];
	if (events_relay_start(r, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "  events_relay_start: %s\n", err);
		return -1;
	}
	return 0;
}

static int start_relay(events_relay **r, const char *url, obs_registry *reg)
{
	return start_relay_poll(r, url, reg, 500);
}

static int wait_leader(events_relay *r)
{
	int64_t limit = base_now_ms() + WAIT_LEADER_MS;
	while (!events_relay_is_leader(r) && base_now_ms() < limit)
		nng_msleep(20);
	return events_relay_is_leader(r) ? 0 : -1;
}

static uint64_t counter(obs_registry *reg, const char *type)
{
	char labels[64];
	snprintf(labels, sizeof(labels), "type=\"%s\"", type);
	return obs_counter_value(
	    obs_counter_get(reg, "propertyd_events_published_total", "", labels));
}

static int case_publishes_in_seq_order(void)
{
	obs_registry *reg = obs_registry_create();
	events_relay *r = NULL;
	sub s = {.sock = NNG_SOCKET_INITIALIZER};
	int bad = 0;
	const char *urls[] = {fx.url_a};
	if (start_relay(&r, fx.url_a, reg) != 0) {
		obs_registry_destroy(reg);
		return 1;
	}
	if (wait_leader(r) != 0 || sub_open(&s, urls, 1) != 0) {
		bad = fail("the only relay never led, or the subscriber never connected");
		goto out;
	}
	// More than one claim batch in one transaction, then a few more.
	if (append_rows(300) != 0 || append_rows(7) != 0) {
		bad = 1;
		goto out;
	}
	bad += sub_expect(&s, 307);
	bad += sub_expect_quiet(&s);
	if (counter(reg, TYPE_CREATED) != fx.n_created ||
	    counter(reg, TYPE_UPDATED) != fx.n_updated)
		bad += fail("propertyd_events_published_total by type");
	if (scalar(fx.pg, UNCLAIMED_SQL) != 0)
		bad += fail("rows left unclaimed");
out:
	nng_close(s.sock);
	events_relay_stop(r);
	obs_registry_destroy(reg);
	return bad;
}

// Local writers do not NOTIFY: they kick. With the poll far away (10 min),
// each row must still be published, round after round: a kick swallowed by a
// race between two kicks would leave the relay deaf until its poll and this
// case would time out (regression: the flag was once cleared before the
// eventfd was drained).
typedef struct hammer {
	events_relay *r;
	atomic_bool stop;
} hammer;

static void *hammer_main(void *arg)
{
	hammer *h = arg;
	while (!atomic_load(&h->stop))
		events_relay_kick(h->r);
	return NULL;
}

static int case_kick_wakes_the_relay(void)
{
	obs_registry *reg = obs_registry_create();
	events_relay *r = NULL;
	sub s = {.sock = NNG_SOCKET_INITIALIZER};
	int bad = 0;
	const char *urls[] = {fx.url_a};
	if (start_relay_poll(&r, fx.url_a, reg, 600000) != 0) {
		obs_registry_destroy(reg);
		return 1;
	}
	if (wait_leader(r) != 0 || sub_open(&s, urls, 1) != 0) {
		bad = fail("the only relay never led, or the subscriber never connected");
		goto out;
	}
	// Kicks from many commits at once, for a while: the relay takes kicks
	// while new ones land. Afterwards it must still hear every kick.
	hammer h = {.r = r};
	pthread_t ht;
	if (pthread_create(&ht, NULL, hammer_main, &h) == 0) {
		nng_msleep(HAMMER_MS);
		atomic_store(&h.stop, true);
		pthread_join(ht, NULL);
	}
	nng_msleep(200);
	for (int round = 0; round < KICK_ROUNDS && !bad; round++) {
		if (append_rows_opt(1 + round % 3, false) != 0) {
			bad = 1;
			break;
		}
		events_relay_kick(r);
		events_relay_kick(r); // a second kick in the race window
		bad += sub_expect(&s, 1 + round % 3);
	}
	bad += sub_expect_quiet(&s);
out:
	nng_close(s.sock);
	events_relay_stop(r);
	obs_registry_destroy(reg);
	return bad;
}

// Rows appended just before events_relay_stop() are claimed by its flush.
static int case_stop_flushes(void)
{
	events_relay *r = NULL;
	int bad = 0;
	if (start_relay(&r, fx.url_a, NULL) != 0)
		return 1;
	if (wait_leader(r) != 0)
		bad += fail("never led");
	if (append_rows(40) != 0)
		bad++;
	events_relay_stop(r);
	if (scalar(fx.pg, UNCLAIMED_SQL) != 0)
		bad += fail("the stop did not flush pending rows");
	if (scalar(fx.pg, "SELECT max(seq) FROM event_seq") != (int64_t)fx.next_seq + 39)
		bad += fail("seqs of the flushed rows");
	fx.next_seq += 40; // published to nobody: the log has them
	return bad;
}

// Two relays on one database: one leads; when it stops, the other takes
// over and the stream goes on with no gap and no duplicate.
static int case_failover(void)
{
	events_relay *a = NULL, *b = NULL;
	sub s = {.sock = NNG_SOCKET_INITIALIZER};
	int bad = 0;
	const char *urls[] = {fx.url_a, fx.url_b};
	if (start_relay(&a, fx.url_a, NULL) != 0)
		return 1;
	if (start_relay(&b, fx.url_b, NULL) != 0) {
		events_relay_stop(a);
		return 1;
	}
	if (sub_open(&s, urls, 2) != 0) {
		bad = fail("the subscriber never connected to both");
		goto out;
	}
	int64_t limit = base_now_ms() + WAIT_LEADER_MS;
	while (!events_relay_is_leader(a) && !events_relay_is_leader(b) && base_now_ms() < limit)
		nng_msleep(20);
	// For a while, exactly one leads.
	for (int i = 0; i < 20 && !bad; i++) {
		if (events_relay_is_leader(a) == events_relay_is_leader(b))
			bad = fail("not exactly one leader");
		nng_msleep(50);
	}
	if (bad)
		goto out;
	events_relay **leader = events_relay_is_leader(a) ? &a : &b;
	events_relay *other = events_relay_is_leader(a) ? b : a;
	if (append_rows(100) != 0)
		bad++;
	bad += sub_expect(&s, 100);

	events_relay_stop(*leader);
	*leader = NULL;
	// Appended with no leader: published once the other takes over.
	if (append_rows(100) != 0)
		bad++;
	if (wait_leader(other) != 0)
		bad += fail("the other relay did not take over");
	bad += sub_expect(&s, 100);
	if (append_rows(50) != 0)
		bad++;
	bad += sub_expect(&s, 50);
	bad += sub_expect_quiet(&s);
out:
	nng_close(s.sock);
	events_relay_stop(a);
	events_relay_stop(b);
	return bad;
}

static int case_bad_url(void)
{
	events_relay *r = NULL;
	events_relay_config cfg = {.conninfo = fx.conninfo, .pub_url = "nosuch://x"};
	char err[256] = "";
	if (events_relay_start(&r, &cfg, err, sizeof(err)) == 0) {
		events_relay_stop(r);
		return fail("a bad URL was accepted");
	}
	return strstr(err, "nosuch://x") != NULL ? 0 : fail("the error names the URL");
}

typedef struct test_case {
	const char *name;
	int (*fn)(void);
} test_case;

// In order: they share the log (seqs go on from case to case).
static const test_case CASES[] = {
    {"publishes_in_seq_order", case_publishes_in_seq_order},
    {"stop_flushes_pending", case_stop_flushes},
    {"kick_wakes_the_relay", case_kick_wakes_the_relay},
    {"failover_no_gap_no_duplicate", case_failover},
    {"bad_url_refused", case_bad_url},
};

int main(void)
{
	obs_log_init(OBS_WARN, 2);
	if (fixture_open() != 0) {
		fixture_close();
		return 1;
	}
	int failed = 0;
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		int bad = CASES[i].fn();
		printf("%s %s\n", bad ? "FAIL" : "ok  ", CASES[i].name);
		fflush(stdout);
		failed += bad != 0;
	}
	fixture_close();
	if (failed)
		printf("%d case(s) failed\n", failed);
	return failed ? 1 : 0;
}
