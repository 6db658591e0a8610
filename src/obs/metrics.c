// obs metrics: families and series behind one mutex, values in C11 atomics.
//
// A family is one metric name (type, help, histogram bounds); a series is one
// label set of a family. Both live in singly linked lists in creation order,
// which is also the render order. Lists only grow and are touched only under
// the registry mutex; values are atomics, so recording never takes the lock.
#include "obs/metrics.h"
#include "obs/text.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "base/utf8.h"

typedef enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM, KIND_TOTAL } kind;

// KIND_TOTAL: a counter whose value is a double set from a total kept elsewhere.
static const char *const kind_names[] = {"counter", "gauge", "histogram", "counter"};

struct obs_counter {
	_Atomic uint64_t value;
};

// A gauge is a double kept as its bit pattern, so it fits a lock-free atomic.
struct obs_gauge {
	_Atomic uint64_t bits;
};

struct obs_histogram {
	const double *bounds;      // the family's bounds, ascending
	size_t n_bounds;           // +Inf bucket is buckets[n_bounds]
	_Atomic uint64_t *buckets; // per-bucket (not cumulative) counts
	_Atomic uint64_t sum_bits; // sum of observations, as double bits
};

typedef struct series {
	struct series *next;
	char *labels; // "" when none
	union {
		struct obs_counter c;
		struct obs_gauge g;
		struct obs_histogram h;
	} u;
} series;

typedef struct family {
	struct family *next;
	char *name;
	char *help;
	kind kind;
	double *bounds; // histograms only
	size_t n_bounds;
	series *first, *last;
} family;

struct obs_registry {
	pthread_mutex_t mu; // guards the family and series lists, not the values
	family *first, *last;
};

const double obs_latency_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                     0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                     0.5,     1,      2.5,     5,      10};
const size_t obs_latency_bounds_n = sizeof(obs_latency_bounds) / sizeof(obs_latency_bounds[0]);

// ---- programming errors and allocation ------------------------------------------------------

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("obs metrics: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size);
	if (p == NULL) {
		die("out of memory");
	}
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s != NULL ? s : "");
	if (p == NULL) {
		die("out of memory");
	}
	return p;
}

static uint64_t dbl_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static double bits_dbl(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

// ---- validation: bad names and label strings are caller bugs, so they abort -----------------

static int name_char(char c, int first, int colon_ok)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
		return 1;
	}
	if (c == ':') {
		return colon_ok;
	}
	return !first && c >= '0' && c <= '9';
}

static void check_name(const char *name)
{
	if (name == NULL || name[0] == '\0') {
		die("empty metric name");
	}
	for (size_t i = 0; name[i] != '\0'; i++) {
		if (!name_char(name[i], i == 0, 1)) {
			die("invalid metric name \"%s\"", name);
		}
	}
}

// Accepts `k="v"` pairs joined by commas, values escaped as obs_label_escape
// does. Histograms may not carry `le`: the renderer adds it.
static void check_labels(const char *name, const char *labels, kind k)
{
	const char *p = labels;

	while (*p != '\0') {
		const char *key = p;
		while (name_char(*p, p == key, 0)) {
			p++;
		}
		if (p == key || p[0] != '=' || p[1] != '"') {
			die("%s: malformed labels '%s'", name, labels);
		}
		if (k == KIND_HISTOGRAM && p - key == 2 && strncmp(key, "le", 2) == 0) {
			die("%s: histogram labels may not use 'le'", name);
		}
		for (p += 2; *p != '"'; p++) {
			if (*p == '\0' || *p == '\n') {
				die("%s: unterminated label value in '%s'", name, labels);
			}
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n') {
					die("%s: bad escape in '%s'", name, labels);
				}
			}
		}
		p++; // closing quote
		if (*p == ',' && p[1] != '\0') {
			p++;
		} else if (*p != '\0') {
			die("%s: malformed labels '%s'", name, labels);
		}
	}
}

