// store outbox: the event relay's view of the durable event log.
//
// One outbox is one dedicated, direct PostgreSQL connection (never pooled,
// never through pgbouncer: it holds a session advisory lock and LISTENs).
// Leadership: the instance holding the advisory lock is the only one that
// assigns seq and publishes. seq is assigned by store_outbox_claim() in one
// transaction, serialized on a single relay_state row, so it is gap-free and
// strictly increasing whatever order writers committed in. A claim never
// rewrites the wide event_log row: it inserts a narrow (seq, ins_id) pair
// into event_seq, and a row is unclaimed while it has no pair. Unclaimed rows
// are looked for only above relay_state.floor_ins, which moves up only over
// ids that are claimed or can no longer appear (the 0003 migration explains
// why an id that a slow writer holds is never passed), never by trusting
// bigserial order.
//
// Threads: an outbox is used by one thread (the relay's). Calls block, each
// bounded by a statement_timeout. Every call that fails because the
// connection broke returns -1; the next call reconnects (and leadership must
// then be won again).
#ifndef STORE_OUTBOX_H
#define STORE_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "property/v1/events.pb-c.h"

typedef struct store_outbox store_outbox;

// Connects (a failed first connect is not an error: it is retried by later calls).
int store_outbox_open(store_outbox **out, const char *conninfo, char *err, size_t errcap);
void store_outbox_close(store_outbox *o);

typedef enum store_outbox_lead {
	STORE_OUTBOX_LEAD_ERROR = -1, // connection error
	STORE_OUTBOX_LEAD_OTHER = 0,  // another instance leads
	STORE_OUTBOX_LEAD_HELD = 1,   // this connection leads (until it drops)
} store_outbox_lead;

// Takes leadership if no instance holds it.
store_outbox_lead store_outbox_try_lead(store_outbox *o);

typedef enum store_outbox_wake {
	STORE_OUTBOX_WAIT_ERROR = -1,   // connection error
	STORE_OUTBOX_WAIT_TIMEOUT = 0,  // timeout_ms passed
	STORE_OUTBOX_WAIT_NOTIFIED = 1, // a notification: rows were appended
	STORE_OUTBOX_WAIT_KICKED = 2,   // wake_fd became readable (the caller drains it)
} store_outbox_wake;

// Waits up to timeout_ms for a notification that rows were appended, or for
// `wake_fd` (-1: none) to become readable.
store_outbox_wake store_outbox_wait(store_outbox *o, int timeout_ms, int wake_fd);
// Tells the leader (on whatever instance) that rows were appended: one
// NOTIFY in its own transaction. Writers never NOTIFY inside their write:
// PostgreSQL serializes the commits of notifying transactions, which halved
// CreateProperty's throughput. 0 or -1 on a connection error.
int store_outbox_notify(store_outbox *o);
// Assigns the next seqs to at most `max` unpublished rows (oldest insert
// first) and returns them as events in seq order, malloc'd; free with
// store_outbox_events_free(). Returns the count (0..max) or -1 on error.
int store_outbox_claim(store_outbox *o, size_t max, Property__V1__Event ***events);
void store_outbox_events_free(Property__V1__Event **events, size_t n);
// Rows appended but not yet assigned a seq (committed ones the claim would
// find), and the age of the oldest in ms.
int store_outbox_lag(store_outbox *o, int64_t *rows, int64_t *oldest_ms);
// One published change, narrow: what a cache must learn of it.
typedef struct store_outbox_change {
	uint64_t seq;
	uint64_t version;
	bool deleted;   // property.deleted (else created or updated)
	char id[37];    // the property
	char owner[72]; // its owner ("" when longer: such owners are never cached)
} store_outbox_change;

// Fills *c (id and owner copied; an owner too long for c->owner becomes "").
void store_outbox_change_set(store_outbox_change *c, uint64_t seq, uint64_t version, bool deleted,
                             const char *id, const char *owner);

// The newest published seq (0 with none), for a reader starting "from now".
// 0, or -1 on a connection error.
int store_outbox_head(store_outbox *o, uint64_t *last_seq);
// At most `max` published changes with seq > after_seq, in seq order, into
// out[]. Returns the count, or -1 on a connection error.
int store_outbox_changes(store_outbox *o, uint64_t after_seq, size_t max, store_outbox_change *out);

// Deletes published events older than retention_s (each row with its
// event_seq pair, in one statement); returns rows deleted or -1.
int64_t store_outbox_prune(store_outbox *o, int64_t retention_s);

#endif
