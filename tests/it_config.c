// it_config: start-up configuration (docs/contract.md section 1).
//
// Missing DATABASE_URL or secret, or a secret under 32 bytes: exit status 2
// at once with exactly one line on stderr naming the setting. A secret file's trailing newline is
// not part of the secret. A setting propertyd no longer reads is ignored like any other environment
// variable, whatever its value.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

// "At once": the process must not try to connect anywhere first. This only
// bounds the wait; it is not a timing assertion.
#define EXIT_WAIT_MS 10000

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void expect_one_line_exit(const h_opts *o, const char *const *names, size_t n_names)
{
	h_proc p;
	if (h_start(&p, o) != 0)
		return;
	int rc = h_wait_exit(&p, EXIT_WAIT_MS);
	if (rc == -2) {
		H_FAIL("propertyd still running %d ms after start with a missing setting",
		       EXIT_WAIT_MS);
		h_kill9(&p);
		h_cleanup(&p);
		return;
	}
	H_CHECK(rc == 2, "exit status %d, want 2", rc);
	char *log = h_read_log(&p);
	if (log == NULL) {
		H_FAIL("no stderr captured");
	} else {
		H_CHECK(count_lines(log) == 1 && log[0] != '\n', "stderr has %d lines: <<%s>>",
		        count_lines(log), log);
		bool named = false;
		for (size_t i = 0; i < n_names; i++)
			named = named || strstr(log, names[i]) != NULL;
		H_CHECK(named, "stderr does not name the missing setting (%s): <<%s>>", names[0],
		        log);
		free(log);
	}
	h_stop(&p); // already reaped: scans the log only
	h_cleanup(&p);
}

static void case_no_database_url(void *ctx)
{
	(void)ctx;
	h_opts o = {.env = {"DATABASE_URL"}, .no_wait = true};
	static const char *const names[] = {"DATABASE_URL", "--database-url"};
	expect_one_line_exit(&o, names, 2);
}

static void case_no_secret(void *ctx)
{
	(void)ctx;
	h_opts o = {.no_secret = true, .no_wait = true};
	static const char *const names[] = {"AUTH_SECRET", "--auth-secret-file"};
	expect_one_line_exit(&o, names, 2);
}

// Asserts GetProperty of a random UUID with `token` answers `want` (5: the token
// was accepted, 16: refused).
static void get_with(h_proc *p, const char *secret, unsigned want, const char *what)
{
	char *auth = h_bearer(secret, "it-config-owner", 300);
	unsigned code;
	Property__V1__Property *prop =
	    h_get(p->cli, auth, "3f1c2b7a-9d4e-4c8b-a1f2-0e9d8c7b6a51", &code);
	H_CHECK(code == want, "%s: GetProperty code %u, want %u", what, code, want);
	if (prop != NULL)
		protobuf_c_message_free_unpacked(&prop->base, NULL);
	free(auth);
}

static void case_secret_file_newline(void *ctx)
{
	(void)ctx;
	static const char secret[] = "file-secret-0b8e41d2-93c5a7f1e6d4";
	char path[] = "/tmp/it-secret-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		H_FAIL("mkstemp");
		return;
	}
	FILE *f = fdopen(fd, "w");
	fprintf(f, "%s\n", secret);
	fclose(f);
	h_opts o = {.args = {"--auth-secret-file", path}, .no_secret = true};
	h_proc p;
	if (h_start(&p, &o) == 0) {
		get_with(&p, secret, 5, "secret without the newline");
		get_with(&p, "file-secret-0b8e41d2-93c5a7f1e6d4\n", 16, "secret with the newline");
		get_with(&p, H_SECRET, 16, "another secret");
		int rc = h_stop(&p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&p);
	unlink(path);
}

static void case_database_url_flag(void *arg)
{
	(void)arg;
	// The flag alone (no DATABASE_URL in the environment) is enough.
	static char flag_value[1024];
	snprintf(flag_value, sizeof(flag_value), "%s", getenv("DATABASE_URL"));
	h_opts o = {.args = {"--database-url", flag_value}, .env = {"DATABASE_URL"}};
	h_proc p;
	if (h_start(&p, &o) == 0) {
		int rc = h_stop(&p);
		H_CHECK(rc == 0, "exit status %d", rc);
	}
	h_cleanup(&p);
}

// The secret must be at least 32 bytes, from the environment or a file; 32
// exactly is enough. --insecure-no-auth needs none (case_insecure_* elsewhere).
#define SECRET_31 "0123456789abcdef0123456789abcde"
#define SECRET_32 SECRET_31 "f"
static void case_secret_too_short(void *arg)
{
	(void)arg;
	static const char *const names[] = {"AUTH_SECRET"};
	h_opts o = {.env = {"AUTH_SECRET=" SECRET_31}, .no_secret = true, .no_wait = true};
	expect_one_line_exit(&o, names, 1);
	h_opts o12 = {.env = {"AUTH_SECRET=twelve-bytes"}, .no_secret = true, .no_wait = true};
	expect_one_line_exit(&o12, names, 1);

	char path[] = "/tmp/it-secret-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	H_CHECK(f != NULL, "cannot create a secret file");
	if (f == NULL)
		return;
	fprintf(f, "%s\n", SECRET_31); // the newline does not count
	fclose(f);
	static const char *const file_names[] = {"--auth-secret-file"};
	h_opts of = {.args = {"--auth-secret-file", path}, .no_secret = true, .no_wait = true};
	expect_one_line_exit(&of, file_names, 1);
	unlink(path);
}

