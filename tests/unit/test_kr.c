/*
 * kr.h against a throwaway bare SoftHSM2 token (tests/integration/kr_softhsm.c).
 *
 * Tokens made once for the program:
 *   keylocker  master keys kl-master, kl-master-2; MAC keys kl-mac, kl-mac-2
 *   dup        two secret keys labelled kl-master; MAC key kl-mac
 *   pintest    kl-master, kl-mac; only the wrong-PIN test logs in to it, since
 *              a token another session is logged in to never checks a PIN
 * Each test uses its own store directory.
 */
#include "tests/unit/cutest.h"
#include "tests/integration/kr_softhsm.h"
#include "keyring-bridge/kr.h"
#include "keyring-bridge/kr_p11.h"
#include "keyring-bridge/store.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

static struct kr_softhsm T;
static int tcount;

/* Warnings the engine logged, for tests that expect one. */
static pthread_mutex_t logged_lock = PTHREAD_MUTEX_INITIALIZER;
static char logged[8192];

static void
capture(enum kl_log_level level, const char *line)
{
	size_t n;

	pthread_mutex_lock(&logged_lock);
	n = strlen(logged);
	if (n + strlen(line) + 2 < sizeof(logged)) {
		memcpy(logged + n, line, strlen(line));
		logged[n + strlen(line)] = '\n';
		logged[n + strlen(line) + 1] = '\0';
	}
	pthread_mutex_unlock(&logged_lock);
	if (level == KL_LOG_ERROR)
		fprintf(stderr, "%s\n", line);
}

static void
logged_reset(void)
{
	pthread_mutex_lock(&logged_lock);
	logged[0] = '\0';
	pthread_mutex_unlock(&logged_lock);
}

static int
logged_has(const char *needle)
{
	int r;

	pthread_mutex_lock(&logged_lock);
	r = strstr(logged, needle) != NULL;
	pthread_mutex_unlock(&logged_lock);
	return r;
}

static int
setup(void)
{
	int r;

	if ((r = kr_softhsm_setup(&T)) != 0)
		return r;
	if (kr_softhsm_init_token(&T, "keylocker") != 0 ||
	    kr_softhsm_init_token(&T, "dup") != 0 ||
	    kr_softhsm_make_master(&T, "keylocker", "kl-master") != 0 ||
	    kr_softhsm_make_master(&T, "keylocker", "kl-master-2") != 0 ||
	    kr_softhsm_make_mac(&T, "keylocker", "kl-mac") != 0 ||
	    kr_softhsm_make_mac(&T, "keylocker", "kl-mac-2") != 0 ||
	    kr_softhsm_make_master(&T, "dup", "kl-master") != 0 ||
	    kr_softhsm_make_master(&T, "dup", "kl-master") != 0 ||
	    kr_softhsm_make_mac(&T, "dup", "kl-mac") != 0 ||
	    kr_softhsm_init_token(&T, "pintest") != 0 ||
	    kr_softhsm_make_master(&T, "pintest", "kl-master") != 0 ||
	    kr_softhsm_make_mac(&T, "pintest", "kl-mac") != 0)
		return 1;
	kl_log_set_level(KL_LOG_INFO);
	kl_log_set_sink(capture);
	return 0;
}

static int
teardown(void)
{
	kl_log_set_sink(NULL);
	kr_softhsm_teardown(&T);
	return 0;
}

struct paths {
	char	dir[PATH_MAX];
	char	store[PATH_MAX];
	char	prev[PATH_MAX + 8];
};

static void
new_paths(struct paths *p)
{
	kr_softhsm_path(p->dir, sizeof(p->dir), "%s/s%d", T.dir, ++tcount);
	CU_ASSERT_FATAL(mkdir(p->dir, 0700) == 0);
	kr_softhsm_path(p->store, sizeof(p->store), "%s/component_keyring_pkcs11", p->dir);
	snprintf(p->prev, sizeof(p->prev), "%s.prev", p->store);
}

static void
cfg_init(struct kr_config *c, const char *store)
{
	memset(c, 0, sizeof(*c));
	c->path = (char *)store;
	c->module = T.module;
	c->token = (char *)"keylocker";
	c->master_key = (char *)"kl-master";
	c->mac_key = (char *)"kl-mac";
	c->pin_file = T.pin_file;
	c->cache = 1;
	c->source = (char *)"test_kr.cnf";
}

static struct kr *
open_ok(const struct kr_config *c)
{
	struct kr *kr = NULL;
	char err[512] = "";
	int r = kr_open(c, &kr, err, sizeof(err));

	if (r != 0)
		fprintf(stderr, "\n    kr_open: %s\n", err);
	CU_ASSERT_FATAL(r == 0 && kr != NULL);
	return kr;
}

static struct kr *
open_store(const char *store, int cache)
{
	struct kr_config c;

	cfg_init(&c, store);
	c.cache = cache;
	return open_ok(&c);
}

/* Fetch and compare; 1 when found with exactly these bytes and type. */
static int
fetch_is(struct kr *kr, const char *id, const char *auth, const void *want, size_t len,
    const char *want_type)
{
	struct kl_secret s = { NULL, 0 };
	char type[KR_TYPE_MAX + 1];
	int ok;

	if (kr_fetch(kr, id, auth, &s, type) != KR_FOUND)
		return 0;
	ok = s.len == len && memcmp(s.p, want, len) == 0 &&
	    (want_type == NULL || strcmp(type, want_type) == 0);
	kl_secret_clear(&s);
	return ok;
}

static int
contains(const unsigned char *hay, size_t hlen, const unsigned char *needle, size_t nlen)
{
	size_t i;

	if (nlen == 0 || nlen > hlen)
		return 0;
	for (i = 0; i + nlen <= hlen; i++) {
		if (memcmp(hay + i, needle, nlen) == 0)
			return 1;
	}
	return 0;
}

/* ---- semantics ---- */

