// Runs the asynchronous cache port (property/ports.h) to completion from a
// test thread: each cs_* call posts the operation to the cache's event loop
// and waits for it. Several test threads may call at once (each waits for its
// own call), as RPC requests would arrive.
//
// "Completion" is the port's own for get, after_write and owner_page_get (the
// continuation ran). For what the port leaves running on the loop's Redis
// connection -- fill and owner_page_fill (fire and forget) and the deletion of
// garbage a get found -- the wrapper then waits for a barrier: a PING on the
// same connection, and a second one sent from the first one's reply. Redis
// answers in order, so the first PING is answered after every command queued
// before it; a NOSCRIPT answer among those is re-sent as EVAL from inside its
// reply callback, i.e. before the first PING's reply, so the second PING is
// answered after that too. While the cache is down the port sends nothing,
// and neither does the barrier (a PING would make the client reconnect, which
// the port itself never does while down).
//
// after_write gets no barrier on purpose: its continuation must only run once
// Redis acknowledged both the value and the owner's invalidation, which the
// tests check by looking at Redis right after it.
#ifndef CACHE_TEST_CACHE_SYNC_H
#define CACHE_TEST_CACHE_SYNC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "base/ioloop.h"
#include "cache/aredis.h"
#include "cache/cache_impl.h"
#include "cache/redis_cache.h"
#include "property/ports.h"

// A cache on a loop of its own (shard 0), as the server runs it.
typedef struct cache_rig {
	base_ioloop *loop;
	cache_redis *c;
	prop_cache port;
} cache_rig;

// Creates the loop and the cache, attaches the cache to the loop and starts
// the loop. 0, or -1 with a reason in err (nothing left to close).
static inline int rig_open(cache_rig *r, const char *url, obs_registry *metrics, char *err,
                           size_t errcap)
{
	struct event_base *base;

	memset(r, 0, sizeof *r);
	if (base_ioloop_create(&r->loop, "cache-test", err, errcap) != 0)
		return -1;
	if (cache_create(&r->c, url, metrics, err, errcap) != 0)
		goto fail;
	base = base_ioloop_base(r->loop);
	if (cache_attach_loops(r->c, &base, 1, NULL, err, errcap) != 0 ||
	    base_ioloop_start(r->loop, err, errcap) != 0)
		goto fail;
	r->port = cache_port(r->c);
	return 0;
fail:
	cache_destroy(r->c); // detaches what was attached
	base_ioloop_destroy(r->loop);
	memset(r, 0, sizeof *r);
	return -1;
}

// Stops the loop, then destroys the cache (which detaches) and the loop.
static inline void rig_close(cache_rig *r)
{
	if (r->loop == NULL)
		return;
	base_ioloop_stop(r->loop);
	cache_destroy(r->c);
	base_ioloop_destroy(r->loop);
	memset(r, 0, sizeof *r);
}

enum { CS_GET, CS_FILL, CS_AFTER_WRITE, CS_PAGE_GET, CS_PAGE_FILL };

typedef struct cs_call {
	prop_ctx ctx; // first: the continuation finds the call from it
	base_ioloop_task task;
	cache_rig *rig;
	int op;
	const char *id, *owner, *page_key;
	const Property__V1__Property *row;
	prop_cache_change ch;
	uint64_t gen_in;
	const uint8_t *data_in;
	size_t len_in;
	Property__V1__Property **out;
	uint8_t **data;
	size_t *len;
	uint64_t *gen;
	int result;
	int pings;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
} cs_call;

static inline void cs_done(cs_call *s)
{
	pthread_mutex_lock(&s->mu);
	s->done = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu); // s may be gone once this returns
}

static inline void cs_ping(cs_call *s);

static inline void cs_pinged(const redisReply *r, void *arg)
{
	cs_call *s = arg;
	// NULL: the connection failed, and with it every command before the PING.
	if (r != NULL && ++s->pings < 2)
		cs_ping(s);
	else
		cs_done(s);
}

static inline void cs_ping(cs_call *s)
{
	static const char *const argv[1] = {"PING"};
	cache_aredis_command(s->rig->c->shards[0].client, 1, (const char **)argv, NULL, cs_pinged,
	                     s);
}

// On the loop thread: waits for what the call left queued on the connection.
static inline void cs_barrier(cs_call *s)
{
	if (atomic_load(&s->rig->c->up))
		cs_ping(s);
	else
		cs_done(s);
}

