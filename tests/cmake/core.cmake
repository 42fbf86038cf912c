# Unit tests of the core: conf/, policy/ (and, as they land, token/, pkcs11/, audit/).
kl_add_unit(test_conf ${CMAKE_SOURCE_DIR}/tests/unit/test_conf.c LIBS kl_conf)
kl_add_unit(test_policy ${CMAKE_SOURCE_DIR}/tests/unit/test_policy.c LIBS kl_policy)

# The throwaway-keylocker fixture every integration test links.
add_library(kl_testsetup STATIC ${CMAKE_SOURCE_DIR}/tests/integration/klsetup.c)
target_link_libraries(kl_testsetup PUBLIC kl_common)
# Integration tests run the built CLI and module: build them first.
set(KL_IT_DEPS keylocker keylocker-pkcs11)

# kl_add_integration(name sources... LIBS libs...): a CUnit program against real tokens.
function(kl_add_integration name)
  cmake_parse_arguments(A "" "" "LIBS" ${ARGN})
  add_executable(${name} ${A_UNPARSED_ARGUMENTS} ${CMAKE_SOURCE_DIR}/tests/unit/cutest.c)
  target_include_directories(${name} PRIVATE ${CUNIT_INCLUDE_DIR})
  target_link_libraries(${name} PRIVATE kl_testsetup ${A_LIBS} ${CUNIT_LIBRARY})
  add_dependencies(${name} ${KL_IT_DEPS})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS integration SKIP_RETURN_CODE 77
                       ENVIRONMENT "${KL_TEST_ENV}")
endfunction()

kl_add_integration(test_gate ${CMAKE_SOURCE_DIR}/tests/integration/test_gate.c LIBS ${CMAKE_DL_LIBS})

# Real consumers: pkcs11-tool, p11tool, p11-kit list-modules.
add_test(NAME clients COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/clients.sh)
set_tests_properties(clients PROPERTIES LABELS integration SKIP_RETURN_CODE 77
                     ENVIRONMENT "${KL_TEST_ENV}")

# The fault-injecting lower module and the backend-recovery tests built on it.
add_library(kl_faulty MODULE ${CMAKE_SOURCE_DIR}/tests/mock/faulty.c)
target_link_libraries(kl_faulty PRIVATE PkgConfig::P11KIT ${CMAKE_DL_LIBS})
set_target_properties(kl_faulty PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
kl_add_integration(test_recovery ${CMAKE_SOURCE_DIR}/tests/integration/test_recovery.c
                   LIBS ${CMAKE_DL_LIBS})
add_dependencies(test_recovery kl_faulty)
