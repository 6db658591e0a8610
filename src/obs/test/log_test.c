// obs log: every line is one valid JSON object with ts/level/msg first, strings
// escaped, invalid UTF-8 replaced, long values cut yet valid, and concurrent
// lines through a pipe never interleave.
#include "obs/log.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---- capture: a pipe drained by a reader thread ---------------------------------------------

typedef struct capture {
	int fds[2];
	pthread_t reader;
	char *buf;
	size_t len, cap;
} capture;

static void *drain(void *arg)
{
	capture *c = arg;
	char tmp[65536];
	ssize_t n;

	while ((n = read(c->fds[0], tmp, sizeof(tmp))) != 0) {
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			break;
		}
		while (c->len + (size_t)n + 1 > c->cap) {
			c->cap = c->cap != 0 ? c->cap * 2 : 65536;
			c->buf = realloc(c->buf, c->cap);
			if (c->buf == NULL) {
				abort();
			}
		}
		memcpy(c->buf + c->len, tmp, (size_t)n);
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
	}
	return NULL;
}

static void capture_start(capture *c, obs_level lvl)
{
	memset(c, 0, sizeof(*c));
	if (pipe(c->fds) != 0) {
		perror("pipe");
		exit(2);
	}
	pthread_create(&c->reader, NULL, drain, c);
	obs_log_init(lvl, c->fds[1]);
}

// Closes the write end, waits for the reader; returns the text (caller frees).
static char *capture_end(capture *c)
{
	obs_log_init(OBS_INFO, 2);
	close(c->fds[1]);
	pthread_join(c->reader, NULL);
	close(c->fds[0]);
	if (c->buf == NULL) {
		c->buf = calloc(1, 1);
	}
	return c->buf;
}

// Parses one line (without its '\n'); prints the error and returns NULL if it is not
// a JSON object with string ts/level/msg.
static json_t *parse_line(const char *line, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(line, len, 0, &err);

	if (j == NULL) {
		fprintf(stderr, "  invalid JSON (%s): %.200s\n", err.text, line);
		return NULL;
	}
	if (!json_is_object(j) || !json_is_string(json_object_get(j, "ts")) ||
	    !json_is_string(json_object_get(j, "level")) ||
	    !json_is_string(json_object_get(j, "msg"))) {
		fprintf(stderr, "  missing ts/level/msg: %.200s\n", line);
		json_decref(j);
		return NULL;
	}
	return j;
}

// Captures exactly one line written by `emit` and parses it.
static json_t *one_line(void (*emit)(void), char **raw)
{
	capture c;
	capture_start(&c, OBS_DEBUG);
	emit();
	char *text = capture_end(&c);
	size_t len = strlen(text);
	char *nl = strchr(text, '\n');
	if (nl == NULL || nl != text + len - 1) {
		fprintf(stderr, "  expected exactly one line, got %zu bytes: %.200s\n", len, text);
		free(text);
		return NULL;
	}
	json_t *j = parse_line(text, len - 1);
	if (raw != NULL) {
		*raw = text;
	} else {
		free(text);
	}
	return j;
}

static int str_is(json_t *j, const char *key, const char *want)
{
	const char *got = json_string_value(json_object_get(j, key));
	if (got == NULL || strcmp(got, want) != 0) {
		fprintf(stderr, "  %s: got '%s' want '%s'\n", key, got != NULL ? got : "(none)",
		        want);
		return 0;
	}
	return 1;
}

// ---- cases ----------------------------------------------------------------------------------

static void emit_basic(void)
{
	OBS_LOG(OBS_INFO, "started", OBS_S("url", "tcp://127.0.0.1:7700"), OBS_I("workers", -8),
	        OBS_D("ratio", 0.25), OBS_B("tls", 1), OBS_S("none", NULL), OBS_D("nan", NAN),
	        OBS_I("big", INT64_MIN));
}

static int case_basic(void)
{
	char *raw = NULL;
	json_t *j = one_line(emit_basic, &raw);
	int ok = j != NULL;

	if (ok) {
		const char *ts = json_string_value(json_object_get(j, "ts"));
		// 2026-11-27T21:11:00.123456Z
		ok = strlen(ts) == 27 && ts[4] == '-' && ts[10] == 'T' && ts[19] == '.' &&
		     ts[26] == 'Z';
		if (!ok) {
			fprintf(stderr, "  bad ts '%s'\n", ts);
		}
		ok = ok && str_is(j, "level", "info") && str_is(j, "msg", "started") &&
		     str_is(j, "url", "tcp://127.0.0.1:7700");
		ok = ok && json_integer_value(json_object_get(j, "workers")) == -8 &&
		     json_real_value(json_object_get(j, "ratio")) == 0.25 &&
		     json_is_true(json_object_get(j, "tls")) &&
		     json_is_null(json_object_get(j, "none")) &&
		     json_is_null(json_object_get(j, "nan")) &&
		     json_integer_value(json_object_get(j, "big")) == INT64_MIN &&
		     json_object_get(j, "truncated") == NULL;
		// Key order: ts, level, msg, then the fields as given.
		ok = ok && strncmp(raw, "{\"ts\":\"", 7) == 0 &&
		     strstr(raw, "\",\"level\":\"info\",\"msg\":\"started\",\"url\":") != NULL;
		if (!ok) {
			fprintf(stderr, "  line: %s", raw);
		}
	}
	json_decref(j);
	free(raw);
	return ok ? 0 : 1;
}

