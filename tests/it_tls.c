// it_tls: mutual TLS on propertyd's RPC socket and event PUB socket
// (docs/security.md), with the development certificates of
// scripts/dev-certs.sh (its path in env PD_DEV_CERTS; CTest sets it).
//
// One instance with tls+tcp:// RPC (the own transport, OpenSSL) and events
// (nng) and TLS_CA_FILE serves the first cases: a client with a certificate of
// the CA calls, and its identity is in the access log; clients without a
// certificate, with a foreign one, or without TLS are refused, counted, and the
// server goes on serving. On the event socket a subscriber with a certificate
// (a raw sub0 socket, and the propsub library) receives events, one without
// receives nothing and never becomes a connection. Further instances: the
// allow-list (TLS_ALLOWED_PEERS), RPC_TRANSPORT=nng (refuses a client without
// a certificate too, but cannot name the peer), and the start-up refusals of
// settings that would leave a socket open to anyone.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "nrpc/tls.h"
#include "propsub.h"

#define WAIT_MS   20000 // bound on anything that should happen (start, leadership, delivery)
#define EV_MAX    64    // events kept per subscriber
#define NO_EVENTS 2000  // how long a subscriber that must get nothing is listened to, at the end

typedef struct inst {
	h_proc p;
	char rpc[H_URL_MAX], events[H_URL_MAX], http[H_URL_MAX];
	bool up;
} inst;

typedef struct ctx {
	char certs[200];   // scripts/dev-certs.sh output: ca, server, client, propgate
	char foreign[220]; // another run of it: a CA nobody trusts, and its `client`
	inst a;            // RPC and events on tls+tcp://, TLS_CA_FILE, loops
	char *auth;
} ctx;

static const char *cert(const ctx *c, const char *name, const char *ext)
{
	static char buf[8][300];
	static int i;
	char *p = buf[i++ % 8];
	snprintf(p, sizeof buf[0], "%s/%s.%s", c->certs, name, ext);
	return p;
}

// ---- set-up -------------------------------------------------------------------------------

// A loopback port nothing listens on now, below the ephemeral range.
static int free_port(void)
{
	for (int i = 0; i < 50; i++) {
		uint32_t r = 0;
		if (getrandom(&r, sizeof r, 0) != sizeof r)
			r = (uint32_t)rand();
		int port = 20000 + (int)(r % 12000);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return port;
	}
	return -1;
}

// Starts propertyd with tls+tcp:// RPC and events URLs (events plain with
// plain_events), the dev certificates, and `env` (NULL-terminated "K=V").
// With wait, returns once /readyz answers 200.
static int start(const ctx *c, inst *in, const char *const *env, bool plain_events, bool wait)
{
	int rp = free_port(), ep = free_port(), hp = free_port();
	if (rp < 0 || ep < 0 || hp < 0 || rp == ep || ep == hp || rp == hp) {
		H_FAIL("no free loopback ports");
		return -1;
	}
	snprintf(in->rpc, sizeof in->rpc, "tls+tcp://127.0.0.1:%d", rp);
	snprintf(in->events, sizeof in->events, "%s://127.0.0.1:%d",
	         plain_events ? "tcp" : "tls+tcp", ep);
	snprintf(in->http, sizeof in->http, "127.0.0.1:%d", hp);
	static char envs[4][320];
	snprintf(envs[0], sizeof envs[0], "TLS_CERT_FILE=%s", cert(c, "server", "crt"));
	snprintf(envs[1], sizeof envs[1], "TLS_KEY_FILE=%s", cert(c, "server", "key"));
	snprintf(envs[2], sizeof envs[2], "TLS_CA_FILE=%s", cert(c, "ca", "crt"));
	h_opts o = {.no_urls = true, .no_wait = true};
	size_t n = 0;
	for (int i = 0; i < 3; i++)
		o.env[n++] = envs[i];
	o.env[n++] = "LOG_REQUESTS=1";
	for (size_t i = 0; env != NULL && env[i] != NULL && n < H_MAX_ARGS; i++)
		o.env[n++] = env[i];
	const char *args[] = {"--rpc-url", in->rpc,       "--events-url",
	                      in->events,  "--http-addr", in->http};
	for (size_t i = 0; i < sizeof args / sizeof args[0]; i++)
		o.args[i] = args[i];
	if (h_start(&in->p, &o) != 0)
		return -1;
	// h_start chose URLs of its own, which propertyd was not given.
	snprintf(in->p.rpc_url, sizeof in->p.rpc_url, "%s", in->rpc);
	snprintf(in->p.events_url, sizeof in->p.events_url, "%s", in->events);
	snprintf(in->p.http_addr, sizeof in->p.http_addr, "%s", in->http);
	in->up = true;
	if (!wait)
		return 0;
	for (int64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end;) {
		if (h_wait_exit(&in->p, 0) != -2) {
			h_log_tail(&in->p, 30);
			H_FAIL("propertyd exited during start-up");
			return -1;
		}
		int st = 0;
		char *body = NULL;
		if (h_http_get(in->http, "/readyz", &st, &body) == 0 && st == 200) {
			free(body);
			return 0;
		}
		free(body);
		h_sleep_ms(100);
	}
	h_log_tail(&in->p, 30);
	H_FAIL("propertyd not ready within %d ms", WAIT_MS);
	return -1;
}

