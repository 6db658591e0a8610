// base fdlimit: raise the process's open-file limit to its hard limit, so a
// server with thousands of connections does not run out of descriptors (and
// then fail its own PostgreSQL/Redis reconnects).
#ifndef BASE_FDLIMIT_H
#define BASE_FDLIMIT_H

// Raises RLIMIT_NOFILE's soft limit to the hard one. Returns 0 (also when it
// was already there), or -1 when the kernel refused; *soft and *hard (either
// may be NULL) receive the limits as they were.
int base_raise_fd_limit(long *soft, long *hard);

#endif
