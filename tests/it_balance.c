// it_balance: client-side balancing of the C client (nrpc_client with several
// URLs, docs/balancing.md) over real propertyd instances on one database.
//
//   spread       three instances (one named by a dns+tcp://localhost URL):
//                reads are spread over all three, by each one's /metrics
//   kill_reads   SIGKILL of one instance while four threads read in a loop:
//                no read fails
//   not_serving  an instance whose DATABASE_URL becomes unreachable (through
//                a TCP relay of the test's own, cut once it is up: propertyd
//                does not open its RPC port before its database answers) says
//                NOT_SERVING: it gets the client's health checks and no call
//   create_kill  a CreateProperty without idempotency-key in flight on an
//                instance killed with SIGKILL (its database frozen through the
//                relay, so the create is seen waiting there in its
//                propertyd_requests_in_flight) is answered 14 within its
//                deadline and not sent to another instance
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define READERS        4
#define SPREAD_READS   60
#define KILL_AFTER     200   // reads done before the SIGKILL
#define READS_AFTER    400   // and after it, before the loop stops
#define READ_TIMEOUT   5000  // per read
#define CREATE_TIMEOUT 20000 // the create caught by the kill: far above the case's length
#define WAIT_MS        20000 // bound on waiting for a state

typedef struct ctx {
	h_proc in[3];
	char owner[96];
	char *auth;
	char id[64]; // a property every read asks for
} ctx;

// ---- metrics --------------------------------------------------------------------------------

// Requests of `method` an instance answered, every status code summed.
static double answered(const h_proc *p, const char *method)
{
	int st = 0;
	char *body = NULL;
	double sum = 0;
	if (h_http_get(p->http_addr, "/metrics", &st, &body) != 0 || st != 200) {
		H_FAIL("GET /metrics on %s failed (status %d)", p->http_addr, st);
		free(body);
		return -1;
	}
	for (unsigned code = 0; code <= 16; code++) {
		char series[200];
		double v = 0;
		snprintf(series, sizeof series,
		         "propertyd_requests_total{method=\"%s\",code=\"%u\"}", method, code);
		if (h_metric(body, series, &v))
			sum += v;
	}
	free(body);
	return sum;
}

// Waits until the balancing client has had two health checks answered by
// each instance: after the first it is READY there (the second is sent only
// once the first came back). Nothing else checks their health meanwhile.
static bool wait_checked(h_proc *const *ps, size_t n, const double *health0)
{
	for (int64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end; h_sleep_ms(50)) {
		size_t done = 0;
		for (size_t i = 0; i < n; i++)
			done += answered(ps[i], M_HEALTH) >= health0[i] + 2;
		if (done == n)
			return true;
	}
	return false;
}

static nrpc_client *open_balanced(const char *const *urls, size_t n)
{
	nrpc_client *c = NULL;
	char err[256] = "";
	if (nrpc_client_open(&c, urls, n, err, sizeof err) != 0)
		H_FAIL("open a client for %zu URLs: %s", n, err);
	return c;
}

// Opens a balancing client over ps[n] and waits until every one is READY in it.
static nrpc_client *open_ready(h_proc *const *ps, const char *const *urls, size_t n)
{
	double health0[4];
	for (size_t i = 0; i < n; i++)
		health0[i] = answered(ps[i], M_HEALTH);
	nrpc_client *c = open_balanced(urls, n);
	if (c != NULL && !wait_checked(ps, n, health0)) {
		H_FAIL("the client did not check every instance within %d ms", WAIT_MS);
		nrpc_client_close(c);
		c = NULL;
	}
	return c;
}

static bool read_ok(nrpc_client *c, ctx *x, nrpc_result *keep)
{
	Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	g.id = x->id;
	h_md md = {.auth = x->auth, .timeout_ms = READ_TIMEOUT};
	void *out = NULL;
	nrpc_result r;
	unsigned code =
	    h_call(c, M_GET, &g.base, &property__v1__property__descriptor, &md, &out, &r);
	if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
	if (keep != NULL && code != 0)
		*keep = r;
	else
		nrpc_result_free(&r);
	return code == 0;
}

