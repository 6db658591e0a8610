// propctl_cli: runs the propctl binary as a user would (argv, stdin, env)
// and checks exit status and output; minted tokens must verify with
// nrpc_jwt_verify. Needs no server: calls that need one go to a closed port.
//
// usage: propctl_cli_test /path/to/propctl   (AUTH_SECRET set by CTest)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nrpc/jwt.h"

#define MAX_ARGS 12
#define OUT_CAP  65536

typedef struct cli_case {
	const char *name;
	const char *args[MAX_ARGS]; // after "propctl", NULL-terminated
	const char *in;             // standard input, or NULL for none
	int no_secret;              // run with AUTH_SECRET unset
	int want_exit;
	const char *want_out;      // substring of stdout, or NULL
	const char *want_err;      // substring of stderr, or NULL
	const char *verify_sub;    // stdout is a token for this subject
	const char *verify_secret; // ... signed with this secret (default AUTH_SECRET)
} cli_case;

static const char *propctl;
static char secret_file[] = "/tmp/propctl_cli_secretXXXXXX";

static const cli_case cases[] = {
    {"help", {"--help"}, NULL, 0, 0, "exit status", NULL, NULL, NULL},
    {"no_command", {NULL}, NULL, 0, 64, NULL, "usage", NULL, NULL},
    {"version", {"--version"}, NULL, 0, 0, "propctl ", NULL, NULL, NULL},
    {"unknown_command", {"frobnicate"}, NULL, 0, 64, NULL, "unknown command", NULL, NULL},
    {"token_help", {"token", "--help"}, NULL, 0, 0, "--sub OWNER", NULL, NULL, NULL},
    {"token", {"token", "--sub", "x"}, NULL, 0, 0, NULL, NULL, "x", NULL},
    {"token_ttl",
     {"token", "--ttl", "60", "--sub", "alice"},
     NULL,
     0,
     0,
     NULL,
     NULL,
     "alice",
     NULL},
    {"token_secret_file",
     {"token", "--sub", "bob", "--secret-file", secret_file},
     NULL,
     1,
     0,
     NULL,
     NULL,
     "bob",
     "file-secret-4d9e2a7c1b6f3e08a5c2"},
    {"token_no_sub", {"token"}, NULL, 0, 64, NULL, "usage", NULL, NULL},
    {"token_bad_ttl",
     {"token", "--sub", "x", "--ttl", "-5"},
     NULL,
     0,
     64,
     NULL,
     "--ttl",
     NULL,
     NULL},
    {"token_no_secret", {"token", "--sub", "x"}, NULL, 1, 64, NULL, "AUTH_SECRET", NULL, NULL},
    {"token_missing_file",
     {"token", "--sub", "x", "--secret-file", "/nonexistent/s"},
     NULL,
     0,
     64,
     NULL,
     "/nonexistent/s",
     NULL,
     NULL},
    {"call_help", {"call", "--help"}, NULL, 0, 0, "ERROR <CODE_NAME>", NULL, NULL, NULL},
    {"call_list",
     {"call", "--list"},
     NULL,
     0,
     0,
     "/property.v1.PropertyService/GetProperty",
     NULL,
     NULL,
     NULL},
    {"call_missing_json", {"call", "GetProperty"}, NULL, 0, 64, NULL, "usage", NULL, NULL},
    {"call_unknown_method",
     {"call", "Nope", "{}"},
     NULL,
     0,
     64,
     NULL,
     "unknown or ambiguous",
     NULL,
     NULL},
    {"call_unknown_field",
     {"call", "GetProperty", "{\"idd\":\"1\"}"},
     NULL,
     0,
     64,
     NULL,
     "unknown field \"idd\"",
     NULL,
     NULL},
    {"call_stdin_bad_json",
     {"call", "GetProperty", "-"},
     "{\"id\":",
     0,
     64,
     NULL,
     "invalid JSON",
     NULL,
     NULL},
    {"call_bad_header",
     {"call", "GetProperty", "{}", "-H", "novalue"},
     NULL,
     0,
     64,
     NULL,
     "KEY: VALUE",
     NULL,
     NULL},
    {"call_bad_meta",
     {"call", "GetProperty", "{}", "--meta", "novalue"},
     NULL,
     0,
     64,
     NULL,
     "KEY=VALUE",
     NULL,
     NULL},
    {"call_sub_without_secret",
     {"call", "GetProperty", "{}", "--sub", "x"},
     NULL,
     1,
     64,
     NULL,
     "AUTH_SECRET",
     NULL,
     NULL},
    {"call_unreachable",
     {"call", "/grpc.health.v1.Health/Check", "-", "--url", "tcp://127.0.0.1:9", "--timeout",
      "300"},
     "{\"service\":\"\"}",
     0,
     2,
     NULL,
     "ERROR ",
     NULL,
     NULL},
    {"health_help", {"health", "--help"}, NULL, 0, 0, "SERVING", NULL, NULL, NULL},
    {"health_unreachable",
     {"health", "--url", "tcp://127.0.0.1:9", "--timeout", "300"},
     NULL,
     0,
     2,
     NULL,
     "no answer",
     NULL,
     NULL},
    // Durations (base/duration.h): a unit, or a bare number in the flag's unit.
    {"health_timeout_250ms",
     {"health", "--url", "tcp://127.0.0.1:9", "--timeout", "250ms"},
     NULL,
     0,
     2,
     NULL,
     "no answer",
     NULL,
     NULL},
    {"call_timeout_unit",
     {"call", "/grpc.health.v1.Health/Check", "-", "--url", "tcp://127.0.0.1:9", "--timeout",
      "0.3s"},
     "{\"service\":\"\"}",
     0,
     2,
     NULL,
     "ERROR ",
     NULL,
     NULL},
    {"timeout_junk",
     {"health", "--timeout", "5x"},
     NULL,
     0,
     64,
     NULL,
     "--timeout: bad duration \"5x\": unknown unit",
     NULL,
     NULL},
    {"timeout_overflow",
     {"call", "/grpc.health.v1.Health/Check", "--timeout", "99999999999999999999999ms"},
     NULL,
     0,
     64,
     NULL,
     "too large",
     NULL,
     NULL},
    {"timeout_negative",
     {"list", "--timeout", "-5ms"},
     NULL,
     0,
     64,
     NULL,
     "bad duration",
     NULL,
     NULL},
    {"timeout_zero", {"describe", "--timeout", "0"}, NULL, 0, 64, NULL, "wants 1ms..", NULL, NULL},
    {"timeout_range",
     {"health", "--timeout", "2m"},
     NULL,
     0,
     64,
     NULL,
     "wants 1ms..1m",
     NULL,
     NULL},
    {"token_ttl_unit",
     {"token", "--ttl", "90m", "--sub", "carol"},
     NULL,
     0,
     0,
     NULL,
     NULL,
     "carol",
     NULL},
    {"token_ttl_range",
     {"token", "--ttl", "367d", "--sub", "x"},
     NULL,
     0,
     64,
     NULL,
     "wants 1s..366d",
     NULL,
     NULL},
    {"call_help_durations", {"call", "--help"}, NULL, 0, 0, "bare number: ms", NULL, NULL, NULL},
    {"top_interval_junk",
     {"top", "--interval", "1.5.s"},
     NULL,
     0,
     64,
     NULL,
     "bad duration",
     NULL,
     NULL},
    {"top_help", {"top", "--help"}, NULL, 0, 0, "--once", NULL, NULL, NULL},
    {"top_bad_interval", {"top", "--interval", "0"}, NULL, 0, 64, NULL, "--interval", NULL, NULL},
    {"top_unreachable",
     {"top", "--once", "--http-addr", "127.0.0.1:9"},
     NULL,
     0,
     2,
     NULL,
     "127.0.0.1:9",
     NULL,
     NULL},
};

