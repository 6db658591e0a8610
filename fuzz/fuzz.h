// fuzz: what every libFuzzer target of this folder shares.
//
// libFuzzer calls LLVMFuzzerTestOneInput once per input, on one thread; the
// data is borrowed for the call. A target returns 0 (-1 would keep the input
// out of the corpus). A broken promise found by a target's own check (not a
// sanitizer) is reported with FUZZ_ASSERT: one line on stderr, then abort(),
// which libFuzzer records as a crash with the input saved.
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_ASSERT(cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FUZZ_ASSERT %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

// Known findings (docs/fuzzing.md, "Findings") are not reported again unless
// the environment sets FUZZ_STRICT=1: a target steps over the one input class
// it already reported and goes on fuzzing the rest. With FUZZ_STRICT=1 the
// reproducers of fuzz/crashes/ fail again.
static inline int fuzz_strict(void)
{
	static int strict = -1;
	if (strict < 0) {
		const char *v = getenv("FUZZ_STRICT");
		strict = v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
	}
	return strict;
}

// A NUL-terminated malloc'd copy of data[size] (the caller frees it).
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL) {
		abort();
	}
	if (size > 0) {
		memcpy(s, data, size);
	}
	s[size] = '\0';
	return s;
}

#endif
