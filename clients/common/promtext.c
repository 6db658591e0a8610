#include "promtext.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cursor {
	const char *p;
	const char *end;
} cursor;

static int fail(char *err, size_t errcap, size_t line, const char *what)
{
	if (errcap > 0)
		snprintf(err, errcap, "line %zu: %s", line, what);
	return -1;
}

static int is_name_char(char c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

static char *dup_n(const char *s, size_t n)
{
	char *r = malloc(n + 1);
	if (r != NULL) {
		memcpy(r, s, n);
		r[n] = '\0';
	}
	return r;
}

static void skip_blanks(cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

// A metric or label name at the cursor; NULL when there is none (or no memory).
static char *read_name(cursor *c)
{
	const char *s = c->p;
	while (c->p < c->end && is_name_char(*c->p, c->p == s))
		c->p++;
	return c->p == s ? NULL : dup_n(s, (size_t)(c->p - s));
}

// A double-quoted label value with \\, \" and \n escapes.
static char *read_quoted(cursor *c)
{
	if (c->p >= c->end || *c->p != '"')
		return NULL;
	c->p++;
	const char *s = c->p;
	size_t n = 0;
	// First pass finds the end and the unescaped length.
	while (c->p < c->end && *c->p != '"') {
		if (*c->p == '\\' && c->p + 1 < c->end)
			c->p++;
		c->p++;
		n++;
	}
	if (c->p >= c->end)
		return NULL;
	char *out = malloc(n + 1);
	if (out == NULL)
		return NULL;
	size_t o = 0;
	for (const char *q = s; q < c->p; q++) {
		if (*q == '\\') {
			q++;
			out[o++] = *q == 'n' ? '\n' : *q;
		} else {
			out[o++] = *q;
		}
	}
	out[o] = '\0';
	c->p++; // closing quote
	return out;
}

static void sample_free(pdc_promtext_sample *s)
{
	free(s->name);
	for (size_t i = 0; i < s->n_labels; i++) {
		free(s->labels[i].name);
		free(s->labels[i].value);
	}
	free(s->labels);
}

// `{a="x",b="y"}` into s->labels; the cursor is on '{'.
static const char *read_labels(cursor *c, pdc_promtext_sample *s)
{
	c->p++;
	for (;;) {
		skip_blanks(c);
		if (c->p < c->end && *c->p == '}') {
			c->p++;
			return NULL;
		}
		if (s->n_labels == PROMTEXT_MAX_LABELS)
			return "too many labels";
		if (s->labels == NULL) {
			s->labels = calloc(PROMTEXT_MAX_LABELS, sizeof *s->labels);
			if (s->labels == NULL)
				return "out of memory";
		}
		pdc_promtext_label *l = &s->labels[s->n_labels];
		l->name = read_name(c);
		if (l->name == NULL)
			return "bad label name";
		s->n_labels++;
		skip_blanks(c);
		if (c->p >= c->end || *c->p != '=')
			return "expected '=' after a label name";
		c->p++;
		skip_blanks(c);
		l->value = read_quoted(c);
		if (l->value == NULL)
			return "bad label value";
		skip_blanks(c);
		if (c->p < c->end && *c->p == ',')
			c->p++;
		else if (c->p >= c->end || *c->p != '}')
			return "expected ',' or '}' in labels";
	}
}

// One sample line (without its newline) into *s; returns an error text or NULL.
static const char *parse_line(const char *line, size_t len, pdc_promtext_sample *s)
{
	cursor c = {line, line + len};
	s->name = read_name(&c);
	if (s->name == NULL)
		return "bad metric name";
	if (c.p < c.end && *c.p == '{') {
		const char *e = read_labels(&c, s);
		if (e != NULL)
			return e;
	}
	if (c.p >= c.end || (*c.p != ' ' && *c.p != '\t'))
		return "expected a value after the name";
	skip_blanks(&c);
	char num[64]; // the longest %g text of a double is 24 bytes
	size_t n = 0;
	while (c.p < c.end && *c.p != ' ' && *c.p != '\t' && n + 1 < sizeof num)
		num[n++] = *c.p++;
	num[n] = '\0';
	char *endp = NULL;
	s->value = strtod(num, &endp);
	if (n == 0 || *endp != '\0')
		return "bad value";
	return NULL; // an optional timestamp may follow; it is ignored
}

int pdc_promtext_parse(const char *text, size_t len, pdc_promtext *out, char *err, size_t errcap)
{
	out->samples = NULL;
	out->n = 0;
	size_t cap = 0;
	size_t lineno = 0;
	const char *p = text;
	const char *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		lineno++;
		const char *s = p;
		p = nl ? nl + 1 : end;
		while (s < le && (*s == ' ' || *s == '\t'))
			s++;
		size_t n = (size_t)(le - s);
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t'))
			n--;
		if (n == 0 || s[0] == '#')
			continue;
		if (out->n == PROMTEXT_MAX_SAMPLES) {
			pdc_promtext_free(out);
			return fail(err, errcap, lineno, "too many samples");
		}
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			pdc_promtext_sample *ns = realloc(out->samples, ncap * sizeof *ns);
			if (ns == NULL) {
				pdc_promtext_free(out);
				return fail(err, errcap, lineno, "out of memory");
			}
			out->samples = ns;
			cap = ncap;
		}
		pdc_promtext_sample *smp = &out->samples[out->n];
		memset(smp, 0, sizeof *smp);
		const char *e = parse_line(s, n, smp);
		out->n++; // counted even when bad, so that pdc_promtext_free releases it
		if (e != NULL) {
			pdc_promtext_free(out);
			return fail(err, errcap, lineno, e);
		}
	}
	return 0;
}

