// propsub subtcp: the SUB side of nng's SP-over-TCP wire format, for events
// URLs that are all tcp:// (propsub's own; not part of its public API).
//
// Why: nng's sub0 socket takes each message through its task threads and
// wakes the receiving thread once per message, two reads and several thread
// switches per event. Here the caller's thread polls the connections itself
// and one read takes every message that has arrived.
//
// One connection per URL, dialed at open (which waits up to 200 ms for the
// connects to finish and greet, so the publisher counts this subscriber
// before the first receive) and again after a failure (100 ms, doubling to
// 2 s), from propsub_tcp_recv; each sends the 8-byte SUB greeting and checks
// the PUB's.
// A message longer than max_msg, or a peer that is not PUB, closes its
// connection (as nng does). Every message of every connection is returned:
// topic filtering is the caller's.
//
// Threads: one thread at a time (propsub_run's). Memory: the module owns its
// buffers; a message returned by propsub_tcp_recv is valid until the next
// call.
#ifndef PROPSUB_SUBTCP_H
#define PROPSUB_SUBTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct propsub_tcp propsub_tcp;

// True when every URL is tcp://host:port.
bool propsub_tcp_serves_all(const char *const *urls, size_t n);

// Copies the URLs and starts dialing. 0, or -1 with a reason in err (a URL
// without host:port; out of memory).
int propsub_tcp_open(propsub_tcp **out, const char *const *urls, size_t n, size_t max_msg,
                     char *err, size_t errcap);

// Waits up to timeout_ms for a message. 0 with *body and *len, or 1 on
// timeout. Connection failures are not errors: the URL is dialed again.
int propsub_tcp_recv(propsub_tcp *t, int timeout_ms, const uint8_t **body, size_t *len);

// Connections open and greeted now (for tests and diagnostics).
size_t propsub_tcp_connected(const propsub_tcp *t);

// Closes every connection and frees t. NULL is a no-op.
void propsub_tcp_close(propsub_tcp *t);

#endif
