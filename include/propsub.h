// propsub: the C subscriber library for propertyd's domain events
// (docs/contract.md section 6).
//
// Delivers every event whose type starts with a prefix exactly once and in
// seq order, across any number of propertyd instances, however many PUB
// messages are lost, duplicated or reordered on the way:
//
//   - every instance's EVENTS_URL is dialed (only the leading instance
//     publishes, and leadership moves): when all are tcp://, over
//     connections of propsub's own on the caller's thread (one read takes
//     every message that arrived); otherwise by one nng sub0 socket;
//   - an event whose seq was already delivered (or skipped) is dropped;
//   - a jump in seq is a gap: it is filled from the durable log with
//     EventService/ReadEvents (over nrpc, balanced over the RPC URLs: see
//     docs/balancing.md) before the event after it is delivered;
//   - after PROPSUB_SILENCE_MS without a message, one ReadEvents call looks
//     for a lost tail (a last message dropped with nothing after it);
//   - at start, events after from_seq are read from the log first; live
//     messages arriving meanwhile wait in the receive buffers.
//
// Seqs are global across types, so a subscriber to `property.created` sees
// the seqs of other types as gaps. By default the socket subscribes to the
// prefix itself and such a gap costs one ReadEvents call (with the prefix: it
// returns only matching events, and its last_seq tells what is known).
// With filter_locally the socket takes every event and drops non-matching
// ones itself: more bytes, but a gap is then always a real loss and costs no
// call. Prefer it for a narrow prefix on a busy log.
//
// Threads: propsub_run() runs the receive loop on the caller's thread and the
// callbacks are called there, one at a time. propsub_stop() may be called
// from any thread, from a callback, or from a signal handler. Everything else
// is for the thread that calls propsub_run().
//
// Memory: the config is copied by propsub_open(). The event passed to
// on_event is valid only during the call.
//
// Errors: propsub_open() writes a reason into the caller's buffer. A failing
// ReadEvents (server down, bad token) is retried every second; the first
// failure of an outage is written as one line on stderr, and every failure is
// counted in the stats. One failure is final: 11 OUT_OF_RANGE means events
// after the position were pruned by the server's retention, so exactly-once
// delivery is no longer possible. propsub then calls on_error (if set), writes
// one line on stderr, stops, and propsub_run() returns -1 (now and on every
// later call); propsub_position() stays where delivery stopped. To go on
// regardless, open a new subscriber from a later seq (the message names the
// oldest one kept).
#ifndef PROPSUB_H
#define PROPSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/tls.h"
#include "property/v1/events.pb-c.h"

// from_seq meaning "only events published from now on" (the newest seq in
// the log when the subscriber starts, or the first live event if the log
// cannot be read then).
#define PROPSUB_FROM_NOW UINT64_MAX

typedef struct propsub propsub;

typedef struct propsub_config {
	const char *const *event_urls; // nng URLs of every instance's PUB socket
	size_t n_event_urls;           // at least 1
	const char *const *rpc_urls;   // nng URLs of the RPC servers, for ReadEvents
	size_t n_rpc_urls;             // at least 1
	const char *token;             // bearer token for ReadEvents; NULL: none
	// TLS settings for tls+tcp:// rpc_urls, read by propsub_open() only.
	// A tls+tcp:// URL is refused unless they name a CA (ca_file) to verify
	// the server, or set insecure_skip_verify (development only: nrpc warns
	// on stderr, and the token goes to whoever answers). cert_file/key_file
	// add a client certificate (mutual TLS). NULL: no TLS settings, so only
	// tcp:// and ipc:// rpc_urls.
	const nrpc_tls *rpc_tls;
	// The same for tls+tcp:// event_urls, read by propsub_open() only: a CA
	// (or insecure_skip_verify) is required, and a server that protects its
	// stream (docs/security.md) admits only subscribers that present a
	// certificate (cert_file, key_file). NULL: tcp:// and ipc:// event_urls only.
	const nrpc_tls *events_tls;
	const char *type_prefix; // e.g. "property." or "property.created"; NULL/"": all
	uint64_t from_seq;       // deliver events with seq > from_seq; or PROPSUB_FROM_NOW
	bool filter_locally;     // see above
	// Called once per matching event, in seq order. Required.
	void (*on_event)(const Property__V1__Event *ev, void *arg);
	// Called after events were delivered from ReadEvents rather than from the
	// live stream (catch-up at start, a gap, a lost tail): the first and last
	// seq so delivered by one ReadEvents reply. Optional.
	void (*on_reread)(uint64_t from, uint64_t to, void *arg);
	// Called once when the subscriber gives up for good: code 11
	// OUT_OF_RANGE (events were pruned) and the server's message. Optional.
	void (*on_error)(unsigned code, const char *message, void *arg);
	void *arg; // passed to every callback
} propsub_config;

typedef struct propsub_stats {
	uint64_t delivered;   // on_event calls
	uint64_t reread;      // of which from ReadEvents
	uint64_t duplicates;  // live messages dropped as already delivered
	uint64_t malformed;   // live messages that did not decode
	uint64_t read_calls;  // ReadEvents calls
	uint64_t read_errors; // ReadEvents calls that failed (retried later, unless final)
} propsub_stats;

// Opens the socket and the RPC client; dials are non-blocking (an instance
// that is down is retried in the background). Does not block on the network.
// Returns 0, or -1 with a reason in err[errcap] and *out untouched.
int propsub_open(propsub **out, const propsub_config *cfg, char *err, size_t errcap);

// Receives and delivers until propsub_stop() or until timeout_ms passed
// (< 0: no timeout). Returns 0 then, or -1 if the socket failed for good or
// the log was pruned past the position (see Errors above).
// May be called again after it returned; the position is kept. Blocks the
// caller; a stop is noticed within ~100 ms, or when a ReadEvents call in
// progress ends (at most PROPSUB_RPC_TIMEOUT_MS).
int propsub_run(propsub *s, int timeout_ms);

// Makes propsub_run() return (and return at once if called later).
// Async-signal-safe.
void propsub_stop(propsub *s);

// Closes the socket and the RPC client and frees s. Not while propsub_run()
// runs. NULL is a no-op.
void propsub_close(propsub *s);

// Every seq up to this one was delivered or is known not to match: persist it
// and pass it as from_seq to resume without loss or repetition.
// PROPSUB_FROM_NOW while started from now and "now" is not located yet.
uint64_t propsub_position(const propsub *s);

void propsub_get_stats(const propsub *s, propsub_stats *out);

#define PROPSUB_SILENCE_MS     1500 // lost-tail check after this much silence
#define PROPSUB_RPC_TIMEOUT_MS 3000 // bound of one ReadEvents call

#endif
