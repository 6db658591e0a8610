// propctl_e2e: the propctl binary against an in-process nrpc server with
// fake Health and PropertyService handlers (no database): exit statuses,
// the JSON reply, the ERROR line with violations, tokens (--sub, --token,
// PROPCTL_TOKEN), --meta and --idempotency-key reaching the server.
//
// usage: propctl_e2e_test /path/to/propctl   (AUTH_SECRET set by CTest)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/jwt.h"
#include "nrpc/reflection.h"
#include "nrpc/server.h"
#include "pd_fds.h"
#include "property/v1/property.pb-c.h"

#define MAX_ARGS 16
#define OUT_CAP  65536

// ---- the fake service -------------------------------------------------------------------

static nrpc_code health_check(nrpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out,
                              void *arg)
{
	(void)arg;
	const Grpc__Health__V1__HealthCheckRequest *req = (const void *)in;
	Grpc__Health__V1__HealthCheckResponse *r = nrpc_call_alloc(c, sizeof *r);
	grpc__health__v1__health_check_response__init(r);
	if (strcmp(req->service, "") == 0)
		r->status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	else if (strcmp(req->service, "property.v1.EventService") == 0)
		r->status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
	else
		return nrpc_call_error(c, NRPC_NOT_FOUND, "unknown service %s", req->service);
	*out = &r->base;
	return NRPC_OK;
}

static nrpc_code get_property(nrpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out,
                              void *arg)
{
	(void)arg;
	const Property__V1__GetPropertyRequest *req = (const void *)in;
	if (strcmp(req->id, "p1") != 0)
		return nrpc_call_error(c, NRPC_NOT_FOUND, "property %s not found", req->id);
	Property__V1__Property *p = nrpc_call_alloc(c, sizeof *p);
	property__v1__property__init(p);
	p->id = nrpc_call_strdup(c, "p1");
	p->owner_id = nrpc_call_strdup(c, nrpc_call_subject(c) ? nrpc_call_subject(c) : "");
	p->title = nrpc_call_strdup(c, "Flat");
	p->price_cents = 12345678901;
	p->status = PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_LISTED;
	// Echo two request metadata values so the test sees they arrived.
	const char *m = nrpc_call_metadata(c, "x-test");
	p->description = nrpc_call_strdup(c, m ? m : "");
	const char *k = nrpc_call_metadata(c, "idempotency-key");
	p->currency = nrpc_call_strdup(c, k ? k : "");
	*out = &p->base;
	return NRPC_OK;
}

static nrpc_code create_property(nrpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out,
                                 void *arg)
{
	(void)arg;
	(void)out;
	const Property__V1__CreatePropertyRequest *req = (const void *)in;
	if (req->title[0] == '\0')
		nrpc_call_violation(c, "title", "must be 1-200 characters");
	if (req->location == NULL || req->location->city[0] == '\0')
		nrpc_call_violation(c, "location.city", "must be 1-100 characters");
	return nrpc_call_error(c, NRPC_INVALID_ARGUMENT, "invalid property");
}

// ---- running propctl --------------------------------------------------------------------

typedef struct e2e_case {
	const char *name;
	const char *args[MAX_ARGS]; // after "propctl"; "@URL" is replaced by the server URL
	const char *in;
	const char *env_token; // PROPCTL_TOKEN: NULL unset, "@sub:NAME" minted for NAME
	int want_exit;
	const char *want_out[4];
	const char *want_err[4];
} e2e_case;

