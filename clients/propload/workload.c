// Request building and reply learning: see workload.h.
#include "workload.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "data.h"
#include "methods.h"
#include "nrpc/client.h"
#include "nrpc/jwt.h"
#include "pbjson.h"
#include "property/v1/property.pb-c.h"
#include "reflect.h"

// Largest method payload built here (a create is ~400 bytes); generic
// payloads are packed on the heap once.
#define PAYLOAD_MAX 4096
// Ids created during the run, kept for deletes: a ring of the newest.
#define CREATED_RING 65536u
// Results per page for list and search: the contract's default.
#define PAGE_SIZE 20

static const char *const op_methods[PL_OP_COUNT] = {
    "/property.v1.PropertyService/GetProperty",
    "/property.v1.PropertyService/ListPropertiesByOwner",
    "/property.v1.PropertyService/CreateProperty",
    "/property.v1.PropertyService/UpdateProperty",
    "/property.v1.PropertyService/SearchProperties",
    "/property.v1.PropertyService/DeleteProperty",
    "",
};

struct pl_workload {
	pl_workload_cfg cfg;
	pl_ids *ids;
	size_t nkeys; // ids used for reads and updates
	char **auth;  // "Bearer <token>" per owner, or NULL when calls carry no token
	char *fixed_auth;
	pl_zipf zkeys, zowners;
	atomic_uint_fast64_t seq;
	uint64_t run_id;    // random: idempotency keys of this run are its own
	pthread_mutex_t mu; // guards ids growth (collect) and the created ring
	char (*ring)[PL_ID_LEN];
	uint32_t *ring_owner;
	size_t ring_len, ring_head;
	char method[PDC_METHOD_PATH_MAX]; // generic mode
	uint8_t *pre;                     // generic mode: the packed envelope
	size_t pre_len;
};

static const char *auth_for(const pl_workload *w, uint32_t owner)
{
	if (w->fixed_auth)
		return w->fixed_auth;
	if (!w->auth)
		return NULL;
	return w->auth[owner % w->cfg.owners];
}

// Packs an rpc.v1.Request envelope into a new message (or into *raw when raw is non-NULL).
// `idem` (or NULL) is sent as the idempotency-key.
static int envelope(const pl_workload *w, const char *method, const uint8_t *payload, size_t len,
                    const char *auth, const char *idem, nng_msg **msg, uint8_t **raw,
                    size_t *rawlen)
{
	Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
	Rpc__V1__Request__MetadataEntry e[2] = {RPC__V1__REQUEST__METADATA_ENTRY__INIT,
	                                        RPC__V1__REQUEST__METADATA_ENTRY__INIT};
	Rpc__V1__Request__MetadataEntry *ep[2];
	req.method = (char *)method;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = len;
	req.timeout_ms = w->cfg.timeout_ms;
	req.metadata = ep;
	if (auth) {
		e[req.n_metadata].key = "authorization";
		e[req.n_metadata].value = (char *)auth;
		ep[req.n_metadata] = &e[req.n_metadata];
		req.n_metadata++;
	}
	if (idem) {
		e[req.n_metadata].key = "idempotency-key";
		e[req.n_metadata].value = (char *)idem;
		ep[req.n_metadata] = &e[req.n_metadata];
		req.n_metadata++;
	}
	size_t n = rpc__v1__request__get_packed_size(&req);
	if (raw) {
		*raw = malloc(n ? n : 1);
		if (!*raw)
			return -1;
		*rawlen = rpc__v1__request__pack(&req, *raw);
		return 0;
	}
	if (nng_msg_alloc(msg, n) != 0)
		return -1;
	rpc__v1__request__pack(&req, nng_msg_body(*msg));
	return 0;
}

