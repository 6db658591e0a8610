// client_pool_test: the balancing client against fake instances, each a real
// process (this binary re-executed with --serve) on a real nng rep0 socket.
//
// A fake instance answers by method:
//   Health/Check   SERVING, or NOT_SERVING in mode "notserving"
//   /test.Echo/Stats  metadata "calls" (requests other than health checks)
//                     and "health" (health checks) received so far
//   anything else  code 0 with metadata "who" = its name; in mode "hang",
//                  GetProperty and CreateProperty are never answered: it writes
//                  one byte to its notify fd instead
//
// Cases:
//   spread        three instances, 30 reads: 10 each (round robin)
//   not serving   a NOT_SERVING instance gets health checks and no call
//   kill read     a read in flight on an instance killed with SIGKILL is
//                 answered by another one
//   kill create   a create without idempotency-key in flight on a killed
//                 instance: 14 UNAVAILABLE long before its deadline, and no
//                 other instance receives it
//   kill keyed    the same create with an idempotency-key is retried: OK
//   dns refresh   a dns+ name whose answer changes: the new address gets calls,
//                 the vanished one leaves the set (a resolver of the test's own)
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client_pool.h"
#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/client.h"
#include "rpc/v1/rpc.pb-c.h"

#define WORKERS 4
#define M_GET   "/property.v1.PropertyService/GetProperty"
#define M_NEW   "/property.v1.PropertyService/CreateProperty"
#define M_STATS "/test.Echo/Stats"
// Deadlines of the calls caught by a kill: far longer than the case takes, so
// that an answer before it is the balancer's doing, not a timeout.
#define LONG_MS 20000
#define WAIT_MS 15000 // bounded waits for a state to be reached

// ---- the fake instance (child process) -------------------------------------------------------

typedef struct fake {
	nng_socket sock;
	const char *name;
	bool notserving, hang;
	int notify_fd;
	atomic_int calls, health;
} fake;

static nng_msg *fake_answer(fake *f, const Rpc__V1__Request *req)
{
	Rpc__V1__Response rsp = RPC__V1__RESPONSE__INIT;
	Rpc__V1__Response__MetadataEntry md[2] = {RPC__V1__RESPONSE__METADATA_ENTRY__INIT,
	                                          RPC__V1__RESPONSE__METADATA_ENTRY__INIT};
	Rpc__V1__Response__MetadataEntry *mdp[2] = {&md[0], &md[1]};
	uint8_t payload[16];
	char calls[16], health[16];
	if (strcmp(req->method, "/grpc.health.v1.Health/Check") == 0) {
		atomic_fetch_add(&f->health, 1);
		Grpc__Health__V1__HealthCheckResponse h =
		    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
		h.status = f->notserving ? 2 : 1;
		rsp.payload.data = payload;
		rsp.payload.len = grpc__health__v1__health_check_response__pack(&h, payload);
	} else if (strcmp(req->method, M_STATS) == 0) {
		snprintf(calls, sizeof calls, "%d", atomic_load(&f->calls));
		snprintf(health, sizeof health, "%d", atomic_load(&f->health));
		md[0].key = "calls";
		md[0].value = calls;
		md[1].key = "health";
		md[1].value = health;
		rsp.n_metadata = 2;
		rsp.metadata = mdp;
	} else {
		atomic_fetch_add(&f->calls, 1);
		if (f->hang &&
		    (strcmp(req->method, M_GET) == 0 || strcmp(req->method, M_NEW) == 0)) {
			if (write(f->notify_fd, "!", 1) != 1)
				perror("notify");
			return NULL;
		}
		md[0].key = "who";
		md[0].value = (char *)f->name;
		rsp.n_metadata = 1;
		rsp.metadata = mdp;
	}
	nng_msg *m = NULL;
	if (nng_msg_alloc(&m, rpc__v1__response__get_packed_size(&rsp)) != 0)
		return NULL;
	rpc__v1__response__pack(&rsp, nng_msg_body(m));
	return m;
}

