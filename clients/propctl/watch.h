// propctl watch: follows the domain event stream (docs/contract.md section 6)
// through propsub and prints one JSON object per event on stdout.
#ifndef PROPCTL_WATCH_H
#define PROPCTL_WATCH_H

// argv[0] is "watch". Returns the propctl exit status (propctl.h): 0 after
// SIGINT/SIGTERM or --count events, 1 when the event socket failed, 64 on a
// usage error.
int propctl_watch_main(int argc, char **argv);

#endif
