// Deterministic listing data: see data.h.
#include "data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const pl_city cities[] = {
    {"Amsterdam", "NL", "EUR", 52.3676, 4.9041, 55000000},
    {"Paris", "FR", "EUR", 48.8566, 2.3522, 70000000},
    {"Berlin", "DE", "EUR", 52.5200, 13.4050, 45000000},
    {"Madrid", "ES", "EUR", 40.4168, -3.7038, 38000000},
    {"Lisbon", "PT", "EUR", 38.7223, -9.1393, 42000000},
    {"Rome", "IT", "EUR", 41.9028, 12.4964, 40000000},
    {"Vienna", "AT", "EUR", 48.2082, 16.3738, 48000000},
    {"London", "GB", "GBP", 51.5072, -0.1276, 80000000},
    {"Dublin", "IE", "EUR", 53.3498, -6.2603, 52000000},
    {"Copenhagen", "DK", "DKK", 55.6761, 12.5683, 450000000},
    {"Stockholm", "SE", "SEK", 59.3293, 18.0686, 600000000},
    {"Oslo", "NO", "NOK", 59.9139, 10.7522, 650000000},
    {"Zurich", "CH", "CHF", 47.3769, 8.5417, 130000000},
    {"Warsaw", "PL", "PLN", 52.2297, 21.0122, 90000000},
    {"Prague", "CZ", "CZK", 50.0755, 14.4378, 900000000},
    {"New York", "US", "USD", 40.7128, -74.0060, 95000000},
    {"Chicago", "US", "USD", 41.8781, -87.6298, 40000000},
    {"Austin", "US", "USD", 30.2672, -97.7431, 45000000},
    {"Toronto", "CA", "CAD", 43.6532, -79.3832, 85000000},
    {"Sydney", "AU", "AUD", -33.8688, 151.2093, 110000000},
};

static const char *const adjectives[] = {"Sunny",     "Bright", "Quiet", "Spacious",     "Charming",
                                         "Renovated", "Modern", "Cosy",  "Light-filled", "Elegant"};
static const char *const kinds[] = {"flat", "apartment", "townhouse", "loft", "house", "penthouse"};
static const char *const streets[] = {"Main Street",    "Park Lane",     "Canal Road",
                                      "Station Square", "Church Street", "Market Place",
                                      "Garden Row",     "River Walk"};
static const char *const features[] = {
    "open kitchen", "south-facing balcony", "two bathrooms",      "storage in the basement",
    "roof terrace", "wooden floors",        "underfloor heating", "private garden",
    "lift",         "bicycle shed"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

size_t pl_data_city_count(void)
{
	return COUNT(cities);
}

const pl_city *pl_data_city(size_t i)
{
	return &cities[i % COUNT(cities)];
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

void pl_data_owner_id(uint32_t idx, char out[PL_OWNER_ID_LEN])
{
	uint64_t h = mix64(idx + UINT64_C(0x5bd1e995));
	snprintf(out, PL_OWNER_ID_LEN, "%08x-%04x-4%03x-8%03x-%012x", (unsigned)(h >> 32),
	         (unsigned)(h >> 16) & 0xffffu, (unsigned)(h >> 4) & 0xfffu, (unsigned)h & 0xfffu,
	         (unsigned)idx);
}

long pl_data_owner_index(const char *owner_id)
{
	size_t n = strlen(owner_id);
	if (n != 36)
		return -1;
	char *end;
	unsigned long v = strtoul(owner_id + 24, &end, 16);
	if (*end != '\0' || v > UINT32_MAX)
		return -1;
	char check[PL_OWNER_ID_LEN];
	pl_data_owner_id((uint32_t)v, check);
	return strcmp(check, owner_id) == 0 ? (long)v : -1;
}

void pl_data_uuid(pl_rng *r, char out[37])
{
	uint64_t a = pl_rng_next(r), b = pl_rng_next(r);
	snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
	         (unsigned)(a >> 16) & 0xffffu, (unsigned)a & 0xfffu,
	         0x8000u | ((unsigned)(b >> 48) & 0x3fffu),
	         (unsigned long long)(b & UINT64_C(0xffffffffffff)));
}

void pl_data_listing(pl_rng *r, pl_listing *out)
{
	const pl_city *c = &cities[pl_rng_below(r, COUNT(cities))];
	out->city = c;
	out->bedrooms = 1 + (uint32_t)pl_rng_below(r, 5);
	const char *adj = adjectives[pl_rng_below(r, COUNT(adjectives))];
	const char *kind = kinds[pl_rng_below(r, COUNT(kinds))];
	snprintf(out->title, sizeof out->title, "%s %u-bedroom %s in %s", adj, out->bedrooms, kind,
	         c->name);
	snprintf(out->address, sizeof out->address, "%u %s", 1 + (unsigned)pl_rng_below(r, 250),
	         streets[pl_rng_below(r, COUNT(streets))]);
	unsigned m2 = 35 + out->bedrooms * 22 + (unsigned)pl_rng_below(r, 30);
	snprintf(out->description, sizeof out->description,
	         "%s %s of %u m2 with %s and %s; %u minutes from the centre of %s.", adj, kind, m2,
	         features[pl_rng_below(r, COUNT(features))],
	         features[pl_rng_below(r, COUNT(features))], 5 + (unsigned)pl_rng_below(r, 40),
	         c->name);
	// Within about 10 km of the centre.
	out->lat = c->lat + (pl_rng_unit(r) - 0.5) * 0.18;
	out->lon = c->lon + (pl_rng_unit(r) - 0.5) * 0.25;
	double f = (0.6 + 0.25 * out->bedrooms) * (0.7 + 0.6 * pl_rng_unit(r));
	out->price_cents = (int64_t)((double)c->base_price_cents * f / 100.0) * 100;
}
