#include "reflect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/v1/reflection.pb-c.h"

#define M_LIST "/rpc.v1.Reflection/ListServices"
#define M_FDS  "/rpc.v1.Reflection/GetFileDescriptorSet"

int pdc_reflect_services(nrpc_client *c, uint32_t timeout_ms, char ***names, size_t *n,
                         nrpc_result *res, char *err, size_t errcap)
{
	*names = NULL;
	*n = 0;
	Rpc__V1__ListServicesRequest req = RPC__V1__LIST_SERVICES_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	if (nrpc_client_call(c, M_LIST, &req.base, &rpc__v1__list_services_response__descriptor,
	                     NULL, 0, timeout_ms, &out, res) != 0) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	if (res->code != 0 || out == NULL)
		return -1;
	const Rpc__V1__ListServicesResponse *r = (const Rpc__V1__ListServicesResponse *)out;
	char **v = calloc(r->n_services + 1, sizeof(char *));
	int rc = v != NULL ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < r->n_services; i++)
		if ((v[i] = strdup(r->services[i])) == NULL)
			rc = -1;
	if (rc != 0) {
		pdc_reflect_free_names(v, r->n_services);
		snprintf(err, errcap, "out of memory");
	} else {
		*names = v;
		*n = r->n_services;
	}
	protobuf_c_message_free_unpacked(out, NULL);
	return rc;
}

void pdc_reflect_free_names(char **names, size_t n)
{
	for (size_t i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
}

pdc_rtdesc *pdc_reflect_load(nrpc_client *c, uint32_t timeout_ms, nrpc_result *res, char *err,
                             size_t errcap)
{
	Rpc__V1__GetFileDescriptorSetRequest req = RPC__V1__GET_FILE_DESCRIPTOR_SET_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	if (nrpc_client_call(c, M_FDS, &req.base,
	                     &rpc__v1__get_file_descriptor_set_response__descriptor, NULL, 0,
	                     timeout_ms, &out, res) != 0) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	if (res->code != 0 || out == NULL)
		return NULL;
	const Rpc__V1__GetFileDescriptorSetResponse *r =
	    (const Rpc__V1__GetFileDescriptorSetResponse *)out;
	pdc_rtdesc *d =
	    pdc_rtdesc_load(r->file_descriptor_set.data, r->file_descriptor_set.len, err, errcap);
	protobuf_c_message_free_unpacked(out, NULL);
	return d;
}

const ProtobufCServiceDescriptor *pdc_reflect_find_service(const pdc_rtdesc *r, const char *name)
{
	if (name[0] == '.')
		name++;
	const ProtobufCServiceDescriptor *found = NULL;
	int n = 0;
	for (size_t i = 0; i < pdc_rtdesc_service_count(r); i++) {
		const ProtobufCServiceDescriptor *s = pdc_rtdesc_service_at(r, i);
		if (pdc_service_matches(s, name, strlen(name)) && n++ == 0)
			found = s;
	}
	return n == 1 ? found : NULL;
}

static const ProtobufCServiceDescriptor *rtdesc_at(const void *list, size_t i)
{
	return pdc_rtdesc_service_at(list, i);
}

int pdc_reflect_find_method(const pdc_rtdesc *r, const char *name, pdc_method *out)
{
	return pdc_method_find_in(rtdesc_at, r, pdc_rtdesc_service_count(r), name, out);
}
