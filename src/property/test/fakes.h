// In-memory fakes of the property ports, and a test arena, for unit tests.
//
// Single-threaded (tests only). Every stored row, event and page lives in the
// fake's own arena until *_fini; results are deep copies into ctx->alloc, as
// the real adapters do. Counters record how each port was used.
//
// fake_arena.c: the test arena; fake_repo.c: the repository (with its event
// log); fake_cache.c: the cache; fake_run.c: running a use case to its end.
#ifndef PROP_TEST_FAKES_H
#define PROP_TEST_FAKES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "property/ports.h"
#include "property/service.h"

// A ProtobufCAllocator whose blocks are all freed by fake_arena_fini.
typedef struct fake_arena {
	ProtobufCAllocator a; // pass &arena.a
	struct fake_block *head;
} fake_arena;

void fake_arena_init(fake_arena *t);
void fake_arena_fini(fake_arena *t);
// A block of n bytes (zeroed), freed by fake_arena_fini.
void *fake_arena_alloc(fake_arena *t, size_t n);
char *fake_arena_strdup(fake_arena *t, const char *s);
// Deep copy of a message (pack + unpack) into `alloc`.
void *fake_msg_copy(ProtobufCAllocator *alloc, const ProtobufCMessage *m);

#define FAKE_MAX_ROWS   512
#define FAKE_MAX_EVENTS 2048
#define FAKE_MAX_PAGES  64

typedef struct fake_idem {
	char owner[128];
	char key[256];
	char hash[65];
	char id[37];
} fake_idem;

typedef struct fake_repo {
	fake_arena mem;
	Property__V1__Property *rows[FAKE_MAX_ROWS];
	size_t n_rows;
	Property__V1__Event *events[FAKE_MAX_EVENTS];
	size_t n_events;
	// Retention: events with seq <= pruned_through are gone (0: none pruned).
	// ReadEvents after a seq below it answers 11, like the PostgreSQL adapter.
	uint64_t pruned_through;
	fake_idem idem[FAKE_MAX_ROWS];
	size_t n_idem;
	uint64_t next_id;
	int64_t clock_us; // created_at/updated_at: +1 per write, so order is known

	nrpc_code fail_all; // non-zero: every call fails with this code

	// observations
	int n_create, n_get, n_update, n_remove, n_list, n_search, n_events_read;
	uint32_t last_limit;
	char last_idem_key[256]; // "" when NULL was passed
	char last_hash[65];      // "" when NULL was passed
	char last_owner[128];    // owner argument of the last update/remove ("(null)" for NULL)
} fake_repo;

void fake_repo_init(fake_repo *r);
void fake_repo_fini(fake_repo *r);
prop_repo fake_repo_port(fake_repo *r);

typedef struct fake_entry {
	char id[37];
	bool tombstone;
	uint64_t version;
	Property__V1__Property *p; // NULL for a tombstone
} fake_entry;

typedef struct fake_page {
	char owner[128];
	char key[32];
	uint8_t *data;
	size_t len;
	bool live;
} fake_page;

typedef struct fake_gen {
	char owner[128];
	uint64_t gen;
} fake_gen;

typedef struct fake_cache {
	fake_arena mem;
	fake_entry entries[FAKE_MAX_ROWS];
	size_t n_entries;
	fake_page pages[FAKE_MAX_PAGES];
	size_t n_pages;
	fake_gen gens[FAKE_MAX_PAGES];
	size_t n_gens;

	int n_get, n_put, n_put_deleted, n_page_get, n_page_hit, n_page_put, n_invalidate;
	char last_invalidated[128];
} fake_cache;

void fake_cache_init(fake_cache *c);
void fake_cache_fini(fake_cache *c);
prop_cache fake_cache_port(fake_cache *c);
// Forgets every entry and page (a cold cache), keeping counters and generations.
void fake_cache_clear(fake_cache *c);
// The cached entry for id, or NULL.
const fake_entry *fake_cache_entry(const fake_cache *c, const char *id);

// ---- running a use case to its end ---------------------------------------------------------
// With the fakes, a use case ends before it returns. Each run_* sets
// c->done, runs the use case, fails the test process if it did not end, and
// returns its code with the output in *out (NULL on error).
void fake_call_init(prop_call *c, ProtobufCAllocator *alloc, const char *subject);
nrpc_code fake_run_create(prop_service *s, prop_call *c,
                          const Property__V1__CreatePropertyRequest *r,
                          Property__V1__Property **out);
nrpc_code fake_run_get(prop_service *s, prop_call *c, const Property__V1__GetPropertyRequest *r,
                       Property__V1__Property **out);
nrpc_code fake_run_update(prop_service *s, prop_call *c,
                          const Property__V1__UpdatePropertyRequest *r,
                          Property__V1__Property **out);
nrpc_code fake_run_delete(prop_service *s, prop_call *c,
                          const Property__V1__DeletePropertyRequest *r);
nrpc_code fake_run_list(prop_service *s, prop_call *c,
                        const Property__V1__ListPropertiesByOwnerRequest *r,
                        Property__V1__ListPropertiesResponse **out);
nrpc_code fake_run_search(prop_service *s, prop_call *c,
                          const Property__V1__SearchPropertiesRequest *r,
                          Property__V1__ListPropertiesResponse **out);
nrpc_code fake_run_read_events(prop_service *s, prop_call *c,
                               const Property__V1__ReadEventsRequest *r,
                               Property__V1__ReadEventsResponse **out);

#endif
