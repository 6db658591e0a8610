// events cachesync against a real PostgreSQL (DATABASE_URL, a schema of its
// own): changes fed by the relay are applied without the log while they
// continue the cursor; a fed change after a gap is not applied until the gap
// is filled; changes published in the log are applied by reading it.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "events/cachesync.h"
#include "store/migrate.h"
#include "store/test/testutil.h"

#define SCHEMA  "cachesync_test"
#define WAIT_MS 3000

static struct {
	pthread_mutex_t mu;
	uint64_t seqs[64];
	char ids[64][37];
	size_t n;
} rec = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int record(void *arg, const store_outbox_change *ch, size_t n)
{
	(void)arg;
	pthread_mutex_lock(&rec.mu);
	for (size_t i = 0; i < n && rec.n < 64; i++) {
		rec.seqs[rec.n] = ch[i].seq;
		memcpy(rec.ids[rec.n++], ch[i].id, sizeof ch[i].id);
	}
	pthread_mutex_unlock(&rec.mu);
	return 0;
}

static size_t recorded(void)
{
	pthread_mutex_lock(&rec.mu);
	size_t n = rec.n;
	pthread_mutex_unlock(&rec.mu);
	return n;
}

// Waits until `want` changes were recorded (or WAIT_MS passed).
static size_t wait_recorded(size_t want)
{
	int64_t until = base_now_ms() + WAIT_MS;
	while (recorded() < want && base_now_ms() < until)
		usleep(10000);
	return recorded();
}

static store_outbox_change change(uint64_t seq)
{
	store_outbox_change c = {.seq = seq, .version = 1};
	snprintf(c.id, sizeof c.id, "00000000-0000-4000-8000-%012llu", (unsigned long long)seq);
	snprintf(c.owner, sizeof c.owner, "owner-%llu", (unsigned long long)seq);
	return c;
}

static void feed(events_cachesync *s, uint64_t from, uint64_t to)
{
	store_outbox_change ch[16];
	size_t n = 0;
	for (uint64_t q = from; q <= to && n < 16; q++)
		ch[n++] = change(q);
	events_cachesync_feed(s, ch, n);
}

static void feed_then_gap_then_log(void)
{
	char *ci = tu_schema_conninfo(SCHEMA);
	char err[256];
	CHECK(store_migrate_run(ci, err, sizeof err) >= 0, "migrate: %s", err);
	PGconn *pg = tu_connect(ci);
	events_cachesync *s = NULL;
	CHECK(events_cachesync_start(&s, ci, record, NULL, err, sizeof err) == 0, "start: %s", err);
	if (s == NULL)
		return;
	usleep(300000); // the thread reads the head (0) first

	// Seqs 1..3 are in no log: only the feed can bring them.
	feed(s, 1, 3);
	CHECK_EQ(wait_recorded(3), 3);
	CHECK(rec.seqs[0] == 1 && rec.seqs[2] == 3, "fed in order: %llu..%llu",
	      (unsigned long long)rec.seqs[0], (unsigned long long)rec.seqs[2]);
	CHECK_STR(rec.ids[1], change(2).id);

	// 6..7 leave a gap after 3: not applied (the log, read instead, is empty).
	feed(s, 6, 7);
	usleep(300000);
	CHECK_EQ(recorded(), 3);

	// 4..5 are published in the log (a pair in event_seq and its row); the
	// next poll applies them, and then the fed 6..7 continue the cursor.
	PQclear(tu_exec(pg,
	                "INSERT INTO event_log (ins_id, type, aggregate_id, owner_id, "
	                "occurred_at_us, title, description, address, city, country_code, "
	                "latitude, longitude, price_cents, currency, bedrooms, status, version, "
	                "created_at_us, updated_at_us) "
	                "SELECT 1000 + g, 'property.updated', "
	                "('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'o', 0, "
	                "'t', '', '', 'c', 'FR', 0, 0, 1, 'EUR', 1, 1, 2, 0, 0 "
	                "FROM generate_series(4, 5) g"));
	PQclear(tu_exec(pg, "INSERT INTO event_seq (seq, ins_id, type) "
	                    "SELECT g, 1000 + g, 'property.updated' FROM generate_series(4, 5) g"));
	CHECK_EQ(wait_recorded(5), 5);
	CHECK(rec.seqs[3] == 4 && rec.seqs[4] == 5, "from the log: %llu, %llu",
	      (unsigned long long)rec.seqs[3], (unsigned long long)rec.seqs[4]);
	CHECK_STR(rec.ids[3], change(4).id);
	feed(s, 6, 7);
	CHECK_EQ(wait_recorded(7), 7);
	CHECK(rec.seqs[5] == 6 && rec.seqs[6] == 7, "fed after the log: %llu, %llu",
	      (unsigned long long)rec.seqs[5], (unsigned long long)rec.seqs[6]);

	// Nothing is applied twice: 4..7 fed again are behind the cursor.
	feed(s, 4, 7);
	usleep(200000);
	CHECK_EQ(recorded(), 7);

	events_cachesync_stop(s);
	PQfinish(pg);
	tu_drop_schema(SCHEMA);
	free(ci);
}

int main(int argc, char **argv)
{
	static const tu_case cases[] = {
	    {"feed_then_gap_then_log", feed_then_gap_then_log},
	};
	return tu_run(cases, sizeof cases / sizeof cases[0], argc, argv);
}
