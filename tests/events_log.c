// events_log: see events_log.h.
#include "events_log.h"

#include <nng/protocol/pubsub0/sub.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void evlist_push(evlist *l, const Property__V1__Event *e)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = realloc(l->v, l->cap * sizeof(ev));
	}
	ev *x = &l->v[l->n++];
	memset(x, 0, sizeof(*x));
	x->seq = e->seq;
	snprintf(x->id, sizeof(x->id), "%s", e->id);
	snprintf(x->type, sizeof(x->type), "%s", e->type);
	snprintf(x->aggr, sizeof(x->aggr), "%s", e->aggregate_id);
	snprintf(x->owner, sizeof(x->owner), "%s", e->owner_id);
	x->version = e->property != NULL ? e->property->version : 0;
}

// ---- committed changes, as acknowledged to writers ----------------------------------------

static void record(ctx *c, const char *aggr, const char *type, uint64_t version)
{
	pthread_mutex_lock(&c->mu);
	if (c->n_changes == c->cap_changes) {
		c->cap_changes = c->cap_changes ? c->cap_changes * 2 : 1024;
		c->changes = realloc(c->changes, c->cap_changes * sizeof(change));
	}
	change *ch = &c->changes[c->n_changes++];
	snprintf(ch->aggr, sizeof(ch->aggr), "%s", aggr);
	snprintf(ch->type, sizeof(ch->type), "%s", type);
	ch->version = version;
	pthread_mutex_unlock(&c->mu);
}

static bool ours(const ctx *c, const char *owner)
{
	for (int i = 0; i < WRITERS; i++)
		if (c->owners[i][0] != '\0' && strcmp(c->owners[i], owner) == 0)
			return true;
	return false;
}

// ---- subscriber --------------------------------------------------------------------------
static void *sub_main(void *arg)
{
	ctx *c = arg;
	while (!atomic_load(&c->stop_sub)) {
		nng_msg *m;
		int rv = nng_recvmsg(c->sub, &m, 0);
		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv != 0)
			break;
		const uint8_t *b = nng_msg_body(m);
		size_t len = nng_msg_len(m);
		const uint8_t *nul = memchr(b, 0, len);
		Property__V1__Event *e = NULL;
		if (nul != NULL)
			e = property__v1__event__unpack(NULL, len - (size_t)(nul - b) - 1, nul + 1);
		pthread_mutex_lock(&c->mu);
		if (e == NULL || strlen(e->type) != (size_t)(nul - b) ||
		    memcmp(b, e->type, (size_t)(nul - b)) != 0) {
			c->bad_frames++;
		} else {
			evlist_push(&c->got, e);
		}
		pthread_mutex_unlock(&c->mu);
		if (e != NULL)
			property__v1__event__free_unpacked(e, NULL);
		nng_msg_free(m);
	}
	return NULL;
}

