// Per-run measurements: see stats.h.
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[PL_OP_COUNT] = {"get",    "list",   "create", "update",
                                                  "search", "delete", "call"};

static const char *const code_names[PL_CODES] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

const char *pl_op_name(pl_op op)
{
	return op < PL_OP_COUNT ? op_names[op] : "?";
}

int pl_op_parse(const char *name, size_t len)
{
	for (int i = 0; i < PL_OP_COUNT; i++)
		if (strlen(op_names[i]) == len && strncmp(op_names[i], name, len) == 0)
			return i;
	return -1;
}

const char *pl_code_name(unsigned code)
{
	return code < PL_CODES ? code_names[code] : "UNKNOWN";
}

int pl_stats_init(pl_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < PL_OP_COUNT; i++)
		pl_hist_reset(&s->ops[i].lat);
	s->tl = calloc((size_t)PL_TIMELINE_MAX * PL_OP_COUNT, sizeof(*s->tl));
	return s->tl ? 0 : -1;
}

void pl_stats_free(pl_stats *s)
{
	free(s->tl);
	s->tl = NULL;
}

static void add_error(pl_stats *s, pl_op op, unsigned code, const char *msg, uint64_t count)
{
	char m[PL_ERR_MSG];
	snprintf(m, sizeof m, "%s", msg ? msg : "");
	for (size_t i = 0; i < s->n_errs; i++) {
		pl_errgroup *g = &s->errs[i];
		if (g->op == op && g->code == code && strcmp(g->msg, m) == 0) {
			g->count += count;
			return;
		}
	}
	if (s->n_errs == PL_ERR_GROUPS) {
		s->errs_other += count;
		return;
	}
	pl_errgroup *g = &s->errs[s->n_errs++];
	g->op = op;
	g->code = code;
	memcpy(g->msg, m, sizeof m);
	g->count = count;
}

void pl_stats_record(pl_stats *s, pl_op op, unsigned code, uint64_t lat_ns, uint64_t second,
                     const char *msg)
{
	if (code >= PL_CODES)
		code = 2; // UNKNOWN
	pl_opstats *o = &s->ops[op];
	pl_hist_record(&o->lat, lat_ns);
	o->codes[code]++;
	if (second >= PL_TIMELINE_MAX)
		second = PL_TIMELINE_MAX - 1;
	pl_second *t = &s->tl[second * PL_OP_COUNT + op];
	t->n++;
	t->lat_sum_ns += lat_ns;
	if (lat_ns > t->lat_max_ns)
		t->lat_max_ns = lat_ns;
	if (second + 1 > s->tl_len)
		s->tl_len = second + 1;
	if (code != 0) {
		t->errors++;
		add_error(s, op, code, msg, 1);
	}
}

void pl_stats_record_start(pl_stats *s, pl_op op, uint64_t second, uint64_t lag_ns)
{
	if (second >= PL_TIMELINE_MAX)
		second = PL_TIMELINE_MAX - 1;
	pl_second *t = &s->tl[second * PL_OP_COUNT + op];
	t->started++;
	t->lag_sum_ns += lag_ns;
	if (lag_ns > t->lag_max_ns)
		t->lag_max_ns = lag_ns;
	if (second + 1 > s->tl_len)
		s->tl_len = second + 1;
}

static void second_add(pl_second *d, const pl_second *t)
{
	d->n += t->n;
	d->errors += t->errors;
	d->lat_sum_ns += t->lat_sum_ns;
	if (t->lat_max_ns > d->lat_max_ns)
		d->lat_max_ns = t->lat_max_ns;
	d->started += t->started;
	d->lag_sum_ns += t->lag_sum_ns;
	if (t->lag_max_ns > d->lag_max_ns)
		d->lag_max_ns = t->lag_max_ns;
}

const pl_second *pl_stats_second(const pl_stats *s, size_t second, pl_op op)
{
	return &s->tl[second * PL_OP_COUNT + op];
}

void pl_stats_second_all(const pl_stats *s, size_t second, pl_second *out)
{
	memset(out, 0, sizeof(*out));
	for (int op = 0; op < PL_OP_COUNT; op++)
		second_add(out, pl_stats_second(s, second, (pl_op)op));
}

void pl_stats_merge(pl_stats *dst, const pl_stats *src)
{
	for (int i = 0; i < PL_OP_COUNT; i++) {
		pl_hist_merge(&dst->ops[i].lat, &src->ops[i].lat);
		for (int c = 0; c < PL_CODES; c++)
			dst->ops[i].codes[c] += src->ops[i].codes[c];
	}
	for (size_t i = 0; i < src->tl_len * PL_OP_COUNT; i++)
		second_add(&dst->tl[i], &src->tl[i]);
	if (src->tl_len > dst->tl_len)
		dst->tl_len = src->tl_len;
	for (size_t i = 0; i < src->n_errs; i++)
		add_error(dst, src->errs[i].op, src->errs[i].code, src->errs[i].msg,
		          src->errs[i].count);
	dst->errs_other += src->errs_other;
}

uint64_t pl_opstats_total(const pl_opstats *o)
{
	uint64_t n = 0;
	for (int c = 0; c < PL_CODES; c++)
		n += o->codes[c];
	return n;
}

uint64_t pl_opstats_errors(const pl_opstats *o)
{
	return pl_opstats_total(o) - o->codes[0];
}

void pl_stats_all(const pl_stats *s, pl_opstats *out)
{
	memset(out, 0, sizeof(*out));
	pl_hist_reset(&out->lat);
	for (int i = 0; i < PL_OP_COUNT; i++) {
		pl_hist_merge(&out->lat, &s->ops[i].lat);
		for (int c = 0; c < PL_CODES; c++)
			out->codes[c] += s->ops[i].codes[c];
	}
}
