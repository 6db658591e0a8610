// print_sql: prints the SQL text of one of propertyd's repository statements
// (src/store/repo_sql.c), so that bench/floors.sh can run exactly the
// statement CreateProperty runs under pgbench.
//
//   print_sql NAME      e.g. prop_create; no argument: lists the names
//
// Prints the text on one line (it has no newlines) on stdout; exit status 2
// for an unknown name.
#include <stdio.h>
#include <string.h>

#include "store/repo_sql.h"

int main(int argc, char **argv)
{
	for (int i = 0; i < REPO_SQL_N; i++) {
		const char *name = store_repo_sql_name((store_repo_sql_id)i);
		if (argc < 2) {
			printf("%s %d\n", name, store_repo_sql_nparams((store_repo_sql_id)i));
		} else if (strcmp(argv[1], name) == 0) {
			printf("%s\n", store_repo_sql_text((store_repo_sql_id)i));
			return 0;
		}
	}
	if (argc < 2)
		return 0;
	fprintf(stderr, "print_sql: unknown statement %s (run without arguments for the list)\n",
	        argv[1]);
	return 2;
}