// ---- spread ---------------------------------------------------------------------------------

static void case_spread(void *arg)
{
	ctx *x = arg;
	// The first instance by name: localhost resolves to its address here.
	char dns_url[H_URL_MAX + 16];
	const char *port = strrchr(x->in[0].rpc_url, ':');
	snprintf(dns_url, sizeof dns_url, "dns+tcp://localhost%s", port != NULL ? port : ":0");
	const char *urls[3] = {dns_url, x->in[1].rpc_url, x->in[2].rpc_url};
	h_proc *ps[3] = {&x->in[0], &x->in[1], &x->in[2]};
	h_step("open a client for three instances");
	nrpc_client *c = open_ready(ps, urls, 3);
	if (c == NULL)
		return;
	double before[3];
	for (int i = 0; i < 3; i++)
		before[i] = answered(ps[i], M_GET);
	h_step("reads");
	int failed = 0;
	for (int k = 0; k < SPREAD_READS; k++)
		failed += !read_ok(c, x, NULL);
	H_CHECK(failed == 0, "%d of %d reads failed", failed, SPREAD_READS);
	double sum = 0;
	for (int i = 0; i < 3; i++) {
		double got = answered(ps[i], M_GET) - before[i];
		sum += got;
		// Round robin over three READY instances gives each a third; a
		// health check that timed out under load may cost one a few.
		H_CHECK(got >= SPREAD_READS / 4, "instance %d answered %.0f of %d reads", i, got,
		        SPREAD_READS);
	}
	H_CHECK(sum == SPREAD_READS, "the instances answered %.0f reads, the client made %d", sum,
	        SPREAD_READS);
	nrpc_client_close(c);
}

// ---- kill during reads ----------------------------------------------------------------------

typedef struct readers {
	ctx *x;
	nrpc_client *c;
	atomic_int ok, failed;
	atomic_bool stop;
	pthread_mutex_t mu;
	char first_error[256];
} readers;

static void *reader_main(void *arg)
{
	readers *r = arg;
	while (!atomic_load(&r->stop)) {
		nrpc_result res;
		memset(&res, 0, sizeof res);
		if (read_ok(r->c, r->x, &res)) {
			atomic_fetch_add(&r->ok, 1);
			continue;
		}
		if (atomic_fetch_add(&r->failed, 1) == 0) {
			pthread_mutex_lock(&r->mu);
			snprintf(r->first_error, sizeof r->first_error, "code %u: %s", res.code,
			         res.message != NULL ? res.message : "");
			pthread_mutex_unlock(&r->mu);
		}
		nrpc_result_free(&res);
	}
	return NULL;
}

static bool wait_reads(readers *r, int n)
{
	for (int64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end; h_sleep_ms(10))
		if (atomic_load(&r->ok) + atomic_load(&r->failed) >= n)
			return true;
	return false;
}

static void case_kill_reads(void *arg)
{
	ctx *x = arg;
	const char *urls[3] = {x->in[0].rpc_url, x->in[1].rpc_url, x->in[2].rpc_url};
	h_proc *ps[3] = {&x->in[0], &x->in[1], &x->in[2]};
	h_step("open a client for three instances");
	readers r = {.x = x};
	pthread_mutex_init(&r.mu, NULL);
	if ((r.c = open_ready(ps, urls, 3)) == NULL)
		return;
	pthread_t th[READERS];
	int started = 0;
	for (; started < READERS; started++)
		if (pthread_create(&th[started], NULL, reader_main, &r) != 0)
			break;
	h_step("reads before the kill");
	H_CHECK(wait_reads(&r, KILL_AFTER), "reads did not start");
	h_step("SIGKILL instance 2");
	h_kill9(&x->in[2]);
	int at_kill = atomic_load(&r.ok) + atomic_load(&r.failed);
	h_step("reads after the kill");
	H_CHECK(wait_reads(&r, at_kill + READS_AFTER), "reads stopped after the kill");
	atomic_store(&r.stop, true);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	H_CHECK(atomic_load(&r.failed) == 0, "%d of %d reads failed; first: %s",
	        atomic_load(&r.failed), atomic_load(&r.ok) + atomic_load(&r.failed), r.first_error);
	fprintf(stderr, "  %d reads, %d after the kill, none failed\n", atomic_load(&r.ok),
	        atomic_load(&r.ok) - at_kill);
	nrpc_client_close(r.c);
	pthread_mutex_destroy(&r.mu);
	h_cleanup(&x->in[2]);
	// The next cases want three instances again.
	memset(&x->in[2], 0, sizeof x->in[2]);
	h_step("start a new instance 2");
	h_start(&x->in[2], NULL);
}