static void stop(inst *in)
{
	if (!in->up)
		return;
	int rc = h_stop(&in->p);
	H_CHECK(rc == 0, "propertyd exit status %d", rc);
	h_cleanup(&in->p);
	in->up = false;
}

// TLS client settings: the dev CA, and the certificate `name` from `dir` (NULL: none).
static nrpc_tls client_tls(const ctx *c, const char *dir, const char *name)
{
	return h_tls_client(c->certs, dir, name);
}

// Health/Check over a fresh client: the status code (0 SERVING answered),
// or H_LOCAL_ERROR when the client could not be opened.
static unsigned health(const char *url, const nrpc_tls *tls)
{
	nrpc_client *cli;
	char err[256];
	if (nrpc_client_open_tls(&cli, &url, 1, tls, err, sizeof err) != 0) {
		H_FAIL("open %s: %s", url, err);
		return H_LOCAL_ERROR;
	}
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	h_md md = {.timeout_ms = 2000};
	unsigned code =
	    h_call(cli, M_HEALTH, &req.base, &grpc__health__v1__health_check_response__descriptor,
	           &md, NULL, NULL);
	nrpc_client_close(cli);
	return code;
}

// Whether the log has an access-log line with "peer":<want> (want: a JSON value).
static bool log_has_peer(const inst *in, const char *want)
{
	char needle[320];
	snprintf(needle, sizeof needle, "\"peer\":%s", want);
	char *log = h_read_log(&in->p);
	bool found = false;
	for (char *line = log; line != NULL && *line != '\0' && !found;) {
		char *nl = strchr(line, '\n');
		if (nl != NULL)
			*nl = '\0';
		found = strstr(line, "\"msg\":\"rpc\"") != NULL && strstr(line, needle) != NULL;
		line = nl != NULL ? nl + 1 : NULL;
	}
	free(log);
	return found;
}

static int need_a(ctx *c)
{
	if (c->a.up)
		return 0;
	return start(c, &c->a, NULL, false, true);
}

// ---- RPC ----------------------------------------------------------------------------------
static void case_rpc_mutual_tls(void *arg)
{
	ctx *c = arg;
	if (need_a(c) != 0)
		return;
	const char *url = c->a.rpc;
	nrpc_tls with = client_tls(c, c->certs, "client");
	h_step("a client with a certificate of the CA");
	H_CHECK(health(url, &with) == 0, "Health with a client certificate failed");
	nrpc_client *cli;
	char err[256];
	if (nrpc_client_open_tls(&cli, &url, 1, &with, err, sizeof err) == 0) {
		char owner[96];
		h_owner(owner, sizeof owner, "tls");
		char *auth = h_bearer(H_SECRET, owner, 600);
		Property__V1__Property *p = h_create(cli, auth, "");
		H_CHECK(p != NULL, "CreateProperty over mutual TLS failed");
		if (p != NULL)
			protobuf_c_message_free_unpacked(&p->base, NULL);
		free(auth);
		nrpc_client_close(cli);
	} else {
		H_FAIL("open: %s", err);
	}
	H_CHECK(log_has_peer(&c->a, "\"client\""),
	        "no access-log line names the client certificate (\"peer\":\"client\")");

	double before = h_metric_now(&c->a.p, "propertyd_tls_refused_total{reason=\"handshake\"}");
	h_step("clients without a certificate, with a foreign one, without TLS");
	nrpc_tls without = client_tls(c, NULL, NULL);
	unsigned code = health(url, &without);
	H_CHECK(code != 0 && code != H_LOCAL_ERROR, "a client without a certificate got %u", code);
	nrpc_tls foreign = client_tls(c, c->foreign, "client");
	code = health(url, &foreign);
	H_CHECK(code != 0 && code != H_LOCAL_ERROR,
	        "a client with a certificate of another CA got %u", code);
	char plain[H_URL_MAX];
	snprintf(plain, sizeof plain, "%s", url + 4); // "tcp://..."
	code = health(plain, NULL);
	H_CHECK(code != 0 && code != H_LOCAL_ERROR, "a plain tcp:// client got %u", code);
	double after = h_metric_now(&c->a.p, "propertyd_tls_refused_total{reason=\"handshake\"}");
	H_CHECK(after >= before + 3, "refused handshakes counted %.0f -> %.0f, want 3 more", before,
	        after);
	h_step("still serving");
	H_CHECK(health(url, &with) == 0, "Health with a certificate failed after the refusals");
}

