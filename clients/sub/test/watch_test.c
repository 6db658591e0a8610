// `propctl watch` as a user runs it (argv[1]: the propctl binary), against
// the fake propertyd of fake_events.h.
#include <errno.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_events.h"

#define TOKEN "watch-token"
// Bound on waiting for the child: a hang fails the case instead of the run.
#define WAIT_LIMIT_MS 15000
#define OUT_CAP       (64 * 1024)

extern char **environ;

static const char *propctl;

typedef struct child {
	pid_t pid;
	int out_fd, err_fd;
	char out[OUT_CAP], err[OUT_CAP];
	size_t out_len, err_len;
} child;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int spawn_watch(child *c, const char *const *args)
{
	const char *argv[32] = {propctl, "watch"};
	size_t n = 2;
	for (size_t i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int out[2], err[2];
	if (pipe(out) != 0 || pipe(err) != 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	posix_spawn_file_actions_addclose(&fa, err[0]);
	int rv = posix_spawn(&c->pid, propctl, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	close(err[1]);
	c->out_fd = out[0];
	c->err_fd = err[0];
	c->out_len = c->err_len = 0;
	c->out[0] = c->err[0] = '\0';
	return rv == 0 ? 0 : -1;
}

// Reads what the child wrote for up to ms (or until both pipes closed).
static void pump(child *c, int ms)
{
	int64_t until = now_ms() + ms;
	while (now_ms() < until && (c->out_fd >= 0 || c->err_fd >= 0)) {
		struct pollfd p[2] = {{c->out_fd, POLLIN, 0}, {c->err_fd, POLLIN, 0}};
		if (poll(p, 2, 20) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			int *fd = i == 0 ? &c->out_fd : &c->err_fd;
			char *buf = i == 0 ? c->out : c->err;
			size_t *len = i == 0 ? &c->out_len : &c->err_len;
			if (*fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t k = read(*fd, buf + *len, OUT_CAP - 1 - *len);
			if (k <= 0) {
				close(*fd);
				*fd = -1;
			} else {
				*len += (size_t)k;
				buf[*len] = '\0';
			}
		}
	}
}

// Waits for the child to exit; returns its exit status, or -1 (killed).
static int finish(child *c)
{
	int64_t limit = now_ms() + WAIT_LIMIT_MS;
	int status = 0;
	pid_t w = 0;
	while ((w = waitpid(c->pid, &status, WNOHANG)) == 0 && now_ms() < limit)
		pump(c, 20);
	if (w == 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, &status, 0);
		fprintf(stderr, "  propctl watch did not exit; killed\n");
	}
	pump(c, 100);
	if (c->out_fd >= 0)
		close(c->out_fd);
	if (c->err_fd >= 0)
		close(c->err_fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Checks the JSON lines: one per expected seq, in order, with every field.
static int expect_lines(const child *c, const uint64_t *seqs, size_t n)
{
	int bad = 0;
	size_t i = 0;
	const char *line = c->out;
	while (*line != '\0' && !bad) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		json_t *o = json_loadb(line, len, 0, NULL);
		json_t *prop = o ? json_object_get(o, "property") : NULL;
		if (o == NULL || i >= n) {
			bad = 1;
		} else if ((uint64_t)json_integer_value(json_object_get(o, "seq")) != seqs[i] ||
		           !json_is_string(json_object_get(o, "id")) ||
		           !json_is_string(json_object_get(o, "type")) ||
		           !json_is_string(json_object_get(o, "aggregate_id")) ||
		           !json_is_string(json_object_get(o, "owner_id")) ||
		           !json_is_integer(json_object_get(o, "occurred_at_us")) ||
		           !json_is_object(prop) ||
		           strcmp(json_string_value(json_object_get(prop, "id")),
		                  json_string_value(json_object_get(o, "aggregate_id"))) != 0) {
			bad = 1;
		}
		json_decref(o);
		i++;
		line = nl ? nl + 1 : line + len;
	}
	if (bad || i != n)
		fprintf(stderr, "  stdout is not the %zu expected lines:\n%s\n", n, c->out);
	return bad || i != n;
}

static int check(bool ok, const char *what, const child *c)
{
	if (!ok)
		fprintf(stderr, "  failed: %s\n  stderr: %s\n", what, c ? c->err : "");
	return ok ? 0 : 1;
}

static int case_from_zero_with_gap(void)
{
	fake_events *f = fake_open("wfrom", 1, TOKEN);
	if (f == NULL)
		return 1;
	fake_append(f, "property.created");
	fake_append(f, "property.updated");
	const char *args[] = {"--url",     fake_pub_urls(f)[0],
	                      "--rpc-url", fake_rpc_urls(f)[0],
	                      "--token",   TOKEN,
	                      "--from",    "0",
	                      "--count",   "5",
	                      NULL};
	child c;
	int bad = 0;
	if (spawn_watch(&c, args) != 0) {
		fake_close(f);
		return check(false, "spawn", NULL);
	}
	bad += check(fake_wait_subscribers(f) == 0, "watch never connected", &c);
	for (int i = 0; i < 3; i++) {
		uint64_t seq = fake_append(f, "property.created");
		if (seq != 4)
			fake_publish(f, 0, seq); // 4 is lost on the way
	}
	int rc = finish(&c);
	const uint64_t want[] = {1, 2, 3, 4, 5};
	bad += check(rc == 0, "exit status 0 after --count", &c);
	bad += expect_lines(&c, want, 5);
	bad += check(strstr(c.err, "re-read") != NULL, "a note about the re-read gap", &c);
	fake_close(f);
	return bad;
}

// Events after --from were pruned: the watch stops with status 1 and points
// at --accept-gaps; with it, it says what it skipped and goes on.
static int case_pruned(bool accept)
{
	fake_events *f = fake_open(accept ? "wgapok" : "wgap", 1, TOKEN);
	if (f == NULL)
		return 1;
	for (int i = 0; i < 5; i++)
		fake_append(f, "property.created");
	fake_prune(f, 3); // 1..3 are gone
	const char *args[] = {"--url",
	                      fake_pub_urls(f)[0],
	                      "--rpc-url",
	                      fake_rpc_urls(f)[0],
	                      "--token",
	                      TOKEN,
	                      "--from",
	                      "0",
	                      "--count",
	                      "2",
	                      accept ? "--accept-gaps" : NULL,
	                      NULL};
	child c;
	if (spawn_watch(&c, args) != 0) {
		fake_close(f);
		return check(false, "spawn", NULL);
	}
	int rc = finish(&c);
	int bad = 0;
	if (accept) {
		const uint64_t want[] = {4, 5};
		bad += check(rc == 0, "exit status 0 after --count past a gap", &c);
		bad += expect_lines(&c, want, 2);
		bad += check(strstr(c.err, "were pruned and are skipped") != NULL,
		             "a note naming the skipped gap", &c);
	} else {
		bad += check(rc == 1, "exit status 1 when events were pruned", &c);
		bad += check(c.out_len == 0, "nothing printed past a gap", &c);
		bad += check(strstr(c.err, "--accept-gaps") != NULL, "a hint at --accept-gaps", &c);
	}
	fake_close(f);
	return bad;
}

static int case_pruned_stops(void)
{
	return case_pruned(false);
}

static int case_pruned_accepted(void)
{
	return case_pruned(true);
}

static int case_type_prefix(void)
{
	fake_events *f = fake_open("wtype", 1, TOKEN);
	if (f == NULL)
		return 1;
	fake_append(f, "property.created"); // before the watch: not printed (from now)
	const char *args[] = {"--url",  fake_pub_urls(f)[0], "--rpc-url", fake_rpc_urls(f)[0],
	                      "--type", "property.created",  "--count",   "2",
	                      NULL};
	setenv("PROPCTL_TOKEN", TOKEN, 1);
	child c;
	int bad = 0;
	if (spawn_watch(&c, args) != 0) {
		fake_close(f);
		return check(false, "spawn", NULL);
	}
	unsetenv("PROPCTL_TOKEN");
	bad += check(fake_wait_subscribers(f) == 0, "watch never connected", &c);
	// Let it locate "now" (seq 1) before anything new is appended.
	int64_t limit = now_ms() + WAIT_LIMIT_MS;
	while (fake_read_calls(f) == 0 && now_ms() < limit)
		nng_msleep(10);
	for (int i = 0; i < 4; i++)
		fake_publish(f, 0, fake_append(f, i % 2 ? "property.created" : "property.updated"));
	int rc = finish(&c);
	const uint64_t want[] = {3, 5};
	bad += check(rc == 0, "exit status 0 after --count", &c);
	bad += expect_lines(&c, want, 2);
	bad += check(strstr(c.err, "re-read") == NULL, "no re-read note for other types", &c);
	fake_close(f);
	return bad;
}

static int case_sigterm(void)
{
	fake_events *f = fake_open("wterm", 1, TOKEN);
	if (f == NULL)
		return 1;
	const char *args[] = {
	    "--url", fake_pub_urls(f)[0], "--rpc-url", fake_rpc_urls(f)[0], "--token", TOKEN, NULL};
	child c;
	if (spawn_watch(&c, args) != 0) {
		fake_close(f);
		return check(false, "spawn", NULL);
	}
	int bad = check(fake_wait_subscribers(f) == 0, "watch never connected", &c);
	kill(c.pid, SIGTERM);
	int rc = finish(&c);
	bad += check(rc == 0, "exit status 0 after SIGTERM", &c);
	fake_close(f);
	return bad;
}

static int case_usage(void)
{
	static const char *const bad_args[][3] = {
	    {"--from", "x", NULL},
	    {"--count", "0", NULL},
	    {"extra", NULL, NULL},
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
		child c;
		if (spawn_watch(&c, bad_args[i]) != 0)
			return check(false, "spawn", NULL);
		int rc = finish(&c);
		bad += check(rc == 64, "exit status 64 on a usage error", &c);
	}
	return bad;
}

typedef struct test_case {
	const char *name;
	int (*fn)(void);
} test_case;

static const test_case CASES[] = {
    {"from_zero_with_gap", case_from_zero_with_gap},
    {"pruned_stops", case_pruned_stops},
    {"pruned_accepted", case_pruned_accepted},
    {"type_prefix_from_now", case_type_prefix},
    {"sigterm_exits_0", case_sigterm},
    {"usage_errors", case_usage},
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <propctl binary>\n", argv[0]);
		return 2;
	}
	propctl = argv[1];
	unsetenv("PROPCTL_URL");
	unsetenv("PROPCTL_EVENTS_URL");
	unsetenv("PROPCTL_TOKEN");
	unsetenv("AUTH_SECRET");
	signal(SIGPIPE, SIG_IGN);
	int failed = 0;
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		int bad = CASES[i].fn();
		printf("%s %s\n", bad ? "FAIL" : "ok  ", CASES[i].name);
		fflush(stdout);
		failed += bad != 0;
	}
	if (failed)
		printf("%d case(s) failed\n", failed);
	return failed ? 1 : 0;
}
