#include "events/relay.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigend.h"
#include "base/clock.h"
#include "base/nngclose.h"
#include "events/pubtcp.h"
#include "nrpc/connlimit.h"
#include "obs/log.h"
#include "store/outbox.h"

// Rows claimed per transaction: large enough to keep up with a burst of
// writers in few round trips, small enough that one claim stays short.
#define RELAY_BATCH 256
// PUB keeps only 16 messages per subscriber by default and drops the oldest
// silently; a burst of one full claim (256) and then some must fit, so a
// subscriber that reads a little late does not need ReadEvents.
#define RELAY_PUB_SENDBUF 1024
// Subscribers never send: anything bigger than this from a peer is refused.
#define RELAY_PUB_RECVMAXSZ 256
// How often a follower asks for leadership: a crashed leader is replaced
// within about this long (plus the database noticing the dead connection).
#define RELAY_LEAD_RETRY_MS 1000
// Back-off after a connection error, so a database that is down is not hammered.
#define RELAY_RETRY_MS 1000
// The relay thread never sleeps longer than this at once, so events_relay_stop() is
// answered quickly even while waiting for notifications.
#define RELAY_SLICE_MS 100
// How often the lag gauges are refreshed.
#define RELAY_LAG_EVERY_MS 1000
// Claims are at least this far apart, so that under load one claim (one
// transaction, one relay_state update) takes a burst of rows instead of one
// row per commit; after a quiet spell the first commit is claimed at once.
// A follower likewise sends at most one NOTIFY per this interval.
#define RELAY_GATHER_MS 3
// How often the leader prunes events older than the retention.
#define RELAY_PRUNE_EVERY_MS (60 * 1000) // contract: at least once a minute
// On stop, the leader keeps claiming and publishing pending rows for at most
// this long; what is left is published by the next leader.
#define RELAY_FLUSH_BUDGET_MS 2000
// After the last publish, time for nng to push queued messages out of the
// pipes before the socket is closed (subscribers re-read whatever is lost).
#define RELAY_LINGER_MS 200
// nng_close may hang (nng 1.5.2, see base/nngclose.h): the shutdown waits at most this long for it.
#define RELAY_CLOSE_TIMEOUT_MS 2000
// Distinct event types with their own counter series; more go under "other"
// so that a bad row cannot grow the metrics without bound.
#define RELAY_MAX_TYPES           8
#define RELAY_TYPE_MAX_LEN        64
#define RELAY_DEFAULT_POLL_MS     250 // the safety net when a NOTIFY was lost
#define RELAY_DEFAULT_RETENTION_S (7 * 24 * 3600)

typedef struct type_counter {
	char type[RELAY_TYPE_MAX_LEN];
	obs_counter *counter;
} type_counter;

struct events_relay {
	store_outbox *ob;     // owned by the relay thread while it runs
	nng_socket sock;      // tls+tcp:// and the other schemes: nng's pub0
	events_pubtcp *pub;   // tcp://: our own PUB transport (then sock is unused)
	nrpc_connlimit conns; // subscribers of sock or pub
	uint8_t *frames;      // the relay thread's: one claim's events, framed for pub
	size_t frames_cap;
	uint64_t pub_dropped; // pub's drop count as last added to c_dropped
	void (*published)(void *arg, const store_outbox_change *ch, size_t n);
	void *published_arg;
	store_outbox_change changes[RELAY_BATCH]; // the relay thread's: for published()
	obs_registry *reg;
	bool own_reg;
	int64_t retention_s;
	int poll_ms;
	pthread_t thread;
	atomic_bool stop;
	atomic_bool leader;
	int kick_fd;        // eventfd: events_relay_kick() -> the relay thread
	atomic_bool kicked; // a kick is pending (saves a write per commit)

	obs_gauge *g_leader;
	obs_gauge *g_lag_rows;
	obs_gauge *g_lag_seconds;
	obs_counter *c_errors;
	obs_counter *c_dropped;
	obs_counter *c_other;
	type_counter types[RELAY_MAX_TYPES];
	size_t n_types;

