// fuzz_envelope: each input is the raw body of one request, sent over an nng
// req0 socket to a real nrpc server listening on inproc:// (no network).
//
// The server serves grpc.health.v1.Health and the property services
// (property.v1.PropertyService, property.v1.EventService) over the in-memory
// fakes of src/property/test, on one event loop as in propertyd. The server
// must answer every input with exactly one reply that decodes as an
// rpc.v1.Response, within REPLY_MS, and never crash or leak.
//
// Tokens: the server checks HS256 tokens signed with FUZZ_SECRET; the seeds
// carry tokens that never expire, so mutations keep reaching the handlers.
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "base/ioloop.h"
#include "fuzz.h"
#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/health.h"
#include "nrpc/server.h"
#include "property/handlers.h"
#include "property/test/fakes.h"
#include "rpc/v1/rpc.pb-c.h"

#define FUZZ_URL    "inproc://propertyd-fuzz-envelope"
#define FUZZ_SECRET "propertyd-fuzz-secret-0123456789abcdef"
#define REPLY_MS    10000 // far above any reply: a miss is a lost reply

static fake_repo repo;
static fake_cache cache;
static prop_service *svc;
static base_ioloop *loop;
static nrpc_server *server;
static nrpc_health *health;
static prop_handlers *handlers;
static nng_socket client;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_envelope: %s: %s\n", what, why);
	exit(1);
}

// Forgets every row, event and cached page (on the loop, where the fakes live)
// before the fakes' fixed tables fill up (they abort when full).
static void reset_fakes(void *arg)
{
	(void)arg;
	fake_cache_fini(&cache);
	fake_repo_fini(&repo);
	fake_repo_init(&repo);
	fake_cache_init(&cache);
}

static int fakes_nearly_full(void)
{
	return repo.n_rows + 8 > FAKE_MAX_ROWS || repo.n_events + 16 > FAKE_MAX_EVENTS ||
	       repo.n_idem + 8 > FAKE_MAX_ROWS || cache.n_entries + 8 > FAKE_MAX_ROWS ||
	       cache.n_pages + 4 > FAKE_MAX_PAGES || cache.n_gens + 4 > FAKE_MAX_PAGES;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char err[256];
	fake_repo_init(&repo);
	fake_cache_init(&cache);
	// The ports are views of the static fakes, so a reset keeps them valid.
	prop_service_config sc = {.repo = fake_repo_port(&repo), .cache = fake_cache_port(&cache)};
	if (prop_service_create(&svc, &sc) != 0)
		die("service", "cannot create");
	if (base_ioloop_create(&loop, "fuzz", err, sizeof(err)) != 0 ||
	    base_ioloop_start(loop, err, sizeof(err)) != 0)
		die("loop", err);
	nrpc_server_config cfg = {
	    .url = FUZZ_URL,
	    .workers = 1,
	    .auth_secret = (const uint8_t *)FUZZ_SECRET,
	    .auth_secret_len = strlen(FUZZ_SECRET),
	    .max_inflight_per_caller = 4,
	};
	static const char *const names[] = {"property.v1.PropertyService"};
	health = nrpc_health_create(names, 1);
	if (health == NULL)
		die("health", "cannot create");
	nrpc_health_set_all(health, NRPC_HEALTH_SERVING);
	if (nrpc_server_create(&server, &cfg, err, sizeof(err)) != 0)
		die("server", err);
	if (nrpc_health_register(health, server) != 0 ||
	    prop_handlers_register(&handlers, server, svc, &loop, 1) != 0)
		die("server", "cannot register the services");
	if (nrpc_server_start(server, err, sizeof(err)) != 0)
		die("server start", err);
	int rv;
	if ((rv = nng_req0_open(&client)) != 0 ||
	    (rv = nng_socket_set_ms(client, NNG_OPT_RECVTIMEO, REPLY_MS)) != 0 ||
	    (rv = nng_socket_set_ms(client, NNG_OPT_SENDTIMEO, REPLY_MS)) != 0 ||
	    (rv = nng_socket_set_ms(client, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_dial(client, FUZZ_URL, NULL, 0)) != 0)
		die("client", nng_strerror(rv));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	// The transport drops larger requests before the server sees them.
	if (size > NRPC_MAX_MESSAGE)
		return -1;
	if (fakes_nearly_full())
		base_ioloop_call(loop, reset_fakes, NULL);

	nng_msg *m;
	int rv = nng_msg_alloc(&m, size);
	FUZZ_ASSERT(rv == 0, "nng_msg_alloc: %s", nng_strerror(rv));
	if (size > 0)
		memcpy(nng_msg_body(m), data, size);
	rv = nng_sendmsg(client, m, 0);
	FUZZ_ASSERT(rv == 0, "send: %s", nng_strerror(rv));

	nng_msg *reply = NULL;
	rv = nng_recvmsg(client, &reply, 0);
	FUZZ_ASSERT(rv == 0, "no reply from the server: %s", nng_strerror(rv));
	Rpc__V1__Response *r =
	    rpc__v1__response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
	FUZZ_ASSERT(r != NULL, "the reply (%zu bytes) is not an rpc.v1.Response",
	            nng_msg_len(reply));
	FUZZ_ASSERT(r->code <= 16, "status code %u", r->code);
	FUZZ_ASSERT(r->code == 0 || (r->message != NULL && r->message[0] != '\0'),
	            "error %u without a message", r->code);
	rpc__v1__response__free_unpacked(r, NULL);
	nng_msg_free(reply);
	return 0;
}
