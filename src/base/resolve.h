// base resolve: host names resolved off the event loops.
//
// libpq and hiredis resolve a host NAME with a blocking getaddrinfo when a
// connect starts; on an event loop that stalls every request of the loop for
// as long as the resolver takes (seconds, when a DNS server is slow or gone).
// This module keeps a small cache of names, resolved by a thread of its own:
// a loop about to connect asks base_resolve(), which never blocks, and then
// connects to the numeric address it got (libpq: hostaddr=, hiredis: the
// address), or tries again a little later while the name is being resolved.
//
// Freshness: an answer is used for BASE_RESOLVE_TTL_MS; after that the old
// address is still returned (a connect must not wait for DNS) while the name
// is resolved again in the background. A failed resolution is reported until
// the next attempt, BASE_RESOLVE_RETRY_MS later.
//
// Threads: base_resolve from any thread (a mutex guards the cache, never held
// across getaddrinfo). Ownership: the resolver owns its thread and cache;
// start/stop from one owning thread.
#ifndef BASE_RESOLVE_H
#define BASE_RESOLVE_H

#include <stddef.h>

#define BASE_RESOLVE_TTL_MS   30000
#define BASE_RESOLVE_RETRY_MS 1000
#define BASE_RESOLVE_NAMES    16 // names kept; more are answered FAILED
#define BASE_RESOLVE_ADDR_MAX 64 // a numeric IPv4/IPv6 address and its NUL

typedef struct base_resolver base_resolver;

enum base_resolve_result {
	BASE_RESOLVE_NUMERIC, // host is already an address: connect to it as given
	BASE_RESOLVE_READY,   // addr holds the address to connect to
	BASE_RESOLVE_PENDING, // being resolved: try again shortly
	BASE_RESOLVE_FAILED,  // the last resolution failed; err says why
};

// The lookup the resolver thread runs (getaddrinfo by default; tests inject
// a slow or failing one). Writes the first address of host, numeric, to
// addr[cap]; returns 0, or -1 with a reason in err.
typedef int (*base_lookup_fn)(const char *host, char *addr, size_t cap, char *err, size_t errcap);

// Starts the resolver thread (lookup NULL: getaddrinfo). 0, or -1 with a
// reason in err.
int base_resolver_start(base_resolver **out, base_lookup_fn lookup, char *err, size_t errcap);
// Stops the thread (waits for a lookup in progress) and frees. NULL: no-op.
void base_resolver_stop(base_resolver *r);

// Never blocks. See the enum. addr gets BASE_RESOLVE_ADDR_MAX bytes at most.
enum base_resolve_result base_resolve(base_resolver *r, const char *host, char *addr, size_t cap,
                                      char *err, size_t errcap);

#endif
