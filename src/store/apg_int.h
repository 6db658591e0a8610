// apg internals shared by apg.c (pool, queue, deadlines, completions) and
// apg_conn.c (connections and their pipelines). Not for other modules.
// Everything here runs on the loop thread.
#ifndef STORE_APG_INT_H
#define STORE_APG_INT_H

#include <event2/event.h>
#include <limits.h>
#include <sys/time.h>

#include "store/apg.h"

#define APG_PREP_WORDS (APG_MAX_STMTS / 64)
#define APG_HEAP_NONE  UINT_MAX

enum store_apg_qstate { APG_Q_IDLE = 0, APG_Q_QUEUED, APG_Q_SENT, APG_Q_DONE };
enum store_apg_cstate { APG_C_DOWN = 0, APG_C_CONNECTING, APG_C_READY };

// One sync group in a connection's pipeline, in the order the server answers.
typedef struct store_apg_entry {
	store_apg_query *q;         // NULL: the session setup, or a query completed at its deadline
	const store_apg_stmt *stmt; // NULL: the session setup
	int64_t sent_us;
	int64_t deadline_us;
	PGresult *res;    // the Execute's result
	PGresult *err;    // the group's first error
	unsigned cmd;     // commands of the group whose results are complete
	unsigned ncmds;   // commands in the group, the Sync not counted
	unsigned err_cmd; // the command that failed
	bool prepare;     // the group starts with the statement's Parse
	bool exposed;     // a cancel request may have reached the server while this was in flight
	bool cancel_sent; // a cancel request was sent for this one
} store_apg_entry;

struct store_apg_conn {
	store_apg *p;
	unsigned idx;
	int state;               // store_apg_cstate
	PGconn *pg;              // CONNECTING, READY
	struct event *rd, *wr;   // READY: the socket; wr only while output is pending
	struct event *cev;       // CONNECTING: the socket, for PQconnectPoll
	struct event *timer;     // DOWN: back-off; CONNECTING: connect timeout
	struct event *cancel_ev; // the overdue-head check
	bool writing;            // wr is added
	unsigned fails;          // failures since the last successful result
	int64_t cancel_us;       // when the last cancel request left; 0 = none this session
	store_apg_entry *ring;   // the pipeline, p->ring_cap entries
	unsigned head, count;    // ring position of the oldest group; groups in it
	unsigned nq;             // queries (not the setup) in the ring
	unsigned nheavy;         // heavy queries among them
	uint64_t prepared[APG_PREP_WORDS];
};

struct store_apg {
	struct event_base *base;
	obs_registry *reg;
	char *conninfo;
	struct base_resolver *resolver; // borrowed, or NULL
	char *dns_host; // the conninfo's one host name to resolve off the loop, or NULL
	unsigned nconn, max_pipeline, max_queued;
	int stmt_timeout_ms, connect_ms, slow_ms;
	bool no_prepare;
	bool healthy;
	bool connect_failing; // the last connect attempt failed (server unreachable)
	bool closing;         // store_apg_destroy runs
	bool *alive;          // on_done's stack flag, cleared by store_apg_destroy
	store_apg_conn *conns;

	const store_apg_stmt *stmts[APG_MAX_STMTS];
	unsigned nstmts;

	// Waiting for a connection, FIFO per lane: [0] short queries, [1] heavy.
	struct store_apg_lane {
		store_apg_query *head, *tail;
		int64_t wait_us; // moving average of the wait of queries leaving it
	} lanes[2];
	unsigned queued;                // in both lanes
	store_apg_query *dhead, *dtail; // completed, callback not run yet
	unsigned ndone;
	struct event *done_ev;

	store_apg_query **heap; // min-heap on deadline_us of queued and sent queries
	unsigned heap_n, heap_cap;
	struct event *deadline_ev;
	int64_t deadline_at; // what deadline_ev is set for; 0 = not set

	unsigned in_flight;
	obs_gauge *g_depth, *g_queue, *g_size, *g_in_use, *g_idle;
	obs_counter *c_waits;
	obs_histogram *h_wait;
	obs_counter *c_reconnects, *c_rejected, *c_cancels, *c_shed;
};

struct timeval store_apg_tv(int64_t us);
const char *store_apg_label(const store_apg_stmt *s);

// apg.c
// Removes q from the deadline heap and queues its callback (never runs it).
void store_apg_complete(store_apg *p, store_apg_query *q, nrpc_code code, PGresult *res,
                        const char *err);
// Sends queued queries while a connection has room.
void store_apg_pump(store_apg *p);
// While the server is unreachable (the last connect failed) with no
// connection up, completes every queued query with
// UNAVAILABLE (they would otherwise wait for their deadline).
void store_apg_fail_queued_if_down(store_apg *p);

// apg_conn.c
int store_apg_conn_init(store_apg *p, store_apg_conn *c, unsigned idx);
void store_apg_conn_start(store_apg_conn *c);
// The one host NAME of a conninfo that libpq would resolve when connecting
// (malloc'd), or NULL: an address, a socket directory, several hosts, a
// hostaddr given, or a conninfo libpq cannot parse.
char *store_apg_dns_host(const char *conninfo);
// Completes what is in flight with UNAVAILABLE, closes, frees (store_apg_destroy).
void store_apg_conn_close(store_apg_conn *c);
// The ready connection that can take a query (heavy or not, see
// store_apg_stmt.heavy) with the fewest in flight, or NULL.
store_apg_conn *store_apg_conn_pick(store_apg *p, bool heavy);
// Sends q as its own sync group (q is in the deadline heap).
void store_apg_conn_send(store_apg_conn *c, store_apg_query *q);
// q (in flight on c) completed at its deadline: its result will be dropped.
void store_apg_conn_abandon(store_apg_conn *c, store_apg_query *q);
// Arms the cancel check when c's head is overdue.
void store_apg_conn_check_cancel(store_apg_conn *c);

#endif
