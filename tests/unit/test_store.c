/*
 * The keyring store file (keyring-bridge/store.c) without a token: the MAC
 * is HMAC-SHA256 in OpenSSL under a test key, through the same kr_mac_ops
 * the token fills in production.
 */
#define _XOPEN_SOURCE 700	/* nftw() */

#include "tests/unit/cutest.h"
#include "keyring-bridge/store.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

/* ---- fixture ---- */

static char tdir[PATH_MAX];
static int tcount;

struct soft_mac {
	unsigned char	key[32];
	unsigned	signs;
	unsigned	verifies;
};

static struct soft_mac mac_a, mac_b;

static int
hmac(const struct soft_mac *m, const unsigned char digest[KR_STORE_DIGEST_LEN],
    unsigned char mac[KR_STORE_MAC_LEN])
{
	unsigned int len = 0;

	return HMAC(EVP_sha256(), m->key, sizeof(m->key), digest, KR_STORE_DIGEST_LEN,
	    mac, &len) != NULL && len == KR_STORE_MAC_LEN ? 0 : -1;
}

static int
soft_sign(void *ctx, const unsigned char digest[KR_STORE_DIGEST_LEN],
    unsigned char mac[KR_STORE_MAC_LEN], char *err, size_t errlen)
{
	struct soft_mac *m = ctx;

	m->signs++;
	if (hmac(m, digest, mac) != 0) {
		snprintf(err, errlen, "HMAC failed");
		return KR_E_INTERNAL;
	}
	return 0;
}

static int
soft_verify(void *ctx, const unsigned char digest[KR_STORE_DIGEST_LEN],
    const unsigned char mac[KR_STORE_MAC_LEN], char *err, size_t errlen)
{
	struct soft_mac *m = ctx;
	unsigned char want[KR_STORE_MAC_LEN];

	m->verifies++;
	if (hmac(m, digest, want) != 0) {
		snprintf(err, errlen, "HMAC failed");
		return KR_E_INTERNAL;
	}
	return CRYPTO_memcmp(want, mac, sizeof(want)) == 0 ? 0 : 1;
}

static struct kr_mac_ops ops_a = { soft_sign, soft_verify, &mac_a, "test MAC key A" };
static struct kr_mac_ops ops_b = { soft_sign, soft_verify, &mac_b, "test MAC key B" };

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int
setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(tdir, sizeof(tdir), "%s/test-store-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(tdir) == NULL)
		return 1;
	if (RAND_bytes(mac_a.key, sizeof(mac_a.key)) != 1 ||
	    RAND_bytes(mac_b.key, sizeof(mac_b.key)) != 1)
		return 1;
	return 0;
}

