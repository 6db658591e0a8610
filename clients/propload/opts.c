// Command-line parsing: see cli.h.
#include "opts.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

// Longest run (and warm-up) accepted: the timeline keeps an hour (PL_TIMELINE_MAX).
#define MAX_DURATION_US (3600LL * 1000000)
// Per-call timeouts: 1 ms .. 10 minutes.
#define MIN_TIMEOUT_US 1000
#define MAX_TIMEOUT_US (600LL * 1000000)

// A duration flag (cli.h: a bare number is in seconds, propload's unit from
// the start) into seconds; -1 with the reason in err.
static int duration_flag(const char *flag, const char *a, int64_t min_us, int64_t max_us,
                         double *out_s, char *err, size_t errcap)
{
	int64_t us;
	if (pdc_duration_flag(flag, a, BASE_DUR_S, min_us, max_us, &us, err, errcap) != 0)
		return -1;
	*out_s = (double)us / 1e6;
	return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || *end || v > max || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static int add_urls(pl_opts *o, const char *list, size_t *used)
{
	size_t len = strlen(list);
	if (*used + len + 1 > sizeof o->urlbuf)
		return -1;
	char *p = o->urlbuf + *used;
	memcpy(p, list, len + 1);
	*used += len + 1;
	for (char *tok = strtok(p, ","); tok; tok = strtok(NULL, ",")) {
		if (o->nurls == PL_MAX_URLS)
			return -1;
		o->urls[o->nurls++] = tok;
	}
	return 0;
}

void pl_usage(FILE *f)
{
	fputs(
	    "usage:\n"
	    "  propload [run] [flags]             drive load and report\n"
	    "  propload seed --properties N [--owners M] --ids FILE [flags]\n"
	    "  propload compare A.json B.json     per-method differences\n"
	    "  propload report A.json [--csv F] [--html F]   re-render a saved result\n"
	    "  propload --help | --version        (with no arguments: this text, status 2)\n"
	    "load:   -c N (callers; open loop: most in flight)  -R RPS (open loop)\n"
	    "        -d DUR (10s) | -n COUNT   --warmup DUR   --timeout DUR (10s)\n"
	    "        DUR: a number and a unit, us ms s m h d (250ms, 1.5s, 2m); a bare\n"
	    "        number is in seconds\n"
	    "        -u URL (repeat or comma list)  --sockets N (in all)\n"
	    "        several URLs, or dns+tcp://HOST:PORT (every address of HOST, resolved\n"
	    "        at start): each call goes to the next instance (round robin) whose\n"
	    "        health check (every 500 ms) says SERVING; a read whose instance dies\n"
	    "        goes to another, other calls lost that way count as UNAVAILABLE\n"
	    "work:   --mix get=90,list=5,create=4,update=1 (also search, delete)\n"
	    "        --seed N  --owners M (100)  --ids FILE  --prepare N (1000)\n"
	    "        --zipf S | --sequential   --keys N (use the first N ids)\n"
	    "        --call METHOD --data JSON|@FILE  (any method, generic; one propload was\n"
	    "        not compiled with is described by the server's rpc.v1.Reflection)\n"
	    "        --echo BYTES  (against bench/echo_server: bytes echoed back as an OK reply)\n"
	    "        --idempotent  (each create carries its own idempotency-key: safe to retry)\n"
	    "auth:   tokens minted per owner from env AUTH_SECRET or --auth-secret-file F;\n"
	    "        --token T sends one fixed token\n"
	    "output: --json F  --csv F  --html F  --label TEXT  -q\n"
	    "tls:    for tls+tcp:// URLs (defaults: env PROPCTL_TLS_CA, _CERT, _KEY,\n"
	    "        _SERVER_NAME, _INSECURE): --tls-ca F (verify the server; required\n"
	    "        unless --tls-insecure)  --tls-cert F --tls-key F (mutual TLS)\n"
	    "        --tls-server-name N  --tls-insecure (do not verify; warns)\n",
	    f);
}

enum {
	O_WARMUP = 256,
	O_TIMEOUT,
	O_MIX,
	O_SEED,
	O_ZIPF,
	O_SEQ,
	O_KEYS,
	O_OWNERS,
	O_IDS,
	O_PREPARE,
	O_PROPS,
	O_CALL,
	O_DATA,
	O_TOKEN,
	O_SECRET,
	O_SOCKETS,
	O_JSON,
	O_CSV,
	O_HTML,
	O_LABEL,
	O_ECHO,
	O_IDEMPOTENT,
	O_TLS_CA,
	O_TLS_CERT,
	O_TLS_KEY,
	O_TLS_NAME,
	O_TLS_INSECURE,
};

static const struct option longs[] = {{"concurrency", required_argument, 0, 'c'},
                                      {"rate", required_argument, 0, 'R'},
                                      {"duration", required_argument, 0, 'd'},
                                      {"requests", required_argument, 0, 'n'},
                                      {"url", required_argument, 0, 'u'},
                                      {"quiet", no_argument, 0, 'q'},
                                      {"warmup", required_argument, 0, O_WARMUP},
                                      {"timeout", required_argument, 0, O_TIMEOUT},
                                      {"mix", required_argument, 0, O_MIX},
                                      {"seed", required_argument, 0, O_SEED},
                                      {"zipf", required_argument, 0, O_ZIPF},
                                      {"sequential", no_argument, 0, O_SEQ},
                                      {"keys", required_argument, 0, O_KEYS},
                                      {"owners", required_argument, 0, O_OWNERS},
                                      {"ids", required_argument, 0, O_IDS},
                                      {"prepare", required_argument, 0, O_PREPARE},
                                      {"properties", required_argument, 0, O_PROPS},
                                      {"call", required_argument, 0, O_CALL},
                                      {"data", required_argument, 0, O_DATA},
                                      {"token", required_argument, 0, O_TOKEN},
                                      {"auth-secret-file", required_argument, 0, O_SECRET},
                                      {"sockets", required_argument, 0, O_SOCKETS},
                                      {"json", required_argument, 0, O_JSON},
                                      {"csv", required_argument, 0, O_CSV},
                                      {"html", required_argument, 0, O_HTML},
                                      {"label", required_argument, 0, O_LABEL},
                                      {"echo", required_argument, 0, O_ECHO},
                                      {"idempotent", no_argument, 0, O_IDEMPOTENT},
                                      {"tls-ca", required_argument, 0, O_TLS_CA},
                                      {"tls-cert", required_argument, 0, O_TLS_CERT},
                                      {"tls-key", required_argument, 0, O_TLS_KEY},
                                      {"tls-server-name", required_argument, 0, O_TLS_NAME},
                                      {"tls-insecure", no_argument, 0, O_TLS_INSECURE},
                                      {"help", no_argument, 0, 'h'},
                                      {0, 0, 0, 0}};

// What a flag handler made of its flag: taken; a bad value (the caller says "bad value for
// FLAG"); an error whose reason is already in err; or not one of this handler's flags.
enum { FLAG_OK = 0, FLAG_BAD = 1, FLAG_ERR = -1, FLAG_NOT_MINE = 2 };

// The parse in progress: the options being filled and what the checks after the flags need.
typedef struct parse_state {
	pl_opts *o;
	bool seed;      // seed mode: --properties is accepted
	size_t used;    // bytes of o->urlbuf taken by -u lists
	bool dur_given; // -d was given (-n alone then runs until that many calls)
	char *err;
	size_t errcap;
} parse_state;

static void set_defaults(pl_opts *o, bool seed)
{
	memset(o, 0, sizeof(*o));
	o->conc = 16;
	o->duration_s = 10;
	o->timeout_ms = 10000;
	o->mix_spec = seed ? "create=1" : "get=90,list=5,create=4,update=1";
	o->seed = 1;
	o->owners = 100;
	o->prepare = 1000;
}

// A flag whose value is a count in 1..max, into *out.
static int count_flag(const char *a, uint64_t max, uint64_t *out)
{
	return parse_u64(a, max, out) || *out == 0 ? FLAG_BAD : FLAG_OK;
}

// load: how much, how fast, for how long, against which URLs.
static int load_flag(parse_state *st, int c, const char *a)
{
	pl_opts *o = st->o;
	uint64_t u;
	double dv;
	switch (c) {
	case 'c':
		if (count_flag(a, PL_MAX_CALLERS, &u))
			return FLAG_BAD;
		o->conc = (unsigned)u;
		return FLAG_OK;
	case 'R':
		o->rate = strtod(a, NULL);
		return o->rate <= 0 ? FLAG_BAD : FLAG_OK;
	case 'd':
		if (duration_flag("-d", a, 1000, MAX_DURATION_US, &o->duration_s, st->err,
		                  st->errcap))
			return FLAG_ERR;
		st->dur_given = true;
		return FLAG_OK;
	case 'n':
		return count_flag(a, UINT64_MAX / 2, &o->count);
	case 'u':
		return add_urls(o, a, &st->used) ? FLAG_BAD : FLAG_OK;
	case O_WARMUP:
		return duration_flag("--warmup", a, 0, MAX_DURATION_US, &o->warmup_s, st->err,
		                     st->errcap)
		           ? FLAG_ERR
		           : FLAG_OK;
	case O_TIMEOUT:
		if (duration_flag("--timeout", a, MIN_TIMEOUT_US, MAX_TIMEOUT_US, &dv, st->err,
		                  st->errcap))
			return FLAG_ERR;
		o->timeout_ms = (uint32_t)ceil(dv * 1000);
		return FLAG_OK;
	case O_SOCKETS:
		if (count_flag(a, 1024, &u))
			return FLAG_BAD;
		o->sockets = (unsigned)u;
		return FLAG_OK;
	default:
		return FLAG_NOT_MINE;
	}
}

// work: which calls, on which keys, with which data.
static int work_flag(parse_state *st, int c, const char *a)
{
	pl_opts *o = st->o;
	uint64_t u;
	switch (c) {
	case O_SEED:
		return parse_u64(a, UINT64_MAX, &o->seed) ? FLAG_BAD : FLAG_OK;
	case O_ZIPF:
		o->zipf_s = strtod(a, NULL);
		return o->zipf_s <= 0 || o->zipf_s > 10 ? FLAG_BAD : FLAG_OK;
	case O_KEYS:
		if (count_flag(a, PL_IDS_MAX, &u))
			return FLAG_BAD;
		o->keys = (size_t)u;
		return FLAG_OK;
	case O_OWNERS:
		if (count_flag(a, PL_OWNERS_MAX, &u))
			return FLAG_BAD;
		o->owners = (unsigned)u;
		return FLAG_OK;
	case O_PREPARE:
		return parse_u64(a, PL_IDS_MAX, &o->prepare) ? FLAG_BAD : FLAG_OK;
	case O_PROPS:
		return !st->seed ? FLAG_BAD : count_flag(a, PL_IDS_MAX, &o->properties);
	case O_ECHO:
		if (count_flag(a, 1u << 20, &u))
			return FLAG_BAD;
		o->echo_bytes = (size_t)u;
		return FLAG_OK;
	default:
		return FLAG_NOT_MINE;
	}
}

// The flags that only store their value (a string) or switch something on.
static int plain_flag(pl_opts *o, int c, const char *a)
{
	switch (c) {
	case 'q':
		o->quiet = true;
		break;
	case O_MIX:
		o->mix_spec = a;
		break;
	case O_SEQ:
		o->sequential = true;
		break;
	case O_IDS:
		o->ids_file = a;
		break;
	case O_CALL:
		o->call = a;
		break;
	case O_DATA:
		o->data = a;
		break;
	case O_IDEMPOTENT:
		o->idempotent = true;
		break;
	case O_TOKEN:
		o->token = a;
		break;
	case O_SECRET:
		o->secret_file = a;
		break;
	case O_JSON:
		o->json = a;
		break;
	case O_CSV:
		o->csv = a;
		break;
	case O_HTML:
		o->html = a;
		break;
	case O_LABEL:
		o->label = a;
		break;
	case O_TLS_CA:
		o->tls.ca_file = a;
		break;
	case O_TLS_CERT:
		o->tls.cert_file = a;
		break;
	case O_TLS_KEY:
		o->tls.key_file = a;
		break;
	case O_TLS_NAME:
		o->tls.server_name = a;
		break;
	case O_TLS_INSECURE:
		o->tls.insecure_skip_verify = true;
		break;
	default:
		return FLAG_NOT_MINE;
	}
	return FLAG_OK;
}

// One flag from getopt_long: FLAG_OK, FLAG_BAD or FLAG_ERR (--help and unknown flags are
// errors, with "help" or the reason in err).
static int apply_flag(parse_state *st, int c, const char *a)
{
	int r = load_flag(st, c, a);
	if (r == FLAG_NOT_MINE)
		r = work_flag(st, c, a);
	if (r == FLAG_NOT_MINE)
		r = plain_flag(st->o, c, a);
	if (r != FLAG_NOT_MINE)
		return r;
	if (c == 'h') {
		pl_usage(stdout);
		snprintf(st->err, st->errcap, "help");
	} else {
		snprintf(st->err, st->errcap, "unknown flag (see propload --help)");
	}
	return FLAG_ERR;
}

// The checks and derived values that need every flag: FLAG_OK, FLAG_BAD (the default URL
// list did not fit) or FLAG_ERR.
static int finish_opts(parse_state *st)
{
	pl_opts *o = st->o;
	char *err = st->err;
	size_t errcap = st->errcap;
	if (o->nurls == 0) {
		const char *env = getenv("PROPCTL_URL");
		if (add_urls(o, env && *env ? env : "tcp://127.0.0.1:7700", &st->used))
			return FLAG_BAD;
	}
	if ((o->tls.cert_file == NULL) != (o->tls.key_file == NULL)) {
		snprintf(err, errcap, "--tls-cert and --tls-key go together");
		return FLAG_ERR;
	}
	if (pdc_tls_check(o->urls, o->nurls, &o->tls, "--tls-ca or PROPCTL_TLS_CA",
	                  "pass --tls-insecure", err, errcap) != 0)
		return FLAG_ERR;
	if (o->count && !st->dur_given)
		o->duration_s = 0; // -n alone: until that many calls
	if (o->zipf_s > 0 && o->sequential) {
		snprintf(err, errcap, "--zipf and --sequential exclude each other");
		return FLAG_ERR;
	}
	if (o->echo_bytes && !o->call)
		o->call = "echo";
	if (!o->call && pl_mix_parse(o->mix_spec, &o->mix, err, errcap) != 0)
		return FLAG_ERR;
	return FLAG_OK;
}

int pl_opts_parse(pl_opts *o, int argc, char **argv, bool seed, char *err, size_t errcap)
{
	parse_state st = {.o = o, .seed = seed, .err = err, .errcap = errcap};
	set_defaults(o, seed);
	// TLS settings start from propctl's environment; flags override them.
	if (pdc_tls_from_env(&o->tls, err, errcap) != 0)
		return -1;
	int c, r = FLAG_OK;
	optind = 1;
	while (r == FLAG_OK && (c = getopt_long(argc, argv, "c:R:d:n:u:qh", longs, NULL)) != -1)
		r = apply_flag(&st, c, optarg);
	if (r == FLAG_OK && optind < argc) {
		snprintf(err, errcap, "unexpected argument %s", argv[optind]);
		return -1;
	}
	if (r == FLAG_OK)
		r = finish_opts(&st);
	if (r == FLAG_BAD)
		snprintf(err, errcap, "bad value for %s", argv[optind - 1]);
	return r == FLAG_OK ? 0 : -1;
}
