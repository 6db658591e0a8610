// See tokcache.h.
#include "tokcache.h"

#include <string.h>

void nrpc_tokcache_init(nrpc_tokcache *t)
{
	for (size_t i = 0; i < TOKCACHE_SLOTS; i++) {
		pthread_mutex_init(&t->slots[i].mu, NULL);
		t->slots[i].len = 0;
	}
}

void nrpc_tokcache_fini(nrpc_tokcache *t)
{
	for (size_t i = 0; i < TOKCACHE_SLOTS; i++)
		pthread_mutex_destroy(&t->slots[i].mu);
}

// FNV-1a over the token's last 32 bytes (the signature: what differs most).
static nrpc_tokcache_slot *slot_of(nrpc_tokcache *t, const char *token, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = len > 32 ? len - 32 : 0; i < len; i++)
		h = (h ^ (uint8_t)token[i]) * 16777619u;
	return &t->slots[h % TOKCACHE_SLOTS];
}

bool nrpc_tokcache_get(nrpc_tokcache *t, const char *token, int64_t now, char *sub, size_t subcap)
{
	size_t len = strnlen(token, TOKCACHE_TOKEN_MAX);
	if (len == 0 || len >= TOKCACHE_TOKEN_MAX)
		return false;
	nrpc_tokcache_slot *s = slot_of(t, token, len);
	bool hit = false;
	pthread_mutex_lock(&s->mu);
	if (s->len == len && now < s->until && memcmp(s->token, token, len) == 0) {
		size_t n = strlen(s->sub);
		if (n < subcap) {
			memcpy(sub, s->sub, n + 1);
			hit = true;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return hit;
}

void nrpc_tokcache_put(nrpc_tokcache *t, const char *token, const char *sub, int64_t until)
{
	size_t len = strnlen(token, TOKCACHE_TOKEN_MAX);
	size_t sl = strlen(sub);
	if (len == 0 || len >= TOKCACHE_TOKEN_MAX || sl > NRPC_JWT_MAX_SUB)
		return;
	nrpc_tokcache_slot *s = slot_of(t, token, len);
	pthread_mutex_lock(&s->mu);
	memcpy(s->token, token, len);
	s->len = len;
	s->until = until;
	memcpy(s->sub, sub, sl + 1);
	pthread_mutex_unlock(&s->mu);
}