static int
teardown(void)
{
	if (getenv("KR_TEST_KEEP") == NULL)
		(void)nftw(tdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void __attribute__((format(printf, 3, 4)))
path_fmt(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, len, fmt, ap);
	va_end(ap);
	CU_ASSERT_FATAL(n >= 0 && (size_t)n < len);
}

/* A fresh store path in a fresh directory. */
static void
new_path(char *buf, size_t len)
{
	char d[PATH_MAX];

	path_fmt(d, sizeof(d), "%s/t%d", tdir, ++tcount);
	CU_ASSERT_FATAL(mkdir(d, 0700) == 0);
	path_fmt(buf, len, "%s/keyring", d);
}

static void
put_file(const char *path, const unsigned char *p, size_t len)
{
	int fd;

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(len == 0 || write(fd, p, len) == (ssize_t)len);
	close(fd);
}

static unsigned char *
get_file(const char *path, size_t *len)
{
	unsigned char *buf = NULL;
	int exists = 0;
	char err[512];

	CU_ASSERT_FATAL(kr_store_read(path, &buf, len, &exists, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(exists);
	return buf;
}

/* Add an entry with a fake (random) blob; store.c never looks inside blobs. */
static void
add(struct kr_set *set, const char *data_id, const char *auth_id, const char *type,
    size_t data_len, uint16_t mk)
{
	unsigned char blob[KR_BLOB_LEN(KR_DATA_MAX)];
	struct kr_entry *e;

	CU_ASSERT_FATAL(RAND_bytes(blob, (int)KR_BLOB_LEN(data_len)) == 1);
	e = kr_entry_new(data_id, auth_id, type, data_len, blob, KR_BLOB_LEN(data_len), mk);
	CU_ASSERT_FATAL(e != NULL);
	CU_ASSERT_FATAL(kr_set_reserve(set, 1) == 0);
	kr_set_insert(set, e);
}

static struct kr_set *
small_set(void)
{
	static const unsigned char id[] = { 0xa1, 0xb2, 0xc3, 0xd4 };
	struct kr_set *set = kr_set_new();
	uint16_t mk = 0;

	CU_ASSERT_FATAL(set != NULL);
	CU_ASSERT_FATAL(kr_set_mkey(set, "kl-master", id, sizeof(id), &mk) == 0);
	add(set, "INNODBKey-1", "", "AES", 32, mk);
	add(set, "udf-key", "root@localhost", "SECRET", 32, mk);
	return set;
}

static void
commit(const char *path, struct kr_set *set, uint64_t gen, const struct kr_mac_ops *ops)
{
	unsigned char dg[KR_STORE_DIGEST_LEN];
	char err[512] = "";
	int r;

	r = kr_store_commit(path, set, gen, NULL, NULL, ops, dg, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "commit: %s\n", err);
	CU_ASSERT_FATAL(r == 0);
	kr_set_set_generation(set, gen);
}

/* Load path; returns the kr_err and the message in err. */
static int
load(const char *path, const struct kr_mac_ops *ops, struct kr_set **out,
    char *err, size_t errlen)
{
	unsigned char dg[KR_STORE_DIGEST_LEN];
	int exists = 0;

	err[0] = '\0';
	return kr_store_load(path, ops, out, &exists, dg, err, errlen);
}

static int
same_entry(const struct kr_entry *a, const struct kr_entry *b,
    const struct kr_set *sa, const struct kr_set *sb)
{
	const struct kr_mkey *ma = kr_set_mkey_get(sa, a->mkey);
	const struct kr_mkey *mb = kr_set_mkey_get(sb, b->mkey);

	return strcmp(a->data_id, b->data_id) == 0 && strcmp(a->auth_id, b->auth_id) == 0 &&
	    strcmp(a->type, b->type) == 0 && a->data_len == b->data_len &&
	    a->blob_len == b->blob_len && memcmp(a->blob, b->blob, a->blob_len) == 0 &&
	    strcmp(ma->label, mb->label) == 0 && ma->id_len == mb->id_len &&
	    memcmp(ma->id, mb->id, ma->id_len) == 0;
}

static int
same_set(const struct kr_set *a, const struct kr_set *b)
{
	size_t i;

	if (kr_set_count(a) != kr_set_count(b))
		return 0;
	for (i = 0; i < kr_set_count(a); i++) {
		if (!same_entry(kr_set_entry(a, i), kr_set_entry(b, i), a, b))
			return 0;
	}
	return 1;
}

/* ---- round trip ---- */

static void
test_round_trip(void)
{
	static const unsigned char id2[] = { 9 };
	struct kr_set *set = kr_set_new(), *got = NULL;
	unsigned char *file, *again = NULL;
	size_t flen, alen, i;
	char path[PATH_MAX], err[512], big_id[KR_DATA_ID_MAX + 1];
	char big_auth[KR_AUTH_ID_MAX + 1], big_type[KR_TYPE_MAX + 1];
	uint16_t m1, m2;

	new_path(path, sizeof(path));
	memset(big_id, 'd', KR_DATA_ID_MAX);
	big_id[KR_DATA_ID_MAX] = '\0';
	memset(big_auth, 'a', KR_AUTH_ID_MAX);
	big_auth[KR_AUTH_ID_MAX] = '\0';
	memset(big_type, 't', KR_TYPE_MAX);
	big_type[KR_TYPE_MAX] = '\0';
	CU_ASSERT_FATAL(kr_set_mkey(set, "kl-master", (const unsigned char *)"\x01\x02", 2,
	    &m1) == 0);
	CU_ASSERT_FATAL(kr_set_mkey(set, "kl-master-2", id2, 1, &m2) == 0);
	CU_ASSERT(m1 != m2);
	add(set, "INNODBKey-8e2c-1", "", "AES", 32, m1);
	add(set, "MySQLReplicationKey_8e2c_1", "", "AES", 32, m2);
	add(set, "k", "u@h", "SECRET", 1, m1);
	add(set, "k", "other@h", "SECRET", 9, m1);	/* same data_id, other auth_id */
	add(set, big_id, big_auth, big_type, KR_DATA_MAX, m2);
	add(set, "persisted_variables_key", "", "AES", 8, m1);
	commit(path, set, 7, &ops_a);

	CU_ASSERT_FATAL(load(path, &ops_a, &got, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(kr_set_generation(got), 7);
	CU_ASSERT(same_set(set, got));
	CU_ASSERT_PTR_NOT_NULL(kr_set_find(got, "k", "other@h"));
	CU_ASSERT_PTR_NOT_NULL(kr_set_find(got, big_id, big_auth));
	CU_ASSERT_PTR_NULL(kr_set_find(got, "k", ""));

	/* byte-stable: what was loaded serialises to the same file */
	file = get_file(path, &flen);
	CU_ASSERT_FATAL(kr_store_serialize(got, 7, NULL, NULL, &again, &alen, err,
	    sizeof(err)) == 0);
	CU_ASSERT_EQUAL(alen, flen);
	CU_ASSERT(memcmp(file, again, flen - KR_STORE_MAC_LEN) == 0);
	for (i = 0; i < KR_STORE_MAC_LEN; i++)
		CU_ASSERT(again[alen - KR_STORE_MAC_LEN + i] == 0);
	free(file);
	free(again);
	kr_set_free(set);
	kr_set_free(got);
}

/*
 * tests/fixtures/store/v1_golden.klkr pins format version 1 byte for byte:
 * a change to the writer that would make old stores unreadable fails here.
 * KR_WRITE_GOLDEN=1 rewrites the fixture (and fails, so it is not left on).
 */
static void
test_golden_v1(void)
{
	static const unsigned char id[] = { 0xa1, 0xb2, 0xc3, 0xd4 };
	struct soft_mac gm;
	struct kr_mac_ops gops = { soft_sign, soft_verify, &gm, "golden MAC key" };
	struct kr_set *set = kr_set_new(), *got = NULL;
	struct kr_entry *e;
	unsigned char blob1[KR_BLOB_LEN(32)], blob2[KR_BLOB_LEN(5)], *buf = NULL, *fix = NULL;
	unsigned char dg[KR_STORE_DIGEST_LEN];
	const char *src = getenv("KL_SOURCE_DIR");
	char path[PATH_MAX], err[512];
	size_t len = 0, flen = 0, i;
	uint16_t mk;

	CU_ASSERT_PTR_NOT_NULL_FATAL(src);	/* set by tests/CMakeLists.txt */
	path_fmt(path, sizeof(path), "%s/tests/fixtures/store/v1_golden.klkr", src);
	for (i = 0; i < sizeof(gm.key); i++)
		gm.key[i] = (unsigned char)i;
	for (i = 0; i < sizeof(blob1); i++)
		blob1[i] = (unsigned char)(7 * i + 1);
	for (i = 0; i < sizeof(blob2); i++)
		blob2[i] = (unsigned char)(0xf0 ^ i);
	CU_ASSERT_FATAL(kr_set_mkey(set, "kl-master", id, sizeof(id), &mk) == 0);
	CU_ASSERT_FATAL(kr_set_reserve(set, 2) == 0);
	e = kr_entry_new("INNODBKey-00000000-0000-0000-0000-000000000000-1", "", "AES", 32,
	    blob1, sizeof(blob1), mk);
	CU_ASSERT_FATAL(e != NULL);
	kr_set_insert(set, e);
	e = kr_entry_new("keyring_udf_key", "root@localhost", "SECRET", 5, blob2,
	    sizeof(blob2), mk);
	CU_ASSERT_FATAL(e != NULL);
	kr_set_insert(set, e);
	CU_ASSERT_FATAL(kr_store_serialize(set, 42, NULL, NULL, &buf, &len, err,
	    sizeof(err)) == 0);
	CU_ASSERT_FATAL(kr_store_digest(buf, len - KR_STORE_MAC_LEN, dg) == 0);
	CU_ASSERT_FATAL(soft_sign(&gm, dg, buf + len - KR_STORE_MAC_LEN, err,
	    sizeof(err)) == 0);
	if (getenv("KR_WRITE_GOLDEN") != NULL) {
		put_file(path, buf, len);
		CU_FAIL("wrote the golden store; unset KR_WRITE_GOLDEN");
	}
	/* read it raw: a checkout's umask may leave it group-writable */
	{
		FILE *f = fopen(path, "rb");

		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		CU_ASSERT_FATAL((fix = malloc(len + 1)) != NULL);
		flen = fread(fix, 1, len + 1, f);
		fclose(f);
	}
	CU_ASSERT_EQUAL(flen, len);
	CU_ASSERT(flen == len && memcmp(fix, buf, len) == 0);
	new_path(path, sizeof(path));
	put_file(path, fix, flen);
	CU_ASSERT_EQUAL_FATAL(load(path, &gops, &got, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kr_set_generation(got), 42);
	CU_ASSERT(same_set(set, got));
	free(buf);
	free(fix);
	kr_set_free(got);
	kr_set_free(set);
}

static void
test_empty_and_missing(void)
{
	struct kr_set *set = kr_set_new(), *got = NULL;
	unsigned char dg[KR_STORE_DIGEST_LEN];
	char path[PATH_MAX], err[512];
	int exists = 1;

	new_path(path, sizeof(path));
	/* missing: an empty keyring, generation 0, and no file made */
	CU_ASSERT_FATAL(kr_store_load(path, &ops_a, &got, &exists, dg, err,
	    sizeof(err)) == 0);
	CU_ASSERT_EQUAL(exists, 0);
	CU_ASSERT_EQUAL(kr_set_count(got), 0);
	CU_ASSERT_EQUAL(kr_set_generation(got), 0);
	CU_ASSERT(access(path, F_OK) != 0);
	kr_set_free(got);
	got = NULL;

	commit(path, set, 1, &ops_a);
	CU_ASSERT_FATAL(load(path, &ops_a, &got, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(kr_set_count(got), 0);
	CU_ASSERT_EQUAL(kr_set_generation(got), 1);
	kr_set_free(got);
	kr_set_free(set);
}

/* ---- tampering ---- */

/* The message a file damaged at offset off must be refused with. */
static const char *
expected_for_offset(size_t off, int made_longer)
{
	if (off < 8)
		return "bad magic";
	if (off < 12)
		return "format version";
	if (off < 16)
		return "unknown flags";
	if (off >= 24 && off < 32)
		return made_longer ? "truncated" : "trailing bytes";
	return "MAC does not verify";
}

static void
test_bitflip_exhaustive(void)
{
	struct kr_set *set = small_set(), *got;
	unsigned char *good, *bad;
	size_t len, off;
	char path[PATH_MAX], err[512];
	unsigned bit, tried = 0, refused = 0, right_msg = 0;
	int r;

	new_path(path, sizeof(path));
	commit(path, set, 3, &ops_a);
	good = get_file(path, &len);
	CU_ASSERT_FATAL((bad = malloc(len)) != NULL);
	for (off = 0; off < len; off++) {
		for (bit = 0; bit < 8; bit++) {
			const char *want;

			memcpy(bad, good, len);
			bad[off] ^= (unsigned char)(1u << bit);
			put_file(path, bad, len);
			got = NULL;
			r = load(path, &ops_a, &got, err, sizeof(err));
			tried++;
			if (r == KR_E_STORE && got == NULL)
				refused++;
			/* in file_len, a flipped bit makes it longer or shorter */
			want = expected_for_offset(off, (bad[off] & (1u << bit)) != 0);
			if (strstr(err, want) != NULL && strstr(err, path) != NULL)
				right_msg++;
			else
				fprintf(stderr, "offset %zu bit %u: want \"%s\", got \"%s\"\n",
				    off, bit, want, err);
			kr_set_free(got);
		}
	}
	printf("\n    %u single-bit flips over a %zu-byte store: %u refused, %u with "
	    "the expected message\n", tried, len, refused, right_msg);
	CU_ASSERT_EQUAL(tried, len * 8);
	CU_ASSERT_EQUAL(refused, tried);
	CU_ASSERT_EQUAL(right_msg, tried);
	/* and the unflipped file still loads: the loop tested the flips */
	put_file(path, good, len);
	got = NULL;
	CU_ASSERT(load(path, &ops_a, &got, err, sizeof(err)) == 0);
	kr_set_free(got);
	free(good);
	free(bad);
	kr_set_free(set);
}

static void
test_truncate_every_length(void)
{
	struct kr_set *set = small_set(), *got;
	unsigned char *good;
	size_t len, n;
	char path[PATH_MAX], err[512];
	unsigned bad = 0;

	new_path(path, sizeof(path));
	commit(path, set, 1, &ops_a);
	good = get_file(path, &len);
	for (n = 0; n < len; n++) {
		put_file(path, good, n);
		got = NULL;
		if (load(path, &ops_a, &got, err, sizeof(err)) != KR_E_STORE || got != NULL ||
		    strstr(err, n == 0 ? "empty" : "truncated") == NULL) {
			fprintf(stderr, "truncated to %zu: \"%s\"\n", n, err);
			bad++;
		}
		kr_set_free(got);
	}
	CU_ASSERT_EQUAL(bad, 0);
	free(good);
	kr_set_free(set);
}

static void
test_appended_bytes(void)
{
	struct kr_set *set = small_set(), *got = NULL;
	unsigned char *good, *longer;
	size_t len;
	char path[PATH_MAX], err[512];
	unsigned v;

	new_path(path, sizeof(path));
	commit(path, set, 1, &ops_a);
	good = get_file(path, &len);
	CU_ASSERT_FATAL((longer = malloc(len + 1)) != NULL);
	memcpy(longer, good, len);
	for (v = 0; v < 256; v += 85) {
		longer[len] = (unsigned char)v;
		put_file(path, longer, len + 1);
		CU_ASSERT_EQUAL(load(path, &ops_a, &got, err, sizeof(err)), KR_E_STORE);
		CU_ASSERT_PTR_NULL(got);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "1 trailing bytes"));
	}
	free(good);
	free(longer);
	kr_set_free(set);
}

/* Offset of entry i's blob in a file with one master-key record. */
static size_t
blob_offset(const struct kr_set *set, size_t i)
{
	const struct kr_mkey *mk = kr_set_mkey_get(set, 0);
	size_t off = KR_STORE_HEADER_LEN + 2 + strlen(mk->label) + mk->id_len, j;
	const struct kr_entry *e;

	for (j = 0;; j++) {
		e = kr_set_entry(set, j);
		off += KR_STORE_ENTRY_FIXED + e->data_id_len + e->auth_id_len +
		    strlen(e->type);
		if (j == i)
			return off;
		off += e->blob_len;
	}
}

static void
test_swapped_blobs(void)
{
	struct kr_set *set = small_set(), *got = NULL, *resigned;
	unsigned char *file, tmp[KR_BLOB_LEN(32)];
	size_t len, b0, b1;
	char path[PATH_MAX], err[512];

	new_path(path, sizeof(path));
	commit(path, set, 1, &ops_a);
	file = get_file(path, &len);
	b0 = blob_offset(set, 0);
	b1 = blob_offset(set, 1);
	/* the offsets are right: the blobs are where we think */
	CU_ASSERT_FATAL(memcmp(file + b0, kr_set_entry(set, 0)->blob, sizeof(tmp)) == 0);
	CU_ASSERT_FATAL(memcmp(file + b1, kr_set_entry(set, 1)->blob, sizeof(tmp)) == 0);
	memcpy(tmp, file + b0, sizeof(tmp));
	memcpy(file + b0, file + b1, sizeof(tmp));
	memcpy(file + b1, tmp, sizeof(tmp));
	put_file(path, file, len);
	CU_ASSERT_EQUAL(load(path, &ops_a, &got, err, sizeof(err)), KR_E_STORE);
	CU_ASSERT_PTR_NULL(got);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "MAC does not verify"));

	/* control: the swapped file is well formed; only the MAC stops it */
	{
		unsigned char dg[KR_STORE_DIGEST_LEN];

		CU_ASSERT_FATAL(kr_store_digest(file, len - KR_STORE_MAC_LEN, dg) == 0);
		CU_ASSERT_FATAL(soft_sign(&mac_a, dg, file + len - KR_STORE_MAC_LEN, err,
		    sizeof(err)) == 0);
		put_file(path, file, len);
		resigned = NULL;
		CU_ASSERT_EQUAL_FATAL(load(path, &ops_a, &resigned, err, sizeof(err)), 0);
		CU_ASSERT(memcmp(kr_set_entry(resigned, 0)->blob,
		    kr_set_entry(set, 1)->blob, sizeof(tmp)) == 0);
		kr_set_free(resigned);
	}
	free(file);
	kr_set_free(set);
}

static void
test_reordered_entries(void)
{
	struct kr_set *set = kr_set_new(), *got = NULL;
	unsigned char *file, *copy;
	size_t len, start, elen;
	char path[PATH_MAX], err[512];
	uint16_t mk;

	new_path(path, sizeof(path));
	CU_ASSERT_FATAL(kr_set_mkey(set, "m", NULL, 0, &mk) == 0);
	add(set, "key-a", "", "AES", 32, mk);	/* two entries of the same size */
	add(set, "key-b", "", "AES", 32, mk);
	commit(path, set, 2, &ops_a);
	file = get_file(path, &len);
	CU_ASSERT_FATAL((copy = malloc(len)) != NULL);
	memcpy(copy, file, len);
	start = KR_STORE_HEADER_LEN + 2 + 1;
	elen = KR_STORE_ENTRY_FIXED + 5 + 3 + KR_BLOB_LEN(32);
	CU_ASSERT_FATAL(memcmp(file + start + KR_STORE_ENTRY_FIXED, "key-a", 5) == 0);
	memcpy(copy + start, file + start + elen, elen);
	memcpy(copy + start + elen, file + start, elen);
	put_file(path, copy, len);
	CU_ASSERT_EQUAL(load(path, &ops_a, &got, err, sizeof(err)), KR_E_STORE);
	CU_ASSERT_PTR_NULL(got);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "MAC does not verify"));
	free(file);
	free(copy);
	kr_set_free(set);
}

static void
test_forged_other_key(void)
{
	struct kr_set *set = small_set(), *got = NULL;
	char path[PATH_MAX], err[512];

	new_path(path, sizeof(path));
	commit(path, set, 1, &ops_b);	/* a well-formed store under another key */
	CU_ASSERT_EQUAL(load(path, &ops_a, &got, err, sizeof(err)), KR_E_STORE);
	CU_ASSERT_PTR_NULL(got);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "MAC does not verify with test MAC key A"));
	CU_ASSERT_EQUAL(load(path, &ops_b, &got, err, sizeof(err)), 0);
	kr_set_free(got);
	kr_set_free(set);
}

