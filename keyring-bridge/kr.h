/*
 * The keyring engine behind component_keyring_pkcs11: a store of entries
 * (data_id, auth_id, type, data), each kept on disk only as an RFC 5649 blob
 * wrapped by a token master key, with the whole store authenticated by a
 * token-held HMAC key.  No MySQL types or conventions appear here:
 * component.c translates.  Every function is thread-safe.
 */
#ifndef KR_H
#define KR_H

#include <stddef.h>
#include <stdint.h>

#include "common/secret.h"

struct kr;

/* Limits (checked by every entry point; over-long input is KR_E_INVALID). */
#define KR_DATA_ID_MAX	1024	/* bytes, data_id must be non-empty */
#define KR_AUTH_ID_MAX	1024	/* bytes, "" (or NULL) = an internal key */
#define KR_TYPE_MAX	32	/* bytes, e.g. "AES", "SECRET", "RSA" */
#define KR_DATA_MAX	16384	/* bytes, data must be non-empty */

struct kr_config {
	char	*path;		/* the store file */
	int	 read_only;	/* 1: never write the store */
	char	*module;	/* PKCS#11 module: libkeylocker-pkcs11.so or p11-kit-client.so */
	char	*token;		/* token label */
	char	*master_key;	/* label of the master key used for new wraps */
	char	*mac_key;	/* label of the store's HMAC key */
	char	*pin_file;	/* file holding the keyring client's PIN */
	int	 cache;		/* 1: keep unwrapped secrets in locked memory */
	char	*source;	/* the configuration file it came from (messages, status) */
};

/* Outcomes of lookups: three states, never folded into a bool. */
enum kr_lookup { KR_ERROR = -1, KR_MISSING = 0, KR_FOUND = 1 };

/* Errors of the other calls (0 is success). */
enum kr_err {
	KR_OK = 0,
	KR_E_INTERNAL = -1,	/* a bug or out of memory */
	KR_E_INVALID = -2,	/* argument out of limits */
	KR_E_EXISTS = -3,	/* store/generate of an entry that exists */
	KR_E_MISSING = -4,	/* remove of an entry that does not exist */
	KR_E_READ_ONLY = -5,	/* a write while read_only */
	KR_E_TOKEN = -6,	/* the token refused or failed (see kr_last_error) */
	KR_E_STORE = -7,	/* the store is unreadable, tampered or unwritable */
	KR_E_CONFIG = -8,	/* bad configuration */
};

struct kr_meta {
	char	*data_id;
	char	*auth_id;	/* "" for internal keys */
	char	 type[KR_TYPE_MAX + 1];
	size_t	 data_len;
	char	*master_key;	/* label of the master key that wrapped it (kr_list) */
};

struct kr_status {
	char	 module[4096];
	char	 token[64];
	char	 master_key[256];
	char	 store_path[4096];
	uint64_t generation;	/* store generation on disk */
	size_t	 entries;
	int	 read_only;
	int	 cache;		/* configured */
	int	 cache_locked;	/* cache memory is mlock()ed */
	size_t	 cached;	/* secrets currently cached */
	char	 last_error[512];	/* "" when none */
};

/*
 * Open the token (module, login with the PIN from pin_file), find the master
 * and MAC keys by label (refusing duplicates), and load the store (a missing
 * store file is an empty keyring).  On failure returns a kr_err and writes a
 * specific sentence into err; nothing on disk is changed.
 */