// ---- instances behind a database relay -----------------------------------------------------

// A TCP relay to PostgreSQL of the test's own, for one instance's
// DATABASE_URL. FORWARD passes bytes both ways; FREEZE stops moving them
// (the instance's queries hang); CUT closes every connection and refuses new
// ones (the database is unreachable).
#define RELAY_MAX 64
enum relay_mode { FORWARD, FREEZE, CUT };

typedef struct relay {
	int lfd, port;
	char host[64];
	int target_port;
	int a[RELAY_MAX], b[RELAY_MAX]; // instance side, PostgreSQL side; -1: free
	atomic_int mode;
	atomic_bool stop;
	pthread_t th;
} relay;

static int dial_target(const relay *r)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)r->target_port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || inet_pton(AF_INET, r->host, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void pair_close(relay *r, int i)
{
	close(r->a[i]);
	close(r->b[i]);
	r->a[i] = r->b[i] = -1;
}

static void relay_accept(relay *r, int mode)
{
	int c = accept(r->lfd, NULL, NULL);
	int i = 0;
	while (i < RELAY_MAX && r->a[i] >= 0)
		i++;
	int t = c >= 0 && mode != CUT && i < RELAY_MAX ? dial_target(r) : -1;
	if (t < 0) {
		if (c >= 0)
			close(c);
		return;
	}
	r->a[i] = c;
	r->b[i] = t;
}

// Moves what is readable on pair i, side 0 (instance) or 1 (PostgreSQL).
static void relay_move(relay *r, int i, int side, char *buf, size_t cap)
{
	int from = side == 0 ? r->a[i] : r->b[i];
	int to = side == 0 ? r->b[i] : r->a[i];
	ssize_t got = read(from, buf, cap);
	bool ok = got > 0;
	for (ssize_t off = 0; ok && off < got;) {
		ssize_t w = write(to, buf + off, (size_t)(got - off));
		ok = w > 0;
		off += w > 0 ? w : 0;
	}
	if (!ok)
		pair_close(r, i);
}

static void *relay_main(void *arg)
{
	relay *r = arg;
	static char buf[16384]; // one relay at a time
	struct pollfd pf[1 + 2 * RELAY_MAX];
	while (!atomic_load(&r->stop)) {
		int mode = atomic_load(&r->mode);
		pf[0] = (struct pollfd){.fd = mode == FREEZE ? -1 : r->lfd, .events = POLLIN};
		for (int i = 0; i < RELAY_MAX; i++) {
			if (r->a[i] >= 0 && mode == CUT)
				pair_close(r, i);
			bool on = mode == FORWARD && r->a[i] >= 0;
			pf[1 + 2 * i] = (struct pollfd){.fd = on ? r->a[i] : -1, .events = POLLIN};
			pf[2 + 2 * i] = (struct pollfd){.fd = on ? r->b[i] : -1, .events = POLLIN};
		}
		if (poll(pf, 1 + 2 * RELAY_MAX, 50) <= 0)
			continue;
		if (pf[0].revents & POLLIN)
			relay_accept(r, mode);
		for (int i = 0; i < RELAY_MAX; i++)
			for (int side = 0; side < 2; side++)
				if (r->a[i] >= 0 &&
				    (pf[1 + 2 * i + side].revents & (POLLIN | POLLHUP | POLLERR)))
					relay_move(r, i, side, buf, sizeof buf);
	}
	for (int i = 0; i < RELAY_MAX; i++)
		if (r->a[i] >= 0)
			pair_close(r, i);
	return NULL;
}

// The relay's target from "postgresql://[user@]IPV4[:PORT]/...".
static bool relay_target(relay *r, const char *url)
{
	const char *p = strstr(url, "://");
	if (p == NULL)
		return false;
	p += 3;
	const char *end = p + strcspn(p, "/?");
	const char *at = memchr(p, '@', (size_t)(end - p));
	if (at != NULL)
		p = at + 1;
	const char *colon = memchr(p, ':', (size_t)(end - p));
	size_t hl = (size_t)((colon != NULL ? colon : end) - p);
	if (hl == 0 || hl >= sizeof r->host)
		return false;
	memcpy(r->host, p, hl);
	r->host[hl] = '\0';
	if (strcmp(r->host, "localhost") == 0)
		snprintf(r->host, sizeof r->host, "127.0.0.1");
	r->target_port = colon != NULL ? atoi(colon + 1) : 5432;
	struct in_addr ia;
	return r->target_port > 0 && inet_pton(AF_INET, r->host, &ia) == 1;
}

static bool relay_start(relay *r, const char *url)
{
	memset(r, 0, sizeof *r);
	for (int i = 0; i < RELAY_MAX; i++)
		r->a[i] = r->b[i] = -1;
	if (url == NULL || !relay_target(r, url)) {
		H_FAIL("DATABASE_URL is not postgresql://[user@]IPV4[:PORT]/...: cannot relay it");
		return false;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	r->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(r->lfd, 64) != 0 || getsockname(r->lfd, (struct sockaddr *)&sa, &len) != 0 ||
	    pthread_create(&r->th, NULL, relay_main, r) != 0) {
		H_FAIL("relay: %s", strerror(errno));
		if (r->lfd >= 0)
			close(r->lfd);
		return false;
	}
	r->port = ntohs(sa.sin_port);
	return true;
}

static void relay_stop(relay *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->th, NULL);
	close(r->lfd);
}