static void
test_stale_generation(void)
{
	struct kr_set *set = small_set(), *got = NULL;
	unsigned char *gen1, *prev;
	size_t len1, plen;
	char path[PATH_MAX], ppath[PATH_MAX + 8], err[512];
	uint16_t mk = 0;

	new_path(path, sizeof(path));
	path_fmt(ppath, sizeof(ppath), "%s.prev", path);
	commit(path, set, 1, &ops_a);
	gen1 = get_file(path, &len1);
	add(set, "added-in-gen-2", "", "AES", 16, mk);
	commit(path, set, 2, &ops_a);

	/* the write kept generation 1 as .prev, byte for byte */
	prev = get_file(ppath, &plen);
	CU_ASSERT(plen == len1 && memcmp(prev, gen1, len1) == 0);

	/* a valid older store loads as exactly what it is: generation 1 */
	put_file(path, gen1, len1);
	CU_ASSERT_EQUAL_FATAL(load(path, &ops_a, &got, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kr_set_generation(got), 1);
	CU_ASSERT_EQUAL(kr_set_count(got), 2);
	CU_ASSERT_PTR_NULL(kr_set_find(got, "added-in-gen-2", ""));
	CU_ASSERT_EQUAL(kr_store_peek_generation(path, &(uint64_t){ 0 }), 0);
	kr_set_free(got);
	free(gen1);
	free(prev);
	kr_set_free(set);
}

/* ---- strict parser: crafted stores with a valid MAC ---- */

struct craft {
	unsigned char	buf[70000];
	size_t		len;
};

static void
c_u8(struct craft *c, unsigned v)
{
	c->buf[c->len++] = (unsigned char)v;
}

static void
c_u16(struct craft *c, unsigned v)
{
	c_u8(c, v >> 8);
	c_u8(c, v);
}

static void
c_u32(struct craft *c, uint32_t v)
{
	c_u16(c, v >> 16);
	c_u16(c, v & 0xffff);
}

static void
c_u64(struct craft *c, uint64_t v)
{
	c_u32(c, (uint32_t)(v >> 32));
	c_u32(c, (uint32_t)v);
}

static void
c_bytes(struct craft *c, const void *p, size_t n)
{
	memcpy(c->buf + c->len, p, n);
	c->len += n;
}

static void
c_header(struct craft *c, uint32_t version, uint32_t flags, uint64_t gen,
    uint32_t count, unsigned nmkeys, unsigned reserved)
{
	c->len = 0;
	c_bytes(c, KR_STORE_MAGIC, 8);
	c_u32(c, version);
	c_u32(c, flags);
	c_u64(c, gen);
	c_u64(c, 0);		/* file_len, set by c_finish */
	c_u32(c, count);
	c_u16(c, nmkeys);
	c_u16(c, reserved);
}

static void
c_mkey(struct craft *c, const char *label, size_t llen, size_t idlen)
{
	size_t i;

	c_u8(c, (unsigned)llen);
	c_bytes(c, label, llen);
	c_u8(c, (unsigned)idlen);
	for (i = 0; i < idlen; i++)
		c_u8(c, (unsigned)i);
}

/* An entry; the lengths written may differ from the data given. */
static void
c_entry_raw(struct craft *c, const char *did, unsigned dlen, const char *aid,
    unsigned alen, const char *type, unsigned tlen, unsigned mk, uint32_t data_len,
    uint32_t blob_len, size_t blob_bytes)
{
	size_t i;

	c_u16(c, dlen);
	c_u16(c, alen);
	c_u8(c, tlen);
	c_u16(c, mk);
	c_u32(c, data_len);
	c_u32(c, blob_len);
	c_bytes(c, did, strlen(did));
	c_bytes(c, aid, strlen(aid));
	c_bytes(c, type, strlen(type));
	for (i = 0; i < blob_bytes; i++)
		c_u8(c, 0x5a);
}

static void
c_entry(struct craft *c, const char *did, const char *aid, uint32_t data_len)
{
	c_entry_raw(c, did, (unsigned)strlen(did), aid, (unsigned)strlen(aid), "AES", 3,
	    0, data_len, (uint32_t)KR_BLOB_LEN(data_len), KR_BLOB_LEN(data_len));
}

/* Set file_len and a valid MAC (key A), write, load: the kr_err, message in err. */
static int
c_finish_load(struct craft *c, char *err, size_t errlen)
{
	unsigned char dg[KR_STORE_DIGEST_LEN];
	struct kr_set *got = NULL;
	char path[PATH_MAX];
	size_t i;
	int r;

	new_path(path, sizeof(path));
	for (i = 0; i < KR_STORE_MAC_LEN; i++)
		c_u8(c, 0);
	for (i = 0; i < 8; i++)
		c->buf[24 + i] = (unsigned char)((uint64_t)c->len >> (56 - 8 * i));
	CU_ASSERT_FATAL(kr_store_digest(c->buf, c->len - KR_STORE_MAC_LEN, dg) == 0);
	CU_ASSERT_FATAL(soft_sign(&mac_a, dg, c->buf + c->len - KR_STORE_MAC_LEN, err,
	    errlen) == 0);
	put_file(path, c->buf, c->len);
	r = load(path, &ops_a, &got, err, errlen);
	CU_ASSERT((r == 0) == (got != NULL));
	kr_set_free(got);
	return r;
}

static struct craft cr;

#define EXPECT_REFUSED(needle) do {					\
	char err_[512];							\
	int r_ = c_finish_load(&cr, err_, sizeof(err_));		\
	CU_ASSERT_EQUAL(r_, KR_E_STORE);				\
	if (strstr(err_, (needle)) == NULL) {				\
		fprintf(stderr, "\n    want \"%s\", got \"%s\"\n", (needle), err_); \
		CU_FAIL("wrong message");				\
	}								\
} while (0)

