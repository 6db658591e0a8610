#include "propsub.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/nngclose.h"
#include "nrpc/client.h"
#include "nrpc/tls.h"
#include "subtcp.h"

// The socket's receive buffer, in messages. nng's default (128) overflows in
// a burst (one relay claim publishes up to 256 at once) and while we are busy
// in a ReadEvents call; overflow only costs a re-read, but it should be rare.
#define PROPSUB_RECVBUF 1024
// Larger messages are dropped by the transport: an event is a few hundred
// bytes, a description at most 10,000; 1 MiB is far above any real one.
#define PROPSUB_RECVMAXSZ (1024 * 1024)
// Receive slice: how soon a stop or the run's timeout is noticed.
#define PROPSUB_SLICE_MS 100
// Events asked for per ReadEvents call (the server's maximum).
#define PROPSUB_READ_LIMIT 1000
// ReadEvents pages per sync before the loop looks at the socket and the stop
// flag again (a long catch-up goes on at the next turn).
#define PROPSUB_SYNC_MAX_PAGES 16
// After a failed ReadEvents, the next try waits this long.
#define PROPSUB_RETRY_MS 1000
// The type part of a live message is at most this long (then it is malformed).
#define PROPSUB_TYPE_MAX 256
// A token or prefix longer than this is refused at open.
#define PROPSUB_STR_MAX 8192

static const char READ_EVENTS[] = "/property.v1.EventService/ReadEvents";
// The status ReadEvents answers when events after the position were pruned.
#define PROPSUB_OUT_OF_RANGE 11u

struct propsub {
	nng_socket sock;  // unless tcp: nng's sub0, dialing every events URL
	propsub_tcp *tcp; // every events URL is tcp://: our own connections
	nrpc_client *rpc;
	char *prefix; // "" for all
	size_t prefix_len;
	char *auth; // "Bearer <token>", or NULL
	bool filter_locally;
	void (*on_event)(const Property__V1__Event *ev, void *arg);
	void (*on_reread)(uint64_t from, uint64_t to, void *arg);
	void (*on_error)(unsigned code, const char *message, void *arg);
	void *arg;

