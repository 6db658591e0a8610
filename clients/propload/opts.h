// pl_opts: propload's command line: flags into one options struct, and the
// checks of each value (durations through pdc_duration_flag, cli.h). No
// state; errors as -1 with a reason.
#ifndef PL_OPTS_H
#define PL_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "driver.h"
#include "mix.h"
#include "nrpc/tls.h"

#define PL_MAX_URLS 32

typedef struct pl_opts {
	const char *urls[PL_MAX_URLS];
	size_t nurls;
	char urlbuf[4096];
	unsigned conc;
	double rate, duration_s, warmup_s;
	uint64_t count;
	uint32_t timeout_ms;
	const char *mix_spec;
	pl_mix mix;
	uint64_t seed;
	double zipf_s;
	bool sequential;
	size_t keys;
	unsigned owners;
	const char *ids_file;
	uint64_t prepare; // properties to create first when get/update need ids and --ids is absent
	uint64_t properties; // seed: how many to create
	const char *call, *data;
	size_t echo_bytes;
	bool idempotent; // --idempotent: creates carry an idempotency-key
	const char *token, *secret_file;
	unsigned sockets;
	const char *json, *csv, *html, *label;
	bool quiet;
	nrpc_tls tls; // for tls+tcp:// URLs: flags over env PROPCTL_TLS_*
} pl_opts;

// Fills *o from argv (after the subcommand); "seed" mode accepts --properties.
int pl_opts_parse(pl_opts *o, int argc, char **argv, bool seed, char *err, size_t errcap);
// Prints the usage text on f (stdout for --help, stderr for a usage error).
void pl_usage(FILE *f);

#endif
