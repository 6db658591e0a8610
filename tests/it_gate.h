// it_gate's shared context and its cases, by theme: the three propertyd
// instances, the NOT_SERVING fake backend and the gateway in front of them,
// with a client dialed to the gateway and a bearer token (set up by main in
// it_gate.c, which runs the cases in order).
#ifndef IT_GATE_H
#define IT_GATE_H

#include "gate_proc.h"
#include "harness.h"

#define NINST 3

typedef struct ctx {
	h_proc inst[NINST];
	fake notserving;
	gate_proc gate;
	nrpc_client *cli; // dialed to the gateway
	char *auth;
} ctx;

// it_gate.c
void forwards(void *arg);
void spreads(void *arg);
// it_gate_kill.c
void kill9_under_load(void *arg);
void propload_kill9(void *arg);
// it_gate_faults.c
void deadline(void *arg);
void dns(void *arg);
void no_database(void *arg);
// it_gate_tls.c
void mtls(void *arg);

#endif