static void check_bounds(const char *name, const double *bounds, size_t n)
{
	if (n > 0 && bounds == NULL) {
		die("%s: NULL bounds", name);
	}
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
			die("%s: bounds must be finite and strictly ascending", name);
		}
	}
}

// ---- registry --------------------------------------------------------------------------------

obs_registry *obs_registry_create(void)
{
	obs_registry *r = xcalloc(1, sizeof(*r));
	if (pthread_mutex_init(&r->mu, NULL) != 0) {
		die("pthread_mutex_init failed");
	}
	return r;
}

void obs_registry_destroy(obs_registry *r)
{
	if (r == NULL) {
		return;
	}
	family *f = r->first;
	while (f != NULL) {
		family *fn = f->next;
		series *s = f->first;
		while (s != NULL) {
			series *sn = s->next;
			if (f->kind == KIND_HISTOGRAM) {
				free(s->u.h.buckets);
			}
			free(s->labels);
			free(s);
			s = sn;
		}
		free(f->name);
		free(f->help);
		free(f->bounds);
		free(f);
		f = fn;
	}
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static family *family_new(const char *name, const char *help, kind k, const double *bounds,
                          size_t n_bounds)
{
	family *f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	f->help = xstrdup(help);
	f->kind = k;
	if (k == KIND_HISTOGRAM) {
		f->bounds = xcalloc(n_bounds, sizeof(double));
		if (n_bounds > 0) {
			memcpy(f->bounds, bounds, n_bounds * sizeof(double));
		}
		f->n_bounds = n_bounds;
	}
	return f;
}

static series *series_new(const family *f, const char *labels)
{
	series *s = xcalloc(1, sizeof(*s));
	s->labels = xstrdup(labels);
	switch (f->kind) {
	case KIND_COUNTER:
		atomic_init(&s->u.c.value, 0);
		break;
	case KIND_GAUGE:
	case KIND_TOTAL:
		atomic_init(&s->u.g.bits, dbl_bits(0.0));
		break;
	case KIND_HISTOGRAM:
		s->u.h.bounds = f->bounds;
		s->u.h.n_bounds = f->n_bounds;
		s->u.h.buckets = xcalloc(f->n_bounds + 1, sizeof(_Atomic uint64_t));
		for (size_t i = 0; i <= f->n_bounds; i++) {
			atomic_init(&s->u.h.buckets[i], 0);
		}
		atomic_init(&s->u.h.sum_bits, dbl_bits(0.0));
		break;
	}
	return s;
}

// Finds or creates the series (name, labels). Linear scans: lookups are rare
// (callers keep the pointer) and registries hold tens of families.
static series *lookup(obs_registry *r, const char *name, const char *help, const char *labels,
                      kind k, const double *bounds, size_t n_bounds)
{
	family *f;
	series *s;

	if (labels == NULL) {
		labels = "";
	}
	check_name(name);
	check_labels(name, labels, k);
	if (k == KIND_HISTOGRAM) {
		check_bounds(name, bounds, n_bounds);
	}

	pthread_mutex_lock(&r->mu);
	for (f = r->first; f != NULL; f = f->next) {
		if (strcmp(f->name, name) == 0) {
			break;
		}
	}
	if (f == NULL) {
		f = family_new(name, help, k, bounds, n_bounds);
		if (r->last != NULL) {
			r->last->next = f;
		} else {
			r->first = f;
		}
		r->last = f;
	} else if (f->kind != k) {
		die("%s: registered as %s, requested as %s", name, kind_names[f->kind],
		    kind_names[k]);
	} else if (k == KIND_HISTOGRAM &&
	           (f->n_bounds != n_bounds ||
	            (n_bounds > 0 && memcmp(f->bounds, bounds, n_bounds * sizeof(double)) != 0))) {
		die("%s: histogram requested with different bounds", name);
	}
	for (s = f->first; s != NULL; s = s->next) {
		if (strcmp(s->labels, labels) == 0) {
			break;
		}
	}
	if (s == NULL) {
		s = series_new(f, labels);
		if (f->last != NULL) {
			f->last->next = s;
		} else {
			f->first = s;
		}
		f->last = s;
	}
	pthread_mutex_unlock(&r->mu);
	return s;
}

// ---- counters, gauges, histograms -----------------------------------------------------------

obs_counter *obs_counter_get(obs_registry *r, const char *name, const char *help,
                             const char *labels)
{
	return &lookup(r, name, help, labels, KIND_COUNTER, NULL, 0)->u.c;
}

void obs_counter_add(obs_counter *c, uint64_t v)
{
	atomic_fetch_add_explicit(&c->value, v, memory_order_relaxed);
}

uint64_t obs_counter_value(const obs_counter *c)
{
	return atomic_load_explicit(&((obs_counter *)c)->value, memory_order_relaxed);
}

obs_gauge *obs_total_get(obs_registry *r, const char *name, const char *help, const char *labels)
{
	return &lookup(r, name, help, labels, KIND_TOTAL, NULL, 0)->u.g;
}

obs_gauge *obs_gauge_get(obs_registry *r, const char *name, const char *help, const char *labels)
{
	return &lookup(r, name, help, labels, KIND_GAUGE, NULL, 0)->u.g;
}

void obs_gauge_set(obs_gauge *g, double v)
{
	atomic_store_explicit(&g->bits, dbl_bits(v), memory_order_relaxed);
}

static void add_double_bits(_Atomic uint64_t *bits, double delta)
{
	uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(bits, &old, dbl_bits(bits_dbl(old) + delta),
	                                              memory_order_relaxed, memory_order_relaxed)) {
		// `old` now holds the current value; retry with it.
	}
}

