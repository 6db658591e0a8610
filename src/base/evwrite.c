// base evwrite: see evwrite.h.
#include "base/evwrite.h"

#include <errno.h>

int base_ev_write(struct evbuffer *buf, evutil_socket_t fd, struct event *wev)
{
	if (evbuffer_get_length(buf) == 0 || event_pending(wev, EV_WRITE, NULL))
		return 0;
	while (evbuffer_get_length(buf) > 0) {
		int n = evbuffer_write(buf, fd);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(wev, NULL);
			return 0;
		}
		if (n <= 0)
			return -1;
	}
	return 0;
}
