/*
 * The keyring store: an in-memory set of wrapped entries with a hash index,
 * and the one file that holds it.  No PKCS#11 here: the MAC is computed
 * through struct kr_mac_ops (the token in production, OpenSSL in tests).
 *
 * File format, version 1.  Integers are unsigned big-endian; every variable
 * field is preceded by its length.
 *
 *   header, 40 bytes
 *      0  magic        8  "KLKRSTOR"
 *      8  version      4  1
 *     12  flags        4  0 (none are defined; anything else is refused)
 *     16  generation   8  1 for the first write, previous + 1 for each write
 *     24  file_len     8  length of the whole file, MAC included
 *     32  entries      4  number of entries, <= KR_STORE_ENTRIES_MAX
 *     36  mkeys        2  number of master-key records, <= KR_STORE_MKEYS_MAX
 *     38  reserved     2  0
 *   master-key records (the keys that wrapped the blobs), mkeys times
 *      label_len 1 (1..255), label, id_len 1 (0..255), id (the key's CKA_ID)
 *   entries, in store order, `entries` times: 15 fixed bytes, then the fields
 *      data_id_len 2 (1..KR_DATA_ID_MAX)   auth_id_len 2 (0..KR_AUTH_ID_MAX)
 *      type_len    1 (1..KR_TYPE_MAX)      mkey        2 (index of its record)
 *      data_len    4 (1..KR_DATA_MAX)      blob_len    4 (= 8 + data_len
 *                                                         rounded up to 8)
 *      data_id, auth_id, type, blob (RFC 5649 wrap of the data)
 *   mac, 32 bytes: HMAC-SHA256 computed by the token's MAC key over
 *      SHA-256(KR_STORE_DOMAIN || every byte before the mac)
 *
 * The parser is strict.  Before the MAC it checks only what it needs to find
 * the MAC (magic, version, flags, file_len against the real length); after
 * the MAC verifies it refuses, each with its own message: a generation of 0,
 * lengths out of kr.h's limits, a NUL inside a string, an unknown or
 * unreferenced or repeated master-key record, a duplicate (data_id, auth_id),
 * bytes left between the last entry and the MAC.  A store is used whole or
 * not at all.
 *
 * Writes (kr_store_write_file) go to <path>.tmp (O_EXCL, 0600), which is
 * fsynced; the current <path> is hard-linked to <path>.prev; the temp file
 * is renamed over <path> and the directory fsynced.  <path> exists at every
 * instant and holds either the old or the new generation.  Writers serialise
 * on an flock of <path>.lock (kr_store_lock).
 */
#ifndef KR_STORE_H
#define KR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/secret.h"
#include "keyring-bridge/kr.h"

#define KR_STORE_MAGIC		"KLKRSTOR"
#define KR_STORE_VERSION	1
#define KR_STORE_DOMAIN		"keylocker keyring store v1"	/* hashed with its NUL */
#define KR_STORE_HEADER_LEN	40
#define KR_STORE_ENTRY_FIXED	15
#define KR_STORE_MAC_LEN	32
#define KR_STORE_DIGEST_LEN	32
#define KR_STORE_ENTRIES_MAX	(1u << 20)
#define KR_STORE_MKEYS_MAX	256
#define KR_STORE_FILE_MAX	((size_t)1 << 30)
#define KR_MKEY_LABEL_MAX	255
#define KR_MKEY_ID_MAX		255

/* Length of the RFC 5649 wrap of data_len bytes (data_len > 0). */
#define KR_BLOB_LEN(data_len)	(8 + (((size_t)(data_len) + 7) / 8) * 8)

/* The identity of a master key: its label and CKA_ID. */
struct kr_mkey {
	char		 label[KR_MKEY_LABEL_MAX + 1];
	unsigned char	 id[KR_MKEY_ID_MAX];
	size_t		 id_len;
};

/* 1 when a and b name the same key: same label, same CKA_ID. */
int		 kr_mkey_eq(const struct kr_mkey *a, const struct kr_mkey *b);

struct kr_entry {
	struct kr_entry	*hnext;		/* hash chain, owned by the set */
	uint64_t	 hash;
	size_t		 pos;		/* index in store order */
	struct kl_secret cached;	/* unwrapped data when kr caches it; wiped on free */
	uint32_t	 data_len;
	uint32_t	 blob_len;
	uint16_t	 data_id_len;
	uint16_t	 auth_id_len;
	uint16_t	 mkey;		/* index into its set's master-key table */
	char		 type[KR_TYPE_MAX + 1];
	char		*data_id;	/* NUL-terminated, points into mem[] */
	char		*auth_id;	/* NUL-terminated, "" for internal keys, into mem[] */
	unsigned char	*blob;		/* into mem[] */
	unsigned char	 mem[];
};

/*
 * The MAC, computed elsewhere.  sign writes KR_STORE_MAC_LEN bytes and
 * returns 0 or a kr_err.  verify returns 0 when mac is right for digest, 1
 * when it is not, or a negative kr_err when it could not tell (token down);
 * either function writes a sentence into err on failure.
 */
struct kr_mac_ops {
	int	(*sign)(void *ctx, const unsigned char digest[KR_STORE_DIGEST_LEN],
		    unsigned char mac[KR_STORE_MAC_LEN], char *err, size_t errlen);
	int	(*verify)(void *ctx, const unsigned char digest[KR_STORE_DIGEST_LEN],
		    const unsigned char mac[KR_STORE_MAC_LEN], char *err, size_t errlen);
	void	*ctx;
	const char *what;		/* names the key in messages, e.g. "MAC key 'x'" */
};

