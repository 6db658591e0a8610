#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "store/pgconn.h"

static const char *database_url(void)
{
	const char *u = getenv("DATABASE_URL");
	if (u == NULL || u[0] == '\0') {
		fprintf(stderr, "DATABASE_URL is not set: the store tests need a PostgreSQL "
		                "(e.g. DATABASE_URL='host=127.0.0.1 port=54329 user=postgres "
		                "dbname=dev_store')\n");
		exit(2);
	}
	return u;
}

// Appends key='value' with ' and \ escaped.
static void append_kv(char *buf, size_t cap, const char *key, const char *val)
{
	size_t len = strlen(buf);
	len += (size_t)snprintf(buf + len, cap - len, "%s%s='", len ? " " : "", key);
	for (const char *p = val; *p && len + 3 < cap; p++) {
		if (*p == '\'' || *p == '\\')
			buf[len++] = '\\';
		buf[len++] = *p;
	}
	snprintf(buf + len, cap - len, "'");
}

static char *with_schema(const char *schema)
{
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(database_url(), &errmsg);
	if (opts == NULL) {
		fprintf(stderr, "DATABASE_URL does not parse: %s\n", errmsg ? errmsg : "");
		PQfreemem(errmsg);
		exit(2);
	}
	size_t cap = 4096;
	char *buf = calloc(1, cap);
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (o->val != NULL && strcmp(o->keyword, "options") != 0)
			append_kv(buf, cap, o->keyword, o->val);
	}
	if (schema != NULL) {
		char opt[128];
		snprintf(opt, sizeof opt, "-csearch_path=%s", schema);
		append_kv(buf, cap, "options", opt);
	}
	PQconninfoFree(opts);
	return buf;
}

PGconn *tu_connect(const char *conninfo)
{
	char err[256];
	PGconn *c = store_pgconn_open(conninfo, tu_now_us() + 5000000, err, sizeof err);
	if (c == NULL) {
		fprintf(stderr, "cannot connect to DATABASE_URL: %s\n", err);
		exit(2);
	}
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

PGresult *tu_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "SQL failed: %s\n  %s\n", sql, PQresultErrorMessage(r));
		exit(2);
	}
	return r;
}

int64_t tu_scalar(PGconn *c, const char *sql)
{
	PGresult *r = tu_exec(c, sql);
	int64_t v = PQntuples(r) > 0 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
	PQclear(r);
	return v;
}

static void schema_sql(const char *schema, int create)
{
	char *ci = with_schema(NULL);
	PGconn *c = tu_connect(ci);
	char sql[256];
	int n = snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
	if (create)
		snprintf(sql + n, sizeof sql - (size_t)n, "; CREATE SCHEMA %s", schema);
	PQclear(tu_exec(c, sql));
	PQfinish(c);
	free(ci);
}

char *tu_schema_conninfo(const char *schema)
{
	schema_sql(schema, 1);
	return with_schema(schema);
}

void tu_drop_schema(const char *schema)
{
	schema_sql(schema, 0);
}

typedef struct block {
	struct block *next;
	max_align_t data[];
} block;

static void *arena_alloc(void *ad, size_t n)
{
	tu_arena *a = ad;
	block *b = malloc(sizeof *b + n);
	if (b == NULL)
		return NULL;
	b->next = a->head;
	a->head = b;
	return b->data;
}

static void arena_free(void *ad, void *p)
{
	(void)ad;
	(void)p; // freed all at once by tu_arena_reset
}

void tu_arena_init(tu_arena *a)
{
	a->alloc = (ProtobufCAllocator){arena_alloc, arena_free, a};
	a->head = NULL;
}

void tu_arena_reset(tu_arena *a)
{
	block *b = a->head;
	while (b) {
		block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
}

prop_ctx tu_ctx(tu_arena *a, int timeout_ms)
{
	prop_ctx ctx = {0};
	ctx.deadline_us = tu_now_us() + (int64_t)timeout_ms * 1000;
	ctx.alloc = &a->alloc;
	return ctx;
}

int64_t tu_now_us(void)
{
	return store_pgconn_now_us();
}

int tu_run(const tu_case *cases, size_t n, int argc, char **argv)
{
	(void)database_url();
	return check_run(cases, n, argc > 1 ? argv[1] : NULL, NULL) ? 1 : 0;
}
