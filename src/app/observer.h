// app observer: what propertyd records for every RPC reply — the request
// metrics and one JSON access-log line.
//
// Series pointers are resolved once per (method, code) and kept in a
// lock-free table, so the hot path is a few atomic adds and no lock.
// Created before the server starts, destroyed after it stopped.
#ifndef APP_OBSERVER_H
#define APP_OBSERVER_H

#include <stdbool.h>

#include "nrpc/server.h"
#include "obs/metrics.h"

typedef struct app_observer app_observer;

// `methods` are the full paths that get their own label; any other method
// name is recorded as "unknown" so a caller cannot grow the label space.
app_observer *app_observer_create(obs_registry *reg, const char *const *methods, size_t n,
                                  bool log_requests);
void app_observer_destroy(app_observer *o);

// The nrpc_observer callback; arg is the observer.
void app_observer_on_call(const nrpc_call_summary *s, void *arg);

#endif
