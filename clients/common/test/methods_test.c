// methods_find: every accepted spelling of a method name finds it, and
// unknown or ambiguous names do not.
#include <stdio.h>
#include <string.h>

#include "methods.h"

typedef struct find_case {
	const char *name;
	const char *want_path; // NULL: must not be found
	const char *want_input;
} find_case;

static const find_case cases[] = {
    {"/property.v1.PropertyService/GetProperty", "/property.v1.PropertyService/GetProperty",
     "property.v1.GetPropertyRequest"},
    {"property.v1.PropertyService/CreateProperty", "/property.v1.PropertyService/CreateProperty",
     "property.v1.CreatePropertyRequest"},
    {"property.v1.PropertyService.SearchProperties",
     "/property.v1.PropertyService/SearchProperties", "property.v1.SearchPropertiesRequest"},
    {"PropertyService.UpdateProperty", "/property.v1.PropertyService/UpdateProperty",
     "property.v1.UpdatePropertyRequest"},
    {"EventService/ReadEvents", "/property.v1.EventService/ReadEvents",
     "property.v1.ReadEventsRequest"},
    {"ReadEvents", "/property.v1.EventService/ReadEvents", "property.v1.ReadEventsRequest"},
    {"Check", "/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest"},
    {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Check",
     "grpc.health.v1.HealthCheckRequest"},
    {"Health.Check", "/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest"},
    // A leading '.' as in descriptors' type names (the rule reflect.h's lookup had).
    {".property.v1.PropertyService.GetProperty", "/property.v1.PropertyService/GetProperty",
     "property.v1.GetPropertyRequest"},
    {"GetPropertyX", NULL, NULL},
    {"EventService.GetProperty", NULL, NULL},
    {"/nope.v1.Nope/GetProperty", NULL, NULL},
    {"", NULL, NULL},
    {"/", NULL, NULL},
};

int main(void)
{
	size_t n = sizeof cases / sizeof cases[0], passed = 0;
	for (size_t i = 0; i < n; i++) {
		const find_case *c = &cases[i];
		pdc_method m;
		int rc = pdc_method_find(c->name, &m);
		if (c->want_path == NULL) {
			if (rc == 0)
				printf("FAIL \"%s\": found %s, want nothing\n", c->name, m.path);
			else
				passed++;
			continue;
		}
		if (rc != 0)
			printf("FAIL \"%s\": not found\n", c->name);
		else if (strcmp(m.path, c->want_path) != 0 || strcmp(m.input->name, c->want_input))
			printf("FAIL \"%s\": got %s (%s)\n", c->name, m.path, m.input->name);
		else
			passed++;
	}
	// Listing: 6 + 1 + 1 methods, each findable by its own path.
	size_t count = pdc_method_count(), listed = 0;
	for (size_t i = 0; i < count; i++) {
		pdc_method a, b;
		if (pdc_method_at(i, &a) == 0 && pdc_method_find(a.path, &b) == 0 &&
		    a.method == b.method)
			listed++;
	}
	pdc_method none;
	int list_ok = count == 8 && listed == count && pdc_method_at(count, &none) != 0;
	if (!list_ok)
		printf("FAIL list: count %zu, findable %zu\n", count, listed);
	printf("%zu passed, %zu failed\n", passed + (size_t)list_ok,
	       n + 1 - passed - (size_t)list_ok);
	return passed == n && list_ok ? 0 : 1;
}
