// cache_aredis's shared helpers (aredis_common.c), for the cases in
// aredis_*_test.c: the event loop every client runs on and the REDIS_URL
// target (database 9); recording reply and on_failure callbacks; running the
// loop until callbacks came; a client with the test's timeouts; and
// redis-server instances of the test's own on free loopback ports.
#ifndef CACHE_TEST_AREDIS_COMMON_H
#define CACHE_TEST_AREDIS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "cache/aredis.h"
#include "cache/redis_url.h"
#include "common.h"

// Timeouts of the clients under test.
#define CONNECT_MS   300
#define COMMAND_MS   150
#define RECONNECT_MS 100
// Bounds of the polling loops (not timing assertions: only "it happens").
#define WAIT_MS 10000

extern struct event_base *B;
extern cache_url SHARED; // REDIS_URL with db 9

// ---- recording callbacks ------------------------------------------------------------------

typedef struct res {
	int calls;
	int type; // reply type, or -1 for NULL
	long long integer;
	char str[64];
	size_t len;
	int64_t at_us;
	long seq; // global order of the calls
	size_t elements;
} res;

extern long SEQ;
extern bool IN_CALL; // set around cache_aredis_command/cache_aredis_eval: no callback may run then

// Records a reply (or NULL) into the res at arg.
void record(const redisReply *r, void *arg);
// cache_aredis_command with IN_CALL set, recording into x.
void cmd(cache_aredis *a, res *x, int argc, const char **argv);
void cmd1(cache_aredis *a, res *x, const char *c);

typedef struct fails {
	int n;
	char why[256];
} fails;

// An on_failure that counts into the fails at arg and keeps the last reason.
void on_failure(void *arg, const char *why);

// ---- the loop -----------------------------------------------------------------------------

// Runs the loop until *counter >= target or timeout_ms; returns the number of
// loop iterations (a 5 ms tick keeps them coming).
long run_until(const int *counter, int target, int timeout_ms);
void run_ms(int ms);
// Sum of calls of xs[0..n).
int calls(const res *xs, int n);
// Runs until the single command x is answered.
void wait1(res *x);
// A client of u on B with the timeouts above, reporting failures into f; NULL on error.
cache_aredis *make(const cache_url *u, fails *f);
bool ping_ok(cache_aredis *a);
// Pings every 50 ms until one succeeds.
bool wait_ping(cache_aredis *a);

// ---- servers of our own -------------------------------------------------------------------

int free_port(void);
// Starts redis-server on port, with one more option when opt != NULL
// ("--requirepass" makes val the password used to check it is up), and
// waits until it answers. -1 when it did not start.
pid_t start_redis(int port, const char *opt, const char *val);
void stop_redis(pid_t pid);
cache_url local_url(int port, int db);

// ---- the cases (aredis_*_test.c), run by aredis_test.c ------------------------------------

void case_pipeline(void);
void case_select(void);
void case_auth(void);
void case_bad_db(void);
void case_eval(void);
void case_frozen(void);
void case_restart(void);
void case_closed_port(void);
void case_destroy(void);

#endif