static void case_secret_32_bytes(void *arg)
{
	(void)arg;
	h_opts o = {.env = {"AUTH_SECRET=" SECRET_32}, .no_secret = true};
	h_proc p;
	if (h_start(&p, &o) == 0) {
		get_with(&p, SECRET_32, 5, "a 32-byte secret");
		int rc = h_stop(&p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&p);
}

// DB_POOL_WAIT_MS was range-checked at start (a bad value exited 2) until apg
// replaced the connection pool; now it is not read at all.
static void case_removed_setting_ignored(void *arg)
{
	(void)arg;
	h_opts o = {.env = {"DB_POOL_WAIT_MS=not-a-number"}};
	h_proc p;
	if (h_start(&p, &o) == 0) {
		get_with(&p, H_SECRET, 5, "with DB_POOL_WAIT_MS=not-a-number");
		int rc = h_stop(&p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&p);
}

// Runs argv (searching PATH) with stdout/stderr to ours; returns its exit status.
static int run(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// DATABASE_URL with another database name (URI or key=value form).
static void url_with_db(const char *base, const char *db, char *out, size_t cap)
{
	const char *scheme = strstr(base, "://");
	if (strncmp(base, "postgres", 8) != 0 || scheme == NULL) {
		snprintf(out, cap, "%s dbname=%s", base, db); // libpq: the last keyword wins
		return;
	}
	const char *path = strchr(scheme + 3, '/');
	const char *query = strchr(scheme + 3, '?');
	if (path == NULL || (query != NULL && path > query))
		path = query != NULL ? query : base + strlen(base);
	snprintf(out, cap, "%.*s/%s%s", (int)(path - base), base, db, query ? query : "");
}

#define FRESH_INSTANCES 3

// Several instances starting together on an empty database: the migrations run
// once under the advisory lock and every instance becomes SERVING.
static void case_concurrent_start_fresh_db(void *arg)
{
	(void)arg;
	const char *base = getenv("DATABASE_URL");
	char db[64], url[1200], sql[160];
	snprintf(db, sizeof(db), "it_fresh_%d", (int)getpid());
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
	char *create[] = {"psql",       "-X", "-q", "-v", "ON_ERROR_STOP=1",
	                  (char *)base, "-c", sql,  NULL};
	if (run(create) != 0) {
		H_FAIL("psql could not create database %s (psql is in the postgresql packages)",
		       db);
		return;
	}
	url_with_db(base, db, url, sizeof(url));
	char env[1300];
	snprintf(env, sizeof(env), "DATABASE_URL=%s", url);
	h_opts o = {.env = {env}, .no_wait = true};
	h_proc p[FRESH_INSTANCES];
	int started = 0;
	for (int i = 0; i < FRESH_INSTANCES; i++)
		if (h_start(&p[i], &o) == 0)
			started++;
	for (int i = 0; i < started; i++) {
		char err[128];
		const char *u = p[i].rpc_url;
		if (nrpc_client_open(&p[i].cli, &u, 1, err, sizeof(err)) != 0)
			continue;
		int st = -1;
		for (int64_t end = h_now_ms() + H_READY_WAIT_S * 1000;
		     st != 1 && h_now_ms() < end;) {
			unsigned code;
			st = h_health(p[i].cli, "", &code);
			if (st != 1)
				h_sleep_ms(100);
			if (h_wait_exit(&p[i], 0) != -2)
				break;
		}
		H_CHECK(st == 1,
		        "instance %d of %d starting together on a fresh database: not SERVING", i,
		        FRESH_INSTANCES);
		if (st != 1)
			h_log_tail(&p[i], 20);
		else {
			char *auth = h_bearer(H_SECRET, "it-fresh", 600);
			Property__V1__Property *prop = h_create(p[i].cli, auth, "");
			if (prop != NULL)
				protobuf_c_message_free_unpacked(&prop->base, NULL);
			free(auth);
		}
	}
	for (int i = 0; i < started; i++) {
		int rc = h_stop(&p[i]);
		H_CHECK(rc == 0, "instance %d exit status %d", i, rc);
		h_cleanup(&p[i]);
	}
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
	char *drop[] = {"psql", "-X", "-q", (char *)base, "-c", sql, NULL};
	run(drop);
}

// Every log level keeps the service up until it is told to stop (LOG_LEVEL=warn
// once made propertyd exit at start: the signal wait sat inside an info-level
// log call whose arguments are not evaluated when info is off).
static void case_log_levels_stay_up(void *ctx)
{
	(void)ctx;
	static const char *const levels[] = {"LOG_LEVEL=debug", "LOG_LEVEL=info", "LOG_LEVEL=warn",
	                                     "LOG_LEVEL=error"};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		h_opts o = {.env = {levels[i]}};
		h_proc p;
		if (h_start(&p, &o) != 0) {
			H_FAIL("%s: not SERVING", levels[i]);
			continue;
		}
		int rc = h_wait_exit(&p, 500);
		H_CHECK(rc == -2, "%s: exited on its own (status %d) instead of serving", levels[i],
		        rc);
		if (rc == -2) {
			rc = h_stop(&p);
			H_CHECK(rc == 0, "%s: exit status %d after SIGTERM", levels[i], rc);
		}
		h_cleanup(&p);
	}
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"no_database_url", case_no_database_url},
	    {"no_secret", case_no_secret},
	    {"secret_file_newline", case_secret_file_newline},
	    {"secret_too_short", case_secret_too_short},
	    {"secret_32_bytes", case_secret_32_bytes},
	    {"database_url_flag", case_database_url_flag},
	    {"removed_setting_ignored", case_removed_setting_ignored},
	    {"concurrent_start_fresh_db", case_concurrent_start_fresh_db},
	    {"log_levels_stay_up", case_log_levels_stay_up},
	};
	return h_main(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