static void
test_store_fetch(void)
{
	struct paths p;
	struct kr *kr;
	unsigned char v[32];
	size_t dl = 0, tl = 0;
	struct kl_secret s = { NULL, 0 };
	char type[KR_TYPE_MAX + 1];

	new_paths(&p);
	kr = open_store(p.store, 1);
	CU_ASSERT_FATAL(RAND_bytes(v, sizeof(v)) == 1);
	CU_ASSERT_EQUAL(kr_fetch(kr, "INNODBKey-x-1", NULL, &s, type), KR_MISSING);
	CU_ASSERT_EQUAL(kr_lookup_len(kr, "INNODBKey-x-1", NULL, &dl, &tl), KR_MISSING);
	CU_ASSERT_EQUAL(kr_store(kr, "INNODBKey-x-1", NULL, "AES", v, sizeof(v)), 0);
	CU_ASSERT(fetch_is(kr, "INNODBKey-x-1", NULL, v, sizeof(v), "AES"));
	CU_ASSERT(fetch_is(kr, "INNODBKey-x-1", "", v, sizeof(v), "AES"));	/* NULL == "" */
	CU_ASSERT_EQUAL(kr_lookup_len(kr, "INNODBKey-x-1", NULL, &dl, &tl), KR_FOUND);
	CU_ASSERT_EQUAL(dl, 32);
	CU_ASSERT_EQUAL(tl, 3);
	/* another auth_id is another entry */
	CU_ASSERT_EQUAL(kr_fetch(kr, "INNODBKey-x-1", "root@localhost", &s, type), KR_MISSING);
	CU_ASSERT_EQUAL(kr_store(kr, "INNODBKey-x-1", "root@localhost", "SECRET", "abc", 3), 0);
	CU_ASSERT(fetch_is(kr, "INNODBKey-x-1", "root@localhost", "abc", 3, "SECRET"));
	CU_ASSERT(fetch_is(kr, "INNODBKey-x-1", NULL, v, sizeof(v), "AES"));
	/* exists */
	CU_ASSERT_EQUAL(kr_store(kr, "INNODBKey-x-1", NULL, "AES", v, sizeof(v)), KR_E_EXISTS);
	CU_ASSERT_PTR_NOT_NULL(strstr(kr_last_error(kr), "'INNODBKey-x-1' exists"));
	CU_ASSERT_EQUAL(kr_generate(kr, "INNODBKey-x-1", NULL, "AES", 32), KR_E_EXISTS);
	kr_close(kr);

	/* persisted: a new instance sees the same */
	kr = open_store(p.store, 0);
	CU_ASSERT(fetch_is(kr, "INNODBKey-x-1", NULL, v, sizeof(v), "AES"));
	CU_ASSERT(fetch_is(kr, "INNODBKey-x-1", "root@localhost", "abc", 3, "SECRET"));
	kr_close(kr);
}

static void
test_generate(void)
{
	struct paths p;
	struct kr *kr;
	struct kl_secret a = { NULL, 0 }, b = { NULL, 0 };
	char type[KR_TYPE_MAX + 1];

	new_paths(&p);
	kr = open_store(p.store, 0);
	CU_ASSERT_EQUAL(kr_generate(kr, "g1", NULL, "AES", 32), 0);
	CU_ASSERT_EQUAL(kr_generate(kr, "g2", "u@h", "SECRET", 7), 0);
	CU_ASSERT_EQUAL(kr_generate(kr, "g3", NULL, "AES", KR_DATA_MAX), 0);
	CU_ASSERT_EQUAL_FATAL(kr_fetch(kr, "g1", NULL, &a, type), KR_FOUND);
	CU_ASSERT_EQUAL(a.len, 32);
	CU_ASSERT_STRING_EQUAL(type, "AES");
	CU_ASSERT_EQUAL_FATAL(kr_fetch(kr, "g2", "u@h", &b, type), KR_FOUND);
	CU_ASSERT_EQUAL(b.len, 7);
	CU_ASSERT_STRING_EQUAL(type, "SECRET");
	kl_secret_clear(&b);
	CU_ASSERT_EQUAL_FATAL(kr_fetch(kr, "g3", NULL, &b, type), KR_FOUND);
	CU_ASSERT_EQUAL(b.len, KR_DATA_MAX);
	kl_secret_clear(&b);
	/* two generations differ, and a second fetch is the same key */
	CU_ASSERT_EQUAL(kr_generate(kr, "g4", NULL, "AES", 32), 0);
	CU_ASSERT_EQUAL_FATAL(kr_fetch(kr, "g4", NULL, &b, type), KR_FOUND);
	CU_ASSERT(memcmp(a.p, b.p, 32) != 0);
	kl_secret_clear(&b);
	CU_ASSERT(fetch_is(kr, "g1", NULL, a.p, a.len, "AES"));
	kr_close(kr);
	kr = open_store(p.store, 1);
	CU_ASSERT(fetch_is(kr, "g1", NULL, a.p, a.len, "AES"));
	kr_close(kr);
	kl_secret_clear(&a);
}

