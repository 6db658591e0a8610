// The load driver's insides, shared by its files (not for other modules):
// driver.c runs a measurement (pl_driver_run, progress, totals),
// driver_calls.c is the call loop (each slot's aio state machine, the open
// loop's dispatcher, recording each call), driver_conn.c opens and closes the
// sockets, the balancer and the slots. One struct drv per run, owned by
// pl_driver_run (on its stack); slots, shards, sockets and the backlog are
// arrays it allocates and pl_drv_teardown frees.
#ifndef PL_DRIVER_INT_H
#define PL_DRIVER_INT_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "balance.h"
#include "driver.h"

// Largest reply accepted: a page of 100 listings is well under this.
#define RECV_MAX (16u * 1024 * 1024)
// How often the main thread wakes to check for a signal and draw progress.
#define TICK_NS 200000000ull
#define NS      1000000000ull

enum slot_state { ST_IDLE, ST_SEND, ST_RECV };

struct drv;

struct slot {
	struct drv *d;
	nng_ctx ctx; // one URL: the slot's context
	nng_aio *aio;
	enum slot_state state;
	uint64_t intended, sent;
	pl_op op;
	pl_rng rng;
	unsigned idx, shard;
	// Several URLs (balanced): a context per instance, on the slot's socket
	// of that instance; where the current call went and what it tried; a copy
	// of its request while it may still be sent again (nrpc_retry_safe).
	nng_ctx *ctxs;
	unsigned url;
	uint64_t tried;
	nng_msg *copy;
	// Balanced: the socket a send is posted on (-1: none), under mu, so that
	// a connection lost under a queued send aborts exactly that send.
	pthread_mutex_t mu;
	int sending_on;
};

// A socket of a balanced run: which instance it dials, whether it is connected.
struct sock_info {
	struct drv *d;
	unsigned url;
	atomic_int pipes;
};

struct shard {
	pthread_mutex_t mu;
	pl_stats st;
};

struct drv {
	const pl_driver_cfg *cfg;
	pl_workload *w;
	char **urls; // cfg->urls with dns+ names expanded (nrpc_urls_expand)
	size_t nurls;
	bool balanced;    // several instances: pick one per call (balance.h)
	unsigned per_url; // balanced: sockets per instance, socket u * per_url + j
	pl_balance *bal;  // balanced: instance health
	struct sock_info *si;
	atomic_uint rr;          // balanced: round robin position
	bool safe[PL_OP_COUNT];  // balanced: may an op lost in flight go elsewhere
	pthread_mutex_t pipe_mu; // balanced: pipe callbacks against slot teardown
	bool slots_live;         // under pipe_mu: slots may be aborted
	nng_socket *socks;
	unsigned nsock;
	struct slot *slots;
	unsigned nslots;
	struct shard shards[PL_SHARDS];
	unsigned nshards;
	bool open;
	uint64_t t_start, t_measure, t_end;
	atomic_uint_fast64_t issued;     // measured calls admitted (count mode)
	atomic_uint_fast64_t done, errs; // measured completions, for progress
	atomic_uint_fast64_t last_done;  // ns of the last measured completion
	atomic_uint_fast64_t max_lag;
	atomic_int stopping;

	pthread_mutex_t mu; // guards what follows
	pthread_cond_t cv;
	unsigned active; // closed: callers still running; open: calls in flight
	unsigned *freelist;
	unsigned nfree;
	uint64_t *backlog; // intended start times, a ring
	size_t bl_head, bl_len;
	bool dispatch_done;
	uint64_t backlog_max, unsent;
};

static inline uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * NS + (uint64_t)t.tv_nsec;
}

static inline void atomic_max(atomic_uint_fast64_t *a, uint64_t v)
{
	uint64_t cur = atomic_load(a);
	while (v > cur && !atomic_compare_exchange_weak(a, &cur, v))
		;
}

// driver_calls.c: the call loop.
// A slot's aio callback (its state machine: send done, receive done).
void pl_drv_slot_cb(void *arg);
// Starts the slot's next call, or parks it (closed loop: when the run is
// over; open loop: on the free list when no call is due).
void pl_drv_slot_next(struct slot *s);
// The open loop's thread: issues calls at their intended times (arg: struct drv).
void *pl_drv_dispatcher(void *arg);

// driver_conn.c: sockets, balancer and slots. Each returns 0, or -1 with a
// reason in err; pl_drv_teardown undoes whatever of them was done.
int pl_drv_open_balance(struct drv *d, char *err, size_t errcap);
int pl_drv_open_sockets(struct drv *d, char *err, size_t errcap);
int pl_drv_wait_ready(struct drv *d, char *err, size_t errcap);
int pl_drv_open_slots(struct drv *d, char *err, size_t errcap);
void pl_drv_teardown(struct drv *d);

#endif
