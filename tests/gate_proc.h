// it_gate's processes: propgate started as a child (listening on free
// loopback ports, its log in /tmp, checked for sanitizer reports when it
// stops), its /metrics read, and fake backends of the test's own (an nrpc
// server with only Health, reporting a status the test sets).
//
// Threads: the main test thread starts and stops them. Ownership: the structs
// are the caller's; the strings they hold are copies.
#ifndef IT_GATE_PROC_H
#define IT_GATE_PROC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"
#include "nrpc/health.h"
#include "nrpc/server.h"

typedef struct gate_proc {
	pid_t pid;
	char url[H_URL_MAX];
	char http[H_URL_MAX];
	char log[256];
} gate_proc;

typedef struct fake {
	nrpc_server *srv;
	nrpc_health *health;
	char url[H_URL_MAX];
	atomic_int calls; // calls other than Health/Check
} fake;

// A loopback TCP port free right now.
int gate_free_port(void);

// Starts a fake backend on a free port, reporting `st` to Health/Check and
// counting every other call it gets. 0, or -1 after failing the test.
int fake_start(fake *f, enum nrpc_serving st);
void fake_stop(fake *f);

// Starts propgate (env PROPGATE) with --backend for each of backends[n];
// waits for /healthz, and with want_ready for /readyz too. g->url is where
// it listens (set by the caller to choose, e.g. tls+tcp://; else a free
// tcp:// port). 0, or -1 after failing the test.
int gate_start(gate_proc *g, const char *const *backends, size_t n, bool want_ready);
// The same with `flag` before each backend (--backend or --backends-dns).
int gate_start_args(gate_proc *g, const char *const *backends, size_t n, bool want_ready,
                    const char *flag);
// The same with env (NULL-terminated "K=V") set in the gateway.
int gate_start_env(gate_proc *g, const char *const *backends, size_t n, bool want_ready,
                   const char *flag, const char *const *env);
// SIGTERM, bounded wait; fails the test on a bad exit or a sanitizer report.
void gate_stop(gate_proc *g);
// A sample of the gateway's /metrics (0 when absent).
double gate_metric(const gate_proc *g, const char *series);
// "name{backend=\"host:port\"}" for a backend's tcp:// URL.
void backend_series(char *buf, size_t cap, const char *name, const char *url);

#endif
