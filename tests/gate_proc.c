// it_gate's processes: see gate_proc.h.
#include "gate_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int gate_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof a;
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

// ---- the fake backends ----------------------------------------------------------------------

static void fake_observe(const nrpc_call_summary *s, void *arg)
{
	fake *f = arg;
	if (strcmp(s->method, M_HEALTH) != 0)
		atomic_fetch_add(&f->calls, 1);
}

int fake_start(fake *f, enum nrpc_serving st)
{
	snprintf(f->url, sizeof f->url, "tcp://127.0.0.1:%d", gate_free_port());
	char err[256];
	nrpc_server_config sc = {.url = f->url,
	                         .workers = 1,
	                         .insecure_no_auth = true,
	                         .observer = fake_observe,
	                         .observer_arg = f};
	f->health = nrpc_health_create(NULL, 0);
	if (f->health == NULL || nrpc_server_create(&f->srv, &sc, err, sizeof err) != 0 ||
	    nrpc_health_register(f->health, f->srv) != 0 ||
	    nrpc_server_start(f->srv, err, sizeof err) != 0) {
		H_FAIL("fake backend: %s", err);
		return -1;
	}
	nrpc_health_set_all(f->health, st);
	return 0;
}

void fake_stop(fake *f)
{
	if (f->srv != NULL)
		nrpc_server_destroy(f->srv);
	nrpc_health_destroy(f->health);
	f->srv = NULL;
	f->health = NULL;
}

// ---- propgate -------------------------------------------------------------------------------

static int gate_ready(const gate_proc *g)
{
	int st = 0;
	char *body = NULL;
	int rc = h_http_get(g->http, "/readyz", &st, &body);
	free(body);
	return rc == 0 && st == 200;
}

int gate_start(gate_proc *g, const char *const *backends, size_t n, bool want_ready)
{
	return gate_start_args(g, backends, n, want_ready, "--backend");
}

// The same with `flag` before each backend (--backend or --backends-dns).
int gate_start_args(gate_proc *g, const char *const *backends, size_t n, bool want_ready,
                    const char *flag)
{
	return gate_start_env(g, backends, n, want_ready, flag, NULL);
}

// The same with env (NULL-terminated "K=V") set in the gateway, which
// listens on g->url when the caller set it (tls+tcp://).
int gate_start_env(gate_proc *g, const char *const *backends, size_t n, bool want_ready,
                   const char *flag, const char *const *env)
{
	const char *bin = getenv("PROPGATE");
	if (bin == NULL || access(bin, X_OK) != 0) {
		H_FAIL("PROPGATE must name the propgate binary");
		return -1;
	}
	if (g->url[0] == '\0')
		snprintf(g->url, sizeof g->url, "tcp://127.0.0.1:%d", gate_free_port());
	snprintf(g->http, sizeof g->http, "127.0.0.1:%d", gate_free_port());
	snprintf(g->log, sizeof g->log, "/tmp/it_gate-%d-%d.log", (int)getpid(), gate_free_port());
	const char *argv[32] = {bin, "--listen", g->url, "--http-addr", g->http};
	size_t k = 5;
	for (size_t i = 0; i < n && k + 2 < 31; i++) {
		argv[k++] = flag;
		argv[k++] = backends[i];
	}
	argv[k] = NULL;
	g->pid = fork();
	if (g->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(g->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		for (size_t i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *)env[i]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	if (g->pid < 0) {
		H_FAIL("fork: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < 100; i++) {
		int st = 0, body_st = 0;
		char *body = NULL;
		if (waitpid(g->pid, &st, WNOHANG) == g->pid) {
			H_FAIL("propgate exited at start (log %s)", g->log);
			g->pid = 0;
			return -1;
		}
		if (h_http_get(g->http, "/healthz", &body_st, &body) == 0 && body_st == 200) {
			free(body);
			if (!want_ready || gate_ready(g))
				return 0;
		} else
			free(body);
		h_sleep_ms(100);
	}
	H_FAIL("propgate did not come up (log %s)", g->log);
	return -1;
}

void gate_stop(gate_proc *g)
{
	if (g->pid <= 0)
		return;
	kill(g->pid, SIGTERM);
	int st = 0;
	for (int i = 0; i < 150 && waitpid(g->pid, &st, WNOHANG) == 0; i++)
		h_sleep_ms(100);
	if (kill(g->pid, 0) == 0) {
		kill(g->pid, SIGKILL);
		waitpid(g->pid, &st, 0);
		H_FAIL("propgate did not stop on SIGTERM (log %s)", g->log);
	} else
		H_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "propgate exit status %d (log %s)",
		        st, g->log);
	g->pid = 0;
	FILE *f = fopen(g->log, "r");
	if (f != NULL) {
		char line[1024];
		while (fgets(line, sizeof line, f) != NULL)
			H_CHECK(strstr(line, "Sanitizer") == NULL &&
			            strstr(line, "runtime error") == NULL,
			        "sanitizer report in propgate's log %s: %s", g->log, line);
		fclose(f);
	}
	if (h_status() == 0)
		unlink(g->log);
}

double gate_metric(const gate_proc *g, const char *series)
{
	int st = 0;
	char *body = NULL;
	double v = 0;
	if (h_http_get(g->http, "/metrics", &st, &body) == 0 && st == 200)
		(void)h_metric(body, series, &v);
	free(body);
	return v;
}

void backend_series(char *buf, size_t cap, const char *name, const char *url)
{
	snprintf(buf, cap, "%.64s{backend=\"%.90s\"}", name, url + strlen("tcp://"));
}