// A method not compiled in: its descriptors from the server's reflection
// service (*rd: the caller frees it with pdc_rtdesc_free once done with m).
static int reflect_method(pl_workload *w, pdc_rtdesc **rd, pdc_method *m, char *err, size_t errcap)
{
	nrpc_client *cl = NULL;
	char rerr[256] = "";
	if (w->cfg.nurls == 0 || nrpc_client_open_tls(&cl, w->cfg.urls, w->cfg.nurls, w->cfg.tls,
	                                              rerr, sizeof rerr) != 0) {
		snprintf(err, errcap, "--call: %s is not compiled in, and no server to ask: %s",
		         w->cfg.call_method, rerr);
		return -1;
	}
	nrpc_result res;
	*rd = pdc_reflect_load(cl, w->cfg.timeout_ms ? w->cfg.timeout_ms : 5000, &res, rerr,
	                       sizeof rerr);
	nrpc_client_close(cl);
	if (*rd == NULL) {
		snprintf(err, errcap, "--call: %s is not compiled in, and reflection failed: %s",
		         w->cfg.call_method,
		         res.code != 0 && res.message ? res.message
		         : rerr[0]                    ? rerr
		                                      : "no reply");
		nrpc_result_free(&res);
		return -1;
	}
	nrpc_result_free(&res);
	if (pdc_reflect_find_method(*rd, w->cfg.call_method, m) != 0) {
		snprintf(err, errcap, "--call: the server has no method %s, or more than one",
		         w->cfg.call_method);
		pdc_rtdesc_free(*rd);
		*rd = NULL;
		return -1;
	}
	return 0;
}

static int prepare_generic(pl_workload *w, char *err, size_t errcap)
{
	pdc_method m;
	pdc_rtdesc *rd = NULL;
	if (pdc_method_find(w->cfg.call_method, &m) != 0 &&
	    reflect_method(w, &rd, &m, err, errcap) != 0)
		return -1;
	snprintf(w->method, sizeof w->method, "%s", m.path);
	char jerr[256];
	ProtobufCMessage *msg = pdc_pbjson_decode(
	    m.input, w->cfg.call_data ? w->cfg.call_data : "{}", jerr, sizeof jerr);
	if (!msg) {
		snprintf(err, errcap, "--data: %s", jerr);
		pdc_rtdesc_free(rd);
		return -1;
	}
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n ? n : 1);
	int rc = -1;
	if (buf) {
		protobuf_c_message_pack(msg, buf);
		rc = envelope(w, w->method, buf, n, auth_for(w, 0), NULL, NULL, &w->pre,
		              &w->pre_len);
	}
	free(buf);
	protobuf_c_message_free_unpacked(msg, NULL);
	pdc_rtdesc_free(rd); // the request is packed: its descriptors are no longer needed
	if (rc != 0)
		snprintf(err, errcap, "out of memory");
	return rc;
}

// Largest echo message: far above the ~300 bytes the transport comparisons use.
#define ECHO_MAX (1u << 20)

static int prepare_echo(pl_workload *w, char *err, size_t errcap)
{
	if (w->cfg.echo_bytes > ECHO_MAX) {
		snprintf(err, errcap, "--echo: at most %u bytes", ECHO_MAX);
		return -1;
	}
	snprintf(w->method, sizeof w->method, "echo");
	Rpc__V1__Response res = RPC__V1__RESPONSE__INIT;
	size_t n = w->cfg.echo_bytes > 8 ? w->cfg.echo_bytes - 8 : 1; // minus tag and length
	uint8_t *fill = malloc(n);
	if (!fill)
		goto oom;
	for (size_t i = 0; i < n; i++)
		fill[i] = (uint8_t)('a' + i % 26);
	res.payload.data = fill;
	res.payload.len = n;
	w->pre_len = rpc__v1__response__get_packed_size(&res);
	w->pre = malloc(w->pre_len);
	if (w->pre)
		rpc__v1__response__pack(&res, w->pre);
	free(fill);
	if (!w->pre)
		goto oom;
	return 0;
oom:
	snprintf(err, errcap, "out of memory");
	return -1;
}

