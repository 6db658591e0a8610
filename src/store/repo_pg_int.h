// store repo_pg internals: what repo_pg.c (the port, reads, updates, deletes,
// life cycle) and repo_group.c (CreateProperty's group commit) share. Not for
// other modules.
//
// Ownership: an rq lives in its request's arena (prop_alloc) and is the
// caller's; once a helper below has ended it (store_repo_end/_fail/_bad_row,
// which call the continuation) it must not be touched again. A batch is
// malloc'd by repo_group.c and freed when its statement is answered.
#ifndef STORE_REPO_PG_INT_H
#define STORE_REPO_PG_INT_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/repo_batch.h"
#include "store/repo_pg.h"

struct rq;

struct shard {
	store_repo_pg *r;
	store_apg *db;
	struct event_base *base;
	store_apg_stmt stmts[REPO_SQL_N];
	store_apg_stmt search[REPO_SEARCH_VARIANTS];
	store_apg_stmt batch;
	struct rq *pend_head, *pend_tail; // creates waiting for a batch
	size_t npend;
	unsigned inflight; // batches sent, not answered
	struct event *flush_ev;
	bool flush_armed;
};

struct store_repo_pg {
	struct shard *shards;
	unsigned nshards;
	unsigned batch_max;
	unsigned max_inflight;
	char search_names[REPO_SEARCH_VARIANTS][16];
	char *search_sql[REPO_SEARCH_VARIANTS];
	int search_nparams[REPO_SEARCH_VARIANTS];
	void (*on_commit)(void *arg);
	void *on_commit_arg;
};

// One call of the port, in the request arena.
typedef struct rq {
	store_apg_query q;
	store_repo_args a;
	struct shard *sh;
	prop_ctx *ctx;
	prop_k k;
	void (*on_result)(struct rq *rq, const PGresult *res); // maps an OK result, ends
	const char *stmt_name;
	// outputs and what checking them needs
	Property__V1__Property **out;
	bool *replayed;
	const char *request_hash;
	const char *idem_key;
	const char *owner;
	uint64_t expected_version;
	prop_page *page;
	Property__V1__Event ***events;
	size_t *n_events;
	uint64_t *last_seq;
	uint64_t after_seq; // read_events: refuse when the event after it was pruned
	struct rq *next;    // in the shard's pending creates
} rq;

// A group commit in flight (malloc'd: it outlives no request, but belongs to
// none).
typedef struct batch {
	store_apg_query q;
	store_repo_batch_args args;
	struct shard *sh;
	size_t n;
	rq *members[];
} batch;

// Calls the on_commit hook (a write committed: wake the relay).
void store_repo_committed(const store_repo_pg *r);
// Ends q with rc; with a message for the caller; for a row that cannot be read.
void store_repo_end(rq *q, nrpc_code rc);
void store_repo_fail(rq *q, nrpc_code rc, const char *msg);
void store_repo_bad_row(rq *q);
// Runs s with q->a on q's shard; on_result maps an OK result and ends q.
void store_repo_submit(rq *q, const store_apg_stmt *s, void (*on_result)(rq *, const PGresult *));
// A call of the port in ctx's arena, on ctx's shard.
rq *store_repo_rq_new(store_repo_pg *r, prop_ctx *ctx, prop_k k);
// Maps the property at (row, col) of res into *out; false (and q ended) when
// the row cannot be read.
bool store_repo_map_property(rq *q, const PGresult *res, int row, int col,
                             Property__V1__Property **out);

// repo_group.c: the port's create (group commit when batch_max > 1) and the
// shard's flush event.
void store_repo_group_create(void *self, prop_ctx *ctx, const Property__V1__Property *p,
                             const char *idem_key, const char *request_hash,
                             Property__V1__Property **out, bool *replayed, prop_k k);
void store_repo_group_on_flush(evutil_socket_t fd, short what, void *arg);

#endif
