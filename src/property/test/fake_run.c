// Running a use case to its end with the in-memory fakes (run_*): see fakes.h.
#include "fakes.h"

#include <stdio.h>
#include <stdlib.h>

// ---- running a use case to its end ---------------------------------------------------------

typedef struct sync_end {
	bool ended;
	nrpc_code rc;
	void *out;
} sync_end;

static void sync_done(prop_call *c, nrpc_code rc, void *out)
{
	sync_end *e = c->user;
	e->ended = true;
	e->rc = rc;
	e->out = out;
}

void fake_call_init(prop_call *c, ProtobufCAllocator *alloc, const char *subject)
{
	prop_call_init(c, 0, alloc, sync_done);
	c->subject = subject;
}

#define RUN(call_expr, outp)                                                                       \
	do {                                                                                       \
		sync_end e = {0};                                                                  \
		c->done = sync_done;                                                               \
		c->user = &e;                                                                      \
		call_expr;                                                                         \
		if (!e.ended) {                                                                    \
			fprintf(stderr, "use case did not end with in-memory ports\n");            \
			abort();                                                                   \
		}                                                                                  \
		c->user = NULL;                                                                    \
		if ((outp) != NULL) {                                                              \
			*(void **)(outp) = e.out;                                                  \
		}                                                                                  \
		return e.rc;                                                                       \
	} while (0)

nrpc_code fake_run_create(prop_service *s, prop_call *c,
                          const Property__V1__CreatePropertyRequest *r,
                          Property__V1__Property **out)
{
	RUN(prop_create_property(s, c, r), out);
}

nrpc_code fake_run_get(prop_service *s, prop_call *c, const Property__V1__GetPropertyRequest *r,
                       Property__V1__Property **out)
{
	RUN(prop_get_property(s, c, r), out);
}

nrpc_code fake_run_update(prop_service *s, prop_call *c,
                          const Property__V1__UpdatePropertyRequest *r,
                          Property__V1__Property **out)
{
	RUN(prop_update_property(s, c, r), out);
}

nrpc_code fake_run_delete(prop_service *s, prop_call *c,
                          const Property__V1__DeletePropertyRequest *r)
{
	void *none = NULL; // delete has no output
	RUN(prop_delete_property(s, c, r), &none);
}

static nrpc_code run_list_raw(prop_service *s, prop_call *c,
                              const Property__V1__ListPropertiesByOwnerRequest *r,
                              Property__V1__ListPropertiesResponse **out)
{
	RUN(prop_list_by_owner(s, c, r), out);
}

nrpc_code fake_run_list(prop_service *s, prop_call *c,
                        const Property__V1__ListPropertiesByOwnerRequest *r,
                        Property__V1__ListPropertiesResponse **out)
{
	c->packed = NULL;
	nrpc_code rc = run_list_raw(s, c, r, out);
	if (rc == NRPC_OK && *out == NULL && c->packed != NULL) {
		// A page served as stored: decode it for the test to look at.
		*out = property__v1__list_properties_response__unpack(c->ctx.alloc, c->packed_len,
		                                                      c->packed);
	}
	return rc;
}

nrpc_code fake_run_search(prop_service *s, prop_call *c,
                          const Property__V1__SearchPropertiesRequest *r,
                          Property__V1__ListPropertiesResponse **out)
{
	RUN(prop_search_properties(s, c, r), out);
}

nrpc_code fake_run_read_events(prop_service *s, prop_call *c,
                               const Property__V1__ReadEventsRequest *r,
                               Property__V1__ReadEventsResponse **out)
{
	RUN(prop_read_events(s, c, r), out);
}
