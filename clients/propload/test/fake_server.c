// The fake server: see fake_server.h.
#include "fake_server.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/nngclose.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

struct fake_server {
	nng_socket sock;
	pthread_t thr;
	atomic_int stop;
	atomic_uint_fast64_t count, health;
	atomic_int status; // the answer to Health/Check
	uint64_t stall_at;
	unsigned stall_ms;
};

static void *serve(void *arg)
{
	fake_server *s = arg;
	while (!atomic_load(&s->stop)) {
		nng_msg *m;
		if (nng_recvmsg(s->sock, &m, 0) != 0)
			continue; // timeout: look at the stop flag again
		uint64_t n = atomic_fetch_add(&s->count, 1) + 1;
		if (n == s->stall_at)
			nng_msleep((nng_duration)s->stall_ms);
		Rpc__V1__Request *req =
		    rpc__v1__request__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
		bool health =
		    req != NULL && strcmp(req->method, "/grpc.health.v1.Health/Check") == 0;
		if (req != NULL)
			rpc__v1__request__free_unpacked(req, NULL);
		Rpc__V1__Response res = RPC__V1__RESPONSE__INIT;
		uint8_t payload[8];
		if (health) {
			Grpc__Health__V1__HealthCheckResponse h =
			    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
			h.status = atomic_load(&s->status);
			res.payload.data = payload;
			res.payload.len =
			    grpc__health__v1__health_check_response__pack(&h, payload);
			atomic_fetch_add(&s->health, 1);
		}
		nng_msg_clear(m); // keeps the REQ header
		size_t len = rpc__v1__response__get_packed_size(&res);
		uint8_t buf[64];
		rpc__v1__response__pack(&res, buf);
		nng_msg_append(m, buf, len);
		if (nng_sendmsg(s->sock, m, 0) != 0)
			nng_msg_free(m);
	}
	return NULL;
}

int fake_server_start(fake_server **out, const char *url, uint64_t stall_at, unsigned stall_ms)
{
	fake_server *s = calloc(1, sizeof(*s));
	int rv;
	if (!s)
		return NNG_ENOMEM;
	s->stall_at = stall_at;
	atomic_init(&s->status, 1); // SERVING
	s->stall_ms = stall_ms;
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		free(s);
		return rv;
	}
	if ((rv = nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, 50)) != 0 ||
	    (rv = nng_listen(s->sock, url, NULL, 0)) != 0 ||
	    (rv = pthread_create(&s->thr, NULL, serve, s)) != 0) {
		nng_close(s->sock);
		free(s);
		return rv;
	}
	*out = s;
	return 0;
}

uint64_t fake_server_count(fake_server *s)
{
	return atomic_load(&s->count);
}

uint64_t fake_server_health_count(fake_server *s)
{
	return atomic_load(&s->health);
}

void fake_server_set_health(fake_server *s, int status)
{
	atomic_store(&s->status, status);
}

// Stops answering, lets the replies already sent reach their callers, then
// closes. Closing with replies still on the wire would race a bug of nng
// 1.5.2's ipc and tcp transports (docs/dependencies.md): a caller whose send
// fails while its receive path is between a reply's header and its body
// loses the body's read, nng's pipe reaper waits for it for ever, and the
// caller's nng_close never returns.
void fake_server_stop(fake_server *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->thr, NULL);
	nng_msleep(100);
	(void)base_nng_close(s->sock, BASE_NNG_CLOSE_BUDGET_MS);
	free(s);
}