static const e2e_case cases[] = {
    {"health_serving", {"health", "--url", "@URL"}, NULL, NULL, 0, {"SERVING\n"}, {NULL}},
    {"health_not_serving",
     {"health", "--url", "@URL", "--service", "property.v1.EventService"},
     NULL,
     NULL,
     1,
     {"NOT_SERVING\n"},
     {NULL}},
    {"health_unknown_service",
     {"health", "--url", "@URL", "--service", "nope"},
     NULL,
     NULL,
     1,
     {NULL},
     {"ERROR NOT_FOUND (5): unknown service nope"}},
    // Several instances: health checks each one; call is balanced (the
    // unreachable one is skipped).
    {"health_each",
     {"health", "--url", "@URL", "--url", "ipc:///nonexistent/propctl-e2e", "--timeout", "300"},
     NULL,
     NULL,
     2,
     {" SERVING\n", "ipc:///nonexistent/propctl-e2e NO_ANSWER\n"},
     {"no answer from ipc:///nonexistent/propctl-e2e"}},
    {"call_balanced",
     {"call", "GetProperty", "{\"id\":\"p1\"}", "--url", "ipc:///nonexistent/propctl-e2e", "--url",
      "@URL", "--sub", "alice"},
     NULL,
     NULL,
     0,
     {"\"owner_id\": \"alice\""},
     {NULL}},
    {"call_health_open",
     {"call", "Check", "{}", "--url", "@URL"},
     NULL,
     NULL,
     0,
     {"\"status\": \"SERVING\""},
     {NULL}},
    {"call_get_with_sub",
     {"call", "GetProperty", "{\"id\":\"p1\"}", "--url", "@URL", "--sub", "alice", "--meta",
      "x-test=hello", "--idempotency-key", "k-1"},
     NULL,
     NULL,
     0,
     {"\"owner_id\": \"alice\"", "\"price_cents\": \"12345678901\"", "\"description\": \"hello\"",
      "\"currency\": \"k-1\""},
     {NULL}},
    {"call_get_header_and_data_from_stdin",
     {"call", "GetProperty", "@-", "--url", "@URL", "--sub", "alice", "-H", "x-test:  hello"},
     "{\"id\":\"p1\"}",
     NULL,
     0,
     {"\"owner_id\": \"alice\"", "\"description\": \"hello\""},
     {NULL}},
    {"call_data_file_missing",
     {"call", "GetProperty", "@/nonexistent/req.json", "--url", "@URL", "--sub", "alice"},
     NULL,
     NULL,
     64,
     {NULL},
     {"/nonexistent/req.json: No such file"}},
    {"call_get_defaults_printed",
     {"call", "/property.v1.PropertyService/GetProperty", "-", "--url", "@URL", "--sub", "a"},
     "{\"id\":\"p1\"}",
     NULL,
     0,
     {"\"location\": null", "\"bedrooms\": 0", "\"version\": \"0\"",
      "\"status\": \"PROPERTY_STATUS_LISTED\""},
     {NULL}},
    {"call_env_token",
     {"call", "GetProperty", "{\"id\":\"p1\"}", "--url", "@URL"},
     NULL,
     "@sub:bob",
     0,
     {"\"owner_id\": \"bob\""},
     {NULL}},
    {"call_compact",
     {"call", "GetProperty", "{\"id\":\"p1\"}", "--url", "@URL", "--compact"},
     NULL,
     "@sub:bob",
     0,
     {"{\"id\":\"p1\",\"owner_id\":\"bob\","},
     {NULL}},
    {"call_not_found",
     {"call", "GetProperty", "{\"id\":\"zz\"}", "--url", "@URL", "--sub", "a"},
     NULL,
     NULL,
     1,
     {NULL},
     {"ERROR NOT_FOUND (5): property zz not found"}},
    {"call_no_token",
     {"call", "GetProperty", "{\"id\":\"p1\"}", "--url", "@URL"},
     NULL,
     NULL,
     1,
     {NULL},
     {"ERROR UNAUTHENTICATED (16):"}},
    {"call_bad_token",
     {"call", "GetProperty", "{\"id\":\"p1\"}", "--url", "@URL", "--token", "a.b.c"},
     NULL,
     NULL,
     1,
     {NULL},
     {"ERROR UNAUTHENTICATED (16):"}},
    {"call_violations",
     {"call", "CreateProperty", "{\"title\":\"\",\"location\":{}}", "--url", "@URL", "--sub", "a"},
     NULL,
     NULL,
     1,
     {NULL},
     {"ERROR INVALID_ARGUMENT (3): invalid property\n"
      "  title: must be 1-200 characters\n"
      "  location.city: must be 1-100 characters\n"}},
    {"call_unimplemented",
     {"call", "DeleteProperty", "{\"id\":\"p1\"}", "--url", "@URL", "--sub", "a"},
     NULL,
     NULL,
     1,
     {NULL},
     {"ERROR UNIMPLEMENTED (12)"}},
    // Reflection (docs/contract.md §2.10): list, describe, and call --reflect,
    // which bypasses propctl's compiled-in descriptors.
    {"list_services",
     {"list", "--url", "@URL"},
     NULL,
     NULL,
     0,
     {"grpc.health.v1.Health\nproperty.v1.PropertyService\nrpc.v1.Reflection\n"},
     {NULL}},
    {"list_methods",
     {"list", "PropertyService", "--url", "@URL"},
     NULL,
     NULL,
     0,
     {"property.v1.PropertyService.CreateProperty\nproperty.v1.PropertyService.GetProperty\n"},
     {NULL}},
    {"list_unknown_service",
     {"list", "Nope", "--url", "@URL"},
     NULL,
     NULL,
     1,
     {NULL},
     {"no service"}},
    {"describe_message",
     {"describe", "property.v1.Location", "--url", "@URL"},
     NULL,
     NULL,
     0,
     {"property.v1.Location is a message:\nmessage Location {\n  string address = 1;\n",
      "  double longitude = 5;\n}\n"},
     {NULL}},
    {"describe_method",
     {"describe", "property.v1.PropertyService.GetProperty", "--url", "@URL"},
     NULL,
     NULL,
     0,
     {"rpc GetProperty ( .property.v1.GetPropertyRequest ) returns ( .property.v1.Property );\n"},
     {NULL}},
    {"describe_map_and_enum",
     {"describe", "--url", "@URL"},
     NULL,
     NULL,
     0,
     {"service Reflection {\n", "service PropertyService {\n"},
     {NULL}},
    {"describe_unknown",
     {"describe", "x.Y", "--url", "@URL"},
     NULL,
     NULL,
     1,
     {NULL},
     {"no symbol"}},
    {"call_reflect_get",
     {"call", "--reflect", "GetProperty", "{\"id\":\"p1\"}", "--url", "@URL", "--sub", "alice",
      "--meta", "x-test=hello", "--idempotency-key", "k-1"},
     NULL,
     NULL,
     0,
     {"\"owner_id\": \"alice\"", "\"price_cents\": \"12345678901\"", "\"description\": \"hello\"",
      "\"currency\": \"k-1\""},
     {NULL}},
    {"call_reflect_defaults",
     {"call", "--reflect", "/property.v1.PropertyService/GetProperty", "-", "--url", "@URL",
      "--sub", "a"},
     "{\"id\":\"p1\"}",
     NULL,
     0,
     {"\"location\": null", "\"bedrooms\": 0", "\"version\": \"0\"",
      "\"status\": \"PROPERTY_STATUS_LISTED\""},
     {NULL}},
    {"call_reflect_violations",
     {"call", "--reflect", "CreateProperty", "{\"title\":\"\",\"location\":{\"latitude\":1.5}}",
      "--url", "@URL", "--sub", "a"},
     NULL,
     NULL,
     1,
     {NULL},
     {"ERROR INVALID_ARGUMENT (3): invalid property\n"
      "  title: must be 1-200 characters\n"
      "  location.city: must be 1-100 characters\n"}},
    {"call_reflect_bad_field",
     {"call", "--reflect", "GetProperty", "{\"idd\":1}", "--url", "@URL"},
     NULL,
     NULL,
     64,
     {NULL},
     {"unknown field \"idd\""}},
    {"call_reflect_unknown_method",
     {"call", "--reflect", "Nope", "{}", "--url", "@URL"},
     NULL,
     NULL,
     64,
     {NULL},
     {"the server has no method \"Nope\""}},
};

