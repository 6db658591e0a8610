// See recent.h.
#include "cache/recent.h"

#include <string.h>

void cache_recent_init(cache_recent *r)
{
	for (int i = 0; i < CACHE_RECENT_STRIPES; i++)
		pthread_mutex_init(&r->mu[i], NULL);
	memset(r->slots, 0, sizeof r->slots);
}

void cache_recent_fini(cache_recent *r)
{
	for (int i = 0; i < CACHE_RECENT_STRIPES; i++)
		pthread_mutex_destroy(&r->mu[i]);
}

static size_t slot_of(const char *id, uint64_t version)
{
	uint64_t h = 1469598103934665603ull ^ (version * 0x9e3779b97f4a7c15ull);
	for (const char *p = id; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return (size_t)(h % CACHE_RECENT_SLOTS);
}

void cache_recent_add(cache_recent *r, const char *id, uint64_t version)
{
	if (version == 0 || strlen(id) >= sizeof r->slots[0].id)
		return;
	size_t i = slot_of(id, version);
	pthread_mutex_t *mu = &r->mu[i % CACHE_RECENT_STRIPES];
	pthread_mutex_lock(mu);
	r->slots[i].version = version;
	strcpy(r->slots[i].id, id);
	pthread_mutex_unlock(mu);
}

bool cache_recent_take(cache_recent *r, const char *id, uint64_t version)
{
	if (version == 0 || strlen(id) >= sizeof r->slots[0].id)
		return false;
	size_t i = slot_of(id, version);
	pthread_mutex_t *mu = &r->mu[i % CACHE_RECENT_STRIPES];
	bool hit = false;
	pthread_mutex_lock(mu);
	if (r->slots[i].version == version && strcmp(r->slots[i].id, id) == 0) {
		r->slots[i].version = 0;
		hit = true;
	}
	pthread_mutex_unlock(mu);
	return hit;
}
