// A fake nrpc server for propload's tests: one rep0 socket served by one
// thread, answering every request with an OK rpc.v1.Response. It can stall
// once (the whole server, like a GC pause) on its Nth request.
#ifndef PL_FAKE_SERVER_H
#define PL_FAKE_SERVER_H

#include <stdint.h>

typedef struct fake_server fake_server;

// Listens on `url`; stalls stall_ms before answering request number stall_at
// (1-based; 0 never). Returns 0 or an nng error.
int fake_server_start(fake_server **out, const char *url, uint64_t stall_at, unsigned stall_ms);
// Requests answered so far.
uint64_t fake_server_count(fake_server *s);
void fake_server_stop(fake_server *s);

#endif