static void
test_remove_and_list(void)
{
	struct paths p;
	struct kr *kr;
	struct kr_meta *m = NULL;
	size_t n = 0;
	struct kr_status st;

	new_paths(&p);
	kr = open_store(p.store, 1);
	CU_ASSERT_EQUAL(kr_list(kr, &m, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	kr_meta_free(m, n);
	CU_ASSERT_EQUAL(kr_store(kr, "a", NULL, "AES", "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL(kr_store(kr, "b", "u@h", "SECRET", "xyz", 3), 0);
	CU_ASSERT_EQUAL(kr_generate(kr, "c", NULL, "AES", 32), 0);
	CU_ASSERT_EQUAL_FATAL(kr_list(kr, &m, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_STRING_EQUAL(m[0].data_id, "a");
	CU_ASSERT_STRING_EQUAL(m[0].auth_id, "");
	CU_ASSERT_STRING_EQUAL(m[0].type, "AES");
	CU_ASSERT_EQUAL(m[0].data_len, 16);
	CU_ASSERT_STRING_EQUAL(m[1].data_id, "b");
	CU_ASSERT_STRING_EQUAL(m[1].auth_id, "u@h");
	CU_ASSERT_EQUAL(m[1].data_len, 3);
	CU_ASSERT_STRING_EQUAL(m[2].data_id, "c");
	CU_ASSERT_EQUAL(m[2].data_len, 32);
	kr_meta_free(m, n);

	CU_ASSERT_EQUAL(kr_remove(kr, "b", NULL), KR_E_MISSING);	/* auth_id matters */
	CU_ASSERT_PTR_NOT_NULL(strstr(kr_last_error(kr), "'b' does not exist"));
	CU_ASSERT_EQUAL(kr_remove(kr, "b", "u@h"), 0);
	CU_ASSERT_EQUAL(kr_remove(kr, "b", "u@h"), KR_E_MISSING);
	CU_ASSERT_EQUAL(kr_remove(kr, "nope", NULL), KR_E_MISSING);
	CU_ASSERT_EQUAL_FATAL(kr_list(kr, &m, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_STRING_EQUAL(m[0].data_id, "a");
	CU_ASSERT_STRING_EQUAL(m[1].data_id, "c");
	kr_meta_free(m, n);
	/* a removed entry can be stored again */
	CU_ASSERT_EQUAL(kr_store(kr, "b", "u@h", "SECRET", "new", 3), 0);
	CU_ASSERT(fetch_is(kr, "b", "u@h", "new", 3, "SECRET"));
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.generation, 5);	/* one per write */
	CU_ASSERT_EQUAL(st.entries, 3);
	CU_ASSERT_STRING_EQUAL(st.token, "keylocker");
	CU_ASSERT_STRING_EQUAL(st.master_key, "kl-master");
	CU_ASSERT_STRING_EQUAL(st.store_path, p.store);
	CU_ASSERT_STRING_EQUAL(st.module, T.module);
	CU_ASSERT_EQUAL(st.read_only, 0);
	CU_ASSERT_EQUAL(st.cache, 1);
	kr_close(kr);
}

static void
test_limits(void)
{
	struct paths p;
	struct kr *kr;
	char big[KR_DATA_ID_MAX + 2], type[KR_TYPE_MAX + 2];
	static unsigned char data[KR_DATA_MAX + 1];
	struct kl_secret s = { NULL, 0 };
	char t[KR_TYPE_MAX + 1];

	new_paths(&p);
	kr = open_store(p.store, 1);
	memset(big, 'i', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';		/* 1025 bytes */
	memset(type, 'T', sizeof(type) - 1);
	type[sizeof(type) - 1] = '\0';		/* 33 bytes */
	CU_ASSERT_EQUAL(kr_store(kr, "", NULL, "AES", "x", 1), KR_E_INVALID);
	CU_ASSERT_EQUAL(kr_store(kr, NULL, NULL, "AES", "x", 1), KR_E_INVALID);
	CU_ASSERT_EQUAL(kr_store(kr, big, NULL, "AES", "x", 1), KR_E_INVALID);
	CU_ASSERT_EQUAL(kr_store(kr, "a", big, "AES", "x", 1), KR_E_INVALID);
	CU_ASSERT_EQUAL(kr_store(kr, "a", NULL, type, "x", 1), KR_E_INVALID);
	CU_ASSERT_EQUAL(kr_store(kr, "a", NULL, "", "x", 1), KR_E_INVALID);
	CU_ASSERT_EQUAL(kr_store(kr, "a", NULL, NULL, "x", 1), KR_E_INVALID);
	CU_ASSERT_EQUAL(kr_store(kr, "a", NULL, "AES", "x", 0), KR_E_INVALID);
	CU_ASSERT_EQUAL(kr_store(kr, "a", NULL, "AES", NULL, 1), KR_E_INVALID);
	CU_ASSERT_EQUAL(kr_store(kr, "a", NULL, "AES", data, KR_DATA_MAX + 1), KR_E_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(kr_last_error(kr), "1..16384"));
	CU_ASSERT_EQUAL(kr_generate(kr, "a", NULL, "AES", 0), KR_E_INVALID);
	CU_ASSERT_EQUAL(kr_generate(kr, "a", NULL, "AES", KR_DATA_MAX + 1), KR_E_INVALID);
	CU_ASSERT_EQUAL(kr_fetch(kr, big, NULL, &s, t), KR_ERROR);
	CU_ASSERT_EQUAL(kr_remove(kr, "", NULL), KR_E_INVALID);
	/* and exactly at the limits it works */
	big[KR_DATA_ID_MAX] = '\0';
	type[KR_TYPE_MAX] = '\0';
	CU_ASSERT_FATAL(RAND_bytes(data, KR_DATA_MAX) == 1);
	CU_ASSERT_EQUAL(kr_store(kr, big, big, type, data, KR_DATA_MAX), 0);
	CU_ASSERT(fetch_is(kr, big, big, data, KR_DATA_MAX, type));
	CU_ASSERT_EQUAL(kr_store(kr, "one-byte", NULL, "AES", data, 1), 0);
	CU_ASSERT(fetch_is(kr, "one-byte", NULL, data, 1, "AES"));
	kr_close(kr);
	kr = open_store(p.store, 0);
	CU_ASSERT(fetch_is(kr, big, big, data, KR_DATA_MAX, type));
	kr_close(kr);
}

/* ---- the cache ---- */

static void
test_cache(void)
{
	struct paths p;
	struct kr *kr;
	struct kr_status st;
	uint64_t u0;
	size_t mem0 = kl_secure_in_use();

	new_paths(&p);
	kr = open_store(p.store, 1);
	CU_ASSERT_EQUAL(kr_store(kr, "k", NULL, "AES", "0123456789abcdef0123456789abcdef", 32), 0);
	CU_ASSERT_EQUAL(kr_generate(kr, "g", NULL, "AES", 32), 0);
	u0 = kr_p11_unwrap_count();
	CU_ASSERT(fetch_is(kr, "k", NULL, "0123456789abcdef0123456789abcdef", 32, "AES"));
	CU_ASSERT_EQUAL(kr_p11_unwrap_count() - u0, 1);	/* store does not cache */
	CU_ASSERT(fetch_is(kr, "k", NULL, "0123456789abcdef0123456789abcdef", 32, "AES"));
	CU_ASSERT(fetch_is(kr, "k", NULL, "0123456789abcdef0123456789abcdef", 32, "AES"));
	CU_ASSERT_EQUAL(kr_p11_unwrap_count() - u0, 1);	/* served from the cache */
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.cached, 1);
	CU_ASSERT_EQUAL(st.cache, 1);
	CU_ASSERT(kl_secure_in_use() > mem0);
	CU_ASSERT_EQUAL(kr_remove(kr, "k", NULL), 0);	/* wipes the cached copy */
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.cached, 0);
	CU_ASSERT_EQUAL(kl_secure_in_use(), mem0);
	{
		struct kl_secret s = { NULL, 0 };
		char t[KR_TYPE_MAX + 1];

		CU_ASSERT_EQUAL(kr_fetch(kr, "g", NULL, &s, t), KR_FOUND);
		kl_secret_clear(&s);
		CU_ASSERT_EQUAL(kr_fetch(kr, "g", NULL, &s, t), KR_FOUND);
		kl_secret_clear(&s);
	}
	CU_ASSERT_EQUAL(kr_p11_unwrap_count() - u0, 2);
	kr_close(kr);		/* wipes the rest */
	CU_ASSERT_EQUAL(kl_secure_in_use(), mem0);

	/* cache off: every fetch is an unwrap in the token */
	kr = open_store(p.store, 0);
	u0 = kr_p11_unwrap_count();
	{
		struct kl_secret s = { NULL, 0 };
		char t[KR_TYPE_MAX + 1];
		int i;

		for (i = 0; i < 3; i++) {
			CU_ASSERT_EQUAL(kr_fetch(kr, "g", NULL, &s, t), KR_FOUND);
			kl_secret_clear(&s);
		}
	}
	CU_ASSERT_EQUAL(kr_p11_unwrap_count() - u0, 3);
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.cached, 0);
	CU_ASSERT_EQUAL(st.cache, 0);
	CU_ASSERT_EQUAL(st.cache_locked, 0);
	CU_ASSERT_EQUAL(kl_secure_in_use(), mem0);
	kr_close(kr);
}

/* ---- token failures ---- */

static void
expect_open_fails(const struct kr_config *c, int want, const char *needle)
{
	struct kr *kr = NULL;
	char err[512] = "";
	int r = kr_open(c, &kr, err, sizeof(err));

	CU_ASSERT_EQUAL(r, want);
	CU_ASSERT_PTR_NULL(kr);
	if (strstr(err, needle) == NULL) {
		fprintf(stderr, "\n    want \"%s\", got \"%s\"\n", needle, err);
		CU_FAIL("wrong message");
	}
	/* never the PIN */
	CU_ASSERT_PTR_NULL(strstr(err, KR_SOFTHSM_PIN));
	kr_close(kr);
}

static void
test_duplicate_label(void)
{
	struct paths p;
	struct kr_config c;

	new_paths(&p);
	cfg_init(&c, p.store);
	c.token = (char *)"dup";
	expect_open_fails(&c, KR_E_TOKEN, "more than one secret key is labelled "
	    "'kl-master' (the master key)");
	expect_open_fails(&c, KR_E_TOKEN, "token 'dup'");
	expect_open_fails(&c, KR_E_TOKEN, T.module);
	CU_ASSERT(access(p.store, F_OK) != 0);		/* nothing written */
}

static void
test_missing_key_and_token(void)
{
	struct paths p;
	struct kr_config c;

	new_paths(&p);
	cfg_init(&c, p.store);
	c.master_key = (char *)"no-such-master";
	expect_open_fails(&c, KR_E_TOKEN, "no secret key labelled 'no-such-master' "
	    "(the master key)");
	cfg_init(&c, p.store);
	c.mac_key = (char *)"no-such-mac";
	expect_open_fails(&c, KR_E_TOKEN, "no secret key labelled 'no-such-mac' (the MAC key)");
	cfg_init(&c, p.store);
	c.token = (char *)"absent";
	expect_open_fails(&c, KR_E_TOKEN, "token 'absent': no token with this label");
	cfg_init(&c, p.store);
	c.module = (char *)"/nonexistent/libpkcs11.so";
	expect_open_fails(&c, KR_E_CONFIG, "/nonexistent/libpkcs11.so");
	cfg_init(&c, p.store);
	c.module = (char *)"libsofthsm2.so";
	expect_open_fails(&c, KR_E_CONFIG, "not an absolute path");
	cfg_init(&c, p.store);
	c.mac_key = NULL;
	expect_open_fails(&c, KR_E_CONFIG, "the MAC key label is not set");
}

static void
test_wrong_pin(void)
{
	struct paths p;
	struct kr_config c;
	char bad[PATH_MAX + 8];

	new_paths(&p);
	kr_softhsm_path(bad, sizeof(bad), "%s/wrong-pin", p.dir);
	CU_ASSERT_FATAL(kr_softhsm_write_file(bad, "not-the-pin\n", 12, 0600) == 0);
	cfg_init(&c, p.store);
	c.token = (char *)"pintest";
	c.pin_file = bad;
	expect_open_fails(&c, KR_E_TOKEN, "C_Login with the PIN in");
	expect_open_fails(&c, KR_E_TOKEN, "CKR_PIN_INCORRECT");
	{
		struct kr *kr = NULL;
		char err[512];

		CU_ASSERT(kr_open(&c, &kr, err, sizeof(err)) != 0);
		CU_ASSERT_PTR_NULL(strstr(err, "not-the-pin"));
	}
	/* a PIN file others can read is refused before it is read */
	CU_ASSERT_EQUAL(chmod(bad, 0644), 0);
	expect_open_fails(&c, KR_E_CONFIG, "chmod 600");
	kr_softhsm_path(bad, sizeof(bad), "%s/no-pin-file", p.dir);
	expect_open_fails(&c, KR_E_CONFIG, "cannot open PIN file");
}

static void
test_wrong_mac_key(void)
{
	struct paths p;
	struct kr_config c;
	struct kr *kr;

	new_paths(&p);
	kr = open_store(p.store, 1);
	CU_ASSERT_EQUAL(kr_store(kr, "a", NULL, "AES", "0123456789abcdef", 16), 0);
	kr_close(kr);
	cfg_init(&c, p.store);
	c.mac_key = (char *)"kl-mac-2";
	expect_open_fails(&c, KR_E_STORE, "MAC does not verify with MAC key 'kl-mac-2'");
	expect_open_fails(&c, KR_E_STORE, p.store);
}

static void
test_tampered_store(void)
{
	struct paths p;
	struct kr_config c;
	struct kr *kr;
	unsigned char *buf;
	size_t len;

	new_paths(&p);
	kr = open_store(p.store, 1);
	CU_ASSERT_EQUAL(kr_store(kr, "a", NULL, "AES", "0123456789abcdef", 16), 0);
	kr_close(kr);
	CU_ASSERT_FATAL(kr_softhsm_read_file(p.store, &buf, &len) == 0);
	buf[len / 2] ^= 0x10;
	CU_ASSERT_FATAL(kr_softhsm_write_file(p.store, buf, len, 0600) == 0);
	cfg_init(&c, p.store);
	expect_open_fails(&c, KR_E_STORE, "MAC does not verify with MAC key 'kl-mac'");
	free(buf);
	CU_ASSERT_EQUAL(chmod(p.store, 0666), 0);
	expect_open_fails(&c, KR_E_STORE, "writable by group or others");
}

static void
test_session_recovery(void)
{
	struct paths p;
	struct kr *kr;
	uint64_t u0;

	new_paths(&p);
	kr = open_store(p.store, 0);
	CU_ASSERT_EQUAL(kr_store(kr, "a", NULL, "AES", "0123456789abcdef", 16), 0);
	/* the token loses every session (and with them the login) */
	CU_ASSERT_FATAL(kr_softhsm_close_all_sessions(&T, "keylocker") == 0);
	logged_reset();
	u0 = kr_p11_unwrap_count();
	CU_ASSERT(fetch_is(kr, "a", NULL, "0123456789abcdef", 16, "AES"));
	CU_ASSERT(logged_has("CKR_SESSION_HANDLE_INVALID; re-opening the session"));
	CU_ASSERT(logged_has("session re-opened"));
	CU_ASSERT_EQUAL(kr_p11_unwrap_count() - u0, 2);	/* failed once, retried once */
	/* writes (wrap + MAC) recover too */
	CU_ASSERT_FATAL(kr_softhsm_close_all_sessions(&T, "keylocker") == 0);
	CU_ASSERT_EQUAL(kr_store(kr, "b", NULL, "AES", "fedcba9876543210", 16), 0);
	CU_ASSERT(fetch_is(kr, "b", NULL, "fedcba9876543210", 16, "AES"));
	kr_close(kr);
}

/* An entry whose recorded master key is not the token's key of that label. */
static void
test_master_key_identity(void)
{
	struct paths p;
	struct kr_p11_config pc = { T.module, "keylocker", T.pin_file, "kl-master", "kl-mac" };
	struct kr_p11 *p11 = NULL;
	struct kr_mac_ops ops;
	struct kr_set *set;
	struct kr_entry *e;
	struct kr *kr;
	unsigned char *blob = NULL, dg[KR_STORE_DIGEST_LEN];
	size_t blen = 0;
	char err[512];
	uint16_t good, bad;
	struct kl_secret s = { NULL, 0 };
	char t[KR_TYPE_MAX + 1];

	new_paths(&p);
	CU_ASSERT_FATAL(kr_p11_open(&pc, &p11, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(kr_p11_wrap(p11, "x", "0123456789abcdef", 16, &blob, &blen, err,
	    sizeof(err)) == 0);
	ops.sign = kr_p11_mac_sign;
	ops.verify = kr_p11_mac_verify;
	ops.ctx = p11;
	ops.what = kr_p11_mac_what(p11);
	set = kr_set_new();
	CU_ASSERT_FATAL(kr_set_mkey(set, "kl-master", kr_p11_master(p11)->id,
	    kr_p11_master(p11)->id_len, &good) == 0);
	CU_ASSERT_FATAL(kr_set_mkey(set, "kl-master", (const unsigned char *)"forged", 6,
	    &bad) == 0);
	CU_ASSERT_FATAL(kr_set_reserve(set, 2) == 0);
	CU_ASSERT_FATAL((e = kr_entry_new("good", "", "AES", 16, blob, blen, good)) != NULL);
	kr_set_insert(set, e);
	CU_ASSERT_FATAL((e = kr_entry_new("bad", "", "AES", 16, blob, blen, bad)) != NULL);
	kr_set_insert(set, e);
	CU_ASSERT_FATAL(kr_store_commit(p.store, set, 1, NULL, NULL, &ops, dg, err,
	    sizeof(err)) == 0);
	kr_set_free(set);
	kr_p11_close(p11);
	free(blob);

	kr = open_store(p.store, 0);
	CU_ASSERT(fetch_is(kr, "good", NULL, "0123456789abcdef", 16, "AES"));
	CU_ASSERT_EQUAL(kr_fetch(kr, "bad", NULL, &s, t), KR_ERROR);
	CU_ASSERT_PTR_NOT_NULL(strstr(kr_last_error(kr), "wrapped by master key "
	    "'kl-master' with CKA_ID 666f72676564"));
	CU_ASSERT_PTR_NOT_NULL(strstr(kr_last_error(kr), "'bad'"));
	CU_ASSERT_PTR_NULL(s.p);
	kr_close(kr);
}

/* New wraps use the configured master key; older entries keep theirs. */
static void
test_master_key_rotation(void)
{
	struct paths p;
	struct kr_config c;
	struct kr *kr;

	new_paths(&p);
	kr = open_store(p.store, 0);
	CU_ASSERT_EQUAL(kr_store(kr, "old", NULL, "AES", "0123456789abcdef", 16), 0);
	kr_close(kr);
	cfg_init(&c, p.store);
	c.master_key = (char *)"kl-master-2";
	c.cache = 0;
	kr = open_ok(&c);
	CU_ASSERT(fetch_is(kr, "old", NULL, "0123456789abcdef", 16, "AES"));
	CU_ASSERT_EQUAL(kr_store(kr, "new", NULL, "AES", "fedcba9876543210", 16), 0);
	CU_ASSERT(fetch_is(kr, "new", NULL, "fedcba9876543210", 16, "AES"));
	kr_close(kr);
	kr = open_store(p.store, 0);
	CU_ASSERT(fetch_is(kr, "old", NULL, "0123456789abcdef", 16, "AES"));
	CU_ASSERT(fetch_is(kr, "new", NULL, "fedcba9876543210", 16, "AES"));
	kr_close(kr);
}

/* ---- the store on disk ---- */

static void
test_no_cleartext_on_disk(void)
{
	struct paths p;
	struct kr *kr;
	unsigned char v[32], *buf = NULL, *prev = NULL;
	struct kl_secret g = { NULL, 0 };
	char t[KR_TYPE_MAX + 1];
	size_t len = 0, plen = 0, i;
	int leaks = 0;

	new_paths(&p);
	kr = open_store(p.store, 1);
	CU_ASSERT_FATAL(RAND_bytes(v, sizeof(v)) == 1);
	CU_ASSERT_EQUAL(kr_store(kr, "visible-data-id", "visible-auth", "AES", v, sizeof(v)), 0);
	CU_ASSERT_EQUAL(kr_generate(kr, "generated", NULL, "AES", 32), 0);
	CU_ASSERT_EQUAL_FATAL(kr_fetch(kr, "generated", NULL, &g, t), KR_FOUND);
	CU_ASSERT_FATAL(kr_softhsm_read_file(p.store, &buf, &len) == 0);
	CU_ASSERT_FATAL(kr_softhsm_read_file(p.prev, &prev, &plen) == 0);
	/* control: the search works on what is there */
	CU_ASSERT(contains(buf, len, (const unsigned char *)"visible-data-id", 15));
	CU_ASSERT(contains(buf, len, (const unsigned char *)"visible-auth", 12));
	/* neither secret, nor any 8-byte run of one, is in either file */
	for (i = 0; i + 8 <= sizeof(v); i++) {
		leaks += contains(buf, len, v + i, 8) + contains(prev, plen, v + i, 8);
		leaks += contains(buf, len, g.p + i, 8) + contains(prev, plen, g.p + i, 8);
	}
	CU_ASSERT_EQUAL(leaks, 0);
	kl_secret_clear(&g);
	free(buf);
	free(prev);
	kr_close(kr);
}

static void
test_other_writer_reload(void)
{
	struct paths p;
	struct kr *a, *b, *c;
	struct kr_status st;
	uint64_t u0;
	size_t dl, tl;

	new_paths(&p);
	a = open_store(p.store, 1);
	b = open_store(p.store, 1);
	CU_ASSERT_EQUAL(kr_store(a, "k1", NULL, "AES", "1111111111111111", 16), 0);
	CU_ASSERT(fetch_is(a, "k1", NULL, "1111111111111111", 16, "AES"));	/* cached in a */
	/* b loaded generation 0: its write reloads generation 1 first */
	logged_reset();
	CU_ASSERT_EQUAL(kr_store(b, "k2", NULL, "AES", "2222222222222222", 16), 0);
	CU_ASSERT(logged_has("generation 1 written by another process"));
	kr_get_status(b, &st);
	CU_ASSERT_EQUAL(st.generation, 2);
	CU_ASSERT_EQUAL(st.entries, 2);
	CU_ASSERT(fetch_is(b, "k1", NULL, "1111111111111111", 16, "AES"));
	CU_ASSERT_EQUAL(kr_store(b, "k1", NULL, "AES", "xxxxxxxxxxxxxxxx", 16), KR_E_EXISTS);
	/* reads serve the generation loaded; a's next write reloads */
	CU_ASSERT_EQUAL(kr_lookup_len(a, "k2", NULL, &dl, &tl), KR_MISSING);
	CU_ASSERT_EQUAL(kr_store(a, "k3", NULL, "AES", "3333333333333333", 16), 0);
	kr_get_status(a, &st);
	CU_ASSERT_EQUAL(st.generation, 3);
	CU_ASSERT_EQUAL(st.entries, 3);
	CU_ASSERT_EQUAL(st.cached, 1);		/* k1's blob did not change: kept */
	u0 = kr_p11_unwrap_count();
	CU_ASSERT(fetch_is(a, "k1", NULL, "1111111111111111", 16, "AES"));
	CU_ASSERT_EQUAL(kr_p11_unwrap_count(), u0);
	CU_ASSERT(fetch_is(a, "k2", NULL, "2222222222222222", 16, "AES"));
	/* a removal by a, seen by b's next write */
	CU_ASSERT_EQUAL(kr_remove(a, "k1", NULL), 0);
	CU_ASSERT_EQUAL(kr_remove(b, "k1", NULL), KR_E_MISSING);
	kr_close(a);
	kr_close(b);
	c = open_store(p.store, 0);
	kr_get_status(c, &st);
	CU_ASSERT_EQUAL(st.generation, 4);
	CU_ASSERT_EQUAL(st.entries, 2);
	CU_ASSERT(fetch_is(c, "k2", NULL, "2222222222222222", 16, "AES"));
	CU_ASSERT(fetch_is(c, "k3", NULL, "3333333333333333", 16, "AES"));
	kr_close(c);
}

static void
test_rollback_refused(void)
{
	struct paths p;
	struct kr *kr;
	struct kr_status st;
	unsigned char *gen1 = NULL, *now = NULL;
	size_t len1 = 0, nlen = 0, dl, tl;

	new_paths(&p);
	kr = open_store(p.store, 1);
	CU_ASSERT_EQUAL(kr_store(kr, "k1", NULL, "AES", "1111111111111111", 16), 0);
	CU_ASSERT_FATAL(kr_softhsm_read_file(p.store, &gen1, &len1) == 0);
	CU_ASSERT_EQUAL(kr_store(kr, "k2", NULL, "AES", "2222222222222222", 16), 0);
	/* someone puts generation 1 back */
	CU_ASSERT_FATAL(kr_softhsm_write_file(p.store, gen1, len1, 0600) == 0);
	CU_ASSERT_EQUAL(kr_store(kr, "k3", NULL, "AES", "3333333333333333", 16), KR_E_STORE);
	CU_ASSERT_PTR_NOT_NULL(strstr(kr_last_error(kr), "went back from generation 2 to 1"));
	/* memory and disk as they were */
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.generation, 2);
	CU_ASSERT_EQUAL(st.entries, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(st.last_error, "went back"));
	CU_ASSERT_EQUAL(kr_lookup_len(kr, "k3", NULL, &dl, &tl), KR_MISSING);
	CU_ASSERT_FATAL(kr_softhsm_read_file(p.store, &now, &nlen) == 0);
	CU_ASSERT(nlen == len1 && memcmp(now, gen1, len1) == 0);
	free(now);
	free(gen1);
	kr_close(kr);
}

static void
test_write_failure_changes_nothing(void)
{
	struct paths p;
	struct kr *kr;
	struct kr_status st;
	unsigned char *before = NULL, *after = NULL;
	size_t blen = 0, alen = 0, dl, tl;
	char tmp[PATH_MAX + 8];

	new_paths(&p);
	kr = open_store(p.store, 1);
	CU_ASSERT_EQUAL(kr_store(kr, "k1", NULL, "AES", "1111111111111111", 16), 0);
	CU_ASSERT_FATAL(kr_softhsm_read_file(p.store, &before, &blen) == 0);
	/* a directory where the temp file goes: we are root, so not chmod */
	kr_softhsm_path(tmp, sizeof(tmp), "%s.tmp", p.store);
	CU_ASSERT_FATAL(mkdir(tmp, 0700) == 0);
	CU_ASSERT_EQUAL(kr_store(kr, "k2", NULL, "AES", "2222222222222222", 16), KR_E_STORE);
	CU_ASSERT_PTR_NOT_NULL(strstr(kr_last_error(kr), ".tmp"));
	CU_ASSERT_PTR_NOT_NULL(strstr(kr_last_error(kr), "the keyring store is unchanged"));
	CU_ASSERT_EQUAL(kr_lookup_len(kr, "k2", NULL, &dl, &tl), KR_MISSING);
	CU_ASSERT_EQUAL(kr_remove(kr, "k1", NULL), KR_E_STORE);
	CU_ASSERT_EQUAL(kr_lookup_len(kr, "k1", NULL, &dl, &tl), KR_FOUND);
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.generation, 1);
	CU_ASSERT_EQUAL(st.entries, 1);
	CU_ASSERT_FATAL(kr_softhsm_read_file(p.store, &after, &alen) == 0);
	CU_ASSERT(alen == blen && memcmp(before, after, blen) == 0);
	/* once the obstacle is gone the same write succeeds */
	CU_ASSERT_EQUAL(rmdir(tmp), 0);
	CU_ASSERT_EQUAL(kr_store(kr, "k2", NULL, "AES", "2222222222222222", 16), 0);
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.generation, 2);
	free(before);
	free(after);
	kr_close(kr);
}

static void
test_missing_store_and_prev(void)
{
	struct paths p;
	struct kr *kr;
	struct kr_status st;
	size_t dl, tl;

	new_paths(&p);
	kr = open_store(p.store, 1);
	CU_ASSERT_EQUAL(kr_store(kr, "k1", NULL, "AES", "1111111111111111", 16), 0);
	CU_ASSERT_EQUAL(kr_store(kr, "k2", NULL, "AES", "2222222222222222", 16), 0);
	kr_close(kr);
	CU_ASSERT_EQUAL(unlink(p.store), 0);	/* MySQL's tests do this */
	logged_reset();
	kr = open_store(p.store, 1);
	CU_ASSERT(logged_has("does not exist but"));
	CU_ASSERT(logged_has(".prev (generation 1) does"));
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.entries, 0);
	CU_ASSERT_EQUAL(kr_lookup_len(kr, "k1", NULL, &dl, &tl), KR_MISSING);
	/* generations keep moving forward across the deletion */
	CU_ASSERT_EQUAL(kr_store(kr, "k3", NULL, "AES", "3333333333333333", 16), 0);
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.generation, 2);
	kr_close(kr);

	/* the file vanishing under a running instance: its keys are written back */
	kr = open_store(p.store, 1);
	CU_ASSERT_EQUAL(unlink(p.store), 0);
	logged_reset();
	CU_ASSERT_EQUAL(kr_store(kr, "k4", NULL, "AES", "4444444444444444", 16), 0);
	CU_ASSERT(logged_has("disappeared"));
	kr_close(kr);
	kr = open_store(p.store, 0);
	CU_ASSERT(fetch_is(kr, "k3", NULL, "3333333333333333", 16, "AES"));
	CU_ASSERT(fetch_is(kr, "k4", NULL, "4444444444444444", 16, "AES"));
	kr_close(kr);
}

/* kr_create: an empty MAC'd store where none is, nothing anywhere else. */
static void
test_create(void)
{
	struct paths p;
	struct kr *kr;
	struct kr_status st;
	struct kr_config c;
	struct stat a, b;

	new_paths(&p);
	kr = open_store(p.store, 1);
	CU_ASSERT(stat(p.store, &a) != 0 && errno == ENOENT);	/* kr_open writes nothing */
	CU_ASSERT_EQUAL(kr_create(kr), 0);
	CU_ASSERT_FATAL(stat(p.store, &a) == 0);
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.generation, 1);
	CU_ASSERT_EQUAL(st.entries, 0);
	CU_ASSERT_EQUAL(kr_store(kr, "k1", NULL, "AES", "1111111111111111", 16), 0);
	kr_close(kr);

	/* on an existing store: the same file, untouched */
	kr = open_store(p.store, 1);
	CU_ASSERT_FATAL(stat(p.store, &a) == 0);
	CU_ASSERT_EQUAL(kr_create(kr), 0);
	CU_ASSERT_FATAL(stat(p.store, &b) == 0);
	CU_ASSERT(a.st_ino == b.st_ino && a.st_size == b.st_size);
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.generation, 2);
	CU_ASSERT(fetch_is(kr, "k1", NULL, "1111111111111111", 16, "AES"));
	kr_close(kr);

	/* read-only: refused, nothing written */
	CU_ASSERT_EQUAL(unlink(p.store), 0);
	cfg_init(&c, p.store);
	c.read_only = 1;
	kr = open_ok(&c);
	CU_ASSERT_EQUAL(kr_create(kr), KR_E_READ_ONLY);
	CU_ASSERT(stat(p.store, &a) != 0 && errno == ENOENT);
	kr_close(kr);
}

