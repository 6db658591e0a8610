// See pgprobe.h.
#include "store/pgprobe.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pgconn.h"

struct store_pgprobe {
	char *conninfo;
	PGconn *conn;
};

store_pgprobe *store_pgprobe_create(const char *conninfo)
{
	store_pgprobe *p = calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	p->conninfo = strdup(conninfo);
	if (p->conninfo == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

void store_pgprobe_destroy(store_pgprobe *p)
{
	if (p == NULL)
		return;
	if (p->conn != NULL)
		PQfinish(p->conn);
	free(p->conninfo);
	free(p);
}

static nrpc_code down(store_pgprobe *p, const char *why, char *err, size_t errcap)
{
	snprintf(err, errcap, "%s", why);
	if (p->conn != NULL) {
		PQfinish(p->conn);
		p->conn = NULL;
	}
	return NRPC_UNAVAILABLE;
}

nrpc_code store_pgprobe_check(store_pgprobe *p, int timeout_ms, char *err, size_t errcap)
{
	int64_t deadline = store_pgconn_now_us() + (int64_t)timeout_ms * 1000;
	if (p->conn != NULL) {
		store_pgconn_drain_idle(p->conn);
		if (PQstatus(p->conn) != CONNECTION_OK)
			(void)down(p, "connection lost", err, errcap);
	}
	if (p->conn == NULL &&
	    (p->conn = store_pgconn_open(p->conninfo, deadline, err, errcap)) == NULL)
		return NRPC_UNAVAILABLE;
	if (!PQsendQuery(p->conn, "SELECT 1"))
		return down(p, "cannot send the probe", err, errcap);
	bool ok = false;
	for (;;) {
		while (PQisBusy(p->conn)) {
			if (store_pgconn_wait_readable(p->conn, deadline) != 1 ||
			    !PQconsumeInput(p->conn))
				return down(p, "no answer in time", err, errcap);
		}
		PGresult *r = PQgetResult(p->conn);
		if (r == NULL)
			break;
		ok = PQresultStatus(r) == PGRES_TUPLES_OK;
		PQclear(r);
	}
	return ok ? NRPC_OK : down(p, "probe query failed", err, errcap);
}
