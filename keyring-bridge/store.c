#include "keyring-bridge/store.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define MKEY_NONE	0xffffu

struct kr_set {
	struct kr_entry	**order;	/* entries in store order */
	size_t		 count;
	size_t		 cap;
	struct kr_entry	**buckets;	/* hash chains; nbuckets is a power of two */
	size_t		 nbuckets;
	struct kr_mkey	*mkeys;		/* master-key records, append-only */
	size_t		 nmkeys;
	uint64_t	 generation;
	unsigned char	 sipkey[16];	/* per-set: ids come from SQL users */
};

#ifdef KR_TEST_HOOKS
/*
 * Crash points for tests/integration/store_crash: with KR_TEST_CRASH_AT=n
 * the n-th step reached in this process kills it.  Compiled only into the
 * test build of the engine (kr_engine_test).
 */
void
kr_test_crash_point(const char *step)
{
	static int at = -1, n;
	const char *e;

	if (at < 0) {
		e = getenv("KR_TEST_CRASH_AT");
		at = e != NULL ? atoi(e) : 0;
	}
	if (++n == at) {
		fprintf(stderr, "crash point %d: %s\n", n, step);
		fflush(stderr);
		raise(SIGKILL);
	}
}
#define CRASH_POINT(step)	kr_test_crash_point(step)
#else
#define CRASH_POINT(step)	do { } while (0)
#endif

/* ---- byte order ---- */

static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- SipHash-2-4 (Aumasson, Bernstein), for the index ---- */

#define ROTL64(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32);	\
	v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;			\
	v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;			\
	v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32);	\
} while (0)

static uint64_t
le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t
siphash24(const unsigned char key[16], const unsigned char *in, size_t len)
{
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, tail = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (m = 0; tail > 0; tail--)
		m |= (uint64_t)in[i + tail - 1] << (8 * (tail - 1));
	b |= m;
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t
entry_hash(const struct kr_set *set, const char *data_id, size_t dlen,
    const char *auth_id, size_t alen)
{
	unsigned char buf[KR_DATA_ID_MAX + 1 + KR_AUTH_ID_MAX];

	/* ids hold no NUL, so data_id NUL auth_id is unambiguous */
	memcpy(buf, data_id, dlen);
	buf[dlen] = 0;
	memcpy(buf + dlen + 1, auth_id, alen);
	return siphash24(set->sipkey, buf, dlen + 1 + alen);
}

/* ---- the set ---- */

struct kr_set *
kr_set_new(void)
{
	struct kr_set *set;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	if (RAND_bytes(set->sipkey, sizeof(set->sipkey)) != 1) {
		free(set);
		return NULL;
	}
	return set;
}

void
kr_set_free(struct kr_set *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->count; i++)
		kr_entry_free(set->order[i]);
	free(set->order);
	free(set->buckets);
	free(set->mkeys);
	free(set);
}

size_t
kr_set_count(const struct kr_set *set)
{
	return set->count;
}

struct kr_entry *
kr_set_entry(const struct kr_set *set, size_t i)
{
	return_val_if_fail(i < set->count, NULL);
	return set->order[i];
}

uint64_t
kr_set_generation(const struct kr_set *set)
{
	return set->generation;
}

void
kr_set_set_generation(struct kr_set *set, uint64_t gen)
{
	set->generation = gen;
}

static struct kr_entry *
set_find(const struct kr_set *set, const char *data_id, size_t dlen,
    const char *auth_id, size_t alen, uint64_t h)
{
	struct kr_entry *e;

	if (set->nbuckets == 0)
		return NULL;
	for (e = set->buckets[h & (set->nbuckets - 1)]; e != NULL; e = e->hnext) {
		if (e->hash == h && e->data_id_len == dlen && e->auth_id_len == alen &&
		    memcmp(e->data_id, data_id, dlen) == 0 &&
		    memcmp(e->auth_id, auth_id, alen) == 0)
			return e;
	}
	return NULL;
}

struct kr_entry *
kr_set_find(const struct kr_set *set, const char *data_id, const char *auth_id)
{
	size_t dlen = strlen(data_id), alen = strlen(auth_id);

	if (dlen == 0 || dlen > KR_DATA_ID_MAX || alen > KR_AUTH_ID_MAX)
		return NULL;
	return set_find(set, data_id, dlen, auth_id, alen,
	    entry_hash(set, data_id, dlen, auth_id, alen));
}