static void
test_read_only(void)
{
	struct paths p;
	struct kr_config c;
	struct kr *kr;
	char lock[PATH_MAX + 8];

	new_paths(&p);
	cfg_init(&c, p.store);
	c.read_only = 1;
	kr = open_ok(&c);	/* missing store: an empty keyring */
	CU_ASSERT_EQUAL(kr_store(kr, "a", NULL, "AES", "0123456789abcdef", 16), KR_E_READ_ONLY);
	CU_ASSERT_PTR_NOT_NULL(strstr(kr_last_error(kr), "read_only is set in test_kr.cnf"));
	CU_ASSERT_EQUAL(kr_generate(kr, "a", NULL, "AES", 16), KR_E_READ_ONLY);
	CU_ASSERT_EQUAL(kr_remove(kr, "a", NULL), KR_E_READ_ONLY);
	kr_close(kr);
	kr_softhsm_path(lock, sizeof(lock), "%s.lock", p.store);
	CU_ASSERT(access(p.store, F_OK) != 0);	/* never creates files */
	CU_ASSERT(access(lock, F_OK) != 0);

	kr = open_store(p.store, 0);
	CU_ASSERT_EQUAL(kr_store(kr, "a", NULL, "AES", "0123456789abcdef", 16), 0);
	kr_close(kr);
	kr = open_ok(&c);
	CU_ASSERT(fetch_is(kr, "a", NULL, "0123456789abcdef", 16, "AES"));
	CU_ASSERT_EQUAL(kr_remove(kr, "a", NULL), KR_E_READ_ONLY);
	kr_close(kr);
}