	// Thread-local state of the loop.
	bool conn_error_logged;
	int64_t next_lag_ms;
	int64_t next_prune_ms;
	int64_t next_try_lead_ms;
	int64_t last_claim_ms;
	bool caught_up; // leading: the last claim took every row there was
};

static obs_counter *type_counter_for(events_relay *r, const char *type)
{
	for (size_t i = 0; i < r->n_types; i++) {
		if (strcmp(r->types[i].type, type) == 0)
			return r->types[i].counter;
	}
	if (r->n_types == RELAY_MAX_TYPES || strlen(type) >= RELAY_TYPE_MAX_LEN)
		return r->c_other;
	char esc[2 * RELAY_TYPE_MAX_LEN + 1];
	char labels[sizeof(esc) + 16];
	snprintf(labels, sizeof(labels), "type=\"%s\"", obs_label_escape(type, esc, sizeof(esc)));
	type_counter *tc = &r->types[r->n_types++];
	snprintf(tc->type, sizeof(tc->type), "%s", type);
	tc->counter = obs_counter_get(r->reg, "propertyd_events_published_total",
	                              "Events published on the PUB socket, by type.", labels);
	return tc->counter;
}

// One event, one message: type bytes, 0x00, serialized Event.
static int publish_one(events_relay *r, const Property__V1__Event *ev)
{
	const char *type = ev->type != NULL ? ev->type : "";
	size_t tlen = strlen(type);
	size_t plen = property__v1__event__get_packed_size(ev);
	nng_msg *m;
	int rv = nng_msg_alloc(&m, tlen + 1 + plen);
	if (rv == 0) {
		uint8_t *body = nng_msg_body(m);
		memcpy(body, type, tlen);
		body[tlen] = 0;
		property__v1__event__pack(ev, body + tlen + 1);
		// On failure the message is still ours (nng's send contract).
		if ((rv = nng_sendmsg(r->sock, m, 0)) != 0)
			nng_msg_free(m);
	}
	if (rv != 0) {
		obs_counter_add(r->c_errors, 1);
		OBS_LOG(OBS_WARN, "event publish failed; subscribers will re-read it",
		        OBS_I("seq", ev->seq), OBS_S("type", type),
		        OBS_S("error", nng_strerror(rv)));
		return -1;
	}
	obs_counter_add(type_counter_for(r, type), 1);
	return 0;
}

static const char *type_of(const Property__V1__Event *ev)
{
	return ev->type != NULL ? ev->type : "";
}

// Frames the n events into r->frames; the bytes written, or 0 when memory
// ran out.
static size_t frame_all(events_relay *r, Property__V1__Event *const *evs, int n)
{
	size_t need = 0;
	for (int i = 0; i < n; i++)
		need +=
		    8 + strlen(type_of(evs[i])) + 1 + property__v1__event__get_packed_size(evs[i]);
	if (need > r->frames_cap) {
		uint8_t *b = realloc(r->frames, need);
		if (b == NULL)
			return 0;
		r->frames = b;
		r->frames_cap = need;
	}
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		size_t tlen = strlen(type_of(evs[i]));
		uint8_t *body = r->frames + off + 8;
		memcpy(body, type_of(evs[i]), tlen);
		body[tlen] = 0;
		size_t plen = property__v1__event__pack(evs[i], body + tlen + 1);
		base_be64_put(r->frames + off, tlen + 1 + plen);
		off += 8 + tlen + 1 + plen;
	}
	return off;
}

