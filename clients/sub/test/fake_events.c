#include "fake_events.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "property/v1/events.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

#define FAKE_URL_MAX 128

typedef struct fake_row {
	uint64_t seq;
	char type[32];
	char id[40];
} fake_row;

struct fake_events {
	nng_socket pubs[FAKE_MAX_PUBS];
	atomic_int pipes[FAKE_MAX_PUBS];
	size_t n_pubs;
	nng_socket rep;
	pthread_t thread;
	atomic_bool stop;
	atomic_uint read_calls;
	char token[256];
	char pub_url_buf[FAKE_MAX_PUBS][FAKE_URL_MAX];
	const char *pub_urls[FAKE_MAX_PUBS];
	char rpc_url_buf[FAKE_URL_MAX];
	const char *rpc_urls[1];
	pthread_mutex_t mu;
	fake_row rows[FAKE_MAX_EVENTS];
	size_t n_rows;
	uint64_t pruned_through; // retention: seqs up to this are gone
};

static void on_pipe_add(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	atomic_fetch_add((atomic_int *)arg, 1);
}

static void on_pipe_rem(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	atomic_fetch_sub((atomic_int *)arg, 1);
}

// Fills ev (and its property) from a row; strings point into row/statics.
static void row_event(const fake_row *r, Property__V1__Event *ev, Property__V1__Property *p)
{
	property__v1__event__init(ev);
	property__v1__property__init(p);
	p->id = (char *)r->id;
	p->owner_id = "owner-1";
	p->title = "A flat";
	p->version = 1;
	ev->seq = r->seq;
	ev->id = (char *)r->id;
	ev->type = (char *)r->type;
	ev->aggregate_id = (char *)r->id;
	ev->owner_id = "owner-1";
	ev->occurred_at_us = (int64_t)r->seq * 1000;
	ev->property = p;
}

static bool authorized(const fake_events *f, const Rpc__V1__Request *req)
{
	char want[300];
	snprintf(want, sizeof(want), "Bearer %s", f->token);
	for (size_t i = 0; i < req->n_metadata; i++) {
		if (strcmp(req->metadata[i]->key, "authorization") == 0)
			return strcmp(req->metadata[i]->value, want) == 0;
	}
	return false;
}

// Builds the ReadEventsResponse payload for `rq` (caller frees *out).
static size_t read_events(fake_events *f, const Property__V1__ReadEventsRequest *rq, uint8_t **out)
{
	uint32_t limit = rq->limit == 0 ? 100 : (rq->limit > 1000 ? 1000 : rq->limit);
	const char *prefix = rq->type_prefix != NULL ? rq->type_prefix : "";
	size_t plen = strlen(prefix);
	pthread_mutex_lock(&f->mu);
	size_t n = 0;
	Property__V1__Event *evs = calloc(limit, sizeof(*evs));
	Property__V1__Property *props = calloc(limit, sizeof(*props));
	Property__V1__Event **ptrs = calloc(limit, sizeof(*ptrs));
	for (size_t i = 0; i < f->n_rows && n < limit; i++) {
		const fake_row *r = &f->rows[i];
		if (r->seq <= rq->after_seq || strncmp(r->type, prefix, plen) != 0)
			continue;
		row_event(r, &evs[n], &props[n]);
		ptrs[n] = &evs[n];
		n++;
	}
	Property__V1__ReadEventsResponse resp = PROPERTY__V1__READ_EVENTS_RESPONSE__INIT;
	resp.events = ptrs;
	resp.n_events = n;
	resp.last_seq = f->n_rows;
	size_t len = property__v1__read_events_response__get_packed_size(&resp);
	*out = malloc(len + 1);
	property__v1__read_events_response__pack(&resp, *out);
	pthread_mutex_unlock(&f->mu);
	free(evs);
	free(props);
	free(ptrs);
	return len;
}

