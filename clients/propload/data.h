// pl_data: realistic, deterministic listing data for the workloads: owner
// ids, cities with their countries, currencies and coordinates, titles,
// addresses, prices. Pure functions of an rng or an index; no allocation
// (callers pass buffers), thread-safe.
#ifndef PL_DATA_H
#define PL_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

// An owner id: a UUID-shaped string whose last 12 hex digits are the owner's
// index, so a reply's owner_id maps back to the index (and its token).
#define PL_OWNER_ID_LEN 37
void pl_data_owner_id(uint32_t idx, char out[PL_OWNER_ID_LEN]);
// The index of an owner id made by pl_data_owner_id, or -1.
long pl_data_owner_index(const char *owner_id);

typedef struct pl_city {
	const char *name, *country, *currency;
	double lat, lon;
	int64_t base_price_cents; // a typical 2-bedroom flat
} pl_city;

size_t pl_data_city_count(void);
const pl_city *pl_data_city(size_t i);

// A generated listing; strings point into the struct itself.
typedef struct pl_listing {
	const pl_city *city;
	char title[128];
	char address[96];
	char description[320];
	double lat, lon;
	int64_t price_cents;
	uint32_t bedrooms;
} pl_listing;

void pl_data_listing(pl_rng *r, pl_listing *out);
// A random UUID (v4 layout) for ids that do not exist.
void pl_data_uuid(pl_rng *r, char out[37]);

#endif
