// it_events: the event log and its publication (docs/contract.md section 6).
//
// A raw nng sub0 subscriber (no client library) checks framing ("type\0<Event>"),
// seq order and exactly-once delivery of every committed change; gaps are
// filled from ReadEvents like a real subscriber. ReadEvents paging rules.
// Two instances on one database: kill -9 the relay leader during writes; the
// other takes over and the log stays gapless and duplicate-free.
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events_log.h"

// ---- cases -------------------------------------------------------------------------------
static void case_publish_exactly_once(void *arg)
{
	ctx *c = arg;
	reset_run(c, WRITERS);
	const char *eurl = c->p.events_url;
	if (sub_start(c, &eurl, 1, "property.") != 0)
		return;
	uint64_t from = last_seq(c->p.cli, c->auth_reader);
	const char *wurl = c->p.rpc_url;
	c->write_urls = &wurl;
	c->n_write_urls = 1;
	c->failover = false;
	run_writers(c, WRITERS, WRITE_MS, NULL, 0);
	fprintf(stderr, "  %zu acknowledged changes\n", c->n_changes);
	evlist log = {0};
	settle(c, c->p.cli, from, &log);
	check_log(c, &log, from, false);
	// The subscriber: wait until the newest logged event arrived by PUB.
	uint64_t want_last = log.n ? log.v[log.n - 1].seq : from;
	int64_t end = h_now_ms() + SETTLE_MS;
	for (;;) {
		pthread_mutex_lock(&c->mu);
		bool done = c->got.n > 0 && c->got.v[c->got.n - 1].seq >= want_last;
		pthread_mutex_unlock(&c->mu);
		if (done || h_now_ms() > end)
			break;
		h_sleep_ms(50);
	}
	sub_stop(c);
	H_CHECK(c->bad_frames == 0, "%d published messages not framed as type\\0<Event>",
	        c->bad_frames);
	size_t in_range = 0, dup_or_back = 0;
	uint64_t prev = 0;
	for (size_t i = 0; i < c->got.n; i++) {
		const ev *e = &c->got.v[i];
		if (e->seq <= prev)
			dup_or_back++;
		prev = e->seq;
		if (e->seq <= from || e->seq > want_last)
			continue;
		in_range++;
		const ev *l = &log.v[e->seq - from - 1];
		H_CHECK(strcmp(l->id, e->id) == 0 && strcmp(l->type, e->type) == 0 &&
		            strcmp(l->aggr, e->aggr) == 0,
		        "published seq %llu (%s %s) differs from the log (%s %s)",
		        (unsigned long long)e->seq, e->type, e->aggr, l->type, l->aggr);
	}
	H_CHECK(dup_or_back == 0, "%zu published events repeated or out of seq order", dup_or_back);
	H_CHECK(c->got.n > 0 && prev >= want_last,
	        "the newest logged event (seq %llu) was never published (last seen %llu)",
	        (unsigned long long)want_last, (unsigned long long)prev);
	fprintf(stderr,
	        "  log %llu..%llu: %zu events published and received, %zu filled from "
	        "ReadEvents\n",
	        (unsigned long long)from + 1, (unsigned long long)want_last, in_range,
	        log.n - in_range);
	free(log.v);
}

static void case_prefix_subscription(void *arg)
{
	ctx *c = arg;
	reset_run(c, 1);
	const char *eurl = c->p.events_url;
	if (sub_start(c, &eurl, 1, "property.deleted") != 0)
		return;
	char *auth = h_bearer(H_SECRET, c->owners[0], 600);
	Property__V1__Property *p = h_create(c->p.cli, auth, "");
	char id[40] = "";
	if (p != NULL) {
		snprintf(id, sizeof(id), "%s", p->id);
		Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
		d.id = p->id;
		h_md md = {.auth = auth};
		unsigned code =
		    h_call(c->p.cli, M_DELETE, &d.base,
		           &property__v1__delete_property_response__descriptor, &md, NULL, NULL);
		H_CHECK(code == 0, "Delete: %u", code);
		protobuf_c_message_free_unpacked(&p->base, NULL);
	}
	bool seen = false;
	for (int64_t end = h_now_ms() + SETTLE_MS; !seen && h_now_ms() < end;) {
		pthread_mutex_lock(&c->mu);
		for (size_t i = 0; i < c->got.n; i++)
			seen = seen || strcmp(c->got.v[i].aggr, id) == 0;
		pthread_mutex_unlock(&c->mu);
		if (!seen)
			h_sleep_ms(50);
	}
	sub_stop(c);
	H_CHECK(seen, "the delete of %s never arrived on a property.deleted subscription", id);
	for (size_t i = 0; i < c->got.n; i++)
		H_CHECK(strcmp(c->got.v[i].type, "property.deleted") == 0,
		        "a %s event on a property.deleted subscription", c->got.v[i].type);
	free(auth);
}

