// Per-caller in-flight counts (see callers.h).
#include "callers.h"

#include "base/clock.h"
#include "base/ratelimit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// FNV-1a: short keys, no adversarial-collision concern beyond one stripe
// (a caller can only make its own stripe crowded, and that admits).
static unsigned long hash_sub(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (unsigned long)h;
}

int nrpc_callers_init(nrpc_callers *t, unsigned limit)
{
	t->limit = limit;
	t->stripes = NULL;
	if (limit == 0)
		return 0;
	t->stripes = calloc(CALLERS_STRIPES, sizeof(*t->stripes));
	if (t->stripes == NULL)
		return -1;
	for (size_t i = 0; i < CALLERS_STRIPES; i++)
		pthread_mutex_init(&t->stripes[i].mtx, NULL);
	return 0;
}

void nrpc_callers_fini(nrpc_callers *t)
{
	if (t->stripes == NULL)
		return;
	for (size_t i = 0; i < CALLERS_STRIPES; i++)
		pthread_mutex_destroy(&t->stripes[i].mtx);
	free(t->stripes);
	t->stripes = NULL;
}

enum nrpc_callers_result nrpc_callers_acquire(nrpc_callers *t, const char *sub,
                                              struct nrpc_caller_entry **slot, int64_t *pause_us)
{
	*slot = NULL;
	*pause_us = 0;
	if (t->stripes == NULL || sub == NULL)
		return CALLERS_UNTRACKED;
	size_t n = strlen(sub);
	if (n > NRPC_JWT_MAX_SUB)
		return CALLERS_UNTRACKED; // cannot happen: the token check bounds it
	unsigned long h = hash_sub(sub);
	struct nrpc_caller_stripe *st = &t->stripes[h % CALLERS_STRIPES];
	struct nrpc_caller_entry *free_e = NULL;
	enum nrpc_callers_result res = CALLERS_UNTRACKED;
	pthread_mutex_lock(&st->mtx);
	for (size_t i = 0; i < CALLERS_WAYS; i++) {
		struct nrpc_caller_entry *e = &st->e[i];
		if (e->count == 0) {
			if (free_e == NULL)
				free_e = e;
			continue;
		}
		if (e->hash == h && strcmp(e->sub, sub) == 0) {
			if (e->count >= t->limit) {
				res = CALLERS_REFUSED;
				*pause_us = base_ratelimit_take(&e->refusal_tat, t->refusal_rate,
				                                base_now_us());
			} else {
				e->count++;
				*slot = e;
				res = CALLERS_ADMITTED;
			}
			pthread_mutex_unlock(&st->mtx);
			return res;
		}
	}
	if (free_e != NULL) {
		free_e->count = 1;
		free_e->refusal_tat = 0;
		free_e->hash = h;
		memcpy(free_e->sub, sub, n + 1);
		*slot = free_e;
		res = CALLERS_ADMITTED;
	}
	pthread_mutex_unlock(&st->mtx);
	return res;
}

void nrpc_callers_release(nrpc_callers *t, struct nrpc_caller_entry *slot)
{
	if (slot == NULL)
		return;
	struct nrpc_caller_stripe *st = &t->stripes[slot->hash % CALLERS_STRIPES];
	pthread_mutex_lock(&st->mtx);
	if (slot->count > 0)
		slot->count--;
	pthread_mutex_unlock(&st->mtx);
}
