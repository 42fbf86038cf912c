# keylocker keyring and keylocker mysql (tools/cmd_keyring.c, tools/cmd_mysql.c).
#   keyring_cli    the real CLI over a throwaway keylocker (keylocker init), with
#                  stores written by the engine (kr_fill): list, verify, backup,
#                  restore, rewrap, and mysql wire against a temporary tree
#   rewrap_crash   kr_rewrap killed at every step; the store is all-old or all-new
if(NOT TARGET kr_engine OR NOT TARGET kr_conf)
  return()
endif()

add_executable(kr_fill ${CMAKE_SOURCE_DIR}/tests/integration/kr_fill.c)
target_link_libraries(kr_fill PRIVATE kr_engine kr_conf kl_common OpenSSL::Crypto)

add_test(NAME keyring_cli COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/keyring_cli.sh
         $<TARGET_FILE:kr_fill>)
set_tests_properties(keyring_cli PROPERTIES LABELS integration SKIP_RETURN_CODE 77
                     TIMEOUT 900 ENVIRONMENT "${KL_TEST_ENV}")

# kr_engine_test (crash points) comes from engine.cmake, included after this file
add_executable(rewrap_crash_writer
               ${CMAKE_SOURCE_DIR}/tests/integration/rewrap_crash_writer.c)
target_link_libraries(rewrap_crash_writer PRIVATE kr_engine_test)
add_executable(rewrap_crash ${CMAKE_SOURCE_DIR}/tests/integration/rewrap_crash.c
               ${CMAKE_SOURCE_DIR}/tests/integration/kr_softhsm.c)
target_link_libraries(rewrap_crash PRIVATE kr_engine)
add_test(NAME rewrap_crash COMMAND rewrap_crash $<TARGET_FILE:rewrap_crash_writer>)
set_tests_properties(rewrap_crash PROPERTIES LABELS integration SKIP_RETURN_CODE 77
                     TIMEOUT 900 ENVIRONMENT "${KL_TEST_ENV}")