// The messages of one claim framed as SP messages (8-byte big-endian length,
// then what publish_one sends), handed to the own transport at once: one
// write per subscriber for the whole claim.
static void publish_framed(events_relay *r, Property__V1__Event *const *evs, int n)
{
	size_t len = frame_all(r, evs, n);
	if (len == 0 || events_pubtcp_publish(r->pub, r->frames, len) != 0) {
		obs_counter_add(r->c_errors, (uint64_t)n);
		OBS_LOG(OBS_WARN,
		        "event publish failed (out of memory); subscribers will re-read them",
		        OBS_I("events", n));
		return;
	}
	for (int i = 0; i < n; i++)
		obs_counter_add(type_counter_for(r, type_of(evs[i])), 1);
	uint64_t dropped = events_pubtcp_dropped(r->pub);
	if (dropped > r->pub_dropped) {
		obs_counter_add(r->c_dropped, dropped - r->pub_dropped);
		r->pub_dropped = dropped;
	}
}

void events_relay_kick(events_relay *r)
{
	if (r == NULL || atomic_exchange(&r->kicked, true))
		return; // one pending kick is enough
	uint64_t one = 1;
	if (write(r->kick_fd, &one, sizeof(one)) < 0) {
		// The counter cannot overflow with one pending kick; nothing to do.
	}
}

// Takes the pending kick, if any; true if there was one. The eventfd is
// drained before the flag is cleared: a kick that lands in between finds the
// flag still set and writes nothing, but its commit happened before it, so
// the claim that follows this call sees its row. (Clearing the flag first
// could swallow a kick's write and leave the relay deaf to every later one.)
static bool take_kick(events_relay *r)
{
	uint64_t v;
	while (read(r->kick_fd, &v, sizeof(v)) > 0)
		;
	return atomic_exchange(&r->kicked, false);
}

static void set_leader(events_relay *r, bool on)
{
	atomic_store(&r->leader, on);
	r->caught_up = false; // a new leader asks until its first claim
	obs_gauge_set(r->g_leader, on ? 1.0 : 0.0);
}

// A -1 from the outbox: the connection broke, and leadership with it.
static void conn_error(events_relay *r, const char *during)
{
	if (atomic_load(&r->leader)) {
		set_leader(r, false);
		OBS_LOG(OBS_WARN, "relay lost leadership (database connection error)",
		        OBS_S("during", during));
	} else if (!r->conn_error_logged) {
		OBS_LOG(OBS_WARN, "relay cannot reach the database; retrying",
		        OBS_S("during", during));
	}
	r->conn_error_logged = true;
}

static void sleep_sliced(events_relay *r, int ms)
{
	int64_t until = base_now_ms() + ms;
	while (!atomic_load(&r->stop)) {
		int64_t left = until - base_now_ms();
		if (left <= 0)
			break;
		nng_msleep((nng_duration)(left < RELAY_SLICE_MS ? left : RELAY_SLICE_MS));
	}
}

// The claim's changes, narrow, to the published() hook.
static void report_published(events_relay *r, Property__V1__Event *const *evs, int n)
{
	for (int i = 0; i < n && i < RELAY_BATCH; i++) {
		const Property__V1__Event *e = evs[i];
		store_outbox_change_set(&r->changes[i], e->seq,
		                        e->property != NULL ? e->property->version : 0,
		                        strcmp(type_of(e), "property.deleted") == 0,
		                        e->aggregate_id != NULL ? e->aggregate_id : "",
		                        e->owner_id != NULL ? e->owner_id : "");
	}
	r->published(r->published_arg, r->changes, (size_t)(n < RELAY_BATCH ? n : RELAY_BATCH));
}

// Claims one batch and publishes it. Returns the count or -1 (connection error).
static int claim_and_publish(events_relay *r)
{
	Property__V1__Event **evs = NULL;
	int n = store_outbox_claim(r->ob, RELAY_BATCH, &evs);
	if (n < 0) {
		conn_error(r, "claim");
		return -1;
	}
	if (r->pub != NULL && n > 0)
		publish_framed(r, evs, n);
	for (int i = 0; r->pub == NULL && i < n; i++)
		(void)publish_one(r, evs[i]);
	// A claim that took fewer rows than it could took every row there was:
	// the leader knows it is not behind without asking the database. (The
	// lag query costs a round trip, several ms under load, between claims.)
	if (r->published != NULL && n > 0)
		report_published(r, evs, n);
	r->caught_up = n < RELAY_BATCH;
	if (r->caught_up) {
		obs_gauge_set(r->g_lag_rows, 0);
		obs_gauge_set(r->g_lag_seconds, 0);
	}
	if (evs != NULL)
		store_outbox_events_free(evs, (size_t)n);
	return n;
}

