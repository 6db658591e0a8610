// The token secret: see secret.h. Reading is pdclient's pdc_secret_load.
#include "secret.h"

#include <stdlib.h>

#include "cli.h"

int pl_secret_get(const char *file, const char *token, pl_secret *out, char *err, size_t errcap)
{
	out->data = NULL;
	out->len = 0;
	if (token)
		return 0;
	const char *env = getenv("AUTH_SECRET");
	if (!file && (!env || !env[0]))
		return 0;
	return pdc_secret_load(file, &out->data, &out->len, err, errcap);
}

void pl_secret_free(pl_secret *s)
{
	free(s->data);
	s->data = NULL;
}
