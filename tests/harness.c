// Integration-test harness: the propertyd child process and case accounting.
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/nngclose.h"

// Ports are drawn below the Linux ephemeral range (32768+) so that outgoing
// connections never take the port between our probe and propertyd's bind.
#define PORT_MIN   20000
#define PORT_SPAN  12000
#define PORT_TRIES 200
// A start that failed because a port was taken in the meantime is retried.
#define START_TRIES 3
// Default handlers per test instance: enough for the concurrency tests, few
// enough that many instances stay well under PostgreSQL's max_connections.
#define DEFAULT_WORKERS "8"
#define LOG_MAX         (64u << 20) // logs of a test run stay far below this

atomic_int h_failures;

// What the running case does now, for the watchdog (written by h_step, read
// in the SIGALRM handler: atomics only).
static _Atomic(const char *) cur_case;
static _Atomic(const char *) cur_step;
static atomic_llong case_t0;

static const char *bin_path;

const char *h_bin(void)
{
	return bin_path;
}

void h_fail_at(const char *file, int line, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "FAIL %s:%d: %s\n", file, line, buf);
	atomic_fetch_add(&h_failures, 1);
}

int64_t h_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void h_nng_close(nng_socket s)
{
	(void)base_nng_close(s, BASE_NNG_CLOSE_BUDGET_MS);
}

int h_init(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH/TO/propertyd [case...]\n", argv[0]);
		return 2;
	}
	bin_path = argv[1];
	if (access(bin_path, X_OK) != 0) {
		fprintf(stderr, "FAIL: propertyd binary %s is not executable: %s\n", bin_path,
		        strerror(errno));
		return 1;
	}
	static const char *const need[] = {"DATABASE_URL", "REDIS_URL"};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		const char *v = getenv(need[i]);
		if (v == NULL || v[0] == '\0') {
			fprintf(stderr,
			        "FAIL: %s is not set: integration tests need a real "
			        "PostgreSQL and Redis (scripts/test.sh sets them)\n",
			        need[i]);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int h_status(void)
{
	return atomic_load(&h_failures) == 0 ? 0 : 1;
}

static void put(const char *s)
{
	if (s != NULL && write(STDERR_FILENO, s, strlen(s)) < 0)
		return;
}

static void on_watchdog(int sig)
{
	(void)sig;
	put("FAIL watchdog: case ");
	put(atomic_load(&cur_case));
	put(" still running after " H_STR(H_CASE_WATCHDOG_S) " s; last step: ");
	put(atomic_load(&cur_step));
	put("\n");
	_exit(1); // propertyd children die with us (PR_SET_PDEATHSIG)
}

void h_step(const char *what)
{
	atomic_store(&cur_step, what);
	fprintf(stderr, "  [%6lld ms] %s\n", (long long)(h_now_ms() - atomic_load(&case_t0)), what);
}

int h_run_cases(const h_case *cases, size_t n, void *ctx, int argc, char **argv)
{
	int failed_cases = 0, ran = 0;
	for (size_t i = 0; i < n; i++) {
		bool want = argc <= 2;
		for (int a = 2; a < argc; a++)
			if (strcmp(argv[a], cases[i].name) == 0)
				want = true;
		if (!want)
			continue;
		int before = atomic_load(&h_failures);
		int64_t t0 = h_now_ms();
		fprintf(stderr, "---- %s\n", cases[i].name);
		atomic_store(&cur_case, cases[i].name);
		atomic_store(&cur_step, "(start)");
		atomic_store(&case_t0, t0);
		signal(SIGALRM, on_watchdog);
		alarm(H_CASE_WATCHDOG_S);
		cases[i].fn(ctx);
		alarm(0);
		int after = atomic_load(&h_failures);
		fprintf(stderr, "%s %s (%lld ms)\n", after == before ? "PASS" : "FAIL",
		        cases[i].name, (long long)(h_now_ms() - t0));
		failed_cases += after != before;
		ran++;
	}
	if (ran == 0)
		H_FAIL("no case matched");
	fprintf(stderr, "%d of %d cases failed\n", failed_cases, ran);
	return h_status();
}

int h_main(const h_case *cases, size_t n, int argc, char **argv)
{
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	h_run_cases(cases, n, NULL, argc, argv);
	return h_status();
}

// ---- ports -------------------------------------------------------------------------------
static bool port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static int free_port(int avoid1, int avoid2)
{
	for (int i = 0; i < PORT_TRIES; i++) {
		uint32_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint32_t)rand();
		int p = PORT_MIN + (int)(r % PORT_SPAN);
		if (p != avoid1 && p != avoid2 && port_free(p))
			return p;
	}
	return -1;
}