#define EXPECT_LOADS() do {						\
	char err_[512];							\
	int r_ = c_finish_load(&cr, err_, sizeof(err_));		\
	if (r_ != 0)							\
		fprintf(stderr, "\n    want success, got \"%s\"\n", err_); \
	CU_ASSERT_EQUAL(r_, 0);						\
} while (0)

static void
test_strict_control(void)
{
	char big[KR_DATA_ID_MAX + 1];

	/* the crafting itself is right: a well-formed store loads */
	c_header(&cr, 1, 0, 5, 2, 1, 0);
	c_mkey(&cr, "m", 1, 3);
	c_entry(&cr, "a", "", 32);
	c_entry(&cr, "a", "user", KR_DATA_MAX);
	EXPECT_LOADS();
	memset(big, 'x', KR_DATA_ID_MAX);
	big[KR_DATA_ID_MAX] = '\0';
	c_header(&cr, 1, 0, 5, 1, 1, 0);
	c_mkey(&cr, "m", 1, 0);
	c_entry(&cr, big, big, 1);
	EXPECT_LOADS();
}

static void
test_strict_header(void)
{
	c_header(&cr, 2, 0, 1, 0, 0, 0);
	EXPECT_REFUSED("format version 2 is not supported");
	c_header(&cr, 0, 0, 1, 0, 0, 0);
	EXPECT_REFUSED("format version 0 is not supported");
	c_header(&cr, 1, 1, 1, 0, 0, 0);
	EXPECT_REFUSED("unknown flags 0x00000001");
	c_header(&cr, 1, 0, 0, 0, 0, 0);
	EXPECT_REFUSED("generation 0");
	c_header(&cr, 1, 0, 1, 0, 0, 7);
	EXPECT_REFUSED("reserved header bytes");
	c_header(&cr, 1, 0, 1, KR_STORE_ENTRIES_MAX + 1, 0, 0);
	EXPECT_REFUSED("more than the limit");
	c_header(&cr, 1, 0, 1, 1000, 0, 0);
	EXPECT_REFUSED("room for at most 0");
	c_header(&cr, 1, 0, 1, 1, 2, 0);
	EXPECT_REFUSED("2 master-key records for 1 entries");
	c_header(&cr, 1, 0, 1, 300, KR_STORE_MKEYS_MAX + 1, 0);
	EXPECT_REFUSED("master-key records, more than the limit");
}