static inline void cs_k(prop_ctx *ctx, nrpc_code rc)
{
	cs_call *s = (cs_call *)(void *)ctx;
	(void)rc; // the cache's continuations always report NRPC_OK
	if (s->op == CS_GET)
		cs_barrier(s); // a get may have queued the deletion of garbage
	else
		cs_done(s);
}

static inline void cs_start(base_ioloop_task *t)
{
	cs_call *s = (cs_call *)(void *)((char *)t - offsetof(cs_call, task));
	const prop_cache_ops *o = s->rig->port.ops;
	void *self = s->rig->port.self;
	switch (s->op) {
	case CS_GET:
		o->get(self, &s->ctx, s->id, s->out, &s->result, cs_k);
		break;
	case CS_FILL:
		o->fill(self, &s->ctx, s->row);
		cs_barrier(s);
		break;
	case CS_AFTER_WRITE:
		o->after_write(self, &s->ctx, &s->ch, cs_k);
		break;
	case CS_PAGE_GET:
		o->owner_page_get(self, &s->ctx, s->owner, s->page_key, s->data, s->len, s->gen,
		                  &s->result, cs_k);
		break;
	default:
		o->owner_page_fill(self, &s->ctx, s->owner, s->page_key, s->gen_in, s->data_in,
		                   s->len_in);
		cs_barrier(s);
	}
}

static inline int cs_run(cs_call *s, cache_rig *r, const prop_ctx *ctx)
{
	s->ctx = *ctx;
	s->rig = r;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->task.fn = cs_start;
	base_ioloop_post(r->loop, &s->task);
	pthread_mutex_lock(&s->mu);
	while (!s->done)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	return s->result;
}

// get: a prop_cache_result; *out set on a hit.
static inline int cs_get(cache_rig *r, const prop_ctx *ctx, const char *id,
                         Property__V1__Property **out)
{
	cs_call s = {.op = CS_GET, .id = id, .out = out};
	*out = NULL;
	return cs_run(&s, r, ctx);
}

// fill: a reader's store after a miss.
static inline void cs_fill(cache_rig *r, const prop_ctx *ctx, const Property__V1__Property *p)
{
	cs_call s = {.op = CS_FILL, .row = p};
	(void)cs_run(&s, r, ctx);
}

// after_write of a committed row (create, update) of p's owner.
static inline void cs_write(cache_rig *r, const prop_ctx *ctx, const Property__V1__Property *p)
{
	cs_call s = {.op = CS_AFTER_WRITE,
	             .ch = {.row = p, .id = p->id, .version = p->version, .owner = p->owner_id}};
	(void)cs_run(&s, r, ctx);
}

// after_write of a committed delete of id at version, owned by owner.
static inline void cs_write_deleted(cache_rig *r, const prop_ctx *ctx, const char *id,
                                    uint64_t version, const char *owner)
{
	cs_call s = {.op = CS_AFTER_WRITE,
	             .ch = {.row = NULL, .id = id, .version = version, .owner = owner}};
	(void)cs_run(&s, r, ctx);
}

// What the old owner_invalidate(owner) did, through the one write-side call
// there is now: a delete committed for the owner, of a property id that no
// test uses otherwise (its tombstone disturbs nothing).
#define CS_INVALIDATE_ID "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee"
static inline void cs_invalidate_owner(cache_rig *r, const prop_ctx *ctx, const char *owner)
{
	cs_write_deleted(r, ctx, CS_INVALIDATE_ID, 1, owner);
}

// owner_page_get: a prop_cache_result; *gen always set.
static inline int cs_page_get(cache_rig *r, const prop_ctx *ctx, const char *owner,
                              const char *page_key, uint8_t **data, size_t *len, uint64_t *gen)
{
	cs_call s = {.op = CS_PAGE_GET,
	             .owner = owner,
	             .page_key = page_key,
	             .data = data,
	             .len = len,
	             .gen = gen};
	return cs_run(&s, r, ctx);
}

static inline void cs_page_fill(cache_rig *r, const prop_ctx *ctx, const char *owner,
                                const char *page_key, uint64_t gen, const uint8_t *data, size_t len)
{
	cs_call s = {.op = CS_PAGE_FILL,
	             .owner = owner,
	             .page_key = page_key,
	             .gen_in = gen,
	             .data_in = data,
	             .len_in = len};
	(void)cs_run(&s, r, ctx);
}

#endif
