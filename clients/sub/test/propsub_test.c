// propsub against a fake propertyd (fake_events.h): PUB sockets whose
// messages the test chooses, and a ReadEvents server over the in-memory log.
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_events.h"
#include "propsub.h"

#define TOKEN    "test-token"
#define MAX_SEEN 256
// Upper bound on waiting for deliveries: a hang fails the case instead of the run.
#define WAIT_LIMIT_MS 10000
// After the expected deliveries, run a little longer so that an extra
// (duplicate) delivery would be seen.
#define SETTLE_MS 300

static const char CREATED[] = "property.created";
static const char UPDATED[] = "property.updated";

typedef struct seen {
	uint64_t seqs[MAX_SEEN];
	size_t n;
	uint64_t rr_from[MAX_SEEN], rr_to[MAX_SEEN];
	size_t n_rr;
	bool bad_type; // an event not of the subscribed prefix
	const char *prefix;
	unsigned n_errors, error_code; // on_error calls, the last code
} seen;

static void on_event(const Property__V1__Event *ev, void *arg)
{
	seen *c = arg;
	if (c->n < MAX_SEEN)
		c->seqs[c->n++] = ev->seq;
	if (c->prefix != NULL && strncmp(ev->type, c->prefix, strlen(c->prefix)) != 0)
		c->bad_type = true;
	if (ev->property == NULL || strcmp(ev->aggregate_id, ev->property->id) != 0)
		c->bad_type = true;
}

static void on_reread(uint64_t from, uint64_t to, void *arg)
{
	seen *c = arg;
	if (c->n_rr < MAX_SEEN) {
		c->rr_from[c->n_rr] = from;
		c->rr_to[c->n_rr] = to;
		c->n_rr++;
	}
}