static void
test_strict_trailing(void)
{
	c_header(&cr, 1, 0, 1, 1, 1, 0);
	c_mkey(&cr, "m", 1, 0);
	c_entry(&cr, "a", "", 16);
	c_u8(&cr, 0);		/* inside the MAC'd body, after the last entry */
	EXPECT_REFUSED("1 unparsed bytes between the last entry and the MAC");
	c_header(&cr, 1, 0, 1, 2, 1, 0);
	c_mkey(&cr, "m", 1, 0);
	c_entry(&cr, "a", "", 16);
	EXPECT_REFUSED("entry 2 of 2 at offset");
}

static void
test_strict_duplicate(void)
{
	c_header(&cr, 1, 0, 1, 3, 1, 0);
	c_mkey(&cr, "m", 1, 0);
	c_entry(&cr, "a", "u", 16);
	c_entry(&cr, "b", "u", 16);
	c_entry(&cr, "a", "u", 32);
	EXPECT_REFUSED("entry 3 repeats entry 1 (data_id 'a', auth_id 'u')");
	/* "a"+"bc" and "ab"+"c" are different entries (no ambiguity in the index) */
	c_header(&cr, 1, 0, 1, 2, 1, 0);
	c_mkey(&cr, "m", 1, 0);
	c_entry(&cr, "a", "bc", 16);
	c_entry(&cr, "ab", "c", 16);
	EXPECT_LOADS();
}

