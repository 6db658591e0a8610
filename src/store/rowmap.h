// store rowmap: one PostgreSQL result row -> Property / Event.
//
// Both the properties table and the event log's snapshot columns are read in
// the order of ROWMAP_PROPERTY_COLS (the event log names the id column
// aggregate_id), so one mapper serves both. Results are in text format.
//
// Memory: everything is allocated with `a`, one allocation per string and per
// message, so a message built with a malloc allocator is freed by
// property__v1__event__free_unpacked(ev, NULL), and one built in a request
// arena needs no freeing. Threads: pure.
#ifndef STORE_ROWMAP_H
#define STORE_ROWMAP_H

#include <libpq-fe.h>
#include <protobuf-c/protobuf-c.h>

#include "property/v1/events.pb-c.h"
#include "property/v1/property.pb-c.h"

#define ROWMAP_PROPERTY_FIELDS                                                                     \
	"owner_id, title, description, address, city, country_code, latitude, longitude, "         \
	"price_cents, currency, bedrooms, status, version, created_at_us, updated_at_us"
// A properties row.
#define ROWMAP_PROPERTY_COLS "id, " ROWMAP_PROPERTY_FIELDS
// An event_log row: the event's own columns, then the snapshot.
#define ROWMAP_EVENT_COLS     "seq, id, type, occurred_at_us, aggregate_id, " ROWMAP_PROPERTY_FIELDS
#define ROWMAP_PROPERTY_NCOLS 16
#define ROWMAP_EVENT_NCOLS    (4 + ROWMAP_PROPERTY_NCOLS)

// Maps ROWMAP_PROPERTY_NCOLS columns of `row` starting at column `col`.
// 0, or -1 (out of memory, or a value that does not parse).
int store_rowmap_property(const PGresult *r, int row, int col, ProtobufCAllocator *a,
                          Property__V1__Property **out);
// Maps ROWMAP_EVENT_NCOLS columns of `row` starting at `col`. 0 or -1; on -1
// nothing is left allocated with a malloc allocator.
int store_rowmap_event(const PGresult *r, int row, int col, ProtobufCAllocator *a,
                       Property__V1__Event **out);

// A ProtobufCAllocator on malloc/free (what free_unpacked(msg, NULL) frees with).
extern ProtobufCAllocator store_rowmap_malloc_allocator;

#endif