int sub_start(ctx *c, const char *const *urls, size_t n, const char *prefix)
{
	int rv;
	if ((rv = nng_sub0_open(&c->sub)) != 0 ||
	    (rv = nng_socket_set(c->sub, NNG_OPT_SUB_SUBSCRIBE, prefix, strlen(prefix))) != 0 ||
	    (rv = nng_socket_set_int(c->sub, NNG_OPT_RECVBUF, SUB_RECVBUF)) != 0 ||
	    (rv = nng_socket_set_ms(c->sub, NNG_OPT_RECVTIMEO, 100)) != 0) {
		H_FAIL("sub socket: %s", nng_strerror(rv));
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if ((rv = nng_dial(c->sub, urls[i], NULL, NNG_FLAG_NONBLOCK)) != 0) {
			H_FAIL("sub dial %s: %s", urls[i], nng_strerror(rv));
			nng_close(c->sub);
			return -1;
		}
	atomic_store(&c->stop_sub, false);
	pthread_create(&c->sub_thread, NULL, sub_main, c);
	h_sleep_ms(SUB_JOIN_MS);
	return 0;
}

void sub_stop(ctx *c)
{
	atomic_store(&c->stop_sub, true);
	pthread_join(c->sub_thread, NULL);
	h_nng_close(c->sub); // events may still be arriving
}

// ---- ReadEvents --------------------------------------------------------------------------
Property__V1__ReadEventsResponse *read_events(nrpc_client *cli, const char *auth, uint64_t after,
                                              uint32_t limit, const char *prefix, unsigned *code)
{
	Property__V1__ReadEventsRequest e = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
	e.after_seq = after;
	e.limit = limit;
	e.type_prefix = (char *)(prefix ? prefix : "");
	Property__V1__ReadEventsResponse *er = NULL;
	h_md md = {.auth = auth};
	*code = h_call(cli, M_EVENTS, &e.base, &property__v1__read_events_response__descriptor, &md,
	               (void **)&er, NULL);
	return er;
}

uint64_t last_seq(nrpc_client *cli, const char *auth)
{
	unsigned code;
	Property__V1__ReadEventsResponse *er = read_events(cli, auth, 0, 1, NULL, &code);
	uint64_t s = er ? er->last_seq : 0;
	H_CHECK(code == 0, "ReadEvents: code %u", code);
	if (er != NULL)
		protobuf_c_message_free_unpacked(&er->base, NULL);
	return s;
}

// The whole log after `after` (pages of 1000).
static int read_log(nrpc_client *cli, const char *auth, uint64_t after, evlist *out)
{
	out->n = 0;
	for (int pages = 0; pages < 10000; pages++) {
		unsigned code;
		Property__V1__ReadEventsResponse *er =
		    read_events(cli, auth, after, 1000, NULL, &code);
		if (er == NULL) {
			H_FAIL("ReadEvents after %llu: code %u", (unsigned long long)after, code);
			return -1;
		}
		size_t n = er->n_events;
		for (size_t i = 0; i < n; i++) {
			evlist_push(out, er->events[i]);
			after = er->events[i]->seq;
		}
		protobuf_c_message_free_unpacked(&er->base, NULL);
		if (n == 0)
			return 0;
	}
	return 0;
}

// Number of acknowledged changes with an event in `log`.
static size_t changes_in_log(ctx *c, const evlist *log)
{
	size_t found = 0;
	for (size_t i = 0; i < c->n_changes; i++) {
		const change *ch = &c->changes[i];
		for (size_t k = 0; k < log->n; k++) {
			const ev *e = &log->v[k];
			if (e->version == ch->version && strcmp(e->aggr, ch->aggr) == 0 &&
			    strcmp(e->type, ch->type) == 0) {
				found++;
				break;
			}
		}
	}
	return found;
}

// Waits until every acknowledged change is in the log; returns the log.
void settle(ctx *c, nrpc_client *cli, uint64_t from, evlist *log)
{
	int64_t end = h_now_ms() + SETTLE_MS;
	size_t found = 0;
	while (h_now_ms() < end) {
		if (read_log(cli, c->auth_reader, from, log) != 0)
			return;
		found = changes_in_log(c, log);
		if (found == c->n_changes)
			return;
		h_sleep_ms(100);
	}
	H_FAIL("after %d ms only %zu of %zu acknowledged changes are in the event log", SETTLE_MS,
	       found, c->n_changes);
}

// The log after `from`: seqs from+1.. without gaps; event ids unique; each
// acknowledged change exactly once; for our owners nothing else unless
// `extra_ok` (failover: writes of unknown outcome may have committed).
void check_log(ctx *c, const evlist *log, uint64_t from, bool extra_ok)
{
	for (size_t k = 0; k < log->n; k++)
		if (log->v[k].seq != from + 1 + k) {
			H_FAIL("event log not contiguous: position %zu has seq %llu, want %llu", k,
			       (unsigned long long)log->v[k].seq,
			       (unsigned long long)(from + 1 + k));
			break;
		}
	for (size_t k = 1; k < log->n; k++)
		for (size_t j = 0; j < k; j++)
			if (strcmp(log->v[k].id, log->v[j].id) == 0) {
				H_FAIL("event id %s at seqs %llu and %llu", log->v[k].id,
				       (unsigned long long)log->v[j].seq,
				       (unsigned long long)log->v[k].seq);
				k = log->n;
				break;
			}
	size_t ours_n = 0;
	for (size_t k = 0; k < log->n; k++) {
		const ev *e = &log->v[k];
		if (!ours(c, e->owner))
			continue;
		ours_n++;
		int same = 0;
		for (size_t j = 0; j < log->n; j++)
			same += strcmp(log->v[j].aggr, e->aggr) == 0 &&
			        strcmp(log->v[j].type, e->type) == 0 &&
			        log->v[j].version == e->version;
		H_CHECK(same == 1, "%s of %s version %llu appears %d times in the log", e->type,
		        e->aggr, (unsigned long long)e->version, same);
	}
	for (size_t i = 0; i < c->n_changes; i++) {
		const change *ch = &c->changes[i];
		int n = 0;
		for (size_t k = 0; k < log->n; k++)
			n += log->v[k].version == ch->version &&
			     strcmp(log->v[k].aggr, ch->aggr) == 0 &&
			     strcmp(log->v[k].type, ch->type) == 0;
		H_CHECK(n == 1, "acknowledged %s of %s (version %llu) has %d events, want 1",
		        ch->type, ch->aggr, (unsigned long long)ch->version, n);
	}
	if (!extra_ok)
		H_CHECK(
		    ours_n == c->n_changes,
		    "%zu events for this test's owners, %zu acknowledged changes (a failed write "
		    "published an event?)",
		    ours_n, c->n_changes);
}

// ---- writers -----------------------------------------------------------------------------
typedef struct live {
	char id[40];
	uint64_t version;
} live;

struct writer {
	ctx *c;
	int no;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	ctx *c = w->c;
	nrpc_client *cli;
	char err[128];
	if (nrpc_client_open(&cli, c->write_urls, c->n_write_urls, err, sizeof(err)) != 0) {
		H_FAIL("writer client: %s", err);
		return NULL;
	}
	char *auth = h_bearer(H_SECRET, c->owners[w->no], 600);
	h_md md = {.auth = auth, .timeout_ms = 3000};
	live lv[64];
	int n_live = 0;
	for (int i = 0; !atomic_load(&c->stop_writers); i++) {
		int op = i % 6;
		if (n_live == 0 || (op <= 1 && n_live < 64)) {
			Property__V1__CreatePropertyRequest cr;
			Property__V1__Location loc;
			h_valid_create(&cr, &loc, "");
			Property__V1__Property *p = NULL;
			nrpc_result r;
			unsigned code =
			    h_call(cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
			           &md, (void **)&p, &r);
			if (code == 0 && p != NULL) {
				record(c, p->id, "property.created", 1);
				snprintf(lv[n_live].id, sizeof(lv[n_live].id), "%s", p->id);
				lv[n_live++].version = 1;
			} else if (r.transport_error && c->failover) {
				pthread_mutex_lock(&c->mu);
				c->ambiguous++;
				pthread_mutex_unlock(&c->mu);
			} else {
				H_FAIL("writer create: code %u (%s)", code, r.message);
			}
			nrpc_result_free(&r);
			if (p != NULL)
				protobuf_c_message_free_unpacked(&p->base, NULL);
			continue;
		}
		live *t = &lv[(unsigned)i % (unsigned)n_live];
		if (op == 2 || op == 3 || (op == 4 && c->failover)) {
			Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
			np.price_cents = i;
			char *mask[] = {"price_cents"};
			Property__V1__UpdatePropertyRequest u =
			    PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
			u.id = t->id;
			u.expected_version = t->version;
			u.property = &np;
			u.n_update_mask = 1;
			u.update_mask = mask;
			Property__V1__Property *p = NULL;
			nrpc_result r;
			unsigned code =
			    h_call(cli, M_UPDATE, &u.base, &property__v1__property__descriptor, &md,
			           (void **)&p, &r);
			if (code == 0 && p != NULL) {
				record(c, t->id, "property.updated", p->version);
				t->version = p->version;
			} else if (c->failover && (r.transport_error || code == 10)) {
				// Unknown outcome (or a resent request that already applied):
				// resynchronise from the server.
				unsigned gc;
				Property__V1__Property *g = h_get(cli, auth, t->id, &gc);
				if (g != NULL) {
					t->version = g->version;
					protobuf_c_message_free_unpacked(&g->base, NULL);
				}
				pthread_mutex_lock(&c->mu);
				c->ambiguous++;
				pthread_mutex_unlock(&c->mu);
			} else {
				H_FAIL("writer update: code %u (%s)", code, r.message);
			}
			nrpc_result_free(&r);
			if (p != NULL)
				protobuf_c_message_free_unpacked(&p->base, NULL);
		} else if (op == 4) {
			Property__V1__DeletePropertyRequest d =
			    PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
			d.id = t->id;
			d.expected_version = t->version;
			unsigned code = h_call(cli, M_DELETE, &d.base,
			                       &property__v1__delete_property_response__descriptor,
			                       &md, NULL, NULL);
			if (code == 0)
				record(c, t->id, "property.deleted", t->version);
			else
				H_FAIL("writer delete: code %u", code);
			*t = lv[--n_live];
		} else {
			// Failing writes: a validation error and a version mismatch.
			Property__V1__CreatePropertyRequest cr;
			Property__V1__Location loc;
			h_valid_create(&cr, &loc, "");
			cr.title = "";
			unsigned code =
			    h_call(cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
			           &md, NULL, NULL);
			H_CHECK(code == 3 || (c->failover && code != 0), "invalid create: code %u",
			        code);
			Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
			np.price_cents = 1;
			char *mask[] = {"price_cents"};
			Property__V1__UpdatePropertyRequest u =
			    PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
			u.id = t->id;
			u.expected_version = t->version + 5;
			u.property = &np;
			u.n_update_mask = 1;
			u.update_mask = mask;
			code = h_call(cli, M_UPDATE, &u.base, &property__v1__property__descriptor,
			              &md, NULL, NULL);
			H_CHECK(code == 10 || (c->failover && code != 0),
			        "mismatched update: code %u", code);
		}
	}
	free(auth);
	nrpc_client_close(cli);
	return NULL;
}

void run_writers(ctx *c, int n, int ms, h_proc *kill_target, int kill_after_ms)
{
	pthread_t th[WRITERS];
	struct writer w[WRITERS];
	atomic_store(&c->stop_writers, false);
	for (int i = 0; i < n; i++) {
		w[i] = (struct writer){c, i};
		pthread_create(&th[i], NULL, writer_main, &w[i]);
	}
	int64_t start = h_now_ms();
	if (kill_target != NULL) {
		h_sleep_ms(kill_after_ms);
		fprintf(stderr, "  kill -9 the relay leader (pid %d)\n", (int)kill_target->pid);
		h_kill9(kill_target);
	}
	int64_t left = ms - (h_now_ms() - start);
	if (left > 0)
		h_sleep_ms((int)left);
	atomic_store(&c->stop_writers, true);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

void reset_run(ctx *c, int n_writers)
{
	c->n_changes = 0;
	c->ambiguous = 0;
	c->got.n = 0;
	c->bad_frames = 0;
	memset(c->owners, 0, sizeof(c->owners));
	for (int i = 0; i < n_writers; i++)
		h_owner(c->owners[i], sizeof(c->owners[i]), "ev");
}
