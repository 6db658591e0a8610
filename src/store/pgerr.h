// store pgerr: the one place where a PostgreSQL failure becomes an nrpc_code.
//
// The client sees only a generic message. The server's primary message goes
// to the log with the statement name and SQLSTATE; never DETAIL (it can hold
// row values), and not the message of a data exception (class 22), which
// quotes the rejected input.
#ifndef STORE_PGERR_H
#define STORE_PGERR_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "nrpc/status.h"

typedef struct store_pgerr_class {
	nrpc_code code;
	bool conn_lost; // the connection must not be reused
} store_pgerr_class;

// Classifies a SQLSTATE (NULL or "" = none reported, e.g. the connection
// dropped): 57014 (statement timeout / cancel) -> DEADLINE_EXCEEDED; class 08,
// 57P01..57P03 (shutdown), 53xxx (out of resources) -> UNAVAILABLE; 23505 ->
// ALREADY_EXISTS; 23xxx (other integrity), 22xxx (bad data) -> INVALID_ARGUMENT;
// 40001, 40P01 -> ABORTED; anything else -> INTERNAL.
store_pgerr_class store_pgerr_classify(const char *sqlstate);

// Classifies a failed result (res may be NULL) on connection c, writes the
// client message into err, logs the server's message at WARN with `statement`.
nrpc_code store_pgerr_from_result(const PGresult *res, const PGconn *c, const char *statement,
                                  bool *conn_lost, char *err, size_t errcap);

#endif
