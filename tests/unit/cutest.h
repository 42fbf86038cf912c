/*
 * Shared CUnit runner.  A test program defines kl_test_register(), which
 * calls kl_test_add("/area/what_it_checks", fn) for each test; tests whose
 * paths share a prefix up to the last '/' form one suite.
 */
#ifndef KL_CUTEST_H
#define KL_CUTEST_H

#include <CUnit/CUnit.h>

void kl_test_register(void);
void kl_test_add(const char *path, CU_TestFunc fn);
/* Optional per-program fixture, run once before/after all tests. */
void kl_test_set_fixture(int (*setup)(void), int (*teardown)(void));

#endif