/* ---- threads ---- */

struct worker {
	struct kr	*kr;
	int		 id;
	int		 failures;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	char id[64], val[32];
	int i;

	for (i = 0; i < 25; i++) {
		snprintf(id, sizeof(id), "w%d-%d", w->id, i);
		snprintf(val, sizeof(val), "value-%d-%d-xxxxxxxxxxxxxxxx", w->id, i);
		if (kr_store(w->kr, id, NULL, "AES", val, 16) != 0)
			w->failures++;
		if (!fetch_is(w->kr, id, NULL, val, 16, "AES"))
			w->failures++;
		if (!fetch_is(w->kr, "shared", NULL, "shared-value-16b", 16, "AES"))
			w->failures++;
		if (i % 5 == 0 && kr_remove(w->kr, id, NULL) != 0)
			w->failures++;
	}
	return NULL;
}

static void
test_threads(void)
{
	struct paths p;
	struct worker w[4];
	pthread_t th[4];
	struct kr_status st;
	struct kr *kr;
	int i;

	new_paths(&p);
	kr = open_store(p.store, 1);
	CU_ASSERT_EQUAL(kr_store(kr, "shared", NULL, "AES", "shared-value-16b", 16), 0);
	for (i = 0; i < 4; i++) {
		w[i].kr = kr;
		w[i].id = i;
		w[i].failures = 0;
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, worker_run, &w[i]) == 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(w[i].failures, 0);
	}
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.entries, 1 + 4 * 20);
	CU_ASSERT_EQUAL(st.generation, 1 + 4 * 25 + 4 * 5);
	kr_close(kr);
	kr = open_store(p.store, 0);
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.entries, 1 + 4 * 20);
	kr_close(kr);
}

