// nrpc server test: what server_test.c (the server, the client helpers and
// main) shares with its parts server_wire_test.c and server_limits_test.c.
// One test program; every case runs over nng and over the own transport.
#ifndef RPC_TEST_SERVER_TEST_H
#define RPC_TEST_SERVER_TEST_H

#include <stdint.h>

#include "base/ioloop.h"
#include "nrpc/client.h"
#include "nrpc/server.h"
#include "rpc/v1/rpc.pb-c.h"

extern const char secret[]; // the servers' auth secret
extern char url[64];        // the server under test
// "loops" on the command line: the own transport on these loops; else nng.
extern base_ioloop *loops[2];
extern unsigned nloops;
extern const char *CHECK_M; // the Health/Check method path

// The Health/Check handler the servers run (see server_test.c).
nrpc_code check(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out, void *arg);
// A free TCP port on 127.0.0.1.
int free_port(void);
// A token for sub, expiring exp_delta seconds from now (malloc'd).
char *token(const char *sub, int64_t exp_delta);
// Sends raw bytes on a fresh req socket; the decoded Response or NULL.
Rpc__V1__Response *raw_call(const void *buf, size_t len);
// Health/Check (or method) for service with tok (NULL: none); the code.
unsigned call_service(nrpc_client *c, const char *method, const char *service, const char *tok,
                      uint32_t timeout_ms, nrpc_result *res);

// server_wire_test.c
void test_order_of_checks(nrpc_client *c, const char *good);
void test_wire_limits(const char *good);
void test_memory(nrpc_client *c, const char *good);
// server_limits_test.c
void test_caller_limit(void);
void test_greeting_timeout(void);

#endif
