// A fake nrpc server for propload's tests: one rep0 socket served by one
// thread, answering every request with an OK rpc.v1.Response (for
// grpc.health.v1.Health/Check, with a status: SERVING unless set otherwise).
// It can stall once (the whole server, like a GC pause) on its Nth request.
#ifndef PL_FAKE_SERVER_H
#define PL_FAKE_SERVER_H

#include <stdint.h>

typedef struct fake_server fake_server;

// Listens on `url`; stalls stall_ms before answering request number stall_at
// (1-based; 0 never). Returns 0 or an nng error.
int fake_server_start(fake_server **out, const char *url, uint64_t stall_at, unsigned stall_ms);
// Requests answered so far, and how many of them were health checks.
uint64_t fake_server_count(fake_server *s);
uint64_t fake_server_health_count(fake_server *s);
// What Health/Check answers from now on (1 SERVING, 2 NOT_SERVING).
void fake_server_set_health(fake_server *s, int status);
void fake_server_stop(fake_server *s);

#endif
