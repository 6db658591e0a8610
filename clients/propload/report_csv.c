// CSV rendering of a result document: one row per method and one for the
// total, then the per-second timeline after a blank line. See report.h.
#include <errno.h>
#include <string.h>

#include "report.h"

static void csv_row(FILE *f, const char *name, const char *method, const json_t *o)
{
	const json_t *l = json_object_get(o, "latency_us");
	fprintf(f, "%s,%s,%.0f,%.0f,%.0f,%.2f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n", name, method,
	        pl_jnum(o, "requests"), pl_jnum(o, "ok"), pl_jnum(o, "errors"),
	        pl_jnum(o, "throughput_rps"), pl_jnum(l, "min"), pl_jnum(l, "mean"),
	        pl_jnum(l, "p50"), pl_jnum(l, "p90"), pl_jnum(l, "p99"), pl_jnum(l, "p999"),
	        pl_jnum(l, "max"));
}

int pl_report_write_csv(const json_t *doc, const char *path, char *err, size_t errcap)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "name,method,requests,ok,errors,throughput_rps,min_us,mean_us,p50_us,p90_us,"
	           "p99_us,p999_us,max_us\n");
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(doc, "methods"), i, m)
	    csv_row(f, pl_jstr(m, "name"), pl_jstr(m, "method"), m);
	csv_row(f, "total", "", json_object_get(doc, "summary"));
	fprintf(f, "\nsecond,requests,errors,latency_mean_us,latency_max_us\n");
	json_array_foreach(json_object_get(doc, "timeline"), i, m) fprintf(
	    f, "%.0f,%.0f,%.0f,%.1f,%.1f\n", pl_jnum(m, "second"), pl_jnum(m, "requests"),
	    pl_jnum(m, "errors"), pl_jnum(m, "latency_mean_us"), pl_jnum(m, "latency_max_us"));
	if (fclose(f) != 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
