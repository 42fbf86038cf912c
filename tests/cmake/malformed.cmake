# The malformed-call suite (tests/integration/malformed.c, docs/malformed-calls.md).
#   test_malformed            every case against keylocker (asserted) and bare
#                             SoftHSM2 (recorded), each call in a child of its own
#   malformed [--markdown] [CASE...]
#                             the same run, printed as the comparison table
kl_add_integration(test_malformed ${CMAKE_SOURCE_DIR}/tests/integration/malformed.c
                   LIBS kl_common ${CMAKE_DL_LIBS})
# 2 x ~130 children: about 6 s (11 s under ASan) on 2 cores.  A child is
# killed after 10 s, so the bound leaves room for a dozen bare-SoftHSM2 hangs.
set_tests_properties(test_malformed PROPERTIES TIMEOUT 180)

add_executable(malformed ${CMAKE_SOURCE_DIR}/tests/integration/malformed.c)
target_compile_definitions(malformed PRIVATE MALFORMED_MAIN
                           MALFORMED_BUILD_DIR="${CMAKE_BINARY_DIR}")
target_link_libraries(malformed PRIVATE kl_testsetup kl_common ${CMAKE_DL_LIBS})
add_dependencies(malformed ${KL_IT_DEPS})
