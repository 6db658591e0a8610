// The in-memory fake of the repository port, with its event log: see fakes.h.
#include "fakes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s0(const char *s)
{
	return s != NULL ? s : "";
}

// ---- fake repository ------------------------------------------------------------------------

void fake_repo_init(fake_repo *r)
{
	memset(r, 0, sizeof(*r));
	fake_arena_init(&r->mem);
	r->clock_us = 1700000000000000;
}

void fake_repo_fini(fake_repo *r)
{
	fake_arena_fini(&r->mem);
}

static Property__V1__Property *find_row(fake_repo *r, const char *id, size_t *idx)
{
	for (size_t i = 0; i < r->n_rows; i++) {
		if (strcmp(r->rows[i]->id, id) == 0) {
			if (idx != NULL) {
				*idx = i;
			}
			return r->rows[i];
		}
	}
	return NULL;
}

static void append_event(fake_repo *r, const char *type, const Property__V1__Property *p)
{
	if (r->n_events == FAKE_MAX_EVENTS) {
		abort(); // a test wrote more than it should
	}
	Property__V1__Event *e = fake_arena_alloc(&r->mem, sizeof(*e));
	char id[37];
	property__v1__event__init(e);
	e->seq = r->n_events + 1;
	snprintf(id, sizeof(id), "eeeeeeee-0000-4000-8000-%012llu", (unsigned long long)e->seq);
	e->id = fake_arena_strdup(&r->mem, id);
	e->type = fake_arena_strdup(&r->mem, type);
	e->aggregate_id = fake_arena_strdup(&r->mem, p->id);
	e->owner_id = fake_arena_strdup(&r->mem, p->owner_id);
	e->occurred_at_us = r->clock_us;
	e->property = fake_msg_copy(&r->mem.a, &p->base);
	r->events[r->n_events++] = e;
}

static nrpc_code forced(fake_repo *r, prop_ctx *ctx)
{
	if (r->fail_all != NRPC_OK) {
		snprintf(ctx->err, sizeof(ctx->err), "fake repository failure");
	}
	return r->fail_all;
}

static nrpc_code repo_create(void *self, prop_ctx *ctx, const Property__V1__Property *p,
                             const char *idem_key, const char *request_hash,
                             Property__V1__Property **out, bool *replayed)
{
	fake_repo *r = self;
	nrpc_code rc;
	r->n_create++;
	snprintf(r->last_idem_key, sizeof(r->last_idem_key), "%s", s0(idem_key));
	snprintf(r->last_hash, sizeof(r->last_hash), "%s", s0(request_hash));
	*replayed = false;
	if ((rc = forced(r, ctx)) != NRPC_OK) {
		return rc;
	}
	if (idem_key != NULL) {
		for (size_t i = 0; i < r->n_idem; i++) {
			fake_idem *k = &r->idem[i];
			if (strcmp(k->owner, p->owner_id) != 0 || strcmp(k->key, idem_key) != 0) {
				continue;
			}
			if (strcmp(k->hash, request_hash) != 0) {
				snprintf(ctx->err, sizeof(ctx->err),
				         "idempotency-key reused with another request");
				return NRPC_ALREADY_EXISTS;
			}
			*out = fake_msg_copy(ctx->alloc, &find_row(r, k->id, NULL)->base);
			*replayed = true;
			return NRPC_OK;
		}
	}
	if (r->n_rows == FAKE_MAX_ROWS) {
		abort();
	}
	Property__V1__Property *row = fake_msg_copy(&r->mem.a, &p->base);
	char id[37];
	snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012llu",
	         (unsigned long long)++r->next_id);
	row->id = fake_arena_strdup(&r->mem, id);
	row->version = 1;
	row->created_at_us = ++r->clock_us;
	row->updated_at_us = row->created_at_us;
	r->rows[r->n_rows++] = row;
	append_event(r, "property.created", row);
	if (idem_key != NULL) {
		fake_idem *k = &r->idem[r->n_idem++];
		snprintf(k->owner, sizeof(k->owner), "%s", row->owner_id);
		snprintf(k->key, sizeof(k->key), "%s", idem_key);
		snprintf(k->hash, sizeof(k->hash), "%s", request_hash);
		snprintf(k->id, sizeof(k->id), "%s", row->id);
	}
	*out = fake_msg_copy(ctx->alloc, &row->base);
	return NRPC_OK;
}

