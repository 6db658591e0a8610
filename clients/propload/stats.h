// pl_stats: what a run measured, per operation: latency histogram, status
// codes, grouped error messages, and a per-second timeline per operation
// (completions, errors, latency; and how late calls started).
//
// A pl_stats is a plain struct with no lock; the driver keeps one per shard
// behind its own mutex and merges them for reports. pl_stats_init allocates
// the timeline (returns -1 on failure); pl_stats_free releases it.
#ifndef PL_STATS_H
#define PL_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

// The operations a workload issues; PL_OP_CALL is the generic --call mode.
typedef enum pl_op {
	PL_OP_GET,
	PL_OP_LIST,
	PL_OP_CREATE,
	PL_OP_UPDATE,
	PL_OP_SEARCH,
	PL_OP_DELETE,
	PL_OP_CALL,
	PL_OP_COUNT
} pl_op;

// gRPC codes 0..16 (a client-side timeout counts as 4, a transport failure as 14).
#define PL_CODES 17
// Distinct (op, code, message) error groups kept; more are counted as "other".
#define PL_ERR_GROUPS 32
// Error messages are cut to this many bytes before grouping (ids in messages
// would otherwise make every error its own group).
#define PL_ERR_MSG 96
// Timeline length: a second-by-second record of at most an hour; later
// seconds are added to the last one.
#define PL_TIMELINE_MAX 3600

typedef struct pl_opstats {
	pl_hist lat; // every completed call, whatever its code
	uint64_t codes[PL_CODES];
} pl_opstats;

typedef struct pl_errgroup {
	pl_op op;
	unsigned code;
	char msg[PL_ERR_MSG];
	uint64_t count;
} pl_errgroup;

// One second of one operation. n, errors and lat_* count the calls that
// completed in that second; started and lag_* the calls whose intended start
// fell in it (lag: actual start after the intended one, the open loop's delay).
typedef struct pl_second {
	uint64_t n, errors;
	uint64_t lat_sum_ns, lat_max_ns;
	uint64_t started;
	uint64_t lag_sum_ns, lag_max_ns;
} pl_second;

typedef struct pl_stats {
	pl_opstats ops[PL_OP_COUNT];
	pl_second *tl; // PL_TIMELINE_MAX * PL_OP_COUNT entries: see pl_stats_second
	size_t tl_len; // seconds used (highest index + 1)
	pl_errgroup errs[PL_ERR_GROUPS];
	size_t n_errs;
	uint64_t errs_other;
} pl_stats;

int pl_stats_init(pl_stats *s);
void pl_stats_free(pl_stats *s);
// Records one completed call: its op, code, latency, the second (from the
// start of measurement) it completed in, and for errors the message (may be NULL).
void pl_stats_record(pl_stats *s, pl_op op, unsigned code, uint64_t lat_ns, uint64_t second,
                     const char *msg);
// Records the start of one measured call: `second` is the second its intended
// start fell in, lag_ns how much later it actually started.
void pl_stats_record_start(pl_stats *s, pl_op op, uint64_t second, uint64_t lag_ns);
void pl_stats_merge(pl_stats *dst, const pl_stats *src);
// Second `second` (< tl_len) of op, inside s->tl.
const pl_second *pl_stats_second(const pl_stats *s, size_t second, pl_op op);
// The same second summed over ops (lag_max: the largest).
void pl_stats_second_all(const pl_stats *s, size_t second, pl_second *out);

// Sums over ops.
uint64_t pl_opstats_total(const pl_opstats *o);
uint64_t pl_opstats_errors(const pl_opstats *o);
void pl_stats_all(const pl_stats *s, pl_opstats *out);

const char *pl_op_name(pl_op op);
// "get" -> PL_OP_GET; -1 when unknown.
int pl_op_parse(const char *name, size_t len);
const char *pl_code_name(unsigned code);

#endif
