// property service: see service.h.
#include "property/service.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hex.h"
#include "base/utf8.h"
#include "property/pagetoken.h"
#include "property/pbscan.h"

// A listing page key names the page size; only first pages are cached, so the
// token part is always empty ("n=20").
#define PAGE_KEY_MAX 32

struct prop_service {
	prop_repo repo;
	prop_cache cache;
	prop_token_key key;
	obs_counter *created; // NULL without a registry
	obs_counter *updated;
	obs_counter *deleted;
};

int prop_service_create(prop_service **out, const prop_service_config *cfg)
{
	*out = NULL;
	if (cfg == NULL || cfg->repo.ops == NULL) {
		return EINVAL;
	}
	prop_service *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return ENOMEM;
	}
	s->repo = cfg->repo;
	s->cache = cfg->cache;
	prop_token_key_set(&s->key, cfg->token_key, cfg->token_key_len);
	if (cfg->metrics != NULL) {
		s->created =
		    obs_counter_get(cfg->metrics, "propertyd_properties_created_total",
		                    "Properties created (idempotent replays excluded).", NULL);
		s->updated = obs_counter_get(cfg->metrics, "propertyd_properties_updated_total",
		                             "Properties updated.", NULL);
		s->deleted = obs_counter_get(cfg->metrics, "propertyd_properties_deleted_total",
		                             "Properties deleted.", NULL);
	}
	*out = s;
	return 0;
}

void prop_service_destroy(prop_service *s)
{
	free(s);
}

void prop_call_init(prop_call *c, int64_t deadline_us, ProtobufCAllocator *alloc, prop_done done)
{
	memset(c, 0, sizeof(*c));
	c->ctx.deadline_us = deadline_us;
	c->ctx.alloc = alloc;
	c->done = done;
	prop_violations_init(&c->viol);
}

// The call a continuation belongs to: ctx is its first member.
static prop_call *call_of(prop_ctx *ctx)
{
	return (prop_call *)(void *)ctx;
}

// Ends the use case (the call is the caller's after this).
static void end(prop_call *c, nrpc_code rc, void *out)
{
	c->done(c, rc, rc == NRPC_OK ? out : NULL);
}

// ---- helpers ------------------------------------------------------------------------------

static nrpc_code fail(prop_call *c, nrpc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static nrpc_code fail(prop_call *c, nrpc_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->ctx.err, sizeof(c->ctx.err), fmt, ap);
	va_end(ap);
	return code;
}

// A port's error: keeps the adapter's message, or names the code.
static nrpc_code port_error(prop_call *c, nrpc_code code)
{
	if (c->ctx.err[0] == '\0') {
		snprintf(c->ctx.err, sizeof(c->ctx.err), "%s", nrpc_code_name(code));
	}
	return code;
}

static nrpc_code invalid(prop_call *c)
{
	return fail(c, NRPC_INVALID_ARGUMENT, "invalid argument");
}

// Reports strings holding U+0000 or invalid UTF-8 in the raw request, which
// the unpacked char* cannot show.
static void scan_payload(prop_call *c, const ProtobufCMessageDescriptor *desc, const char *strip)
{
	if (c->payload != NULL) {
		(void)prop_pbscan_strings(c->payload, c->payload_len, desc, strip, &c->viol);
	}
}

static char *arena_strdup(prop_ctx *ctx, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = prop_alloc(ctx, n);
	memcpy(d, s, n);
	return d;
}

static const char *str_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static bool have_cache(const prop_service *s)
{
	return s->cache.ops != NULL;
}

static void count(obs_counter *ctr)
{
	if (ctr != NULL) {
		obs_counter_add(ctr, 1);
	}
}

// After a committed write: the cache learns it (ports.h, after_write), then
// the call ends with `code` and `out`.
static void cache_caught_up(prop_ctx *ctx, nrpc_code rc)
{
	prop_call *c = call_of(ctx);
	(void)rc; // the cache never fails a request
	end(c, c->st.code, c->st.out);
}

static void after_write(prop_service *s, prop_call *c, const Property__V1__Property *row,
                        const char *deleted_id, uint64_t deleted_version, const char *owner)
{
	c->st.code = NRPC_OK;
	if (!have_cache(s)) {
		end(c, NRPC_OK, c->st.out);
		return;
	}
	c->st.change.row = row;
	c->st.change.id = row != NULL ? row->id : deleted_id;
	c->st.change.version = row != NULL ? row->version : deleted_version;
	c->st.change.owner = owner;
	s->cache.ops->after_write(s->cache.self, &c->ctx, &c->st.change, cache_caught_up);
}

