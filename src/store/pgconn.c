#include "store/pgconn.h"

#include "base/clock.h"
#include "obs/log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

int64_t store_pgconn_now_us(void)
{
	return base_now_us();
}

static int wait_fd(int fd, short events, int64_t deadline_us)
{
	for (;;) {
		int64_t left_us = deadline_us - store_pgconn_now_us();
		if (left_us <= 0)
			return 0;
		struct pollfd pfd = {.fd = fd, .events = events};
		int rv = poll(&pfd, 1, (int)((left_us + 999) / 1000));
		if (rv > 0)
			return 1;
		if (rv < 0 && errno != EINTR)
			return -1;
	}
}

int store_pgconn_wait_readable(PGconn *c, int64_t deadline_us)
{
	int fd = PQsocket(c);
	if (fd < 0)
		return -1;
	return wait_fd(fd, POLLIN, deadline_us);
}

// Copies libpq's message without its trailing newline.
static void set_err(char *err, size_t errcap, const char *what, const PGconn *c)
{
	const char *m = c ? PQerrorMessage(c) : "out of memory";
	size_t n = strcspn(m, "\n");
	snprintf(err, errcap, "%s: %.*s", what, (int)n, m);
}

// Server notices and messages that arrive outside a query go to our log, not
// to libpq's default (raw stderr).
static void log_notice(void *arg, const PGresult *res)
{
	(void)arg;
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	OBS_LOG(OBS_INFO, "database notice", OBS_S("severity", sev ? sev : ""),
	        OBS_S("message", msg ? msg : ""));
}

PGconn *store_pgconn_open(const char *conninfo, int64_t deadline_us, char *err, size_t errcap)
{
	int64_t cap = store_pgconn_now_us() + (int64_t)PGCONN_CONNECT_MAX_MS * 1000;
	if (deadline_us > cap)
		deadline_us = cap;
	// Our values come first: a setting in the caller's conninfo overrides them.
	const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
	const char *const vals[] = {"2", "propertyd", conninfo, NULL};
	PGconn *c = PQconnectStartParams(keys, vals, 1);
	if (c == NULL || PQstatus(c) == CONNECTION_BAD) {
		set_err(err, errcap, "database unavailable", c);
		goto fail;
	}
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	for (;;) {
		if (st == PGRES_POLLING_OK) {
			PQsetNoticeReceiver(c, log_notice, NULL);
			return c;
		}
		if (st == PGRES_POLLING_FAILED) {
			set_err(err, errcap, "database unavailable", c);
			goto fail;
		}
		short ev = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		int rv = wait_fd(PQsocket(c), ev, deadline_us);
		if (rv <= 0) {
			snprintf(err, errcap, "database unavailable: connect %s",
			         rv == 0 ? "timed out" : "failed");
			goto fail;
		}
		st = PQconnectPoll(c);
	}
fail:
	PQfinish(c);
	return NULL;
}

// An idle connection gets at most an error message and an EOF: a few reads.
#define DRAIN_MAX_READS 4

void store_pgconn_drain_idle(PGconn *c)
{
	for (int i = 0; i < DRAIN_MAX_READS && PQstatus(c) == CONNECTION_OK; i++) {
		struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
		if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0 || !PQconsumeInput(c))
			return;
	}
}