static void
test_strict_lengths(void)
{
	char over[KR_DATA_ID_MAX + 2];

	memset(over, 'x', KR_DATA_ID_MAX + 1);
	over[KR_DATA_ID_MAX + 1] = '\0';

#define ONE(...) do {							\
	c_header(&cr, 1, 0, 1, 1, 1, 0);				\
	c_mkey(&cr, "m", 1, 0);						\
	c_entry_raw(&cr, __VA_ARGS__);					\
} while (0)
	ONE("", 0, "", 0, "AES", 3, 0, 16, 24, 24);
	EXPECT_REFUSED("data_id length 0 is not in 1..1024");
	ONE(over, KR_DATA_ID_MAX + 1, "", 0, "AES", 3, 0, 16, 24, 24);
	EXPECT_REFUSED("data_id length 1025 is not in 1..1024");
	ONE("a", 1, over, KR_AUTH_ID_MAX + 1, "AES", 3, 0, 16, 24, 24);
	EXPECT_REFUSED("auth_id length 1025 exceeds 1024");
	ONE("a", 1, "", 0, "", 0, 0, 16, 24, 24);
	EXPECT_REFUSED("type length 0 is not in 1..32");
	ONE("a", 1, "", 0, "ttttttttttttttttttttttttttttttttt", 33, 0, 16, 24, 24);
	EXPECT_REFUSED("type length 33 is not in 1..32");
	ONE("a", 1, "", 0, "AES", 3, 0, 0, 8, 8);
	EXPECT_REFUSED("data length 0 is not in 1..16384");
	ONE("a", 1, "", 0, "AES", 3, 0, KR_DATA_MAX + 1, (uint32_t)KR_BLOB_LEN(KR_DATA_MAX + 1),
	    KR_BLOB_LEN(KR_DATA_MAX + 1));
	EXPECT_REFUSED("data length 16385 is not in 1..16384");
	ONE("a", 1, "", 0, "AES", 3, 0, 16, 32, 32);
	EXPECT_REFUSED("blob length 32 does not match data length 16");
	ONE("a", 1, "", 0, "AES", 3, 1, 16, 24, 24);
	EXPECT_REFUSED("master-key record 1 does not exist");
	/* a length that points past the end (a huge blob_len is caught earlier) */
	ONE("a", 1, "", 0, "AES", 3, 0, 16, 24, 10);
	EXPECT_REFUSED("runs past the end");
	ONE("a", 200, "", 0, "AES", 3, 0, 16, 24, 24);
	EXPECT_REFUSED("runs past the end");
