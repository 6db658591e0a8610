// Helpers for the store tests: a schema of their own in DATABASE_URL's
// database, a request arena, and the case runner (checks: base/test/check.h).
#ifndef STORE_TESTUTIL_H
#define STORE_TESTUTIL_H

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>

#include "base/test/check.h"
#include "property/ports.h"

// A conninfo for DATABASE_URL with search_path = schema, after dropping and
// creating the schema. Exits with a message when DATABASE_URL is unset or the
// database is unreachable. Free with free().
char *tu_schema_conninfo(const char *schema);
void tu_drop_schema(const char *schema);

// Connects or exits.
PGconn *tu_connect(const char *conninfo);
// Runs sql or exits; returns the result to PQclear.
PGresult *tu_exec(PGconn *c, const char *sql);
// The first column of the first row as an integer (sql must return one row).
int64_t tu_scalar(PGconn *c, const char *sql);

// A request arena: every allocation is freed by tu_arena_reset/_free.
typedef struct tu_arena {
	ProtobufCAllocator alloc;
	void *head;
} tu_arena;
void tu_arena_init(tu_arena *a);
void tu_arena_reset(tu_arena *a);

// A context whose deadline is now + timeout_ms, allocating in a.
prop_ctx tu_ctx(tu_arena *a, int timeout_ms);

int64_t tu_now_us(void);

// Runs each case of the table (only the one named by argv[1], if any) after
// checking that DATABASE_URL is set; returns the exit status.
typedef check_case tu_case;
int tu_run(const tu_case *cases, size_t n, int argc, char **argv);

#endif