int
kr_set_mkey(struct kr_set *set, const char *label, const unsigned char *id,
    size_t id_len, uint16_t *index)
{
	struct kr_mkey *mk;
	size_t i, llen = strlen(label);

	if (llen == 0 || llen > KR_MKEY_LABEL_MAX || id_len > KR_MKEY_ID_MAX)
		return KR_E_INVALID;
	for (i = 0; i < set->nmkeys; i++) {
		mk = &set->mkeys[i];
		if (strcmp(mk->label, label) == 0 && mk->id_len == id_len &&
		    (id_len == 0 || memcmp(mk->id, id, id_len) == 0)) {
			*index = (uint16_t)i;
			return 0;
		}
	}
	if (set->nmkeys >= KR_STORE_MKEYS_MAX)
		return KR_E_INVALID;
	if ((mk = realloc(set->mkeys, (set->nmkeys + 1) * sizeof(*mk))) == NULL)
		return KR_E_INTERNAL;
	set->mkeys = mk;
	mk = &set->mkeys[set->nmkeys];
	memset(mk, 0, sizeof(*mk));
	memcpy(mk->label, label, llen);
	if (id_len > 0)
		memcpy(mk->id, id, id_len);
	mk->id_len = id_len;
	*index = (uint16_t)set->nmkeys++;
	return 0;
}

int
kr_mkey_eq(const struct kr_mkey *a, const struct kr_mkey *b)
{
	return strcmp(a->label, b->label) == 0 && a->id_len == b->id_len &&
	    (a->id_len == 0 || memcmp(a->id, b->id, a->id_len) == 0);
}

const struct kr_mkey *
kr_set_mkey_get(const struct kr_set *set, uint16_t index)
{
	return_val_if_fail(index < set->nmkeys, NULL);
	return &set->mkeys[index];
}

struct kr_entry *
kr_entry_new(const char *data_id, const char *auth_id, const char *type,
    size_t data_len, const unsigned char *blob, size_t blob_len, uint16_t mkey)
{
	struct kr_entry *e;
	size_t dlen = strlen(data_id), alen = strlen(auth_id), tlen = strlen(type);

	if (dlen == 0 || dlen > KR_DATA_ID_MAX || alen > KR_AUTH_ID_MAX ||
	    tlen == 0 || tlen > KR_TYPE_MAX || data_len == 0 ||
	    data_len > KR_DATA_MAX || blob_len != KR_BLOB_LEN(data_len))
		return NULL;
	if ((e = calloc(1, sizeof(*e) + dlen + 1 + alen + 1 + blob_len)) == NULL)
		return NULL;
	e->data_id = (char *)e->mem;
	e->auth_id = e->data_id + dlen + 1;
	e->blob = (unsigned char *)e->auth_id + alen + 1;
	memcpy(e->data_id, data_id, dlen);
	memcpy(e->auth_id, auth_id, alen);
	memcpy(e->blob, blob, blob_len);
	memcpy(e->type, type, tlen);
	e->data_id_len = (uint16_t)dlen;
	e->auth_id_len = (uint16_t)alen;
	e->data_len = (uint32_t)data_len;
	e->blob_len = (uint32_t)blob_len;
	e->mkey = mkey;
	return e;
}

void
kr_entry_free(struct kr_entry *e)
{
	if (e == NULL)
		return;
	kl_secret_clear(&e->cached);
	free(e);
}

static int
set_rehash(struct kr_set *set, size_t want)
{
	struct kr_entry **nb, *e;
	size_t n = 16, i;

	while (n < want) {
		if (n > SIZE_MAX / 2 / sizeof(*nb))
			return KR_E_INTERNAL;
		n *= 2;
	}
	if (n <= set->nbuckets)
		return 0;
	if ((nb = calloc(n, sizeof(*nb))) == NULL)
		return KR_E_INTERNAL;
	for (i = 0; i < set->count; i++) {
		e = set->order[i];
		e->hnext = nb[e->hash & (n - 1)];
		nb[e->hash & (n - 1)] = e;
	}
	free(set->buckets);
	set->buckets = nb;
	set->nbuckets = n;
	return 0;
}

