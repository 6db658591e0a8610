// The C client (nrpc_client_call*) against the golden byte vectors of
// clients/python/tests/golden (docs/clients-python.md "Golden vectors").
//
// A fake REP peer speaks the SP wire format on a raw socket (tcp:// and
// ipc://): it checks the client's handshake and the request message byte for
// byte against a vector (all but the 4-byte request id, which nng picks at
// random: only its top bit is checked), then answers with a golden reply under
// the client's request id, and the test checks what the client decoded.
// Metadata is passed sorted by key, as the vectors are written.
//
// usage: rpc_golden_test GOLDEN_DIR
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/test/check.h"
#include "nrpc/client.h"
#include "property/v1/property.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

static const char *golden_dir;

typedef struct bytes {
	uint8_t *p;
	size_t n;
} bytes;

// Reads a vector: hex digits after '#' comment lines, whitespace ignored.
static bytes load(const char *name)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", golden_dir, name);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		exit(1);
	}
	bytes b = {malloc(1 << 16), 0};
	char line[4096];
	int hi = -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (line[0] == '#')
			continue;
		for (const char *c = line; *c; c++) {
			int v;
			if (*c >= '0' && *c <= '9')
				v = *c - '0';
			else if (*c >= 'a' && *c <= 'f')
				v = *c - 'a' + 10;
			else if (*c >= 'A' && *c <= 'F')
				v = *c - 'A' + 10;
			else
				continue;
			if (hi < 0) {
				hi = v;
			} else {
				b.p[b.n++] = (uint8_t)(hi << 4 | v);
				hi = -1;
			}
		}
	}
	fclose(f);
	return b;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, p, n);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

// One exchange of the fake peer.
typedef struct peer {
	int lfd;
	int ipc;             // messages carry a leading 0x01 byte
	bytes want_request;  // whole message as on the wire
	bytes reply;         // whole tcp:// reply message; its id is replaced
	int request_matched; // out
	int handshake_ok;    // out
} peer;

static void *peer_main(void *arg)
{
	peer *pr = arg;
	int fd = accept(pr->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	bytes rep = load("handshake_rep.hex"), req = load("handshake_req.hex");
	uint8_t hs[8];
	if (write_full(fd, rep.p, rep.n) != 0 || read_full(fd, hs, 8) != 0)
		goto out;
	pr->handshake_ok = req.n == 8 && memcmp(hs, req.p, 8) == 0;

	size_t pre = pr->ipc ? 1 : 0;
	uint8_t head[9];
	if (read_full(fd, head, pre + 8) != 0)
		goto out;
	uint64_t len = 0;
	for (size_t i = 0; i < 8; i++)
		len = len << 8 | head[pre + i];
	if (len > 1 << 20)
		goto out;
	uint8_t *msg = malloc(pre + 8 + len);
	memcpy(msg, head, pre + 8);
	if (read_full(fd, msg + pre + 8, len) != 0) {
		free(msg);
		goto out;
	}
	size_t id_at = pre + 8;
	bytes *w = &pr->want_request;
	pr->request_matched = w->n == pre + 8 + len && (msg[id_at] & 0x80) != 0 &&
	                      memcmp(msg, w->p, id_at) == 0 &&
	                      memcmp(msg + id_at + 4, w->p + id_at + 4, len - 4) == 0;
	if (!pr->request_matched) {
		fprintf(stderr, "request differs (%zu bytes, want %zu):\n", pre + 8 + len, w->n);
		for (size_t i = 0; i < pre + 8 + len; i++)
			fprintf(stderr, "%02x%s", msg[i], i % 32 == 31 ? "\n" : "");
		fputc('\n', stderr);
	}
	// The reply under the client's id (tcp:// vector; ipc:// adds 0x01).
	uint8_t one = 1;
	memcpy(pr->reply.p + 8, msg + id_at, 4);
	free(msg);
	if ((pr->ipc && write_full(fd, &one, 1) != 0) ||
	    write_full(fd, pr->reply.p, pr->reply.n) != 0)
		goto out;
	uint8_t drain[64];
	while (read(fd, drain, sizeof drain) > 0) { // until the client closes
	}
out:
	close(fd);
	free(rep.p);
	free(req.p);
	return NULL;
}

// A listener for tcp:// (127.0.0.1, any port) or ipc:// (a path in /tmp).
static int listen_on(int ipc, char *url, size_t cap)
{
	int fd;
	if (ipc) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof sa.sun_path, "/tmp/nrpc-golden-%d.sock",
		         (int)getpid());
		unlink(sa.sun_path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
			return -1;
		snprintf(url, cap, "ipc://%s", sa.sun_path);
	} else {
		struct sockaddr_in sa = {.sin_family = AF_INET};
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t sl = sizeof sa;
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
		    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
			return -1;
		snprintf(url, cap, "tcp://127.0.0.1:%u", ntohs(sa.sin_port));
	}
	return listen(fd, 1) == 0 ? fd : -1;
}

// Calls through the C client against a peer expecting `request_file`,
// answering `reply_file`; fills *res.
static void exchange(int ipc, const char *request_file, const char *reply_file, const char *method,
                     const ProtobufCMessage *req, const nrpc_meta *md, size_t n_md,
                     uint32_t timeout_ms, nrpc_result *res)
{
	char url[160];
	peer pr = {.ipc = ipc, .want_request = load(request_file), .reply = load(reply_file)};
	pr.lfd = listen_on(ipc, url, sizeof url);
	CHECK(pr.lfd >= 0);
	pthread_t th;
	pthread_create(&th, NULL, peer_main, &pr);
	nrpc_client *c = NULL;
	char err[256];
	const char *urls[] = {url};
	CHECK(nrpc_client_open(&c, urls, 1, err, sizeof err) == 0);
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len + 1);
	protobuf_c_message_pack(req, buf);
	CHECK(nrpc_client_call_raw(c, method, buf, len, md, n_md, timeout_ms, res) == 0);
	free(buf);
	nrpc_client_close(c);
	pthread_join(th, NULL);
	close(pr.lfd);
	CHECK(pr.handshake_ok);
	CHECK(pr.request_matched);
	free(pr.want_request.p);
	free(pr.reply.p);
}