static void emit_escapes(void)
{
	OBS_LOG(OBS_WARN, "say \"hi\"\\\n",
	        OBS_S("ctl", "a\tb\rc\x01\x1f"
	                     "d"),
	        OBS_S("bad", "x\xFFy\xC3(z\xED\xA0\x80"
	                     "end\xE2\x82"),
	        OBS_S("good", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), OBS_S("k\"ey", "v"));
}

static int case_escapes(void)
{
	json_t *j = one_line(emit_escapes, NULL);
	int ok = j != NULL && str_is(j, "level", "warn") && str_is(j, "msg", "say \"hi\"\\\n") &&
	         str_is(j, "ctl",
	                "a\tb\rc\x01\x1f"
	                "d") &&
	         // each invalid byte becomes U+FFFD: FF; C3 (then '(' is fine); ED A0 80
	         // (a surrogate: three bytes); a cut sequence E2 82 at the end.
	         str_is(j, "bad",
	                "x\xEF\xBF\xBDy\xEF\xBF\xBD(z\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
	                "end\xEF\xBF\xBD\xEF\xBF\xBD") &&
	         str_is(j, "good", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") &&
	         str_is(j, "k\"ey", "v");
	json_decref(j);
	return ok ? 0 : 1;
}

// A long value: cut with "…", later fields dropped, "truncated":true, line <= max.
static char long_value[3 * OBS_LOG_LINE_MAX];
static const char *long_key = "big";

static void emit_long(void)
{
	OBS_LOG(OBS_ERROR, "long", OBS_S("before", "kept"), OBS_S(long_key, long_value),
	        OBS_I("after", 1));
}

static void emit_long_msg(void)
{
	OBS_LOG(OBS_ERROR, long_value, OBS_S("after", "dropped"));
}

static int check_long(const char *what, const char *unit, void (*emit)(void), const char *key)
{
	size_t ul = strlen(unit);
	size_t n = 0;
	while (n + ul < sizeof(long_value)) {
		memcpy(long_value + n, unit, ul);
		n += ul;
	}
	long_value[n] = '\0';

	char *raw = NULL;
	json_t *j = one_line(emit, &raw);
	int ok = j != NULL;
	if (ok) {
		const char *v = json_string_value(json_object_get(j, key));
		size_t vl = v != NULL ? strlen(v) : 0;
		ok = strlen(raw) <= OBS_LOG_LINE_MAX && vl > 3 &&
		     strcmp(v + vl - 3, "\xE2\x80\xA6") == 0 &&
		     strncmp(v, long_value, vl - 3) == 0 &&
		     json_is_true(json_object_get(j, "truncated")) &&
		     json_object_get(j, "after") == NULL;
		if (ok && key != long_key) {
			ok = 1;
		} else if (ok) {
			ok = str_is(j, "before", "kept");
		}
		if (!ok) {
			fprintf(stderr, "  %s: line of %zu bytes not cut as expected\n", what,
			        strlen(raw));
		}
	}
	json_decref(j);
	free(raw);
	return ok ? 0 : 1;
}

static int case_truncation(void)
{
	static const char *const units[] = {"a",  "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
	                                    "\"", "\x01",     "ab\xC3\xA9\""};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		char what[32];
		snprintf(what, sizeof(what), "value/unit%zu", i);
		if (check_long(what, units[i], emit_long, long_key) != 0) {
			return 1;
		}
		snprintf(what, sizeof(what), "msg/unit%zu", i);
		if (check_long(what, units[i], emit_long_msg, "msg") != 0) {
			return 1;
		}
	}
	return 0;
}

static void emit_levels(void)
{
	OBS_LOG(OBS_DEBUG, "d");
	OBS_LOG(OBS_INFO, "i");
	OBS_LOG(OBS_WARN, "w");
	OBS_LOG(OBS_ERROR, "e");
}