// Starts an instance whose DATABASE_URL goes through r: the same database
// (libpq lets query parameters override the URL's host and port).
static int start_relayed(h_proc *p, const relay *r)
{
	const char *db = getenv("DATABASE_URL");
	char env[1024];
	snprintf(env, sizeof env, "DATABASE_URL=%s%chost=127.0.0.1&port=%d", db,
	         strchr(db, '?') != NULL ? '&' : '?', r->port);
	h_opts o = {.env = {env}};
	memset(p, 0, sizeof *p);
	return h_start(p, &o);
}

// Waits for an instance's own health status; returns the last one seen.
static int wait_health(h_proc *p, int want)
{
	int st = -1;
	unsigned code = 0;
	for (int64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end; h_sleep_ms(100))
		if ((st = h_health(p->cli, "", &code)) == want)
			break;
	return st;
}

static void case_not_serving(void *arg)
{
	ctx *x = arg;
	relay r;
	h_proc sick;
	memset(&sick, 0, sizeof sick);
	h_step("start an instance through a relay");
	if (!relay_start(&r, getenv("DATABASE_URL")))
		return;
	if (start_relayed(&sick, &r) != 0)
		goto out;
	h_step("cut its database; wait for NOT_SERVING");
	atomic_store(&r.mode, CUT);
	int st = wait_health(&sick, 2);
	H_CHECK(st == 2, "health of the instance without a database: %d, want 2 NOT_SERVING", st);
	if (st != 2)
		goto out;

	// From here on only the balancing client checks the sick one's health.
	const char *urls[3] = {x->in[0].rpc_url, sick.rpc_url, x->in[1].rpc_url};
	h_proc *ps[3] = {&x->in[0], &sick, &x->in[1]};
	double health0 = answered(&sick, M_HEALTH), get0 = answered(&sick, M_GET);
	h_step("open a client for two instances and the sick one");
	nrpc_client *c = open_balanced(urls, 3);
	// Two checks answered by each: its verdict on the sick one is in.
	double h0[3] = {answered(ps[0], M_HEALTH), health0, answered(ps[2], M_HEALTH)};
	H_CHECK(c != NULL && wait_checked(ps, 3, h0), "the client did not check every instance");
	h_step("reads");
	int failed = 0;
	for (int k = 0; c != NULL && k < SPREAD_READS; k++)
		failed += !read_ok(c, x, NULL);
	H_CHECK(failed == 0, "%d of %d reads failed", failed, SPREAD_READS);
	double gets = answered(&sick, M_GET) - get0, checks = answered(&sick, M_HEALTH) - health0;
	H_CHECK(gets == 0, "the NOT_SERVING instance answered %.0f reads", gets);
	H_CHECK(checks >= 2, "the NOT_SERVING instance answered %.0f health checks", checks);
	fprintf(stderr, "  NOT_SERVING instance: %.0f health checks, %.0f reads\n", checks, gets);
	nrpc_client_close(c);
out:
	if (sick.pid > 0)
		h_kill9(&sick);
	h_cleanup(&sick);
	relay_stop(&r);
}