void pdc_promtext_free(pdc_promtext *p)
{
	for (size_t i = 0; i < p->n; i++)
		sample_free(&p->samples[i]);
	free(p->samples);
	p->samples = NULL;
	p->n = 0;
}

const char *pdc_promtext_label_value(const pdc_promtext_sample *s, const char *name)
{
	for (size_t i = 0; i < s->n_labels; i++)
		if (strcmp(s->labels[i].name, name) == 0)
			return s->labels[i].value;
	return NULL;
}

int pdc_promtext_matches(const pdc_promtext_sample *s, const char *name, const char *const *match)
{
	if (strcmp(s->name, name) != 0)
		return 0;
	for (size_t i = 0; match != NULL && match[i] != NULL && match[i + 1] != NULL; i += 2) {
		const char *v = pdc_promtext_label_value(s, match[i]);
		if (v == NULL || strcmp(v, match[i + 1]) != 0)
			return 0;
	}
	return 1;
}

double pdc_promtext_sum(const pdc_promtext *p, const char *name, const char *const *match)
{
	double sum = 0;
	for (size_t i = 0; i < p->n; i++)
		if (pdc_promtext_matches(&p->samples[i], name, match))
			sum += p->samples[i].value;
	return sum;
}

double pdc_promtext_quantile(double q, const pdc_promtext_bucket *b, size_t n)
{
	if (n == 0 || !(b[n - 1].count > 0))
		return NAN;
	if (q <= 0)
		q = 0;
	if (q >= 1)
		q = 1;
	double rank = q * b[n - 1].count;
	size_t i = 0;
	while (i < n - 1 && b[i].count < rank)
		i++;
	if (isinf(b[i].le)) // in the +Inf bucket: the highest finite bound is all we know
		return i > 0 ? b[i - 1].le : NAN;
	double lo = i > 0 ? b[i - 1].le : 0;
	double below = i > 0 ? b[i - 1].count : 0;
	double in = b[i].count - below;
	if (i == 0 && b[0].le <= 0)
		return b[0].le;
	if (in <= 0)
		return b[i].le;
	return lo + (b[i].le - lo) * (rank - below) / in;
}

static int by_le(const void *a, const void *b)
{
	double x = ((const pdc_promtext_bucket *)a)->le;
	double y = ((const pdc_promtext_bucket *)b)->le;
	return (x > y) - (x < y);
}

size_t pdc_promtext_buckets(const pdc_promtext *p, const char *name, const char *const *match,
                            pdc_promtext_bucket **out)
{
	*out = NULL;
	char bname[256]; // metric names are short; a longer one simply matches nothing
	if (snprintf(bname, sizeof bname, "%s_bucket", name) >= (int)sizeof bname)
		return 0;
	size_t n = 0;
	pdc_promtext_bucket *b = NULL;
	for (size_t i = 0; i < p->n; i++) {
		const pdc_promtext_sample *s = &p->samples[i];
		const char *les = pdc_promtext_label_value(s, "le");
		if (les == NULL || !pdc_promtext_matches(s, bname, match))
			continue;
		double le = strtod(les, NULL);
		size_t j = 0;
		while (j < n && b[j].le != le)
			j++;
		if (j == n) {
			pdc_promtext_bucket *nb = realloc(b, (n + 1) * sizeof *nb);
			if (nb == NULL) {
				free(b);
				return 0;
			}
			b = nb;
			b[n].le = le;
			b[n].count = 0;
			n++;
		}
		b[j].count += s->value;
	}
	if (n > 0)
		qsort(b, n, sizeof *b, by_le);
	*out = b;
	return n;
}
