// See pending.h.
#include "cache/pending.h"

#include <string.h>

void cache_pending_clear(cache_pending *p)
{
	p->n = 0;
	p->overflow = false;
}

bool cache_pending_empty(const cache_pending *p)
{
	return p->n == 0 && !p->overflow;
}

void cache_pending_add(cache_pending *p, cache_pending_type type, const char *id, cache_kind kind,
                       uint64_t version)
{
	size_t len = strlen(id);

	if (p->overflow)
		return; // a purge covers it
	if (len >= CACHE_PENDING_ID_MAX) {
		p->overflow = true;
		return;
	}
	for (size_t i = 0; i < p->n; i++) {
		cache_pending_rec *r = &p->e[i];
		if (r->type != type || strcmp(r->id, id) != 0)
			continue;
		if (type == CACHE_PENDING_PROPERTY &&
		    (version > r->version || (version == r->version && kind > r->kind))) {
			r->version = version;
			r->kind = kind;
		}
		return;
	}
	if (p->n == CACHE_PENDING_CAP) {
		p->overflow = true;
		return;
	}
	p->e[p->n].type = type;
	p->e[p->n].kind = kind;
	p->e[p->n].version = version;
	memcpy(p->e[p->n].id, id, len + 1);
	p->n++;
}
