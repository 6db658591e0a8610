// cache_aredis: the asynchronous client (aredis.h).
//
// Against REDIS_URL, always in database 9 and only on keys "aredis-test:*"
// (which expire by themselves): pipelining and database selection
// (aredis_shared_test.c). Against redis-server instances of its own on free
// ports (redis-server on PATH): AUTH and scripts and NOSCRIPT
// (aredis_server_test.c), a frozen server (SIGSTOP), a restart, a closed
// port (aredis_outage_test.c), and destroy in every awkward place
// (aredis_destroy_test.c). Helpers: aredis_common.h. This file: the case
// table and main.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "aredis_common.h"

static const check_case CASES[] = {
    {"pipeline", case_pipeline}, {"select", case_select},
    {"auth", case_auth},         {"bad_db", case_bad_db},
    {"eval", case_eval},         {"frozen", case_frozen},
    {"restart", case_restart},   {"closed_port", case_closed_port},
    {"destroy", case_destroy},
};

int main(int argc, char **argv)
{
	const char *url = getenv("REDIS_URL");
	char err[256];

	signal(SIGPIPE, SIG_IGN);
	if (url == NULL || url[0] == '\0') {
		printf("FAIL: REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0); this test "
		       "uses its database 9 (keys aredis-test:*)\n");
		return 1;
	}
	if (cache_url_parse(url, &SHARED, err, sizeof(err)) != 0) {
		printf("FAIL: REDIS_URL: %s\n", err);
		return 1;
	}
	SHARED.db = 9;
	B = event_base_new();
	if (B == NULL) {
		printf("FAIL: event_base_new\n");
		return 1;
	}
	check_run(CASES, sizeof(CASES) / sizeof(CASES[0]), argc > 1 ? argv[1] : NULL, NULL);
	event_base_free(B);
	return check_summary("cache_aredis");
}
