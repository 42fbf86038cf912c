# keyring-bridge/, MySQL side: the .cnf reader and the component glue.
set(KR_FIXTURES_DEF KR_FIXTURES="${CMAKE_SOURCE_DIR}/tests/fixtures/component")

kl_add_unit(test_kr_conf ${CMAKE_SOURCE_DIR}/tests/unit/test_kr_conf.c
            LIBS kr_conf kl_common)
target_compile_definitions(test_kr_conf PRIVATE ${KR_FIXTURES_DEF})

# test_component plays mysqld's loader against component.c over the mock
# engine.  It exports server_version/opt_plugin_dir (ENABLE_EXPORTS) so the
# component's host detection can be driven, and dlopen()s the built test
# module to check what it exports.
kl_add_unit(test_component ${CMAKE_SOURCE_DIR}/tests/unit/test_component.c
            LIBS kr_component_glue kr_mem ${CMAKE_DL_LIBS})
set_target_properties(test_component PROPERTIES ENABLE_EXPORTS ON)
target_compile_definitions(test_component PRIVATE ${KR_FIXTURES_DEF}
  KR_TEST_MODULE="$<TARGET_FILE:component_keyring_pkcs11_mem>")
add_dependencies(test_component component_keyring_pkcs11_mem)
