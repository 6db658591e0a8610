// propgate, the gateway, in front of three real propertyd instances (and two
// fake backends of the test's own: one that reports NOT_SERVING, one that
// accepts connections and never answers).
//
//   forwards            create/get/list and every error shape come back as the
//                       instance sent them; x-request-id is kept or generated.
//   spreads             calls reach all three healthy instances, none the
//                       NOT_SERVING one.
//   kill9_under_load    readers, idempotent creators and plain creators run
//                       while one instance is killed with SIGKILL: no read and
//                       no idempotent create fails; a plain create fails only
//                       with 14, within its deadline. The instance restarted
//                       on its ports gets calls again within 2 s.
//   deadline            a backend that never answers: the call is answered 4
//                       at its deadline; once the health check marked it down,
//                       14 at once.
//
//   propload_kill9      propload's own load (reads and idempotent creates)
//                       through the gateway while an instance is killed: no
//                       call fails; plain creates: only 14s, within deadline.
//
// The propgate and propload binaries come from the environment (PROPGATE,
// PROPLOAD), set by CTest.
//
// The cases by theme: forwards and spreads here, with main; kill9_under_load
// and propload_kill9 in it_gate_kill.c; deadline, dns and no_database in
// it_gate_faults.c; mtls in it_gate_tls.c. Shared context: it_gate.h;
// processes: gate_proc.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_gate.h"
#include "nrpc/health.h"

// ---- cases ----------------------------------------------------------------------------------

void forwards(void *arg)
{
	ctx *c = arg;
	char owner[96];
	h_owner(owner, sizeof owner, "gate");
	char *auth = h_bearer(H_SECRET, owner, 600);
	h_step("create and read back through the gateway");
	Property__V1__Property *p = h_create(c->cli, auth, owner);
	H_CHECK(p != NULL, "create through the gateway");
	if (p != NULL) {
		unsigned code = 0;
		Property__V1__Property *g = h_get(c->cli, auth, p->id, &code);
		H_CHECK(code == 0 && g != NULL && strcmp(g->id, p->id) == 0, "get: code %u", code);
		if (g != NULL)
			protobuf_c_message_free_unpacked(&g->base, NULL);
		protobuf_c_message_free_unpacked(&p->base, NULL);
	}
	Property__V1__ListPropertiesByOwnerRequest lr =
	    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
	lr.owner_id = owner;
	lr.page_size = 10;
	Property__V1__ListPropertiesResponse *list = NULL;
	h_md md = {.auth = auth};
	unsigned code =
	    h_call(c->cli, M_LIST, &lr.base, &property__v1__list_properties_response__descriptor,
	           &md, (void **)&list, NULL);
	H_CHECK(code == 0 && list != NULL && list->n_properties == 1, "list: code %u", code);
	if (list != NULL)
		protobuf_c_message_free_unpacked(&list->base, NULL);

	h_step("errors come back as the instance sent them");
	Property__V1__CreatePropertyRequest bad = PROPERTY__V1__CREATE_PROPERTY_REQUEST__INIT;
	bad.owner_id = owner;
	bad.title = "";
	nrpc_result r;
	memset(&r, 0, sizeof r);
	code =
	    h_call(c->cli, M_CREATE, &bad.base, &property__v1__property__descriptor, &md, NULL, &r);
	H_CHECK(code == 3 && h_has_violation(&r, "title"), "invalid create: code %u", code);
	nrpc_result_free(&r);
	unsigned gcode = 0;
	Property__V1__Property *none =
	    h_get(c->cli, auth, "00000000-0000-4000-8000-000000000000", &gcode);
	H_CHECK(none == NULL && gcode == 5, "missing property: code %u", gcode);
	h_md noauth = {0};
	Property__V1__GetPropertyRequest gr = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	gr.id = "00000000-0000-4000-8000-000000000000";
	code = h_call(c->cli, M_GET, &gr.base, &property__v1__property__descriptor, &noauth, NULL,
	              NULL);
	H_CHECK(code == 16, "no token through the gateway: code %u (the instance checks it)", code);

	h_step("x-request-id: kept when sent, generated when not");
	memset(&r, 0, sizeof r);
	h_md rid = {.auth = auth, .req_id = "it-gate-request-1"};
	code = h_call(c->cli, M_GET, &gr.base, &property__v1__property__descriptor, &rid, NULL, &r);
	const char *echoed = nrpc_result_metadata(&r, "x-request-id");
	H_CHECK(echoed != NULL && strcmp(echoed, "it-gate-request-1") == 0, "echoed id %s",
	        echoed ? echoed : "(none)");
	nrpc_result_free(&r);
	memset(&r, 0, sizeof r);
	code = h_call(c->cli, M_GET, &gr.base, &property__v1__property__descriptor, &md, NULL, &r);
	echoed = nrpc_result_metadata(&r, "x-request-id");
	H_CHECK(echoed != NULL && strlen(echoed) >= 8, "generated id %s",
	        echoed ? echoed : "(none)");
	nrpc_result_free(&r);
	free(auth);
}