/* ---- figures (printed, not asserted as timings) ---- */

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
test_figures(void)
{
	struct paths p;
	struct kr *kr;
	struct kl_secret s = { NULL, 0 };
	char t[KR_TYPE_MAX + 1], id[64];
	double t0, t_store, t_gen, t_unc, t_cached;
	int i, n = 100, nf = 500, ok = 1;

	new_paths(&p);
	kr = open_store(p.store, 1);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "s-%d", i);
		ok &= kr_store(kr, id, NULL, "AES", "0123456789abcdef0123456789abcdef", 32) == 0;
	}
	t_store = now_s() - t0;
	t0 = now_s();
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "g-%d", i);
		ok &= kr_generate(kr, id, NULL, "AES", 32) == 0;
	}
	t_gen = now_s() - t0;
	kr_close(kr);
	kr = open_store(p.store, 0);
	t0 = now_s();
	for (i = 0; i < nf; i++) {
		snprintf(id, sizeof(id), "s-%d", i % n);
		ok &= kr_fetch(kr, id, NULL, &s, t) == KR_FOUND;
		kl_secret_clear(&s);
	}
	t_unc = now_s() - t0;
	kr_close(kr);
	kr = open_store(p.store, 1);
	for (i = 0; i < n; i++) {	/* warm */
		snprintf(id, sizeof(id), "s-%d", i);
		ok &= kr_fetch(kr, id, NULL, &s, t) == KR_FOUND;
		kl_secret_clear(&s);
	}
	t0 = now_s();
	for (i = 0; i < 100 * nf; i++) {
		snprintf(id, sizeof(id), "s-%d", i % n);
		ok &= kr_fetch(kr, id, NULL, &s, t) == KR_FOUND;
		kl_secret_clear(&s);
	}
	t_cached = now_s() - t0;
	kr_close(kr);
	CU_ASSERT(ok);
	printf("\n    SoftHSM2: store %.0f/s, generate %.0f/s (stores of 0..%d entries, "
	    "fsync included); fetch uncached %.1f us, cached %.2f us\n",
	    n / t_store, n / t_gen, 2 * n, t_unc / nf * 1e6, t_cached / (100 * nf) * 1e6);
}

