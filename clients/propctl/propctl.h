// propctl: the command-line client of propertyd. Each subcommand is one
// file with one entry point taking its own argv (argv[0] is the subcommand's
// name) and returning the process exit status below.
#ifndef PROPCTL_H
#define PROPCTL_H

#include <stddef.h>

// Exit statuses, the same for every subcommand (documented in --help).
#define PROPCTL_EXIT_OK        0  // done; for health: SERVING
#define PROPCTL_EXIT_FAIL      1  // the server answered with an error, or not SERVING
#define PROPCTL_EXIT_TRANSPORT 2  // no answer: unreachable, timed out, connection lost
#define PROPCTL_EXIT_USAGE     64 // bad flags or input (EX_USAGE); nothing was sent

// Default per-call deadline, as the server's default (docs/contract.md section 2).
#define PROPCTL_DEFAULT_TIMEOUT_MS 5000
// Default token lifetime for minted tokens.
#define PROPCTL_DEFAULT_TTL_S 3600

int propctl_health_main(int argc, char **argv);
int propctl_token_main(int argc, char **argv);
int propctl_call_main(int argc, char **argv);
int propctl_top_main(int argc, char **argv);
int propctl_list_main(int argc, char **argv);
int propctl_describe_main(int argc, char **argv);

// The URLs to dial: the --url values when any (urls[0..n_flag)), else env
// PROPCTL_URL (comma-separated), else PDC_DEFAULT_URL. `buf` holds copies.
// Returns the count.
size_t propctl_urls(const char **urls, size_t n_flag, size_t cap, char *buf, size_t bufcap);

// Parses a positive integer option; returns -1 when `s` is not one.
long long propctl_parse_positive(const char *s, long long max);

// A --timeout value (pdc_duration_flag: a bare number is milliseconds) as
// whole milliseconds (rounded up), 1 ms..max_ms; -1 after printing
// "propctl <cmd>: <reason>" on stderr.
long long propctl_timeout_ms(const char *cmd, const char *arg, long long max_ms);

#endif
