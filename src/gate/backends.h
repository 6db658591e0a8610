// gate backends: the set of instances the gateway forwards to, their health,
// and their metrics.
//
// Sources: each --backend URL (tcp://host:port; its first address) and each
// --backends-dns HOST:PORT (every A/AAAA record) are resolved on a resolver
// thread of the set's own, at start and then every GATE_RESOLVE_MS: an
// address that appears gets a slot, one that vanished is marked absent (it
// takes no calls; its slot is kept, and revived if it comes back). Slots are
// never freed while the gateway runs, so a loop may read any slot below
// gate_backends_count() without a lock.
//
// Health: loop 0 checks every present backend with /grpc.health.v1.Health/Check
// every GATE_HEALTH_MS on a connection of its own. A reply other than SERVING,
// no reply within GATE_HEALTH_TIMEOUT_MS, or a failed connection marks it
// down; a SERVING reply marks it up. A data connection that fails marks it
// down at once too (gate_backend_down). So a backend that dies or reports
// NOT_SERVING stops getting calls within GATE_HEALTH_MS + GATE_HEALTH_TIMEOUT_MS,
// and gets them again within GATE_HEALTH_MS of answering SERVING.
//
// Threads: the resolver writes slots under the set's mutex and publishes the
// count with release order; `up` and `present` are atomics read by every loop;
// the health state belongs to loop 0. Metrics series are looked up when a
// slot is made and updated lock-free.
#ifndef GATE_BACKENDS_H
#define GATE_BACKENDS_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "obs/metrics.h"

#define GATE_MAX_BACKENDS      64
#define GATE_MAX_SOURCES       32
#define GATE_RESOLVE_MS        1000
#define GATE_HEALTH_MS         250
#define GATE_HEALTH_TIMEOUT_MS 500

struct base_ioloop;
struct gate_link;

typedef struct gate_backend {
	char name[64]; // "address:port", the metrics label; fixed once published
	struct sockaddr_storage addr;
	socklen_t alen;
	atomic_bool present;    // in the latest resolution of its source
	atomic_bool up;         // healthy: takes calls
	bool tls;               // reached over TLS (a tls+tcp:// source); fixed once published
	obs_counter *calls;     // replies received
	obs_counter *failed;    // calls whose connection failed under them
	obs_counter *errors;    // replies with a status other than OK
	obs_histogram *latency; // send to reply, seconds
	obs_gauge *g_up;
	// Health checking (loop 0 only).
	struct gate_link *hlink;
	uint32_t hid;     // the check in flight, 0: none
	int64_t hsent_us; // when it was sent
} gate_backend;

typedef struct gate_source {
	char host[256];
	char port[8];
	bool every_record; // --backends-dns: every address; --backend: the first
	bool tls;          // tls+tcp://
} gate_source;

typedef struct gate_backends gate_backends;

struct gate_tls;

// Parses the sources (URLs tcp://host:port or tls+tcp://host:port; DNS
// names host:port, optionally with one of those schemes). tls+tcp:// sources
// are dialed with `tls` (borrowed; required when there is one). Returns 0,
// or -1 with a reason in err.
int gate_backends_create(gate_backends **out, const char *const *urls, size_t nurls,
                         const char *const *dns, size_t ndns, struct gate_tls *tls,
                         obs_registry *reg, char *err, size_t errcap);
// The TLS settings to dial b with, or NULL (plain TCP).
struct gate_tls *gate_backends_tls(const gate_backends *bs, const gate_backend *b);
// Resolves once (blocking) and starts the resolver thread and, on loop0, the
// health checks. Returns 0 or -1 with a reason in err.
int gate_backends_start(gate_backends *bs, struct base_ioloop *loop0, char *err, size_t errcap);
// Stops the resolver and the health checks (before loop0 stops) and frees.
void gate_backends_destroy(gate_backends *bs);

// Slots published so far; slot i for i below it.
unsigned gate_backends_count(const gate_backends *bs);
gate_backend *gate_backends_at(gate_backends *bs, unsigned i);
// Backends that are present and up now.
unsigned gate_backends_healthy(const gate_backends *bs);
// Marks a backend down at once (a data connection failed), any loop.
void gate_backend_down(gate_backend *b);

#endif