/* 100,000 entries signed by the token: kr_open time (parse + one C_Verify + index). */
static void
test_open_100k(void)
{
	struct paths p;
	struct kr_p11_config pc = { T.module, "keylocker", T.pin_file, "kl-master", "kl-mac" };
	struct kr_p11 *p11 = NULL;
	struct kr_mac_ops ops;
	struct kr_set *set;
	struct kr_entry *e;
	struct kr_status st;
	struct kr *kr;
	unsigned char v[32], *blob = NULL, dg[KR_STORE_DIGEST_LEN];
	size_t blen = 0, i;
	char err[512], id[96];
	uint16_t mk;
	double t0, t_open;
	struct stat sb;

	new_paths(&p);
	CU_ASSERT_FATAL(RAND_bytes(v, sizeof(v)) == 1);
	CU_ASSERT_FATAL(kr_p11_open(&pc, &p11, err, sizeof(err)) == 0);
	/* one real blob reused: every entry unwraps to v */
	CU_ASSERT_FATAL(kr_p11_wrap(p11, "bench", v, sizeof(v), &blob, &blen, err,
	    sizeof(err)) == 0);
	ops.sign = kr_p11_mac_sign;
	ops.verify = kr_p11_mac_verify;
	ops.ctx = p11;
	ops.what = kr_p11_mac_what(p11);
	set = kr_set_new();
	CU_ASSERT_FATAL(kr_set_mkey(set, "kl-master", kr_p11_master(p11)->id,
	    kr_p11_master(p11)->id_len, &mk) == 0);
	CU_ASSERT_FATAL(kr_set_reserve(set, 100000) == 0);
	for (i = 0; i < 100000; i++) {
		snprintf(id, sizeof(id), "INNODBKey-3e1f04a2-c6b1-11ee-9b7e-0242ac120002-%zu", i);
		CU_ASSERT_FATAL((e = kr_entry_new(id, "", "AES", 32, blob, blen, mk)) != NULL);
		kr_set_insert(set, e);
	}
	CU_ASSERT_FATAL(kr_store_commit(p.store, set, 1, NULL, NULL, &ops, dg, err,
	    sizeof(err)) == 0);
	kr_set_free(set);
	kr_p11_close(p11);
	free(blob);
	CU_ASSERT_EQUAL(stat(p.store, &sb), 0);

	t0 = now_s();
	kr = open_store(p.store, 1);
	t_open = now_s() - t0;
	kr_get_status(kr, &st);
	CU_ASSERT_EQUAL(st.entries, 100000);
	CU_ASSERT(fetch_is(kr, "INNODBKey-3e1f04a2-c6b1-11ee-9b7e-0242ac120002-99999", NULL,
	    v, sizeof(v), "AES"));
	t0 = now_s();
	CU_ASSERT_EQUAL(kr_store(kr, "one-more", NULL, "AES", v, sizeof(v)), 0);
	printf("\n    kr_open of 100,000 entries (%.1f MiB) on SoftHSM2: %.0f ms "
	    "(module load + login + read + parse + C_Verify + index); one kr_store "
	    "into it: %.0f ms\n", (double)sb.st_size / (1 << 20), t_open * 1e3,
	    (now_s() - t0) * 1e3);
	kr_close(kr);
}