// Hex SHA-256 of the message's serialization (protobuf-c packs fields in
// number order, so equal requests hash equally).
static void message_hash(prop_ctx *ctx, const ProtobufCMessage *m, char hex[65])
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = prop_alloc(ctx, len + 1);
	uint8_t md[SHA256_DIGEST_LENGTH];
	protobuf_c_message_pack(m, buf);
	SHA256(buf, len, md);
	base_hex_encode(md, SHA256_DIGEST_LENGTH, hex);
}

// ---- writes --------------------------------------------------------------------------------

// Resolves the owner (docs/contract.md section 3) into r->owner_id.
static nrpc_code resolve_owner(prop_call *c, Property__V1__CreatePropertyRequest *r)
{
	const char *owner = str_or_empty(r->owner_id);
	if (c->subject != NULL) {
		if (owner[0] == '\0') {
			r->owner_id = (char *)c->subject;
		} else if (strcmp(owner, c->subject) != 0) {
			return fail(c, NRPC_PERMISSION_DENIED,
			            "owner_id must be empty or the caller's own id");
		}
	} else if (owner[0] == '\0') {
		prop_violation_add(&c->viol, "owner_id", "is required without caller identity");
	}
	return NRPC_OK;
}

static nrpc_code check_idem_key(prop_call *c, const char **key)
{
	const char *k = c->idempotency_key;
	*key = NULL;
	if (k == NULL || k[0] == '\0') {
		return NRPC_OK;
	}
	size_t n = strlen(k);
	if (n > PROP_IDEM_KEY_MAX_B) {
		return fail(c, NRPC_INVALID_ARGUMENT,
		            "invalid argument: idempotency-key must be at most %d bytes",
		            PROP_IDEM_KEY_MAX_B);
	}
	if (!base_utf8_valid((const uint8_t *)k, n, NULL)) {
		return fail(c, NRPC_INVALID_ARGUMENT,
		            "invalid argument: idempotency-key must be valid UTF-8");
	}
	*key = k;
	return NRPC_OK;
}

static void create_done(prop_ctx *ctx, nrpc_code rc)
{
	prop_call *c = call_of(ctx);
	prop_service *s = c->st.svc;
	if (rc != NRPC_OK) {
		end(c, port_error(c, rc), NULL);
		return;
	}
	if (c->st.replayed) {
		end(c, NRPC_OK, c->st.out);
		return;
	}
	count(s->created);
	after_write(s, c, c->st.out, NULL, 0, c->st.out->owner_id);
}

void prop_create_property(prop_service *s, prop_call *c,
                          const Property__V1__CreatePropertyRequest *req)
{
	Property__V1__CreatePropertyRequest r = *req; // shallow: strings stay borrowed
	Property__V1__Property *p = &c->st.row;
	const char *idem = NULL;
	nrpc_code rc;

	c->st.svc = s;
	property__v1__property__init(p);
	if ((rc = resolve_owner(c, &r)) != NRPC_OK) {
		end(c, rc, NULL);
		return;
	}
	scan_payload(c, &property__v1__create_property_request__descriptor, NULL);
	prop_validate_create(&r, &c->viol);
	if (c->viol.n > 0) {
		end(c, invalid(c), NULL);
		return;
	}
	if ((rc = check_idem_key(c, &idem)) != NRPC_OK) {
		end(c, rc, NULL);
		return;
	}
	if (r.status == PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_UNSPECIFIED) {
		r.status = PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_DRAFT;
	}
	if (idem != NULL) {
		message_hash(&c->ctx, &r.base, c->st.hash);
	}
	p->owner_id = r.owner_id;
	p->title = r.title;
	p->description = r.description;
	p->location = r.location;
	p->price_cents = r.price_cents;
	p->currency = r.currency;
	p->bedrooms = r.bedrooms;
	p->status = r.status;
	s->repo.ops->create(s->repo.self, &c->ctx, p, idem, idem != NULL ? c->st.hash : NULL,
	                    &c->st.out, &c->st.replayed, create_done);
}

