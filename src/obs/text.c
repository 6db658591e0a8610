// obs text: shortest round-trip double formatting.
#include "obs/text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t obs_text_double(char *buf, double v, const char *nan, const char *inf, const char *ninf)
{
	const char *word = NULL;
	int n = 0;

	if (isnan(v)) {
		word = nan;
	} else if (isinf(v)) {
		word = v > 0 ? inf : ninf;
	}
	if (word != NULL) {
		n = snprintf(buf, OBS_TEXT_DOUBLE_CAP, "%s", word);
		return n < 0 ? 0 : (size_t)n;
	}
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, OBS_TEXT_DOUBLE_CAP, "%.*g", prec, v);
		if (prec == 17 || strtod(buf, NULL) == v) {
			break;
		}
	}
	return n < 0 ? 0 : (size_t)n;
}