static int mint_tokens(pl_workload *w, char *err, size_t errcap)
{
	if (w->cfg.token) {
		if (asprintf(&w->fixed_auth, "Bearer %s", w->cfg.token) < 0) {
			w->fixed_auth = NULL;
			goto oom;
		}
		return 0;
	}
	if (!w->cfg.secret)
		return 0;
	w->auth = calloc(w->cfg.owners, sizeof(char *));
	if (!w->auth)
		goto oom;
	int64_t exp = (int64_t)time(NULL) + PL_TOKEN_TTL_S;
	for (unsigned i = 0; i < w->cfg.owners; i++) {
		char sub[PL_OWNER_ID_LEN];
		pl_data_owner_id(i, sub);
		char *tok = nrpc_jwt_sign(w->cfg.secret, w->cfg.secret_len, sub, exp);
		if (!tok)
			goto oom;
		int rc = asprintf(&w->auth[i], "Bearer %s", tok);
		free(tok);
		if (rc < 0) {
			w->auth[i] = NULL;
			goto oom;
		}
	}
	return 0;
oom:
	snprintf(err, errcap, "out of memory minting tokens");
	return -1;
}

int pl_workload_open(pl_workload **out, const pl_workload_cfg *cfg, pl_ids *ids, char *err,
                     size_t errcap)
{
	pl_workload *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	w->cfg = *cfg;
	w->cfg.token = NULL; // only used here, below
	w->ids = ids;
	if (getrandom(&w->run_id, sizeof w->run_id, 0) != (ssize_t)sizeof w->run_id)
		w->run_id = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	pthread_mutex_init(&w->mu, NULL);
	if (w->cfg.owners == 0)
		w->cfg.owners = 1;
	if (w->cfg.owners > PL_OWNERS_MAX) {
		snprintf(err, errcap, "--owners: at most %u", PL_OWNERS_MAX);
		goto fail;
	}
	w->cfg.token = cfg->token;
	if (mint_tokens(w, err, errcap) != 0)
		goto fail;
	w->cfg.token = NULL;
	if (cfg->echo_bytes)
		return prepare_echo(w, err, errcap) == 0 ? (*out = w, 0)
		                                         : (pl_workload_close(w), -1);
	if (cfg->call_method)
		return prepare_generic(w, err, errcap) == 0 ? (*out = w, 0)
		                                            : (pl_workload_close(w), -1);

	const pl_mix *m = &cfg->mix;
	bool needs_ids = m->w[PL_OP_GET] || m->w[PL_OP_UPDATE];
	if (needs_ids && (!ids || ids->n == 0)) {
		snprintf(err, errcap,
		         "get and update need existing ids (--ids FILE from `propload seed`)");
		goto fail;
	}
	if (cfg->collect && needs_ids) {
		snprintf(err, errcap, "collecting ids needs a mix without get and update");
		goto fail;
	}
	w->nkeys = ids ? ids->n : 0;
	if (cfg->keys && cfg->keys < w->nkeys)
		w->nkeys = cfg->keys;
	if (cfg->dist == PL_KEYS_ZIPF) {
		if ((w->nkeys && pl_zipf_init(&w->zkeys, w->nkeys, cfg->zipf_s) != 0) ||
		    pl_zipf_init(&w->zowners, w->cfg.owners, cfg->zipf_s) != 0) {
			snprintf(err, errcap, "out of memory");
			goto fail;
		}
	}
	if (m->w[PL_OP_DELETE]) {
		w->ring = calloc(CREATED_RING, sizeof(*w->ring));
		w->ring_owner = calloc(CREATED_RING, sizeof(*w->ring_owner));
		if (!w->ring || !w->ring_owner) {
			snprintf(err, errcap, "out of memory");
			goto fail;
		}
	}
	*out = w;
	return 0;
fail:
	pl_workload_close(w);
	return -1;
}