int
kr_set_reserve(struct kr_set *set, size_t extra)
{
	struct kr_entry **no;
	size_t want, cap;

	if (extra > KR_STORE_ENTRIES_MAX || set->count > KR_STORE_ENTRIES_MAX - extra)
		return KR_E_INVALID;
	want = set->count + extra;
	if (want > set->cap) {
		cap = set->cap < 16 ? 16 : set->cap;
		while (cap < want)
			cap *= 2;
		if ((no = realloc(set->order, cap * sizeof(*no))) == NULL)
			return KR_E_INTERNAL;
		set->order = no;
		set->cap = cap;
	}
	/* load factor at most 1 */
	return set_rehash(set, want);
}

void
kr_set_insert(struct kr_set *set, struct kr_entry *e)
{
	size_t b;

	/* callers reserved room: this must not fail after the store is on disk */
	return_if_fail(set->count < set->cap && set->count < set->nbuckets);
	e->hash = entry_hash(set, e->data_id, e->data_id_len, e->auth_id, e->auth_id_len);
	e->pos = set->count;
	set->order[set->count++] = e;
	b = e->hash & (set->nbuckets - 1);
	e->hnext = set->buckets[b];
	set->buckets[b] = e;
}

void
kr_set_remove(struct kr_set *set, struct kr_entry *e)
{
	struct kr_entry **pp;
	size_t i;

	return_if_fail(e->pos < set->count && set->order[e->pos] == e);
	for (pp = &set->buckets[e->hash & (set->nbuckets - 1)]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	memmove(&set->order[e->pos], &set->order[e->pos + 1],
	    (set->count - e->pos - 1) * sizeof(*set->order));
	set->count--;
	for (i = e->pos; i < set->count; i++)
		set->order[i]->pos = i;
	kr_entry_free(e);
}

/* ---- digest, serialise, parse ---- */

int
kr_store_digest(const unsigned char *body, size_t len,
    unsigned char digest[KR_STORE_DIGEST_LEN])
{
	EVP_MD_CTX *md = NULL;
	unsigned int dlen = 0;
	int r = KR_E_INTERNAL;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, KR_STORE_DOMAIN, sizeof(KR_STORE_DOMAIN)) != 1 ||
	    EVP_DigestUpdate(md, body, len) != 1 ||
	    EVP_DigestFinal_ex(md, digest, &dlen) != 1 || dlen != KR_STORE_DIGEST_LEN)
		goto out;
	r = 0;
 out:
	EVP_MD_CTX_free(md);
	return r;
}

/* *sum += n, refusing to pass KR_STORE_FILE_MAX (so never overflows). */
static int
size_add(size_t *sum, size_t n)
{
	if (n > KR_STORE_FILE_MAX || *sum > KR_STORE_FILE_MAX - n)
		return -1;
	*sum += n;
	return 0;
}

static size_t
entry_wire_len(const struct kr_entry *e)
{
	return KR_STORE_ENTRY_FIXED + e->data_id_len + e->auth_id_len +
	    strlen(e->type) + e->blob_len;
}

