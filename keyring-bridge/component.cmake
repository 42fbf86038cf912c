# component_keyring_pkcs11.so: MySQL's keyring services over kr.h.
#   kr_conf              component_keyring_pkcs11.cnf reader (libyaml)
#   kr_component_glue    component.c: MySQL's ABI and conventions; needs kr_*
#   component_keyring_pkcs11      the shipped module, linked with kr_engine
#   component_keyring_pkcs11_mem  a test build linked with tests/mock/kr_mem.c
#                                 (keys in clear: never installed)

add_library(kr_conf STATIC ${CMAKE_CURRENT_LIST_DIR}/kr_conf.c)
set_target_properties(kr_conf PROPERTIES POSITION_INDEPENDENT_CODE ON
                      C_VISIBILITY_PRESET hidden)
target_link_libraries(kr_conf PUBLIC PkgConfig::YAML)

add_library(kr_component_glue STATIC ${CMAKE_CURRENT_LIST_DIR}/component.c)
set_target_properties(kr_component_glue PROPERTIES POSITION_INDEPENDENT_CODE ON
                      C_VISIBILITY_PRESET hidden)
target_link_libraries(kr_component_glue PUBLIC kr_conf kl_common OpenSSL::Crypto
                      Threads::Threads ${CMAKE_DL_LIBS})

# The module exports list_components and nothing else.
set(KR_COMPONENT_MAP ${CMAKE_CURRENT_BINARY_DIR}/component.map)
file(WRITE ${KR_COMPONENT_MAP} "{\n  global: list_components;\n  local: *;\n};\n")

# kr_add_component(target engine_library): one component module.
function(kr_add_component target engine)
  add_library(${target} MODULE ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/component.c)
  set_target_properties(${target} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
                        OUTPUT_NAME component_keyring_pkcs11
                        LINK_DEPENDS ${KR_COMPONENT_MAP})
  target_link_libraries(${target} PRIVATE ${engine} kr_conf kl_common
                        OpenSSL::Crypto Threads::Threads ${CMAKE_DL_LIBS})
  target_link_options(${target} PRIVATE
                      "LINKER:--version-script=${KR_COMPONENT_MAP}"
                      "LINKER:--as-needed")
  # Sanitizer runtimes come from the host executable, not from the module.
  if(NOT KL_SANITIZE)
    target_link_options(${target} PRIVATE "LINKER:--no-undefined")
  endif()
endfunction()

if(TARGET kr_engine)
  kr_add_component(component_keyring_pkcs11 kr_engine)
  install(TARGETS component_keyring_pkcs11 LIBRARY DESTINATION ${KL_MYSQL_PLUGIN_DIR})
endif()

# Test build: the same glue over the in-memory mock, in its own directory so
# it can be copied into a MySQL plugin_dir under the real name.
add_library(kr_mem STATIC ${CMAKE_SOURCE_DIR}/tests/mock/kr_mem.c)
set_target_properties(kr_mem PROPERTIES POSITION_INDEPENDENT_CODE ON
                      C_VISIBILITY_PRESET hidden)
target_link_libraries(kr_mem PUBLIC kl_common OpenSSL::Crypto Threads::Threads)

kr_add_component(component_keyring_pkcs11_mem kr_mem)
set_target_properties(component_keyring_pkcs11_mem PROPERTIES
                      LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/mysql-test-component)