#undef ONE
	/* a NUL inside a data_id (written as three bytes 'a' 0 'b') */
	c_header(&cr, 1, 0, 1, 1, 1, 0);
	c_mkey(&cr, "m", 1, 0);
	c_entry_raw(&cr, "a", 3, "", 0, "", 3, 0, 16, 24, 0);
	c_u8(&cr, 0);
	c_u8(&cr, 'b');
	c_bytes(&cr, "AES", 3);
	memset(cr.buf + cr.len, 0x5a, 24);
	cr.len += 24;
	EXPECT_REFUSED("an identifier contains a NUL byte");
}

static void
test_strict_mkeys(void)
{
	c_header(&cr, 1, 0, 1, 2, 2, 0);
	c_mkey(&cr, "m", 1, 2);
	c_mkey(&cr, "m", 1, 2);
	c_entry(&cr, "a", "", 16);
	c_entry(&cr, "b", "", 16);
	EXPECT_REFUSED("master-key record 1 repeats record 0 (m)");
	c_header(&cr, 1, 0, 1, 2, 2, 0);
	c_mkey(&cr, "m", 1, 2);
	c_mkey(&cr, "unused", 6, 2);
	c_entry(&cr, "a", "", 16);
	c_entry(&cr, "b", "", 16);
	EXPECT_REFUSED("master-key record 1 (unused) is used by no entry");
	c_header(&cr, 1, 0, 1, 1, 1, 0);
	c_mkey(&cr, "", 0, 0);
	c_entry(&cr, "a", "", 16);
	EXPECT_REFUSED("master-key record 0 has an empty label");
	c_header(&cr, 1, 0, 1, 1, 1, 0);
	c_u8(&cr, 250);		/* label length beyond the end */
	c_bytes(&cr, "mmmmmmmmmmmmmmmmmmmm", 20);
	EXPECT_REFUSED("master-key record 0 at offset 41 runs past the end");
}

/* ---- files ---- */

static void
test_file_checks(void)
{
	struct kr_set *set = small_set(), *got = NULL;
	char path[PATH_MAX], link_path[PATH_MAX + 8], err[512];

	new_path(path, sizeof(path));
	commit(path, set, 1, &ops_a);
	CU_ASSERT_EQUAL(chmod(path, 0620), 0);
	CU_ASSERT_EQUAL(load(path, &ops_a, &got, err, sizeof(err)), KR_E_STORE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "writable by group or others (mode 620)"));
	CU_ASSERT_EQUAL(chmod(path, 0602), 0);
	CU_ASSERT_EQUAL(load(path, &ops_a, &got, err, sizeof(err)), KR_E_STORE);
	CU_ASSERT_EQUAL(chmod(path, 0640), 0);	/* group may read: blobs are wrapped */
	CU_ASSERT_EQUAL(load(path, &ops_a, &got, err, sizeof(err)), 0);
	kr_set_free(got);
	got = NULL;

	path_fmt(link_path, sizeof(link_path), "%s.lnk", path);
	CU_ASSERT_EQUAL(symlink(path, link_path), 0);
	CU_ASSERT_EQUAL(load(link_path, &ops_a, &got, err, sizeof(err)), KR_E_STORE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
	path_fmt(link_path, sizeof(link_path), "%s.dir", path);
	CU_ASSERT_EQUAL(mkdir(link_path, 0700), 0);
	CU_ASSERT_EQUAL(load(link_path, &ops_a, &got, err, sizeof(err)), KR_E_STORE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
	kr_set_free(set);
}

static void
test_write_protocol(void)
{
	struct kr_set *set = small_set(), *got = NULL;
	char path[PATH_MAX], tmp[PATH_MAX + 8], prev[PATH_MAX + 8], err[512];
	struct stat st, pst;
	uint64_t g = 0;

	new_path(path, sizeof(path));
	path_fmt(tmp, sizeof(tmp), "%s.tmp", path);
	path_fmt(prev, sizeof(prev), "%s.prev", path);
	commit(path, set, 1, &ops_a);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT(access(prev, F_OK) != 0);	/* nothing before generation 1 */
	CU_ASSERT(access(tmp, F_OK) != 0);

	/* a stale temp file from a crashed writer does not block the next write */
	put_file(tmp, (const unsigned char *)"junk", 4);
	commit(path, set, 2, &ops_a);
	CU_ASSERT(access(tmp, F_OK) != 0);
	CU_ASSERT_EQUAL(kr_store_peek_generation(prev, &g), 0);
	CU_ASSERT_EQUAL(g, 1);
	CU_ASSERT_EQUAL(kr_store_peek_generation(path, &g), 0);
	CU_ASSERT_EQUAL(g, 2);
	CU_ASSERT_EQUAL(lstat(prev, &pst), 0);
	CU_ASSERT_EQUAL(pst.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(load(prev, &ops_a, &got, err, sizeof(err)), 0);
	kr_set_free(got);

	/* a temp path that cannot be replaced: refused, store untouched */
	CU_ASSERT_EQUAL(mkdir(tmp, 0700), 0);
	{
		unsigned char dg[KR_STORE_DIGEST_LEN];

		CU_ASSERT_EQUAL(kr_store_commit(path, set, 3, NULL, NULL, &ops_a, dg, err,
		    sizeof(err)), KR_E_STORE);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "the keyring store is unchanged"));
	}
	CU_ASSERT_EQUAL(kr_store_peek_generation(path, &g), 0);
	CU_ASSERT_EQUAL(g, 2);
	CU_ASSERT_EQUAL(rmdir(tmp), 0);
	kr_set_free(set);
}

static void
test_lock_exclusive(void)
{
	char path[PATH_MAX], err[512] = "";
	int fd1 = -1, fd2 = -1;
	uint64_t t0;

	new_path(path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(kr_store_lock(path, &fd1, 1000, err, sizeof(err)), 0);
	/* flock locks belong to the open file: a second open conflicts */
	t0 = kl_monotonic_ms();
	CU_ASSERT_EQUAL(kr_store_lock(path, &fd2, 150, err, sizeof(err)), KR_E_STORE);
	CU_ASSERT(kl_monotonic_ms() - t0 >= 150);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "locked by another process"));
	kr_store_unlock(fd1);
	CU_ASSERT_EQUAL(kr_store_lock(path, &fd2, 150, err, sizeof(err)), 0);
	kr_store_unlock(fd2);
}