int
kr_store_serialize(const struct kr_set *set, uint64_t gen, const struct kr_entry *add,
    const struct kr_entry *skip, unsigned char **out, size_t *outlen,
    char *err, size_t errlen)
{
	uint16_t remap[KR_STORE_MKEYS_MAX];
	const struct kr_entry *e;
	const struct kr_mkey *mk;
	unsigned char *buf = NULL, *p;
	size_t i, n = 0, used = 0, len = KR_STORE_HEADER_LEN, tlen;
	int r = KR_E_INTERNAL;

	*out = NULL;
	*outlen = 0;
	for (i = 0; i < KR_STORE_MKEYS_MAX; i++)
		remap[i] = MKEY_NONE;
	/* the entries written, in order: set's less skip, then add */
	for (i = 0; i <= set->count; i++) {
		e = i < set->count ? set->order[i] : add;
		if (e == NULL || e == skip)
			continue;
		if (e->mkey >= set->nmkeys) {
			snprintf(err, errlen, "internal error: entry %.200s refers to "
			    "master-key record %u of %zu", e->data_id, e->mkey, set->nmkeys);
			goto out;
		}
		if (remap[e->mkey] == MKEY_NONE) {
			remap[e->mkey] = (uint16_t)used++;
			mk = &set->mkeys[e->mkey];
			if (size_add(&len, 2 + strlen(mk->label) + mk->id_len) != 0)
				goto toobig;
		}
		if (size_add(&len, entry_wire_len(e)) != 0)
			goto toobig;
		n++;
	}
	if (n > KR_STORE_ENTRIES_MAX) {
		snprintf(err, errlen, "the keyring would hold %zu entries, more than the "
		    "store's limit of %u", n, KR_STORE_ENTRIES_MAX);
		r = KR_E_INVALID;
		goto out;
	}
	if (size_add(&len, KR_STORE_MAC_LEN) != 0)
		goto toobig;
	if ((buf = calloc(1, len)) == NULL) {
		snprintf(err, errlen, "out of memory for a %zu-byte keyring store", len);
		goto out;
	}
	memcpy(buf, KR_STORE_MAGIC, 8);
	put32(buf + 8, KR_STORE_VERSION);
	put32(buf + 12, 0);
	put64(buf + 16, gen);
	put64(buf + 24, (uint64_t)len);
	put32(buf + 32, (uint32_t)n);
	put16(buf + 36, (uint16_t)used);
	put16(buf + 38, 0);
	p = buf + KR_STORE_HEADER_LEN;
	/* master-key records in order of first use */
	for (i = 0; i < used; i++) {
		size_t j;

		for (j = 0; remap[j] != i; j++)
			;
		mk = &set->mkeys[j];
		tlen = strlen(mk->label);
		*p++ = (unsigned char)tlen;
		memcpy(p, mk->label, tlen);
		p += tlen;
		*p++ = (unsigned char)mk->id_len;
		if (mk->id_len > 0)
			memcpy(p, mk->id, mk->id_len);
		p += mk->id_len;
	}
	for (i = 0; i <= set->count; i++) {
		e = i < set->count ? set->order[i] : add;
		if (e == NULL || e == skip)
			continue;
		tlen = strlen(e->type);
		put16(p, e->data_id_len);
		put16(p + 2, e->auth_id_len);
		p[4] = (unsigned char)tlen;
		put16(p + 5, remap[e->mkey]);
		put32(p + 7, e->data_len);
		put32(p + 11, e->blob_len);
		p += KR_STORE_ENTRY_FIXED;
		memcpy(p, e->data_id, e->data_id_len);
		p += e->data_id_len;
		memcpy(p, e->auth_id, e->auth_id_len);
		p += e->auth_id_len;
		memcpy(p, e->type, tlen);
		p += tlen;
		memcpy(p, e->blob, e->blob_len);
		p += e->blob_len;
	}
	if ((size_t)(p - buf) != len - KR_STORE_MAC_LEN) {
		snprintf(err, errlen, "internal error: serialised %zu bytes, expected %zu",
		    (size_t)(p - buf), len - KR_STORE_MAC_LEN);
		goto out;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	r = 0;
	goto out;
 toobig:
	snprintf(err, errlen, "the keyring store would be larger than %zu bytes",
	    KR_STORE_FILE_MAX);
	r = KR_E_INVALID;
 out:
	free(buf);
	return r;
}

static int
has_nul(const unsigned char *p, size_t len)
{
	return len > 0 && memchr(p, '\0', len) != NULL;
}

#define PARSE_FAIL(...) do {						\
	int n_ = snprintf(err, errlen, "keyring store %s: ", path);	\
	if (n_ >= 0 && (size_t)n_ < errlen)				\
		snprintf(err + n_, errlen - (size_t)n_, __VA_ARGS__);	\
	r = KR_E_STORE;							\
	goto out;							\
} while (0)

