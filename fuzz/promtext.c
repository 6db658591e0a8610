// fuzz_promtext: the Prometheus text parser (clients/common/promtext.h) on
// any bytes, and the arithmetic a client does on what it returns.
//
// Checks beyond the sanitizers: a refusal leaves *out empty with a
// NUL-terminated reason; a parse stays within the sample and label bounds,
// every name and label is a string; the sums, bucket collection and
// quantiles run on whatever was parsed (buckets sorted by le).
#include <math.h>

#include "fuzz.h"
#include "promtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	// The text is not NUL-terminated: an exact-size copy lets ASan see any
	// read past text[len].
	char *text = malloc(size > 0 ? size : 1);
	FUZZ_ASSERT(text != NULL, "malloc");
	if (size > 0)
		memcpy(text, data, size);
	pdc_promtext p;
	char err[128];
	memset(err, 'x', sizeof(err));
	if (pdc_promtext_parse(text, size, &p, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(p.n == 0, "a refused parse left %zu samples", p.n);
		FUZZ_ASSERT(memchr(err, 0, sizeof(err)) != NULL, "reason not terminated");
		pdc_promtext_free(&p);
		free(text);
		return 0;
	}
	FUZZ_ASSERT(p.n <= PROMTEXT_MAX_SAMPLES, "%zu samples", p.n);
	for (size_t i = 0; i < p.n; i++) {
		const pdc_promtext_sample *s = &p.samples[i];
		FUZZ_ASSERT(s->name != NULL && s->name[0] != '\0', "sample without a name");
		FUZZ_ASSERT(s->n_labels <= PROMTEXT_MAX_LABELS, "%zu labels", s->n_labels);
		for (size_t l = 0; l < s->n_labels; l++) {
			FUZZ_ASSERT(s->labels[l].name != NULL && s->labels[l].value != NULL,
			            "label without name or value");
			FUZZ_ASSERT(pdc_promtext_label_value(s, s->labels[l].name) != NULL,
			            "label %s not found", s->labels[l].name);
		}
	}
	if (p.n > 0) {
		const pdc_promtext_sample *s = &p.samples[0];
		const char *match[5] = {NULL, NULL, NULL, NULL, NULL};
		if (s->n_labels > 0) {
			match[0] = s->labels[0].name;
			match[1] = s->labels[0].value;
		}
		FUZZ_ASSERT(pdc_promtext_matches(s, s->name, match),
		            "a sample does not match itself");
		(void)pdc_promtext_sum(&p, s->name, match);
		// Collect `<base>_bucket` for a name ending in _bucket.
		size_t nl = strlen(s->name);
		if (nl > 7 && strcmp(s->name + nl - 7, "_bucket") == 0) {
			char *base = fuzz_cstr((const uint8_t *)s->name, nl - 7);
			pdc_promtext_bucket *b = NULL;
			size_t nb = pdc_promtext_buckets(&p, base, NULL, &b);
			for (size_t i = 1; i < nb; i++)
				FUZZ_ASSERT(b[i - 1].le <= b[i].le || isnan(b[i].le) ||
				                isnan(b[i - 1].le),
				            "buckets not sorted by le");
			for (int q = 0; q <= 4; q++)
				(void)pdc_promtext_quantile(q / 4.0, b, nb);
			free(b);
			free(base);
		}
	}
	pdc_promtext_free(&p);
	free(text);
	return 0;
}