// The periodic chores: lag gauges (every instance) and pruning (the leader).
// Returns -1 on a connection error.
static int chores(events_relay *r)
{
	int64_t now = base_now_ms();
	// The leader asks only while behind (its last claim was full); its claims
	// set the gauges to 0 otherwise.
	bool ask = !(atomic_load(&r->leader) && r->caught_up);
	if (ask && now >= r->next_lag_ms) {
		r->next_lag_ms = now + RELAY_LAG_EVERY_MS;
		int64_t rows = 0, oldest = 0;
		if (store_outbox_lag(r->ob, &rows, &oldest) < 0) {
			conn_error(r, "lag");
			return -1;
		}
		r->conn_error_logged = false;
		obs_gauge_set(r->g_lag_rows, (double)rows);
		obs_gauge_set(r->g_lag_seconds, (double)oldest / 1000.0);
	}
	if (atomic_load(&r->leader) && now >= r->next_prune_ms) {
		r->next_prune_ms = now + RELAY_PRUNE_EVERY_MS;
		int64_t n = store_outbox_prune(r->ob, r->retention_s);
		if (n < 0) {
			conn_error(r, "prune");
			return -1;
		}
		if (n > 0)
			OBS_LOG(OBS_INFO, "pruned old events", OBS_I("rows", n));
	}
	return 0;
}

// Waits up to ms for a kick (or a stop). True when kicked.
static bool wait_kick(events_relay *r, int64_t ms)
{
	int64_t until = base_now_ms() + ms;
	while (!atomic_load(&r->stop)) {
		int64_t left = until - base_now_ms();
		if (left <= 0)
			return false;
		struct pollfd pfd = {.fd = r->kick_fd, .events = POLLIN};
		if (poll(&pfd, 1, (int)(left < RELAY_SLICE_MS ? left : RELAY_SLICE_MS)) > 0)
			return take_kick(r);
	}
	return false;
}

static void follow_step(events_relay *r)
{
	int64_t now = base_now_ms();
	if (now >= r->next_try_lead_ms) {
		r->next_try_lead_ms = now + RELAY_LEAD_RETRY_MS;
		store_outbox_lead rc = store_outbox_try_lead(r->ob);
		if (rc == STORE_OUTBOX_LEAD_HELD) {
			set_leader(r, true);
			r->conn_error_logged = false;
			r->next_prune_ms = base_now_ms(); // prune once on taking over
			OBS_LOG(OBS_INFO, "relay is the leader; publishing events");
			return;
		}
		if (rc == STORE_OUTBOX_LEAD_ERROR) {
			conn_error(r, "try_lead");
			sleep_sliced(r, RELAY_RETRY_MS);
			return;
		}
		r->conn_error_logged = false;
		if (chores(r) < 0) {
			sleep_sliced(r, RELAY_RETRY_MS);
			return;
		}
	}
	// Another instance leads: tell it when this instance's writes committed
	// (one NOTIFY per burst, outside the writers' transactions).
	if (wait_kick(r, r->next_try_lead_ms - base_now_ms())) {
		nng_msleep(RELAY_GATHER_MS);
		take_kick(r);
		if (store_outbox_notify(r->ob) < 0)
			conn_error(r, "notify");
	}
}