static const char *url;
static const char *propctl;

static char *slurp(FILE *f)
{
	char *buf = calloc(1, OUT_CAP);
	if (buf == NULL)
		return NULL;
	rewind(f);
	buf[fread(buf, 1, OUT_CAP - 1, f)] = '\0';
	return buf;
}

static char *mint(const char *sub)
{
	const char *s = getenv("AUTH_SECRET");
	return nrpc_jwt_sign((const uint8_t *)s, strlen(s), sub, (int64_t)time(NULL) + 600);
}

static int run(const e2e_case *c, char **out, char **err)
{
	*out = *err = NULL;
	char *token = c->env_token ? mint(c->env_token + 5) : NULL;
	FILE *fin = tmpfile(), *fout = tmpfile(), *ferr = tmpfile();
	int status = -1;
	if (fin == NULL || fout == NULL || ferr == NULL)
		goto done;
	if (c->in != NULL) {
		fputs(c->in, fin);
		fflush(fin);
		rewind(fin);
	}
	pid_t pid = fork();
	if (pid == 0) {
		const char *argv[MAX_ARGS + 2] = {propctl};
		for (size_t i = 0; i < MAX_ARGS && c->args[i] != NULL; i++)
			argv[i + 1] = strcmp(c->args[i], "@URL") == 0 ? url : c->args[i];
		dup2(fileno(fin), 0);
		dup2(fileno(fout), 1);
		dup2(fileno(ferr), 2);
		if (token != NULL)
			setenv("PROPCTL_TOKEN", token, 1);
		else
			unsetenv("PROPCTL_TOKEN");
		execv(propctl, (char *const *)argv);
		_exit(127);
	}
	int ws = 0;
	if (pid < 0 || waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws))
		goto done;
	status = WEXITSTATUS(ws);
	*out = slurp(fout);
	*err = slurp(ferr);
