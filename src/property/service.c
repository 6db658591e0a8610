// property service: see service.h.
#include "property/service.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void prop_call_init(prop_call *c, int64_t deadline_us, ProtobufCAllocator *alloc)
{
	memset(c, 0, sizeof(*c));
	c->ctx.deadline_us = deadline_us;
	c->ctx.alloc = alloc;
	prop_violations_init(&c->viol);
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
		(void)pbscan_strings(c->payload, c->payload_len, desc, strip, &c->viol);
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

// After a committed create or update: the new row, and the owner's pages go.
static void cache_after_write(prop_service *s, prop_call *c, const Property__V1__Property *p)
{
	if (have_cache(s)) {
		s->cache.ops->put(s->cache.self, &c->ctx, p);
		s->cache.ops->owner_invalidate(s->cache.self, &c->ctx, p->owner_id);
	}
}

// Hex SHA-256 of the message's serialization (protobuf-c packs fields in
// number order, so equal requests hash equally).
static void message_hash(prop_ctx *ctx, const ProtobufCMessage *m, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = prop_alloc(ctx, len + 1);
	uint8_t md[SHA256_DIGEST_LENGTH];
	protobuf_c_message_pack(m, buf);
	SHA256(buf, len, md);
	for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
}

// ---- writes --------------------------------------------------------------------------------

// Resolves the owner (CONTRACT.md section 3) into r->owner_id.
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
	if (!prop_utf8_valid((const uint8_t *)k, n, NULL)) {
		return fail(c, NRPC_INVALID_ARGUMENT,
		            "invalid argument: idempotency-key must be valid UTF-8");
	}
	*key = k;
	return NRPC_OK;
}

nrpc_code prop_create_property(prop_service *s, prop_call *c,
                               const Property__V1__CreatePropertyRequest *req,
                               Property__V1__Property **out)
{
	Property__V1__CreatePropertyRequest r = *req; // shallow: strings stay borrowed
	Property__V1__Property p = PROPERTY__V1__PROPERTY__INIT;
	const char *idem = NULL;
	char hash[65];
	bool replayed = false;
	nrpc_code rc;

	*out = NULL;
	if ((rc = resolve_owner(c, &r)) != NRPC_OK) {
		return rc;
	}
	scan_payload(c, &property__v1__create_property_request__descriptor, NULL);
	prop_validate_create(&r, &c->viol);
	if (c->viol.n > 0) {
		return invalid(c);
	}
	if ((rc = check_idem_key(c, &idem)) != NRPC_OK) {
		return rc;
	}
	if (r.status == PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_UNSPECIFIED) {
		r.status = PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_DRAFT;
	}
	message_hash(&c->ctx, &r.base, hash);

	p.owner_id = r.owner_id;
	p.title = r.title;
	p.description = r.description;
	p.location = r.location;
	p.price_cents = r.price_cents;
	p.currency = r.currency;
	p.bedrooms = r.bedrooms;
	p.status = r.status;
	rc = s->repo.ops->create(s->repo.self, &c->ctx, &p, idem, idem != NULL ? hash : NULL, out,
	                         &replayed);
	if (rc != NRPC_OK) {
		*out = NULL;
		return port_error(c, rc);
	}
	if (!replayed) {
		cache_after_write(s, c, *out);
		count(s->created);
	}
	return NRPC_OK;
}

nrpc_code prop_update_property(prop_service *s, prop_call *c,
                               const Property__V1__UpdatePropertyRequest *req,
                               Property__V1__Property **out)
{
	static const Property__V1__Property empty = PROPERTY__V1__PROPERTY__INIT;
	unsigned mask = 0;
	char id[37];
	nrpc_code rc;

	*out = NULL;
	scan_payload(c, &property__v1__update_property_request__descriptor, "property.");
	prop_validate_update(req, &mask, &c->viol);
	if (c->viol.n > 0 || !prop_uuid_canonical(req->id, id)) {
		return invalid(c);
	}
	rc = s->repo.ops->update(s->repo.self, &c->ctx, id, req->expected_version, c->subject, mask,
	                         req->property != NULL ? req->property : &empty, out);
	if (rc != NRPC_OK) {
		*out = NULL;
		return port_error(c, rc);
	}
	cache_after_write(s, c, *out);
	count(s->updated);
	return NRPC_OK;
}