static void update_done(prop_ctx *ctx, nrpc_code rc)
{
	prop_call *c = call_of(ctx);
	prop_service *s = c->st.svc;
	if (rc != NRPC_OK) {
		end(c, port_error(c, rc), NULL);
		return;
	}
	count(s->updated);
	after_write(s, c, c->st.out, NULL, 0, c->st.out->owner_id);
}

void prop_update_property(prop_service *s, prop_call *c,
                          const Property__V1__UpdatePropertyRequest *req)
{
	static const Property__V1__Property empty = PROPERTY__V1__PROPERTY__INIT;
	unsigned mask = 0;

	c->st.svc = s;
	scan_payload(c, &property__v1__update_property_request__descriptor, "property.");
	prop_validate_update(req, &mask, &c->viol);
	if (c->viol.n > 0 || !prop_uuid_canonical(req->id, c->st.id)) {
		end(c, invalid(c), NULL);
		return;
	}
	s->repo.ops->update(s->repo.self, &c->ctx, c->st.id, req->expected_version, c->subject,
	                    mask, req->property != NULL ? req->property : &empty, &c->st.out,
	                    update_done);
}

static void delete_done(prop_ctx *ctx, nrpc_code rc)
{
	prop_call *c = call_of(ctx);
	prop_service *s = c->st.svc;
	Property__V1__Property *last = c->st.out;
	if (rc != NRPC_OK) {
		end(c, port_error(c, rc), NULL);
		return;
	}
	count(s->deleted);
	c->st.out = NULL;
	after_write(s, c, NULL, c->st.id, last->version, last->owner_id);
}

void prop_delete_property(prop_service *s, prop_call *c,
                          const Property__V1__DeletePropertyRequest *req)
{
	c->st.svc = s;
	scan_payload(c, &property__v1__delete_property_request__descriptor, NULL);
	prop_validate_id(req->id, "id", &c->viol);
	if (c->viol.n > 0 || !prop_uuid_canonical(req->id, c->st.id)) {
		end(c, invalid(c), NULL);
		return;
	}
	s->repo.ops->remove(s->repo.self, &c->ctx, c->st.id, req->expected_version, c->subject,
	                    &c->st.out, delete_done);
}

// ---- reads ---------------------------------------------------------------------------------

static void get_loaded(prop_ctx *ctx, nrpc_code rc)
{
	prop_call *c = call_of(ctx);
	prop_service *s = c->st.svc;
	if (rc != NRPC_OK) {
		if (rc == NRPC_NOT_FOUND) {
			end(c, fail(c, rc, "property %s not found", c->st.id), NULL);
			return;
		}
		end(c, port_error(c, rc), NULL);
		return;
	}
	if (have_cache(s)) {
		s->cache.ops->fill(s->cache.self, &c->ctx, c->st.out);
	}
	end(c, NRPC_OK, c->st.out);
}

static void get_looked_up(prop_ctx *ctx, nrpc_code rc)
{
	prop_call *c = call_of(ctx);
	prop_service *s = c->st.svc;
	(void)rc;
	switch (c->st.cache_result) {
	case PROP_CACHE_HIT:
		end(c, NRPC_OK, c->st.out);
		return;
	case PROP_CACHE_GONE:
		end(c, fail(c, NRPC_NOT_FOUND, "property %s not found", c->st.id), NULL);
		return;
	default:
		c->st.out = NULL;
		s->repo.ops->get(s->repo.self, &c->ctx, c->st.id, &c->st.out, get_loaded);
	}
}

void prop_get_property(prop_service *s, prop_call *c, const Property__V1__GetPropertyRequest *req)
{
	c->st.svc = s;
	scan_payload(c, &property__v1__get_property_request__descriptor, NULL);
	prop_validate_id(req->id, "id", &c->viol);
	if (c->viol.n > 0 || !prop_uuid_canonical(req->id, c->st.id)) {
		end(c, invalid(c), NULL);
		return;
	}
	if (have_cache(s)) {
		s->cache.ops->get(s->cache.self, &c->ctx, c->st.id, &c->st.out, &c->st.cache_result,
		                  get_looked_up);
		return;
	}
	c->st.cache_result = PROP_CACHE_MISS;
	get_looked_up(&c->ctx, NRPC_OK);
}

