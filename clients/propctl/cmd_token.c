// propctl token: mint an HS256 bearer token for a subject.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "propctl.h"

// Longest lifetime accepted: a year; longer tokens are a mistake.
#define TOKEN_MAX_TTL_S (366LL * 24 * 3600)

static const char usage[] =
    "usage: propctl token --sub OWNER [--ttl DUR] [--secret-file FILE]\n"
    "\n"
    "Prints a JWT (HS256) with claims sub=OWNER, iat=now, exp=now+DUR,\n"
    "signed with the secret from --secret-file (one trailing newline is not\n"
    "part of it) or else from env AUTH_SECRET.\n"
    "\n"
    "  --sub OWNER          the caller's owner id (required)\n"
    "  --ttl DUR            lifetime, default 1h (bare number: seconds)\n"
    "  --secret-file FILE   read the secret from FILE\n"
    "\n" PDC_DURATION_HELP "\n"
    "exit status: 0 printed; 64 usage error or no secret.\n";

int propctl_token_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"sub", required_argument, NULL, 's'},
	    {"ttl", required_argument, NULL, 't'},
	    {"secret-file", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *sub = NULL, *file = NULL;
	long long ttl = PROPCTL_DEFAULT_TTL_S;
	char err[256];
	int64_t us;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "s:t:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sub = optarg;
			break;
		case 't':
			if (pdc_duration_flag("--ttl", optarg, BASE_DUR_S, 1000000,
			                      TOKEN_MAX_TTL_S * 1000000, &us, err,
			                      sizeof err) != 0) {
				fprintf(stderr, "propctl token: %s\n", err);
				return PROPCTL_EXIT_USAGE;
			}
			ttl = (us + 999999) / 1000000;
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return PROPCTL_EXIT_OK;
		default:
			fputs(usage, stderr);
			return PROPCTL_EXIT_USAGE;
		}
	}
	if (sub == NULL || optind != argc) {
		fputs(usage, stderr);
		return PROPCTL_EXIT_USAGE;
	}
	uint8_t *secret = NULL;
	size_t len = 0;
	if (pdc_secret_load(file, &secret, &len, err, sizeof err) != 0) {
		fprintf(stderr, "propctl token: %s\n", err);
		return PROPCTL_EXIT_USAGE;
	}
	char *tok = pdc_token_mint(secret, len, sub, ttl, err, sizeof err);
	free(secret);
	if (tok == NULL) {
		fprintf(stderr, "propctl token: %s\n", err);
		return PROPCTL_EXIT_USAGE;
	}
	printf("%s\n", tok);
	free(tok);
	return PROPCTL_EXIT_OK;
}
