// tokcache: a token is answered only while valid, only byte for byte, and
// a token that never verified is never answered; verify_until's bound.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test/check.h"
#include "nrpc/jwt.h"
#include "tokcache.h"

static nrpc_tokcache cache; // large: not on the stack

int main(void)
{
	char sub[NRPC_JWT_MAX_SUB + 1], err[128];
	const uint8_t secret[] = "a secret of thirty-two bytes ok!";
	int64_t until = 0;
	char *tok = nrpc_jwt_sign(secret, sizeof secret - 1, "alice", 1000);

	// The bound: valid for every now < exp.
	CHECK(nrpc_jwt_verify_until(secret, sizeof secret - 1, tok, 999, 0, sub, sizeof sub, &until,
	                            err, sizeof err) == 0);
	CHECK(until == 1000 && strcmp(sub, "alice") == 0);
	CHECK(nrpc_jwt_verify_until(secret, sizeof secret - 1, tok, 1000, 0, sub, sizeof sub,
	                            &until, err, sizeof err) != 0);

	nrpc_tokcache_init(&cache);
	CHECK(!nrpc_tokcache_get(&cache, tok, 500, sub, sizeof sub)); // never verified: a miss
	nrpc_tokcache_put(&cache, tok, "alice", until);
	memset(sub, 0, sizeof sub);
	CHECK(nrpc_tokcache_get(&cache, tok, 999, sub, sizeof sub) && strcmp(sub, "alice") == 0);
	CHECK(!nrpc_tokcache_get(&cache, tok, 1000, sub, sizeof sub)); // expired

	// One byte different (here the first): a miss, whatever the slot.
	char other[600];
	snprintf(other, sizeof other, "%s", tok);
	other[0] = other[0] == 'e' ? 'f' : 'e';
	CHECK(!nrpc_tokcache_get(&cache, other, 500, sub, sizeof sub));
	// A prefix of the token is not the token.
	other[0] = tok[0];
	other[strlen(tok) - 1] = '\0';
	CHECK(!nrpc_tokcache_get(&cache, other, 500, sub, sizeof sub));
	// Too long to cache: never stored, never answered.
	char big[TOKCACHE_TOKEN_MAX + 10];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	nrpc_tokcache_put(&cache, big, "bob", 2000);
	CHECK(!nrpc_tokcache_get(&cache, big, 500, sub, sizeof sub));
	// A too-small sub buffer is a miss, never a truncated identity.
	char tiny[3];
	CHECK(!nrpc_tokcache_get(&cache, tok, 500, tiny, sizeof tiny));

	nrpc_tokcache_fini(&cache);
	free(tok);
	return check_summary("rpc_tokcache_test");
}