// ---- events -------------------------------------------------------------------------------
typedef struct sub {
	nng_socket s;
	bool open;
	size_t n;
	char ids[EV_MAX][40]; // aggregate ids received
} sub;

static int sub_open(sub *sb, const char *url, const nrpc_tls *tls)
{
	memset(sb, 0, sizeof *sb);
	char err[256];
	int rv;
	if ((rv = nng_sub0_open(&sb->s)) != 0 ||
	    (rv = nng_socket_set(sb->s, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
	    (rv = nng_socket_set_ms(sb->s, NNG_OPT_RECVTIMEO, 50)) != 0) {
		H_FAIL("sub0: %s", nng_strerror(rv));
		return -1;
	}
	sb->open = true;
	if (nrpc_tls_dial(sb->s, url, tls, err, sizeof err) != 0) {
		H_FAIL("dial %s: %s", url, err);
		return -1;
	}
	return 0;
}

// Receives what is waiting; keeps the aggregate ids of well-framed events.
static void sub_poll(sub *sb)
{
	nng_msg *m;
	while (sb->open && nng_recvmsg(sb->s, &m, 0) == 0) {
		const uint8_t *b = nng_msg_body(m);
		size_t len = nng_msg_len(m);
		const uint8_t *nul = memchr(b, 0, len);
		Property__V1__Event *ev =
		    nul ? property__v1__event__unpack(NULL, len - (size_t)(nul - b) - 1, nul + 1)
		        : NULL;
		if (ev != NULL && sb->n < EV_MAX)
			snprintf(sb->ids[sb->n++], sizeof sb->ids[0], "%s", ev->aggregate_id);
		if (ev != NULL)
			property__v1__event__free_unpacked(ev, NULL);
		nng_msg_free(m);
	}
}

static bool sub_has(const sub *sb, const char *id)
{
	for (size_t i = 0; i < sb->n; i++)
		if (strcmp(sb->ids[i], id) == 0)
			return true;
	return false;
}

static void sub_close(sub *sb)
{
	if (sb->open)
		h_nng_close(sb->s); // events may still be arriving
	sb->open = false;
}

// Creates a property; its id into id[40] ("" on failure).
static void create(ctx *c, nrpc_client *cli, char *id)
{
	id[0] = '\0';
	Property__V1__Property *p = h_create(cli, c->auth, "");
	if (p != NULL) {
		snprintf(id, 40, "%s", p->id);
		protobuf_c_message_free_unpacked(&p->base, NULL);
	}
}

typedef struct got {
	char ids[EV_MAX][40];
	size_t n;
} got;

static void on_event(const Property__V1__Event *ev, void *arg)
{
	got *g = arg;
	if (g->n < EV_MAX)
		snprintf(g->ids[g->n++], sizeof g->ids[0], "%s", ev->aggregate_id);
}

static void case_events_mutual_tls(void *arg)
{
	ctx *c = arg;
	if (need_a(c) != 0)
		return;
	h_step("waiting for relay leadership");
	bool leader = false;
	for (int64_t end = h_now_ms() + WAIT_MS; !leader && h_now_ms() < end;) {
		leader = h_metric_now(&c->a.p, "propertyd_relay_leader") == 1;
		if (!leader)
			h_sleep_ms(100);
	}
	if (!leader) {
		H_FAIL("the instance never led the event relay");
		return;
	}
	nrpc_tls with = client_tls(c, c->certs, "client");
	nrpc_tls without = client_tls(c, NULL, NULL);
	const char *rpc = c->a.rpc;
	nrpc_client *cli;
	char err[256];
	if (nrpc_client_open_tls(&cli, &rpc, 1, &with, err, sizeof err) != 0) {
		H_FAIL("open: %s", err);
		return;
	}
	sub good, bad;
	if (sub_open(&bad, c->a.events, &without) != 0 || sub_open(&good, c->a.events, &with) != 0)
		goto out;

	// Writes until the subscriber with a certificate receives one of them
	// (a PUB socket sends only to subscribers already connected).
	h_step("a subscriber with a certificate receives events");
	char id[40] = "";
	bool received = false;
	for (int64_t end = h_now_ms() + WAIT_MS; !received && h_now_ms() < end;) {
		create(c, cli, id);
		for (int i = 0; i < 10 && !received; i++) {
			sub_poll(&good);
			received = id[0] != '\0' && sub_has(&good, id);
		}
	}
	H_CHECK(received, "the subscriber with a client certificate received no event");
	// Three more, each awaited: the stream is flowing while `bad` is dialed.
	for (int k = 0; k < 3 && received; k++) {
		create(c, cli, id);
		received = false;
		for (int64_t end = h_now_ms() + WAIT_MS; !received && h_now_ms() < end;) {
			sub_poll(&good);
			received = id[0] != '\0' && sub_has(&good, id);
		}
		H_CHECK(received, "event %d after the first did not arrive", k + 1);
	}
	h_step("a subscriber without a certificate receives nothing");
	for (int64_t end = h_now_ms() + NO_EVENTS; h_now_ms() < end;)
		sub_poll(&bad);
	H_CHECK(bad.n == 0, "the subscriber without a client certificate received %zu events",
	        bad.n);
	// The refused dials never became connections: only `good` is one.
	double open = h_metric_now(&c->a.p, "propertyd_connections{listener=\"events\"}");
	H_CHECK(open == 1, "%.0f event connections open, want 1 (the one with a certificate)",
	        open);

	// The subscriber library, with the same certificate on both sockets.
	h_step("propsub over tls+tcp:// events and RPC");
	got g = {0};
	const char *evurl = c->a.events;
	propsub_config pc = {.event_urls = &evurl,
	                     .n_event_urls = 1,
	                     .rpc_urls = &rpc,
	                     .n_rpc_urls = 1,
	                     .token = c->auth + 7, // without "Bearer "
	                     .rpc_tls = &with,
	                     .events_tls = &with,
	                     .from_seq = PROPSUB_FROM_NOW,
	                     .on_event = on_event,
	                     .arg = &g};
	propsub *ps = NULL;
	if (propsub_open(&ps, &pc, err, sizeof err) != 0) {
		H_FAIL("propsub_open: %s", err);
	} else {
		propsub_run(ps, 300); // locates "now"
		received = false;
		for (int64_t end = h_now_ms() + WAIT_MS; !received && h_now_ms() < end;) {
			create(c, cli, id);
			propsub_run(ps, 300);
			for (size_t i = 0; i < g.n; i++)
				received = received || strcmp(g.ids[i], id) == 0;
		}
		H_CHECK(received, "propsub with a client certificate delivered no event");
		propsub_close(ps);
	}
	// And it refuses a tls+tcp:// events URL without a CA to verify the server.
	propsub_config nocfg = pc;
	nocfg.events_tls = NULL;
	ps = NULL;
	H_CHECK(propsub_open(&ps, &nocfg, err, sizeof err) != 0 && strstr(err, "needs a CA"),
	        "propsub opened a tls+tcp:// events URL without TLS settings (%s)", err);
	propsub_close(ps);
	h_step("the server is fine");
	H_CHECK(health(rpc, &with) == 0, "Health failed after the subscribers");
out:
	sub_close(&good);
	sub_close(&bad);
	nrpc_client_close(cli);
}

// ---- the allow-list, nng, settings --------------------------------------------------------
static void case_allowed_peers(void *arg)
{
	ctx *c = arg;
	inst b = {0};
	const char *env[] = {"TLS_ALLOWED_PEERS=propgate, someone-else", "RELAY=0", NULL};
	if (start(c, &b, env, true, true) != 0)
		return;
	nrpc_tls client = client_tls(c, c->certs, "client");
	nrpc_tls gate = client_tls(c, c->certs, "propgate");
	unsigned code = health(b.rpc, &client);
	H_CHECK(code != 0 && code != H_LOCAL_ERROR, "an identity not listed got %u", code);
	H_CHECK(h_metric_now(&b.p, "propertyd_tls_refused_total{reason=\"peer\"}") >= 1,
	        "the refused identity was not counted");
	H_CHECK(health(b.rpc, &gate) == 0, "the listed identity propgate was refused");
	H_CHECK(log_has_peer(&b, "\"propgate\""), "no access-log line with \"peer\":\"propgate\"");
	H_CHECK(!log_has_peer(&b, "\"client\""), "an access-log line for the refused identity");
	stop(&b);
}

static void case_nng_transport(void *arg)
{
	ctx *c = arg;
	inst n = {0};
	const char *env[] = {"RPC_TRANSPORT=nng", "RELAY=0", NULL};
	if (start(c, &n, env, true, true) != 0)
		return;
	nrpc_tls with = client_tls(c, c->certs, "client");
	nrpc_tls without = client_tls(c, NULL, NULL);
	H_CHECK(health(n.rpc, &with) == 0, "Health with a certificate failed under nng");
	unsigned code = health(n.rpc, &without);
	H_CHECK(code != 0 && code != H_LOCAL_ERROR, "nng admitted a client without a certificate");
	// nng verifies the certificate but cannot say whose it is.
	H_CHECK(log_has_peer(&n, "null"), "no access-log line with \"peer\":null");
	stop(&n);
}

// Settings that would leave a socket open to anyone stop propertyd at start.
static void case_refused_settings(void *arg)
{
	ctx *c = arg;
	static const struct {
		const char *env[4];
		bool plain_events;
		const char *says;
	} bad[] = {
	    {{"TLS_ALLOWED_PEERS=client", "RPC_TRANSPORT=nng", NULL}, true, "TLS_ALLOWED_PEERS"},
	    {{"TLS_ALLOWED_PEERS=client", "TLS_CA_FILE", NULL}, true, "TLS_ALLOWED_PEERS"},
	    {{"TLS_ALLOWED_PEERS=a,,b", NULL}, true, "invalid TLS_ALLOWED_PEERS"},
	    {{"TLS_CA_FILE", NULL}, false, "EVENTS_TLS_CA_FILE"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		inst x = {0};
		if (start(c, &x, bad[i].env, bad[i].plain_events, false) != 0)
			continue;
		int rc = h_wait_exit(&x.p, WAIT_MS);
		char *log = h_read_log(&x.p);
		H_CHECK(rc == 2 && log != NULL && strstr(log, bad[i].says) != NULL,
		        "case %zu: exit %d, want 2 and \"%s\" (log: %s)", i, rc, bad[i].says,
		        log ? log : "none");
		free(log);
		if (rc == -2)
			stop(&x); // still running: a failure already recorded
		else
			h_cleanup(&x.p);
	}
}

int main(int argc, char **argv)
{
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	static ctx c;
	const char *tmp = getenv("TMPDIR");
	snprintf(c.certs, sizeof c.certs, "%s/it-tls-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(c.certs) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(c.foreign, sizeof c.foreign, "%s/foreign", c.certs);
	if (h_dev_certs(c.certs, "") != 0 || h_dev_certs(c.foreign, "") != 0)
		return 1;
	char owner[96];
	h_owner(owner, sizeof owner, "tls-events");
	c.auth = h_bearer(H_SECRET, owner, 3600);
	static const h_case cases[] = {
	    {"rpc_mutual_tls", case_rpc_mutual_tls},
	    {"events_mutual_tls", case_events_mutual_tls},
	    {"allowed_peers", case_allowed_peers},
	    {"nng_transport", case_nng_transport},
	    {"refused_settings", case_refused_settings},
	};
	rc = h_run_cases(cases, sizeof cases / sizeof cases[0], &c, argc, argv);
	stop(&c.a);
	free(c.auth);
	if (rc == 0) {
		char cmd[600];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", c.certs);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", c.certs);
	}
	return rc;
}
