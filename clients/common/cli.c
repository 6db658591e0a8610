#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nrpc/jwt.h"
#include "nrpc/status.h"

char *pdc_read_stream(FILE *f, size_t max, char *err, size_t errcap)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (buf == NULL)
		goto oom;
	for (;;) {
		if (len + 1 == cap) {
			if (cap > max) {
				snprintf(err, errcap, "input larger than %zu bytes", max);
				free(buf);
				return NULL;
			}
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL)
				goto oom;
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + len, 1, cap - len - 1, f);
		len += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errcap, "read error: %s", strerror(errno));
		free(buf);
		return NULL;
	}
	if (len > max) {
		snprintf(err, errcap, "input larger than %zu bytes", max);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
oom:
	free(buf);
	snprintf(err, errcap, "out of memory");
	return NULL;
}

int pdc_secret_load(const char *file, uint8_t **secret, size_t *len, char *err, size_t errcap)
{
	*secret = NULL;
	*len = 0;
	char *s;
	if (file != NULL) {
		FILE *f = fopen(file, "rb");
		if (f == NULL) {
			snprintf(err, errcap, "%s: %s", file, strerror(errno));
			return -1;
		}
		s = pdc_read_stream(f, PDC_MAX_SECRET, err, errcap);
		fclose(f);
		if (s == NULL)
			return -1;
	} else {
		const char *env = getenv("AUTH_SECRET");
		if (env == NULL || env[0] == '\0') {
			snprintf(err, errcap, "no secret: set AUTH_SECRET or pass --secret-file");
			return -1;
		}
		s = strdup(env);
		if (s == NULL) {
			snprintf(err, errcap, "out of memory");
			return -1;
		}
	}
	size_t n = strlen(s);
	if (file != NULL && n > 0 && s[n - 1] == '\n') {
		s[--n] = '\0';
		if (n > 0 && s[n - 1] == '\r')
			s[--n] = '\0';
	}
	if (n == 0) {
		snprintf(err, errcap, "the secret is empty");
		free(s);
		return -1;
	}
	*secret = (uint8_t *)s;
	*len = n;
	return 0;
}

char *pdc_token_mint(const uint8_t *secret, size_t len, const char *sub, int64_t ttl_s, char *err,
                     size_t errcap)
{
	if (sub == NULL || sub[0] == '\0' || strlen(sub) > NRPC_JWT_MAX_SUB) {
		snprintf(err, errcap, "the subject must be 1..%d bytes", NRPC_JWT_MAX_SUB);
		return NULL;
	}
	if (ttl_s <= 0) {
		snprintf(err, errcap, "the ttl must be positive");
		return NULL;
	}
	char *t = nrpc_jwt_sign(secret, len, sub, (int64_t)time(NULL) + ttl_s);
	if (t == NULL)
		snprintf(err, errcap, "out of memory");
	return t;
}

int pdc_token_resolve(const char *token, const char *sub, const char *secret_file, int64_t ttl_s,
                      char **out, char *err, size_t errcap)
{
	*out = NULL;
	if (token == NULL || token[0] == '\0')
		token = getenv("PROPCTL_TOKEN");
	if (token != NULL && token[0] != '\0') {
		*out = strdup(token);
		if (*out == NULL) {
			snprintf(err, errcap, "out of memory");
			return -1;
		}
		return 0;
	}
	if (sub == NULL)
		return 0;
	uint8_t *secret = NULL;
	size_t len = 0;
	if (pdc_secret_load(secret_file, &secret, &len, err, errcap) != 0)
		return -1;
	*out = pdc_token_mint(secret, len, sub, ttl_s, err, errcap);
	free(secret);
	return *out ? 0 : -1;
}

size_t pdc_split_urls(const char *list, char *buf, size_t bufcap, const char **urls, size_t cap)
{
	if (list == NULL || bufcap == 0)
		return 0;
	snprintf(buf, bufcap, "%s", list);
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, ", ", &save); t != NULL && n < cap;
	     t = strtok_r(NULL, ", ", &save))
		urls[n++] = t;
	return n;
}

void pdc_print_rpc_error(FILE *f, const nrpc_result *res)
{
	fprintf(f, "ERROR %s (%u): %s\n", nrpc_code_name(res->code), res->code,
	        res->message ? res->message : "");
	for (size_t i = 0; i < res->n_violations; i++)
		fprintf(f, "  %s: %s\n", res->violation_fields[i], res->violation_descriptions[i]);
}

int pdc_client_open(nrpc_client **out, const char *const *urls, size_t n, char *err, size_t errcap)
{
	nrpc_tls tls = {
	    .cert_file = getenv("PROPCTL_TLS_CERT"),
	    .key_file = getenv("PROPCTL_TLS_KEY"),
	    .ca_file = getenv("PROPCTL_TLS_CA"),
	    .server_name = getenv("PROPCTL_TLS_SERVER_NAME"),
	};
	return nrpc_client_open_tls(out, urls, n, &tls, err, errcap);
}