void obs_gauge_add(obs_gauge *g, double delta)
{
	add_double_bits(&g->bits, delta);
}

double obs_gauge_value(const obs_gauge *g)
{
	return bits_dbl(atomic_load_explicit(&((obs_gauge *)g)->bits, memory_order_relaxed));
}

obs_histogram *obs_histogram_get(obs_registry *r, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t n_bounds)
{
	return &lookup(r, name, help, labels, KIND_HISTOGRAM, bounds, n_bounds)->u.h;
}

void obs_histogram_observe(obs_histogram *h, double v)
{
	// First bucket whose bound is >= v (binary search); NaN and values above
	// the last bound land in +Inf, as in the Prometheus client libraries.
	size_t lo = 0, hi = h->n_bounds;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v <= h->bounds[mid]) {
			hi = mid;
		} else {
			lo = mid + 1;
		}
	}
	if (isnan(v)) {
		lo = h->n_bounds;
	}
	atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
	add_double_bits(&h->sum_bits, v);
}

// ---- label escaping -------------------------------------------------------------------------

// Invalid UTF-8 bytes become U+FFFD (the exposition format is UTF-8). Output is
// cut at a whole character or escape so it stays well formed; cap 0 writes nothing.
char *obs_label_escape(const char *value, char *buf, size_t cap)
{
	size_t len = 0;

	if (cap == 0) {
		return buf;
	}
	for (const char *p = value != NULL ? value : ""; *p != '\0';) {
		const char *unit = p;
		size_t n = base_utf8_seq((const uint8_t *)p, BASE_UTF8_SEQ_MAX);
		if (*p == '\\' || *p == '"' || *p == '\n') {
			unit = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : "\\n";
			n = 2;
			p++;
		} else if (n == 0) {
			unit = OBS_TEXT_REPLACEMENT;
			n = OBS_TEXT_REPLACEMENT_LEN;
			p++;
		} else {
			p += n;
		}
		if (len + n >= cap) {
			break;
		}
		memcpy(buf + len, unit, n);
		len += n;
	}
	buf[len] = '\0';
	return buf;
}

// ---- rendering -------------------------------------------------------------------------------

typedef base_strbuf strbuf;

static void sb_put(strbuf *b, const char *s, size_t n)
{
	if (!base_strbuf_put(b, s, n)) {
		die("out of memory");
	}
}

