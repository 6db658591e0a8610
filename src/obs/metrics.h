// obs metrics: a small Prometheus registry (counters, gauges, histograms).
//
// Series are looked up by (name, labels) once, under a lock, and the returned
// pointer is kept by the caller for the life of the registry; updates through
// it are lock-free atomics, so the hot path takes no lock. Rendering walks
// every series and produces the Prometheus text exposition format (0.0.4).
//
// Ownership: the registry owns every series; callers never free them. The
// registry is created by app and passed to the modules that record.
// Thread-safe throughout.
#ifndef OBS_METRICS_H
#define OBS_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct obs_registry obs_registry;
typedef struct obs_counter obs_counter;
typedef struct obs_gauge obs_gauge;
typedef struct obs_histogram obs_histogram;

obs_registry *obs_registry_create(void);
void obs_registry_destroy(obs_registry *r);

// `labels` is the inside of the braces, already formatted and escaped, e.g.
// `method="/a.B/C",code="0"`, or NULL/"" for none. The family's help text and
// type are taken from the first call for a name. Never returns NULL (aborts on
// out-of-memory); a name reused with another type aborts too (a programming error).
obs_counter *obs_counter_get(obs_registry *r, const char *name, const char *help,
                             const char *labels);
void obs_counter_add(obs_counter *c, uint64_t v);
uint64_t obs_counter_value(const obs_counter *c);

obs_gauge *obs_gauge_get(obs_registry *r, const char *name, const char *help, const char *labels);
void obs_gauge_set(obs_gauge *g, double v);
void obs_gauge_add(obs_gauge *g, double delta);
double obs_gauge_value(const obs_gauge *g);

// A counter of fractional value that mirrors a total kept elsewhere (CPU
// seconds from /proc): typed `counter`, set with obs_gauge_set, which the
// caller keeps monotonic.
obs_gauge *obs_total_get(obs_registry *r, const char *name, const char *help, const char *labels);

// `bounds` are the upper bounds of the buckets in ascending order (+Inf is
// implied); copied. All series of one name must use the same bounds.
obs_histogram *obs_histogram_get(obs_registry *r, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t n_bounds);
void obs_histogram_observe(obs_histogram *h, double v);

// Latency buckets in seconds, 50 µs .. 10 s, for every *_seconds histogram.
extern const double obs_latency_bounds[];
extern const size_t obs_latency_bounds_n;

// Renders the registry in the Prometheus text format into a malloc'd,
// NUL-terminated buffer the caller frees; returns its length.
size_t obs_registry_render(obs_registry *r, char **out);

// Escapes a label value (\\, \", \n) into buf[cap]; returns buf.
char *obs_label_escape(const char *value, char *buf, size_t cap);

#endif