static void *fake_worker(void *arg)
{
	fake *f = arg;
	nng_ctx ctx;
	nng_aio *aio;
	if (nng_ctx_open(&ctx, f->sock) != 0 || nng_aio_alloc(&aio, NULL, NULL) != 0)
		abort();
	for (;;) {
		nng_ctx_recv(ctx, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0)
			continue;
		nng_msg *msg = nng_aio_get_msg(aio);
		Rpc__V1__Request *req =
		    rpc__v1__request__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
		nng_msg_free(msg);
		nng_msg *reply = req != NULL ? fake_answer(f, req) : NULL;
		if (req != NULL)
			rpc__v1__request__free_unpacked(req, NULL);
		if (reply == NULL)
			continue; // the next receive abandons the request
		nng_aio_set_msg(aio, reply);
		nng_ctx_send(ctx, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0)
			nng_msg_free(nng_aio_get_msg(aio));
	}
	return NULL;
}

// --serve NAME MODE PORT_FD NOTIFY_FD: runs until killed (or the parent dies).
static int fake_main(char **argv)
{
	static fake f;
	f.name = argv[0];
	f.notserving = strcmp(argv[1], "notserving") == 0;
	f.hang = strcmp(argv[1], "hang") == 0;
	int port_fd = atoi(argv[2]);
	f.notify_fd = atoi(argv[3]);
	nng_listener l;
	int port = 0;
	if (nng_rep0_open(&f.sock) != 0 || nng_listen(f.sock, "tcp://127.0.0.1:0", &l, 0) != 0 ||
	    nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
		return 1;
	pthread_t th[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&th[i], NULL, fake_worker, &f);
	if (write(port_fd, &port, sizeof port) != (ssize_t)sizeof port)
		return 1;
	close(port_fd);
	for (;;)
		pause();
}

typedef struct inst {
	pid_t pid;
	int notify_fd; // read end: one byte per call a "hang" instance swallowed
	char url[64];
} inst;

// Starts a fake instance; returns 0 or -1.
static int inst_start(inst *in, const char *name, const char *mode)
{
	int pfd[2], nfd[2];
	if (pipe(pfd) != 0 || pipe(nfd) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(pfd[0]);
		close(nfd[0]);
		char a[16], b[16];
		snprintf(a, sizeof a, "%d", pfd[1]);
		snprintf(b, sizeof b, "%d", nfd[1]);
		execl("/proc/self/exe", "client_pool_test", "--serve", name, mode, a, b,
		      (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	close(nfd[1]);
	int port = 0;
	ssize_t r = read(pfd[0], &port, sizeof port);
	close(pfd[0]);
	if (r != (ssize_t)sizeof port) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(nfd[0]);
		return -1;
	}
	in->pid = pid;
	in->notify_fd = nfd[0];
	snprintf(in->url, sizeof in->url, "tcp://127.0.0.1:%d", port);
	return 0;
}

static void inst_kill(inst *in)
{
	if (in->pid > 0) {
		kill(in->pid, SIGKILL);
		waitpid(in->pid, NULL, 0);
		in->pid = 0;
	}
	if (in->notify_fd >= 0)
		close(in->notify_fd);
	in->notify_fd = -1;
}

// Waits (bounded) until a "hang" instance swallowed a call.
static bool inst_swallowed(const inst *in)
{
	struct pollfd pfd = {.fd = in->notify_fd, .events = POLLIN};
	char c;
	return poll(&pfd, 1, WAIT_MS) == 1 && read(in->notify_fd, &c, 1) == 1;
}

// ---- helpers ---------------------------------------------------------------------------------

static int failures;

#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "  %s:%d: %s: ", __FILE__, __LINE__, #cond);               \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

// A read through c; returns who answered ("" on an error, code in *code).
static void call_who(nrpc_client *c, const char *method, const nrpc_meta *md, size_t n_md,
                     uint32_t timeout, char *who, size_t cap, nrpc_result *keep)
{
	nrpc_result res;
	who[0] = '\0';
	if (nrpc_client_call_raw(c, method, NULL, 0, md, n_md, timeout, &res) != 0) {
		res.code = 99;
		res.message = NULL;
	}
	const char *w = res.code == 0 ? nrpc_result_metadata(&res, "who") : NULL;
	snprintf(who, cap, "%s", w != NULL ? w : "");
	if (keep != NULL)
		*keep = res;
	else
		nrpc_result_free(&res);
}

// An instance's own count of calls (and health checks), asked directly.
static int stats(const inst *in, int *health)
{
	nrpc_client *c = NULL;
	const char *urls[] = {in->url};
	int calls = -1;
	if (nrpc_client_open(&c, urls, 1, NULL, 0) != 0)
		return -1;
	nrpc_result res;
	if (nrpc_client_call_raw(c, M_STATS, NULL, 0, NULL, 0, 5000, &res) == 0 && res.code == 0) {
		const char *v = nrpc_result_metadata(&res, "calls");
		const char *h = nrpc_result_metadata(&res, "health");
		calls = v != NULL ? atoi(v) : -1;
		if (health != NULL)
			*health = h != NULL ? atoi(h) : -1;
		nrpc_result_free(&res);
	}
	nrpc_client_close(c);
	return calls;
}

// Waits until consecutive reads are answered by `want` distinct instances:
// round robin over READY ones then cycles through all of them.
static bool wait_all_ready(nrpc_client *c, int want)
{
	for (int64_t end = (int64_t)nng_clock() + WAIT_MS; (int64_t)nng_clock() < end;) {
		char seen[8][32];
		int n = 0;
		bool distinct = true;
		for (int k = 0; k < want && distinct; k++) {
			call_who(c, "/test.Echo/Who", NULL, 0, 5000, seen[n], sizeof seen[n], NULL);
			for (int j = 0; j < n; j++)
				distinct = distinct && strcmp(seen[j], seen[n]) != 0;
			distinct = distinct && seen[n][0] != '\0';
			n++;
		}
		if (distinct)
			return true;
		nng_msleep(50);
	}
	return false;
}

static nrpc_client *open_client(const inst *ins, size_t n)
{
	const char *urls[4];
	for (size_t i = 0; i < n; i++)
		urls[i] = ins[i].url;
	nrpc_client *c = NULL;
	char err[256] = "";
	if (nrpc_client_open(&c, urls, n, err, sizeof err) != 0)
		fprintf(stderr, "  open: %s\n", err);
	return c;
}

// ---- cases -----------------------------------------------------------------------------------

static void case_spread(void)
{
	inst in[3] = {{.notify_fd = -1}, {.notify_fd = -1}, {.notify_fd = -1}};
	const char *names[3] = {"a", "b", "c"};
	for (int i = 0; i < 3; i++)
		EXPECT(inst_start(&in[i], names[i], "ok") == 0, "start %s", names[i]);
	nrpc_client *c = open_client(in, 3);
	EXPECT(c != NULL && wait_all_ready(c, 3), "three instances READY");
	int before[3];
	for (int i = 0; i < 3; i++)
		before[i] = stats(&in[i], NULL);
	int ok = 0;
	for (int k = 0; k < 30 && c != NULL; k++) {
		char who[32];
		call_who(c, M_GET, NULL, 0, 5000, who, sizeof who, NULL);
		ok += who[0] != '\0';
	}
	EXPECT(ok == 30, "%d of 30 reads answered", ok);
	for (int i = 0; i < 3; i++) {
		int got = stats(&in[i], NULL) - before[i];
		EXPECT(got == 10, "instance %s got %d of 30 calls, want 10", names[i], got);
	}
	nrpc_client_close(c);
	for (int i = 0; i < 3; i++)
		inst_kill(&in[i]);
}

static void case_not_serving(void)
{
	inst in[2] = {{.notify_fd = -1}, {.notify_fd = -1}};
	EXPECT(inst_start(&in[0], "up", "ok") == 0, "start");
	EXPECT(inst_start(&in[1], "sick", "notserving") == 0, "start");
	nrpc_client *c = open_client(in, 2);
	// Once the client has checked the sick one, it must never call it.
	int health = 0;
	for (int64_t end = (int64_t)nng_clock() + WAIT_MS; (int64_t)nng_clock() < end;
	     nng_msleep(20))
		if (stats(&in[1], &health) >= 0 && health > 0)
			break;
	int answered = 0;
	for (int k = 0; k < 20 && c != NULL; k++) {
		char who[32];
		call_who(c, M_GET, NULL, 0, 5000, who, sizeof who, NULL);
		answered += strcmp(who, "up") == 0;
	}
	EXPECT(answered == 20, "%d of 20 reads answered by the SERVING instance", answered);
	int calls = stats(&in[1], &health);
	EXPECT(calls == 0, "the NOT_SERVING instance got %d calls", calls);
	EXPECT(health > 0, "the NOT_SERVING instance got %d health checks", health);
	nrpc_client_close(c);
	inst_kill(&in[0]);
	inst_kill(&in[1]);
}

typedef struct caller {
	nrpc_client *c;
	const char *method;
	const nrpc_meta *md;
	size_t n_md;
	atomic_bool killed; // set just before the SIGKILL, while the caller waits in a call
	int calls_ok;       // calls answered before that one
	nrpc_result last;   // the outcome of the call in flight at the kill
	char last_who[32];
	bool got_last;
} caller;

// Calls until one is in flight when the swallowing instance is killed (it
// cannot return before the kill, so it is the call during which `killed`
// became true), and keeps that call's outcome.
static void *caller_main(void *arg)
{
	caller *k = arg;
	for (int i = 0; i < 12; i++) {
		nrpc_result res;
		char who[32];
		call_who(k->c, k->method, k->md, k->n_md, LONG_MS, who, sizeof who, &res);
		if (atomic_load(&k->killed)) {
			k->last = res;
			k->got_last = true;
			snprintf(k->last_who, sizeof k->last_who, "%s", who);
			break;
		}
		nrpc_result_free(&res);
		k->calls_ok++;
	}
	return NULL;
}

// One instance swallows calls ("victim"), two answer. A caller calls until
// one is swallowed; then the victim is killed with SIGKILL. The outcome of
// that call is in k->last; *others_* are the calls the other two received.
static bool kill_in_flight(caller *k, int *others_before, int *others_after)
{
	inst in[3] = {{.notify_fd = -1}, {.notify_fd = -1}, {.notify_fd = -1}};
	bool ok = inst_start(&in[0], "victim", "hang") == 0 && inst_start(&in[1], "b", "ok") == 0 &&
	          inst_start(&in[2], "c", "ok") == 0;
	k->c = ok ? open_client(in, 3) : NULL;
	ok = k->c != NULL && wait_all_ready(k->c, 3);
	EXPECT(ok, "three instances READY");
	*others_before = stats(&in[1], NULL) + stats(&in[2], NULL);
	pthread_t th;
	bool started = ok && pthread_create(&th, NULL, caller_main, k) == 0;
	ok = started && inst_swallowed(&in[0]);
	EXPECT(!started || ok, "the victim never got a call");
	atomic_store(&k->killed, true);
	inst_kill(&in[0]); // SIGKILL with the call in flight
	if (started)
		pthread_join(th, NULL);
	EXPECT(!ok || k->got_last, "the caller never saw the call in flight end");
	*others_after = stats(&in[1], NULL) + stats(&in[2], NULL);
	nrpc_client_close(k->c);
	inst_kill(&in[1]);
	inst_kill(&in[2]);
	return ok && k->got_last;
}

static void case_kill_read(void)
{
	caller k = {.method = M_GET};
	int before = 0, after = 0;
	if (kill_in_flight(&k, &before, &after)) {
		EXPECT(k.last.code == 0 &&
		           (strcmp(k.last_who, "b") == 0 || strcmp(k.last_who, "c") == 0),
		       "the read in flight on the killed instance: code %u (%s) from '%s', want OK "
		       "from another",
		       k.last.code, k.last.message ? k.last.message : "", k.last_who);
		EXPECT(after - before == k.calls_ok + 1, "others got %d calls, caller saw %d + 1",
		       after - before, k.calls_ok);
	}
	nrpc_result_free(&k.last);
}

static void case_kill_create(void)
{
	caller k = {.method = M_NEW};
	int before = 0, after = 0;
	if (kill_in_flight(&k, &before, &after)) {
		// 14, not 4: answered when the instance died, not at the deadline.
		EXPECT(k.last.code == 14 && k.last.transport_error,
		       "the create in flight: code %u (%s), want 14 UNAVAILABLE", k.last.code,
		       k.last.message ? k.last.message : "");
		EXPECT(after - before == k.calls_ok,
		       "others got %d calls, the caller %d: the create was sent again",
		       after - before, k.calls_ok);
	}
	nrpc_result_free(&k.last);
}

static void case_kill_keyed(void)
{
	nrpc_meta md[] = {{"idempotency-key", "k-1"}};
	caller k = {.method = M_NEW, .md = md, .n_md = 1};
	int before = 0, after = 0;
	if (kill_in_flight(&k, &before, &after)) {
		EXPECT(k.last.code == 0 && k.last_who[0] != '\0' &&
		           strcmp(k.last_who, "victim") != 0,
		       "the keyed create in flight: code %u (%s), want OK from another",
		       k.last.code, k.last.message ? k.last.message : "");
		EXPECT(after - before == k.calls_ok + 1, "others got %d calls, caller saw %d + 1",
		       after - before, k.calls_ok);
	}
	nrpc_result_free(&k.last);
}

// The test's resolver: whatever `answer` holds now.
static pthread_mutex_t dns_mu = PTHREAD_MUTEX_INITIALIZER;
static char answer[2][LB_URL_MAX];
static int answers;

static int fake_resolve(const nrpc_lb_dns_target *t, char (*urls)[LB_URL_MAX], size_t cap,
                        char *err, size_t errcap, void *arg)
{
	(void)t;
	(void)err;
	(void)errcap;
	(void)arg;
	pthread_mutex_lock(&dns_mu);
	int n = answers < (int)cap ? answers : (int)cap;
	for (int i = 0; i < n; i++)
		memcpy(urls[i], answer[i], LB_URL_MAX);
	pthread_mutex_unlock(&dns_mu);
	return n;
}

// The pool's view: how many endpoints are in `st`, and whether url is listed.
static int count_state(nrpc_cpool *p, nrpc_lb_state st, const char *url, bool *listed)
{
	nrpc_cpool_view v[LB_MAX_ENDPOINTS];
	size_t n = nrpc_cpool_view_get(p, v, LB_MAX_ENDPOINTS);
	int count = 0;
	if (listed != NULL)
		*listed = false;
	for (size_t i = 0; i < n; i++) {
		count += v[i].state == st;
		if (listed != NULL && url != NULL && strcmp(v[i].url, url) == 0 &&
		    v[i].state != LB_EMPTY)
			*listed = true;
	}
	return count;
}

static void set_answer(const char *u0, const char *u1)
{
	pthread_mutex_lock(&dns_mu);
	snprintf(answer[0], LB_URL_MAX, "%s", u0);
	snprintf(answer[1], LB_URL_MAX, "%s", u1);
	answers = 2;
	pthread_mutex_unlock(&dns_mu);
}

static void case_dns_refresh(void)
{
	inst in[3] = {{.notify_fd = -1}, {.notify_fd = -1}, {.notify_fd = -1}};
	const char *names[3] = {"a", "b", "c"};
	for (int i = 0; i < 3; i++)
		EXPECT(inst_start(&in[i], names[i], "ok") == 0, "start %s", names[i]);
	set_answer(in[0].url, in[1].url);
	const char *urls[] = {"dns+tcp://props.test:7700"};
	nrpc_cpool_config cfg = {.urls = urls,
	                         .n = 1,
	                         .probe_interval_ms = 100,
	                         .refresh_ms = 200,
	                         .resolve = fake_resolve};
	nrpc_cpool *p = NULL;
	char err[256] = "";
	EXPECT(nrpc_cpool_open(&p, &cfg, err, sizeof err) == 0, "open: %s", err);
	if (p == NULL)
		goto out;
	int64_t end = (int64_t)nng_clock() + WAIT_MS;
	while (count_state(p, LB_READY, NULL, NULL) < 2 && (int64_t)nng_clock() < end)
		nng_msleep(20);
	EXPECT(count_state(p, LB_READY, NULL, NULL) == 2, "a and b READY");

	set_answer(in[1].url, in[2].url); // a vanishes, c appears
	bool a_listed = true, c_ready = false;
	while ((a_listed || !c_ready) && (int64_t)nng_clock() < end + WAIT_MS) {
		count_state(p, LB_READY, in[0].url, &a_listed);
		nrpc_cpool_view v[LB_MAX_ENDPOINTS];
		size_t n = nrpc_cpool_view_get(p, v, LB_MAX_ENDPOINTS);
		for (size_t i = 0; i < n; i++)
			c_ready =
			    c_ready || (strcmp(v[i].url, in[2].url) == 0 && v[i].state == LB_READY);
		nng_msleep(20);
	}
	EXPECT(!a_listed, "a left the set");
	EXPECT(c_ready, "c joined the set");
	// Ten calls straight through the pool: b and c take five each.
	Rpc__V1__Request rq = RPC__V1__REQUEST__INIT;
	rq.method = "/test.Echo/Who";
	uint8_t req[64];
	size_t len = rpc__v1__request__pack(&rq, req);
	int by_b = 0, by_c = 0;
	for (int k = 0; k < 10; k++) {
		nng_msg *m = NULL, *reply = NULL;
		int rv = 0;
		uint64_t tried = 0;
		if (nng_msg_alloc(&m, len) != 0)
			break;
		memcpy(nng_msg_body(m), req, len);
		nrpc_cpool_outcome o =
		    nrpc_cpool_attempt(p, m, nng_clock() + 5000, true, &tried, &reply, &rv);
		EXPECT(o == CPOOL_REPLY, "attempt %d: outcome %d (%d)", k, (int)o, rv);
		Rpc__V1__Response *r =
		    reply != NULL
		        ? rpc__v1__response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply))
		        : NULL;
		if (r != NULL && r->n_metadata == 1) {
			by_b += strcmp(r->metadata[0]->value, "b") == 0;
			by_c += strcmp(r->metadata[0]->value, "c") == 0;
		}
		if (r != NULL)
			rpc__v1__response__free_unpacked(r, NULL);
		if (reply != NULL)
			nng_msg_free(reply);
	}
	EXPECT(by_b == 5 && by_c == 5, "b answered %d, c %d of 10; want 5 and 5", by_b, by_c);
out:
	nrpc_cpool_close(p);
	for (int i = 0; i < 3; i++)
		inst_kill(&in[i]);
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
    {"spread", case_spread},         {"not serving", case_not_serving},
    {"kill read", case_kill_read},   {"kill create", case_kill_create},
    {"kill keyed", case_kill_keyed}, {"dns refresh", case_dns_refresh},
};

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "--serve") == 0)
		return fake_main(argv + 2);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	int failed = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (argc > 1 && strstr(cases[i].name, argv[1]) == NULL)
			continue;
		int before = failures;
		cases[i].fn();
		bool ok = failures == before;
		printf("%s %s\n", ok ? "ok  " : "FAIL", cases[i].name);
		failed += !ok;
	}
	return failed == 0 ? 0 : 1;
}