int
kr_store_parse(const unsigned char *buf, size_t len, const char *path,
    const struct kr_mac_ops *mac, struct kr_set **out,
    unsigned char digest[KR_STORE_DIGEST_LEN], char *err, size_t errlen)
{
	struct kr_set *set = NULL;
	struct kr_entry *e = NULL;
	unsigned char *used = NULL;
	const unsigned char *p;
	uint64_t file_len, gen, h;
	uint32_t count, version, flags, data_len, blob_len, i;
	uint16_t nmkeys, dlen, alen, mki;
	size_t off, end, tlen, llen, idlen, j;
	char label[KR_MKEY_LABEL_MAX + 1];
	int r = KR_E_INTERNAL;

	*out = NULL;
	/* 1. what must hold before the MAC can even be located */
	if (len == 0)
		PARSE_FAIL("the file is empty (0 bytes); keylocker never writes an "
		    "empty store: restore it, or delete it to start an empty keyring");
	if (len < KR_STORE_HEADER_LEN + KR_STORE_MAC_LEN)
		PARSE_FAIL("truncated: %zu bytes, shorter than the smallest store (%d bytes)",
		    len, KR_STORE_HEADER_LEN + KR_STORE_MAC_LEN);
	if (memcmp(buf, KR_STORE_MAGIC, 8) != 0)
		PARSE_FAIL("not a keylocker keyring store (bad magic)");
	if ((version = get32(buf + 8)) != KR_STORE_VERSION)
		PARSE_FAIL("format version %u is not supported (this build reads "
		    "version %d)", version, KR_STORE_VERSION);
	if ((flags = get32(buf + 12)) != 0)
		PARSE_FAIL("unknown flags 0x%08x in the header", flags);
	file_len = get64(buf + 24);
	if (file_len > len)
		PARSE_FAIL("truncated: %zu bytes of the %llu its header announces",
		    len, (unsigned long long)file_len);
	if (file_len < len)
		PARSE_FAIL("%zu trailing bytes after the %llu bytes its header announces",
		    len - (size_t)file_len, (unsigned long long)file_len);

	/* 2. the MAC: nothing below trusts a byte it did not cover */
	end = len - KR_STORE_MAC_LEN;
	if ((r = kr_store_digest(buf, end, digest)) != 0) {
		snprintf(err, errlen, "keyring store %s: cannot compute SHA-256", path);
		goto out;
	}
	r = mac->verify(mac->ctx, digest, buf + end, err, errlen);
	if (r == 1)
		PARSE_FAIL("MAC does not verify with %s: the store was modified, or "
		    "it was written under another MAC key", mac->what);
	if (r != 0)
		goto out;
	r = KR_E_INTERNAL;

	/* 3. the authenticated contents, strictly */
	if ((gen = get64(buf + 16)) == 0)
		PARSE_FAIL("generation 0 (keylocker starts at 1)");
	count = get32(buf + 32);
	nmkeys = get16(buf + 36);
	if (get16(buf + 38) != 0)
		PARSE_FAIL("reserved header bytes are not zero");
	if (count > KR_STORE_ENTRIES_MAX)
		PARSE_FAIL("%u entries, more than the limit of %u", count,
		    KR_STORE_ENTRIES_MAX);
	if (nmkeys > KR_STORE_MKEYS_MAX)
		PARSE_FAIL("%u master-key records, more than the limit of %d", nmkeys,
		    KR_STORE_MKEYS_MAX);
	if (nmkeys > count)
		PARSE_FAIL("%u master-key records for %u entries", nmkeys, count);
	/* each entry takes at least its fixed part: refuse a huge count early */
	if (count > (end - KR_STORE_HEADER_LEN) / KR_STORE_ENTRY_FIXED)
		PARSE_FAIL("announces %u entries but has room for at most %zu", count,
		    (end - KR_STORE_HEADER_LEN) / KR_STORE_ENTRY_FIXED);
	if ((set = kr_set_new()) == NULL || (used = calloc(nmkeys + 1, 1)) == NULL) {
		snprintf(err, errlen, "keyring store %s: out of memory", path);
		goto out;
	}
	if (kr_set_reserve(set, count) != 0) {
		snprintf(err, errlen, "keyring store %s: out of memory for %u entries",
		    path, count);
		goto out;
	}
	off = KR_STORE_HEADER_LEN;
	for (i = 0; i < nmkeys; i++) {
		uint16_t idx;

		if (off >= end)
			PARSE_FAIL("master-key record %u at offset %zu runs past the end", i, off);
		llen = buf[off++];
		if (llen == 0)
			PARSE_FAIL("master-key record %u has an empty label", i);
		/* the label and the id_len byte after it */
		if (llen >= end - off)
			PARSE_FAIL("master-key record %u at offset %zu runs past the end",
			    i, off);
		if (has_nul(buf + off, llen))
			PARSE_FAIL("master-key record %u: the label contains a NUL byte", i);
		memcpy(label, buf + off, llen);
		label[llen] = '\0';
		off += llen;
		idlen = buf[off++];
		if (idlen > end - off)
			PARSE_FAIL("master-key record %u (%s) runs past the end", i, label);
		if ((r = kr_set_mkey(set, label, buf + off, idlen, &idx)) != 0) {
			snprintf(err, errlen, "keyring store %s: cannot record master key "
			    "%s: %s", path, label, kr_strerror(r));
			goto out;
		}
		if (idx != i)
			PARSE_FAIL("master-key record %u repeats record %u (%s)", i, idx, label);
		off += idlen;
	}
	for (i = 0; i < count; i++) {
		if (KR_STORE_ENTRY_FIXED > end - off)
			PARSE_FAIL("entry %u of %u at offset %zu runs past the end",
			    i + 1, count, off);
		p = buf + off;
		dlen = get16(p);
		alen = get16(p + 2);
		tlen = p[4];
		mki = get16(p + 5);
		data_len = get32(p + 7);
		blob_len = get32(p + 11);
		if (dlen == 0 || dlen > KR_DATA_ID_MAX)
			PARSE_FAIL("entry %u at offset %zu: data_id length %u is not in "
			    "1..%d", i + 1, off, dlen, KR_DATA_ID_MAX);
		if (alen > KR_AUTH_ID_MAX)
			PARSE_FAIL("entry %u at offset %zu: auth_id length %u exceeds %d",
			    i + 1, off, alen, KR_AUTH_ID_MAX);
		if (tlen == 0 || tlen > KR_TYPE_MAX)
			PARSE_FAIL("entry %u at offset %zu: type length %zu is not in 1..%d",
			    i + 1, off, tlen, KR_TYPE_MAX);
		if (mki >= nmkeys)
			PARSE_FAIL("entry %u at offset %zu: master-key record %u does not "
			    "exist (%u records)", i + 1, off, mki, nmkeys);
		if (data_len == 0 || data_len > KR_DATA_MAX)
			PARSE_FAIL("entry %u at offset %zu: data length %u is not in 1..%d",
			    i + 1, off, data_len, KR_DATA_MAX);
		if (blob_len != KR_BLOB_LEN(data_len))
			PARSE_FAIL("entry %u at offset %zu: blob length %u does not match "
			    "data length %u (RFC 5649 gives %zu)", i + 1, off, blob_len,
			    data_len, KR_BLOB_LEN(data_len));
		off += KR_STORE_ENTRY_FIXED;
		/* every addend is bounded (<= 64 KiB), so the sum cannot overflow */
		j = (size_t)dlen + alen + tlen + blob_len;
		if (j > end - off)
			PARSE_FAIL("entry %u of %u at offset %zu runs past the end",
			    i + 1, count, off - KR_STORE_ENTRY_FIXED);
		p = buf + off;
		if (has_nul(p, dlen) || has_nul(p + dlen, alen) ||
		    has_nul(p + dlen + alen, tlen))
			PARSE_FAIL("entry %u at offset %zu: an identifier contains a NUL "
			    "byte", i + 1, off - KR_STORE_ENTRY_FIXED);
		h = entry_hash(set, (const char *)p, dlen, (const char *)p + dlen, alen);
		if ((e = set_find(set, (const char *)p, dlen, (const char *)p + dlen,
		    alen, h)) != NULL)
			PARSE_FAIL("entry %u repeats entry %zu (data_id '%.200s', auth_id "
			    "'%.200s')", i + 1, e->pos + 1, e->data_id, e->auth_id);
		/* entry_new takes C strings: build them from the counted fields */
		if ((e = calloc(1, sizeof(*e) + dlen + 1 + alen + 1 + blob_len)) == NULL) {
			snprintf(err, errlen, "keyring store %s: out of memory", path);
			goto out;
		}
		e->data_id = (char *)e->mem;
		e->auth_id = e->data_id + dlen + 1;
		e->blob = (unsigned char *)e->auth_id + alen + 1;
		memcpy(e->data_id, p, dlen);
		memcpy(e->auth_id, p + dlen, alen);
		memcpy(e->type, p + dlen + alen, tlen);
		memcpy(e->blob, p + dlen + alen + tlen, blob_len);
		e->data_id_len = dlen;
		e->auth_id_len = alen;
		e->data_len = data_len;
		e->blob_len = blob_len;
		e->mkey = mki;
		kr_set_insert(set, e);	/* reserved above */
		e = NULL;
		used[mki] = 1;
		off += j;
	}
	if (off != end)
		PARSE_FAIL("%zu unparsed bytes between the last entry and the MAC",
		    end - off);
	for (i = 0; i < nmkeys; i++) {
		if (!used[i])
			PARSE_FAIL("master-key record %u (%s) is used by no entry", i,
			    set->mkeys[i].label);
	}
	set->generation = gen;
	*out = set;
	set = NULL;
	r = 0;
 out:
	free(used);
	kr_set_free(set);
	return r;
}

