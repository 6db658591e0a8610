// events_log: the machinery of it_events — a raw nng sub0 subscriber that
// records every event it receives, ReadEvents helpers that fill gaps like a
// real subscriber, writer threads that create/update/delete and record each
// acknowledged change, and the check that the log holds exactly those changes.
// The cases themselves are in it_events.c.
#ifndef IT_EVENTS_LOG_H
#define IT_EVENTS_LOG_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "harness.h"

#define WRITERS          8
#define WRITE_MS         3000
#define FAILOVER_WRITERS 4
#define FAILOVER_MS      5000
#define KILL_AFTER_MS    1500
#define SUB_RECVBUF      8192  // nng's maximum: drops still possible, gaps get filled
#define SUB_JOIN_MS      500   // a new subscriber's pipe needs a moment to attach
#define SETTLE_MS        20000 // bound on the relay numbering and publishing a burst
#define LEADER_WAIT_MS   20000 // bound on a takeover after the leader died
#define MIN_LOG_FOR_CAP  1001  // ReadEvents limit 5000 must return exactly 1000
#define FLUSH_BURST      50    // creates acknowledged just before SIGTERM

typedef struct ev {
	uint64_t seq;
	char id[40];
	char type[24];
	char aggr[40];
	char owner[96];
	uint64_t version;
} ev;

typedef struct evlist {
	ev *v;
	size_t n, cap;
} evlist;

// A committed change, as acknowledged to a writer.
typedef struct change {
	char aggr[40];
	char type[24];
	uint64_t version;
} change;

typedef struct ctx {
	h_proc p;
	char *auth_reader;
	// writers' state
	pthread_mutex_t mu;
	change *changes;
	size_t n_changes, cap_changes;
	int ambiguous; // writes whose outcome is unknown (transport error)
	char owners[WRITERS][96];
	atomic_bool stop_writers;
	const char *const *write_urls;
	size_t n_write_urls;
	bool failover; // transport errors are expected (an instance is killed)
	// subscriber
	nng_socket sub;
	pthread_t sub_thread;
	atomic_bool stop_sub;
	evlist got; // in arrival order (guarded by mu)
	int bad_frames;
} ctx;

// Dials urls[n] with a raw sub0 socket subscribed to `prefix`; a thread records
// every event into c->got. 0 or -1.
int sub_start(ctx *c, const char *const *urls, size_t n, const char *prefix);
// Stops the subscriber thread and closes its socket.
void sub_stop(ctx *c);
// One ReadEvents call; *code is the reply status; the response or NULL.
Property__V1__ReadEventsResponse *read_events(nrpc_client *cli, const char *auth, uint64_t after,
                                              uint32_t limit, const char *prefix, unsigned *code);
// The newest seq in the log (ReadEvents last_seq).
uint64_t last_seq(nrpc_client *cli, const char *auth);
// Waits (bounded by SETTLE_MS) until the log holds every acknowledged change,
// then reads the log after `from` into *log.
void settle(ctx *c, nrpc_client *cli, uint64_t from, evlist *log);
// Checks the log: seq gapless from `from`, no duplicates, exactly one event per
// acknowledged change and none for a failed write (extra_ok: unknown outcomes).
void check_log(ctx *c, const evlist *log, uint64_t from, bool extra_ok);
// n writer threads for ms milliseconds; kills kill_target after kill_after_ms.
void run_writers(ctx *c, int n, int ms, h_proc *kill_target, int kill_after_ms);
// Clears the recorded changes and events and picks fresh owners for n writers.
void reset_run(ctx *c, int n_writers);

#endif