static nrpc_code repo_get(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out)
{
	fake_repo *r = self;
	nrpc_code rc;
	r->n_get++;
	if ((rc = forced(r, ctx)) != NRPC_OK) {
		return rc;
	}
	Property__V1__Property *row = find_row(r, id, NULL);
	if (row == NULL) {
		snprintf(ctx->err, sizeof(ctx->err), "not found");
		return NRPC_NOT_FOUND;
	}
	*out = fake_msg_copy(ctx->alloc, &row->base);
	return NRPC_OK;
}

// The checks update and remove share, in the port's order.
static nrpc_code write_checks(fake_repo *r, prop_ctx *ctx, const char *id, uint64_t expected,
                              const char *owner, Property__V1__Property **row, size_t *idx)
{
	snprintf(r->last_owner, sizeof(r->last_owner), "%s", owner != NULL ? owner : "(null)");
	if ((*row = find_row(r, id, idx)) == NULL) {
		snprintf(ctx->err, sizeof(ctx->err), "not found");
		return NRPC_NOT_FOUND;
	}
	if (owner != NULL && strcmp(owner, (*row)->owner_id) != 0) {
		snprintf(ctx->err, sizeof(ctx->err), "not the owner");
		return NRPC_PERMISSION_DENIED;
	}
	if (expected != 0 && expected != (*row)->version) {
		snprintf(ctx->err, sizeof(ctx->err), "version mismatch");
		return NRPC_ABORTED;
	}
	return NRPC_OK;
}

static nrpc_code repo_update(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
                             const char *owner, unsigned mask, const Property__V1__Property *v,
                             Property__V1__Property **out)
{
	fake_repo *r = self;
	Property__V1__Property *row;
	size_t idx;
	nrpc_code rc;
	r->n_update++;
	if ((rc = forced(r, ctx)) != NRPC_OK ||
	    (rc = write_checks(r, ctx, id, expected_version, owner, &row, &idx)) != NRPC_OK) {
		return rc;
	}
	if (mask & PROP_F_TITLE) {
		row->title = fake_arena_strdup(&r->mem, v->title);
	}
	if (mask & PROP_F_DESCRIPTION) {
		row->description = fake_arena_strdup(&r->mem, v->description);
	}
	if (mask & PROP_F_LOCATION) {
		row->location = fake_msg_copy(&r->mem.a, &v->location->base);
	}
	if (mask & PROP_F_PRICE) {
		row->price_cents = v->price_cents;
	}
	if (mask & PROP_F_CURRENCY) {
		row->currency = fake_arena_strdup(&r->mem, v->currency);
	}
	if (mask & PROP_F_BEDROOMS) {
		row->bedrooms = v->bedrooms;
	}
	if (mask & PROP_F_STATUS) {
		row->status = v->status;
	}
	row->version++;
	row->updated_at_us = ++r->clock_us;
	append_event(r, "property.updated", row);
	*out = fake_msg_copy(ctx->alloc, &row->base);
	return NRPC_OK;
}

static nrpc_code repo_remove(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
                             const char *owner, Property__V1__Property **last)
{
	fake_repo *r = self;
	Property__V1__Property *row;
	size_t idx;
	nrpc_code rc;
	r->n_remove++;
	if ((rc = forced(r, ctx)) != NRPC_OK ||
	    (rc = write_checks(r, ctx, id, expected_version, owner, &row, &idx)) != NRPC_OK) {
		return rc;
	}
	r->clock_us++;
	append_event(r, "property.deleted", row);
	*last = fake_msg_copy(ctx->alloc, &row->base);
	r->rows[idx] = r->rows[--r->n_rows];
	return NRPC_OK;
}

