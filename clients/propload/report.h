// pl_report: a run's results as the versioned JSON document (schema.json,
// README.md) and the renderings made from that document: the human summary,
// CSV and a self-contained HTML page. Every output is built from the JSON, so
// `propload report FILE.json` can redraw any of them later.
//
// Pure functions over their arguments, no state. Writers return 0, or -1 with
// a reason in err[errcap]. json_t values returned are the caller's (json_decref).
#ifndef PL_REPORT_H
#define PL_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "driver.h"
#include "mix.h"

#define PL_SCHEMA_VERSION 1

// What was asked for: echoed into "config".
typedef struct pl_report_cfg {
	unsigned conc;
	double rate;
	double duration_s;
	uint64_t count;
	double warmup_s;
	uint32_t timeout_ms;
	const char *const *urls;
	size_t nurls;
	const pl_mix *mix; // NULL in generic mode
	const char *call;  // generic mode method path, or NULL
	uint64_t seed;
	const char *key_dist; // "uniform", "zipf", "sequential"
	double zipf_s;
	const char *label;               // free text (--label), may be NULL
	const char *method[PL_OP_COUNT]; // full method path per op
} pl_report_cfg;

json_t *pl_report_json(const pl_report_cfg *cfg, const pl_run *run);

void pl_report_print(FILE *f, const json_t *doc);
int pl_report_write_json(const json_t *doc, const char *path, char *err, size_t errcap);
int pl_report_write_csv(const json_t *doc, const char *path, char *err, size_t errcap);
int pl_report_write_html(const json_t *doc, const char *path, char *err, size_t errcap);

// Small accessors shared by the renderers (0 / "" when missing).
double pl_jnum(const json_t *o, const char *key);
const char *pl_jstr(const json_t *o, const char *key);

#endif
