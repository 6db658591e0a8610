// nrpc over tls+tcp://: server certificates, client verification, mutual TLS.
// Certificates are made by tls_test.sh with the openssl command before this
// runs: argv[1] is that directory (server.crt/.key, client.crt/.key, other.crt).
// argv[2] and argv[3], when given, are the propctl and propload binaries: they
// are then run against the same servers (refusal without a CA, opt-out, CA).
// With argv[4] "loops" the servers are the nrpc server's own transport on
// event loops (src/rpc/sptls.h, OpenSSL) instead of nng, and the cases that
// only it can pass run too: the client's identity reaches the observer
// (nrpc_call_peer), the allow-list, and the refusal counters.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/ioloop.h"
#include "base/test/check.h"
#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/client.h"
#include "nrpc/health.h"
#include "nrpc/server.h"

static char dir[512];
static base_ioloop *loops[2]; // "loops" mode only
static unsigned nloops;
static nrpc_tls_stats stats; // of every server of the run

// The identity the observer saw on the last call ("" for none).
static pthread_mutex_t peer_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_peer[300];

static void on_call(const nrpc_call_summary *s, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&peer_mu);
	snprintf(last_peer, sizeof last_peer, "%s", s->peer ? s->peer : "");
	pthread_mutex_unlock(&peer_mu);
}

// The identity of the last call; cleared for the next one.
static const char *take_peer(void)
{
	static char copy[300];
	pthread_mutex_lock(&peer_mu);
	snprintf(copy, sizeof copy, "%s", last_peer);
	last_peer[0] = '\0';
	pthread_mutex_unlock(&peer_mu);
	return copy;
}

