#include "methods.h"

#include <stdio.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "property/v1/events.pb-c.h"
#include "property/v1/property.pb-c.h"

static const ProtobufCServiceDescriptor *const services[] = {
    &property__v1__property_service__descriptor,
    &property__v1__event_service__descriptor,
    &grpc__health__v1__health__descriptor,
};
#define N_SERVICES (sizeof services / sizeof services[0])

static void fill(const ProtobufCServiceDescriptor *s, unsigned m, pdc_method *out)
{
	out->service = s;
	out->method = &s->methods[m];
	out->input = s->methods[m].input;
	out->output = s->methods[m].output;
	snprintf(out->path, sizeof out->path, "/%s/%s", s->name, s->methods[m].name);
}

bool pdc_service_matches(const ProtobufCServiceDescriptor *s, const char *svc, size_t n)
{
	return (strlen(s->name) == n && memcmp(s->name, svc, n) == 0) ||
	       (strlen(s->short_name) == n && memcmp(s->short_name, svc, n) == 0);
}

int pdc_method_find_in(const ProtobufCServiceDescriptor *(*at)(const void *list, size_t i),
                       const void *list, size_t n, const char *name, pdc_method *out)
{
	if (name[0] == '/' || name[0] == '.')
		name++;
	// The method part follows the last '/' or, failing that, the last '.'.
	const char *sep = strrchr(name, '/');
	if (sep == NULL)
		sep = strrchr(name, '.');
	const char *meth = sep ? sep + 1 : name;
	size_t svclen = sep ? (size_t)(sep - name) : 0;
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		const ProtobufCServiceDescriptor *s = at(list, i);
		if (sep != NULL && !pdc_service_matches(s, name, svclen))
			continue;
		for (unsigned m = 0; m < s->n_methods; m++) {
			if (strcmp(s->methods[m].name, meth) != 0)
				continue;
			if (found++ == 0)
				fill(s, m, out);
		}
	}
	return found == 1 ? 0 : -1;
}

static const ProtobufCServiceDescriptor *builtin_at(const void *list, size_t i)
{
	(void)list;
	return services[i];
}

int pdc_method_find(const char *name, pdc_method *out)
{
	return pdc_method_find_in(builtin_at, NULL, N_SERVICES, name, out);
}

size_t pdc_method_count(void)
{
	size_t n = 0;
	for (size_t i = 0; i < N_SERVICES; i++)
		n += services[i]->n_methods;
	return n;
}

int pdc_method_at(size_t i, pdc_method *out)
{
	for (size_t s = 0; s < N_SERVICES; s++) {
		if (i < services[s]->n_methods) {
			fill(services[s], (unsigned)i, out);
			return 0;
		}
		i -= services[s]->n_methods;
	}
	return -1;
}
