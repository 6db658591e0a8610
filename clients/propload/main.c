// propload: the load-test harness. Subcommands: run (default), seed, compare,
// report. See README.md.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "compare.h"
#include "driver.h"
#include "ids.h"
#include "opts.h"
#include "report.h"
#include "secret.h"
#include "workload.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void driver_cfg(const pl_opts *o, pl_driver_cfg *d)
{
	memset(d, 0, sizeof(*d));
	d->urls = o->urls;
	d->nurls = o->nurls;
	d->conc = o->conc;
	d->rate = o->rate;
	d->duration_s = o->duration_s;
	d->count = o->count;
	d->warmup_s = o->warmup_s;
	d->timeout_ms = o->timeout_ms;
	d->sockets = o->sockets;
	d->seed = o->seed;
	d->tls = &o->tls;
	d->progress = !o->quiet && isatty(STDERR_FILENO);
	d->stop = &stop_flag;
}

static void workload_cfg(const pl_opts *o, const pl_secret *s, pl_workload_cfg *w)
{
	memset(w, 0, sizeof(*w));
	w->mix = o->mix;
	w->owners = o->owners;
	w->dist = o->zipf_s > 0 ? PL_KEYS_ZIPF : o->sequential ? PL_KEYS_SEQ : PL_KEYS_UNIFORM;
	w->zipf_s = o->zipf_s;
	w->keys = o->keys;
	w->timeout_ms = o->timeout_ms;
	w->secret = s->data;
	w->secret_len = s->len;
	w->token = o->token;
	w->call_method = o->call;
	w->call_data = o->data;
	w->urls = o->urls;
	w->nurls = o->nurls;
	w->tls = &o->tls;
	w->echo_bytes = o->echo_bytes;
	w->idempotent = o->idempotent;
}

// Creates `n` properties through the API (closed loop, o->conc callers) and
// adds their ids to *ids.
static int seed_ids(const pl_opts *o, const pl_secret *s, uint64_t n, pl_ids *ids, char *err,
                    size_t errcap)
{
	pl_opts so = *o;
	so.call = NULL;
	so.echo_bytes = 0;
	so.rate = 0;
	so.duration_s = 0;
	so.warmup_s = 0;
	so.count = n;
	memset(&so.mix, 0, sizeof so.mix);
	so.mix.w[PL_OP_CREATE] = so.mix.total = 1;
	pl_workload_cfg wc;
	workload_cfg(&so, s, &wc);
	wc.collect = true;
	wc.dist = PL_KEYS_UNIFORM;
	pl_workload *w;
	if (pl_workload_open(&w, &wc, ids, err, errcap) != 0)
		return -1;
	pl_driver_cfg dc;
	driver_cfg(&so, &dc);
	pl_run run;
	int rc = pl_driver_run(&dc, w, &run, err, errcap);
	pl_workload_close(w);
	if (rc != 0)
		return -1;
	pl_opstats all;
	pl_stats_all(&run.stats, &all);
	if (!o->quiet)
		fprintf(stderr, "seeded %zu properties in %.1fs (%.0f/s), %llu errors\n", ids->n,
		        run.wall_s, run.wall_s > 0 ? (double)ids->n / run.wall_s : 0,
		        (unsigned long long)pl_opstats_errors(&all));
	if (ids->n == 0) {
		snprintf(err, errcap, "no property was created (%s)",
		         run.stats.n_errs ? run.stats.errs[0].msg : "no reply");
		rc = -1;
	}
	pl_run_free(&run);
	return rc;
}

static int write_outputs(const pl_opts *o, const json_t *doc, char *err, size_t errcap)
{
	if (o->json && pl_report_write_json(doc, o->json, err, errcap) != 0)
		return -1;
	if (o->csv && pl_report_write_csv(doc, o->csv, err, errcap) != 0)
		return -1;
	if (o->html && pl_report_write_html(doc, o->html, err, errcap) != 0)
		return -1;
	return 0;
}

