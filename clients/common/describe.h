// pdc_describe: a service, method, message or enum of a descriptor set
// printed as .proto-like text, as grpcurl's `describe` does:
//
//   property.v1.Location is a message:
//   message Location {
//     string address = 1;
//     ...
//   }
//
// Message and enum types are written fully qualified with a leading dot;
// maps as map<K, V>; nested types inside their message. No state; writes to
// `out` only.
#ifndef PDC_DESCRIBE_H
#define PDC_DESCRIBE_H

#include <stdio.h>

#include "rtdesc.h"

// Describes `symbol`: a full name ("property.v1.PropertyService",
// "property.v1.PropertyService.GetProperty", "property.v1.Location",
// ".property.v1.PropertyStatus"); a service may also be named by its short
// name when that is unique. Returns 0, or -1 when nothing has that name.
int pdc_describe(FILE *out, const pdc_rtdesc *r, const char *symbol);

#endif
