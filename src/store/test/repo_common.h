// store_repo's shared set-up and fixtures (repo_common.c), for the cases in
// repo_*_test.c: the repository on its loop (open_repo/close_repo) and the
// globals main sets up (the schema's conninfo, the port under test, an admin
// connection); properties to create and their comparison; counts by SQL.
#ifndef STORE_TEST_REPO_COMMON_H
#define STORE_TEST_REPO_COMMON_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obs/metrics.h"
#include "repo_sync.h"
#include "store/apg.h"
#include "store/repo_pg.h"
#include "testutil.h"

// Set by main (repo_test.c).
extern char *conninfo;
extern obs_registry *reg;
extern prop_repo port; // the repository under test
extern PGconn *admin;  // to look behind it

// On sync_loop: a pool of 4 pipelined connections to ci and the repository
// on it. 0, or -1 with err set.
int open_repo(const char *ci, bool no_prepare, store_apg **pool_out, store_repo_pg **repo_out,
              char *err, size_t errcap);
void close_repo(store_apg *p, store_repo_pg *r);

// ---- fixtures ---------------------------------------------------------------------------

typedef struct prop_buf {
	Property__V1__Property p;
	Property__V1__Location l;
} prop_buf;

Property__V1__Property *mk(prop_buf *b, const char *owner, const char *title, const char *city,
                           const char *cc, double lat, double lon, int64_t price, uint32_t beds,
                           int status);
Property__V1__Property *mk_simple(prop_buf *b, const char *owner);
// The fields a client sets are equal (id, version and times aside).
int same_values(const Property__V1__Property *a, const Property__V1__Property *b);
// ... and id, version and times too.
int same_row(const Property__V1__Property *a, const Property__V1__Property *b);
// Creates in (no idempotency key), checking it succeeded and was no replay.
Property__V1__Property *create_ok(tu_arena *a, const Property__V1__Property *in);
// An integer from the admin connection for the SQL of fmt.
__attribute__((format(printf, 1, 2))) int64_t count_sql(const char *fmt, ...);
// Rows of event_log for the aggregate id.
int64_t events_of(const char *id);

// ---- the cases (repo_*_test.c), run by repo_test.c --------------------------------------

void test_crud_roundtrip(void);
void test_checks(void);
void test_partial_mask(void);
void test_verbatim_strings(void);
void test_bad_values(void);
void test_list_walk(void);
void test_search(void);
void test_idempotency(void);
void test_idempotency_race(void);
void test_read_events(void);
void test_deadline_passed(void);
void test_database_down(void);

#endif
