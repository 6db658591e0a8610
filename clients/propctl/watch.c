// propctl watch: one JSON line per domain event, exactly once, in seq order.
#include "watch.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pbjson.h"
#include "propctl.h"
#include "propsub.h"

// Default events URL of propertyd (docs/contract.md section 1, EVENTS_URL).
#define WATCH_DEFAULT_EVENTS_URL "tcp://127.0.0.1:7701"
// A watch runs for long: a token it mints itself should outlive it, but
// propertyd refuses tokens living longer than TOKEN_MAX_LIFETIME (24 h by
// default): 23 h leaves an hour for clock skew. A longer watch needs --token.
#define WATCH_TOKEN_TTL_S (23 * 3600)
// ReadEvents' status when events after the asked seq were pruned.
#define WATCH_OUT_OF_RANGE 11u
// The subject of a minted token.
#define WATCH_TOKEN_SUB "propctl"

static const char usage[] =
    "usage: propctl watch [--url URL]... [--rpc-url URL]... [--from SEQ]\n"
    "                     [--type PREFIX] [--token T] [--count N] [--filter-locally]\n"
    "                     [--accept-gaps]\n"
    "\n"
    "Follows the event stream and prints one JSON object per event on stdout:\n"
    "  {\"seq\":N,\"id\":..,\"type\":..,\"aggregate_id\":..,\"owner_id\":..,\n"
    "   \"occurred_at_us\":N,\"property\":{..}}\n"
    "Every event is printed once, in seq order; events missed on the stream are\n"
    "read back through EventService/ReadEvents (a note says so on stderr).\n"
    "\n"
    "  --url URL        events (PUB) URL, repeatable: one per instance (default\n"
    "                   env PROPCTL_EVENTS_URL, comma-separated, else\n"
    "                   " WATCH_DEFAULT_EVENTS_URL ")\n"
    "  --rpc-url URL    RPC URL for ReadEvents, repeatable, balanced like propctl\n"
    "                   call's --url (default env PROPCTL_URL, else " PDC_DEFAULT_URL ")\n"
    "  --from SEQ       print events after SEQ (0: the whole log); default: only\n"
    "                   events from now on\n"
    "  --type PREFIX    only types starting with PREFIX, e.g. property.created\n"
    "  --token T        bearer token (default env PROPCTL_TOKEN, else one minted\n"
    "                   from env AUTH_SECRET for sub \"" WATCH_TOKEN_SUB "\", else none)\n"
    "  --count N        exit after N events\n"
    "  --filter-locally receive every type and filter here (no ReadEvents call\n"
    "                   for other types' seqs)\n"
    "  --accept-gaps    when events to print were pruned from the log (the\n"
    "                   server answers OUT_OF_RANGE), say so and go on from the\n"
    "                   oldest event kept; without it the watch stops (status 1)\n"
    "\n"
    "Runs until SIGINT/SIGTERM or --count. exit status: 0 done; 1 the event\n"
    "socket failed, or events were pruned (without --accept-gaps); 64 usage error.\n";

// The one subscriber of this process, for the signal handler (which runs on
// the main thread only: see propctl_watch_main).
static propsub *volatile g_sub;

static void on_signal(int sig)
{
	(void)sig;
	if (g_sub != NULL)
		propsub_stop(g_sub);
}

typedef struct watch_state {
	propsub *sub; // set before run
	long long count;
	long long printed;
	int failed;        // an event could not be printed
	unsigned err_code; // the final error propsub reported (0: none)
	char err_msg[256]; // its message
} watch_state;

// The event as a JSON object; the property in the proto3 JSON mapping
// (as `propctl call` prints it). NULL on allocation failure.
static json_t *event_json(const Property__V1__Event *ev)
{
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "seq", json_integer((json_int_t)ev->seq));
	json_object_set_new(o, "id", json_string(ev->id));
	json_object_set_new(o, "type", json_string(ev->type));
	json_object_set_new(o, "aggregate_id", json_string(ev->aggregate_id));
	json_object_set_new(o, "owner_id", json_string(ev->owner_id));
	json_object_set_new(o, "occurred_at_us", json_integer(ev->occurred_at_us));
	json_t *prop = NULL;
	if (ev->property != NULL) {
		char *text = pdc_pbjson_encode(&ev->property->base, PBJSON_EMIT_DEFAULTS);
		if (text != NULL)
			prop = json_loads(text, 0, NULL);
		free(text);
	}
	json_object_set_new(o, "property", prop != NULL ? prop : json_null());
	return o;
}

static void on_event(const Property__V1__Event *ev, void *arg)
{
	watch_state *w = arg;
	json_t *o = event_json(ev);
	char *line = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (line != NULL) {
		printf("%s\n", line);
		fflush(stdout);
		free(line);
	} else {
		fprintf(stderr, "propctl watch: cannot render event %" PRIu64 "\n", ev->seq);
		w->failed = 1;
	}
	json_decref(o);
	if (w->count > 0 && ++w->printed >= w->count)
		propsub_stop(w->sub);
}