static void serve_one(fake_events *f, nng_msg *m)
{
	Rpc__V1__Response rsp = RPC__V1__RESPONSE__INIT;
	char msg11[128]; // an OUT_OF_RANGE message: lives until the reply is packed
	uint8_t *payload = NULL;
	Rpc__V1__Request *req = rpc__v1__request__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	if (req == NULL) {
		rsp.code = 3;
		rsp.message = "bad envelope";
	} else if (strcmp(req->method, "/property.v1.EventService/ReadEvents") != 0) {
		rsp.code = 12;
		rsp.message = "unknown method";
	} else if (!authorized(f, req)) {
		rsp.code = 16;
		rsp.message = "bad token";
	} else {
		Property__V1__ReadEventsRequest *rq = property__v1__read_events_request__unpack(
		    NULL, req->payload.len, req->payload.data);
		if (rq == NULL) {
			rsp.code = 3;
			rsp.message = "bad payload";
		} else {
			atomic_fetch_add(&f->read_calls, 1);
			pthread_mutex_lock(&f->mu);
			uint64_t pruned = f->pruned_through;
			pthread_mutex_unlock(&f->mu);
			if (pruned > 0 && rq->after_seq < pruned) {
				// The text propertyd sends (docs/contract.md §6).
				snprintf(
				    msg11, sizeof msg11,
				    "events after seq %llu were pruned; the oldest kept is %llu",
				    (unsigned long long)rq->after_seq,
				    (unsigned long long)pruned + 1);
				rsp.code = 11;
				rsp.message = msg11;
			} else {
				rsp.payload.len = read_events(f, rq, &payload);
			}
			rsp.payload.data = payload;
			property__v1__read_events_request__free_unpacked(rq, NULL);
		}
	}
	size_t len = rpc__v1__response__get_packed_size(&rsp);
	nng_msg *reply;
	if (nng_msg_alloc(&reply, len) == 0) {
		rpc__v1__response__pack(&rsp, nng_msg_body(reply));
		if (nng_sendmsg(f->rep, reply, 0) != 0)
			nng_msg_free(reply);
	}
	free(payload);
	if (req != NULL)
		rpc__v1__request__free_unpacked(req, NULL);
}

static void *serve_main(void *arg)
{
	fake_events *f = arg;
	while (!atomic_load(&f->stop)) {
		nng_msg *m;
		int rv = nng_recvmsg(f->rep, &m, 0);
		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv != 0)
			break;
		serve_one(f, m);
		nng_msg_free(m);
	}
	return NULL;
}

fake_events *fake_open(const char *tag, size_t n_pubs, const char *token)
{
	fake_events *f = calloc(1, sizeof(*f));
	if (f == NULL || n_pubs > FAKE_MAX_PUBS)
		return NULL;
	pthread_mutex_init(&f->mu, NULL);
	snprintf(f->token, sizeof(f->token), "%s", token);
	f->n_pubs = n_pubs;
	int rv = 0;
	// PROPSUB_TEST_TRANSPORT=tcp: the PUB sockets on tcp:// (propsub then uses
	// its own SUB connections, clients/sub/subtcp.c); else ipc:// (nng's sub0).
	const char *tr = getenv("PROPSUB_TEST_TRANSPORT");
	bool tcp = tr != NULL && strcmp(tr, "tcp") == 0;
	for (size_t i = 0; i < n_pubs && rv == 0; i++) {
		if (tcp)
			snprintf(f->pub_url_buf[i], FAKE_URL_MAX, "tcp://127.0.0.1:0");
		else
			snprintf(f->pub_url_buf[i], FAKE_URL_MAX,
			         "ipc:///tmp/propsub_test_%d_%s_pub%zu", (int)getpid(), tag, i);
		f->pub_urls[i] = f->pub_url_buf[i];
		atomic_init(&f->pipes[i], 0);
		if ((rv = nng_pub0_open(&f->pubs[i])) != 0)
			break;
		nng_pipe_notify(f->pubs[i], NNG_PIPE_EV_ADD_POST, on_pipe_add, &f->pipes[i]);
		nng_pipe_notify(f->pubs[i], NNG_PIPE_EV_REM_POST, on_pipe_rem, &f->pipes[i]);
		nng_socket_set_int(f->pubs[i], NNG_OPT_SENDBUF, 4096);
		nng_listener l;
		rv = nng_listen(f->pubs[i], f->pub_urls[i], &l, 0);
		int port = 0;
		if (rv == 0 && tcp &&
		    (rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port)) == 0)
			snprintf(f->pub_url_buf[i], FAKE_URL_MAX, "tcp://127.0.0.1:%d", port);
	}
	snprintf(f->rpc_url_buf, FAKE_URL_MAX, "ipc:///tmp/propsub_test_%d_%s_rpc", (int)getpid(),
	         tag);
	f->rpc_urls[0] = f->rpc_url_buf;
	if (rv == 0 && (rv = nng_rep0_open(&f->rep)) == 0) {
		nng_socket_set_ms(f->rep, NNG_OPT_RECVTIMEO, 50);
		rv = nng_listen(f->rep, f->rpc_urls[0], NULL, 0);
	}
	if (rv != 0) {
		fprintf(stderr, "fake_open: %s\n", nng_strerror(rv));
		return NULL; // the test fails anyway: leaks are not the point then
	}
	atomic_init(&f->stop, false);
	pthread_create(&f->thread, NULL, serve_main, f);
	return f;
}

