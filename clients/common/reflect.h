// pdc_reflect: the client side of rpc.v1.Reflection (docs/contract.md §2.10):
// a server's service names, its descriptors (rtdesc.h), and method lookup in
// them by the same names propctl accepts for compiled-in methods (methods.h).
//
// Calls block the calling thread (nrpc_client). On an error reply or no reply
// the functions return -1 and *res holds the outcome (print it with
// pdc_print_rpc_error); on a local failure they return -1 with res->code 0
// and a reason in err. res is always filled and freed by the caller
// (nrpc_result_free).
#ifndef PDC_REFLECT_H
#define PDC_REFLECT_H

#include <stddef.h>
#include <stdint.h>

#include "methods.h"
#include "nrpc/client.h"
#include "rtdesc.h"

// ListServices: *names (malloc'd array of malloc'd strings; free with
// pdc_reflect_free_names) and their count.
int pdc_reflect_services(nrpc_client *c, uint32_t timeout_ms, char ***names, size_t *n,
                         nrpc_result *res, char *err, size_t errcap);
void pdc_reflect_free_names(char **names, size_t n);

// GetFileDescriptorSet, built into descriptors (the caller frees with pdc_rtdesc_free).
pdc_rtdesc *pdc_reflect_load(nrpc_client *c, uint32_t timeout_ms, nrpc_result *res, char *err,
                             size_t errcap);

// Finds a method in r by "/pkg.Service/Method", "pkg.Service/Method",
// "pkg.Service.Method", "Service.Method", "Service/Method" or a bare name unique
// across the services. Returns 0 and fills *out (pointers into r), or -1.
int pdc_reflect_find_method(const pdc_rtdesc *r, const char *name, pdc_method *out);

// A service of r by full or short name (unique), or NULL.
const ProtobufCServiceDescriptor *pdc_reflect_find_service(const pdc_rtdesc *r, const char *name);

#endif