nrpc_code prop_delete_property(prop_service *s, prop_call *c,
                               const Property__V1__DeletePropertyRequest *req)
{
	Property__V1__Property *last = NULL;
	char id[37];
	nrpc_code rc;

	scan_payload(c, &property__v1__delete_property_request__descriptor, NULL);
	prop_validate_id(req->id, "id", &c->viol);
	if (c->viol.n > 0 || !prop_uuid_canonical(req->id, id)) {
		return invalid(c);
	}
	rc = s->repo.ops->remove(s->repo.self, &c->ctx, id, req->expected_version, c->subject,
	                         &last);
	if (rc != NRPC_OK) {
		return port_error(c, rc);
	}
	if (have_cache(s)) {
		s->cache.ops->put_deleted(s->cache.self, &c->ctx, id, last->version);
		s->cache.ops->owner_invalidate(s->cache.self, &c->ctx, last->owner_id);
	}
	count(s->deleted);
	return NRPC_OK;
}

// ---- reads ---------------------------------------------------------------------------------

nrpc_code prop_get_property(prop_service *s, prop_call *c,
                            const Property__V1__GetPropertyRequest *req,
                            Property__V1__Property **out)
{
	char id[37];
	nrpc_code rc;

	*out = NULL;
	scan_payload(c, &property__v1__get_property_request__descriptor, NULL);
	prop_validate_id(req->id, "id", &c->viol);
	if (c->viol.n > 0 || !prop_uuid_canonical(req->id, id)) {
		return invalid(c);
	}
	if (have_cache(s)) {
		switch (s->cache.ops->get(s->cache.self, &c->ctx, id, out)) {
		case PROP_CACHE_HIT:
			return NRPC_OK;
		case PROP_CACHE_GONE:
			*out = NULL;
			return fail(c, NRPC_NOT_FOUND, "property %s not found", id);
		default:
			*out = NULL;
			break;
		}
	}
	rc = s->repo.ops->get(s->repo.self, &c->ctx, id, out);
	if (rc != NRPC_OK) {
		*out = NULL;
		if (rc == NRPC_NOT_FOUND) {
			return fail(c, rc, "property %s not found", id);
		}
		return port_error(c, rc);
	}
	if (have_cache(s)) {
		s->cache.ops->put(s->cache.self, &c->ctx, *out);
	}
	return NRPC_OK;
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

// The cached first page, or NULL (a miss, or bytes that do not decode).
static Property__V1__ListPropertiesResponse *
cached_page(prop_service *s, prop_call *c, const char *owner, const char *page_key, uint64_t *gen)
{
	uint8_t *data = NULL;
	size_t len = 0;
	if (s->cache.ops->owner_page_get(s->cache.self, &c->ctx, owner, page_key, &data, &len,
	                                 gen) != PROP_CACHE_HIT) {
		return NULL;
	}
	return property__v1__list_properties_response__unpack(c->ctx.alloc, len, data);
}

static void store_page(prop_service *s, prop_call *c, const char *owner, const char *page_key,
                       uint64_t gen, const Property__V1__ListPropertiesResponse *r)
{
	size_t len = property__v1__list_properties_response__get_packed_size(r);
	uint8_t *buf = prop_alloc(&c->ctx, len + 1);
	property__v1__list_properties_response__pack(r, buf);
	s->cache.ops->owner_page_put(s->cache.self, &c->ctx, owner, page_key, gen, buf, len);
}

nrpc_code prop_list_by_owner(prop_service *s, prop_call *c,
                             const Property__V1__ListPropertiesByOwnerRequest *req,
                             Property__V1__ListPropertiesResponse **out)
{
	const char *owner = str_or_empty(req->owner_id);
	uint32_t size = prop_page_size(req->page_size);
	uint64_t qhash = 0;
	uint64_t gen = 0;
	prop_cursor after = {0};
	prop_page page = {0};
	char page_key[PAGE_KEY_MAX];
	bool has_after;
	nrpc_code rc;

	*out = NULL;
	scan_payload(c, &property__v1__list_properties_by_owner_request__descriptor, NULL);
	prop_validate_list(req, &c->viol);
	qhash = prop_token_owner_hash(owner);
	has_after = decode_token(s, c, req->page_token, qhash, &after);
	if (c->viol.n > 0) {
		return invalid(c);
	}
	bool use_cache = have_cache(s) && !has_after;
	snprintf(page_key, sizeof(page_key), "n=%u", size);
	if (use_cache && (*out = cached_page(s, c, owner, page_key, &gen)) != NULL) {
		return NRPC_OK;
	}
	rc = s->repo.ops->list_by_owner(s->repo.self, &c->ctx, owner, has_after ? &after : NULL,
	                                size + 1, &page);
	if (rc != NRPC_OK) {
		return port_error(c, rc);
	}
	if ((rc = page_response(s, c, &page, size, qhash, false, out)) != NRPC_OK) {
		return rc;
	}
	if (use_cache) {
		store_page(s, c, owner, page_key, gen, *out);
	}
	return NRPC_OK;
}

static bool bbox_set(const Property__V1__BoundingBox *b)
{
	// An all-zero box is what a client sends when it never set one (a box of
	// the single point 0,0 is not a useful query).
	return b != NULL && (b->min_latitude != 0.0 || b->min_longitude != 0.0 ||
	                     b->max_latitude != 0.0 || b->max_longitude != 0.0);
}

nrpc_code prop_search_properties(prop_service *s, prop_call *c,
                                 const Property__V1__SearchPropertiesRequest *req,
                                 Property__V1__ListPropertiesResponse **out)
{
	prop_search_query q = {0};
	uint32_t size = prop_page_size(req->page_size);
	prop_cursor after = {0};
	prop_page page = {0};
	uint64_t qhash;
	bool has_after;
	nrpc_code rc;

	*out = NULL;
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
	qhash = prop_token_search_hash(&q);
	has_after = decode_token(s, c, req->page_token, qhash, &after);
	if (c->viol.n > 0) {
		return invalid(c);
	}
	rc = s->repo.ops->search(s->repo.self, &c->ctx, &q, has_after ? &after : NULL, size + 1,
	                         &page);
	if (rc != NRPC_OK) {
		return port_error(c, rc);
	}
	return page_response(s, c, &page, size, qhash, true, out);
}

nrpc_code prop_read_events(prop_service *s, prop_call *c,
                           const Property__V1__ReadEventsRequest *req,
                           Property__V1__ReadEventsResponse **out)
{
	Property__V1__ReadEventsResponse *r = NULL;
	Property__V1__Event **events = NULL;
	size_t n = 0;
	uint64_t last_seq = 0;
	nrpc_code rc;

	*out = NULL;
	scan_payload(c, &property__v1__read_events_request__descriptor, NULL);
	prop_validate_read_events(req, &c->viol);
	if (c->viol.n > 0) {
		return invalid(c);
	}
	rc = s->repo.ops->read_events(s->repo.self, &c->ctx, req->after_seq,
	                              prop_events_limit(req->limit), str_or_empty(req->type_prefix),
	                              &events, &n, &last_seq);
	if (rc != NRPC_OK) {
		return port_error(c, rc);
	}
	r = prop_alloc(&c->ctx, sizeof(*r));
	property__v1__read_events_response__init(r);
	r->events = events;
	r->n_events = n;
	r->last_seq = last_seq;
	*out = r;
	return NRPC_OK;
}
