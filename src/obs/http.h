// obs http: the operations endpoint — GET /healthz, /readyz and /metrics.
//
//   GET /healthz  200 "ok\n" while the server runs.
//   GET /readyz   200 "ready\n" when ready(ready_arg) returns non-zero, else
//                 503 "not ready\n".
//   GET /metrics  200, Content-Type `text/plain; version=0.0.4; charset=utf-8`,
//                 the registry rendered by obs_registry_render(); the collect
//                 hook, if set, runs first so the app can refresh gauges.
//   anything else 404 (405 for another method on a known path); HEAD works
//                 wherever GET does.
//
// Limits: at most max_connections connections are open at once (when full, a
// new one takes the slot of the one that has waited longest for its request;
// only when every slot is sending a reply is it answered 503), and each must deliver its request
// head (at most 8 KiB) and take its reply within timeout_ms of being accepted, or it is closed;
// every reply closes its connection. Defaults below, obs_http_set_limits changes them.
//
// Threads: requests are served on one thread of the server's own. `ready`
// and `collect` are called there and must not block: `ready` reads a flag,
// `collect` copies a few counters into gauges. Collect-and-render runs under
// a mutex, so `collect` never runs concurrently with itself.
//
// Ownership: the registry, ready_arg and collect_arg stay the caller's; they
// must outlive obs_http_stop(), after which no callback is running or will
// run. The obs_http handle is owned by the caller until obs_http_stop().
//
// Errors: obs_http_start returns 0, or -1 with a one-line message in err.
#ifndef OBS_HTTP_H
#define OBS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "obs/metrics.h"

#define OBS_HTTP_DEFAULT_MAX_CONNECTIONS 64
#define OBS_HTTP_DEFAULT_TIMEOUT_MS      5000
#define OBS_HTTP_MAX_CONNECTIONS_CAP     1024 // the most obs_http_set_limits accepts

typedef struct obs_http obs_http;

// Returns non-zero when the service would answer Health with SERVING.
typedef int (*obs_ready_fn)(void *arg);

// Refreshes gauges right before /metrics renders.
typedef void (*obs_collect_fn)(void *arg);

// Starts listening on `host_port` ("127.0.0.1:7702", "[::1]:7702"; port 0
// picks a free port, see obs_http_port). `ready` may be NULL (always ready).
// Blocks only while binding. On failure nothing is left running and *out is
// untouched.
int obs_http_start(obs_http **out, const char *host_port, obs_registry *reg, obs_ready_fn ready,
                   void *ready_arg, char *err, size_t errcap);

// Installs (or, with NULL, removes) the collect hook. Safe at any time,
// also while requests are being served.
void obs_http_set_collect(obs_http *h, obs_collect_fn collect, void *arg);

// Sets the connection cap (1..OBS_HTTP_MAX_CONNECTIONS_CAP, clamped) and the
// per-connection time limit (ms; <= 0: the default). Safe at any time.
void obs_http_set_limits(obs_http *h, unsigned max_connections, int timeout_ms);

// Connections open now, refused or evicted at the cap so far, closed at their deadline
// so far. Any thread.
void obs_http_stats(const obs_http *h, int *open, uint64_t *refused, uint64_t *timed_out);

// The TCP port actually bound (useful after asking for port 0).
int obs_http_port(const obs_http *h);

// Stops the server thread (a reply being built is finished first: callbacks
// never block, so this is short), closes every connection and frees h. No
// callback runs after it returns. NULL is a no-op.
void obs_http_stop(obs_http *h);

#endif