	uint64_t next;       // the next seq to deliver (all below are done)
	bool next_known;     // false while started "from now" and not located yet
	bool need_sync;      // the log must be read before trusting the stream
	uint64_t live_high;  // the highest seq seen on the live stream
	int64_t quiet_since; // last live message or sync, for the lost-tail check
	int64_t retry_at;    // no ReadEvents before this after a failure
	bool read_failing;   // the last ReadEvents failed (reported once)
	bool pruned;         // the log was pruned past next: given up (run returns -1)
	atomic_bool stop;
	propsub_stats st;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool type_matches(const propsub *s, const char *type, size_t len)
{
	return len >= s->prefix_len && memcmp(type, s->prefix, s->prefix_len) == 0;
}

static void deliver(propsub *s, const Property__V1__Event *ev, bool reread)
{
	s->on_event(ev, s->arg);
	s->st.delivered++;
	if (reread)
		s->st.reread++;
}

// One ReadEvents call after s->next - 1. 0 and *out (free_unpacked), or -1.
static int read_page(propsub *s, uint64_t after, uint32_t limit,
                     Property__V1__ReadEventsResponse **out)
{
	Property__V1__ReadEventsRequest req = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
	req.after_seq = after;
	req.limit = limit;
	req.type_prefix = s->prefix;
	nrpc_meta md = {"authorization", s->auth};
	nrpc_result res;
	ProtobufCMessage *reply = NULL;
	s->st.read_calls++;
	int rc = nrpc_client_call(s->rpc, READ_EVENTS, &req.base,
	                          &property__v1__read_events_response__descriptor, &md,
	                          s->auth != NULL ? 1 : 0, PROPSUB_RPC_TIMEOUT_MS, &reply, &res);
	if (rc == 0 && reply == NULL && res.code == PROPSUB_OUT_OF_RANGE) {
		// Retention removed events we have not delivered: retrying cannot
		// help, and skipping them silently would break exactly-once.
		fprintf(stderr, "propsub: ReadEvents: %s (code %u); giving up\n", res.message,
		        res.code);
		s->st.read_errors++;
		s->pruned = true;
		atomic_store(&s->stop, true);
		if (s->on_error != NULL)
			s->on_error(res.code, res.message != NULL ? res.message : "", s->arg);
		nrpc_result_free(&res);
		return -1;
	}
	if (rc != 0 || reply == NULL) {
		// Said once per outage; the stats count every failure.
		if (!s->read_failing)
			fprintf(stderr, "propsub: ReadEvents failed: %s (code %u); retrying\n",
			        rc == 0 ? res.message : "out of memory", rc == 0 ? res.code : 13u);
		s->read_failing = true;
		s->st.read_errors++;
		if (rc == 0)
			nrpc_result_free(&res);
		return -1;
	}
	s->read_failing = false;
	nrpc_result_free(&res);
	*out = (Property__V1__ReadEventsResponse *)reply;
	return 0;
}

// Locates "now" for PROPSUB_FROM_NOW: the newest seq in the log.
static int locate_now(propsub *s)
{
	Property__V1__ReadEventsResponse *r;
	if (read_page(s, 0, 1, &r) != 0)
		return -1;
	s->next = r->last_seq + 1;
	s->next_known = true;
	s->need_sync = false;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

// Reads the log from s->next until caught up, or up to seq `upto` (a gap
// before a live event), or PROPSUB_SYNC_MAX_PAGES, delivering what it
// returns. Returns 0, or -1 when a call failed (need_sync stays set).
//
// Caught up means a reply ended at the log's last_seq or returned nothing
// new. Seqs that the replies skipped do not match the prefix; `next` jumps
// over them up to the first returned event above `upto`, or up to last_seq
// but never past live_high: an event seen live was committed before this
// call began, so the reply's snapshot covers it, whatever moment the server
// took last_seq at.
static int sync_log(propsub *s, uint64_t upto)
{
	if (!s->next_known)
		return locate_now(s);
	s->need_sync = true;
	for (int page = 0; page < PROPSUB_SYNC_MAX_PAGES; page++) {
		Property__V1__ReadEventsResponse *r;
		if (read_page(s, s->next - 1, PROPSUB_READ_LIMIT, &r) != 0)
			return -1;
		uint64_t rr_from = 0, rr_to = 0, last = 0;
		bool done = false, stopped = false;
		for (size_t i = 0; i < r->n_events && !done; i++) {
			const Property__V1__Event *ev = r->events[i];
			if (ev->seq < s->next || ev->seq == UINT64_MAX)
				continue; // never expected (2^64 - 1 would wrap next); skip
			if (ev->seq > upto) {
				// Nothing matches between next and upto.
				if (upto >= s->next)
					s->next = upto + 1;
				done = true;
			} else if (atomic_load(&s->stop)) {
				stopped = true;
				break;
			} else {
				deliver(s, ev, true);
				s->next = ev->seq + 1;
				last = ev->seq;
				if (rr_from == 0)
					rr_from = ev->seq;
				rr_to = ev->seq;
			}
		}
		if (!done && !stopped && (last == 0 || last >= r->last_seq)) {
			uint64_t known = r->last_seq < s->live_high ? r->last_seq : s->live_high;
			if (known > upto)
				known = upto;
			if (known >= s->next)
				s->next = known + 1;
			done = true;
		}
		if (done)
			s->need_sync = false;
		protobuf_c_message_free_unpacked(&r->base, NULL);
		if (rr_from != 0 && s->on_reread != NULL)
			s->on_reread(rr_from, rr_to, s->arg);
		if (done || stopped)
			return 0;
	}
	return 0;
}

// A sync that remembers its failure, so the next try waits PROPSUB_RETRY_MS.
static void try_sync(propsub *s, uint64_t upto)
{
	int64_t now = now_ms();
	if (now < s->retry_at)
		return;
	if (sync_log(s, upto) != 0) {
		s->need_sync = true;
		s->retry_at = now + PROPSUB_RETRY_MS;
	}
	s->quiet_since = now_ms();
}

static void on_live(propsub *s, const Property__V1__Event *ev, bool matches)
{
	if (ev->seq > s->live_high)
		s->live_high = ev->seq;
	if (!s->next_known) {
		// From now, and the log could not be read: start at this event.
		s->next = ev->seq;
		s->next_known = true;
		s->need_sync = false;
	}
	if (ev->seq < s->next) {
		s->st.duplicates++;
		return;
	}
	if (ev->seq > s->next) {
		try_sync(s, ev->seq - 1);
		// Still short of it: the log could not be read now. The event is
		// in the log and will be read from there.
		if (ev->seq != s->next) {
			s->need_sync = true;
			return;
		}
	}
	if (atomic_load(&s->stop))
		return; // left for the next run (from the log)
	if (matches)
		deliver(s, ev, false);
	s->next = ev->seq + 1;
}

// Decodes one live message (type, 0x00, Event) and handles it.
static void on_message(propsub *s, const uint8_t *body, size_t len)
{
	size_t scan = len < PROPSUB_TYPE_MAX ? len : PROPSUB_TYPE_MAX;
	const uint8_t *nul = memchr(body, 0, scan);
	Property__V1__Event *ev = NULL;
	if (nul != NULL) {
		size_t tlen = (size_t)(nul - body);
		ev = property__v1__event__unpack(NULL, len - tlen - 1, nul + 1);
		// Seqs start at 1 and never come near 2^64 - 1, whose successor
		// would wrap the position to 0 ("from now"): both are malformed.
		if (ev != NULL && ev->seq != 0 && ev->seq != UINT64_MAX) {
			s->quiet_since = now_ms();
			on_live(s, ev, type_matches(s, (const char *)body, tlen));
			property__v1__event__free_unpacked(ev, NULL);
			return;
		}
	}
	s->st.malformed++;
	if (ev != NULL)
		property__v1__event__free_unpacked(ev, NULL);
}

int propsub_run(propsub *s, int timeout_ms)
{
	int64_t until = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
	while (!atomic_load(&s->stop) && now_ms() < until) {
		if (s->need_sync || now_ms() - s->quiet_since >= PROPSUB_SILENCE_MS)
			try_sync(s, UINT64_MAX);
		if (s->pruned)
			break;
		if (s->tcp != NULL) {
			const uint8_t *body;
			size_t len;
			if (propsub_tcp_recv(s->tcp, PROPSUB_SLICE_MS, &body, &len) != 0)
				continue;
			// What nng's subscription does: the prefix's bytes lead the message.
			if (s->filter_locally ||
			    (len >= s->prefix_len && memcmp(body, s->prefix, s->prefix_len) == 0))
				on_message(s, body, len);
			continue;
		}
		nng_msg *m;
		int rv = nng_recvmsg(s->sock, &m, 0);
		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv != 0) {
			fprintf(stderr, "propsub: receive failed: %s\n", nng_strerror(rv));
			return -1;
		}
		on_message(s, nng_msg_body(m), nng_msg_len(m));
		nng_msg_free(m);
	}
	return s->pruned ? -1 : 0;
}

void propsub_stop(propsub *s)
{
	atomic_store(&s->stop, true);
}

uint64_t propsub_position(const propsub *s)
{
	return s->next_known ? s->next - 1 : PROPSUB_FROM_NOW;
}

void propsub_get_stats(const propsub *s, propsub_stats *out)
{
	*out = s->st;
}

static char *copy_str(const char *v, size_t extra_prefix_len, const char *extra_prefix)
{
	size_t n = strlen(v);
	char *p = malloc(extra_prefix_len + n + 1);
	if (p != NULL) {
		memcpy(p, extra_prefix, extra_prefix_len);
		memcpy(p + extra_prefix_len, v, n + 1);
	}
	return p;
}

static int open_socket(propsub *s, const propsub_config *cfg, char *err, size_t errcap)
{
	if (propsub_tcp_serves_all(cfg->event_urls, cfg->n_event_urls))
		return propsub_tcp_open(&s->tcp, cfg->event_urls, cfg->n_event_urls,
		                        PROPSUB_RECVMAXSZ, err, errcap);
	int rv;
	const char *what = "sub0_open";
	if ((rv = nng_sub0_open(&s->sock)) != 0)
		goto fail;
	what = "options";
	if ((rv = nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, PROPSUB_RECVBUF)) != 0 ||
	    (rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, PROPSUB_RECVMAXSZ)) != 0 ||
	    (rv = nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, PROPSUB_SLICE_MS)) != 0)
		goto fail_close;
	// The subscription is a byte prefix: exactly the prefix's bytes, no NUL.
	what = "subscribe";
	size_t sublen = s->filter_locally ? 0 : s->prefix_len;
	if ((rv = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, s->prefix, sublen)) != 0)
		goto fail_close;
	// tls+tcp:// URLs with events_tls (refused without a CA or the opt-out).
	for (size_t i = 0; i < cfg->n_event_urls; i++) {
		char why[256];
		if (nrpc_tls_dial(s->sock, cfg->event_urls[i], cfg->events_tls, why, sizeof why) !=
		    0) {
			nng_close(s->sock);
			snprintf(err, errcap, "propsub: events socket: %s", why);
			return -1;
		}
	}
	return 0;