// ---- the child ---------------------------------------------------------------------------
static void child_exec(const h_proc *p, const h_opts *o, int logfd, int outfd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive a crashed test
	int nullfd = open("/dev/null", O_RDONLY);
	if (nullfd >= 0)
		dup2(nullfd, 0);
	dup2(outfd, 1);
	dup2(logfd, 2);
	if (o->no_secret)
		unsetenv("AUTH_SECRET");
	else
		setenv("AUTH_SECRET", H_SECRET, 1);
	if (getenv("WORKERS") == NULL)
		setenv("WORKERS", DEFAULT_WORKERS, 1);
	for (int i = 0; i < H_MAX_ARGS && o->env[i] != NULL; i++) {
		const char *eq = strchr(o->env[i], '=');
		if (eq == NULL) {
			unsetenv(o->env[i]);
		} else {
			char k[128];
			size_t kl = (size_t)(eq - o->env[i]);
			if (kl >= sizeof(k))
				_exit(126);
			memcpy(k, o->env[i], kl);
			k[kl] = '\0';
			setenv(k, eq + 1, 1);
		}
	}
	const char *argv[3 * 2 + H_MAX_ARGS + 2];
	int n = 0;
	argv[n++] = bin_path;
	if (!o->no_urls) {
		argv[n++] = "--rpc-url";
		argv[n++] = p->rpc_url;
		argv[n++] = "--events-url";
		argv[n++] = p->events_url;
		argv[n++] = "--http-addr";
		argv[n++] = p->http_addr;
	}
	for (int i = 0; i < H_MAX_ARGS && o->args[i] != NULL; i++)
		argv[n++] = o->args[i];
	argv[n] = NULL;
	execv(bin_path, (char *const *)argv);
	fprintf(stderr, "exec %s: %s\n", bin_path, strerror(errno));
	_exit(127);
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

int h_wait_exit(h_proc *p, int ms)
{
	if (p->pid == 0)
		return exit_code(p->status);
	int64_t end = h_now_ms() + ms;
	for (;;) {
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			p->pid = 0;
			p->status = st;
			return exit_code(st);
		}
		if (r < 0 && errno != EINTR) {
			p->pid = 0;
			p->status = 0;
			return -1;
		}
		if (h_now_ms() >= end)
			return -2;
		h_sleep_ms(10);
	}
}

static bool log_contains(const h_proc *p, const char *needle)
{
	char *log = h_read_log(p);
	bool found = log != NULL && strstr(log, needle) != NULL;
	free(log);
	return found;
}

static int wait_serving(h_proc *p)
{
	int64_t end = h_now_ms() + H_READY_WAIT_S * 1000;
	int last = -1;
	while (h_now_ms() < end) {
		int rc = h_wait_exit(p, 0);
		if (rc != -2) {
			fprintf(stderr, "propertyd exited during start-up (status %d)\n", rc);
			return -1;
		}
		unsigned code = 0;
		last = h_health(p->cli, "", &code);
		if (last == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
			return 0;
		h_sleep_ms(100);
	}
	fprintf(stderr, "propertyd not SERVING after %d s (last health status %d)\n",
	        H_READY_WAIT_S, last);
	return -1;
}

static void scan_log(h_proc *p);

static int start_once(h_proc *p, const h_opts *o)
{
	if (o->ports != NULL) {
		snprintf(p->rpc_url, sizeof(p->rpc_url), "%s", o->ports->rpc_url);
		snprintf(p->events_url, sizeof(p->events_url), "%s", o->ports->events_url);
		snprintf(p->http_addr, sizeof(p->http_addr), "%s", o->ports->http_addr);
	} else {
		int rpc = free_port(0, 0), ev = free_port(rpc, 0), http = free_port(rpc, ev);
		if (rpc < 0 || ev < 0 || http < 0) {
			H_FAIL("no free loopback port");
			return -1;
		}
		snprintf(p->rpc_url, sizeof(p->rpc_url), "tcp://127.0.0.1:%d", rpc);
		snprintf(p->events_url, sizeof(p->events_url), "tcp://127.0.0.1:%d", ev);
		snprintf(p->http_addr, sizeof(p->http_addr), "127.0.0.1:%d", http);
	}
	snprintf(p->log_path, sizeof(p->log_path), "%s/propertyd.log", p->dir);
	char outp[300];
	snprintf(outp, sizeof(outp), "%s/stdout.log", p->dir);
	int logfd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int outfd = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0 || outfd < 0) {
		H_FAIL("open %s: %s", p->log_path, strerror(errno));
		if (logfd >= 0)
			close(logfd);
		if (outfd >= 0)
			close(outfd);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0)
		child_exec(p, o, logfd, outfd);
	close(logfd);
	close(outfd);
	if (pid < 0) {
		H_FAIL("fork: %s", strerror(errno));
		return -1;
	}
	p->pid = pid;
	p->status = 0;
	if (o->no_wait)
		return 0;
	char err[256];
	const char *urls[] = {p->rpc_url};
	if (nrpc_client_open(&p->cli, urls, 1, err, sizeof(err)) != 0) {
		H_FAIL("nrpc_client_open %s: %s", p->rpc_url, err);
		h_kill9(p);
		return -1;
	}
	if (wait_serving(p) == 0)
		return 0;
	return -1;
}

