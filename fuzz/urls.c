// fuzz_urls: the URL and address checks of the configuration. The first byte
// picks the parser, the rest is the text:
//   0: the Redis URL (src/cache/redis_url.h). On success the parts are within
//      bounds (and, with FUZZ_STRICT=1, the host holds nothing the grammar
//      excludes: no query string, fragment, space or control character); a
//      refusal gives one of the fixed reasons (so never the password).
//   1: nng_url_parse on "http://<text>" and "tcp://<text>": the host:port
//      forms of HTTP_ADDR and of tcp:// URLs. (propertyd's own HTTP_ADDR
//      check is static in src/obs/http.c and reached only by binding a
//      socket, so it is not fuzzed here.)
//   2: URL lists as propctl takes them (pdc_split_urls, pdc_tls_check) and
//      the tls+ test of nrpc.
//   3: nng_url_parse on the text itself: the parser nng applies to RPC_URL
//      and EVENTS_URL before listening or dialing.
#include <nng/nng.h>

#include "cache/redis_url.h"
#include "cli.h"
#include "fuzz.h"
#include "rpc/tls.h"

static int has_any(const char *s, const char *set)
{
	for (; *s != '\0'; s++)
		if (strchr(set, *s) != NULL || (unsigned char)*s < 0x20)
			return 1;
	return 0;
}

// The reasons cache_url_parse gives: fixed texts, so never the password.
static const char *const redis_reasons[] = {
    "bad URL",
    "the Redis URL must start with redis://",
    "bad user in the Redis URL",
    "bad password in the Redis URL",
    "unterminated [IPv6] host in the Redis URL",
    "bad host in the Redis URL",
    "bad port in the Redis URL",
    "bad database number in the Redis URL (0..15)",
};

static void redis_url(const char *s)
{
	cache_url u;
	char err[128];
	memset(err, 'x', sizeof(err));
	if (cache_url_parse(s, &u, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(memchr(err, 0, sizeof(err)) != NULL, "reason not terminated");
		FUZZ_ASSERT(u.password[0] == '\0', "password kept after a refusal");
		int known = 0;
		for (size_t i = 0; i < sizeof(redis_reasons) / sizeof(redis_reasons[0]); i++)
			known |= strcmp(err, redis_reasons[i]) == 0;
		FUZZ_ASSERT(known, "unexpected reason '%s' (it may echo the URL)", err);
		return;
	}
	FUZZ_ASSERT(memchr(u.host, 0, sizeof(u.host)) && u.host[0] != '\0', "host");
	FUZZ_ASSERT(memchr(u.user, 0, sizeof(u.user)) != NULL, "user");
	FUZZ_ASSERT(memchr(u.password, 0, sizeof(u.password)) != NULL, "password");
	FUZZ_ASSERT(u.port >= 1 && u.port <= 65535, "port %d", u.port);
	FUZZ_ASSERT(u.db >= 0 && u.db <= CACHE_URL_DB_MAX, "db %d", u.db);
	// A found bug, fixed: the host was not checked at all ("redis://h?db=1"
	// gave the host "h?db=1").
	FUZZ_ASSERT(!has_any(u.host, "?#/@ "),
	            "host '%s' accepted from '%s' (a query string, path or junk)", u.host, s);
}

static void check_nng_url(const char *s)
{
	// Known finding (in nng 1.5.2, not propertyd): nng_url_parse reads past
	// its copy of the URL when the authority holds an '@' with nothing after
	// it ("tcp://@"). Unless FUZZ_STRICT=1, URLs with an '@' are left out.
	if (!fuzz_strict() && strchr(s, '@') != NULL)
		return;
	nng_url *u = NULL;
	if (nng_url_parse(&u, s) == 0) {
		FUZZ_ASSERT(u->u_scheme != NULL && u->u_rawurl != NULL, "parts missing");
		nng_url_free(u);
	}
}

static void host_port(const char *s)
{
	static const char *const schemes[] = {"http://", "tcp://"};
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(schemes[i]) + strlen(s) + 1;
		char *url = malloc(n);
		FUZZ_ASSERT(url != NULL, "malloc");
		snprintf(url, n, "%s%s", schemes[i], s);
		check_nng_url(url);
		free(url);
	}
}

static void url_list(const char *s)
{
	char buf[512];
	const char *urls[8];
	size_t n = pdc_split_urls(s, buf, sizeof(buf), urls, 8);
	FUZZ_ASSERT(n <= 8, "%zu urls", n);
	for (size_t i = 0; i < n; i++) {
		FUZZ_ASSERT(urls[i] >= buf && urls[i] < buf + sizeof(buf), "url outside buf");
		FUZZ_ASSERT(urls[i][0] != '\0', "empty url");
		(void)nrpc_tls_url(urls[i]);
	}
	nrpc_tls tls = {0};
	char err[96];
	if (pdc_tls_check(urls, n, &tls, PDC_TLS_CA_HINT, PDC_TLS_INSECURE_HINT, err,
	                  sizeof(err)) != 0)
		FUZZ_ASSERT(memchr(err, 0, sizeof(err)) != NULL, "reason not terminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	char *s = fuzz_cstr(data + 1, size - 1);
	switch (data[0] & 3) {
	case 0:
		redis_url(s);
		break;
	case 1:
		host_port(s);
		break;
	case 2:
		url_list(s);
		break;
	default:
		check_nng_url(s);
		break;
	}
	free(s);
	return 0;
}
