// cache redis_url: parses the Redis URL of docs/contract.md (`--redis-url`).
//
// Accepted: redis://[[user]:password@]host[:port][/db]
//   host  a name, an IPv4 address or a bracketed IPv6 address ("[::1]")
//   port  1..65535, default 6379
//   db    0..15 (Redis' default number of databases), default 0
//   user, password  percent-decoded (%XX); user is used with AUTH user pass
//                   (Redis 6 ACL), an empty user means plain AUTH pass.
// Anything else (another scheme, a query string, trailing junk) is an error.
//
// Pure function, no allocation, thread-safe.
#ifndef CACHE_REDIS_URL_H
#define CACHE_REDIS_URL_H

#include <stddef.h>

// Bounds of the parts we keep; longer inputs are errors, never truncated.
#define CACHE_URL_HOST_MAX     256
#define CACHE_URL_USER_MAX     128
#define CACHE_URL_PASSWORD_MAX 256
#define CACHE_URL_DB_MAX       15

typedef struct cache_url {
	char host[CACHE_URL_HOST_MAX]; // without brackets
	int port;
	int db;
	char user[CACHE_URL_USER_MAX];         // "" = none
	char password[CACHE_URL_PASSWORD_MAX]; // "" = no AUTH
} cache_url;

// Returns 0 and fills *out, or -1 with a message in err[errcap] (never
// containing the password).
int cache_url_parse(const char *url, cache_url *out, char *err, size_t errcap);

#endif
