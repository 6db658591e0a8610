// check.h itself: passing checks count nothing, each failing one counts once
// (also from other threads), check_run names the failing cases. The FAIL
// lines this prints on stderr are expected; the exit status says.
#include <pthread.h>
#include <stdio.h>

#include "base/test/check.h"

#define THREADS 4
#define EACH    1000

static int evaluated;

static int count(int v)
{
	evaluated++;
	return v;
}

static void *fail_many(void *arg)
{
	(void)arg;
	for (int i = 0; i < EACH; i++)
		CHECK(i < 0, "thread failure %d", i);
	return NULL;
}

static void case_pass(void)
{
	CHECK(1 + 1 == 2);
}

static void case_fail(void)
{
	CHECK(1 + 1 == 3);
}

int main(void)
{
	int bad = 0;
	CHECK(count(1));
	CHECK(count(2) == 2, "with a note %d", 2);
	CHECK_EQ(count(3), 3);
	CHECK_EQ((size_t)4, 4);
	CHECK_STR("a", "a");
	CHECK_STR(NULL, NULL);
	bad |= check_failures() != 0 || evaluated != 3; // each argument evaluated once

	CHECK(count(0));                      // 1
	CHECK(count(0) == 1, "note %s", "x"); // 2
	CHECK_EQ(-1, 1);                      // 3
	CHECK_EQ(UINT64_C(5), 6);             // 4
	CHECK_STR("a", "b");                  // 5
	CHECK_STR("a", NULL);                 // 6
	CHECK_FAIL("unconditional %d", 7);    // 7
	bad |= check_failures() != 7 || evaluated != 5;

	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, fail_many, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	bad |= check_failures() != 7 + THREADS * EACH;

	static const check_case cases[] = {{"pass", case_pass}, {"fail", case_fail}};
	bad |= check_run(cases, 2, NULL, NULL) != 1;
	bad |= check_run(cases, 2, "pass", NULL) != 0;
	bad |= check_failures() != 8 + THREADS * EACH;

	printf("base_check: %s\n", bad ? "FAILED" : "ok (the FAIL lines above are expected)");
	return bad ? 1 : 0;
}
