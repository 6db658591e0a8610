// Comparing two result documents: see compare.h.
#include "compare.h"

#include <string.h>

#include "report.h"

static const char *const fields[PL_CMP_FIELDS] = {"rps", "p50", "p90", "p99", "p999"};

double pl_ratio(double a, double b)
{
	return a != 0 ? b / a : 0.0;
}

static const json_t *entry(const json_t *doc, const char *name)
{
	if (strcmp(name, "total") == 0)
		return json_object_get(doc, "summary");
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(doc, "methods"), i,
	                   m) if (strcmp(pl_jstr(m, "name"), name) == 0) return m;
	return NULL;
}

static double field(const json_t *e, int i)
{
	if (i == 0)
		return pl_jnum(e, "throughput_rps");
	return pl_jnum(json_object_get(e, "latency_us"), fields[i]);
}

int pl_compare_entry(const json_t *a, const json_t *b, const char *name,
                     pl_cmp_cell out[PL_CMP_FIELDS])
{
	const json_t *ea = entry(a, name), *eb = entry(b, name);
	if (!ea || !eb)
		return -1;
	for (int i = 0; i < PL_CMP_FIELDS; i++) {
		out[i].a = field(ea, i);
		out[i].b = field(eb, i);
		out[i].ratio = pl_ratio(out[i].a, out[i].b);
	}
	return 0;
}

static void print_entry(FILE *f, const json_t *a, const json_t *b, const char *name)
{
	pl_cmp_cell c[PL_CMP_FIELDS];
	if (pl_compare_entry(a, b, name, c) != 0) {
		fprintf(f, "%-8s only in %s\n", name, entry(a, name) ? "A" : "B");
		return;
	}
	fprintf(f, "%-8s", name);
	for (int i = 0; i < PL_CMP_FIELDS; i++) {
		if (i == 0)
			fprintf(f, " %9.0f %9.0f x%-6.2f", c[i].a, c[i].b, c[i].ratio);
		else
			fprintf(f, " %8.0f %8.0f x%-6.2f", c[i].a, c[i].b, c[i].ratio);
	}
	fprintf(f, "\n");
}

int pl_compare_print(FILE *f, const json_t *a, const json_t *b)
{
	if (!json_object_get(a, "summary") || !json_object_get(b, "summary"))
		return -1;
	fprintf(f, "%-8s %9s %9s %-7s", "op", "rps A", "rps B", " B/A");
	for (int i = 1; i < PL_CMP_FIELDS; i++)
		fprintf(f, " %5s_us A %8s %-7s", fields[i], "B", " B/A");
	fprintf(f, "\n");
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(a, "methods"), i, m)
	    print_entry(f, a, b, pl_jstr(m, "name"));
	json_array_foreach(json_object_get(b, "methods"), i, m) if (!entry(a, pl_jstr(m, "name")))
	    print_entry(f, a, b, pl_jstr(m, "name"));
	print_entry(f, a, b, "total");
	return 0;
}
