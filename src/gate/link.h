// gate link: one SP-over-TCP REQ connection from the gateway to a backend,
// owned by one event loop.
//
// It speaks the REQ side of nng's wire format (the 8-byte greeting, 64-bit
// big-endian length prefixes, a 32-bit request id with its top bit set in
// front of each request, echoed in front of the reply), so any nng REP server
// (propertyd's own transport included) answers it. Many requests are in
// flight at once (up to GATE_LINK_MAX_INFLIGHT); replies are matched by id,
// in whatever order they come. Requests queued in one pass of the loop leave
// in one write (gate_link_flush_all at the end of the pass).
//
// Outcomes: each request sent gets exactly one of
//   on_reply(ctx, body, len)  -- the backend's reply (body valid during the call);
//   on_fail(ctx, sent)        -- the connection failed or closed first. `sent`
//                                is false when the connection (and its TLS
//                                session) never came up: nothing reached the
//                                backend; true otherwise;
// unless the caller withdrew it first with gate_link_cancel (a late reply is
// then dropped). A connect that does not complete within
// GATE_LINK_CONNECT_MS fails.
//
// Threads: everything on the owning loop's thread. Ownership: the caller owns
// the link (gate_link_close frees it once nothing is pending on it); ctx
// pointers are the caller's.
#ifndef GATE_LINK_H
#define GATE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define GATE_LINK_MAX_INFLIGHT 1024
#define GATE_LINK_CONNECT_MS   1000

struct event_base;
struct gate_tls;
typedef struct gate_link gate_link;

typedef struct gate_link_ops {
	void (*on_reply)(void *ctx, const uint8_t *body, size_t len);
	void (*on_fail)(void *ctx, bool sent);
	// The link is down (connect failed, closed): called once, after every
	// pending request had its on_fail. May be NULL.
	void (*on_down)(void *owner, bool was_up);
	void *owner;
} gate_link_ops;

// Starts a non-blocking connect to addr, with TLS when tls is not NULL
// (borrowed; tlsclient.h). NULL on failure (out of memory or no socket); a
// refused connect or a failed handshake shows later as on_fail/on_down.
gate_link *gate_link_open(struct event_base *base, const struct sockaddr *addr, socklen_t alen,
                          struct gate_tls *tls, const gate_link_ops *ops);
// True while the link can take requests (connecting or up, not full).
bool gate_link_usable(const gate_link *l);
// Queues a request: body = head[hlen] followed by tail[tlen] (either may be
// empty). Returns the id it was given, or 0 when the link cannot take it.
uint32_t gate_link_send(gate_link *l, const uint8_t *head, size_t hlen, const uint8_t *tail,
                        size_t tlen, void *ctx);
// Withdraws the request `id` (its ctx is never called again).
void gate_link_cancel(gate_link *l, uint32_t id);
// Writes what was queued (call at the end of a pass).
void gate_link_flush(gate_link *l);
// Requests in flight on it.
unsigned gate_link_inflight(const gate_link *l);
// True once the link is down (it takes nothing more; close it).
bool gate_link_dead(const gate_link *l);
// Closes: pending requests get on_fail(ctx, sent) first (on_down is not
// called), then the link is freed. NULL is a no-op.
void gate_link_close(gate_link *l);

#endif
