// nrpc health: grpc.health.v1.Health/Check with a per-service status.
//
// The application names its services at creation and sets their status at any
// time from any thread (the value is an atomic). "" is the whole server.
// Check of a name that was not declared answers 5 NOT_FOUND, as gRPC's health
// service does. The handler never blocks and needs no token.
#ifndef NRPC_HEALTH_H
#define NRPC_HEALTH_H

#include <stddef.h>

#include "nrpc/server.h"

typedef struct nrpc_health nrpc_health;

enum nrpc_serving {
	NRPC_HEALTH_UNKNOWN = 0,
	NRPC_HEALTH_SERVING = 1,
	NRPC_HEALTH_NOT_SERVING = 2,
	NRPC_HEALTH_SERVICE_UNKNOWN = 3,
};

// Declares "" plus services[n] (names are copied), all NOT_SERVING at first.
// Returns NULL on allocation failure.
nrpc_health *nrpc_health_create(const char *const *services, size_t n);
void nrpc_health_destroy(nrpc_health *h);

// Sets one service's status; returns -1 for an undeclared name.
int nrpc_health_set(nrpc_health *h, const char *service, enum nrpc_serving st);
// Sets every declared service, "" included.
void nrpc_health_set_all(nrpc_health *h, enum nrpc_serving st);
// The status of a declared service, or NRPC_HEALTH_SERVICE_UNKNOWN.
enum nrpc_serving nrpc_health_get(const nrpc_health *h, const char *service);

// Registers grpc.health.v1.Health on the server (open, inline).
int nrpc_health_register(nrpc_health *h, nrpc_server *s);

#endif
