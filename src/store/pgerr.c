#include "store/pgerr.h"

#include <stdio.h>
#include <string.h>

#include "obs/log.h"

store_pgerr_class store_pgerr_classify(const char *s)
{
	store_pgerr_class k = {NRPC_INTERNAL, false};
	if (s == NULL || strlen(s) != 5) {
		// No SQLSTATE: libpq lost the connection (or never had one).
		k.code = NRPC_UNAVAILABLE;
		k.conn_lost = true;
	} else if (strcmp(s, "57014") == 0) {
		k.code = NRPC_DEADLINE_EXCEEDED;
	} else if (strncmp(s, "08", 2) == 0 || strncmp(s, "57P0", 4) == 0) {
		k.code = NRPC_UNAVAILABLE;
		k.conn_lost = true;
	} else if (strncmp(s, "53", 2) == 0) {
		k.code = NRPC_UNAVAILABLE;
	} else if (strcmp(s, "23505") == 0) {
		k.code = NRPC_ALREADY_EXISTS;
	} else if (strncmp(s, "23", 2) == 0 || strncmp(s, "22", 2) == 0) {
		k.code = NRPC_INVALID_ARGUMENT;
	} else if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0) {
		k.code = NRPC_ABORTED;
	}
	return k;
}

static const char *client_message(nrpc_code code)
{
	switch (code) {
	case NRPC_DEADLINE_EXCEEDED:
		return "deadline exceeded in the database";
	case NRPC_UNAVAILABLE:
		return "database unavailable";
	case NRPC_ALREADY_EXISTS:
		return "already exists";
	case NRPC_INVALID_ARGUMENT:
		return "value rejected by the database";
	case NRPC_ABORTED:
		return "transaction conflict, retry";
	default:
		return "internal database error";
	}
}

nrpc_code store_pgerr_from_result(const PGresult *res, const PGconn *c, const char *statement,
                                  bool *conn_lost, char *err, size_t errcap)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	store_pgerr_class k = store_pgerr_classify(state);
	if (c == NULL || PQstatus(c) == CONNECTION_BAD)
		k.conn_lost = true;
	if (k.conn_lost && k.code != NRPC_DEADLINE_EXCEEDED)
		k.code = NRPC_UNAVAILABLE;
	*conn_lost = k.conn_lost;
	snprintf(err, errcap, "%s", client_message(k.code));

	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (primary == NULL && c != NULL)
		primary = PQerrorMessage(c);
	// Data exceptions (class 22) quote the offending input: not logged.
	if (state != NULL && strncmp(state, "22", 2) == 0)
		primary = "(input value rejected)";
	char msg[256];
	snprintf(msg, sizeof msg, "%s", primary ? primary : "");
	msg[strcspn(msg, "\n")] = '\0';
	OBS_LOG(k.code == NRPC_INTERNAL ? OBS_ERROR : OBS_WARN, "database error",
	        OBS_S("statement", statement), OBS_S("sqlstate", state ? state : ""),
	        OBS_I("code", k.code), OBS_S("error", msg));
	return k.code;
}