static void on_error(unsigned code, const char *message, void *arg)
{
	seen *c = arg;
	(void)message;
	c->n_errors++;
	c->error_code = code;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Runs the subscriber until `want` events were delivered (then SETTLE_MS more).
static void run_until(propsub *s, seen *c, size_t want)
{
	int64_t limit = now_ms() + WAIT_LIMIT_MS;
	while (c->n < want && now_ms() < limit)
		propsub_run(s, 20);
	propsub_run(s, SETTLE_MS);
}

// Runs the subscriber until the fake answered `calls` ReadEvents calls.
static void run_until_reads(propsub *s, fake_events *f, unsigned calls)
{
	int64_t limit = now_ms() + WAIT_LIMIT_MS;
	while (fake_read_calls(f) < calls && now_ms() < limit)
		propsub_run(s, 20);
}

typedef struct setup {
	fake_events *f;
	propsub *s;
	seen c;
} setup;

static int start(setup *t, const char *tag, size_t n_pubs, const char *prefix, uint64_t from,
                 bool local, const char *token)
{
	memset(t, 0, sizeof(*t));
	t->c.prefix = prefix;
	t->f = fake_open(tag, n_pubs, TOKEN);
	if (t->f == NULL)
		return -1;
	propsub_config cfg = {
	    .event_urls = fake_pub_urls(t->f),
	    .n_event_urls = n_pubs,
	    .rpc_urls = fake_rpc_urls(t->f),
	    .n_rpc_urls = 1,
	    .token = token,
	    .type_prefix = prefix,
	    .from_seq = from,
	    .filter_locally = local,
	    .on_event = on_event,
	    .on_reread = on_reread,
	    .on_error = on_error,
	    .arg = &t->c,
	};
	char err[256];
	if (propsub_open(&t->s, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "  propsub_open: %s\n", err);
		fake_close(t->f);
		return -1;
	}
	if (fake_wait_subscribers(t->f) != 0) {
		fprintf(stderr, "  subscriber never connected\n");
		return -1;
	}
	return 0;
}

static void finish(setup *t)
{
	propsub_close(t->s);
	fake_close(t->f);
}

static int expect_seqs(const seen *c, const uint64_t *want, size_t n)
{
	int bad = c->n != n;
	for (size_t i = 0; !bad && i < n; i++)
		bad = c->seqs[i] != want[i];
	if (bad) {
		fprintf(stderr, "  delivered %zu:", c->n);
		for (size_t i = 0; i < c->n; i++)
			fprintf(stderr, " %llu", (unsigned long long)c->seqs[i]);
		fprintf(stderr, "; want %zu:", n);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %llu", (unsigned long long)want[i]);
		fprintf(stderr, "\n");
	}
	if (c->bad_type) {
		fprintf(stderr, "  an event of another type, or malformed, was delivered\n");
		bad = 1;
	}
	return bad;
}

static int expect_rereads(const seen *c, const uint64_t (*want)[2], size_t n)
{
	int bad = c->n_rr != n;
	for (size_t i = 0; !bad && i < n; i++)
		bad = c->rr_from[i] != want[i][0] || c->rr_to[i] != want[i][1];
	if (bad) {
		fprintf(stderr, "  on_reread %zu:", c->n_rr);
		for (size_t i = 0; i < c->n_rr; i++)
			fprintf(stderr, " %llu..%llu", (unsigned long long)c->rr_from[i],
			        (unsigned long long)c->rr_to[i]);
		fprintf(stderr, "; want %zu\n", n);
	}
	return bad;
}

static int check(bool ok, const char *what)
{
	if (!ok)
		fprintf(stderr, "  failed: %s\n", what);
	return ok ? 0 : 1;
}

static int case_in_order(void)
{
	setup t;
	if (start(&t, "order", 1, "", 0, false, TOKEN) != 0)
		return 1;
	run_until_reads(t.s, t.f, 1); // the catch-up read of an empty log
	for (int i = 0; i < 5; i++)
		fake_publish(t.f, 0, fake_append(t.f, CREATED));
	run_until(t.s, &t.c, 5);
	const uint64_t want[] = {1, 2, 3, 4, 5};
	int bad = expect_seqs(&t.c, want, 5) + expect_rereads(&t.c, NULL, 0);
	bad += check(propsub_position(t.s) == 5, "position 5");
	finish(&t);
	return bad;
}

static int case_gap_filled(void)
{
	setup t;
	if (start(&t, "gap", 1, "property.", 0, false, TOKEN) != 0)
		return 1;
	run_until_reads(t.s, t.f, 1);
	for (int i = 0; i < 5; i++)
		fake_append(t.f, i % 2 ? UPDATED : CREATED);
	for (uint64_t seq = 1; seq <= 5; seq++) {
		if (seq != 3)
			fake_publish(t.f, 0, seq); // 3 is lost on the way
	}
	run_until(t.s, &t.c, 5);
	const uint64_t want[] = {1, 2, 3, 4, 5};
	const uint64_t rr[][2] = {{3, 3}};
	int bad = expect_seqs(&t.c, want, 5) + expect_rereads(&t.c, rr, 1);
	propsub_stats st;
	propsub_get_stats(t.s, &st);
	bad += check(st.reread == 1 && st.delivered == 5, "stats: 5 delivered, 1 re-read");
	finish(&t);
	return bad;
}

static int case_duplicates_two_instances(void)
{
	setup t;
	if (start(&t, "dup", 2, "", 0, false, TOKEN) != 0)
		return 1;
	run_until_reads(t.s, t.f, 1);
	for (int i = 0; i < 4; i++) {
		uint64_t seq = fake_append(t.f, CREATED);
		fake_publish(t.f, 0, seq);
		fake_publish(t.f, 1, seq);
	}
	run_until(t.s, &t.c, 4);
	const uint64_t want[] = {1, 2, 3, 4};
	int bad = expect_seqs(&t.c, want, 4);
	propsub_stats st;
	propsub_get_stats(t.s, &st);
	// Each seq came twice; a copy arriving before its predecessor may have
	// been filled from the log instead, so count what was dropped or re-read.
	bad += check(st.duplicates + st.reread >= 4, "the second copies were dropped");
	finish(&t);
	return bad;
}

static int case_resume(void)
{
	setup t;
	if (start(&t, "resume", 1, "", 3, false, TOKEN) != 0)
		return 1;
	// The log held 1..5 while the subscriber was away; it resumes after 3.
	for (int i = 0; i < 5; i++)
		fake_append(t.f, CREATED);
	run_until(t.s, &t.c, 2);
	fake_publish(t.f, 0, fake_append(t.f, CREATED));
	run_until(t.s, &t.c, 3);
	const uint64_t want[] = {4, 5, 6};
	const uint64_t rr[][2] = {{4, 5}};
	int bad = expect_seqs(&t.c, want, 3) + expect_rereads(&t.c, rr, 1);
	bad += check(propsub_position(t.s) == 6, "position 6");
	finish(&t);
	return bad;
}

// Other types' seqs look like gaps to a narrow subscriber: they must be
// skipped with a bounded number of reads, never reported as re-reads.
static int prefix_case(const char *tag, bool local, bool lose_3)
{
	setup t;
	if (start(&t, tag, 1, CREATED, 0, local, TOKEN) != 0)
		return 1;
	run_until_reads(t.s, t.f, 1);
	unsigned reads0 = fake_read_calls(t.f);
	for (int i = 0; i < 7; i++)
		fake_append(t.f, i % 2 ? UPDATED : CREATED);
	for (uint64_t seq = 1; seq <= 7; seq++) {
		if (!(lose_3 && seq == 3))
			fake_publish(t.f, 0, seq);
	}
	run_until(t.s, &t.c, 4);
	const uint64_t want[] = {1, 3, 5, 7};
	const uint64_t rr[][2] = {{3, 3}};
	int bad = expect_seqs(&t.c, want, 4) + expect_rereads(&t.c, rr, lose_3 ? 1 : 0);
	unsigned reads = fake_read_calls(t.f) - reads0;
	// One read per other-type gap (3) at most, plus a lost-tail check.
	bad += check(reads <= (local ? 2u : 5u), "bounded ReadEvents calls");
	bad += check(propsub_position(t.s) >= 7, "position past 7");
	finish(&t);
	return bad;
}

static int case_prefix_socket(void)
{
	return prefix_case("pfx", false, false);
}

static int case_prefix_local(void)
{
	return prefix_case("pfxl", true, false);
}

static int case_prefix_lost_match(void)
{
	return prefix_case("pfxlost", false, true);
}

static int case_lost_tail(void)
{
	setup t;
	if (start(&t, "tail", 1, "", 0, false, TOKEN) != 0)
		return 1;
	run_until_reads(t.s, t.f, 1);
	for (int i = 0; i < 3; i++)
		fake_append(t.f, CREATED);
	fake_publish(t.f, 0, 1);
	fake_publish(t.f, 0, 2); // 3, the last one, is lost: only silence follows
	run_until(t.s, &t.c, 3);
	const uint64_t want[] = {1, 2, 3};
	const uint64_t rr[][2] = {{3, 3}};
	int bad = expect_seqs(&t.c, want, 3) + expect_rereads(&t.c, rr, 1);
	finish(&t);
	return bad;
}

static int case_from_now(void)
{
	setup t;
	if (start(&t, "now", 1, "", PROPSUB_FROM_NOW, false, TOKEN) != 0)
		return 1;
	for (int i = 0; i < 3; i++)
		fake_append(t.f, CREATED);
	run_until_reads(t.s, t.f, 1); // locates the end of the log: 3
	fake_publish(t.f, 0, fake_append(t.f, CREATED));
	run_until(t.s, &t.c, 1);
	const uint64_t want[] = {4};
	int bad = expect_seqs(&t.c, want, 1) + expect_rereads(&t.c, NULL, 0);
	bad += check(propsub_position(t.s) == 4, "position 4");
	finish(&t);
	return bad;
}

static int case_malformed(void)
{
	setup t;
	if (start(&t, "bad", 1, "", 0, false, TOKEN) != 0)
		return 1;
	run_until_reads(t.s, t.f, 1);
	static const char no_nul[] = {'p', 'r', 'o', 'p'};
	static const char bad_body[] = "property.created\0\xff\xff\xff\xff\xff";
	fake_publish_raw(t.f, 0, no_nul, sizeof(no_nul));
	fake_publish_raw(t.f, 0, bad_body, sizeof(bad_body) - 1);
	fake_publish(t.f, 0, fake_append(t.f, CREATED));
	run_until(t.s, &t.c, 1);
	const uint64_t want[] = {1};
	int bad = expect_seqs(&t.c, want, 1);
	propsub_stats st;
	propsub_get_stats(t.s, &st);
	bad += check(st.malformed == 2, "two malformed messages counted");
	finish(&t);
	return bad;
}

// ReadEvents refused (bad token): in-order live events still flow; a gap
// cannot be filled, so nothing after it is delivered out of order.
static int case_log_unreadable(void)
{
	setup t;
	if (start(&t, "noauth", 1, "", 0, false, "wrong-token") != 0)
		return 1;
	// The first (refused) catch-up read.
	propsub_stats st;
	int64_t limit = now_ms() + WAIT_LIMIT_MS;
	do {
		propsub_run(t.s, 20);
		propsub_get_stats(t.s, &st);
	} while (st.read_errors == 0 && now_ms() < limit);
	for (int i = 0; i < 4; i++)
		fake_append(t.f, CREATED);
	fake_publish(t.f, 0, 1);
	fake_publish(t.f, 0, 2);
	fake_publish(t.f, 0, 4);
	run_until(t.s, &t.c, 2);
	const uint64_t want[] = {1, 2};
	int bad = expect_seqs(&t.c, want, 2);
	propsub_get_stats(t.s, &st);
	bad += check(st.read_errors >= 1, "read errors counted");
	bad += check(propsub_position(t.s) == 2, "position stays 2");
	finish(&t);
	return bad;
}

// Retention pruned events after the position: propsub must not retry
// forever nor skip them silently; it reports 11 once and stops for good.
static int case_pruned(void)
{
	setup t;
	if (start(&t, "pruned", 1, "", 2, false, TOKEN) != 0)
		return 1;
	for (int i = 0; i < 6; i++)
		fake_append(t.f, CREATED);
	fake_prune(t.f, 4); // 1..4 gone: after 2 is out of range
	int rc = 0;
	int64_t limit = now_ms() + WAIT_LIMIT_MS;
	while (t.c.n_errors == 0 && now_ms() < limit)
		rc = propsub_run(t.s, 20);
	unsigned reads = fake_read_calls(t.f);
	int again = propsub_run(t.s, 1500); // sticky: no more reads, no retry
	int bad = check(t.c.n_errors == 1 && t.c.error_code == 11, "on_error(11) once");
	bad += check(rc == -1 && again == -1, "run returns -1");
	bad += check(t.c.n == 0, "nothing delivered");
	bad += check(fake_read_calls(t.f) == reads, "no retry after giving up");
	bad += check(propsub_position(t.s) == 2, "position stays 2");
	finish(&t);
	return bad;
}

static int case_stop(void)
{
	setup t;
	if (start(&t, "stop", 1, "", 0, false, TOKEN) != 0)
		return 1;
	propsub_stop(t.s);
	int rc = propsub_run(t.s, -1); // returns at once: the stop is sticky
	finish(&t);
	return check(rc == 0, "run after stop returns 0");
}

typedef struct test_case {
	const char *name;
	int (*fn)(void);
} test_case;

static const test_case CASES[] = {
    {"in_order", case_in_order},
    {"gap_filled_by_read_events", case_gap_filled},
    {"duplicates_two_instances", case_duplicates_two_instances},
    {"resume_from_seq", case_resume},
    {"prefix_other_types_skipped", case_prefix_socket},
    {"prefix_filter_locally", case_prefix_local},
    {"prefix_lost_matching_event", case_prefix_lost_match},
    {"lost_tail", case_lost_tail},
    {"from_now", case_from_now},
    {"malformed_messages", case_malformed},
    {"log_unreadable", case_log_unreadable},
    {"pruned_log_reported", case_pruned},
    {"stop_is_sticky", case_stop},
};

int main(void)
{
	int failed = 0;
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		int bad = CASES[i].fn();
		printf("%s %s\n", bad ? "FAIL" : "ok  ", CASES[i].name);
		failed += bad != 0;
	}
	if (failed)
		printf("%d case(s) failed\n", failed);
	return failed ? 1 : 0;
}