// Sleeps until rows are announced or poll_ms passed, in slices so a stop is
// seen promptly. Returns 1 when woken by an announcement, 0 on timeout or
// stop, -1 on a connection error.
static int idle_wait(events_relay *r)
{
	int64_t until = base_now_ms() + r->poll_ms;
	while (!atomic_load(&r->stop)) {
		int64_t left = until - base_now_ms();
		if (left <= 0)
			return 0;
		store_outbox_wake rc = store_outbox_wait(
		    r->ob, (int)(left < RELAY_SLICE_MS ? left : RELAY_SLICE_MS), r->kick_fd);
		if (rc == STORE_OUTBOX_WAIT_ERROR) {
			conn_error(r, "wait");
			return -1;
		}
		if (rc == STORE_OUTBOX_WAIT_KICKED)
			take_kick(r);
		if (rc != STORE_OUTBOX_WAIT_TIMEOUT)
			return 1;
		if (chores(r) < 0)
			return -1;
	}
	return 0;
}

static void lead_step(events_relay *r)
{
	int n = claim_and_publish(r);
	r->last_claim_ms = base_now_ms();
	if (n < 0 || chores(r) < 0) {
		sleep_sliced(r, RELAY_RETRY_MS);
		return;
	}
	if (n == RELAY_BATCH)
		return; // more may be pending: claim again at once
	int woken = idle_wait(r);
	if (woken < 0) {
		sleep_sliced(r, RELAY_RETRY_MS);
		return;
	}
	// The first commit after a quiet spell is claimed at once; under load
	// claims are at least RELAY_GATHER_MS apart, so one claim takes a burst.
	int64_t since = base_now_ms() - r->last_claim_ms;
	if (woken == 1 && since < RELAY_GATHER_MS)
		nng_msleep((nng_duration)(RELAY_GATHER_MS - since));
}

static void flush(events_relay *r)
{
	int64_t until = base_now_ms() + RELAY_FLUSH_BUDGET_MS;
	while (atomic_load(&r->leader) && base_now_ms() < until) {
		if (claim_and_publish(r) < RELAY_BATCH)
			break;
	}
}

static void *relay_main(void *arg)
{
	events_relay *r = arg;
	while (!atomic_load(&r->stop)) {
		if (atomic_load(&r->leader))
			lead_step(r);
		else
			follow_step(r);
	}
	flush(r);
	return NULL;
}

void events_relay_connections(const events_relay *r, int *open, uint64_t *refused)
{
	nrpc_connlimit *cl = &((events_relay *)r)->conns;
	*open = atomic_load(&cl->open);
	*refused = atomic_load(&cl->refused);
}

static int open_socket(events_relay *r, const char *url, const nrpc_tls *tls,
                       unsigned max_subscribers, char *err, size_t errcap)
{
	if (events_pubtcp_serves(url))
		return events_pubtcp_start(&r->pub, url, max_subscribers, &r->conns, err, errcap);
	int rv;
	const char *what = "pub0_open";
	if ((rv = nng_pub0_open(&r->sock)) != 0)
		goto fail;
	what = "set sendbuf";
	if ((rv = nng_socket_set_int(r->sock, NNG_OPT_SENDBUF, RELAY_PUB_SENDBUF)) != 0)
		goto fail_close;
	what = "set recvmaxsz";
	if ((rv = nng_socket_set_size(r->sock, NNG_OPT_RECVMAXSZ, RELAY_PUB_RECVMAXSZ)) != 0)
		goto fail_close;
	what = "connection limit";
	if ((rv = nrpc_connlimit_install(&r->conns, r->sock, max_subscribers)) != 0)
		goto fail_close;
	char why[256];
	if ((rv = nrpc_tls_listen(r->sock, url, tls, why, sizeof why)) != 0) {
		nng_close(r->sock);
		snprintf(err, errcap, "events socket: %s", why);
		return -1;
	}
	return 0;
fail_close:
	nng_close(r->sock);
fail:
	snprintf(err, errcap, "events socket %s %s: %s", what, url, nng_strerror(rv));
	return -1;
}

