// See redis_url.h.
#include "cache/redis_url.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/hex.h"

static const char SCHEME[] = "redis://";

// Percent-decodes s[0..n) into out[cap]; -1 on a bad escape or overflow.
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return -1;
			hi = base_hex_value(s[i + 1]);
			lo = base_hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0' || o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

// Parses a decimal in s[0..n) within [lo, hi]; -1 when not.
static int parse_int(const char *s, size_t n, int lo, int hi, int *out)
{
	long v = 0;
	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

// Each step below returns NULL, or the reason the URL is refused: a fixed
// text, so never the password.
static const char BAD_HOST[] = "bad host in the Redis URL";

// userinfo: the last '@' before the path (a password may hold '@' only
// percent-encoded, but be lenient about it). *p moves past it.
static const char *parse_userinfo(const char **p, const char *slash, cache_url *out)
{
	const char *at = NULL;
	for (const char *q = *p; q < slash; q++)
		if (*q == '@')
			at = q;
	if (at == NULL)
		return NULL;
	const char *colon = memchr(*p, ':', (size_t)(at - *p));
	if (colon == NULL) {
		// "redis://secret@host": Redis URLs treat a lone userinfo
		// as the password.
		colon = *p - 1;
	}
	if (colon >= *p && pct_decode(*p, (size_t)(colon - *p), out->user, sizeof(out->user)) != 0)
		return "bad user in the Redis URL";
	if (pct_decode(colon + 1, (size_t)(at - colon - 1), out->password, sizeof(out->password)) !=
	    0)
		return "bad password in the Redis URL";
	*p = at + 1;
	return NULL;
}

// "[IPv6]" at p, before the path; *hostend is just past the ']'.
static const char *parse_ipv6_host(const char *p, const char *slash, cache_url *out,
                                   const char **hostend)
{
	const char *rb = memchr(p, ']', (size_t)(slash - p));
	if (rb == NULL)
		return "unterminated [IPv6] host in the Redis URL";
	if ((size_t)(rb - p - 1) >= sizeof(out->host) || rb == p + 1)
		return BAD_HOST;
	memcpy(out->host, p + 1, (size_t)(rb - p - 1));
	for (const char *h = p + 1; h < rb; h++) // an IPv6 address: hex, ':', '.'
		if (!isxdigit((unsigned char)*h) && *h != ':' && *h != '.')
			return BAD_HOST;
	*hostend = rb + 1;
	if (*hostend != slash && **hostend != ':')
		return BAD_HOST;
	return NULL;
}

// A name or an IPv4 address at p, up to a ':' or the path; *hostend is its end.
static const char *parse_name_host(const char *p, const char *slash, cache_url *out,
                                   const char **hostend)
{
	const char *colon = memchr(p, ':', (size_t)(slash - p));
	*hostend = colon ? colon : slash;
	if (*hostend == p || (size_t)(*hostend - p) >= sizeof(out->host))
		return BAD_HOST;
	memcpy(out->host, p, (size_t)(*hostend - p));
	// Letters, digits, '-', '.', '_' only (no query string, fragment, space
	// or control character).
	for (const char *h = p; h < *hostend; h++)
		if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.' && *h != '_')
			return BAD_HOST;
	return NULL;
}

// The steps in order: scheme, userinfo, host, port, db.
static const char *parse_url(const char *url, cache_url *out)
{
	if (url == NULL || strncmp(url, SCHEME, sizeof(SCHEME) - 1) != 0)
		return "the Redis URL must start with redis://";
	const char *p = url + sizeof(SCHEME) - 1;
	const char *end = p + strlen(p);
	const char *slash = strchr(p, '/');
	if (slash == NULL)
		slash = end;
	const char *what = parse_userinfo(&p, slash, out);
	if (what != NULL)
		return what;
	const char *hostend = NULL;
	what = *p == '[' ? parse_ipv6_host(p, slash, out, &hostend)
	                 : parse_name_host(p, slash, out, &hostend);
	if (what != NULL)
		return what;
	if (hostend < slash &&
	    parse_int(hostend + 1, (size_t)(slash - hostend - 1), 1, 65535, &out->port) != 0)
		return "bad port in the Redis URL";
	if (slash < end && slash + 1 < end &&
	    parse_int(slash + 1, (size_t)(end - slash - 1), 0, CACHE_URL_DB_MAX, &out->db) != 0)
		return "bad database number in the Redis URL (0..15)";
	return NULL;
}

int cache_url_parse(const char *url, cache_url *out, char *err, size_t errcap)
{
	memset(out, 0, sizeof(*out));
	out->port = 6379;
	const char *what = parse_url(url, out);
	if (what == NULL)
		return 0;
	snprintf(err, errcap, "%s", what);
	memset(out->password, 0, sizeof(out->password));
	return -1;
}
