# kr_engine: the keyring engine behind kr.h (store file, cache, token client).
# No MySQL types; component.cmake links it into component_keyring_pkcs11.so,
# tests link it directly.  Only p11-kit's header is used, not libp11-kit.
set(KR_ENGINE_SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/kr.c
    ${CMAKE_CURRENT_LIST_DIR}/kr_p11.c
    ${CMAKE_CURRENT_LIST_DIR}/store.c)

add_library(kr_engine STATIC ${KR_ENGINE_SOURCES})
set_target_properties(kr_engine PROPERTIES POSITION_INDEPENDENT_CODE ON
                      C_VISIBILITY_PRESET hidden)
target_include_directories(kr_engine PUBLIC ${P11KIT_INCLUDE_DIRS})
target_link_libraries(kr_engine PUBLIC kl_common OpenSSL::Crypto Threads::Threads
                      ${CMAKE_DL_LIBS})