void
kl_test_register(void)
{
	kl_test_set_fixture(setup, teardown);
	kl_test_add("/kr/semantics/store_fetch", test_store_fetch);
	kl_test_add("/kr/semantics/generate", test_generate);
	kl_test_add("/kr/semantics/remove_and_list", test_remove_and_list);
	kl_test_add("/kr/semantics/limits", test_limits);
	kl_test_add("/kr/cache/on_off", test_cache);
	kl_test_add("/kr/token/duplicate_label", test_duplicate_label);
	kl_test_add("/kr/token/missing_key_and_token", test_missing_key_and_token);
	kl_test_add("/kr/token/wrong_pin", test_wrong_pin);
	kl_test_add("/kr/token/wrong_mac_key", test_wrong_mac_key);
	kl_test_add("/kr/token/session_recovery", test_session_recovery);
	kl_test_add("/kr/token/master_key_identity", test_master_key_identity);
	kl_test_add("/kr/token/master_key_rotation", test_master_key_rotation);
	kl_test_add("/kr/store/tampered", test_tampered_store);
	kl_test_add("/kr/store/no_cleartext_on_disk", test_no_cleartext_on_disk);
	kl_test_add("/kr/store/other_writer_reload", test_other_writer_reload);
	kl_test_add("/kr/store/rollback_refused", test_rollback_refused);
	kl_test_add("/kr/store/write_failure_changes_nothing",
	    test_write_failure_changes_nothing);
	kl_test_add("/kr/store/missing_store_and_prev", test_missing_store_and_prev);
	kl_test_add("/kr/store/read_only", test_read_only);
	kl_test_add("/kr/store/create", test_create);
	kl_test_add("/kr/threads/concurrent", test_threads);
	kl_test_add("/kr/perf/figures", test_figures);
	kl_test_add("/kr/perf/open_100k", test_open_100k);
}