static char *slurp(FILE *f)
{
	char *buf = calloc(1, OUT_CAP);
	if (buf == NULL)
		return NULL;
	rewind(f);
	size_t n = fread(buf, 1, OUT_CAP - 1, f);
	buf[n] = '\0';
	return buf;
}

// Runs propctl; fills *out and *err (malloc'd) and returns the exit status.
static int run(const cli_case *c, char **out, char **err)
{
	*out = *err = NULL;
	FILE *fin = tmpfile(), *fout = tmpfile(), *ferr = tmpfile();
	int status = -1;
	if (fin == NULL || fout == NULL || ferr == NULL)
		goto done;
	if (c->in != NULL) {
		fputs(c->in, fin);
		fflush(fin);
		rewind(fin);
	}
	pid_t pid = fork();
	if (pid == 0) {
		const char *argv[MAX_ARGS + 2] = {propctl};
		for (size_t i = 0; i < MAX_ARGS && c->args[i] != NULL; i++)
			argv[i + 1] = c->args[i];
		dup2(fileno(fin), 0);
		dup2(fileno(fout), 1);
		dup2(fileno(ferr), 2);
		if (c->no_secret)
			unsetenv("AUTH_SECRET");
		execv(propctl, (char *const *)argv);
		_exit(127);
	}
	int ws = 0;
	if (pid < 0 || waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws))
		goto done;
	status = WEXITSTATUS(ws);
	*out = slurp(fout);
	*err = slurp(ferr);
