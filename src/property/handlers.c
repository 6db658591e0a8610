// property handlers: see handlers.h.
#include "property/handlers.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LOOPS 64

struct prop_handlers {
	prop_service *svc;
	base_ioloop *loops[MAX_LOOPS];
	unsigned nloops;
	atomic_uint next; // round robin over the loops
};

typedef void (*use_case)(prop_service *s, prop_call *c, const void *req);

// One request on its way to a loop: the task and what the use case needs.
typedef struct hcall {
	prop_call pc; // first: the use case's ending finds us from it
	base_ioloop_task task;
	nrpc_call *call;
	prop_handlers *h;
	use_case run;
	const ProtobufCMessage *in;
	bool is_delete;
} hcall;

// The one place where a use case's failure becomes the reply's status.
static void call_fail(nrpc_call *call, const prop_call *pc, nrpc_code rc)
{
	if (rc == NRPC_INVALID_ARGUMENT && pc->viol.n > 0) {
		for (size_t i = 0; i < pc->viol.n; i++) {
			nrpc_call_violation(call, pc->viol.v[i].field, pc->viol.v[i].description);
		}
		if (pc->viol.total == 1) {
			nrpc_call_error(call, rc, "invalid argument: %s: %s", pc->viol.v[0].field,
			                pc->viol.v[0].description);
		} else {
			nrpc_call_error(call, rc, "invalid argument: %zu invalid fields",
			                pc->viol.total);
		}
	} else {
		nrpc_call_error(call, rc, "%s",
		                pc->ctx.err[0] != '\0' ? pc->ctx.err : nrpc_code_name(rc));
	}
	nrpc_call_finish(call, rc, NULL);
}

static void done(prop_call *pc, nrpc_code rc, void *out)
{
	hcall *hc = (hcall *)(void *)pc;
	nrpc_call *call = hc->call;
	if (rc != NRPC_OK) {
		call_fail(call, pc, rc);
		return;
	}
	if (pc->packed != NULL) {
		nrpc_call_finish_packed(call, pc->packed, pc->packed_len);
		return;
	}
	if (hc->is_delete) {
		Property__V1__DeletePropertyResponse *r = nrpc_call_alloc(call, sizeof(*r));
		property__v1__delete_property_response__init(r);
		out = r;
	}
	nrpc_call_finish(call, NRPC_OK, out);
}

static void run_task(base_ioloop_task *t)
{
	hcall *hc = (hcall *)(void *)((char *)t - offsetof(hcall, task));
	hc->run(hc->h->svc, &hc->pc, hc->in);
}

static void start(nrpc_call *call, const ProtobufCMessage *in, void *arg, use_case run,
                  bool is_delete, bool idempotent_key)
{
	prop_handlers *h = arg;
	hcall *hc = nrpc_call_alloc(call, sizeof(*hc));
	prop_call_init(&hc->pc, nrpc_call_deadline_us(call), nrpc_call_allocator(call), done);
	hc->pc.subject = nrpc_call_subject(call);
	hc->pc.payload = nrpc_call_payload(call, &hc->pc.payload_len);
	if (idempotent_key) {
		hc->pc.idempotency_key = nrpc_call_metadata(call, "idempotency-key");
	}
	hc->call = call;
	hc->h = h;
	hc->run = run;
	hc->in = in;
	hc->is_delete = is_delete;
	hc->task.fn = run_task;
	if (h->nloops == 0) {
		run_task(&hc->task);
		return;
	}
	// A call that arrived on one of our loops (the server's own transport)
	// runs right here, on that loop's thread: no hand-off.
	int here = nrpc_call_loop(call);
	if (here >= 0 && (unsigned)here < h->nloops && base_ioloop_on_thread(h->loops[here])) {
		hc->pc.ctx.shard = (unsigned)here;
		run_task(&hc->task);
		return;
	}
	unsigned i = atomic_fetch_add_explicit(&h->next, 1, memory_order_relaxed) % h->nloops;
	hc->pc.ctx.shard = i;
	base_ioloop_post(h->loops[i], &hc->task);
}

#define HANDLER(name, fn, req_t, is_delete, idem)                                                  \
	static void run_##name(prop_service *s, prop_call *c, const void *req)                     \
	{                                                                                          \
		fn(s, c, (const req_t *)req);                                                      \
	}                                                                                          \
	static void h_##name(nrpc_call *call, const ProtobufCMessage *in, void *arg)               \
	{                                                                                          \
		start(call, in, arg, run_##name, is_delete, idem);                                 \
	}

HANDLER(create, prop_create_property, Property__V1__CreatePropertyRequest, false, true)
HANDLER(get, prop_get_property, Property__V1__GetPropertyRequest, false, false)
HANDLER(update, prop_update_property, Property__V1__UpdatePropertyRequest, false, false)
HANDLER(delete, prop_delete_property, Property__V1__DeletePropertyRequest, true, false)
HANDLER(list, prop_list_by_owner, Property__V1__ListPropertiesByOwnerRequest, false, false)
HANDLER(search, prop_search_properties, Property__V1__SearchPropertiesRequest, false, false)
HANDLER(read_events, prop_read_events, Property__V1__ReadEventsRequest, false, false)

static const nrpc_method_impl property_methods[] = {
    {.name = "CreateProperty", .async_handler = h_create},
    {.name = "GetProperty", .async_handler = h_get},
    {.name = "UpdateProperty", .async_handler = h_update},
    {.name = "DeleteProperty", .async_handler = h_delete},
    {.name = "ListPropertiesByOwner", .async_handler = h_list},
    {.name = "SearchProperties", .async_handler = h_search},
};

static const nrpc_method_impl event_methods[] = {
    {.name = "ReadEvents", .async_handler = h_read_events},
};

int prop_handlers_register(prop_handlers **out, nrpc_server *s, prop_service *svc,
                           base_ioloop *const *loops, unsigned nloops)
{
	*out = NULL;
	if (nloops > MAX_LOOPS) {
		return EINVAL;
	}
	prop_handlers *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		return ENOMEM;
	}
	h->svc = svc;
	h->nloops = nloops;
	for (unsigned i = 0; i < nloops; i++) {
		h->loops[i] = loops[i];
	}
	int rv = nrpc_server_add_service(s, &property__v1__property_service__descriptor,
	                                 property_methods,
	                                 sizeof(property_methods) / sizeof(property_methods[0]), h);
	if (rv == 0) {
		rv = nrpc_server_add_service(s, &property__v1__event_service__descriptor,
		                             event_methods,
		                             sizeof(event_methods) / sizeof(event_methods[0]), h);
	}
	if (rv != 0) {
		free(h);
		return rv;
	}
	*out = h;
	return 0;
}

void prop_handlers_destroy(prop_handlers *h)
{
	free(h);
}
