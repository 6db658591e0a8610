// Runs the asynchronous repository port to completion from a test thread:
// each s_* call posts the operation to the repository's loop and waits for
// its continuation. Several test threads may call at once (each waits for
// its own call), as RPC requests would arrive.
#ifndef STORE_TEST_REPO_SYNC_H
#define STORE_TEST_REPO_SYNC_H

#include <pthread.h>
#include <string.h>

#include "base/ioloop.h"
#include "property/ports.h"

typedef struct sync_call {
	prop_ctx ctx; // first: the continuation finds the call from it
	base_ioloop_task task;
	prop_repo port;
	int op;
	const void *a1, *a2, *a3, *a4;
	uint64_t u;
	uint32_t lim;
	unsigned mask;
	void *o1, *o2, *o3;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	nrpc_code rc;
} sync_call;

enum { S_CREATE, S_GET, S_UPDATE, S_REMOVE, S_LIST, S_SEARCH, S_EVENTS };

extern base_ioloop *sync_loop; // the loop the repository runs on (set by the test)

static void sync_k(prop_ctx *ctx, nrpc_code rc)
{
	sync_call *s = (sync_call *)(void *)ctx;
	pthread_mutex_lock(&s->mu);
	s->rc = rc;
	s->done = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void sync_start(base_ioloop_task *t)
{
	sync_call *s = (sync_call *)(void *)((char *)t - offsetof(sync_call, task));
	const prop_repo_ops *o = s->port.ops;
	void *self = s->port.self;
	switch (s->op) {
	case S_CREATE:
		o->create(self, &s->ctx, s->a1, s->a2, s->a3, s->o1, s->o2, sync_k);
		break;
	case S_GET:
		o->get(self, &s->ctx, s->a1, s->o1, sync_k);
		break;
	case S_UPDATE:
		o->update(self, &s->ctx, s->a1, s->u, s->a2, s->mask, s->a3, s->o1, sync_k);
		break;
	case S_REMOVE:
		o->remove(self, &s->ctx, s->a1, s->u, s->a2, s->o1, sync_k);
		break;
	case S_LIST:
		o->list_by_owner(self, &s->ctx, s->a1, s->a2, s->lim, s->o1, sync_k);
		break;
	case S_SEARCH:
		o->search(self, &s->ctx, s->a1, s->a2, s->lim, s->o1, sync_k);
		break;
	default:
		o->read_events(self, &s->ctx, s->u, s->lim, s->a1, s->o1, s->o2, s->o3, sync_k);
	}
}

static nrpc_code sync_run(sync_call *s, prop_ctx *ctx)
{
	s->ctx = *ctx;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->task.fn = sync_start;
	base_ioloop_post(sync_loop, &s->task);
	pthread_mutex_lock(&s->mu);
	while (!s->done)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	memcpy(ctx->err, s->ctx.err, sizeof ctx->err);
	return s->rc;
}

static inline nrpc_code s_create(prop_repo p, prop_ctx *ctx, const Property__V1__Property *in,
                                 const char *key, const char *hash, Property__V1__Property **out,
                                 bool *replayed)
{
	sync_call s = {
	    .port = p, .op = S_CREATE, .a1 = in, .a2 = key, .a3 = hash, .o1 = out, .o2 = replayed};
	return sync_run(&s, ctx);
}

static inline nrpc_code s_get(prop_repo p, prop_ctx *ctx, const char *id,
                              Property__V1__Property **out)
{
	sync_call s = {.port = p, .op = S_GET, .a1 = id, .o1 = out};
	return sync_run(&s, ctx);
}

static inline nrpc_code s_update(prop_repo p, prop_ctx *ctx, const char *id, uint64_t version,
                                 const char *owner, unsigned mask, const Property__V1__Property *v,
                                 Property__V1__Property **out)
{
	sync_call s = {.port = p,
	               .op = S_UPDATE,
	               .a1 = id,
	               .u = version,
	               .a2 = owner,
	               .mask = mask,
	               .a3 = v,
	               .o1 = out};
	return sync_run(&s, ctx);
}

static inline nrpc_code s_remove(prop_repo p, prop_ctx *ctx, const char *id, uint64_t version,
                                 const char *owner, Property__V1__Property **last)
{
	sync_call s = {.port = p, .op = S_REMOVE, .a1 = id, .u = version, .a2 = owner, .o1 = last};
	return sync_run(&s, ctx);
}

static inline nrpc_code s_list_by_owner(prop_repo p, prop_ctx *ctx, const char *owner,
                                        const prop_cursor *after, uint32_t limit, prop_page *out)
{
	sync_call s = {.port = p, .op = S_LIST, .a1 = owner, .a2 = after, .lim = limit, .o1 = out};
	return sync_run(&s, ctx);
}

static inline nrpc_code s_search(prop_repo p, prop_ctx *ctx, const prop_search_query *q,
                                 const prop_cursor *after, uint32_t limit, prop_page *out)
{
	sync_call s = {.port = p, .op = S_SEARCH, .a1 = q, .a2 = after, .lim = limit, .o1 = out};
	return sync_run(&s, ctx);
}

static inline nrpc_code s_read_events(prop_repo p, prop_ctx *ctx, uint64_t after_seq,
                                      uint32_t limit, const char *prefix,
                                      Property__V1__Event ***events, size_t *n, uint64_t *last_seq)
{
	sync_call s = {.port = p,
	               .op = S_EVENTS,
	               .u = after_seq,
	               .lim = limit,
	               .a1 = prefix,
	               .o1 = events,
	               .o2 = n,
	               .o3 = last_seq};
	return sync_run(&s, ctx);
}

#endif