/* ---- the set and its index ---- */

static void
test_set_index(void)
{
	struct kr_set *set = kr_set_new();
	struct kr_entry *e;
	char id[32];
	uint16_t mk;
	size_t i;

	CU_ASSERT_FATAL(kr_set_mkey(set, "m", NULL, 0, &mk) == 0);
	for (i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "key-%zu", i);
		add(set, id, i % 2 ? "u" : "", "AES", 16, mk);
	}
	/* remove every third: order and positions stay consistent */
	for (i = 0; i < 1000; i += 3) {
		snprintf(id, sizeof(id), "key-%zu", i);
		CU_ASSERT_FATAL((e = kr_set_find(set, id, i % 2 ? "u" : "")) != NULL);
		kr_set_remove(set, e);
	}
	CU_ASSERT_EQUAL(kr_set_count(set), 666);
	for (i = 0; i < kr_set_count(set); i++)
		CU_ASSERT_EQUAL(kr_set_entry(set, i)->pos, i);
	for (i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "key-%zu", i);
		e = kr_set_find(set, id, i % 2 ? "u" : "");
		CU_ASSERT((e != NULL) == (i % 3 != 0));
		CU_ASSERT_PTR_NULL(kr_set_find(set, id, i % 2 ? "" : "u"));
	}
	/* kr_entry_new enforces kr.h's limits */
	CU_ASSERT_PTR_NULL(kr_entry_new("", "", "AES", 16, (const unsigned char *)"", 24, 0));
	CU_ASSERT_PTR_NULL(kr_entry_new("a", "", "", 16, (const unsigned char *)"", 24, 0));
	CU_ASSERT_PTR_NULL(kr_entry_new("a", "", "AES", 16, (const unsigned char *)"", 16, 0));
	CU_ASSERT_PTR_NULL(kr_entry_new("a", "", "AES", 0, (const unsigned char *)"", 8, 0));
	kr_set_free(set);
}

static double
secs_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
test_load_100k(void)
{
	struct kr_set *set = kr_set_new(), *got = NULL;
	struct timespec t0;
	unsigned char blob[KR_BLOB_LEN(32)];
	char path[PATH_MAX], id[96], err[512];
	struct stat st;
	double t_load, t_find;
	uint16_t mk;
	size_t i, found = 0;
	unsigned verifies0 = mac_a.verifies;

	new_path(path, sizeof(path));
	CU_ASSERT_FATAL(kr_set_mkey(set, "kl-master", (const unsigned char *)"0123456789abcdef",
	    16, &mk) == 0);
	CU_ASSERT_FATAL(kr_set_reserve(set, 100000) == 0);
	memset(blob, 0x42, sizeof(blob));
	for (i = 0; i < 100000; i++) {
		struct kr_entry *e;

		/* MySQL's shape: INNODBKey-<server uuid>-<n> */
		snprintf(id, sizeof(id), "INNODBKey-3e1f04a2-c6b1-11ee-9b7e-0242ac120002-%zu", i);
		CU_ASSERT_FATAL((e = kr_entry_new(id, "", "AES", 32, blob, sizeof(blob), mk)) != NULL);
		kr_set_insert(set, e);
	}
	commit(path, set, 1, &ops_a);
	CU_ASSERT_EQUAL(stat(path, &st), 0);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL_FATAL(load(path, &ops_a, &got, err, sizeof(err)), 0);
	t_load = secs_since(&t0);
	CU_ASSERT_EQUAL(kr_set_count(got), 100000);
	CU_ASSERT_EQUAL(mac_a.verifies - verifies0, 1);	/* one MAC for the whole store */

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 100000; i++) {
		snprintf(id, sizeof(id), "INNODBKey-3e1f04a2-c6b1-11ee-9b7e-0242ac120002-%zu", i);
		found += kr_set_find(got, id, "") != NULL;
	}
	t_find = secs_since(&t0);
	CU_ASSERT_EQUAL(found, 100000);
	printf("\n    100,000 entries, %.1f MiB: load (read + parse + MAC + index) %.1f ms; "
	    "100,000 lookups %.1f ms\n", (double)st.st_size / (1 << 20), t_load * 1e3,
	    t_find * 1e3);
	kr_set_free(got);
	kr_set_free(set);
}

void
kl_test_register(void)
{
	kl_test_set_fixture(setup, teardown);
	kl_test_add("/store/format/round_trip", test_round_trip);
	kl_test_add("/store/format/golden_v1", test_golden_v1);
	kl_test_add("/store/format/empty_and_missing", test_empty_and_missing);
	kl_test_add("/store/tamper/bitflip_exhaustive", test_bitflip_exhaustive);
	kl_test_add("/store/tamper/truncate_every_length", test_truncate_every_length);
	kl_test_add("/store/tamper/appended_bytes", test_appended_bytes);
	kl_test_add("/store/tamper/swapped_blobs", test_swapped_blobs);
	kl_test_add("/store/tamper/reordered_entries", test_reordered_entries);
	kl_test_add("/store/tamper/forged_other_key", test_forged_other_key);
	kl_test_add("/store/tamper/stale_generation", test_stale_generation);
	kl_test_add("/store/strict/control", test_strict_control);
	kl_test_add("/store/strict/header", test_strict_header);
	kl_test_add("/store/strict/trailing", test_strict_trailing);
	kl_test_add("/store/strict/duplicate", test_strict_duplicate);
	kl_test_add("/store/strict/lengths", test_strict_lengths);
	kl_test_add("/store/strict/mkeys", test_strict_mkeys);
	kl_test_add("/store/file/checks", test_file_checks);
	kl_test_add("/store/file/write_protocol", test_write_protocol);
	kl_test_add("/store/file/lock_exclusive", test_lock_exclusive);
	kl_test_add("/store/set/index", test_set_index);
	kl_test_add("/store/perf/load_100k", test_load_100k);
}
