// cache conn: one blocking Redis connection, ready for the adapter's
// commands: the recovery thread's probe connection (recover.c), opened for
// each attempt to bring the cache up, which replays the owed writes and
// purges over it. The request path never uses it: its commands go through
// the loops' asynchronous clients (aredis.h).
//
// Opening connects with a bounded connect timeout, sets the command timeout,
// and in one pipelined round trip authenticates, selects the database and
// loads the scripts (keeping their SHAs). After any error of a command (I/O,
// timeout, protocol) the hiredis context is unusable: the caller closes the
// connection and opens a new one later; error *replies* leave it usable.
//
// A connection is used by one thread at a time (hiredis contexts are not
// thread-safe). Every call blocks for at most about
// CACHE_CONNECT_TIMEOUT_MS + CACHE_COMMAND_TIMEOUT_MS.
#ifndef CACHE_CONN_H
#define CACHE_CONN_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "cache/redis_url.h"
#include "cache/scripts.h"

// A Redis that does not answer within these bounds is treated as down (the
// request path goes to PostgreSQL meanwhile). Loopback round trips take tens
// of microseconds, so these leave ample room for a busy server while capping
// what a frozen one costs. The loops' clients use CACHE_COMMAND_TIMEOUT_MS
// for their connect and every command (redis_cache.c).
#define CACHE_CONNECT_TIMEOUT_MS 200
#define CACHE_COMMAND_TIMEOUT_MS 100

// EVALSHA + sha + numkeys + keys and arguments: the largest call is a purge
// batch (see recover.c), plus one argument.
#define CACHE_EVAL_ARGS_MAX 260

typedef struct cache_conn {
	redisContext *rc;             // NULL when closed
	char sha[CACHE_SCRIPT_N][41]; // hex SHA1 of each script
	unsigned seed;                // rand_r state, for TTL jitter
} cache_conn;

// Opens *c (which must be closed). Returns 0, or -1 with a message in
// err[errcap] and c closed.
int cache_conn_open(cache_conn *c, const cache_url *u, char *err, size_t errcap);

// Closes the connection if open (keeps seed and nothing else).
void cache_conn_close(cache_conn *c);

// Runs a command (argv with lengths: binary-safe). Returns the reply, which
// the caller frees with freeReplyObject, or NULL on a connection error (then
// cache_conn_error() says why and the connection must be closed).
redisReply *cache_conn_cmd(cache_conn *c, int argc, const char **argv, const size_t *lens);

// EVALSHA of script s with nkeys keys followed by nargs arguments (arrays
// of nkeys + nargs); on NOSCRIPT retries with EVAL. Same result convention
// as cache_conn_cmd.
redisReply *cache_conn_eval(cache_conn *c, enum cache_script s, int nkeys, int nargs,
                            const char **args, const size_t *lens);

// The last connection error, for logs.
const char *cache_conn_error(const cache_conn *c);

// base seconds +-10%, uniformly, so that keys written together do not all
// expire in the same second.
unsigned cache_conn_ttl(cache_conn *c, unsigned base);

#endif