// The own transport lingers for queued bytes itself (PUBTCP_LINGER_MS).
static void close_socket(events_relay *r)
{
	if (r->pub != NULL) {
		events_pubtcp_destroy(r->pub);
		r->pub = NULL;
	} else if (base_nng_close(r->sock, RELAY_CLOSE_TIMEOUT_MS) != 0) {
		OBS_LOG(OBS_WARN, "events socket close timed out; left behind");
	}
}

int events_relay_start(events_relay **out, const events_relay_config *cfg, char *err, size_t errcap)
{
	if (cfg == NULL || cfg->conninfo == NULL || cfg->pub_url == NULL) {
		snprintf(err, errcap, "relay: conninfo and pub_url are required");
		return -1;
	}
	events_relay *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errcap, "relay: out of memory");
		return -1;
	}
	r->retention_s = cfg->retention_s > 0 ? cfg->retention_s : RELAY_DEFAULT_RETENTION_S;
	r->poll_ms = cfg->poll_ms > 0 ? cfg->poll_ms : RELAY_DEFAULT_POLL_MS;
	r->published = cfg->published;
	r->published_arg = cfg->published_arg;
	r->reg = cfg->metrics;
	if (r->reg == NULL) {
		r->reg = obs_registry_create();
		r->own_reg = true;
	}
	atomic_init(&r->stop, false);
	atomic_init(&r->leader, false);
	r->g_leader = obs_gauge_get(r->reg, "propertyd_relay_leader",
	                            "1 when this instance leads the event relay.", NULL);
	r->g_lag_rows = obs_gauge_get(r->reg, "propertyd_relay_lag_rows",
	                              "Event-log rows appended but not yet published.", NULL);
	r->g_lag_seconds =
	    obs_gauge_get(r->reg, "propertyd_relay_lag_seconds",
	                  "Age of the oldest event-log row not yet published.", NULL);
	r->c_errors = obs_counter_get(r->reg, "propertyd_events_publish_errors_total",
	                              "Events whose PUB send failed.", NULL);
	r->c_dropped = obs_counter_get(
	    r->reg, "propertyd_events_subscriber_drops_total",
	    "Claims of events not queued for a subscriber whose backlog was full (it re-reads "
	    "them through ReadEvents); tcp:// only.",
	    NULL);
	r->c_other =
	    obs_counter_get(r->reg, "propertyd_events_published_total",
	                    "Events published on the PUB socket, by type.", "type=\"other\"");
	obs_gauge_set(r->g_leader, 0.0);

	r->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->kick_fd < 0) {
		snprintf(err, errcap, "relay: eventfd: %s", strerror(errno));
		goto fail;
	}
	if (store_outbox_open(&r->ob, cfg->conninfo, err, errcap) != 0)
		goto fail_fd;
	if (open_socket(r, cfg->pub_url, cfg->pub_tls, cfg->max_subscribers, err, errcap) != 0)
		goto fail_outbox;
	if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
		snprintf(err, errcap, "relay: cannot start thread");
		goto fail_sock;
	}
	pthread_setname_np(r->thread, "pd-relay");
	*out = r;
	return 0;

fail_sock:
	close_socket(r);
fail_outbox:
	store_outbox_close(r->ob);
fail_fd:
	close(r->kick_fd);
fail:
	if (r->own_reg)
		obs_registry_destroy(r->reg);
	free(r);
	return -1;
}

void events_relay_stop(events_relay *r)
{
	if (r == NULL)
		return;
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	if (r->pub == NULL && atomic_load(&r->leader))
		nng_msleep(RELAY_LINGER_MS);
	close_socket(r);
	// Closing the connection releases the advisory lock: another instance leads.
	store_outbox_close(r->ob);
	close(r->kick_fd);
	set_leader(r, false);
	if (r->own_reg)
		obs_registry_destroy(r->reg);
	free(r->frames);
	free(r);
}

bool events_relay_is_leader(events_relay *r)
{
	return atomic_load(&r->leader);
}