static void case_read_events_rules(void *arg)
{
	ctx *c = arg;
	// Enough events for the 1000 cap.
	uint64_t last = last_seq(c->p.cli, c->auth_reader);
	if (last < MIN_LOG_FOR_CAP) {
		char owner[96];
		h_owner(owner, sizeof(owner), "ev-fill");
		char *auth = h_bearer(H_SECRET, owner, 600);
		for (uint64_t i = last; i < MIN_LOG_FOR_CAP; i++) {
			Property__V1__Property *p = h_create(c->p.cli, auth, "");
			if (p == NULL)
				break;
			protobuf_c_message_free_unpacked(&p->base, NULL);
		}
		free(auth);
		for (int64_t end = h_now_ms() + SETTLE_MS;
		     last_seq(c->p.cli, c->auth_reader) < MIN_LOG_FOR_CAP && h_now_ms() < end;)
			h_sleep_ms(100);
	}
	static const struct {
		const char *name;
		uint64_t after;
		uint32_t limit;
		size_t want;
	} limits[] = {
	    {"limit 0 means 100", 0, 0, 100},
	    {"limit 7", 0, 7, 7},
	    {"limit 1000", 0, 1000, 1000},
	    {"limit 5000 means 1000", 0, 5000, 1000},
	    {"limit 1001 means 1000", 0, 1001, 1000},
	    {"after 10 limit 3", 10, 3, 3},
	};
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		unsigned code;
		Property__V1__ReadEventsResponse *er = read_events(
		    c->p.cli, c->auth_reader, limits[i].after, limits[i].limit, NULL, &code);
		H_CHECK(code == 0 && er != NULL && er->n_events == limits[i].want,
		        "%s: code %u, %zu events, want %zu", limits[i].name, code,
		        er ? er->n_events : 0, limits[i].want);
		if (er == NULL)
			continue;
		for (size_t k = 0; k < er->n_events; k++)
			H_CHECK(er->events[k]->seq == limits[i].after + 1 + k,
			        "%s: event %zu has seq %llu, want %llu", limits[i].name, k,
			        (unsigned long long)er->events[k]->seq,
			        (unsigned long long)(limits[i].after + 1 + k));
		H_CHECK(er->n_events == 0 || er->last_seq >= er->events[er->n_events - 1]->seq,
		        "%s: last_seq %llu below the events returned", limits[i].name,
		        (unsigned long long)er->last_seq);
		protobuf_c_message_free_unpacked(&er->base, NULL);
	}
	// After the newest: nothing, and last_seq still says where the log is.
	uint64_t ls = last_seq(c->p.cli, c->auth_reader);
	unsigned code;
	Property__V1__ReadEventsResponse *er =
	    read_events(c->p.cli, c->auth_reader, ls + 1000, 10, NULL, &code);
	H_CHECK(code == 0 && er != NULL && er->n_events == 0 && er->last_seq >= ls,
	        "after the newest seq: code %u, %zu events, last_seq %llu (was %llu)", code,
	        er ? er->n_events : 0, er ? (unsigned long long)er->last_seq : 0ULL,
	        (unsigned long long)ls);
	if (er != NULL)
		protobuf_c_message_free_unpacked(&er->base, NULL);
	// type_prefix filters, in seq order.
	static const char *const prefixes[] = {"property.deleted", "property.created",
	                                       "property.up", "property.nothing"};
	for (size_t i = 0; i < 4; i++) {
		er = read_events(c->p.cli, c->auth_reader, 0, 50, prefixes[i], &code);
		H_CHECK(code == 0 && er != NULL, "type_prefix %s: code %u", prefixes[i], code);
		if (er == NULL)
			continue;
		uint64_t prev = 0;
		for (size_t k = 0; k < er->n_events; k++) {
			H_CHECK(strncmp(er->events[k]->type, prefixes[i], strlen(prefixes[i])) == 0,
			        "type_prefix %s returned %s", prefixes[i], er->events[k]->type);
			H_CHECK(er->events[k]->seq > prev, "type_prefix %s: seq order",
			        prefixes[i]);
			prev = er->events[k]->seq;
		}
		if (i < 3)
			H_CHECK(er->n_events > 0, "type_prefix %s: no events", prefixes[i]);
		else
			H_CHECK(er->n_events == 0, "type_prefix %s: %zu events", prefixes[i],
			        er->n_events);
		protobuf_c_message_free_unpacked(&er->base, NULL);
	}
	// The first event of the log is seq 1.
	er = read_events(c->p.cli, c->auth_reader, 0, 1, NULL, &code);
	H_CHECK(er != NULL && er->n_events == 1 && er->events[0]->seq == 1,
	        "the log does not start at seq 1");
	if (er != NULL)
		protobuf_c_message_free_unpacked(&er->base, NULL);
}