done:
	if (fin)
		fclose(fin);
	if (fout)
		fclose(fout);
	if (ferr)
		fclose(ferr);
	return status;
}

static int verify(const cli_case *c, char *out)
{
	const char *secret = c->verify_secret ? c->verify_secret : getenv("AUTH_SECRET");
	out[strcspn(out, "\n")] = '\0';
	char sub[NRPC_JWT_MAX_SUB + 1], why[128];
	if (nrpc_jwt_verify((const uint8_t *)secret, strlen(secret), out, (int64_t)time(NULL), sub,
	                    sizeof sub, why, sizeof why) != 0) {
		printf("FAIL %s: token does not verify: %s\n", c->name, why);
		return 0;
	}
	if (strcmp(sub, c->verify_sub) != 0) {
		printf("FAIL %s: sub \"%s\", want \"%s\"\n", c->name, sub, c->verify_sub);
		return 0;
	}
	return 1;
}

static int check(const cli_case *c)
{
	char *out = NULL, *err = NULL;
	int ok = 0;
	int st = run(c, &out, &err);
	if (out == NULL || err == NULL) {
		printf("FAIL %s: could not run %s\n", c->name, propctl);
	} else if (st != c->want_exit) {
		printf("FAIL %s: exit %d, want %d\n  stdout: %s\n  stderr: %s\n", c->name, st,
		       c->want_exit, out, err);
	} else if (c->want_out && strstr(out, c->want_out) == NULL) {
		printf("FAIL %s: stdout lacks \"%s\":\n%s\n", c->name, c->want_out, out);
	} else if (c->want_err && strstr(err, c->want_err) == NULL) {
		printf("FAIL %s: stderr lacks \"%s\":\n%s\n", c->name, c->want_err, err);
	} else {
		ok = c->verify_sub == NULL || verify(c, out);
	}
	free(out);
	free(err);
	return ok;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s /path/to/propctl\n", argv[0]);
		return 2;
	}
	propctl = argv[1];
	if (getenv("AUTH_SECRET") == NULL) {
		fprintf(stderr, "FAIL: AUTH_SECRET must be set (CTest sets it)\n");
		return 1;
	}
	int fd = mkstemp(secret_file);
	if (fd < 0 || write(fd, "file-secret-4d9e2a7c1b6f3e08a5c2\n", 33) != 33) {
		fprintf(stderr, "FAIL: cannot write %s\n", secret_file);
		return 1;
	}
	close(fd);
	size_t n = sizeof cases / sizeof cases[0], passed = 0;
	for (size_t i = 0; i < n; i++)
		passed += (size_t)check(&cases[i]);
	unlink(secret_file);
	printf("%zu passed, %zu failed\n", passed, n - passed);
	return passed == n ? 0 : 1;
}
