#include "tests/unit/cutest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

static int (*fixture_setup)(void);
static int (*fixture_teardown)(void);

void
kl_test_set_fixture(int (*setup)(void), int (*teardown)(void))
{
	fixture_setup = setup;
	fixture_teardown = teardown;
}

void
kl_test_add(const char *path, CU_TestFunc fn)
{
	char suite_name[256];
	const char *slash = strrchr(path, '/');
	size_t n = slash != NULL ? (size_t)(slash - path) : 0;
	CU_pSuite suite;

	if (n == 0 || n >= sizeof(suite_name)) {
		fprintf(stderr, "bad test path %s\n", path);
		exit(2);
	}
	memcpy(suite_name, path, n);
	suite_name[n] = '\0';
	if ((suite = CU_get_suite(suite_name)) == NULL)
		suite = CU_add_suite(suite_name, NULL, NULL);
	if (suite == NULL || CU_add_test(suite, slash + 1, fn) == NULL) {
		fprintf(stderr, "cannot register %s: %s\n", path, CU_get_error_msg());
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	unsigned failed;
	int r;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	kl_test_register();
	if (fixture_setup != NULL && (r = fixture_setup()) != 0) {
		/* 77: a dependency is missing; anything else is a failure */
		CU_cleanup_registry();
		return r == 77 ? 77 : 1;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (argc > 1) {
		CU_pSuite s = CU_get_suite(argv[1]);
		if (s == NULL) {
			fprintf(stderr, "no suite %s\n", argv[1]);
			return 2;
		}
		CU_basic_run_suite(s);
	} else {
		CU_basic_run_tests();
	}
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	if (CU_get_number_of_tests_run() == 0)
		failed = 1;	/* a program that ran nothing checked nothing */
	if (fixture_teardown != NULL)
		fixture_teardown();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