fail_close:
	nng_close(s->sock);
fail:
	snprintf(err, errcap, "propsub: events socket %s: %s", what, nng_strerror(rv));
	return -1;
}

// nng's close is bounded: with events still arriving it can hang for ever in
// nng 1.5.2 (docs/dependencies.md); a stuck socket is left behind.
static void close_socket(propsub *s)
{
	if (s->tcp != NULL)
		propsub_tcp_close(s->tcp);
	else
		(void)base_nng_close(s->sock, BASE_NNG_CLOSE_BUDGET_MS);
}

int propsub_open(propsub **out, const propsub_config *cfg, char *err, size_t errcap)
{
	if (cfg == NULL || cfg->on_event == NULL || cfg->n_event_urls == 0 ||
	    cfg->n_rpc_urls == 0) {
		snprintf(err, errcap, "propsub: on_event, an events URL and an RPC URL are needed");
		return -1;
	}
	const char *prefix = cfg->type_prefix != NULL ? cfg->type_prefix : "";
	if (strlen(prefix) > PROPSUB_TYPE_MAX ||
	    (cfg->token != NULL && strlen(cfg->token) > PROPSUB_STR_MAX)) {
		snprintf(err, errcap, "propsub: type prefix or token too long");
		return -1;
	}
	propsub *s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto oom;
	s->prefix = copy_str(prefix, 0, "");
	if (s->prefix == NULL)
		goto oom;
	s->prefix_len = strlen(prefix);
	if (cfg->token != NULL && cfg->token[0] != '\0' &&
	    (s->auth = copy_str(cfg->token, 7, "Bearer ")) == NULL)
		goto oom;
	s->filter_locally = cfg->filter_locally;
	s->on_event = cfg->on_event;
	s->on_reread = cfg->on_reread;
	s->on_error = cfg->on_error;
	s->arg = cfg->arg;
	s->next_known = cfg->from_seq != PROPSUB_FROM_NOW;
	s->next = s->next_known ? cfg->from_seq + 1 : 0;
	s->need_sync = true;
	s->quiet_since = now_ms();
	atomic_init(&s->stop, false);

	if (open_socket(s, cfg, err, errcap) != 0)
		goto fail;
	if (nrpc_client_open_tls(&s->rpc, (const char *const *)cfg->rpc_urls, cfg->n_rpc_urls,
	                         cfg->rpc_tls, err, errcap) != 0) {
		close_socket(s);
		goto fail;
	}
	*out = s;
	return 0;
oom:
	snprintf(err, errcap, "propsub: out of memory");
fail:
	if (s != NULL) {
		free(s->prefix);
		free(s->auth);
		free(s);
	}
	return -1;
}

void propsub_close(propsub *s)
{
	if (s == NULL)
		return;
	close_socket(s);
	nrpc_client_close(s->rpc);
	free(s->prefix);
	free(s->auth);
	free(s);
}
