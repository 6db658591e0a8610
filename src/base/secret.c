// base secret: see secret.h.
#include "base/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

enum base_secret_result base_secret_read(const char *path, size_t max, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return BASE_SECRET_UNREADABLE;
	uint8_t *buf = malloc(max + 2); // one more byte than allowed, and the NUL
	if (buf == NULL) {
		fclose(f);
		return BASE_SECRET_NO_MEMORY;
	}
	size_t n = fread(buf, 1, max + 1, f);
	int failed = ferror(f), saved = errno;
	fclose(f);
	enum base_secret_result rc = BASE_SECRET_OK;
	if (failed) {
		errno = saved;
		rc = BASE_SECRET_UNREADABLE;
	} else if (n > max) {
		rc = BASE_SECRET_TOO_LARGE;
	} else {
		if (n > 0 && buf[n - 1] == '\n') {
			n--;
			if (n > 0 && buf[n - 1] == '\r')
				n--;
		}
		if (n == 0)
			rc = BASE_SECRET_EMPTY;
	}
	if (rc != BASE_SECRET_OK) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return BASE_SECRET_OK;
}
