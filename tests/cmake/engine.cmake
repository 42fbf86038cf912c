# Keyring engine tests (keyring-bridge/engine.cmake).
#   test_store   store format, tampering, strict parser, 100k-entry load (no token)
#   test_kr      kr.h against a throwaway SoftHSM2 token
#   store_crash  the writer killed at every step of the write protocol

# The same sources with crash points compiled in (KR_TEST_HOOKS): only the
# crash test's writer links this; the shipped engine has no hooks.
get_target_property(KR_ENGINE_TEST_SOURCES kr_engine SOURCES)
add_library(kr_engine_test STATIC ${KR_ENGINE_TEST_SOURCES})
target_compile_definitions(kr_engine_test PUBLIC KR_TEST_HOOKS=1)
target_include_directories(kr_engine_test PUBLIC ${P11KIT_INCLUDE_DIRS})
target_link_libraries(kr_engine_test PUBLIC kl_common OpenSSL::Crypto Threads::Threads
                      ${CMAKE_DL_LIBS})

set(KR_SOFTHSM_FIXTURE ${CMAKE_SOURCE_DIR}/tests/integration/kr_softhsm.c)

kl_add_unit(test_store ${CMAKE_SOURCE_DIR}/tests/unit/test_store.c LIBS kr_engine)
kl_add_unit(test_kr ${CMAKE_SOURCE_DIR}/tests/unit/test_kr.c ${KR_SOFTHSM_FIXTURE}
            LIBS kr_engine)
set_tests_properties(test_kr PROPERTIES TIMEOUT 600)

add_executable(store_crash_writer
               ${CMAKE_SOURCE_DIR}/tests/integration/store_crash_writer.c)
target_link_libraries(store_crash_writer PRIVATE kr_engine_test)
add_executable(store_crash ${CMAKE_SOURCE_DIR}/tests/integration/store_crash.c
               ${KR_SOFTHSM_FIXTURE})
target_link_libraries(store_crash PRIVATE kr_engine)
add_test(NAME store_crash COMMAND store_crash $<TARGET_FILE:store_crash_writer>)
set_tests_properties(store_crash PROPERTIES LABELS integration SKIP_RETURN_CODE 77
                     TIMEOUT 900 ENVIRONMENT "${KL_TEST_ENV}")
