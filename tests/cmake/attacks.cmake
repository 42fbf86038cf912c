# The attack suite (tests/integration/attacks*.c, docs/security.md).
#   test_attacks           each attack against bare SoftHSM2 (outcome asserted as
#                          recorded) and through keylocker (every route refused,
#                          with its CKR, rule and audit record; master key intact)
#   attacks [--markdown]   the same runs, printed as the table in docs/security.md
#   admin_tools            real pkcs11-tool as the admin (list, forced keygen,
#                          retire), the keyring client's wrap/unwrap around a
#                          retirement (attacks_tool, keylocker selftest).  An
#                          uninstrumented pkcs11-tool cannot load a sanitizer
#                          build of the module: registered in plain builds only.
set(KL_ATTACK_SOURCES ${CMAKE_SOURCE_DIR}/tests/integration/attacks_lib.c
    ${CMAKE_SOURCE_DIR}/tests/integration/attacks_kw.c)

kl_add_integration(test_attacks ${CMAKE_SOURCE_DIR}/tests/integration/attacks.c
                   ${KL_ATTACK_SOURCES} LIBS kl_common OpenSSL::Crypto ${CMAKE_DL_LIBS})
set_tests_properties(test_attacks PROPERTIES TIMEOUT 300)

add_executable(attacks ${CMAKE_SOURCE_DIR}/tests/integration/attacks.c ${KL_ATTACK_SOURCES})
target_compile_definitions(attacks PRIVATE ATTACKS_MAIN
                           ATTACKS_BUILD_DIR="${CMAKE_BINARY_DIR}")
target_link_libraries(attacks PRIVATE kl_testsetup kl_common OpenSSL::Crypto ${CMAKE_DL_LIBS})
add_dependencies(attacks ${KL_IT_DEPS})

add_executable(attacks_tool ${CMAKE_SOURCE_DIR}/tests/integration/attacks_tool.c)
target_link_libraries(attacks_tool PRIVATE kl_common OpenSSL::Crypto ${CMAKE_DL_LIBS})

if(NOT KL_SANITIZE)
  add_test(NAME admin_tools COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/admin_tools.sh)
  set_tests_properties(admin_tools PROPERTIES LABELS integration SKIP_RETURN_CODE 77
                       ENVIRONMENT "${KL_TEST_ENV}")
endif()
