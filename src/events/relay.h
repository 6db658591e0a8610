// events relay: moves committed events from the durable log to the PUB socket.
//
// Every instance runs one relay. Each relay binds a pub0 socket on its own
// EVENTS_URL (subscribers dial every instance), but only the instance holding
// the outbox's leadership claims rows (assigning seq) and publishes them, so
// each event is published once, in seq order, by whichever instance leads.
// A relay that does not lead asks for leadership about once a second; one
// that loses its connection (and with it leadership) backs off and asks again.
//
// A tcp:// pub_url is served by events/pubtcp.h (the same wire, each claim's
// events in one write per subscriber, on a thread of its own); the other
// schemes by nng's pub0 socket.
//
// A tls+tcp:// pub_url is served by nng over TLS 1.2 with pub_tls: the
// server certificate and key, and with a CA file every subscriber must
// present a certificate that chains to it (mutual TLS; nng cannot tell the
// relay who the subscriber is, so there is no allow-list here).
//
// Wire format of one event (docs/contract.md section 6): one nng message holding
// the type's bytes, one 0x00 byte, then the serialized property.v1.Event.
// A failed send is logged and counted; the event stays in the log and
// subscribers fill the gap through ReadEvents.
//
// Threads: events_relay_start() starts one thread that owns the outbox connection and
// does all the work. events_relay_start() and events_relay_stop() block (connect, bind,
// join, flush) and are called from one controlling thread; events_relay_is_leader()
// may be called from any thread.
//
// Metrics (in cfg->metrics): propertyd_events_published_total{type},
// propertyd_events_publish_errors_total, propertyd_events_subscriber_drops_total
// (tcp:// only), propertyd_relay_leader (0/1),
// propertyd_relay_lag_rows, propertyd_relay_lag_seconds (queried about once a
// second; the leader sets them to 0 after a claim that took every row waiting
// and queries only while behind).
#ifndef EVENTS_RELAY_H
#define EVENTS_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/tls.h"
#include "obs/metrics.h"
#include "store/outbox.h"

typedef struct events_relay events_relay;

typedef struct events_relay_config {
	const char *conninfo;    // libpq conninfo for the outbox's direct connection (copied)
	const char *pub_url;     // nng listen URL of the PUB socket, e.g. tcp://127.0.0.1:7701
	const nrpc_tls *pub_tls; // for a tls+tcp:// pub_url (read by events_relay_start); else NULL
	obs_registry *metrics;   // borrowed, must outlive the relay; NULL: a private registry
	int64_t retention_s;     // published events older than this are pruned; 0: 7 days
	int poll_ms;             // longest sleep between claims when idle; 0: 250
	unsigned max_subscribers; // PUB connections kept at once; more are closed; 0: no cap
	// Called on the relay thread with the changes of each claim once it is
	// published (seq order); NULL: none. Must not block.
	void (*published)(void *arg, const store_outbox_change *ch, size_t n);
	void *published_arg;
} events_relay_config;

// Subscriber connections open now and refused so far (max_subscribers).
void events_relay_connections(const events_relay *r, int *open, uint64_t *refused);

// Opens the outbox, binds the PUB socket and starts the relay thread. On
// failure returns -1 with a reason in err[errcap] and *out untouched (nothing
// is left running). A database that is down is not a failure: the thread
// keeps retrying. A URL that cannot be bound is.
int events_relay_start(events_relay **out, const events_relay_config *cfg, char *err,
                       size_t errcap);

// Stops the thread: when leading, it first claims and publishes what is
// pending (bounded by RELAY_FLUSH_BUDGET_MS), then the socket and the
// connection are closed (which releases leadership). Blocks for the outbox
// call in progress (bounded by the store's statement timeout), the flush
// budget, a short linger (200 ms) and the close watchdog: normally well under a
// second. Frees r; NULL is a no-op.
void events_relay_stop(events_relay *r);

// Whether this relay currently holds leadership (a snapshot).
bool events_relay_is_leader(events_relay *r);

// Tells the relay that a write committed an event: the leader claims and
// publishes at once (after gathering a burst for a few ms); a follower
// NOTIFYs the leading instance. Never blocks; any thread; r may be NULL.
void events_relay_kick(events_relay *r);

#endif