int h_start(h_proc *p, const h_opts *o)
{
	static const h_opts none;
	if (o == NULL)
		o = &none;
	h_proc old;
	h_opts again;
	if (o->ports == p) { // the same child again, on its ports
		old = *p;
		again = *o;
		again.ports = &old;
		o = &again;
	}
	memset(p, 0, sizeof(*p));
	const char *tmp = getenv("TMPDIR");
	snprintf(p->dir, sizeof(p->dir), "%s/it-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(p->dir) == NULL) {
		H_FAIL("mkdtemp %s: %s", p->dir, strerror(errno));
		return -1;
	}
	for (int t = 0; t < START_TRIES; t++) {
		if (start_once(p, o) == 0)
			return 0;
		bool port_race = log_contains(p, "in use");
		h_kill9(p); // reaps (if still running), closes the client, scans the log
		if (!port_race)
			break;
		fprintf(stderr, "port taken during start, retrying\n");
	}
	h_log_tail(p, 40);
	H_FAIL("propertyd did not start (log %s)", p->log_path);
	return -1;
}

static void scan_log(h_proc *p)
{
	static const char *const bad[] = {"ERROR: AddressSanitizer",
	                                  "runtime error:", "LeakSanitizer",
	                                  "WARNING: ThreadSanitizer"};
	char *log = h_read_log(p);
	if (log == NULL)
		return;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (strstr(log, bad[i]) != NULL && !p->sanitizer_seen) {
			p->sanitizer_seen = true;
			H_FAIL("sanitizer report (\"%s\") in propertyd's stderr %s", bad[i],
			       p->log_path);
			h_log_tail(p, 80);
		}
	}
	free(log);
}

int h_stop(h_proc *p)
{
	int rc;
	if (p->pid == 0) {
		rc = exit_code(p->status);
	} else {
		kill(p->pid, SIGTERM);
		rc = h_wait_exit(p, H_STOP_WAIT_S * 1000);
		if (rc == -2) {
			H_FAIL("propertyd did not exit within %d s of SIGTERM: killed",
			       H_STOP_WAIT_S);
			h_kill9(p);
			rc = -1;
		}
	}
	if (p->cli != NULL) {
		nrpc_client_close(p->cli);
		p->cli = NULL;
	}
	scan_log(p);
	return rc;
}

void h_kill9(h_proc *p)
{
	if (p->pid != 0) {
		kill(p->pid, SIGKILL);
		int st;
		while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
			;
		p->status = st;
		p->pid = 0;
	}
	if (p->cli != NULL) {
		nrpc_client_close(p->cli);
		p->cli = NULL;
	}
	scan_log(p);
}

void h_cleanup(h_proc *p)
{
	if (p->dir[0] == '\0')
		return;
	if (p->pid != 0)
		h_kill9(p);
	if (atomic_load(&h_failures) != 0) {
		fprintf(stderr, "(kept propertyd log: %s)\n", p->log_path);
		return;
	}
	DIR *d = opendir(p->dir);
	if (d != NULL) {
		struct dirent *e;
		char path[512];
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", p->dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(p->dir);
	p->dir[0] = '\0';
}

char *h_read_log(const h_proc *p)
{
	FILE *f = fopen(p->log_path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	while (buf != NULL) {
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0 || n >= LOG_MAX)
			break;
		if (n == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf != NULL)
		buf[n] = '\0';
	return buf;
}

void h_log_tail(const h_proc *p, int lines)
{
	char *log = h_read_log(p);
	if (log == NULL)
		return;
	size_t n = strlen(log);
	size_t i = n;
	int seen = 0;
	while (i > 0) {
		if (log[i - 1] == '\n' && i != n && ++seen >= lines)
			break;
		i--;
	}
	fprintf(stderr, "---- last lines of %s\n%s---- end of log\n", p->log_path, log + i);
	free(log);
}

int h_dev_certs(const char *dir, const char *extra)
{
	const char *script = getenv("PD_DEV_CERTS");
	if (script == NULL || script[0] == '\0') {
		H_FAIL("PD_DEV_CERTS (the path of scripts/dev-certs.sh) is not set");
		return -1;
	}
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s' '%s' %s >/dev/null", script, dir, extra);
	int st = system(cmd);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		H_FAIL("%s failed (status %d)", cmd, st);
		return -1;
	}
	return 0;
}

nrpc_tls h_tls_client(const char *ca_dir, const char *cert_dir, const char *name)
{
	static char crt[8][300], key[8][300], ca[8][300];
	static atomic_int next;
	int k = atomic_fetch_add(&next, 1) % 8;
	snprintf(ca[k], sizeof(ca[k]), "%s/ca.crt", ca_dir);
	nrpc_tls t = {.ca_file = ca[k], .server_name = "localhost"};
	if (name != NULL) {
		snprintf(crt[k], sizeof(crt[k]), "%s/%s.crt", cert_dir, name);
		snprintf(key[k], sizeof(key[k]), "%s/%s.key", cert_dir, name);
		t.cert_file = crt[k];
		t.key_file = key[k];
	}
	return t;
}