// Decodes a non-empty page token into *after; a token that this service did
// not issue for this query is a violation on page_token.
static bool decode_token(prop_service *s, prop_call *c, const char *token, uint64_t qhash,
                         prop_cursor *after)
{
	if (token == NULL || token[0] == '\0') {
		return false;
	}
	if (!prop_token_decode(&s->key, qhash, token, after)) {
		prop_violation_add(&c->viol, "page_token", "was not issued for this query");
		return false;
	}
	return true;
}

// Builds a response from a page fetched with limit size + 1: an extra row
// means there is a next page, which starts after the last row returned.
static nrpc_code page_response(prop_service *s, prop_call *c, const prop_page *page, uint32_t size,
                               uint64_t qhash, bool key_is_price,
                               Property__V1__ListPropertiesResponse **out)
{
	Property__V1__ListPropertiesResponse *r = prop_alloc(&c->ctx, sizeof(*r));
	property__v1__list_properties_response__init(r);
	r->properties = page->items;
	r->n_properties = page->n > size ? size : page->n;
	if (page->n > size) {
		const Property__V1__Property *last = page->items[size - 1];
		prop_cursor cur = {0};
		char tok[PROP_TOKEN_MAX];
		cur.key = key_is_price ? last->price_cents : last->created_at_us;
		if (!prop_uuid_canonical(last->id, cur.id) ||
		    !prop_token_encode(&s->key, qhash, &cur, tok)) {
			return fail(c, NRPC_INTERNAL, "stored property id is not a UUID");
		}
		r->next_page_token = arena_strdup(&c->ctx, tok);
	}
	*out = r;
	return NRPC_OK;
}

static void list_loaded(prop_ctx *ctx, nrpc_code rc)
{
	prop_call *c = call_of(ctx);
	prop_service *s = c->st.svc;
	if (rc != NRPC_OK) {
		end(c, port_error(c, rc), NULL);
		return;
	}
	if ((rc = page_response(s, c, &c->st.page, c->st.size, c->st.qhash, false, &c->st.list)) !=
	    NRPC_OK) {
		end(c, rc, NULL);
		return;
	}
	if (c->st.use_cache) {
		const Property__V1__ListPropertiesResponse *r = c->st.list;
		size_t len = property__v1__list_properties_response__get_packed_size(r);
		uint8_t *buf = prop_alloc(&c->ctx, len + 1);
		property__v1__list_properties_response__pack(r, buf);
		s->cache.ops->owner_page_fill(s->cache.self, &c->ctx, c->st.owner, c->st.page_key,
		                              c->st.gen, buf, len);
	}
	end(c, NRPC_OK, c->st.list);
}

static void list_from_store(prop_service *s, prop_call *c)
{
	s->repo.ops->list_by_owner(s->repo.self, &c->ctx, c->st.owner,
	                           c->st.has_after ? &c->st.after : NULL, c->st.size + 1,
	                           &c->st.page, list_loaded);
}

static void list_looked_up(prop_ctx *ctx, nrpc_code rc)
{
	prop_call *c = call_of(ctx);
	(void)rc;
	if (c->st.cache_result == PROP_CACHE_HIT) {
		// Served as stored, without decoding and encoding it again; a page
		// that is not well-formed wire format (or holds a bad string) is a
		// miss, and is replaced below.
		prop_violations bad;
		prop_violations_init(&bad);
		if (prop_pbscan_strings(c->st.data, c->st.len,
		                        &property__v1__list_properties_response__descriptor, NULL,
		                        &bad) == 0 &&
		    bad.n == 0) {
			c->packed = c->st.data;
			c->packed_len = c->st.len;
			c->done(c, NRPC_OK, NULL);
			return;
		}
	}
	list_from_store(c->st.svc, c);
}