static void sb_puts(strbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_u64(strbuf *b, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	sb_put(b, tmp, (size_t)n);
}

static void sb_double(strbuf *b, double v)
{
	char tmp[OBS_TEXT_DOUBLE_CAP];
	size_t n = obs_text_double(tmp, v, "NaN", "+Inf", "-Inf");
	sb_put(b, tmp, n);
}

// HELP text escapes only backslash and newline in format 0.0.4.
static void sb_help(strbuf *b, const char *help)
{
	for (const char *p = help; *p != '\0'; p++) {
		if (*p == '\\') {
			sb_puts(b, "\\\\");
		} else if (*p == '\n') {
			sb_puts(b, "\\n");
		} else {
			sb_put(b, p, 1);
		}
	}
}

// `name[suffix]{labels[,extra]} ` — braces omitted when there are no labels.
static void sb_series_name(strbuf *b, const char *name, const char *suffix, const char *labels,
                           const char *extra)
{
	sb_puts(b, name);
	sb_puts(b, suffix);
	if (labels[0] != '\0' || extra != NULL) {
		sb_puts(b, "{");
		sb_puts(b, labels);
		if (extra != NULL) {
			sb_puts(b, labels[0] != '\0' ? "," : "");
			sb_puts(b, extra);
		}
		sb_puts(b, "}");
	}
	sb_puts(b, " ");
}

static void render_histogram(strbuf *b, const family *f, series *s)
{
	char le[OBS_TEXT_DOUBLE_CAP + 8];
	char num[OBS_TEXT_DOUBLE_CAP];
	uint64_t cum = 0;

	for (size_t i = 0; i <= f->n_bounds; i++) {
		cum += atomic_load_explicit(&s->u.h.buckets[i], memory_order_relaxed);
		if (i < f->n_bounds) {
			obs_text_double(num, f->bounds[i], "NaN", "+Inf", "-Inf");
		} else {
			strcpy(num, "+Inf");
		}
		snprintf(le, sizeof(le), "le=\"%s\"", num);
		sb_series_name(b, f->name, "_bucket", s->labels, le);
		sb_u64(b, cum);
		sb_puts(b, "\n");
	}
	sb_series_name(b, f->name, "_sum", s->labels, NULL);
	sb_double(b, bits_dbl(atomic_load_explicit(&s->u.h.sum_bits, memory_order_relaxed)));
	sb_puts(b, "\n");
	// _count is the +Inf bucket as read above, so the two always agree.
	sb_series_name(b, f->name, "_count", s->labels, NULL);
	sb_u64(b, cum);
	sb_puts(b, "\n");
}

size_t obs_registry_render(obs_registry *r, char **out)
{
	strbuf b = {0};

	sb_put(&b, "", 0); // an empty registry still renders as ""
	pthread_mutex_lock(&r->mu);
	for (const family *f = r->first; f != NULL; f = f->next) {
		if (f->help[0] != '\0') {
			sb_puts(&b, "# HELP ");
			sb_puts(&b, f->name);
			sb_puts(&b, " ");
			sb_help(&b, f->help);
			sb_puts(&b, "\n");
		}
		sb_puts(&b, "# TYPE ");
		sb_puts(&b, f->name);
		sb_puts(&b, " ");
		sb_puts(&b, kind_names[f->kind]);
		sb_puts(&b, "\n");
		for (series *s = f->first; s != NULL; s = s->next) {
			switch (f->kind) {
			case KIND_COUNTER:
				sb_series_name(&b, f->name, "", s->labels, NULL);
				sb_u64(&b, obs_counter_value(&s->u.c));
				sb_puts(&b, "\n");
				break;
			case KIND_GAUGE:
			case KIND_TOTAL:
				sb_series_name(&b, f->name, "", s->labels, NULL);
				sb_double(&b, obs_gauge_value(&s->u.g));
				sb_puts(&b, "\n");
				break;
			case KIND_HISTOGRAM:
				render_histogram(&b, f, s);
				break;
			}
		}
	}
	pthread_mutex_unlock(&r->mu);
	*out = b.p;
	return b.len;
}