/* ---- files ---- */

static int
path_with_suffix(char *dst, size_t dstlen, const char *path, const char *suffix)
{
	int n = snprintf(dst, dstlen, "%s%s", path, suffix);

	return (n < 0 || (size_t)n >= dstlen) ? -1 : 0;
}

int
kr_store_read(const char *path, unsigned char **buf, size_t *len, int *exists,
    char *err, size_t errlen)
{
	unsigned char *b = NULL;
	struct stat st;
	size_t got = 0, size;
	ssize_t n;
	int fd = -1, r = KR_E_STORE;

	*buf = NULL;
	*len = 0;
	*exists = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY)) < 0) {
		if (errno == ENOENT) {
			r = 0;
			goto out;
		}
		if (errno == ELOOP)
			snprintf(err, errlen, "keyring store %s is a symbolic link; set "
			    "path to the file itself", path);
		else
			snprintf(err, errlen, "cannot open keyring store %s: %s", path,
			    strerror(errno));
		goto out;
	}
	*exists = 1;
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot stat keyring store %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "keyring store %s is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 022) != 0) {
		snprintf(err, errlen, "keyring store %s is writable by group or others "
		    "(mode %03o): chmod 600 it", path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > KR_STORE_FILE_MAX) {
		snprintf(err, errlen, "keyring store %s is %jd bytes, more than the "
		    "limit of %zu", path, (intmax_t)st.st_size, KR_STORE_FILE_MAX);
		goto out;
	}
	size = (size_t)st.st_size;
	/* one spare byte tells a file that grew while we read it */
	if ((b = malloc(size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory reading keyring store %s", path);
		r = KR_E_INTERNAL;
		goto out;
	}
	for (;;) {
		n = read(fd, b + got, size + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read keyring store %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > size) {
			snprintf(err, errlen, "keyring store %s changed size while being "
			    "read; another writer does not take %s.lock", path, path);
			goto out;
		}
	}
	*buf = b;
	*len = got;
	b = NULL;
	r = 0;
 out:
	free(b);
	if (fd >= 0)
		close(fd);
	return r;
}

int
kr_store_load(const char *path, const struct kr_mac_ops *mac, struct kr_set **out,
    int *exists, unsigned char digest[KR_STORE_DIGEST_LEN], char *err, size_t errlen)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	memset(digest, 0, KR_STORE_DIGEST_LEN);
	if ((r = kr_store_read(path, &buf, &len, exists, err, errlen)) != 0)
		goto out;
	if (!*exists) {
		if ((*out = kr_set_new()) == NULL) {
			snprintf(err, errlen, "out of memory");
			r = KR_E_INTERNAL;
		}
		goto out;
	}
	r = kr_store_parse(buf, len, path, mac, out, digest, err, errlen);
 out:
	free(buf);
	return r;
}

