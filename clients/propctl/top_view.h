// top_view: the text of one `propctl top` screen, computed from two scrapes
// of propertyd's /metrics taken `interval_s` apart.
//
// Rates come from counter deltas (a counter that went down, after a restart,
// counts from zero); latency quantiles from the deltas of the
// propertyd_request_duration_seconds histogram buckets, interpolated
// linearly inside a bucket (pdc_promtext_quantile). Pure: writes to `out` only.
#ifndef TOP_VIEW_H
#define TOP_VIEW_H

#include <stdio.h>

#include "promtext.h"

// Methods shown; propertyd serves eight.
#define TOP_MAX_METHODS 64

void top_render(FILE *out, const pdc_promtext *prev, const pdc_promtext *cur, double interval_s,
                const char *addr);

#endif
