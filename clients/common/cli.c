#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/duration.h"
#include "base/secret.h"
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
	if (file != NULL) {
		// The server's rule for the same file (base/secret.h).
		switch (base_secret_read(file, PDC_MAX_SECRET, secret, len)) {
		case BASE_SECRET_OK:
			return 0;
		case BASE_SECRET_UNREADABLE:
			snprintf(err, errcap, "%s: %s", file, strerror(errno));
			return -1;
		case BASE_SECRET_TOO_LARGE:
			snprintf(err, errcap, "%s: longer than %d bytes", file, PDC_MAX_SECRET);
			return -1;
		case BASE_SECRET_EMPTY:
			snprintf(err, errcap, "the secret is empty");
			return -1;
		case BASE_SECRET_NO_MEMORY:
			break;
		}
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	const char *env = getenv("AUTH_SECRET");
	if (env == NULL || env[0] == '\0') {
		snprintf(err, errcap, "no secret: set AUTH_SECRET or pass --secret-file");
		return -1;
	}
	char *s = strdup(env);
	if (s == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	size_t n = strlen(s);
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

// An environment setting, or NULL when unset or empty.
static const char *env_str(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

int pdc_env_flag(const char *name, bool *out, char *err, size_t errcap)
{
	const char *v = env_str(name);
	*out = false;
	if (v == NULL || strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
		return 0;
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
		*out = true;
		return 0;
	}
	snprintf(err, errcap, "%s must be 1 or 0, not \"%s\"", name, v);
	return -1;
}

int pdc_tls_check(const char *const *urls, size_t n, const nrpc_tls *tls, const char *ca_hint,
                  const char *insecure_hint, char *err, size_t errcap)
{
	if (tls->ca_file != NULL || tls->insecure_skip_verify)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (urls[i] != NULL &&
		    (strncmp(urls[i], "tls+", 4) == 0 || strncmp(urls[i], "dns+tls+", 8) == 0)) {
			snprintf(err, errcap,
			         "%s: tls+tcp:// needs a CA to verify the server (%s); %s to skip "
			         "verification",
			         urls[i], ca_hint, insecure_hint);
			return -1;
		}
	}
	return 0;
}

int pdc_tls_from_env(nrpc_tls *tls, char *err, size_t errcap)
{
	*tls = (nrpc_tls){
	    .cert_file = env_str("PROPCTL_TLS_CERT"),
	    .key_file = env_str("PROPCTL_TLS_KEY"),
	    .ca_file = env_str("PROPCTL_TLS_CA"),
	    .server_name = env_str("PROPCTL_TLS_SERVER_NAME"),
	};
	if ((tls->cert_file == NULL) != (tls->key_file == NULL)) {
		snprintf(err, errcap, "PROPCTL_TLS_CERT and PROPCTL_TLS_KEY go together");
		return -1;
	}
	return pdc_env_flag("PROPCTL_TLS_INSECURE", &tls->insecure_skip_verify, err, errcap);
}

int pdc_client_open(nrpc_client **out, const char *const *urls, size_t n, char *err, size_t errcap)
{
	nrpc_tls tls;
	*out = NULL;
	if (pdc_tls_from_env(&tls, err, errcap) != 0 ||
	    pdc_tls_check(urls, n, &tls, PDC_TLS_CA_HINT, PDC_TLS_INSECURE_HINT, err, errcap) != 0)
		return -1;
	return nrpc_client_open_tls(out, urls, n, &tls, err, errcap);
}

int pdc_duration_flag(const char *flag, const char *arg, base_dur_unit bare, int64_t min_us,
                      int64_t max_us, int64_t *out_us, char *err, size_t errcap)
{
	char why[160];
	int64_t v;
	if (base_duration_parse(arg, bare, &v, why, sizeof why) != 0) {
		snprintf(err, errcap, "%s: %s", flag, why);
		return -1;
	}
	if (v < min_us || v > max_us) {
		char lo[32], hi[32];
		snprintf(err, errcap, "%s %s: wants %s..%s", flag, arg,
		         base_duration_format(min_us, lo, sizeof lo),
		         base_duration_format(max_us, hi, sizeof hi));
		return -1;
	}
	*out_us = v;
	return 0;
}
