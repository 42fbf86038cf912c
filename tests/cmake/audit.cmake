# The audit trail: tampering caught by `keylocker audit verify`, crashes, sinks.
kl_add_unit(test_audit_verify ${CMAKE_SOURCE_DIR}/tests/unit/test_audit_verify.c
            LIBS kl_audit OpenSSL::Crypto)
kl_add_integration(test_audit
               ${CMAKE_SOURCE_DIR}/tests/integration/test_audit.c
               LIBS ${CMAKE_DL_LIBS} OpenSSL::Crypto)
# docs/audit.md's central-copy recipe with two real rsyslogd on loopback
add_test(NAME test_audit_rsyslog
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_audit_rsyslog.sh)
set_tests_properties(test_audit_rsyslog PROPERTIES LABELS integration SKIP_RETURN_CODE 77
                     ENVIRONMENT "${KL_TEST_ENV}")