static void case_event_contents(void *arg)
{
	ctx *c = arg;
	char owner[96];
	h_owner(owner, sizeof(owner), "ev-one");
	char *auth = h_bearer(H_SECRET, owner, 600);
	uint64_t from = last_seq(c->p.cli, c->auth_reader);
	Property__V1__Property *p = h_create(c->p.cli, auth, "");
	if (p == NULL) {
		free(auth);
		return;
	}
	Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
	d.id = p->id;
	h_md md = {.auth = auth};
	h_call(c->p.cli, M_DELETE, &d.base, &property__v1__delete_property_response__descriptor,
	       &md, NULL, NULL);
	int found = 0;
	for (int64_t end = h_now_ms() + SETTLE_MS; found < 2 && h_now_ms() < end;) {
		unsigned code;
		Property__V1__ReadEventsResponse *er =
		    read_events(c->p.cli, c->auth_reader, from, 1000, NULL, &code);
		found = 0;
		for (size_t k = 0; er != NULL && k < er->n_events; k++) {
			const Property__V1__Event *e = er->events[k];
			if (strcmp(e->aggregate_id, p->id) != 0)
				continue;
			found++;
			bool created = strcmp(e->type, "property.created") == 0;
			bool deleted = strcmp(e->type, "property.deleted") == 0;
			H_CHECK(created || deleted, "unexpected type %s", e->type);
			H_CHECK(strlen(e->id) == 36 && strcmp(e->id, p->id) != 0,
			        "event id %s is not its own UUID", e->id);
			H_CHECK(strcmp(e->owner_id, owner) == 0, "event owner %s", e->owner_id);
			H_CHECK(e->occurred_at_us > 0, "occurred_at_us %lld",
			        (long long)e->occurred_at_us);
			H_CHECK(e->property != NULL && strcmp(e->property->id, p->id) == 0 &&
			            strcmp(e->property->title, p->title) == 0 &&
			            e->property->version == 1,
			        "%s event does not carry the property's (last) state", e->type);
		}
		if (er != NULL)
			protobuf_c_message_free_unpacked(&er->base, NULL);
		if (found < 2)
			h_sleep_ms(50);
	}
	H_CHECK(found == 2, "%d events for a create and a delete, want 2", found);
	protobuf_c_message_free_unpacked(&p->base, NULL);
	free(auth);
}

// SIGTERM flushes the relay: every acknowledged write's event is published
// before the process exits.
static void case_flush_on_sigterm(void *arg)
{
	ctx *c = arg;
	reset_run(c, 1);
	const char *eurl = c->p.events_url;
	if (sub_start(c, &eurl, 1, "property.") != 0)
		return;
	char *auth = h_bearer(H_SECRET, c->owners[0], 600);
	char ids[FLUSH_BURST][40];
	int n = 0;
	for (int i = 0; i < FLUSH_BURST; i++) {
		Property__V1__Property *p = h_create(c->p.cli, auth, "");
		if (p == NULL)
			break;
		snprintf(ids[n++], sizeof(ids[0]), "%s", p->id);
		protobuf_c_message_free_unpacked(&p->base, NULL);
	}
	kill(c->p.pid, SIGTERM);
	int rc = h_wait_exit(&c->p, H_STOP_WAIT_S * 1000);
	H_CHECK(rc == 0, "exit status %d after SIGTERM", rc);
	h_sleep_ms(300); // messages already sent are still in flight to us
	sub_stop(c);
	int missing = 0;
	for (int i = 0; i < n; i++) {
		bool seen = false;
		for (size_t k = 0; k < c->got.n && !seen; k++)
			seen = strcmp(c->got.v[k].aggr, ids[i]) == 0;
		missing += !seen;
	}
	H_CHECK(missing == 0,
	        "%d of %d creates acknowledged just before SIGTERM were never published (the "
	        "relay was not flushed)",
	        missing, n);
	free(auth);
	h_stop(&c->p); // reaped: scans the log
}