// ---- a create in flight on an instance that dies ------------------------------------------

typedef struct creator {
	ctx *x;
	nrpc_client *c;
	atomic_int started, ok; // creates begun, creates answered OK
	atomic_bool blocked;    // a create did not come back: it is in flight somewhere
	atomic_bool done;
	unsigned last_code; // the last create's outcome
	bool last_transport;
	char last_msg[200];
} creator;

#define CREATES_MAX 6 // round robin over three: the victim's turn comes within three

static void *creator_main(void *arg)
{
	creator *k = arg;
	for (int i = 0; i < CREATES_MAX; i++) {
		Property__V1__CreatePropertyRequest cr;
		Property__V1__Location loc;
		h_valid_create(&cr, &loc, "");
		h_md md = {.auth = k->x->auth, .timeout_ms = CREATE_TIMEOUT};
		void *out = NULL;
		nrpc_result r;
		atomic_fetch_add(&k->started, 1);
		unsigned code = h_call(k->c, M_CREATE, &cr.base,
		                       &property__v1__property__descriptor, &md, &out, &r);
		if (out != NULL)
			protobuf_c_message_free_unpacked(out, NULL);
		k->last_code = code;
		k->last_transport = r.transport_error;
		snprintf(k->last_msg, sizeof k->last_msg, "%s", r.message != NULL ? r.message : "");
		nrpc_result_free(&r);
		if (code != 0 || atomic_load(&k->blocked))
			break;
		atomic_fetch_add(&k->ok, 1);
	}
	atomic_store(&k->done, true);
	return NULL;
}

// True once the victim holds a request unanswered for two scrapes in a row:
// its database is frozen, and only the creator's creates wait on it (health
// checks are answered without it).
static bool victim_holds_create(h_proc *v, creator *k)
{
	int seen = 0;
	for (int64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end && !atomic_load(&k->done);
	     h_sleep_ms(200)) {
		seen = h_metric_now(v, "propertyd_requests_in_flight") >= 1 ? seen + 1 : 0;
		if (seen >= 2)
			return true;
	}
	return false;
}

