// Host names are resolved off the event loops and do not hold up the start
// (slow_redis_name_at_start). propertyd started with a
// REDIS_URL whose host name resolves at once the first time (the start-up
// check, on the main thread) and then takes 3 s (tests/slowdns.c, preloaded)
// answers every call within its 1 s deadline meanwhile (the cache is skipped
// until the loops' resolver has the address), and uses Redis once it has. DATABASE_URL and
// REDIS_URL given by name (localhost) work as by address.
//
// The preload library's path comes from the environment (SLOWDNS_LIB, set by
// CTest).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char *with_host(const char *url, const char *from, const char *to)
{
	const char *at = strstr(url, from);
	if (at == NULL)
		return NULL;
	size_t n = strlen(url) - strlen(from) + strlen(to) + 1;
	char *out = malloc(n);
	if (out != NULL)
		snprintf(out, n, "%.*s%s%s", (int)(at - url), url, to, at + strlen(from));
	return out;
}

// Starts propertyd with REDIS_URL naming slow-dns.test, whose lookups after
// the first `fast` ones take `ms` (tests/slowdns.c, preloaded). 0 when it is
// SERVING; -1 after failing the test.
static int start_slow_redis(h_proc *p, const char *ms, const char *fast)
{
	const char *lib = getenv("SLOWDNS_LIB");
	char *redis = with_host(getenv("REDIS_URL"), "127.0.0.1", "slow-dns.test");
	if (lib == NULL || lib[0] == '\0' || redis == NULL) {
		H_FAIL("SLOWDNS_LIB (the preload library) unset, or REDIS_URL does not name "
		       "127.0.0.1");
		free(redis);
		return -1;
	}
	char env_redis[300], env_lib[300], env_ms[64], env_fast[64];
	snprintf(env_redis, sizeof env_redis, "REDIS_URL=%s", redis);
	snprintf(env_lib, sizeof env_lib, "LD_PRELOAD=%s", lib);
	snprintf(env_ms, sizeof env_ms, "SLOWDNS_MS=%s", ms);
	snprintf(env_fast, sizeof env_fast, "SLOWDNS_FAST=%s", fast);
	free(redis);
	h_opts o = {.env = {env_redis, env_lib, "SLOWDNS_NAME=slow-dns.test", env_ms, env_fast,
	                    "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1"}};
	return h_start(p, &o) == 0 ? 0 : -1;
}

static void slow_redis_name(void *arg)
{
	(void)arg;
	h_proc p;
	h_step("start with a Redis host name that then takes 3 s to resolve");
	int64_t t0 = h_now_ms();
	if (start_slow_redis(&p, "3000", "1") != 0)
		return;
	char owner[96];
	h_owner(owner, sizeof owner, "dns");
	char *auth = h_bearer(H_SECRET, owner, 600);
	h_step("calls while the name resolves");
	int calls = 0, late = 0;
	while (h_now_ms() - t0 < 2500) {
		Property__V1__GetPropertyRequest gr = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
		gr.id = "00000000-0000-4000-8000-000000000005";
		h_md md = {.auth = auth, .timeout_ms = 1000};
		unsigned code = h_call(p.cli, M_GET, &gr.base, &property__v1__property__descriptor,
		                       &md, NULL, NULL);
		H_CHECK(code == 5, "get during the slow lookup: code %u", code);
		calls++;
		late += code == 4;
	}
	H_CHECK(calls >= 5 && late == 0, "%d calls, %d past their deadline", calls, late);
	h_step("the cache is used once the name is known");
	bool up = false;
	Property__V1__Property *made = h_create(p.cli, auth, owner);
	H_CHECK(made != NULL, "create");
	for (int i = 0; i < 100 && !up && made != NULL; i++) {
		unsigned code = 0;
		Property__V1__Property *got = h_get(p.cli, auth, made->id, &code);
		H_CHECK(code == 0, "get: code %u", code);
		if (got != NULL)
			protobuf_c_message_free_unpacked(&got->base, NULL);
		up = h_metric_now(&p, "propertyd_cache_up") == 1 &&
		     h_metric_now(
		         &p, "propertyd_cache_requests_total{family=\"property\",result=\"hit\"}") >
		         0;
		if (!up)
			h_sleep_ms(100);
	}
	if (made != NULL)
		protobuf_c_message_free_unpacked(&made->base, NULL);
	H_CHECK(up, "the cache never came up after the name was resolved");
	free(auth);
	H_CHECK(h_stop(&p) == 0, "propertyd exit status");
	h_cleanup(&p);
}

// A Redis host name whose every lookup stalls (8 s) does not hold up the
// start: propertyd is SERVING (cache down, PostgreSQL answering) while the
// first lookup still hangs on the cache's background thread.
static void slow_redis_name_at_start(void *arg)
{
	(void)arg;
	h_proc p;
	h_step("start with a Redis host name whose lookups take 8 s");
	int64_t t0 = h_now_ms();
	if (start_slow_redis(&p, "8000", "0") != 0)
		return;
	int64_t took = h_now_ms() - t0;
	H_CHECK(took < 8000, "SERVING after %lld ms: the start waited for the lookup",
	        (long long)took);
	char owner[96];
	h_owner(owner, sizeof owner, "dns-start");
	char *auth = h_bearer(H_SECRET, owner, 600);
	h_step("a create and a get while the lookup hangs");
	Property__V1__Property *made = h_create(p.cli, auth, owner);
	H_CHECK(made != NULL, "create while the Redis name does not resolve");
	if (made != NULL) {
		unsigned code = 0;
		Property__V1__Property *got = h_get(p.cli, auth, made->id, &code);
		H_CHECK(code == 0 && got != NULL, "get: code %u", code);
		if (got != NULL)
			protobuf_c_message_free_unpacked(&got->base, NULL);
		protobuf_c_message_free_unpacked(&made->base, NULL);
	}
	H_CHECK(h_now_ms() - t0 < 8000 || h_metric_now(&p, "propertyd_cache_up") == 0,
	        "the cache was up before its host name could resolve");
	free(auth);
	H_CHECK(h_stop(&p) == 0, "propertyd exit status");
	h_cleanup(&p);
}

static void names_work(void *arg)
{
	(void)arg;
	char *db = with_host(getenv("DATABASE_URL"), "127.0.0.1", "localhost");
	char *redis = with_host(getenv("REDIS_URL"), "127.0.0.1", "localhost");
	if (db == NULL || redis == NULL) {
		H_FAIL("DATABASE_URL and REDIS_URL must name 127.0.0.1");
		free(db);
		free(redis);
		return;
	}
	char env_db[300], env_redis[300];
	snprintf(env_db, sizeof env_db, "DATABASE_URL=%s", db);
	snprintf(env_redis, sizeof env_redis, "REDIS_URL=%s", redis);
	h_proc p;
	h_opts o = {.env = {env_db, env_redis}};
	if (h_start(&p, &o) == 0) {
		char owner[96];
		h_owner(owner, sizeof owner, "dns-names");
		char *auth = h_bearer(H_SECRET, owner, 600);
		Property__V1__Property *made = h_create(p.cli, auth, owner);
		H_CHECK(made != NULL, "create with host names in both URLs");
		if (made != NULL)
			protobuf_c_message_free_unpacked(&made->base, NULL);
		free(auth);
		H_CHECK(h_stop(&p) == 0, "propertyd exit status");
		h_cleanup(&p);
	}
	free(db);
	free(redis);
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"slow_redis_name", slow_redis_name},
	    {"slow_redis_name_at_start", slow_redis_name_at_start},
	    {"names_work", names_work},
	};
	return h_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