// Owner listing order: created_at_us DESC, id DESC.
static int cmp_owner(const void *a, const void *b)
{
	const Property__V1__Property *x = *(Property__V1__Property *const *)a;
	const Property__V1__Property *y = *(Property__V1__Property *const *)b;
	if (x->created_at_us != y->created_at_us) {
		return x->created_at_us > y->created_at_us ? -1 : 1;
	}
	return -strcmp(x->id, y->id);
}

// Search order: price_cents ASC, id ASC.
static int cmp_search(const void *a, const void *b)
{
	const Property__V1__Property *x = *(Property__V1__Property *const *)a;
	const Property__V1__Property *y = *(Property__V1__Property *const *)b;
	if (x->price_cents != y->price_cents) {
		return x->price_cents < y->price_cents ? -1 : 1;
	}
	return strcmp(x->id, y->id);
}

// Copies the sorted matches after `after` (in sort order) into out, at most limit.
static void fill_page(prop_ctx *ctx, Property__V1__Property **match, size_t n,
                      int (*cmp)(const void *, const void *), const prop_cursor *after,
                      uint32_t limit, bool key_is_price, prop_page *out)
{
	qsort(match, n, sizeof(*match), cmp);
	out->items = prop_alloc(ctx, (limit + 1) * sizeof(*out->items));
	out->n = 0;
	for (size_t i = 0; i < n && out->n < limit; i++) {
		if (after != NULL) {
			Property__V1__Property pos = PROPERTY__V1__PROPERTY__INIT;
			Property__V1__Property *pp = &pos;
			char id[37];
			snprintf(id, sizeof(id), "%s", after->id);
			pos.id = id;
			if (key_is_price) {
				pos.price_cents = after->key;
			} else {
				pos.created_at_us = after->key;
			}
			if (cmp(&match[i], &pp) <= 0) {
				continue;
			}
		}
		out->items[out->n++] = fake_msg_copy(ctx->alloc, &match[i]->base);
	}
}

static nrpc_code repo_list(void *self, prop_ctx *ctx, const char *owner, const prop_cursor *after,
                           uint32_t limit, prop_page *out)
{
	fake_repo *r = self;
	Property__V1__Property *match[FAKE_MAX_ROWS];
	size_t n = 0;
	nrpc_code rc;
	r->n_list++;
	r->last_limit = limit;
	if ((rc = forced(r, ctx)) != NRPC_OK) {
		return rc;
	}
	for (size_t i = 0; i < r->n_rows; i++) {
		if (strcmp(r->rows[i]->owner_id, owner) == 0) {
			match[n++] = r->rows[i];
		}
	}
	fill_page(ctx, match, n, cmp_owner, after, limit, false, out);
	return NRPC_OK;
}

static bool matches(const prop_search_query *q, const Property__V1__Property *p)
{
	const Property__V1__Location *l = p->location;
	if (q->city[0] != '\0' && strcasecmp(q->city, l->city) != 0) {
		return false;
	}
	if (q->country_code[0] != '\0' && strcmp(q->country_code, l->country_code) != 0) {
		return false;
	}
	if (p->price_cents < q->min_price_cents ||
	    (q->max_price_cents != 0 && p->price_cents > q->max_price_cents)) {
		return false;
	}
	if (p->bedrooms < q->min_bedrooms || (q->status != 0 && (int)p->status != q->status)) {
		return false;
	}
	if (q->has_bbox && (l->latitude < q->min_lat || l->latitude > q->max_lat ||
	                    l->longitude < q->min_lon || l->longitude > q->max_lon)) {
		return false;
	}
	return true;
}

static nrpc_code repo_search(void *self, prop_ctx *ctx, const prop_search_query *q,
                             const prop_cursor *after, uint32_t limit, prop_page *out)
{
	fake_repo *r = self;
	Property__V1__Property *match[FAKE_MAX_ROWS];
	size_t n = 0;
	nrpc_code rc;
	r->n_search++;
	r->last_limit = limit;
	if ((rc = forced(r, ctx)) != NRPC_OK) {
		return rc;
	}
	for (size_t i = 0; i < r->n_rows; i++) {
		if (matches(q, r->rows[i])) {
			match[n++] = r->rows[i];
		}
	}
	fill_page(ctx, match, n, cmp_search, after, limit, true, out);
	return NRPC_OK;
}