static char *path(const char *name)
{
	static char buf[8][640];
	static int i;
	char *p = buf[i++ % 8];
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

static char last_err[512]; // the reason of the last refused open

// One Health/Check through a fresh client; returns the status code, or 999
// when the client could not even be opened (reason in last_err).
static unsigned check(const char *url, const nrpc_tls *tls)
{
	nrpc_client *c;
	last_err[0] = '\0';
	if (nrpc_client_open_tls(&c, &url, 1, tls, last_err, sizeof(last_err)) != 0) {
		fprintf(stderr, "  (open: %s)\n", last_err);
		return 999;
	}
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	uint8_t buf[64];
	size_t n = grpc__health__v1__health_check_request__pack(&req, buf);
	nrpc_result res;
	nrpc_client_call_raw(c, "/grpc.health.v1.Health/Check", buf, n, NULL, 0, 1500, &res);
	unsigned code = res.code;
	nrpc_result_free(&res);
	nrpc_client_close(c);
	return code;
}

static nrpc_server *serve(const char *url, const nrpc_tls *tls, nrpc_health *h)
{
	nrpc_server_config cfg = {.url = url,
	                          .workers = 1,
	                          .insecure_no_auth = true,
	                          .tls = tls,
	                          .observer = on_call,
	                          .loops = loops,
	                          .nloops = nloops};
	char err[256];
	nrpc_server *s;
	if (nrpc_server_create(&s, &cfg, err, sizeof(err)) != 0 ||
	    nrpc_health_register(h, s) != 0 || nrpc_server_start(s, err, sizeof(err)) != 0) {
		fprintf(stderr, "server on %s: %s\n", url, err);
		exit(1);
	}
	return s;
}

// Runs `cmd` through sh with stderr into CERT_DIR/stderr.txt; returns the exit
// status and whether that stderr contains `want` (NULL: anything).
static int run(const char *cmd, const char *want, int *found)
{
	char full[2048], buf[2048] = "";
	snprintf(full, sizeof(full), "%s 2>'%s' >/dev/null", cmd, path("stderr.txt"));
	int st = system(full);
	FILE *f = fopen(path("stderr.txt"), "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	*found = want == NULL || strstr(buf, want) != NULL;
	if (buf[0])
		fprintf(stderr, "  (%s: %s)\n", cmd, strtok(buf, "\n"));
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: rpc_tls_test CERT_DIR\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	if (argc > 4 && strcmp(argv[4], "loops") == 0) {
		char err0[256];
		for (unsigned i = 0; i < 2; i++) {
			if (base_ioloop_create(&loops[i], "tls-test-io", err0, sizeof err0) != 0 ||
			    base_ioloop_start(loops[i], err0, sizeof err0) != 0) {
				fprintf(stderr, "loops: %s\n", err0);
				return 1;
			}
		}
		nloops = 2;
		puts("# over the own transport on event loops (OpenSSL)");
	}
	nrpc_health *h = nrpc_health_create(NULL, 0);
	nrpc_health_set_all(h, NRPC_HEALTH_SERVING);
	int port = 20000 + (int)(getpid() % 10000);
	char url1[64], url2[64], url3[64];
	snprintf(url1, sizeof(url1), "tls+tcp://127.0.0.1:%d", port);
	snprintf(url2, sizeof(url2), "tls+tcp://127.0.0.1:%d", port + 1);
	snprintf(url3, sizeof(url3), "tls+tcp://127.0.0.1:%d", port + 2);

	// A TLS URL without a certificate is refused at start.
	{
		nrpc_server_config cfg = {.url = url1, .workers = 1, .insecure_no_auth = true};
		char err[256];
		nrpc_server *s;
		nrpc_server_create(&s, &cfg, err, sizeof(err));
		CHECK(nrpc_server_start(s, err, sizeof(err)) != 0, "no_certificate_refused");
		nrpc_server_destroy(s);
	}

	nrpc_tls server_tls = {
	    .cert_file = path("server.crt"), .key_file = path("server.key"), .stats = &stats};
	nrpc_server *s1 = serve(url1, &server_tls, h);
	nrpc_tls trust = {.ca_file = path("server.crt"), .server_name = "localhost"};
	nrpc_tls wrong = {.ca_file = path("other.crt"), .server_name = "localhost"};
	nrpc_tls no_ca = {.server_name = "localhost"};
	nrpc_tls insecure = {.insecure_skip_verify = true};
	nrpc_tls insecure_wrong_ca = {.ca_file = path("other.crt"), .insecure_skip_verify = true};
	CHECK(check(url1, &trust) == 0, "verified_server");
	CHECK(strcmp(take_peer(), "") == 0, "no_ca_no_peer");
	// No CA and no opt-out: the dial is refused before anything is sent.
	CHECK(check(url1, NULL) == 999 && strstr(last_err, "needs a CA to verify the server"),
	      "no_tls_settings_refused");
	CHECK(check(url1, &no_ca) == 999 && strstr(last_err, "needs a CA to verify the server") &&
	          strstr(last_err, "insecure_skip_verify"),
	      "no_ca_refused");
	{
		nrpc_client *c = NULL;
		char err[256] = "";
		CHECK(nrpc_client_open(&c, (const char *const *)&(const char *){url1}, 1, err,
		                       sizeof(err)) != 0 &&
		          c == NULL && strstr(err, "needs a CA"),
		      "plain_open_refuses_tls_url");
	}
	// The opt-out connects without verifying (tls_test.sh checks the warning).
	CHECK(check(url1, &insecure) == 0, "insecure_opt_out_connects");
	CHECK(check(url1, &insecure_wrong_ca) == 0, "insecure_ignores_ca");
	CHECK(check(url1, &wrong) != 0, "wrong_ca_refused");
	CHECK(check(strchr(url1, 't') + 4 /* "tcp://..." */, NULL) != 0,
	      "plain_tcp_client_refused");

	// Mutual TLS: the server requires a client certificate signed by its CA.
	nrpc_tls mtls = {.cert_file = path("server.crt"),
	                 .key_file = path("server.key"),
	                 .ca_file = path("client.crt"),
	                 .stats = &stats};
	nrpc_server *s2 = serve(url2, &mtls, h);
	nrpc_tls client_with_cert = {.cert_file = path("client.crt"),
	                             .key_file = path("client.key"),
	                             .ca_file = path("server.crt"),
	                             .server_name = "localhost"};
	CHECK(check(url2, &client_with_cert) == 0, "mtls_with_client_cert");
	// The certificate's CN; nng cannot tell (nrpc_call_peer is NULL there).
	CHECK(strcmp(take_peer(), nloops > 0 ? "localhost" : "") == 0, "mtls_peer_identity");
	uint64_t failed_before = atomic_load(&stats.handshake_failed);
	CHECK(check(url2, &trust) != 0, "mtls_without_client_cert_refused");
	if (nloops > 0)
		CHECK(atomic_load(&stats.handshake_failed) > failed_before, "mtls_refusal_counted");
	// A certificate the CA did not sign (other.crt is self-signed).
	nrpc_tls client_other = {.cert_file = path("other.crt"),
	                         .key_file = path("other.key"),
	                         .ca_file = path("server.crt"),
	                         .server_name = "localhost"};
	CHECK(check(url2, &client_other) != 0, "mtls_foreign_client_cert_refused");
	CHECK(check(url2, &client_with_cert) == 0, "mtls_still_serving");

	// The allow-list: only the own transport can enforce it; nng refuses to
	// start with one rather than let everyone in.
	nrpc_tls listed = mtls;
	listed.allowed_peers = "propgate, someone-else";
	if (nloops == 0) {
		nrpc_server_config cfg = {
		    .url = url3, .workers = 1, .insecure_no_auth = true, .tls = &listed};
		char err[256] = "";
		nrpc_server *s;
		nrpc_server_create(&s, &cfg, err, sizeof(err));
		CHECK(nrpc_server_start(s, err, sizeof(err)) != 0 &&
		          strstr(err, "allowed peers") != NULL,
		      "nng_refuses_allowed_peers");
		nrpc_server_destroy(s);
	} else {
		nrpc_server *s3 = serve(url3, &listed, h);
		uint64_t refused_before = atomic_load(&stats.peer_refused);
		CHECK(check(url3, &client_with_cert) != 0, "allow_list_refuses_unlisted");
		CHECK(atomic_load(&stats.peer_refused) > refused_before,
		      "allow_list_refusal_counted");
		nrpc_server_destroy(s3);
		listed.allowed_peers = "propgate,localhost";
		s3 = serve(url3, &listed, h);
		CHECK(check(url3, &client_with_cert) == 0 && strcmp(take_peer(), "localhost") == 0,
		      "allow_list_admits_listed");
		CHECK(check(url3, &trust) != 0, "allow_list_without_cert_refused");
		nrpc_server_destroy(s3);
		nrpc_tls list_without_ca = server_tls;
		list_without_ca.allowed_peers = "localhost";
		nrpc_server_config cfg = {.url = url3,
		                          .workers = 1,
		                          .insecure_no_auth = true,
		                          .tls = &list_without_ca,
		                          .loops = loops,
		                          .nloops = nloops};
		char err[256] = "";
		nrpc_server *s;
		nrpc_server_create(&s, &cfg, err, sizeof(err));
		CHECK(nrpc_server_start(s, err, sizeof(err)) != 0 && strstr(err, "CA") != NULL,
		      "allow_list_needs_ca");
		nrpc_server_destroy(s);
	}
	nrpc_tls insecure_with_cert = {.cert_file = path("client.crt"),
	                               .key_file = path("client.key"),
	                               .insecure_skip_verify = true};
	CHECK(check(url2, &insecure_with_cert) == 0, "mtls_insecure_still_presents_cert");
	CHECK(check(url2, &insecure) != 0, "mtls_insecure_without_cert_refused");

	// The command-line clients, as a user runs them.
	char cmd[1536];
	int found;
	const char *propctl = argc > 2 && argv[2][0] ? argv[2] : NULL;
	if (propctl) {
		unsetenv("PROPCTL_TOKEN");
		unsetenv("AUTH_SECRET");
		unsetenv("PROPCTL_TLS_CERT");
		unsetenv("PROPCTL_TLS_KEY");
		unsetenv("PROPCTL_TLS_SERVER_NAME");
		setenv("PROPCTL_URL", url1, 1);
		snprintf(cmd, sizeof(cmd), "'%s' health --timeout 1500", propctl);
		setenv("PROPCTL_TLS_CA", "", 1);
		setenv("PROPCTL_TLS_INSECURE", "", 1);
		CHECK(run(cmd,
		          "tls+tcp:// needs a CA to verify the server (PROPCTL_TLS_CA); set "
		          "PROPCTL_TLS_INSECURE=1 to skip verification",
		          &found) == 64 &&
		          found,
		      "propctl_no_ca_refused");
		setenv("PROPCTL_TLS_INSECURE", "maybe", 1);
		CHECK(run(cmd, "PROPCTL_TLS_INSECURE", &found) == 64 && found,
		      "propctl_bad_insecure_value");
		setenv("PROPCTL_TLS_INSECURE", "1", 1);
		CHECK(run(cmd, "NOT verified", &found) == 0 && found, "propctl_insecure_warns");
		setenv("PROPCTL_TLS_INSECURE", "0", 1);
		setenv("PROPCTL_TLS_CA", path("server.crt"), 1);
		setenv("PROPCTL_TLS_SERVER_NAME", "localhost", 1);
		CHECK(run(cmd, NULL, &found) == 0, "propctl_verified");
		setenv("PROPCTL_TLS_CA", path("other.crt"), 1);
		CHECK(run(cmd, NULL, &found) == 2, "propctl_wrong_ca_unreachable");
		// Mutual TLS through the environment.
		setenv("PROPCTL_URL", url2, 1);
		setenv("PROPCTL_TLS_CA", path("server.crt"), 1);
		setenv("PROPCTL_TLS_CERT", path("client.crt"), 1);
		setenv("PROPCTL_TLS_KEY", path("client.key"), 1);
		CHECK(run(cmd, NULL, &found) == 0, "propctl_mtls");
		unsetenv("PROPCTL_TLS_CERT");
		unsetenv("PROPCTL_TLS_KEY");
		unsetenv("PROPCTL_TLS_CA");
		unsetenv("PROPCTL_TLS_SERVER_NAME");
		unsetenv("PROPCTL_TLS_INSECURE");
		unsetenv("PROPCTL_URL");
	}
	const char *propload = argc > 3 && argv[3][0] ? argv[3] : NULL;
	if (propload) {
		const char *base = "--call /grpc.health.v1.Health/Check --data '{}' -c 1 -n 3 "
		                   "--timeout 1500ms -q";
		snprintf(cmd, sizeof(cmd), "'%s' -u %s %s", propload, url1, base);
		CHECK(run(cmd,
		          "needs a CA to verify the server (--tls-ca or PROPCTL_TLS_CA); pass "
		          "--tls-insecure to skip verification",
		          &found) == 2 &&
		          found,
		      "propload_no_ca_refused");
		snprintf(cmd, sizeof(cmd), "'%s' -u %s %s --tls-insecure", propload, url1, base);
		CHECK(run(cmd, "NOT verified", &found) == 0 && found, "propload_insecure_warns");
		snprintf(cmd, sizeof(cmd),
		         "'%s' -u %s %s --tls-ca '%s' --tls-server-name localhost", propload, url1,
		         base, path("server.crt"));
		CHECK(run(cmd, NULL, &found) == 0, "propload_verified");
		snprintf(cmd, sizeof(cmd),
		         "'%s' -u %s %s --tls-ca '%s' --tls-server-name localhost", propload, url1,
		         base, path("other.crt"));
		CHECK(run(cmd, NULL, &found) == 1, "propload_wrong_ca_fails");
		snprintf(cmd, sizeof(cmd),
		         "'%s' -u %s %s --tls-ca '%s' --tls-server-name localhost --tls-cert '%s' "
		         "--tls-key '%s'",
		         propload, url2, base, path("server.crt"), path("client.crt"),
		         path("client.key"));
		CHECK(run(cmd, NULL, &found) == 0, "propload_mtls");
	}

	nrpc_server_destroy(s1);
	nrpc_server_destroy(s2);
	nrpc_health_destroy(h);
	for (unsigned i = 0; i < nloops; i++)
		base_ioloop_destroy(loops[i]);
	return check_summary("rpc_tls_test");
}