void fake_close(fake_events *f)
{
	if (f == NULL)
		return;
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	nng_close(f->rep);
	for (size_t i = 0; i < f->n_pubs; i++)
		nng_close(f->pubs[i]);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

const char *const *fake_pub_urls(const fake_events *f)
{
	return f->pub_urls;
}

const char *const *fake_rpc_urls(const fake_events *f)
{
	return f->rpc_urls;
}

uint64_t fake_append(fake_events *f, const char *type)
{
	pthread_mutex_lock(&f->mu);
	fake_row *r = &f->rows[f->n_rows];
	r->seq = f->n_rows + 1;
	snprintf(r->type, sizeof(r->type), "%s", type);
	snprintf(r->id, sizeof(r->id), "00000000-0000-4000-8000-%012llu",
	         (unsigned long long)r->seq);
	f->n_rows++;
	pthread_mutex_unlock(&f->mu);
	return r->seq;
}

void fake_publish(fake_events *f, size_t pub, uint64_t seq)
{
	pthread_mutex_lock(&f->mu);
	fake_row row = f->rows[seq - 1];
	pthread_mutex_unlock(&f->mu);
	Property__V1__Event ev;
	Property__V1__Property p;
	row_event(&row, &ev, &p);
	size_t tlen = strlen(row.type);
	size_t plen = property__v1__event__get_packed_size(&ev);
	nng_msg *m;
	if (nng_msg_alloc(&m, tlen + 1 + plen) != 0)
		return;
	uint8_t *b = nng_msg_body(m);
	memcpy(b, row.type, tlen);
	b[tlen] = 0;
	property__v1__event__pack(&ev, b + tlen + 1);
	if (nng_sendmsg(f->pubs[pub], m, 0) != 0)
		nng_msg_free(m);
}

void fake_publish_raw(fake_events *f, size_t pub, const void *data, size_t len)
{
	nng_msg *m;
	if (nng_msg_alloc(&m, len) != 0)
		return;
	memcpy(nng_msg_body(m), data, len);
	if (nng_sendmsg(f->pubs[pub], m, 0) != 0)
		nng_msg_free(m);
}

int fake_wait_subscribers(fake_events *f)
{
	for (int i = 0; i < 1000; i++) {
		bool all = true;
		for (size_t p = 0; p < f->n_pubs; p++)
			all = all && atomic_load(&f->pipes[p]) > 0;
		if (all)
			return 0;
		nng_msleep(10);
	}
	return -1;
}

unsigned fake_read_calls(fake_events *f)
{
	return atomic_load(&f->read_calls);
}

void fake_prune(fake_events *f, uint64_t through)
{
	pthread_mutex_lock(&f->mu);
	f->pruned_through = through;
	pthread_mutex_unlock(&f->mu);
}