static nrpc_code repo_read_events(void *self, prop_ctx *ctx, uint64_t after_seq, uint32_t limit,
                                  const char *type_prefix, Property__V1__Event ***events, size_t *n,
                                  uint64_t *last_seq)
{
	fake_repo *r = self;
	nrpc_code rc;
	r->n_events_read++;
	r->last_limit = limit;
	if ((rc = forced(r, ctx)) != NRPC_OK) {
		return rc;
	}
	if (r->pruned_through > 0 && after_seq < r->pruned_through) {
		if (r->pruned_through >= r->n_events)
			snprintf(ctx->err, sizeof ctx->err,
			         "events after seq %llu were pruned; none is kept (last seq %zu)",
			         (unsigned long long)after_seq, r->n_events);
		else
			snprintf(ctx->err, sizeof ctx->err,
			         "events after seq %llu were pruned; the oldest kept is %llu",
			         (unsigned long long)after_seq,
			         (unsigned long long)(r->pruned_through + 1));
		return NRPC_OUT_OF_RANGE;
	}
	*events = prop_alloc(ctx, (r->n_events + 1) * sizeof(**events));
	*n = 0;
	for (size_t i = 0; i < r->n_events && *n < limit; i++) {
		Property__V1__Event *e = r->events[i];
		if (e->seq > after_seq && e->seq > r->pruned_through &&
		    strncmp(e->type, type_prefix, strlen(type_prefix)) == 0) {
			(*events)[(*n)++] = fake_msg_copy(ctx->alloc, &e->base);
		}
	}
	*last_seq = r->n_events;
	return NRPC_OK;
}

// The ports are asynchronous; the fakes answer at once, before returning.
static void a_create(void *self, prop_ctx *ctx, const Property__V1__Property *p,
                     const char *idem_key, const char *request_hash, Property__V1__Property **out,
                     bool *replayed, prop_k k)
{
	k(ctx, repo_create(self, ctx, p, idem_key, request_hash, out, replayed));
}

static void a_get(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out, prop_k k)
{
	k(ctx, repo_get(self, ctx, id, out));
}

static void a_update(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
                     const char *owner, unsigned mask, const Property__V1__Property *values,
                     Property__V1__Property **out, prop_k k)
{
	k(ctx, repo_update(self, ctx, id, expected_version, owner, mask, values, out));
}

static void a_remove(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
                     const char *owner, Property__V1__Property **last, prop_k k)
{
	k(ctx, repo_remove(self, ctx, id, expected_version, owner, last));
}

static void a_list(void *self, prop_ctx *ctx, const char *owner, const prop_cursor *after,
                   uint32_t limit, prop_page *out, prop_k k)
{
	k(ctx, repo_list(self, ctx, owner, after, limit, out));
}

static void a_search(void *self, prop_ctx *ctx, const prop_search_query *q,
                     const prop_cursor *after, uint32_t limit, prop_page *out, prop_k k)
{
	k(ctx, repo_search(self, ctx, q, after, limit, out));
}

static void a_read_events(void *self, prop_ctx *ctx, uint64_t after_seq, uint32_t limit,
                          const char *type_prefix, Property__V1__Event ***events, size_t *n,
                          uint64_t *last_seq, prop_k k)
{
	k(ctx, repo_read_events(self, ctx, after_seq, limit, type_prefix, events, n, last_seq));
}

static const prop_repo_ops repo_ops = {
    .create = a_create,
    .get = a_get,
    .update = a_update,
    .remove = a_remove,
    .list_by_owner = a_list,
    .search = a_search,
    .read_events = a_read_events,
};

prop_repo fake_repo_port(fake_repo *r)
{
	return (prop_repo){.ops = &repo_ops, .self = r};
}
