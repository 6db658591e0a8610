// cache aredis commands: cache_aredis_command queues an argv command; cache_aredis_eval
// queues EVALSHA (formatted here, RESP) with the script's SHA1 from the
// client's script cache, keeping the text for the EVAL fallback on NOSCRIPT
// (aredis_conn.c). A command that cannot be queued fails fast (aredis.c).
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/hex.h"
#include "cache/aredis_int.h"

// ---- commands -----------------------------------------------------------------------------

void cache_aredis_command(cache_aredis *a, int argc, const char **argv, const size_t *lens,
                          cache_aredis_cb cb, void *arg)
{
	req *q = req_new(a, REQ_USER, cb, arg);

	if (a->closing || argc < 1 || argv == NULL || cache_aredis_ensure_conn(a) != 0 ||
	    cache_aredis_send_req(a, q, argc, argv, lens, NULL, 0) != 0)
		cache_aredis_fail_fast(a, q);
}

// The script's SHA1 (hex), from the cache or computed (and cached if room);
// *text: the client's copy of the text when cached, else NULL. 0 or -1.
static int script_sha(cache_aredis *a, const char *script, size_t len, char sha[41],
                      const char **text)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	for (int i = 0; i < a->n_scripts; i++) {
		const struct script *s = &a->scripts[i];
		if (s->len == len && memcmp(s->text, script, len) == 0) {
			memcpy(sha, s->sha, 41);
			*text = s->text;
			return 0;
		}
	}
	if (EVP_Digest(script, len, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
		return -1;
	base_hex_encode(md, 20, sha);
	*text = NULL;
	if (a->n_scripts < AREDIS_SCRIPT_CACHE_MAX) {
		struct script *s = &a->scripts[a->n_scripts];
		s->text = malloc(len + 1);
		if (s->text != NULL) {
			memcpy(s->text, script, len + 1);
			s->len = len;
			memcpy(s->sha, sha, 41);
			a->n_scripts++;
			*text = s->text;
		}
	}
	return 0;
}

static size_t bulk_size(size_t len)
{
	char tmp[32];
	return (size_t)snprintf(tmp, sizeof(tmp), "$%zu\r\n", len) + len + 2;
}

static char *put_bulk(char *p, const char *s, size_t len)
{
	p += sprintf(p, "$%zu\r\n", len);
	memcpy(p, s, len);
	p += len;
	memcpy(p, "\r\n", 2);
	return p + 2;
}

// Formats EVALSHA sha nkeys args... into q->cmd (RESP), remembering where the
// numkeys argument starts. 0 or -1.
static int format_evalsha(req *q, const char *sha, int nkeys, int n, const char **args,
                          const size_t *lens)
{
	char head[96], nk[16];
	size_t hl, total, nkl;
	char *p;

	nkl = (size_t)snprintf(nk, sizeof(nk), "%d", nkeys);
	hl = (size_t)snprintf(head, sizeof(head), "*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n", n + 3,
	                      sha);
	total = hl + bulk_size(nkl);
	for (int i = 0; i < n; i++)
		total += bulk_size(lens != NULL ? lens[i] : strlen(args[i]));
	q->cmd = malloc(total + 1); // + 1: sprintf's terminator
	if (q->cmd == NULL)
		return -1;
	memcpy(q->cmd, head, hl);
	p = put_bulk(q->cmd + hl, nk, nkl);
	for (int i = 0; i < n; i++)
		p = put_bulk(p, args[i], lens != NULL ? lens[i] : strlen(args[i]));
	q->cmd_len = total;
	q->tail_off = hl;
	q->argc = n + 3;
	return 0;
}

void cache_aredis_eval(cache_aredis *a, const char *script, int nkeys, int nargs, const char **args,
                       const size_t *lens, cache_aredis_cb cb, void *arg)
{
	req *q = req_new(a, REQ_EVAL, cb, arg);
	char sha[41];
	const char *text = NULL;
	size_t len;

	if (a->closing || script == NULL || nkeys < 0 || nargs < 0 || nkeys > INT_MAX - 3 - nargs ||
	    (nkeys + nargs > 0 && args == NULL))
		goto fail;
	len = strlen(script);
	if (script_sha(a, script, len, sha, &text) != 0)
		goto fail;
	if (text == NULL) {
		q->own_script = malloc(len + 1);
		if (q->own_script == NULL)
			goto fail;
		memcpy(q->own_script, script, len + 1);
		text = q->own_script;
	}
	q->script = text;
	q->script_len = len;
	if (format_evalsha(q, sha, nkeys, nkeys + nargs, args, lens) != 0)
		goto fail;
	if (cache_aredis_ensure_conn(a) != 0 ||
	    cache_aredis_send_req(a, q, 0, NULL, NULL, q->cmd, q->cmd_len) != 0)
		goto fail;
	return;
fail:
	cache_aredis_fail_fast(a, q);
}
