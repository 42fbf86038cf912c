/*
 * keyring-bridge/kr_conf.c: finding and reading component_keyring_pkcs11.cnf.
 * Good and deliberately bad files live in tests/fixtures/component/; every
 * bad one must fail with a sentence that names the file and the problem.
 */
#include "keyring-bridge/kr_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kl_paths.h"
#include "tests/unit/cutest.h"

#ifndef KR_FIXTURES
#error "KR_FIXTURES must name tests/fixtures/component"
#endif

#define FIX(name) KR_FIXTURES "/" name

static char err[1024];

/* Parse a fixture that must be good. */
static struct kr_config *
read_good(const char *path)
{
	struct kr_config *cfg = NULL;
	int read_local = -1;

	CU_ASSERT_EQUAL(kr_conf_read_file(path, 1, &cfg, &read_local, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(read_local, 0);
	if (cfg == NULL)
		fprintf(stderr, "unexpected error: %s\n", err);
	return cfg;
}

/* Parse a fixture that must fail with KR_E_CONFIG and a message with all phrases. */
static void
expect_bad_as(const char *path, int global, const char *phrase1,
    const char *phrase2)
{
	struct kr_config *cfg = NULL;
	int read_local = 0;

	CU_ASSERT_EQUAL(kr_conf_read_file(path, global, &cfg, &read_local, err,
	    sizeof(err)), KR_E_CONFIG);
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_EQUAL(read_local, 0);
	/* names the file */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, phrase1));
	if (phrase2 != NULL)
		CU_ASSERT_PTR_NOT_NULL(strstr(err, phrase2));
	if (strstr(err, phrase1) == NULL ||
	    (phrase2 != NULL && strstr(err, phrase2) == NULL))
		fprintf(stderr, "message was: %s\n", err);
	kr_conf_free(cfg);
}

static void
expect_bad(const char *path, const char *phrase1, const char *phrase2)
{
	expect_bad_as(path, 1, phrase1, phrase2);
}

/* ---------------------------------------------------------------- good */

static void
test_minimal_gets_defaults(void)
{
	struct kr_config *cfg = read_good(FIX("good-minimal.cnf"));

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->path, "/var/lib/mysql-keyring/keylocker.store");
	CU_ASSERT_EQUAL(cfg->read_only, 0);
	CU_ASSERT_STRING_EQUAL(cfg->module, KL_DEFAULT_MODULE);
	CU_ASSERT_STRING_EQUAL(cfg->token, "keylocker");
	CU_ASSERT_STRING_EQUAL(cfg->master_key, "keylocker-master");
	CU_ASSERT_STRING_EQUAL(cfg->mac_key, "keylocker-store-mac");
	CU_ASSERT_STRING_EQUAL(cfg->pin_file, KL_SYSCONFDIR "/keyring.pin");
	CU_ASSERT_EQUAL(cfg->cache, 1);
	CU_ASSERT_STRING_EQUAL(cfg->source, FIX("good-minimal.cnf"));
	kr_conf_free(cfg);
}

static void
test_full_sets_every_key(void)
{
	struct kr_config *cfg = read_good(FIX("good-full.cnf"));

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->path, "/var/lib/mysql-keyring/keylocker.store");
	CU_ASSERT_EQUAL(cfg->read_only, 1);
	CU_ASSERT_STRING_EQUAL(cfg->module,
	    "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so");
	CU_ASSERT_STRING_EQUAL(cfg->token, "db-prod-1");
	CU_ASSERT_STRING_EQUAL(cfg->master_key, "mysql-master-2026");
	CU_ASSERT_STRING_EQUAL(cfg->mac_key, "mysql-store-mac-2026");
	CU_ASSERT_STRING_EQUAL(cfg->pin_file, "/etc/keylocker/db-prod-1.pin");
	CU_ASSERT_EQUAL(cfg->cache, 0);
	kr_conf_free(cfg);
}

/* JSON without blanks after ':' and ',' (what JSON writers emit) */
static void
test_compact_json(void)
{
	struct kr_config *cfg = read_good(FIX("good-compact.cnf"));

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->path, "/srv/k.store");
	kr_conf_free(cfg);
}