done:
	free(token);
	if (fin)
		fclose(fin);
	if (fout)
		fclose(fout);
	if (ferr)
		fclose(ferr);
	return status;
}

static int check(const e2e_case *c)
{
	char *out = NULL, *err = NULL;
	int ok = 0;
	int st = run(c, &out, &err);
	if (out == NULL || err == NULL) {
		printf("FAIL %s: could not run %s\n", c->name, propctl);
		goto done;
	}
	if (st != c->want_exit) {
		printf("FAIL %s: exit %d, want %d\n  stdout: %s\n  stderr: %s\n", c->name, st,
		       c->want_exit, out, err);
		goto done;
	}
	for (size_t i = 0; i < 4 && c->want_out[i]; i++)
		if (strstr(out, c->want_out[i]) == NULL) {
			printf("FAIL %s: stdout lacks \"%s\":\n%s\n", c->name, c->want_out[i], out);
			goto done;
		}
	for (size_t i = 0; i < 4 && c->want_err[i]; i++)
		if (strstr(err, c->want_err[i]) == NULL) {
			printf("FAIL %s: stderr lacks \"%s\":\n%s\n", c->name, c->want_err[i], err);
			goto done;
		}
	ok = 1;
done:
	free(out);
	free(err);
	return ok;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s /path/to/propctl\n", argv[0]);
		return 2;
	}
	propctl = argv[1];
	const char *secret = getenv("AUTH_SECRET");
	if (secret == NULL) {
		fprintf(stderr, "FAIL: AUTH_SECRET must be set (CTest sets it)\n");
		return 1;
	}
	char urlbuf[128];
	snprintf(urlbuf, sizeof urlbuf, "ipc:///tmp/propctl_e2e_%ld.sock", (long)getpid());
	url = urlbuf;

	static const nrpc_method_impl health[] = {
	    {.name = "Check", .handler = health_check, .flags = NRPC_OPEN | NRPC_INLINE},
	};
	static const nrpc_method_impl props[] = {
	    {.name = "GetProperty", .handler = get_property},
	    {.name = "CreateProperty", .handler = create_property},
	};
	nrpc_server_config cfg = {
	    .url = url,
	    .workers = 2,
	    .auth_secret = (const uint8_t *)secret,
	    .auth_secret_len = strlen(secret),
	};
	char err[256];
	nrpc_server *srv = NULL;
	if (nrpc_server_create(&srv, &cfg, err, sizeof err) != 0 ||
	    nrpc_server_add_service(srv, &grpc__health__v1__health__descriptor, health, 1, NULL) !=
	        0 ||
	    nrpc_server_add_service(srv, &property__v1__property_service__descriptor, props, 2,
	                            NULL) != 0 ||
	    nrpc_reflection_register(srv, pd_fds, pd_fds_len) != 0 ||
	    nrpc_server_start(srv, err, sizeof err) != 0) {
		fprintf(stderr, "FAIL: fake server: %s\n", err);
		nrpc_server_destroy(srv);
		return 1;
	}
	size_t n = sizeof cases / sizeof cases[0], passed = 0;
	for (size_t i = 0; i < n; i++)
		passed += (size_t)check(&cases[i]);
	nrpc_server_drain(srv, 1000);
	nrpc_server_destroy(srv);
	unlink(urlbuf + strlen("ipc://"));
	printf("%zu passed, %zu failed\n", passed, n - passed);
	return passed == n ? 0 : 1;
}