int
kr_write_all(int fd, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
kr_store_write_file(const char *path, const unsigned char *buf, size_t len,
    char *err, size_t errlen)
{
	char tmp[PATH_MAX], prev[PATH_MAX];
	struct stat st;
	size_t half = len / 2;
	int fd = -1, r = KR_E_STORE, tmp_made = 0, tries;

	if (path_with_suffix(tmp, sizeof(tmp), path, ".tmp") != 0 ||
	    path_with_suffix(prev, sizeof(prev), path, ".prev") != 0) {
		snprintf(err, errlen, "keyring store path %.200s... is too long", path);
		goto out;
	}
	CRASH_POINT("write-begin");
	for (tries = 0; fd < 0; tries++) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0)
			break;
		/* left by a writer that died: we hold the lock, so it is stale */
		if (errno == EEXIST && tries == 0 && unlink(tmp) == 0) {
			kl_warn("removed %s, left by an interrupted write", tmp);
			continue;
		}
		snprintf(err, errlen, "cannot create %s: %s; the keyring store is "
		    "unchanged", tmp, strerror(errno));
		goto out;
	}
	tmp_made = 1;
	CRASH_POINT("tmp-created");
	if (kr_write_all(fd, buf, half) != 0)
		goto write_failed;
	CRASH_POINT("tmp-half-written");
	if (kr_write_all(fd, buf + half, len - half) != 0)
		goto write_failed;
	CRASH_POINT("tmp-written");
	if (fsync(fd) != 0)
		goto write_failed;
	if (close(fd) != 0) {
		fd = -1;
		goto write_failed;
	}
	fd = -1;
	CRASH_POINT("tmp-synced");

	/* keep the current generation as .prev; <path> itself never goes away */
	if (lstat(path, &st) == 0) {
		if (unlink(prev) != 0 && errno != ENOENT) {
			snprintf(err, errlen, "cannot remove %s: %s; the keyring store is "
			    "unchanged", prev, strerror(errno));
			goto out;
		}
		CRASH_POINT("prev-unlinked");
		if (link(path, prev) != 0) {
			snprintf(err, errlen, "cannot link %s to %s: %s; the keyring store "
			    "is unchanged", path, prev, strerror(errno));
			goto out;
		}
		CRASH_POINT("prev-linked");
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "cannot stat keyring store %s: %s", path,
		    strerror(errno));
		goto out;
	} else {
		/* same step numbers whether or not there was a store before */
		CRASH_POINT("prev-unlinked");
		CRASH_POINT("prev-linked");
	}
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s; the keyring store "
		    "is unchanged", tmp, path, strerror(errno));
		goto out;
	}
	tmp_made = 0;
	CRASH_POINT("renamed");
	if (kl_fsync_parent_dir(path) != 0) {
		/* the new file is in place; the next writer will find and reload it */
		snprintf(err, errlen, "wrote keyring store %s but cannot fsync its "
		    "directory: %s; the new generation may not survive a power loss",
		    path, strerror(errno));
		goto out;
	}
	CRASH_POINT("dir-synced");
	r = 0;
	goto out;
 write_failed:
	snprintf(err, errlen, "cannot write %s: %s; the keyring store is unchanged",
	    tmp, strerror(errno));
 out:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		(void)unlink(tmp);
	return r;
}

