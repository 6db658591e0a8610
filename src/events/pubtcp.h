// events pubtcp: the PUB side of nng's SP-over-TCP wire format, served by a
// thread of its own, for the relay's plain tcp:// URLs.
//
// Why not nng's pub0 socket: it sends every message on its own -- a hand-off
// to nng's task threads and one sendmsg per event per subscriber, about 18 us
// of CPU per event with one subscriber on the 2-core bench machine. Here a
// claim's events go to each subscriber in one write.
//
// Wire (what nng's SUB expects): each side sends the 8-byte greeting
// {0, 'S', 'P', 0, 0, proto, 0, 0} (PUB 0x20, SUB 0x21); then every message is
// a 64-bit big-endian length and the body. A SUB peer never sends more; bytes
// it sends anyway are read and ignored. A peer whose greeting is not SUB's,
// or that has not greeted PUBTCP_GREET_MS after its accept, is closed.
//
// Delivery: a batch reaches the subscribers that have greeted when the
// thread takes it, whole messages only. A subscriber with more than
// PUBTCP_BACKLOG_MAX bytes not yet written is skipped for that batch (counted
// in `dropped`; subscribers fill gaps through ReadEvents, as with nng's pub0,
// which drops as well when a subscriber's queue is full).
//
// Bounds: connections beyond `max` (0: no cap) are closed at accept and
// counted in cl->refused; cl->open counts the connections kept.
//
// Threads: events_pubtcp_publish may be called from any thread; start and
// destroy from the owner. Ownership: the module owns its sockets and buffers;
// `cl` is borrowed and must outlive the module.
#ifndef EVENTS_PUBTCP_H
#define EVENTS_PUBTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/connlimit.h"

#define PUBTCP_GREET_MS    10000      // a subscriber greets within this after accept
#define PUBTCP_BACKLOG_MAX (4u << 20) // bytes queued for one subscriber at most
#define PUBTCP_LINGER_MS   200        // destroy waits this long for queued bytes

typedef struct events_pubtcp events_pubtcp;

// True for the URLs served here: tcp:// (tls+tcp:// and the other schemes stay
// with nng).
bool events_pubtcp_serves(const char *url);

// Binds url (tcp://host:port; host "*" or empty: every interface; [v6] in
// brackets) and starts the thread. `max` caps the connections (0: none); `cl`
// receives the counts (its limit is set to max). Returns 0, or -1 with a
// reason in err.
int events_pubtcp_start(events_pubtcp **out, const char *url, unsigned max, nrpc_connlimit *cl,
                        char *err, size_t errcap);

// Queues `len` bytes of framed messages (each: 8-byte big-endian length, then
// the body) for every subscriber; the bytes are copied. Returns 0, or -1 when
// memory ran out (the batch is dropped).
int events_pubtcp_publish(events_pubtcp *p, const uint8_t *framed, size_t len);

// Batches skipped for a subscriber over its backlog, so far.
uint64_t events_pubtcp_dropped(const events_pubtcp *p);

// Sends what is queued (up to PUBTCP_LINGER_MS), closes every connection and
// the listener, joins the thread and frees p. NULL is a no-op.
void events_pubtcp_destroy(events_pubtcp *p);

#endif