static int case_level_filter(void)
{
	capture c;
	capture_start(&c, OBS_WARN);
	int enabled = !obs_log_enabled(OBS_DEBUG) && !obs_log_enabled(OBS_INFO) &&
	              obs_log_enabled(OBS_WARN) && obs_log_enabled(OBS_ERROR);
	emit_levels();
	char *text = capture_end(&c);
	int ok = enabled && strstr(text, "\"msg\":\"d\"") == NULL &&
	         strstr(text, "\"msg\":\"i\"") == NULL &&
	         strstr(text, "\"level\":\"warn\",\"msg\":\"w\"") != NULL &&
	         strstr(text, "\"level\":\"error\",\"msg\":\"e\"") != NULL;
	if (!ok) {
		fprintf(stderr, "  filtered output: %s\n", text);
	}
	free(text);
	return ok ? 0 : 1;
}

static int case_level_parse(void)
{
	static const struct {
		const char *in;
		obs_level dflt, want;
	} cases[] = {
	    {"debug", OBS_INFO, OBS_DEBUG},  {"INFO", OBS_ERROR, OBS_INFO},
	    {"warn", OBS_INFO, OBS_WARN},    {"Warning", OBS_INFO, OBS_WARN},
	    {"error", OBS_INFO, OBS_ERROR},  {"", OBS_WARN, OBS_WARN},
	    {"verbose", OBS_INFO, OBS_INFO}, {NULL, OBS_DEBUG, OBS_DEBUG},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (obs_level_parse(cases[i].in, cases[i].dflt) != cases[i].want) {
			fprintf(stderr, "  level_parse('%s') wrong\n",
			        cases[i].in != NULL ? cases[i].in : "(null)");
			return 1;
		}
	}
	return 0;
}

static int case_errno_kept(void)
{
	capture c;
	capture_start(&c, OBS_INFO);
	errno = ENOENT;
	OBS_LOG(OBS_INFO, "x");
	int kept = errno == ENOENT;
	free(capture_end(&c));
	return kept ? 0 : 1;
}

// ---- concurrency: big lines from 8 threads through one pipe ---------------------------------

#define N_THREADS 8
#define N_LINES   1000
#define PAYLOAD   3500 // close to the line cap, so interleaving would show

typedef struct worker {
	pthread_t tid;
	int id;
} worker;

static void *spam(void *arg)
{
	worker *w = arg;
	char payload[PAYLOAD + 1];
	memset(payload, 'a' + w->id, PAYLOAD);
	payload[PAYLOAD] = '\0';
	for (int i = 0; i < N_LINES; i++) {
		OBS_LOG(OBS_INFO, "spam", OBS_I("t", w->id), OBS_I("i", i), OBS_S("p", payload));
	}
	return NULL;
}

static int case_concurrent(void)
{
	worker w[N_THREADS];
	int next[N_THREADS] = {0};
	capture c;
	int ok = 1;
	size_t lines = 0;

	capture_start(&c, OBS_INFO);
	for (int i = 0; i < N_THREADS; i++) {
		w[i].id = i;
		pthread_create(&w[i].tid, NULL, spam, &w[i]);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(w[i].tid, NULL);
	}
	char *text = capture_end(&c);

	for (char *p = text, *nl; ok && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		json_t *j = parse_line(p, (size_t)(nl - p));
		if (j == NULL) {
			ok = 0;
			break;
		}
		json_int_t t = json_integer_value(json_object_get(j, "t"));
		json_int_t i = json_integer_value(json_object_get(j, "i"));
		const char *pl = json_string_value(json_object_get(j, "p"));
		// Each thread's lines arrive whole and in its own order.
		if (t < 0 || t >= N_THREADS || i != next[t] || pl == NULL ||
		    strlen(pl) != PAYLOAD || pl[0] != 'a' + t || pl[PAYLOAD - 1] != 'a' + t) {
			fprintf(stderr, "  bad line t=%lld i=%lld\n", (long long)t, (long long)i);
			ok = 0;
		} else {
			next[t]++;
		}
		json_decref(j);
		lines++;
	}
	if (ok && lines != (size_t)N_THREADS * N_LINES) {
		fprintf(stderr, "  got %zu lines, want %d\n", lines, N_THREADS * N_LINES);
		ok = 0;
	}
	free(text);
	return ok ? 0 : 1;
}

int main(void)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} cases[] = {
	    {"basic", case_basic},
	    {"escapes_and_invalid_utf8", case_escapes},
	    {"truncation", case_truncation},
	    {"level_filter", case_level_filter},
	    {"level_parse", case_level_parse},
	    {"errno_kept", case_errno_kept},
	    {"concurrent_no_interleave", case_concurrent},
	};
	int failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = cases[i].fn();
		printf("%s %s\n", rc == 0 ? "ok  " : "FAIL", cases[i].name);
		failed += rc != 0;
	}
	printf("%d of %zu cases failed\n", failed, sizeof(cases) / sizeof(cases[0]));
	return failed == 0 ? 0 : 1;
}