static void
test_json_escapes(void)
{
	struct kr_config *cfg = read_good(FIX("good-escapes.cnf"));

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->token, "caf\xc3\xa9");
	CU_ASSERT_STRING_EQUAL(cfg->master_key, "a \"quoted\" label");
	kr_conf_free(cfg);
}

static void
test_load_global(void)
{
	struct kr_config *cfg = NULL;

	CU_ASSERT_EQUAL(kr_conf_load(FIX("lookup-global"), "/nonexistent", &cfg,
	    err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->path, "/srv/global.store");
	CU_ASSERT_STRING_EQUAL(cfg->source,
	    FIX("lookup-global/component_keyring_pkcs11.cnf"));
	kr_conf_free(cfg);
}

static void
test_load_read_local_config(void)
{
	struct kr_config *cfg = NULL;

	CU_ASSERT_EQUAL(kr_conf_load(FIX("lookup-local/plugin"),
	    FIX("lookup-local/data"), &cfg, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->path, "/srv/local.store");
	CU_ASSERT_EQUAL(cfg->read_only, 1);
	CU_ASSERT_STRING_EQUAL(cfg->source,
	    FIX("lookup-local/data/component_keyring_pkcs11.cnf"));
	kr_conf_free(cfg);
}

/* a trailing slash on the directory (plugin_dir often has one) */
static void
test_load_dir_with_trailing_slash(void)
{
	struct kr_config *cfg = NULL;

	CU_ASSERT_EQUAL(kr_conf_load(FIX("lookup-global/"), NULL, &cfg, err,
	    sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->source,
	    FIX("lookup-global/component_keyring_pkcs11.cnf"));
	kr_conf_free(cfg);
}

/* {"read_local_config": false, ...}: the global file is the configuration */
static void
test_load_read_local_false(void)
{
	struct kr_config *cfg = NULL;

	CU_ASSERT_EQUAL(kr_conf_load(FIX("lookup-local-false"), "/nonexistent",
	    &cfg, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->path, "/srv/global.store");
	kr_conf_free(cfg);
}

/* without an instance directory the local file is looked up in the cwd */
static void
test_load_read_local_from_cwd(void)
{
	struct kr_config *cfg = NULL;
	char cwd[4096];

	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
	CU_ASSERT_EQUAL_FATAL(chdir(FIX("lookup-local/data")), 0);
	CU_ASSERT_EQUAL(kr_conf_load(FIX("lookup-local/plugin"), NULL, &cfg,
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(chdir(cwd), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->source, KR_CONF_FILE_NAME);
	kr_conf_free(cfg);
}

static void
test_dup_copies_every_field(void)
{
	struct kr_config *cfg = read_good(FIX("good-full.cnf")), *copy = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL_FATAL(kr_conf_dup(cfg, &copy), 0);
	CU_ASSERT_PTR_NOT_EQUAL(copy->path, cfg->path);
	CU_ASSERT_STRING_EQUAL(copy->path, cfg->path);
	CU_ASSERT_STRING_EQUAL(copy->module, cfg->module);
	CU_ASSERT_STRING_EQUAL(copy->token, cfg->token);
	CU_ASSERT_STRING_EQUAL(copy->master_key, cfg->master_key);
	CU_ASSERT_STRING_EQUAL(copy->mac_key, cfg->mac_key);
	CU_ASSERT_STRING_EQUAL(copy->pin_file, cfg->pin_file);
	CU_ASSERT_STRING_EQUAL(copy->source, cfg->source);
	CU_ASSERT_EQUAL(copy->read_only, cfg->read_only);
	CU_ASSERT_EQUAL(copy->cache, cfg->cache);
	kr_conf_free(copy);
	kr_conf_free(cfg);
}

/* ----------------------------------------------------------------- bad */

/* The phrases MySQL's component_keyring_file tests search the log for. */
static void
test_missing_file(void)
{
	expect_bad(FIX("no-such-file.cnf"), "cannot read config file",
	    "No such file or directory");
}

static void
test_directory_is_not_a_file(void)
{
	expect_bad(FIX("lookup-global"), "cannot read config file",
	    "not a regular file");
}

static void
test_syntax_error(void)
{
	/* the exact text config-errors.test writes */
	expect_bad(FIX("bad-syntax.cnf"), "has not valid format", "line 1");
}

static void
test_empty_file(void)
{
	expect_bad(FIX("bad-empty.cnf"), "has not valid format", "empty");
}

static void
test_top_level_not_object(void)
{
	expect_bad(FIX("bad-not-object.cnf"), "has not valid format",
	    "must be a JSON object");
}

/* YAML that is not JSON: libyaml would take it, MySQL's parser would not */
static void
test_yaml_block_style(void)
{
	expect_bad(FIX("bad-yaml-block.cnf"), "has not valid format",
	    "must be a JSON object");
}

static void
test_unknown_key(void)
{
	expect_bad(FIX("bad-unknown-key.cnf"), "unknown key \"modul\"",
	    "the keys are path, read_only, module");
}

static void
test_duplicate_key(void)
{
	expect_bad(FIX("bad-duplicate.cnf"), "key \"path\" appears twice",
	    "lines 2 and 4");
}

static void
test_empty_path(void)
{
	expect_bad(FIX("bad-path-empty.cnf"), "\"path\" (line 1) is empty",
	    "file that holds the wrapped keys");
}

static void
test_path_not_string(void)
{
	expect_bad(FIX("bad-path-number.cnf"), "\"path\" (line 1) must be a "
	    "string in double quotes", NULL);
}

static void
test_read_only_quoted(void)
{
	expect_bad(FIX("bad-read-only-string.cnf"), "\"read_only\" (line 1) "
	    "must be true or false", "without quotes");
}

static void
test_read_only_number(void)
{
	expect_bad(FIX("bad-read-only-number.cnf"), "\"read_only\" (line 1) "
	    "must be true or false", NULL);
}

static void
test_read_only_missing(void)
{
	expect_bad(FIX("bad-read-only-missing.cnf"), "\"read_only\" is missing",
	    "\"read_only\": false");
}

static void
test_path_missing(void)
{
	expect_bad(FIX("bad-path-missing.cnf"), "\"path\" is missing",
	    "\"path\": \"");
}

static void
test_module_relative(void)
{
	expect_bad(FIX("bad-module-relative.cnf"), "\"module\" (line 1) must be "
	    "an absolute path", NULL);
}

static void
test_pin_file_relative(void)
{
	expect_bad(FIX("bad-pin-file-relative.cnf"), "\"pin_file\" (line 1) "
	    "must be an absolute path", NULL);
}

static void
test_token_too_long(void)
{
	expect_bad(FIX("bad-token-long.cnf"), "\"token\" (line 1) is 33 bytes "
	    "long", "the limit is 32");
}

static void
test_token_object(void)
{
	expect_bad(FIX("bad-token-object.cnf"), "\"token\" (line 1) must be a "
	    "string", NULL);
}

static void
test_cache_array(void)
{
	expect_bad(FIX("bad-cache-array.cnf"), "\"cache\" (line 1) must be true "
	    "or false", NULL);
}

static void
test_cache_capitalised(void)
{
	expect_bad(FIX("bad-cache-capitalised.cnf"), "\"cache\" (line 1) must "
	    "be true or false", NULL);
}

static void
test_unquoted_key(void)
{
	expect_bad(FIX("bad-unquoted-key.cnf"), "key path at line 1 is not a "
	    "JSON string", "double quotes");
}

static void
test_unquoted_value(void)
{
	expect_bad(FIX("bad-unquoted-value.cnf"), "\"path\" (line 1) must be a "
	    "string in double quotes", NULL);
}

static void
test_read_local_with_other_keys(void)
{
	expect_bad(FIX("bad-read-local-with-path.cnf"), "\"path\" (line 1) has "
	    "no effect with \"read_local_config\": true", "datadir");
}

static void
test_read_local_in_local_file(void)
{
	expect_bad_as(FIX("bad-read-local-in-local.cnf"), 0,
	    "\"read_local_config\" (line 1) is only valid in the global file",
	    NULL);
}

static void
test_read_local_not_bool(void)
{
	expect_bad(FIX("bad-read-local-string.cnf"), "\"read_local_config\" "
	    "(line 1) must be true or false", NULL);
}

static void
test_two_documents(void)
{
	expect_bad(FIX("bad-two-documents.cnf"), "has not valid format",
	    "more than one JSON value");
}

static void
test_control_character(void)
{
	expect_bad(FIX("bad-control-char.cnf"), "\"token\" (line 1) contains a "
	    "control character", NULL);
}

static void
test_yaml_anchor(void)
{
	expect_bad(FIX("bad-anchor.cnf"), "has not valid format", "anchor");
}

static void
test_yaml_tag(void)
{
	expect_bad(FIX("bad-tag.cnf"), "has not valid format", "tag");
}

static void
test_load_local_missing(void)
{
	struct kr_config *cfg = NULL;

	CU_ASSERT_EQUAL(kr_conf_load(FIX("lookup-local-missing/plugin"),
	    FIX("lookup-local-missing/data"), &cfg, err, sizeof(err)),
	    KR_E_CONFIG);
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot read config file "
	    FIX("lookup-local-missing/data/component_keyring_pkcs11.cnf")));
}

static void
test_load_without_component_dir(void)
{
	struct kr_config *cfg = NULL;

	CU_ASSERT_EQUAL(kr_conf_load(NULL, "/tmp", &cfg, err, sizeof(err)),
	    KR_E_CONFIG);
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot read config file"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "--component-dir"));
}

static void
test_oversized_file(void)
{
	char path[] = "/tmp/kr_conf_big_XXXXXX";
	struct kr_config *cfg = NULL;
	int fd, read_local = 0;
	FILE *f;
	long i;

	CU_ASSERT_FATAL((fd = mkstemp(path)) >= 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fdopen(fd, "w"));
	fputs("{\"path\": \"", f);
	for (i = 0; i < KR_CONF_FILE_MAX; i++)
		fputc('a', f);
	fputs("\", \"read_only\": false}", f);
	fclose(f);
	CU_ASSERT_EQUAL(kr_conf_read_file(path, 1, &cfg, &read_local, err,
	    sizeof(err)), KR_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot read config file"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "65536"));
	unlink(path);
}

static void
test_nul_byte(void)
{
	static const char text[] = "{\"path\": \"/srv/k\0.store\", \"read_only\": false}";
	char path[] = "/tmp/kr_conf_nul_XXXXXX";
	struct kr_config *cfg = NULL;
	int fd, read_local = 0;

	CU_ASSERT_FATAL((fd = mkstemp(path)) >= 0);
	CU_ASSERT_EQUAL(write(fd, text, sizeof(text) - 1),
	    (ssize_t)(sizeof(text) - 1));
	close(fd);
	CU_ASSERT_EQUAL(kr_conf_read_file(path, 1, &cfg, &read_local, err,
	    sizeof(err)), KR_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "has not valid format"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "NUL"));
	unlink(path);
}

/*
 * Every prefix and every single-bit flip of a good file either parses or
 * fails with KR_E_CONFIG and a message; under ASan this is a small fuzzer.
 */
static void
test_truncations_and_bit_flips(void)
{
	char path[] = "/tmp/kr_conf_fuzz_XXXXXX";
	char text[4096];
	struct kr_config *cfg;
	size_t len, i;
	int fd, bit, r, read_local;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(FIX("good-full.cnf"), "r"));
	len = fread(text, 1, sizeof(text), f);
	fclose(f);
	CU_ASSERT_FATAL((fd = mkstemp(path)) >= 0);
	close(fd);
	for (i = 0; i <= len * 9; i++) {
		char buf[4096];
		size_t n = len;

		memcpy(buf, text, len);
		if (i < len)
			n = i;			/* truncation */
		else if (i - len < len * 8) {
			bit = (int)((i - len) % 8);
			buf[(i - len) / 8] ^= (char)(1 << bit);	/* flip */
		}
		CU_ASSERT_FATAL((f = fopen(path, "w")) != NULL);
		fwrite(buf, 1, n, f);
		fclose(f);
		cfg = NULL;
		err[0] = '\0';
		r = kr_conf_read_file(path, 1, &cfg, &read_local, err, sizeof(err));
		CU_ASSERT(r == 0 || r == KR_E_CONFIG);
		if (r == 0) {
			CU_ASSERT(cfg != NULL || read_local);
		} else {
			CU_ASSERT(cfg == NULL && err[0] != '\0');
		}
		kr_conf_free(cfg);
	}
	unlink(path);
}

void
kl_test_register(void)
{
	kl_test_add("/kr_conf/good/minimal_gets_defaults", test_minimal_gets_defaults);
	kl_test_add("/kr_conf/good/full_sets_every_key", test_full_sets_every_key);
	kl_test_add("/kr_conf/good/compact_json", test_compact_json);
	kl_test_add("/kr_conf/good/json_escapes", test_json_escapes);
	kl_test_add("/kr_conf/good/dup_copies_every_field", test_dup_copies_every_field);
	kl_test_add("/kr_conf/lookup/global", test_load_global);
	kl_test_add("/kr_conf/lookup/read_local_config", test_load_read_local_config);
	kl_test_add("/kr_conf/lookup/dir_with_trailing_slash",
	    test_load_dir_with_trailing_slash);
	kl_test_add("/kr_conf/lookup/read_local_false", test_load_read_local_false);
	kl_test_add("/kr_conf/lookup/read_local_from_cwd", test_load_read_local_from_cwd);
	kl_test_add("/kr_conf/lookup/local_missing", test_load_local_missing);
	kl_test_add("/kr_conf/lookup/without_component_dir",
	    test_load_without_component_dir);
	kl_test_add("/kr_conf/bad/missing_file", test_missing_file);
	kl_test_add("/kr_conf/bad/directory", test_directory_is_not_a_file);
	kl_test_add("/kr_conf/bad/oversized", test_oversized_file);
	kl_test_add("/kr_conf/bad/nul_byte", test_nul_byte);
	kl_test_add("/kr_conf/bad/syntax", test_syntax_error);
	kl_test_add("/kr_conf/bad/empty", test_empty_file);
	kl_test_add("/kr_conf/bad/not_object", test_top_level_not_object);
	kl_test_add("/kr_conf/bad/yaml_block_style", test_yaml_block_style);
	kl_test_add("/kr_conf/bad/unknown_key", test_unknown_key);
	kl_test_add("/kr_conf/bad/duplicate_key", test_duplicate_key);
	kl_test_add("/kr_conf/bad/empty_path", test_empty_path);
	kl_test_add("/kr_conf/bad/path_not_string", test_path_not_string);
	kl_test_add("/kr_conf/bad/read_only_quoted", test_read_only_quoted);
	kl_test_add("/kr_conf/bad/read_only_number", test_read_only_number);
	kl_test_add("/kr_conf/bad/read_only_missing", test_read_only_missing);
	kl_test_add("/kr_conf/bad/path_missing", test_path_missing);
	kl_test_add("/kr_conf/bad/module_relative", test_module_relative);
	kl_test_add("/kr_conf/bad/pin_file_relative", test_pin_file_relative);
	kl_test_add("/kr_conf/bad/token_too_long", test_token_too_long);
	kl_test_add("/kr_conf/bad/token_object", test_token_object);
	kl_test_add("/kr_conf/bad/cache_array", test_cache_array);
	kl_test_add("/kr_conf/bad/cache_capitalised", test_cache_capitalised);
	kl_test_add("/kr_conf/bad/unquoted_key", test_unquoted_key);
	kl_test_add("/kr_conf/bad/unquoted_value", test_unquoted_value);
	kl_test_add("/kr_conf/bad/read_local_with_other_keys",
	    test_read_local_with_other_keys);
	kl_test_add("/kr_conf/bad/read_local_in_local_file",
	    test_read_local_in_local_file);
	kl_test_add("/kr_conf/bad/read_local_not_bool", test_read_local_not_bool);
	kl_test_add("/kr_conf/bad/two_documents", test_two_documents);
	kl_test_add("/kr_conf/bad/control_character", test_control_character);
	kl_test_add("/kr_conf/bad/yaml_anchor", test_yaml_anchor);
	kl_test_add("/kr_conf/bad/yaml_tag", test_yaml_tag);
	kl_test_add("/kr_conf/fuzz/truncations_and_bit_flips",
	    test_truncations_and_bit_flips);
}