static int cmd_run(const pl_opts *o, char *err, size_t errcap)
{
	pl_secret sec = {0};
	pl_ids ids = {0};
	pl_workload *w = NULL;
	pl_run run;
	bool have_run = false;
	json_t *doc = NULL;
	char *data = NULL;
	int rc = 1;
	if (pl_secret_get(o->secret_file, o->token, &sec, err, errcap) != 0)
		goto done;
	bool needs_ids = !o->call && (o->mix.w[PL_OP_GET] || o->mix.w[PL_OP_UPDATE]);
	if (needs_ids && o->ids_file && pl_ids_load(&ids, o->ids_file, err, errcap) != 0)
		goto done;
	if (needs_ids && !o->ids_file) {
		if (o->prepare == 0) {
			snprintf(err, errcap, "get/update need ids: --ids FILE or --prepare N");
			goto done;
		}
		if (seed_ids(o, &sec, o->prepare, &ids, err, errcap) != 0)
			goto done;
	}
	pl_workload_cfg wc;
	workload_cfg(o, &sec, &wc);
	if (o->data && o->data[0] == '@') { // --data @FILE
		FILE *f = fopen(o->data + 1, "r");
		if (!f) {
			snprintf(err, errcap, "--data: cannot open %s", o->data + 1);
			goto done;
		}
		data = pdc_read_stream(f, PDC_MAX_INPUT, err, errcap);
		fclose(f);
		if (!data)
			goto done;
		wc.call_data = data;
	}
	if (pl_workload_open(&w, &wc, &ids, err, errcap) != 0)
		goto done;
	pl_driver_cfg dc;
	driver_cfg(o, &dc);
	if (pl_driver_run(&dc, w, &run, err, errcap) != 0)
		goto done;
	have_run = true;
	pl_report_cfg rc_ = {.conc = o->conc,
	                     .rate = o->rate,
	                     .duration_s = o->duration_s,
	                     .count = o->count,
	                     .warmup_s = o->warmup_s,
	                     .timeout_ms = o->timeout_ms,
	                     .urls = o->urls,
	                     .nurls = o->nurls,
	                     .mix = o->call ? NULL : &o->mix,
	                     .call = o->call ? pl_workload_method(w, PL_OP_CALL) : NULL,
	                     .seed = o->seed,
	                     .key_dist = o->zipf_s > 0   ? "zipf"
	                                 : o->sequential ? "sequential"
	                                                 : "uniform",
	                     .zipf_s = o->zipf_s,
	                     .label = o->label};
	for (int i = 0; i < PL_OP_COUNT; i++)
		rc_.method[i] = pl_workload_method(w, (pl_op)i);
	doc = pl_report_json(&rc_, &run);
	if (!doc) {
		snprintf(err, errcap, "out of memory building the report");
		goto done;
	}
	if (!o->quiet)
		pl_report_print(stdout, doc);
	if (write_outputs(o, doc, err, errcap) != 0)
		goto done;
	// Exit 1 when nothing succeeded: a run against a dead or misconfigured server.
	rc = pl_jnum(json_object_get(doc, "summary"), "ok") > 0 ? 0 : 1;
	if (rc)
		snprintf(err, errcap, "no call succeeded");
done:
	json_decref(doc);
	if (have_run)
		pl_run_free(&run);
	pl_workload_close(w);
	pl_ids_free(&ids);
	pl_secret_free(&sec);
	free(data);
	return rc;
}

static int cmd_seed(const pl_opts *o, char *err, size_t errcap)
{
	pl_secret sec = {0};
	pl_ids ids = {0};
	int rc = 1;
	if (!o->properties || !o->ids_file) {
		snprintf(err, errcap, "seed needs --properties N and --ids FILE");
		return 1;
	}
	if (pl_secret_get(o->secret_file, o->token, &sec, err, errcap) == 0 &&
	    seed_ids(o, &sec, o->properties, &ids, err, errcap) == 0 &&
	    pl_ids_save(&ids, o->ids_file, err, errcap) == 0)
		rc = 0;
	pl_ids_free(&ids);
	pl_secret_free(&sec);
	return rc;
}

static json_t *load_doc(const char *path, char *err, size_t errcap)
{
	json_error_t je;
	json_t *d = json_load_file(path, 0, &je);
	if (!d)
		snprintf(err, errcap, "%s:%d: %s", path, je.line, je.text);
	return d;
}

static int cmd_compare(int argc, char **argv, char *err, size_t errcap)
{
	if (argc != 3) {
		snprintf(err, errcap, "usage: propload compare A.json B.json");
		return 2;
	}
	json_t *a = load_doc(argv[1], err, errcap), *b = a ? load_doc(argv[2], err, errcap) : NULL;
	int rc = 1;
	if (a && b) {
		rc = pl_compare_print(stdout, a, b) == 0 ? 0 : 1;
		if (rc)
			snprintf(err, errcap, "not propload results");
	}
	json_decref(a);
	json_decref(b);
	return rc;
}

static int cmd_report(int argc, char **argv, char *err, size_t errcap)
{
	if (argc < 2) {
		snprintf(err, errcap, "usage: propload report A.json [--csv F] [--html F]");
		return 2;
	}
	const char *file = argv[1];
	pl_opts o;
	if (pl_opts_parse(&o, argc - 1, argv + 1, false, err, errcap) != 0)
		return 2;
	o.json = NULL;
	json_t *doc = load_doc(file, err, errcap);
	if (!doc)
		return 1;
	if (!o.csv && !o.html)
		pl_report_print(stdout, doc);
	int rc = write_outputs(&o, doc, err, errcap) == 0 ? 0 : 1;
	json_decref(doc);
	return rc;
}

int main(int argc, char **argv)
{
	char err[512] = "";
	int rc;
	const char *sub = argc > 1 ? argv[1] : "";
	if (argc < 2) { // a run needs at least a URL or a mix: say how, start nothing
		pl_usage(stderr);
		return 2;
	}
	if (strcmp(sub, "--version") == 0 || strcmp(sub, "version") == 0) {
		printf("propload %s\n", PROPERTYD_VERSION);
		return 0;
	}
	if (strcmp(sub, "compare") == 0) {
		rc = cmd_compare(argc - 1, argv + 1, err, sizeof err);
	} else if (strcmp(sub, "report") == 0) {
		rc = cmd_report(argc - 1, argv + 1, err, sizeof err);
	} else {
		bool seed = strcmp(sub, "seed") == 0;
		int skip = seed || strcmp(sub, "run") == 0 ? 1 : 0;
		pl_opts o;
		if (pl_opts_parse(&o, argc - skip, argv + skip, seed, err, sizeof err) != 0) {
			if (strcmp(err, "help") == 0)
				return 0;
			fprintf(stderr, "propload: %s\n", err);
			return 2;
		}
		install_signals();
		rc = seed ? cmd_seed(&o, err, sizeof err) : cmd_run(&o, err, sizeof err);
	}
	if (rc != 0 && err[0])
		fprintf(stderr, "propload: %s\n", err);
	return rc;
}