// One try: freeze the victim's database so that a create it takes hangs, let
// the creator call round robin until one is held there, SIGKILL the victim.
// Returns 1 when that happened (k holds the outcome), 0 when the victim was
// never given a create (its health turned before), -1 on a failure.
static int try_create_kill(ctx *x, h_proc *v, relay *r, creator *k, double *others)
{
	const char *urls[3] = {x->in[0].rpc_url, x->in[1].rpc_url, v->rpc_url};
	h_proc *ps[3] = {&x->in[0], &x->in[1], v};
	k->c = open_ready(ps, urls, 3);
	if (k->c == NULL)
		return -1;
	double before = answered(&x->in[0], M_CREATE) + answered(&x->in[1], M_CREATE);
	atomic_store(&r->mode, FREEZE);
	pthread_t th;
	if (pthread_create(&th, NULL, creator_main, k) != 0) {
		nrpc_client_close(k->c);
		return -1;
	}
	int rc = 0;
	if (victim_holds_create(v, k)) {
		atomic_store(&k->blocked, true);
		h_step("SIGKILL the instance holding the create");
		h_kill9(v);
		rc = 1;
	}
	pthread_join(th, NULL);
	*others = answered(&x->in[0], M_CREATE) + answered(&x->in[1], M_CREATE) - before;
	nrpc_client_close(k->c);
	atomic_store(&r->mode, FORWARD);
	return rc;
}

static void case_create_kill(void *arg)
{
	ctx *x = arg;
	relay r;
	h_proc v;
	memset(&v, 0, sizeof v);
	if (!relay_start(&r, getenv("DATABASE_URL")))
		return;
	h_step("start the victim through a relay");
	if (start_relayed(&v, &r) != 0)
		goto out;
	for (int attempt = 0; attempt < 3; attempt++) {
		creator k = {.x = x};
		double others = 0;
		h_step("freeze the victim's database and create");
		int rc = try_create_kill(x, &v, &r, &k, &others);
		if (rc < 0)
			break;
		if (rc == 0) {
			// Its health went NOT_SERVING before the round robin came to
			// it: let it recover and try again.
			fprintf(stderr, "  the victim got no create (try %d); again\n",
			        attempt + 1);
			H_CHECK(wait_health(&v, 1) == 1, "the victim did not recover");
			continue;
		}
		H_CHECK(k.last_code == 14 && k.last_transport,
		        "the create in flight on the killed instance: code %u (%s), want 14 "
		        "UNAVAILABLE before its %d ms deadline",
		        k.last_code, k.last_msg, CREATE_TIMEOUT);
		H_CHECK(others == atomic_load(&k.ok),
		        "the other instances answered %.0f creates, the client got %d: the create "
		        "was sent again",
		        others, atomic_load(&k.ok));
		fprintf(stderr, "  create on the killed instance: %u (%s)\n", k.last_code,
		        k.last_msg);
		goto out;
	}
	H_FAIL("could not catch a create in flight on the victim in three tries");
out:
	if (v.pid > 0)
		h_kill9(&v);
	h_cleanup(&v);
	relay_stop(&r);
}

// ---- main -----------------------------------------------------------------------------------

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"spread", case_spread},
	    {"kill_reads", case_kill_reads},
	    {"not_serving", case_not_serving},
	    {"create_kill", case_create_kill},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	static ctx x;
	h_owner(x.owner, sizeof x.owner, "bal");
	x.auth = h_bearer(H_SECRET, x.owner, 600);
	int started = 0;
	for (; started < 3; started++)
		if (h_start(&x.in[started], NULL) != 0)
			break;
	if (started == 3) {
		Property__V1__Property *p = h_create(x.in[0].cli, x.auth, x.owner);
		if (p != NULL) {
			snprintf(x.id, sizeof x.id, "%s", p->id);
			protobuf_c_message_free_unpacked(&p->base, NULL);
			h_run_cases(cases, sizeof cases / sizeof cases[0], &x, argc, argv);
		}
	}
	for (int i = 0; i < 3; i++) {
		if (x.in[i].pid > 0) {
			int st = h_stop(&x.in[i]);
			H_CHECK(st == 0, "instance %d: exit status after SIGTERM %d", i, st);
		}
		h_cleanup(&x.in[i]);
	}
	free(x.auth);
	return h_status();
}
