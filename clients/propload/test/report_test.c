// propload_report: the JSON result validates against clients/propload/schema.json
// (required keys and types, checked by a small JSON-Schema subset validator
// here: type, required, properties, items, additionalProperties, enum, const,
// allOf, $ref), survives a write/read round trip, and the CSV and HTML
// renderings are produced from it. argv[1]: the schema path.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"

static const json_t *root_schema;

static int type_ok(const json_t *v, const char *t)
{
	if (strcmp(t, "object") == 0)
		return json_is_object(v);
	if (strcmp(t, "array") == 0)
		return json_is_array(v);
	if (strcmp(t, "string") == 0)
		return json_is_string(v);
	if (strcmp(t, "integer") == 0)
		return json_is_integer(v);
	if (strcmp(t, "number") == 0)
		return json_is_number(v);
	if (strcmp(t, "boolean") == 0)
		return json_is_boolean(v);
	if (strcmp(t, "null") == 0)
		return json_is_null(v);
	return 0;
}

// Returns the number of violations, printing each with its path.
static int validate(const json_t *v, const json_t *s, const char *path)
{
	int bad = 0;
	char sub[512];
	const json_t *ref = json_object_get(s, "$ref");
	if (ref) {
		const char *r = json_string_value(ref);
		const char *name = strrchr(r, '/') + 1;
		s = json_object_get(json_object_get(root_schema, "definitions"), name);
	}
	const json_t *t = json_object_get(s, "type");
	if (json_is_string(t) && !type_ok(v, json_string_value(t))) {
		printf("  %s: want %s\n", path, json_string_value(t));
		return 1;
	}
	if (json_is_array(t)) {
		size_t i;
		json_t *e;
		int any = 0;
		json_array_foreach(t, i, e) any |= type_ok(v, json_string_value(e));
		if (!any) {
			printf("  %s: type not among the allowed ones\n", path);
			return 1;
		}
	}
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(s, "allOf"), i, e) bad += validate(v, e, path);
	const json_t *en = json_object_get(s, "enum");
	if (en) {
		int found = 0;
		json_array_foreach(en, i, e) found |= json_equal(e, (json_t *)v);
		if (!found) {
			printf("  %s: not in enum\n", path);
			bad++;
		}
	}
	const json_t *cst = json_object_get(s, "const");
	if (cst && !json_equal((json_t *)cst, (json_t *)v)) {
		printf("  %s: not the const value\n", path);
		bad++;
	}
	if (json_is_object(v)) {
		json_array_foreach(json_object_get(s, "required"), i,
		                   e) if (!json_object_get(v, json_string_value(e)))
		{
			printf("  %s: missing %s\n", path, json_string_value(e));
			bad++;
		}
		const char *k;
		json_t *val;
		const json_t *props = json_object_get(s, "properties");
		const json_t *addl = json_object_get(s, "additionalProperties");
		json_object_foreach((json_t *)v, k, val)
		{
			snprintf(sub, sizeof sub, "%s.%s", path, k);
			const json_t *ps = json_object_get(props, k);
			if (ps)
				bad += validate(val, ps, sub);
			else if (json_is_object(addl))
				bad += validate(val, addl, sub);
		}
	}
	if (json_is_array(v) && json_object_get(s, "items")) {
		json_array_foreach(v, i, e)
		{
			snprintf(sub, sizeof sub, "%s[%zu]", path, i);
			bad += validate(e, json_object_get(s, "items"), sub);
		}
	}
	return bad;
}