struct kr_set;

/* An empty set (generation 0), or NULL when memory or randomness is short. */
struct kr_set	*kr_set_new(void);
void		 kr_set_free(struct kr_set *set);	/* NULL-safe; wipes cached data */

size_t		 kr_set_count(const struct kr_set *set);
struct kr_entry	*kr_set_entry(const struct kr_set *set, size_t i);	/* store order */
uint64_t	 kr_set_generation(const struct kr_set *set);
void		 kr_set_set_generation(struct kr_set *set, uint64_t gen);
/* auth_id "" for internal keys (never NULL). */
struct kr_entry	*kr_set_find(const struct kr_set *set, const char *data_id,
		    const char *auth_id);

/* Index of the record for (label, id), added if new: 0 or a kr_err. */
int		 kr_set_mkey(struct kr_set *set, const char *label,
		    const unsigned char *id, size_t id_len, uint16_t *index);
const struct kr_mkey *kr_set_mkey_get(const struct kr_set *set, uint16_t index);

/*
 * A new entry for set (its mkey indexes set's table), not yet inserted.
 * Arguments must be within kr.h's limits (checked; NULL when not).
 */
struct kr_entry	*kr_entry_new(const char *data_id, const char *auth_id, const char *type,
		    size_t data_len, const unsigned char *blob, size_t blob_len, uint16_t mkey);
void		 kr_entry_free(struct kr_entry *e);	/* NULL-safe; wipes cached */

/*
 * Make room for `extra` more entries so that the next kr_set_insert calls
 * cannot fail (they run after the store is on disk).  0 or KR_E_INTERNAL.
 */
int		 kr_set_reserve(struct kr_set *set, size_t extra);
/* Append e (reserved, not present); the set owns it from now on. */
void		 kr_set_insert(struct kr_set *set, struct kr_entry *e);
/* Unlink e and free it (wiping its cached data). */
void		 kr_set_remove(struct kr_set *set, struct kr_entry *e);

/* SHA-256 over KR_STORE_DOMAIN (with its NUL) and body[0..len). */
int		 kr_store_digest(const unsigned char *body, size_t len,
		    unsigned char digest[KR_STORE_DIGEST_LEN]);

/*
 * The bytes of generation gen of the store: set's entries in order, less
 * skip (may be NULL), plus add at the end (may be NULL).  The last
 * KR_STORE_MAC_LEN bytes of *out are left zero for the caller's MAC.
 */
int		 kr_store_serialize(const struct kr_set *set, uint64_t gen,
		    const struct kr_entry *add, const struct kr_entry *skip,
		    unsigned char **out, size_t *outlen, char *err, size_t errlen);

/*
 * Check and parse a whole store file (buf, len) into a new set; path only
 * names it in messages.  On success *out holds the set and digest the
 * digest that the MAC covers.  Errors: KR_E_STORE (malformed or MAC does
 * not verify), a kr_err from mac->verify, KR_E_INTERNAL.
 */
int		 kr_store_parse(const unsigned char *buf, size_t len, const char *path,
		    const struct kr_mac_ops *mac, struct kr_set **out,
		    unsigned char digest[KR_STORE_DIGEST_LEN], char *err, size_t errlen);

/*
 * Read the store file.  A missing file gives 0 with *exists = 0.  Refused:
 * not a regular file, a symbolic link, writable by group or others, larger
 * than KR_STORE_FILE_MAX.  *buf is malloc()ed.
 */
int		 kr_store_read(const char *path, unsigned char **buf, size_t *len,
		    int *exists, char *err, size_t errlen);

/* kr_store_read + kr_store_parse; a missing file is an empty set. */
int		 kr_store_load(const char *path, const struct kr_mac_ops *mac,
		    struct kr_set **out, int *exists,
		    unsigned char digest[KR_STORE_DIGEST_LEN], char *err, size_t errlen);

/* write(2) all of p, retrying on EINTR: 0, or -1 with errno. */
int		 kr_write_all(int fd, const unsigned char *p, size_t len);

/* The crash-safe write protocol above, for a complete file (MAC included). */
int		 kr_store_write_file(const char *path, const unsigned char *buf,
		    size_t len, char *err, size_t errlen);

/*
 * Serialize, MAC and write generation gen (see kr_store_serialize); digest
 * receives what the MAC covers.  Changes nothing in set.
 */
int		 kr_store_commit(const char *path, const struct kr_set *set, uint64_t gen,
		    const struct kr_entry *add, const struct kr_entry *skip,
		    const struct kr_mac_ops *mac, unsigned char digest[KR_STORE_DIGEST_LEN],
		    char *err, size_t errlen);

/*
 * Exclusive flock on <path>.lock (created 0600), waiting up to timeout_ms.
 * *fd receives the descriptor for kr_store_unlock.  0 or KR_E_STORE.
 */
int		 kr_store_lock(const char *path, int *fd, unsigned timeout_ms,
		    char *err, size_t errlen);
void		 kr_store_unlock(int fd);

/*
 * Generation in the header of the file at path, without checking its MAC
 * (for warnings only).  0 and *gen, or -1.
 */
int		 kr_store_peek_generation(const char *path, uint64_t *gen);

#ifdef KR_TEST_HOOKS
/* Test builds only: kill the process at the n-th step ($KR_TEST_CRASH_AT=n). */
void		 kr_test_crash_point(const char *step);
#endif

#endif