static int leader_of(h_proc *a, h_proc *b)
{
	double la = h_metric_now(a, "propertyd_relay_leader");
	double lb = h_metric_now(b, "propertyd_relay_leader");
	if (la == 1 && lb == 0)
		return 0;
	if (lb == 1 && la == 0)
		return 1;
	return -1;
}

static void case_failover(void *arg)
{
	ctx *c = arg;
	// The shared instance would compete for leadership: stop it first.
	int rc = h_stop(&c->p);
	H_CHECK(rc == 0, "exit status %d", rc);
	h_proc in[2];
	memset(in, 0, sizeof(in));
	if (h_start(&in[0], NULL) != 0 || h_start(&in[1], NULL) != 0)
		goto out;
	int leader = -1;
	for (int64_t end = h_now_ms() + LEADER_WAIT_MS; leader < 0 && h_now_ms() < end;) {
		leader = leader_of(&in[0], &in[1]);
		if (leader < 0)
			h_sleep_ms(100);
	}
	if (leader < 0) {
		H_FAIL("not exactly one relay leader among two instances (propertyd_relay_leader)");
		goto out;
	}
	int survivor = 1 - leader;
	reset_run(c, FAILOVER_WRITERS);
	const char *eurls[2] = {in[0].events_url, in[1].events_url};
	if (sub_start(c, eurls, 2, "property.") != 0)
		goto out;
	uint64_t from = last_seq(in[survivor].cli, c->auth_reader);
	const char *wurls[2] = {in[0].rpc_url, in[1].rpc_url};
	c->write_urls = wurls;
	c->n_write_urls = 2;
	c->failover = true;
	run_writers(c, FAILOVER_WRITERS, FAILOVER_MS, &in[leader], KILL_AFTER_MS);
	bool took_over = false;
	for (int64_t end = h_now_ms() + LEADER_WAIT_MS; !took_over && h_now_ms() < end;) {
		took_over = h_metric_now(&in[survivor], "propertyd_relay_leader") == 1;
		if (!took_over)
			h_sleep_ms(100);
	}
	H_CHECK(took_over, "the surviving instance did not become the relay leader within %d ms",
	        LEADER_WAIT_MS);
	fprintf(stderr, "  %zu acknowledged changes, %d of unknown outcome\n", c->n_changes,
	        c->ambiguous);
	evlist log = {0};
	settle(c, in[survivor].cli, from, &log);
	check_log(c, &log, from, true);
	h_sleep_ms(500);
	sub_stop(c);
	size_t back = 0;
	for (size_t i = 1; i < c->got.n; i++)
		back += c->got.v[i].seq <= c->got.v[i - 1].seq;
	if (back != 0)
		fprintf(stderr,
		        "NOTE: %zu events re-published or out of order around the failover\n",
		        back);
	free(log.v);
out:
	for (int i = 0; i < 2; i++) {
		if (in[i].dir[0] == '\0')
			continue;
		if (in[i].pid != 0) {
			rc = h_stop(&in[i]);
			H_CHECK(rc == 0, "survivor exit status %d", rc);
		}
		h_cleanup(&in[i]);
	}
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"publish_exactly_once", case_publish_exactly_once},
	    {"prefix_subscription", case_prefix_subscription},
	    {"read_events_rules", case_read_events_rules},
	    {"event_contents", case_event_contents},
	    {"flush_on_sigterm", case_flush_on_sigterm}, // stops the shared instance
	    {"failover", case_failover},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx *c = calloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->auth_reader = h_bearer(H_SECRET, "it-events-reader", 600);
	if (h_start(&c->p, NULL) == 0) {
		h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), c, argc, argv);
		if (c->p.pid != 0) {
			rc = h_stop(&c->p);
			H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
		}
	}
	h_cleanup(&c->p);
	free(c->auth_reader);
	free(c->changes);
	free(c->got.v);
	pthread_mutex_destroy(&c->mu);
	free(c);
	return h_status();
}
