// A getaddrinfo that stalls: LD_PRELOADed into propertyd by it_dns, it makes
// the lookups of one name (env SLOWDNS_NAME), after the first SLOWDNS_FAST
// ones, take SLOWDNS_MS milliseconds, and answers them as 127.0.0.1 -- a DNS
// server that turns slow while the service runs. Every other name goes to the
// real getaddrinfo.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int seen; // lookups of the name so far

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
	gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
	const char *name = getenv("SLOWDNS_NAME");
	if (real == NULL)
		return EAI_FAIL;
	if (node != NULL && name != NULL && strcmp(node, name) == 0) {
		const char *ms = getenv("SLOWDNS_MS"), *fast = getenv("SLOWDNS_FAST");
		long v = ms != NULL ? strtol(ms, NULL, 10) : 3000;
		if (atomic_fetch_add(&seen, 1) >= (fast != NULL ? atoi(fast) : 0)) {
			struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
		node = "127.0.0.1";
	}
	return real(node, service, hints, res);
}
