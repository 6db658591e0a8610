// pl_driver: runs a workload against one or more nrpc servers and measures
// every call, closed loop (N callers, each keeping one call in flight) or
// open loop (calls due at a fixed rate, whether or not earlier ones answered).
//
// Latency is measured from each call's INTENDED start: in open loop that is
// its slot in the fixed schedule, so a server stall shows as the queue of
// calls that waited behind it (no coordinated omission); in closed loop it is
// the moment the caller was free.
//
// nng is driven with aio callbacks: each caller is a state machine
// (send -> on completion post the receive -> on completion record -> next),
// spread over several req0 sockets (PL_CALLERS_PER_SOCKET each, nng #1663),
// with REQ resends off. The receive is posted only after the send completed
// (nng 1.5.2 #1702). Callbacks run on nng's threads and never block beyond
// short mutexes; the open loop adds one dispatcher thread.
//
// pl_driver_run blocks the calling thread for the whole run and fills *out
// (the caller frees it with pl_run_free). Returns 0, or -1 with a reason.
#ifndef PL_DRIVER_H
#define PL_DRIVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/tls.h"
#include "stats.h"
#include "workload.h"

// Callers sharing one req0 socket (one TCP connection): nng 1.5.2 slows down
// with many contexts per socket (#1663).
#define PL_CALLERS_PER_SOCKET 16
// Most callers / calls in flight: each is a context and an aio.
#define PL_MAX_CALLERS 10000u
// Statistics shards (each behind its own mutex), so callers rarely contend.
#define PL_SHARDS 8u
// Open loop: calls that came due while every caller was busy wait in a queue
// this long; beyond it they are counted as unsent (the run is hopelessly
// overloaded and the report says so).
#define PL_BACKLOG_MAX (1u << 20)

typedef struct pl_driver_cfg {
	const char *const *urls;
	size_t nurls;
	unsigned conc;       // closed loop: callers; open loop: most calls in flight
	double rate;         // > 0: open loop at this many calls per second
	double duration_s;   // measured time after warm-up (0: until `count` calls)
	uint64_t count;      // measured calls (0: for duration_s)
	double warmup_s;     // calls started in this first period are not measured
	uint32_t timeout_ms; // per call (send and receive)
	unsigned sockets;    // 0: one per PL_CALLERS_PER_SOCKET callers, at least one per URL
	uint64_t seed;
	const nrpc_tls *tls; // for tls+tcp:// URLs (nrpc_tls_dial); NULL: plain URLs only
	bool progress;       // a live line on stderr every second
	const volatile sig_atomic_t *stop; // non-zero (from a signal handler) ends the run early
} pl_driver_cfg;

typedef struct pl_run {
	pl_stats stats;               // measured calls only
	double elapsed_s;             // from the end of warm-up to the last measured completion
	double wall_s;                // the whole run, warm-up included
	double cpu_user_s, cpu_sys_s; // this process, over the whole run
	unsigned sockets, callers;
	uint64_t max_lag_ns;  // open loop: latest start after the intended time
	uint64_t backlog_max; // open loop: most calls waiting for a free caller
	uint64_t unsent;      // open loop: calls dropped because the backlog was full
	bool interrupted;
} pl_run;

int pl_driver_run(const pl_driver_cfg *cfg, pl_workload *w, pl_run *out, char *err, size_t errcap);
void pl_run_free(pl_run *r);

#endif
