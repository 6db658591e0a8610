// it_config: start-up configuration (CONTRACT.md section 1).
//
// Missing DATABASE_URL or secret: non-zero exit at once with exactly one line
// on stderr naming the setting. A secret file's trailing newline is not part
// of the secret.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	H_CHECK(rc != 0, "exit status %d", rc);
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
	static const char secret[] = "file-secret-0b8e41d2";
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
		get_with(&p, "file-secret-0b8e41d2\n", 16, "secret with the newline");
		get_with(&p, H_SECRET, 16, "another secret");
		int rc = h_stop(&p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&p);
	unlink(path);
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"no_database_url", case_no_database_url},
	    {"no_secret", case_no_secret},
	    {"secret_file_newline", case_secret_file_newline},
	};
	return h_main(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