int
kr_store_commit(const char *path, const struct kr_set *set, uint64_t gen,
    const struct kr_entry *add, const struct kr_entry *skip,
    const struct kr_mac_ops *mac, unsigned char digest[KR_STORE_DIGEST_LEN],
    char *err, size_t errlen)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = kr_store_serialize(set, gen, add, skip, &buf, &len, err, errlen)) != 0)
		goto out;
	if ((r = kr_store_digest(buf, len - KR_STORE_MAC_LEN, digest)) != 0) {
		snprintf(err, errlen, "cannot compute SHA-256 for keyring store %s", path);
		goto out;
	}
	if ((r = mac->sign(mac->ctx, digest, buf + len - KR_STORE_MAC_LEN,
	    err, errlen)) != 0)
		goto out;
	r = kr_store_write_file(path, buf, len, err, errlen);
 out:
	free(buf);
	return r;
}

int
kr_store_lock(const char *path, int *fd, unsigned timeout_ms, char *err, size_t errlen)
{
	char lock[PATH_MAX];
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	uint64_t start = kl_monotonic_ms();
	int lfd = -1;

	*fd = -1;
	if (path_with_suffix(lock, sizeof(lock), path, ".lock") != 0) {
		snprintf(err, errlen, "keyring store path %.200s... is too long", path);
		return KR_E_STORE;
	}
	if ((lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		snprintf(err, errlen, "cannot open lock file %s: %s", lock, strerror(errno));
		return KR_E_STORE;
	}
	while (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(err, errlen, "cannot lock %s: %s", lock, strerror(errno));
			close(lfd);
			return KR_E_STORE;
		}
		if (kl_monotonic_ms() - start >= timeout_ms) {
			snprintf(err, errlen, "keyring store %s is locked by another "
			    "process (a running `keylocker keyring rewrap`?) for more than "
			    "%u ms (%s)", path, timeout_ms, lock);
			close(lfd);
			return KR_E_STORE;
		}
		nanosleep(&ts, NULL);
	}
	*fd = lfd;
	return 0;
}

void
kr_store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* releases the flock */
}

int
kr_store_peek_generation(const char *path, uint64_t *gen)
{
	unsigned char hdr[KR_STORE_HEADER_LEN];
	ssize_t n;
	int fd, r = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY)) < 0)
		return -1;
	do {
		n = read(fd, hdr, sizeof(hdr));
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(hdr) && memcmp(hdr, KR_STORE_MAGIC, 8) == 0) {
		*gen = get64(hdr + 16);
		r = 0;
	}
	close(fd);
	return r;
}
