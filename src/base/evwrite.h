// base evwrite: writing an evbuffer to a nonblocking socket from its event
// loop (the RPC server's connections, the gateway's links to backends).
//
// Call on the loop thread that owns the socket and its events. The buffer,
// the socket and the event stay the caller's.
#ifndef BASE_EVWRITE_H
#define BASE_EVWRITE_H

#include <event2/buffer.h>
#include <event2/event.h>

// Writes what of buf the socket fd takes now. The rest waits for
// writability: wev (fd's EV_WRITE event, not persistent) is added, and its
// callback calls this again; while wev is pending nothing is written here.
// Returns 0, or -1 when the socket failed (the caller closes it).
int base_ev_write(struct evbuffer *buf, evutil_socket_t fd, struct event *wev);

#endif
