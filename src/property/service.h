// property service: the use cases of property.v1 (docs/contract.md §3-6).
//
// A prop_service validates input, applies the owner rules, runs each use case
// against the repository (prop_repo) and the cache (prop_cache, optional),
// and keeps the cache coherent: after every committed write, before the
// caller is answered, the new row (or a tombstone) is put and the owner's
// listing pages are invalidated. It knows nothing of nng, libpq or hiredis.
//
// Asynchronous: a use case validates at once and then continues through the
// ports' continuations (ports.h); it ends by calling c->done exactly once --
// possibly before the use case function returns. After done the call is the
// caller's again.
//
// Errors: every use case ends with an nrpc_code. NRPC_INVALID_ARGUMENT comes
// with c->viol filled (one entry per bad field) or, when no field is to
// blame (an over-long idempotency-key), with c->ctx.err; every other error
// has a human message in c->ctx.err.
//
// Threads: the service is immutable after creation and shared by every
// event loop; one call runs on one loop at a time (ports.h).
//
// Memory: the service owns a copy of the token key; the config's repo, cache
// and registry are borrowed and must outlive it. Everything a use case
// returns is allocated with c->ctx.alloc (the request arena), and so is the
// prop_call itself when the RPC glue creates it.
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

typedef struct prop_call prop_call;

// How a use case ends: rc, and on NRPC_OK its output message (Property for
// create/get/update, ListPropertiesResponse for list/search,
// ReadEventsResponse for read_events, NULL for delete) -- or, for a listing
// served from the cache, NULL with the serialized response in c->packed.
typedef void (*prop_done)(prop_call *c, nrpc_code rc, void *out);

// The private state of a running use case (the continuations' variables).
typedef struct prop_call_state {
	prop_service *svc;
	char id[37];
	char hash[65];
	char page_key[32];
	const char *owner;
	Property__V1__Property row; // create: the row to insert
	Property__V1__Property *out;
	Property__V1__ListPropertiesResponse *list;
	bool replayed;
	bool has_after;
	bool use_cache;
	int cache_result;
	uint32_t size;
	uint64_t qhash, gen, last_seq;
	prop_cursor after;
	prop_page page;
	uint8_t *data;
	size_t len;
	Property__V1__Event **events;
	size_t n_events;
	prop_cache_change change;
	nrpc_code code; // the outcome owed once the cache has caught up
} prop_call_state;

// One request's inputs and outputs besides the messages.
struct prop_call {
	prop_ctx ctx;                // first: deadline, arena and loop in; error text out
	const char *subject;         // the caller's owner id, NULL without identity
	const char *idempotency_key; // CreateProperty's metadata, NULL or "" if absent
	const uint8_t *payload;      // the serialized request, NULL if unavailable:
	size_t payload_len;          //   scanned for U+0000 and invalid UTF-8 (pbscan.h)
	prop_violations viol;        // out: field violations
	prop_done done;              // how the use case ends (required)
	const uint8_t *packed;       // out, on OK: the output already serialized (a cached
	size_t packed_len;           //   page), or NULL; out is NULL then
	void *user;                  // the caller's, untouched
	prop_call_state st;          // private
};

// Zeroes *c and sets deadline, allocator and the ending (the other inputs
// stay NULL, shard 0).
void prop_call_init(prop_call *c, int64_t deadline_us, ProtobufCAllocator *alloc, prop_done done);

void prop_create_property(prop_service *s, prop_call *c,
                          const Property__V1__CreatePropertyRequest *req);
void prop_get_property(prop_service *s, prop_call *c, const Property__V1__GetPropertyRequest *req);
void prop_update_property(prop_service *s, prop_call *c,
                          const Property__V1__UpdatePropertyRequest *req);
void prop_delete_property(prop_service *s, prop_call *c,
                          const Property__V1__DeletePropertyRequest *req);
void prop_list_by_owner(prop_service *s, prop_call *c,
                        const Property__V1__ListPropertiesByOwnerRequest *req);
void prop_search_properties(prop_service *s, prop_call *c,
                            const Property__V1__SearchPropertiesRequest *req);
void prop_read_events(prop_service *s, prop_call *c, const Property__V1__ReadEventsRequest *req);

#endif