static void on_reread(uint64_t from, uint64_t to, void *arg)
{
	(void)arg;
	fprintf(stderr,
	        "propctl watch: note: seq %" PRIu64 "..%" PRIu64
	        " re-read from the event log (not received live)\n",
	        from, to);
}

static void on_error(unsigned code, const char *message, void *arg)
{
	watch_state *w = arg;
	w->err_code = code;
	snprintf(w->err_msg, sizeof w->err_msg, "%s", message);
}

// The seq to resume from after OUT_OF_RANGE, read from the server's message
// (docs/contract.md §6: "... the oldest kept is N" or "... none is kept (last
// seq N)"). Returns false when the message names neither.
static bool resume_seq(const char *msg, uint64_t *from)
{
	const char *p = strstr(msg, "the oldest kept is ");
	if (p != NULL) {
		uint64_t oldest = strtoull(p + strlen("the oldest kept is "), NULL, 10);
		if (oldest == 0)
			return false;
		*from = oldest - 1;
		return true;
	}
	p = strstr(msg, "(last seq ");
	if (p != NULL) {
		*from = strtoull(p + strlen("(last seq "), NULL, 10);
		return true;
	}
	return false;
}

static int parse_seq(const char *s, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v >= PROPSUB_FROM_NOW)
		return -1;
	*out = v;
	return 0;
}

static int add_url(const char **urls, size_t *n, const char *url)
{
	if (*n == PDC_MAX_URLS) {
		fprintf(stderr, "propctl watch: at most %d URLs of each kind\n", PDC_MAX_URLS);
		return -1;
	}
	urls[(*n)++] = url;
	return 0;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

// The command line of a watch, and the buffers its URLs from the environment live in.
typedef struct watch_args {
	const char *ev_urls[PDC_MAX_URLS], *rpc_urls[PDC_MAX_URLS];
	size_t n_ev, n_rpc;
	char evbuf[4096], rpcbuf[4096];
	propsub_config cfg;
	const char *token;
	long long count;
	bool accept_gaps;
} watch_args;

// One flag into *a: 0, or -1 with the reason on stderr (a usage error).
static int watch_flag(watch_args *a, int c, const char *arg)
{
	switch (c) {
	case 'u':
		return add_url(a->ev_urls, &a->n_ev, arg);
	case 'r':
		return add_url(a->rpc_urls, &a->n_rpc, arg);
	case 'f':
		if (parse_seq(arg, &a->cfg.from_seq) != 0) {
			fprintf(stderr, "propctl watch: --from wants a seq (0 or more)\n");
			return -1;
		}
		return 0;
	case 't':
		a->cfg.type_prefix = arg;
		return 0;
	case 'k':
		a->token = arg;
		return 0;
	case 'n':
		a->count = propctl_parse_positive(arg, INT64_MAX);
		if (a->count < 0) {
			fprintf(stderr, "propctl watch: --count wants a positive number\n");
			return -1;
		}
		return 0;
	case 'l':
		a->cfg.filter_locally = true;
		return 0;
	case 'g':
		a->accept_gaps = true;
		return 0;
	default:
		fputs(usage, stderr);
		return -1;
	}
}

// The command line into *a, URLs defaulted from the environment: true to go on; false to
// exit with *rc (--help, or a usage error).
static bool parse_watch_args(watch_args *a, int argc, char **argv, int *rc)
{
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},      {"rpc-url", required_argument, NULL, 'r'},
	    {"from", required_argument, NULL, 'f'},     {"type", required_argument, NULL, 't'},
	    {"token", required_argument, NULL, 'k'},    {"count", required_argument, NULL, 'n'},
	    {"filter-locally", no_argument, NULL, 'l'}, {"accept-gaps", no_argument, NULL, 'g'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	a->cfg = (propsub_config){.from_seq = PROPSUB_FROM_NOW, .type_prefix = ""};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "u:r:f:t:k:n:lgh", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			*rc = PROPCTL_EXIT_OK;
			return false;
		}
		if (watch_flag(a, c, optarg) != 0) {
			*rc = PROPCTL_EXIT_USAGE;
			return false;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		*rc = PROPCTL_EXIT_USAGE;
		return false;
	}
	if (a->n_ev == 0)
		a->n_ev = pdc_split_urls(getenv("PROPCTL_EVENTS_URL"), a->evbuf, sizeof a->evbuf,
		                         a->ev_urls, PDC_MAX_URLS);
	if (a->n_ev == 0)
		a->ev_urls[a->n_ev++] = WATCH_DEFAULT_EVENTS_URL;
	a->n_rpc = propctl_urls(a->rpc_urls, a->n_rpc, PDC_MAX_URLS, a->rpcbuf, sizeof a->rpcbuf);
	return true;
}

