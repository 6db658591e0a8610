// obs process: the standard process_* metric families of Prometheus clients,
// read from /proc at scrape time.
//
//   process_cpu_seconds_total       user + system CPU time
//   process_resident_memory_bytes   RSS
//   process_virtual_memory_bytes    virtual size
//   process_open_fds                open file descriptors
//   process_max_fds                 the soft RLIMIT_NOFILE
//   process_start_time_seconds      start time, seconds since the epoch
//
// obs_process_register creates the series in `r` (which must outlive the
// returned handle); obs_process_collect refreshes them (call it from the
// registry's collect hook: one thread at a time). A value that cannot be read
// keeps its last one. Linux only.
#ifndef OBS_PROCESS_H
#define OBS_PROCESS_H

#include "obs/metrics.h"

typedef struct obs_process obs_process;

// NULL only when out of memory. Free with obs_process_free.
obs_process *obs_process_register(obs_registry *r);
void obs_process_collect(obs_process *p);
void obs_process_free(obs_process *p);

// Raises the open-file soft limit to the hard one (base/fdlimit.h) and logs a
// warning naming both when the kernel refuses. Servers call it at start:
// connections cost a descriptor each, so the connection caps (not EMFILE in
// the middle of a reconnect) are what bounds them.
void obs_process_raise_fd_limit(void);

#endif