void pl_workload_close(pl_workload *w)
{
	if (!w)
		return;
	if (w->auth)
		for (unsigned i = 0; i < w->cfg.owners; i++)
			free(w->auth[i]);
	free(w->auth);
	free(w->fixed_auth);
	pl_zipf_free(&w->zkeys);
	pl_zipf_free(&w->zowners);
	free(w->ring);
	free(w->ring_owner);
	free(w->pre);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

const char *pl_workload_method(const pl_workload *w, pl_op op)
{
	if (op == PL_OP_CALL)
		return w->method;
	return op < PL_OP_COUNT ? op_methods[op] : "";
}

static size_t pick_key(pl_workload *w, pl_rng *r)
{
	switch (w->cfg.dist) {
	case PL_KEYS_ZIPF:
		return pl_zipf_pick(&w->zkeys, r);
	case PL_KEYS_SEQ:
		return (size_t)(atomic_fetch_add(&w->seq, 1) % w->nkeys);
	default:
		return (size_t)pl_rng_below(r, w->nkeys);
	}
}

static uint32_t pick_owner(pl_workload *w, pl_rng *r)
{
	if (w->cfg.dist == PL_KEYS_ZIPF)
		return (uint32_t)pl_zipf_pick(&w->zowners, r);
	return (uint32_t)pl_rng_below(r, w->cfg.owners);
}

static size_t build_create(pl_workload *w, pl_rng *r, uint8_t *buf, uint32_t *owner)
{
	pl_listing l;
	char oid[PL_OWNER_ID_LEN];
	*owner = (uint32_t)pl_rng_below(r, w->cfg.owners);
	pl_data_owner_id(*owner, oid);
	pl_data_listing(r, &l);
	Property__V1__Location loc = PROPERTY__V1__LOCATION__INIT;
	loc.address = l.address;
	loc.city = (char *)l.city->name;
	loc.country_code = (char *)l.city->country;
	loc.latitude = l.lat;
	loc.longitude = l.lon;
	Property__V1__CreatePropertyRequest c = PROPERTY__V1__CREATE_PROPERTY_REQUEST__INIT;
	c.owner_id = oid;
	c.title = l.title;
	c.description = l.description;
	c.location = &loc;
	c.price_cents = l.price_cents;
	c.currency = (char *)l.city->currency;
	c.bedrooms = l.bedrooms;
	c.status = PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_LISTED;
	if (property__v1__create_property_request__get_packed_size(&c) > PAYLOAD_MAX)
		return 0;
	return property__v1__create_property_request__pack(&c, buf);
}

static size_t build_search(pl_rng *r, uint8_t *buf)
{
	const pl_city *c = pl_data_city(pl_rng_below(r, pl_data_city_count()));
	Property__V1__SearchPropertiesRequest s = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	s.city = (char *)c->name;
	s.page_size = PAGE_SIZE;
	switch (pl_rng_below(r, 3)) {
	case 0: // a price band around the typical price
		s.min_price_cents = c->base_price_cents / 2;
		s.max_price_cents = c->base_price_cents * 2;
		break;
	case 1:
		s.min_bedrooms = 2 + (uint32_t)pl_rng_below(r, 3);
		break;
	default:
		break;
	}
	return property__v1__search_properties_request__pack(&s, buf);
}

// Pops the newest id created in this run; false when none is left.
static bool pop_created(pl_workload *w, char id[PL_ID_LEN], uint32_t *owner)
{
	bool ok = false;
	pthread_mutex_lock(&w->mu);
	if (w->ring_len > 0) {
		size_t i = (w->ring_head + CREATED_RING - 1) % CREATED_RING;
		memcpy(id, w->ring[i], PL_ID_LEN);
		*owner = w->ring_owner[i];
		w->ring_head = i;
		w->ring_len--;
		ok = true;
	}
	pthread_mutex_unlock(&w->mu);
	return ok;
}

int pl_workload_next(pl_workload *w, pl_rng *r, nng_msg **msg, pl_op *op)
{
	if (w->pre) {
		*op = PL_OP_CALL;
		if (nng_msg_alloc(msg, w->pre_len) != 0)
			return -1;
		memcpy(nng_msg_body(*msg), w->pre, w->pre_len);
		return 0;
	}
	uint8_t buf[PAYLOAD_MAX];
	size_t len = 0;
	uint32_t owner = 0;
	char idbuf[PL_ID_LEN];
	pl_op o = pl_mix_pick(&w->cfg.mix, r);
	*op = o;
	switch (o) {
	case PL_OP_GET: {
		size_t k = pick_key(w, r);
		Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
		g.id = w->ids->id[k];
		owner = w->ids->owner[k];
		len = property__v1__get_property_request__pack(&g, buf);
		break;
	}
	case PL_OP_LIST: {
		char oid[PL_OWNER_ID_LEN];
		owner = pick_owner(w, r);
		pl_data_owner_id(owner, oid);
		Property__V1__ListPropertiesByOwnerRequest l =
		    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
		l.owner_id = oid;
		l.page_size = PAGE_SIZE;
		len = property__v1__list_properties_by_owner_request__pack(&l, buf);
		break;
	}
	case PL_OP_CREATE:
		len = build_create(w, r, buf, &owner);
		break;
	case PL_OP_UPDATE: {
		size_t k = pick_key(w, r);
		owner = w->ids->owner[k];
		Property__V1__Property p = PROPERTY__V1__PROPERTY__INIT;
		pl_listing l;
		pl_data_listing(r, &l);
		p.price_cents = l.price_cents;
		char *mask[] = {"price_cents"};
		Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
		u.id = w->ids->id[k];
		u.property = &p;
		u.n_update_mask = 1;
		u.update_mask = mask;
		len = property__v1__update_property_request__pack(&u, buf);
		break;
	}
	case PL_OP_SEARCH:
		owner = (uint32_t)pl_rng_below(r, w->cfg.owners);
		len = build_search(r, buf);
		break;
	case PL_OP_DELETE: {
		if (!pop_created(w, idbuf, &owner))
			pl_data_uuid(r, idbuf); // nothing created yet: an id that does not exist
		Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
		d.id = idbuf;
		len = property__v1__delete_property_request__pack(&d, buf);
		break;
	}
	default:
		return -1;
	}
	char idem[48];
	const char *key = NULL;
	if (o == PL_OP_CREATE && w->cfg.idempotent) {
		snprintf(idem, sizeof idem, "pl-%016llx-%llu", (unsigned long long)w->run_id,
		         (unsigned long long)atomic_fetch_add(&w->seq, 1));
		key = idem;
	}
	return envelope(w, op_methods[o], buf, len, auth_for(w, owner), key, msg, NULL, NULL);
}

void pl_workload_reply(pl_workload *w, pl_op op, const Rpc__V1__Response *res)
{
	if (op != PL_OP_CREATE || res->code != 0 || (!w->cfg.collect && !w->ring))
		return;
	Property__V1__Property *p =
	    property__v1__property__unpack(NULL, res->payload.len, res->payload.data);
	if (!p)
		return;
	long oi = pl_data_owner_index(p->owner_id);
	uint32_t owner = oi < 0 ? 0 : (uint32_t)oi;
	if (strlen(p->id) < PL_ID_LEN) {
		pthread_mutex_lock(&w->mu);
		if (w->cfg.collect)
			(void)pl_ids_add(w->ids, p->id, owner);
		if (w->ring) {
			memcpy(w->ring[w->ring_head], p->id, strlen(p->id) + 1);
			w->ring_owner[w->ring_head] = owner;
			w->ring_head = (w->ring_head + 1) % CREATED_RING;
			if (w->ring_len < CREATED_RING)
				w->ring_len++;
		}
		pthread_mutex_unlock(&w->mu);
	}
	property__v1__property__free_unpacked(p, NULL);
}
