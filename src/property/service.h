// property service: the use cases of property.v1 (CONTRACT.md sections 3-6).
//
// A prop_service validates input, applies the owner rules, runs each use case
// against the repository (prop_repo) and the cache (prop_cache, optional),
// and keeps the cache coherent: after every committed write, before the
// caller replies, the new row (or a tombstone) is put and the owner's listing
// pages are invalidated. It knows nothing of nng, libpq or hiredis.
//
// Errors: every use case returns an nrpc_code. NRPC_INVALID_ARGUMENT comes
// with call->viol filled (one entry per bad field) or, when no field is to
// blame (an over-long idempotency-key), with call->ctx.err; every other error
// has a human message in call->ctx.err.
//
// Threads: the service is immutable after creation and shared by all RPC
// workers; use cases block on the ports and run on worker threads.
//
// Memory: the service owns a copy of the token key; the config's repo, cache
// and registry are borrowed and must outlive it. Everything a use case
// returns is allocated with call->ctx.alloc (the request arena).
#ifndef PROP_SERVICE_H
#define PROP_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "obs/metrics.h"
#include "property/ports.h"
#include "property/validate.h"

typedef struct prop_service prop_service;

typedef struct prop_service_config {
	prop_repo repo;           // required
	prop_cache cache;         // cache.ops NULL: no cache
	const uint8_t *token_key; // page-token HMAC key (copied); NULL/0: built-in key
	size_t token_key_len;
	obs_registry *metrics; // business counters; may be NULL
} prop_service_config;

// Returns 0, EINVAL (no repository) or ENOMEM.
int prop_service_create(prop_service **out, const prop_service_config *cfg);
void prop_service_destroy(prop_service *s);

// One request's inputs and outputs besides the messages.
typedef struct prop_call {
	prop_ctx ctx;                // deadline and arena in; error text out
	const char *subject;         // the caller's owner id, NULL without identity
	const char *idempotency_key; // CreateProperty's metadata, NULL or "" if absent
	const uint8_t *payload;      // the serialized request, NULL if unavailable:
	size_t payload_len;          //   scanned for U+0000 and invalid UTF-8 (pbscan.h)
	prop_violations viol;        // out: field violations
} prop_call;

// Zeroes *c and sets deadline and allocator (the other inputs stay NULL).
void prop_call_init(prop_call *c, int64_t deadline_us, ProtobufCAllocator *alloc);

nrpc_code prop_create_property(prop_service *s, prop_call *c,
                               const Property__V1__CreatePropertyRequest *req,
                               Property__V1__Property **out);
nrpc_code prop_get_property(prop_service *s, prop_call *c,
                            const Property__V1__GetPropertyRequest *req,
                            Property__V1__Property **out);
nrpc_code prop_update_property(prop_service *s, prop_call *c,
                               const Property__V1__UpdatePropertyRequest *req,
                               Property__V1__Property **out);
nrpc_code prop_delete_property(prop_service *s, prop_call *c,
                               const Property__V1__DeletePropertyRequest *req);
nrpc_code prop_list_by_owner(prop_service *s, prop_call *c,
                             const Property__V1__ListPropertiesByOwnerRequest *req,
                             Property__V1__ListPropertiesResponse **out);
nrpc_code prop_search_properties(prop_service *s, prop_call *c,
                                 const Property__V1__SearchPropertiesRequest *req,
                                 Property__V1__ListPropertiesResponse **out);
nrpc_code prop_read_events(prop_service *s, prop_call *c,
                           const Property__V1__ReadEventsRequest *req,
                           Property__V1__ReadEventsResponse **out);

#endif