int	kr_open(const struct kr_config *cfg, struct kr **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void	kr_close(struct kr *kr);		/* NULL-safe; wipes the cache */

/* Found: *data (secure memory, caller clears) and type filled. */
enum kr_lookup kr_fetch(struct kr *kr, const char *data_id, const char *auth_id,
			struct kl_secret *data, char type[KR_TYPE_MAX + 1]);
/* Found: lengths of the data and of the type string. */
enum kr_lookup kr_lookup_len(struct kr *kr, const char *data_id, const char *auth_id,
			     size_t *data_len, size_t *type_len);

int	kr_store(struct kr *kr, const char *data_id, const char *auth_id,
		 const char *type, const void *data, size_t len);
int	kr_generate(struct kr *kr, const char *data_id, const char *auth_id,
		    const char *type, size_t len);
int	kr_remove(struct kr *kr, const char *data_id, const char *auth_id);
/*
 * When the store file does not exist, write the entries held in memory (none,
 * right after kr_open of a missing store) as a new, MAC'd generation, crash-
 * safely.  Nothing when the file exists.  KR_E_READ_ONLY when read_only.
 */
int	kr_create(struct kr *kr);

/* A snapshot of every entry's metadata, in store order; free with kr_meta_free. */
int	kr_list(struct kr *kr, struct kr_meta **out, size_t *n);
void	kr_meta_free(struct kr_meta *m, size_t n);

/*
 * Maintenance for `keylocker keyring` (long calls: every entry costs token
 * calls).  progress (may be NULL) is called after each entry with the
 * entries done so far; bad (may be NULL) names each entry that fails.
 */
typedef void (*kr_progress_fn)(void *ctx, const char *phase, size_t done, size_t total);
typedef void (*kr_bad_fn)(void *ctx, const char *data_id, const char *auth_id,
		const char *why);

struct kr_report {
	uint64_t generation;	/* of the store checked or written */
	size_t	 entries;
	size_t	 ok;		/* verify: unwrapped; rewrap: re-wrapped */
	size_t	 failed;	/* verify: did not unwrap */
	size_t	 skipped;	/* rewrap: already under the new key */
	size_t	 late;		/* rewrap: changed by another writer meanwhile, re-wrapped under the lock */
	size_t	 lost;		/* restore: current entries absent from the backup or different there */
	char	 saved[4096];	/* restore: where the replaced store was copied ("" if none) */
};

/*
 * Re-read the store file (MAC checked) and unwrap every entry in the token
 * as a sensitive session secret, checking its length; no value leaves the
 * token.  KR_E_STORE when any entry failed (each one reported to bad).
 */
int	kr_verify(struct kr *kr, kr_progress_fn progress, kr_bad_fn bad, void *ctx,
		  struct kr_report *rep) __attribute__((warn_unused_result));

/*
 * Re-wrap every entry under the master key labelled new_master, inside the
 * token (unwrap to a sensitive session secret, wrap, destroy: no cleartext
 * leaves it), then write the store once, crash-safely: after a crash every
 * entry is under its old key or every entry under the new one.  The token
 * work runs without the store lock (the server keeps writing); under the
 * lock, entries another writer changed meanwhile are re-wrapped too.
 * Entries already under new_master are kept as they are, so a re-run after
 * a failure or crash finishes the job.  Other calls on kr wait meanwhile.
 */
int	kr_rewrap(struct kr *kr, const char *new_master, kr_progress_fn progress, void *ctx,
		  struct kr_report *rep) __attribute__((warn_unused_result));

/*
 * Copy the store, under its lock, to dest (created 0600, never over an
 * existing file), fsync it and its directory, read it back and check its
 * MAC.  A missing store is KR_E_MISSING.
 */
int	kr_backup(struct kr *kr, const char *dest, struct kr_report *rep)
	__attribute__((warn_unused_result));

/*
 * Install the backup src as the store: its MAC must verify with this
 * token's MAC key and every entry must unwrap (as kr_verify); then, under
 * the store lock, the current store is copied to <path>.pre-restore-<gen>
 * and the backup's entries are written as a new generation (newer than
 * both, so writers accept it; the current one becomes <path>.prev).
 * Refused (KR_E_EXISTS) when a current entry is missing from the backup or
 * differs there, unless force.  It does not know whether a server holds the
 * keyring open: the caller must make sure none does.
 */
int	kr_restore(struct kr *kr, const char *src, int force, kr_progress_fn progress,
		   kr_bad_fn bad, void *ctx, struct kr_report *rep)
	__attribute__((warn_unused_result));

void	kr_get_status(struct kr *kr, struct kr_status *st);
/* The last error as a sentence ("" when none); valid until the next call. */
const char *kr_last_error(struct kr *kr);
const char *kr_strerror(int err);

#endif