void prop_list_by_owner(prop_service *s, prop_call *c,
                        const Property__V1__ListPropertiesByOwnerRequest *req)
{
	c->st.svc = s;
	c->st.owner = str_or_empty(req->owner_id);
	c->st.size = prop_page_size(req->page_size);
	scan_payload(c, &property__v1__list_properties_by_owner_request__descriptor, NULL);
	prop_validate_list(req, &c->viol);
	c->st.qhash = prop_token_owner_hash(c->st.owner);
	c->st.has_after = decode_token(s, c, req->page_token, c->st.qhash, &c->st.after);
	if (c->viol.n > 0) {
		end(c, invalid(c), NULL);
		return;
	}
	c->st.use_cache = have_cache(s) && !c->st.has_after;
	if (!c->st.use_cache) {
		list_from_store(s, c);
		return;
	}
	snprintf(c->st.page_key, sizeof(c->st.page_key), "n=%u", c->st.size);
	s->cache.ops->owner_page_get(s->cache.self, &c->ctx, c->st.owner, c->st.page_key,
	                             &c->st.data, &c->st.len, &c->st.gen, &c->st.cache_result,
	                             list_looked_up);
}

static bool bbox_set(const Property__V1__BoundingBox *b)
{
	// An all-zero box is what a client sends when it never set one (a box of
	// the single point 0,0 is not a useful query).
	return b != NULL && (b->min_latitude != 0.0 || b->min_longitude != 0.0 ||
	                     b->max_latitude != 0.0 || b->max_longitude != 0.0);
}

static void search_loaded(prop_ctx *ctx, nrpc_code rc)
{
	prop_call *c = call_of(ctx);
	if (rc != NRPC_OK) {
		end(c, port_error(c, rc), NULL);
		return;
	}
	rc = page_response(c->st.svc, c, &c->st.page, c->st.size, c->st.qhash, true, &c->st.list);
	end(c, rc, c->st.list);
}

void prop_search_properties(prop_service *s, prop_call *c,
                            const Property__V1__SearchPropertiesRequest *req)
{
	prop_search_query q = {0};

	c->st.svc = s;
	c->st.size = prop_page_size(req->page_size);
	scan_payload(c, &property__v1__search_properties_request__descriptor, NULL);
	prop_validate_search(req, &c->viol);
	q.city = str_or_empty(req->city);
	q.country_code = str_or_empty(req->country_code);
	q.min_price_cents = req->min_price_cents;
	q.max_price_cents = req->max_price_cents;
	q.min_bedrooms = req->min_bedrooms;
	q.has_bbox = bbox_set(req->bbox);
	if (q.has_bbox) {
		q.min_lat = req->bbox->min_latitude;
		q.min_lon = req->bbox->min_longitude;
		q.max_lat = req->bbox->max_latitude;
		q.max_lon = req->bbox->max_longitude;
	}
	q.status = (int)req->status;
	c->st.qhash = prop_token_search_hash(&q);
	c->st.has_after = decode_token(s, c, req->page_token, c->st.qhash, &c->st.after);
	if (c->viol.n > 0) {
		end(c, invalid(c), NULL);
		return;
	}
	// The adapter copies the query's parameters before it returns.
	s->repo.ops->search(s->repo.self, &c->ctx, &q, c->st.has_after ? &c->st.after : NULL,
	                    c->st.size + 1, &c->st.page, search_loaded);
}

static void events_loaded(prop_ctx *ctx, nrpc_code rc)
{
	prop_call *c = call_of(ctx);
	if (rc != NRPC_OK) {
		end(c, port_error(c, rc), NULL);
		return;
	}
	Property__V1__ReadEventsResponse *r = prop_alloc(&c->ctx, sizeof(*r));
	property__v1__read_events_response__init(r);
	r->events = c->st.events;
	r->n_events = c->st.n_events;
	r->last_seq = c->st.last_seq;
	end(c, NRPC_OK, r);
}

void prop_read_events(prop_service *s, prop_call *c, const Property__V1__ReadEventsRequest *req)
{
	c->st.svc = s;
	scan_payload(c, &property__v1__read_events_request__descriptor, NULL);
	prop_validate_read_events(req, &c->viol);
	if (c->viol.n > 0) {
		end(c, invalid(c), NULL);
		return;
	}
	// A prefix no event type has finds nothing: limit 0 reads last_seq and
	// the retention check without walking the log (a cost bound against
	// callers scanning it to its end with a prefix that never matches).
	const char *prefix = str_or_empty(req->type_prefix);
	uint32_t limit = prop_event_prefix_can_match(prefix) ? prop_events_limit(req->limit) : 0;
	s->repo.ops->read_events(s->repo.self, &c->ctx, req->after_seq, limit, prefix,
	                         &c->st.events, &c->st.n_events, &c->st.last_seq, events_loaded);
}