void spreads(void *arg)
{
	ctx *c = arg;
	char series[256];
	double before[NINST];
	for (int i = 0; i < NINST; i++) {
		backend_series(series, sizeof series, "propgate_backend_calls_total",
		               c->inst[i].rpc_url);
		before[i] = gate_metric(&c->gate, series);
	}
	int fake_before = atomic_load(&c->notserving.calls);
	h_step("90 calls through the gateway");
	for (int i = 0; i < 90; i++) {
		unsigned code = 0;
		Property__V1__Property *p =
		    h_get(c->cli, c->auth, "00000000-0000-4000-8000-000000000001", &code);
		H_CHECK(code == 5, "get of a missing id: code %u", code);
		if (p != NULL)
			protobuf_c_message_free_unpacked(&p->base, NULL);
	}
	for (int i = 0; i < NINST; i++) {
		backend_series(series, sizeof series, "propgate_backend_calls_total",
		               c->inst[i].rpc_url);
		double got = gate_metric(&c->gate, series) - before[i];
		H_CHECK(got >= 10, "instance %d answered %.0f of 90 calls (round robin gives 30)",
		        i, got);
	}
	H_CHECK(atomic_load(&c->notserving.calls) == fake_before,
	        "the NOT_SERVING backend got %d calls",
	        atomic_load(&c->notserving.calls) - fake_before);
	backend_series(series, sizeof series, "propgate_backend_up", c->notserving.url);
	H_CHECK(gate_metric(&c->gate, series) == 0, "NOT_SERVING backend shown up");
}

int main(int argc, char **argv)
{
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	static ctx c;
	const char *backends[NINST + 1];
	for (int i = 0; i < NINST; i++) {
		if (h_start(&c.inst[i], &(h_opts){0}) != 0)
			return 1;
		backends[i] = c.inst[i].rpc_url;
	}
	if (fake_start(&c.notserving, NRPC_HEALTH_NOT_SERVING) != 0)
		return 1;
	backends[NINST] = c.notserving.url;
	if (gate_start(&c.gate, backends, NINST + 1, true) != 0)
		return 1;
	// The first health round has run once every real instance shows up.
	char series[256];
	for (int i = 0; i < 40; i++) {
		backend_series(series, sizeof series, "propgate_backend_up", c.notserving.url);
		if (gate_metric(&c.gate, series) == 0)
			break;
		h_sleep_ms(50);
	}
	if ((c.cli = h_client(c.gate.url)) == NULL)
		return 1;
	char owner[96];
	h_owner(owner, sizeof owner, "gate-spread");
	c.auth = h_bearer(H_SECRET, owner, 600);
	static const h_case cases[] = {
	    {"forwards", forwards},
	    {"spreads", spreads},
	    {"kill9_under_load", kill9_under_load},
	    {"deadline", deadline},
	    {"dns", dns},
	    {"mtls", mtls},
	    {"no_database", no_database},
	    {"propload_kill9", propload_kill9},
	};
	h_run_cases(cases, sizeof cases / sizeof cases[0], &c, argc, argv);
	nrpc_client_close(c.cli);
	gate_stop(&c.gate);
	fake_stop(&c.notserving);
	for (int i = 0; i < NINST; i++) {
		if (c.inst[i].pid > 0)
			h_stop(&c.inst[i]);
		h_cleanup(&c.inst[i]);
	}
	free(c.auth);
	return h_status();
}
