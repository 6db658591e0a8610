// property handlers: see handlers.h.
#include "property/handlers.h"

#include <string.h>

// Builds the use case's view of one nrpc call.
static void call_begin(prop_call *pc, nrpc_call *call)
{
	prop_call_init(pc, nrpc_call_deadline_us(call), nrpc_call_allocator(call));
	pc->subject = nrpc_call_subject(call);
	pc->payload = nrpc_call_payload(call, &pc->payload_len);
}

// The one place where a use case's failure becomes the reply's status.
static nrpc_code call_fail(nrpc_call *call, const prop_call *pc, nrpc_code rc)
{
	if (rc == NRPC_INVALID_ARGUMENT && pc->viol.n > 0) {
		for (size_t i = 0; i < pc->viol.n; i++) {
			nrpc_call_violation(call, pc->viol.v[i].field, pc->viol.v[i].description);
		}
		if (pc->viol.total == 1) {
			return nrpc_call_error(call, rc, "invalid argument: %s: %s",
			                       pc->viol.v[0].field, pc->viol.v[0].description);
		}
		return nrpc_call_error(call, rc, "invalid argument: %zu invalid fields",
		                       pc->viol.total);
	}
	return nrpc_call_error(call, rc, "%s",
	                       pc->ctx.err[0] != '\0' ? pc->ctx.err : nrpc_code_name(rc));
}

static nrpc_code reply(nrpc_call *call, const prop_call *pc, nrpc_code rc, void *msg,
                       ProtobufCMessage **out)
{
	if (rc != NRPC_OK) {
		return call_fail(call, pc, rc);
	}
	*out = msg;
	return NRPC_OK;
}

static nrpc_code h_create(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                          void *arg)
{
	prop_call pc;
	Property__V1__Property *p = NULL;
	call_begin(&pc, call);
	pc.idempotency_key = nrpc_call_metadata(call, "idempotency-key");
	nrpc_code rc =
	    prop_create_property(arg, &pc, (const Property__V1__CreatePropertyRequest *)in, &p);
	return reply(call, &pc, rc, p, out);
}

static nrpc_code h_get(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                       void *arg)
{
	prop_call pc;
	Property__V1__Property *p = NULL;
	call_begin(&pc, call);
	nrpc_code rc =
	    prop_get_property(arg, &pc, (const Property__V1__GetPropertyRequest *)in, &p);
	return reply(call, &pc, rc, p, out);
}

static nrpc_code h_update(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                          void *arg)
{
	prop_call pc;
	Property__V1__Property *p = NULL;
	call_begin(&pc, call);
	nrpc_code rc =
	    prop_update_property(arg, &pc, (const Property__V1__UpdatePropertyRequest *)in, &p);
	return reply(call, &pc, rc, p, out);
}

static nrpc_code h_delete(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                          void *arg)
{
	prop_call pc;
	call_begin(&pc, call);
	nrpc_code rc =
	    prop_delete_property(arg, &pc, (const Property__V1__DeletePropertyRequest *)in);
	if (rc != NRPC_OK) {
		return call_fail(call, &pc, rc);
	}
	Property__V1__DeletePropertyResponse *r = nrpc_call_alloc(call, sizeof(*r));
	property__v1__delete_property_response__init(r);
	*out = &r->base;
	return NRPC_OK;
}

static nrpc_code h_list(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                        void *arg)
{
	prop_call pc;
	Property__V1__ListPropertiesResponse *r = NULL;
	call_begin(&pc, call);
	nrpc_code rc = prop_list_by_owner(
	    arg, &pc, (const Property__V1__ListPropertiesByOwnerRequest *)in, &r);
	return reply(call, &pc, rc, r, out);
}

static nrpc_code h_search(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                          void *arg)
{
	prop_call pc;
	Property__V1__ListPropertiesResponse *r = NULL;
	call_begin(&pc, call);
	nrpc_code rc =
	    prop_search_properties(arg, &pc, (const Property__V1__SearchPropertiesRequest *)in, &r);
	return reply(call, &pc, rc, r, out);
}

static nrpc_code h_read_events(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                               void *arg)
{
	prop_call pc;
	Property__V1__ReadEventsResponse *r = NULL;
	call_begin(&pc, call);
	nrpc_code rc = prop_read_events(arg, &pc, (const Property__V1__ReadEventsRequest *)in, &r);
	return reply(call, &pc, rc, r, out);
}

static const nrpc_method_impl property_methods[] = {
    {"CreateProperty", h_create, 0},      {"GetProperty", h_get, 0},
    {"UpdateProperty", h_update, 0},      {"DeleteProperty", h_delete, 0},
    {"ListPropertiesByOwner", h_list, 0}, {"SearchProperties", h_search, 0},
};

static const nrpc_method_impl event_methods[] = {
    {"ReadEvents", h_read_events, 0},
};

int prop_handlers_register(nrpc_server *s, prop_service *svc)
{
	int rv = nrpc_server_add_service(
	    s, &property__v1__property_service__descriptor, property_methods,
	    sizeof(property_methods) / sizeof(property_methods[0]), svc);
	if (rv != 0) {
		return rv;
	}
	return nrpc_server_add_service(s, &property__v1__event_service__descriptor, event_methods,
	                               sizeof(event_methods) / sizeof(event_methods[0]), svc);
}