static json_t *make_doc(int generic)
{
	pl_run run;
	memset(&run, 0, sizeof run);
	if (pl_stats_init(&run.stats) != 0)
		return NULL;
	for (int i = 0; i < 1000; i++) {
		pl_op op = generic ? PL_OP_CALL : (pl_op)(i % 4);
		unsigned code = i % 50 == 0 ? 5 : 0;
		pl_stats_record(&run.stats, op, code, 100000u + (uint64_t)i * 1000u,
		                (uint64_t)i / 300, code ? "property not found" : NULL);
		pl_stats_record_start(&run.stats, op, (uint64_t)i / 300, (uint64_t)(i % 7) * 1000u);
	}
	run.elapsed_s = 3.2;
	run.wall_s = 4.0;
	run.cpu_user_s = 0.5;
	run.cpu_sys_s = 0.25;
	run.sockets = 2;
	run.callers = 16;
	pl_mix mix;
	char err[128];
	pl_mix_parse("get=90,list=5,create=4,update=1", &mix, err, sizeof err);
	const char *urls[] = {"tcp://127.0.0.1:7700"};
	run.max_lag_ns = generic ? 2500000u : 0; // open loop: 2.5 ms late at worst
	run.backlog_max = generic ? 7 : 0;
	pl_report_cfg cfg = {.conc = 16,
	                     .rate = generic ? 300 : 0,
	                     .duration_s = 3,
	                     .warmup_s = 1,
	                     .timeout_ms = 5000,
	                     .urls = urls,
	                     .nurls = 1,
	                     .mix = generic ? NULL : &mix,
	                     .call = generic ? "/grpc.health.v1.Health/Check" : NULL,
	                     .seed = 1,
	                     .key_dist = "uniform",
	                     .label = generic ? NULL : "test"};
	for (int i = 0; i < PL_OP_COUNT; i++)
		cfg.method[i] = "/x.y/Z";
	json_t *doc = pl_report_json(&cfg, &run);
	pl_run_free(&run);
	return doc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s schema.json\n", argv[0]);
		return 2;
	}
	json_error_t je;
	json_t *schema = json_load_file(argv[1], 0, &je);
	if (!schema) {
		printf("FAIL: cannot load %s: %s\n", argv[1], je.text);
		return 1;
	}
	root_schema = schema;
	int failed = 0;
	char err[256];
	for (int generic = 0; generic <= 1; generic++) {
		const char *name = generic ? "generic call" : "property mix";
		json_t *doc = make_doc(generic);
		if (!doc || validate(doc, schema, "$") != 0) {
			printf("FAIL %s: does not validate\n", name);
			failed++;
			json_decref(doc);
			continue;
		}
		// Round trip through a file, and the other renderings.
		char path[64], csv[64], html[64];
		snprintf(path, sizeof path, "/tmp/propload-report-%d.json", (int)getpid());
		snprintf(csv, sizeof csv, "/tmp/propload-report-%d.csv", (int)getpid());
		snprintf(html, sizeof html, "/tmp/propload-report-%d.html", (int)getpid());
		json_t *back = NULL;
		if (pl_report_write_json(doc, path, err, sizeof err) != 0 ||
		    !(back = json_load_file(path, 0, &je)) || validate(back, schema, "$") != 0 ||
		    pl_report_write_csv(back, csv, err, sizeof err) != 0 ||
		    pl_report_write_html(back, html, err, sizeof err) != 0) {
			printf("FAIL %s: round trip / renderings\n", name);
			failed++;
		} else {
			FILE *f = fopen(html, "r");
			static char buf[1 << 20];
			size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
			buf[n] = '\0';
			if (f)
				fclose(f);
			static const char *const want[] = {"<svg",
			                                   "polyline",
			                                   "id=\"settings\"",
			                                   "propload version",
			                                   "id=\"codes\"",
			                                   "<th>NOT_FOUND</th>",
			                                   "id=\"errors\"",
			                                   "property not found",
			                                   "per-method-timelines",
			                                   "Throughput over time, per method",
			                                   "Mean latency over time, per method",
			                                   "latency (ms, log)",
			                                   "tcp://127.0.0.1:7700",
			                                   "http://www.w3.org/2000/svg"};
			for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
				if (!strstr(buf, want[k])) {
					printf("FAIL %s: html lacks %s\n", name, want[k]);
					failed++;
				}
			// CSV, long format: one header, then (second, name, method, metric, value).
			FILE *cf = fopen(csv, "r");
			static char cbuf[1 << 20];
			size_t cn = cf ? fread(cbuf, 1, sizeof cbuf - 1, cf) : 0;
			cbuf[cn] = '\0';
			if (cf)
				fclose(cf);
			static const char *const csv_want[] = {
			    "second,name,method,metric,value\n", "\n,total,,requests,1000\n",
			    ",total,,code_NOT_FOUND,20\n",       "\n0,total,,requests,300\n",
			    ",/x.y/Z,latency_p99_us,",           "\n3,total,,started,100\n"};
			for (size_t k = 0; k < sizeof csv_want / sizeof csv_want[0]; k++)
				if (!strstr(cbuf, csv_want[k])) {
					printf("FAIL %s: csv lacks \"%s\"\n", name, csv_want[k]);
					failed++;
				}
			if (strncmp(cbuf, "second,", 7) != 0 || strstr(cbuf, "\n\n")) {
				printf("FAIL %s: csv is not one table\n", name);
				failed++;
			}
			// Self-contained: nothing is fetched (the SVG namespace is a name, not a
			// fetch).
			if (strstr(buf, "src=") || strstr(buf, "href=") || strstr(buf, "@import")) {
				printf("FAIL %s: html refers to something outside it\n", name);
				failed++;
			}
			if (strstr(buf, generic ? "mix</th>" : "call</th>") ||
			    !strstr(buf, generic ? "/grpc.health.v1.Health/Check" : "get=90")) {
				printf("FAIL %s: html settings lack the mix or the call\n", name);
				failed++;
			}
			// Open loop (the generic case): the start-lag section.
			if (!strstr(buf, "id=\"start-lag\"") != !generic) {
				printf("FAIL %s: start-lag section %s\n", name,
				       generic ? "missing" : "in a closed-loop report");
				failed++;
			}
		}
		// The validator itself catches a missing key and a wrong type.
		json_t *broken = json_deep_copy(doc);
		json_object_del(json_object_get(broken, "summary"), "latency_us");
		json_object_set_new(json_object_get(broken, "harness"), "saturated",
		                    json_string("no"));
		printf("expected violations:\n");
		if (validate(broken, schema, "$") < 2) {
			printf("FAIL %s: validator missed the broken keys\n", name);
			failed++;
		}
		json_decref(broken);
		json_decref(back);
		json_decref(doc);
		unlink(path);
		unlink(csv);
		if (!getenv("KEEP_HTML"))
			unlink(html);
		printf("ok   %s\n", name);
	}
	json_decref(schema);
	printf("%s\n", failed ? "FAILED" : "all passed");
	return failed ? 1 : 0;
}
