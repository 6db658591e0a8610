// base tcplisten: a listening TCP socket, for the servers that accept their
// own connections (the HTTP endpoint, the RPC transport on the event loops).
#ifndef BASE_TCPLISTEN_H
#define BASE_TCPLISTEN_H

#include <stddef.h>

// Resolves host:port (host NULL or "": every interface; port decimal, "0":
// any free port), binds the first address that works with SO_REUSEADDR and
// listens with `backlog`. The socket is non-blocking and close-on-exec.
// Returns the descriptor (the caller closes it) and, when bound_port is not
// NULL, the port actually bound; or -1 with a one-line reason in err.
int base_tcp_listen(const char *host, const char *port, int backlog, int *bound_port, char *err,
                    size_t errcap);

// Splits "host:port" (an IPv6 host in brackets, which are dropped) into
// host[hostcap] and port[portcap]. 0, or -1 when there is no ":port" or a
// part does not fit. host may come out empty.
int base_hostport_split(const char *hostport, char *host, size_t hostcap, char *port,
                        size_t portcap);

// The same for an nng-style URL "scheme://host:port" (any scheme; host "*"
// or empty: every interface; an IPv6 host in brackets). The error names the
// URL; `want` is the form to suggest when the URL has no host:port (e.g.
// "tcp://host:port").
int base_tcp_listen_url(const char *url, const char *want, int backlog, char *err, size_t errcap);

#endif