// The payload of a golden reply (the tcp:// message: 8-byte length, 4-byte id).
static bytes reply_payload(const char *file)
{
	bytes b = load(file);
	Rpc__V1__Response *r = rpc__v1__response__unpack(NULL, b.n - 12, b.p + 12);
	bytes out = {malloc(r->payload.len + 1), r->payload.len};
	memcpy(out.p, r->payload.data, r->payload.len);
	rpc__v1__response__free_unpacked(r, NULL);
	free(b.p);
	return out;
}

static void test_get(int ipc)
{
	Property__V1__GetPropertyRequest req = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	req.id = "3f2b8c1e-5d4a-4b7e-9c2d-1a0b9e8f7d6c";
	const nrpc_meta md[] = {{"authorization", "Bearer t0k3n"}, {"x-request-id", "golden-1"}};
	nrpc_result res;
	exchange(ipc, ipc ? "request_get_ipc.hex" : "request_get_tcp.hex", "reply_ok_property.hex",
	         "/property.v1.PropertyService/GetProperty", &req.base, md, 2, 2000, &res);
	CHECK(res.code == 0);
	CHECK(!res.transport_error);
	CHECK(strcmp(res.message, "") == 0);
	bytes want = reply_payload("reply_ok_property.hex");
	CHECK(res.payload_len == want.n && memcmp(res.payload, want.p, want.n) == 0);
	CHECK(res.n_metadata == 1);
	const char *rid = nrpc_result_metadata(&res, "x-request-id");
	CHECK(rid != NULL && strcmp(rid, "golden-1") == 0);
	Property__V1__Property *p =
	    property__v1__property__unpack(NULL, res.payload_len, res.payload);
	CHECK(p != NULL && strcmp(p->owner_id, "alice") == 0 && p->version == 1 &&
	      p->created_at_us == 1700000000123456 && p->location != NULL &&
	      strcmp(p->location->city, "Paris") == 0);
	if (p != NULL)
		property__v1__property__free_unpacked(p, NULL);
	free(want.p);
	nrpc_result_free(&res);
}

static void test_create(void)
{
	Property__V1__Location loc = PROPERTY__V1__LOCATION__INIT;
	loc.address = "1 Rue de Rivoli";
	loc.city = "Paris";
	loc.country_code = "FR";
	loc.latitude = 48.8566;
	loc.longitude = 2.3522;
	Property__V1__CreatePropertyRequest req = PROPERTY__V1__CREATE_PROPERTY_REQUEST__INIT;
	req.owner_id = "alice";
	req.title = "Flat by the river";
	req.description = "Two rooms, sunny.";
	req.location = &loc;
	req.price_cents = 45000000;
	req.currency = "EUR";
	req.bedrooms = 2;
	req.status = PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_LISTED;
	const nrpc_meta md[] = {
	    {"authorization", "Bearer t0k3n"},
	    {"idempotency-key", "k-1"},
	    {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	    {"x-request-id", "golden-2"},
	};
	nrpc_result res;
	exchange(0, "request_create_tcp.hex", "reply_invalid_argument.hex",
	         "/property.v1.PropertyService/CreateProperty", &req.base, md, 4, 5000, &res);
	CHECK(res.code == 3);
	CHECK(!res.transport_error);
	CHECK(strcmp(res.message, "invalid argument: 2 invalid fields") == 0);
	CHECK(res.payload_len == 0);
	CHECK(res.n_violations == 2);
	if (res.n_violations == 2) {
		CHECK(strcmp(res.violation_fields[0], "title") == 0);
		CHECK(strcmp(res.violation_descriptions[0], "must be 1 to 200 characters") == 0);
		CHECK(strcmp(res.violation_fields[1], "location.country_code") == 0);
		CHECK(strcmp(res.violation_descriptions[1],
		             "must be two upper-case letters (ISO 3166-1 alpha-2)") == 0);
	}
	const char *rid = nrpc_result_metadata(&res, "x-request-id");
	CHECK(rid != NULL && strcmp(rid, "golden-2") == 0);
	nrpc_result_free(&res);
}

static void test_not_found(void)
{
	// The GetProperty request again, answered with the NOT_FOUND vector.
	Property__V1__GetPropertyRequest req = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	req.id = "3f2b8c1e-5d4a-4b7e-9c2d-1a0b9e8f7d6c";
	const nrpc_meta md[] = {{"authorization", "Bearer t0k3n"}, {"x-request-id", "golden-1"}};
	nrpc_result res;
	exchange(0, "request_get_tcp.hex", "reply_not_found.hex",
	         "/property.v1.PropertyService/GetProperty", &req.base, md, 2, 2000, &res);
	CHECK(res.code == 5);
	CHECK(strcmp(res.message, "property 3f2b8c1e-5d4a-4b7e-9c2d-1a0b9e8f7d6c not found") == 0);
	CHECK(res.payload_len == 0 && res.n_violations == 0);
	const char *rid = nrpc_result_metadata(&res, "x-request-id");
	CHECK(rid != NULL && strcmp(rid, "golden-3") == 0);
	nrpc_result_free(&res);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s GOLDEN_DIR\n", argv[0]);
		return 2;
	}
	golden_dir = argv[1];
	test_get(0);
	test_get(1);
	test_create();
	test_not_found();
	return check_summary("rpc_golden_test");
}