// The token (given, or minted from AUTH_SECRET) into *tok and the TLS settings into *tls;
// -1 with the reason on stderr.
static int watch_credentials(const watch_args *a, char **tok, nrpc_tls *tls)
{
	char err[256];
	const char *sub = getenv("AUTH_SECRET") != NULL ? WATCH_TOKEN_SUB : NULL;
	if (pdc_token_resolve(a->token, sub, NULL, WATCH_TOKEN_TTL_S, tok, err, sizeof err) != 0) {
		fprintf(stderr, "propctl watch: %s\n", err);
		return -1;
	}
	// ReadEvents and tls+tcp:// event URLs use the same TLS settings as propctl call.
	if (pdc_tls_from_env(tls, err, sizeof err) != 0 ||
	    pdc_tls_check(a->rpc_urls, a->n_rpc, tls, PDC_TLS_CA_HINT, PDC_TLS_INSECURE_HINT, err,
	                  sizeof err) != 0 ||
	    pdc_tls_check(a->ev_urls, a->n_ev, tls, PDC_TLS_CA_HINT, PDC_TLS_INSECURE_HINT, err,
	                  sizeof err) != 0) {
		fprintf(stderr, "propctl watch: %s\n", err);
		free(*tok);
		*tok = NULL;
		return -1;
	}
	return 0;
}

// Opens w->sub on cfg with SIGINT/SIGTERM routed to it; -1 with the reason on stderr.
static int open_subscriber(watch_state *w, const propsub_config *cfg)
{
	// nng's threads start in propsub_open and inherit this mask: with the
	// signals blocked there, the handler runs only on this thread, which
	// is also the one that closes the subscriber.
	char err[256];
	sigset_t sigs, old;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	w->err_code = 0;
	int orc = propsub_open(&w->sub, cfg, err, sizeof err);
	if (orc == 0) {
		g_sub = w->sub;
		install_signals();
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (orc != 0) {
		fprintf(stderr, "propctl watch: %s\n", err);
		return -1;
	}
	return 0;
}

// After a run that ended with status rc: true, with the seq to go on after in *from, when
// the run stopped on pruned events, --accept-gaps was given and the server named a later
// seq to resume from (says so on stderr); false to stop.
static bool resume_after_gap(const watch_state *w, bool accept_gaps, int rc, uint64_t *from)
{
	bool gap = rc != PROPCTL_EXIT_OK && w->err_code == WATCH_OUT_OF_RANGE;
	if (!gap || !accept_gaps || !resume_seq(w->err_msg, from) ||
	    *from <= propsub_position(w->sub)) {
		if (gap)
			fprintf(stderr, "propctl watch: events were pruned from the log; "
			                "--accept-gaps goes on from the oldest one kept\n");
		return false;
	}
	fprintf(stderr,
	        "propctl watch: gap: events after seq %" PRIu64 " up to %" PRIu64
	        " were pruned and are skipped; going on after seq %" PRIu64 "\n",
	        propsub_position(w->sub), *from, *from);
	return true;
}

// Runs subscribers on cfg until one stops for good (a new one after each accepted gap);
// the exit status. w->sub is left for the caller to close.
static int watch_run(watch_state *w, propsub_config *cfg, bool accept_gaps)
{
	int rc = PROPCTL_EXIT_OK;
	for (;;) {
		if (open_subscriber(w, cfg) != 0)
			return PROPCTL_EXIT_USAGE;
		if (propsub_run(w->sub, -1) != 0)
			rc = PROPCTL_EXIT_FAIL;
		g_sub = NULL;
		uint64_t from = 0;
		if (!resume_after_gap(w, accept_gaps, rc, &from))
			break;
		propsub_close(w->sub);
		w->sub = NULL;
		cfg->from_seq = from;
		rc = PROPCTL_EXIT_OK;
	}
	if (w->failed)
		rc = PROPCTL_EXIT_FAIL;
	return rc;
}

int propctl_watch_main(int argc, char **argv)
{
	watch_args a = {0};
	int rc;
	if (!parse_watch_args(&a, argc, argv, &rc))
		return rc;
	char *tok = NULL;
	nrpc_tls tls;
	if (watch_credentials(&a, &tok, &tls) != 0)
		return PROPCTL_EXIT_USAGE;
	watch_state w = {.count = a.count};
	propsub_config *cfg = &a.cfg;
	cfg->rpc_tls = &tls;
	cfg->events_tls = &tls;
	cfg->event_urls = a.ev_urls;
	cfg->n_event_urls = a.n_ev;
	cfg->rpc_urls = a.rpc_urls;
	cfg->n_rpc_urls = a.n_rpc;
	cfg->token = tok;
	cfg->on_event = on_event;
	cfg->on_reread = on_reread;
	cfg->on_error = on_error;
	cfg->arg = &w;
	rc = watch_run(&w, cfg, a.accept_gaps);
	propsub_close(w.sub);
	free(tok);
	return rc;
}
