# Unit tests of the core: conf/, policy/ (and, as they land, token/, pkcs11/, audit/).
kl_add_unit(test_conf ${CMAKE_SOURCE_DIR}/tests/unit/test_conf.c LIBS kl_conf)
kl_add_unit(test_policy ${CMAKE_SOURCE_DIR}/tests/unit/test_policy.c LIBS kl_policy)
