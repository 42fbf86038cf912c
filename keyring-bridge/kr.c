/*
 * The keyring engine: kr.h over the store (store.c) and the token
 * (kr_p11.c).  One mutex per instance serialises every call; the token
 * client and the set are only touched under it.
 *
 * Write path, for kr_store/kr_generate/kr_remove:
 *   lock <path>.lock; make the set mirror the file (reload it, verified, if
 *   another writer changed it); check the entry; token work; write
 *   generation+1 to disk; only then change the set; unlock.
 * A failure anywhere before the set changes leaves memory and disk as they
 * were.
 */
#include "keyring-bridge/kr.h"
#include "keyring-bridge/kr_p11.h"
#include "keyring-bridge/store.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define LOCK_TIMEOUT_MS	30000

#ifdef KR_TEST_HOOKS
#define CRASH_POINT(step)	kr_test_crash_point(step)
#else
#define CRASH_POINT(step)	do { } while (0)
#endif

struct kr {
	pthread_mutex_t		 lock;		/* protects everything below */
	char			*path;
	char			*module;
	char			*token;
	char			*master_key;
	char			*source;
	int			 read_only;
	int			 cache;
	struct kr_p11		*p11;
	struct kr_mac_ops	 mac;
	struct kr_set		*set;		/* what the file held at set's generation */
	int			 on_disk;	/* the file existed when last read or written */
	unsigned char		 digest[KR_STORE_DIGEST_LEN];	/* ...and its MAC input */
	size_t			 cached;	/* entries with cached data */
	pthread_mutex_t		 err_lock;	/* protects last_error alone: kr_fail */
	char			 last_error[512];	/* runs with or without lock */
};

/* kr_last_error(): per thread, so one thread's failure is not another's */
static _Thread_local char tl_error[512];

static int __attribute__((format(printf, 3, 4)))
kr_fail(struct kr *kr, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tl_error, sizeof(tl_error), fmt, ap);
	va_end(ap);
	if (kr != NULL) {
		pthread_mutex_lock(&kr->err_lock);
		kl_strlcpy(kr->last_error, tl_error, sizeof(kr->last_error));
		pthread_mutex_unlock(&kr->err_lock);
	}
	return r;
}

const char *
kr_strerror(int err)
{
	switch (err) {
	case KR_OK:		return "success";
	case KR_E_INTERNAL:	return "internal error or out of memory";
	case KR_E_INVALID:	return "argument out of limits";
	case KR_E_EXISTS:	return "the entry exists";
	case KR_E_MISSING:	return "no such entry";
	case KR_E_READ_ONLY:	return "the keyring is read-only";
	case KR_E_TOKEN:	return "the token refused or failed";
	case KR_E_STORE:	return "the keyring store is unreadable, tampered or unwritable";
	case KR_E_CONFIG:	return "bad configuration";
	}
	return "unknown error";
}

/*
 * The calling thread's last failure on any instance: per thread, so that
 * one thread's error is not overwritten by another's before it is read.
 * kr_get_status() reports the instance's last failure instead.
 */
const char *
kr_last_error(struct kr *kr)
{
	return tl_error;
}

/* data_id, auth_id (NULL = ""), type within kr.h's limits. */
static int
check_ids(struct kr *kr, const char *data_id, const char **auth_id)
{
	size_t n;

	if (*auth_id == NULL)
		*auth_id = "";
	if (data_id == NULL || (n = strnlen(data_id, KR_DATA_ID_MAX + 1)) == 0 ||
	    n > KR_DATA_ID_MAX)
		return kr_fail(kr, KR_E_INVALID, "data_id must be 1..%d bytes",
		    KR_DATA_ID_MAX);
	if (strnlen(*auth_id, KR_AUTH_ID_MAX + 1) > KR_AUTH_ID_MAX)
		return kr_fail(kr, KR_E_INVALID, "auth_id of '%.200s' is longer than %d "
		    "bytes", data_id, KR_AUTH_ID_MAX);
	return 0;
}

static int
check_type(struct kr *kr, const char *data_id, const char *type)
{
	size_t n;

	if (type == NULL || (n = strnlen(type, KR_TYPE_MAX + 1)) == 0 || n > KR_TYPE_MAX)
		return kr_fail(kr, KR_E_INVALID, "type of '%.200s' must be 1..%d bytes",
		    data_id, KR_TYPE_MAX);
	return 0;
}

/* The entry's name for messages: "'id'" or "'id' of 'auth'". */
static const char *
entry_name(const char *data_id, const char *auth_id, char *buf, size_t len)
{
	if (auth_id[0] == '\0')
		snprintf(buf, len, "'%.200s'", data_id);
	else
		snprintf(buf, len, "'%.200s' of '%.100s'", data_id, auth_id);
	return buf;
}

/*
 * Replace kr->set with fresh, a newer generation read from disk.  Cached
 * data moves over for entries whose blob did not change.
 */
static void
adopt_set_inlock(struct kr *kr, struct kr_set *fresh)
{
	struct kr_entry *o, *n;
	size_t i;

	kr->cached = 0;
	for (i = 0; i < kr_set_count(fresh); i++) {
		n = kr_set_entry(fresh, i);
		o = kr_set_find(kr->set, n->data_id, n->auth_id);
		if (o == NULL || o->cached.p == NULL || o->blob_len != n->blob_len ||
		    o->data_len != n->data_len || memcmp(o->blob, n->blob, n->blob_len) != 0)
			continue;
		n->cached = o->cached;
		o->cached.p = NULL;
		o->cached.len = 0;
		kr->cached++;
	}
	kr_set_free(kr->set);	/* wipes what did not move */
	kr->set = fresh;
}

/*
 * With the file lock held: make kr->set mirror the store file, so that a
 * write never drops what another writer (keylocker keyring rewrap, a second
 * instance) put there.
 */
static int
sync_inlock(struct kr *kr)
{
	unsigned char *buf = NULL, dg[KR_STORE_DIGEST_LEN];
	struct kr_set *fresh = NULL;
	char err[512];
	size_t len = 0;
	uint64_t ours = kr_set_generation(kr->set);
	int exists = 0, r;

	if ((r = kr_store_read(kr->path, &buf, &len, &exists, err, sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s", err);
		goto out;
	}
	if (!exists) {
		if (kr->on_disk && kr_set_count(kr->set) > 0)
			kl_warn("keyring store %s disappeared (generation %llu, %zu "
			    "entries); writing the entries held in memory back",
			    kr->path, (unsigned long long)ours, kr_set_count(kr->set));
		kr->on_disk = 0;
		r = 0;
		goto out;
	}
	/* unchanged since we read or wrote it: nothing to do */
	if (kr->on_disk && len >= KR_STORE_MAC_LEN &&
	    kr_store_digest(buf, len - KR_STORE_MAC_LEN, dg) == 0 &&
	    CRYPTO_memcmp(dg, kr->digest, sizeof(dg)) == 0) {
		r = 0;
		goto out;
	}
	if ((r = kr_store_parse(buf, len, kr->path, &kr->mac, &fresh, dg,
	    err, sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s (changed on disk since generation %llu was "
		    "loaded); nothing was written", err, (unsigned long long)ours);
		goto out;
	}
	/*
	 * Every writer moves the generation forward.  An older or equal one
	 * that differs means the file was replaced by an older copy: writing
	 * over it would drop keys on one side or the other, so refuse.
	 */
	if (kr_set_generation(fresh) <= ours) {
		r = kr_fail(kr, KR_E_STORE, "keyring store %s went back from generation "
		    "%llu to %llu (restored from an older copy?); refusing to write over "
		    "it: reload the keyring to accept the file as it is, or restore the "
		    "newer one", kr->path, (unsigned long long)ours,
		    (unsigned long long)kr_set_generation(fresh));
		goto out;
	}
	kl_info("keyring store %s: generation %llu written by another process; "
	    "reloaded (was %llu)", kr->path,
	    (unsigned long long)kr_set_generation(fresh), (unsigned long long)ours);
	adopt_set_inlock(kr, fresh);
	fresh = NULL;
	memcpy(kr->digest, dg, sizeof(dg));
	kr->on_disk = 1;
	r = 0;
 out:
	kr_set_free(fresh);
	free(buf);
	return r;
}

/* Write generation + 1 with add appended or skip left out; the set is unchanged. */
static int
commit_inlock(struct kr *kr, struct kr_entry *add, struct kr_entry *skip)
{
	unsigned char dg[KR_STORE_DIGEST_LEN];
	char err[512];
	uint64_t gen = kr_set_generation(kr->set) + 1;
	int r;

	if ((r = kr_store_commit(kr->path, kr->set, gen, add, skip, &kr->mac, dg,
	    err, sizeof(err))) != 0)
		return kr_fail(kr, r, "%s", err);
	memcpy(kr->digest, dg, sizeof(dg));
	kr->on_disk = 1;
	kr_set_set_generation(kr->set, gen);
	CRASH_POINT("committed");
	return 0;
}

static int
begin_write_inlock(struct kr *kr, int *lockfd)
{
	char err[512];
	int r;

	*lockfd = -1;
	if (kr->read_only)
		return kr_fail(kr, KR_E_READ_ONLY, "keyring store %s is read-only "
		    "(read_only is set%s%s)", kr->path, kr->source != NULL ? " in " : "",
		    kr->source != NULL ? kr->source : "");
	if ((r = kr_store_lock(kr->path, lockfd, LOCK_TIMEOUT_MS, err, sizeof(err))) != 0)
		return kr_fail(kr, r, "%s", err);
	if ((r = sync_inlock(kr)) != 0) {
		kr_store_unlock(*lockfd);
		*lockfd = -1;
	}
	return r;
}

/* kr_store and kr_generate: data NULL means generate len bytes in the token. */
static int
add_entry(struct kr *kr, const char *data_id, const char *auth_id, const char *type,
    const void *data, size_t len)
{
	const struct kr_mkey *mk;
	struct kr_entry *e = NULL;
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	char err[512], name[400];
	uint16_t mki;
	int r, lockfd = -1;

	return_val_if_fail(kr != NULL, KR_E_INVALID);
	tl_error[0] = '\0';
	if ((r = check_ids(kr, data_id, &auth_id)) != 0 ||
	    (r = check_type(kr, data_id, type)) != 0)
		return r;
	if (len == 0 || len > KR_DATA_MAX)
		return kr_fail(kr, KR_E_INVALID, "data of '%.200s' must be 1..%d bytes, "
		    "not %zu", data_id, KR_DATA_MAX, len);
	entry_name(data_id, auth_id, name, sizeof(name));

	pthread_mutex_lock(&kr->lock);
	if ((r = begin_write_inlock(kr, &lockfd)) != 0)
		goto out;
	if (kr_set_find(kr->set, data_id, auth_id) != NULL) {
		r = kr_fail(kr, KR_E_EXISTS, "keyring entry %s exists", name);
		goto out;
	}
	if (data != NULL)
		r = kr_p11_wrap(kr->p11, data_id, data, len, &blob, &blob_len, err,
		    sizeof(err));
	else
		r = kr_p11_generate(kr->p11, data_id, len, &blob, &blob_len, err,
		    sizeof(err));
	if (r != 0) {
		r = kr_fail(kr, r, "cannot %s keyring entry %s: %s",
		    data != NULL ? "store" : "generate", name, err);
		goto out;
	}
	mk = kr_p11_master(kr->p11);
	if ((r = kr_set_mkey(kr->set, mk->label, mk->id, mk->id_len, &mki)) != 0) {
		r = kr_fail(kr, r, "cannot record master key '%s' for %s: %s", mk->label,
		    name, kr_strerror(r));
		goto out;
	}
	if ((e = kr_entry_new(data_id, auth_id, type, len, blob, blob_len, mki)) == NULL ||
	    kr_set_reserve(kr->set, 1) != 0) {
		r = kr_fail(kr, KR_E_INTERNAL, "out of memory adding %s", name);
		goto out;
	}
	if ((r = commit_inlock(kr, e, NULL)) != 0)
		goto out;
	/* on disk: now the set may change, and cannot fail to */
	kr_set_insert(kr->set, e);
	e = NULL;
	r = 0;
 out:
	kr_store_unlock(lockfd);
	pthread_mutex_unlock(&kr->lock);
	kr_entry_free(e);
	free(blob);
	return r;
}

int
kr_store(struct kr *kr, const char *data_id, const char *auth_id, const char *type,
    const void *data, size_t len)
{
	if (data == NULL)
		return kr_fail(kr, KR_E_INVALID, "no data to store");
	return add_entry(kr, data_id, auth_id, type, data, len);
}

int
kr_generate(struct kr *kr, const char *data_id, const char *auth_id, const char *type,
    size_t len)
{
	return add_entry(kr, data_id, auth_id, type, NULL, len);
}

int
kr_remove(struct kr *kr, const char *data_id, const char *auth_id)
{
	struct kr_entry *e;
	char name[400];
	int r, lockfd = -1;

	return_val_if_fail(kr != NULL, KR_E_INVALID);
	tl_error[0] = '\0';
	if ((r = check_ids(kr, data_id, &auth_id)) != 0)
		return r;
	entry_name(data_id, auth_id, name, sizeof(name));
	pthread_mutex_lock(&kr->lock);
	if ((r = begin_write_inlock(kr, &lockfd)) != 0)
		goto out;
	if ((e = kr_set_find(kr->set, data_id, auth_id)) == NULL) {
		r = kr_fail(kr, KR_E_MISSING, "keyring entry %s does not exist", name);
		goto out;
	}
	if ((r = commit_inlock(kr, NULL, e)) != 0)
		goto out;
	if (e->cached.p != NULL)
		kr->cached--;
	kr_set_remove(kr->set, e);	/* wipes its cached data */
	r = 0;
 out:
	kr_store_unlock(lockfd);
	pthread_mutex_unlock(&kr->lock);
	return r;
}

int
kr_create(struct kr *kr)
{
	int r, lockfd = -1;

	return_val_if_fail(kr != NULL, KR_E_INVALID);
	tl_error[0] = '\0';
	pthread_mutex_lock(&kr->lock);
	/* begin_write_inlock re-reads the file: on_disk then says whether it exists */
	if ((r = begin_write_inlock(kr, &lockfd)) == 0 && !kr->on_disk)
		r = commit_inlock(kr, NULL, NULL);
	kr_store_unlock(lockfd);
	pthread_mutex_unlock(&kr->lock);
	return r;
}

enum kr_lookup
kr_fetch(struct kr *kr, const char *data_id, const char *auth_id,
    struct kl_secret *data, char type[KR_TYPE_MAX + 1])
{
	const struct kr_mkey *mk;
	struct kr_entry *e;
	struct kl_secret s = { NULL, 0 };
	char err[512], name[400];
	enum kr_lookup res = KR_ERROR;
	int r;

	return_val_if_fail(kr != NULL && data != NULL && type != NULL, KR_ERROR);
	data->p = NULL;
	data->len = 0;
	type[0] = '\0';
	tl_error[0] = '\0';
	if (check_ids(kr, data_id, &auth_id) != 0)
		return KR_ERROR;
	entry_name(data_id, auth_id, name, sizeof(name));
	pthread_mutex_lock(&kr->lock);
	if ((e = kr_set_find(kr->set, data_id, auth_id)) == NULL) {
		res = KR_MISSING;
		goto out;
	}
	if (e->cached.p != NULL) {
		if (kl_secret_dup(data, e->cached.p, e->cached.len) != 0) {
			kr_fail(kr, KR_E_INTERNAL, "out of secure memory fetching %s", name);
			goto out;
		}
	} else {
		mk = kr_set_mkey_get(kr->set, e->mkey);
		if ((r = kr_p11_unwrap(kr->p11, mk, data_id, e->blob, e->blob_len,
		    e->data_len, &s, err, sizeof(err))) != 0) {
			kr_fail(kr, r, "cannot fetch keyring entry %s: %s", name, err);
			goto out;
		}
		if (s.len != e->data_len) {
			kr_fail(kr, KR_E_STORE, "keyring entry %s unwrapped to %zu bytes, "
			    "but the store says %u", name, s.len, e->data_len);
			goto out;
		}
		/* the cache is best effort: without memory, serve uncached */
		if (kr->cache && kl_secret_dup(&e->cached, s.p, s.len) == 0)
			kr->cached++;
		*data = s;
		s.p = NULL;
		s.len = 0;
	}
	memcpy(type, e->type, strlen(e->type) + 1);
	res = KR_FOUND;
 out:
	pthread_mutex_unlock(&kr->lock);
	kl_secret_clear(&s);
	return res;
}

enum kr_lookup
kr_lookup_len(struct kr *kr, const char *data_id, const char *auth_id,
    size_t *data_len, size_t *type_len)
{
	struct kr_entry *e;
	enum kr_lookup res = KR_MISSING;

	return_val_if_fail(kr != NULL && data_len != NULL && type_len != NULL, KR_ERROR);
	tl_error[0] = '\0';
	if (check_ids(kr, data_id, &auth_id) != 0)
		return KR_ERROR;
	pthread_mutex_lock(&kr->lock);
	if ((e = kr_set_find(kr->set, data_id, auth_id)) != NULL) {
		*data_len = e->data_len;
		*type_len = strlen(e->type);
		res = KR_FOUND;
	}
	pthread_mutex_unlock(&kr->lock);
	return res;
}

void
kr_meta_free(struct kr_meta *m, size_t n)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(m[i].data_id);
		free(m[i].auth_id);
		free(m[i].master_key);
	}
	free(m);
}

int
kr_list(struct kr *kr, struct kr_meta **out, size_t *n)
{
	struct kr_meta *m = NULL;
	struct kr_entry *e;
	size_t i, count = 0;
	int r = KR_E_INTERNAL;

	return_val_if_fail(kr != NULL && out != NULL && n != NULL, KR_E_INVALID);
	*out = NULL;
	*n = 0;
	tl_error[0] = '\0';
	pthread_mutex_lock(&kr->lock);
	count = kr_set_count(kr->set);
	if (count > 0 && (m = calloc(count, sizeof(*m))) == NULL) {
		r = kr_fail(kr, KR_E_INTERNAL, "out of memory listing %zu entries", count);
		goto out;
	}
	for (i = 0; i < count; i++) {
		e = kr_set_entry(kr->set, i);
		if ((m[i].data_id = strdup(e->data_id)) == NULL ||
		    (m[i].auth_id = strdup(e->auth_id)) == NULL ||
		    (m[i].master_key = strdup(kr_set_mkey_get(kr->set, e->mkey)->label)) ==
		    NULL) {
			r = kr_fail(kr, KR_E_INTERNAL, "out of memory listing %zu entries",
			    count);
			goto out;
		}
		memcpy(m[i].type, e->type, sizeof(m[i].type));
		m[i].data_len = e->data_len;
	}
	*out = m;
	*n = count;
	m = NULL;
	r = 0;
 out:
	pthread_mutex_unlock(&kr->lock);
	kr_meta_free(m, count);
	return r;
}

/* ---- maintenance: verify, rewrap, backup, restore ---- */

/* Unwrap-check every entry of set in the token; counts into rep. */
static void
verify_set_inlock(struct kr *kr, const struct kr_set *set, const char *phase,
    kr_progress_fn progress, kr_bad_fn bad, void *ctx, struct kr_report *rep)
{
	struct kr_entry *e;
	char err[512];
	size_t i, n = kr_set_count(set);

	for (i = 0; i < n; i++) {
		e = kr_set_entry(set, i);
		if (kr_p11_check(kr->p11, kr_set_mkey_get(set, e->mkey), e->data_id, e->blob,
		    e->blob_len, e->data_len, err, sizeof(err)) == 0) {
			rep->ok++;
		} else {
			rep->failed++;
			if (bad != NULL)
				bad(ctx, e->data_id, e->auth_id, err);
		}
		if (progress != NULL)
			progress(ctx, phase, i + 1, n);
	}
}

int
kr_verify(struct kr *kr, kr_progress_fn progress, kr_bad_fn bad, void *ctx,
    struct kr_report *rep)
{
	struct kr_set *set = NULL;
	unsigned char dg[KR_STORE_DIGEST_LEN];
	char err[512];
	int r, exists = 0;

	return_val_if_fail(kr != NULL && rep != NULL, KR_E_INVALID);
	memset(rep, 0, sizeof(*rep));
	tl_error[0] = '\0';
	pthread_mutex_lock(&kr->lock);
	if ((r = kr_store_load(kr->path, &kr->mac, &set, &exists, dg, err,
	    sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s", err);
		goto out;
	}
	rep->generation = kr_set_generation(set);
	rep->entries = kr_set_count(set);
	verify_set_inlock(kr, set, "verify", progress, bad, ctx, rep);
	r = rep->failed == 0 ? 0 : kr_fail(kr, KR_E_STORE, "%zu of the %zu entries of "
	    "keyring store %s did not unwrap", rep->failed, rep->entries, kr->path);
 out:
	pthread_mutex_unlock(&kr->lock);
	kr_set_free(set);
	return r;
}

/* A copy of src for dst (mkey index di of dst), with blob (NULL: src's). */
static int
copy_entry(struct kr_set *dst, const struct kr_entry *src, const unsigned char *blob,
    uint16_t di)
{
	struct kr_entry *e;

	if ((e = kr_entry_new(src->data_id, src->auth_id, src->type, src->data_len,
	    blob != NULL ? blob : src->blob, src->blob_len, di)) == NULL)
		return KR_E_INTERNAL;
	kr_set_insert(dst, e);		/* reserved by the caller */
	return 0;
}

/* Re-wrap e (of set) under to into dst. */
static int
rewrap_into_inlock(struct kr *kr, const struct kr_set *set, const struct kr_entry *e,
    const struct kr_mkey *to, struct kr_set *dst, uint16_t di)
{
	unsigned char *blob = NULL;
	char err[512], name[400];
	int r;

	entry_name(e->data_id, e->auth_id, name, sizeof(name));
	if ((r = kr_p11_rewrap(kr->p11, kr_set_mkey_get(set, e->mkey), to, e->data_id,
	    e->blob, e->blob_len, e->data_len, &blob, err, sizeof(err))) != 0)
		return kr_fail(kr, r, "cannot re-wrap keyring entry %s under master key "
		    "'%s': %s; nothing was written", name, to->label, err);
	r = copy_entry(dst, e, blob, di);
	free(blob);
	if (r != 0)
		return kr_fail(kr, r, "out of memory re-wrapping %s", name);
	return 0;
}

/*
 * With the file lock held: the store as it is on disk now.  *base is
 * kr->set when the file did not change since it was loaded, else a newer
 * generation in *fresh (owned by the caller; dg gets its MAC input).
 * *gone: the file vanished.
 */
static int
current_inlock(struct kr *kr, struct kr_set **base, struct kr_set **fresh, int *gone,
    unsigned char dg[KR_STORE_DIGEST_LEN])
{
	unsigned char *buf = NULL;
	char err[512];
	size_t len = 0;
	int exists = 0, r;

	*base = kr->set;
	*fresh = NULL;
	*gone = 0;
	if ((r = kr_store_read(kr->path, &buf, &len, &exists, err, sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s", err);
		goto out;
	}
	if (!exists) {
		*gone = kr->on_disk;
		r = 0;
		goto out;
	}
	if (kr->on_disk && len >= KR_STORE_MAC_LEN &&
	    kr_store_digest(buf, len - KR_STORE_MAC_LEN, dg) == 0 &&
	    CRYPTO_memcmp(dg, kr->digest, KR_STORE_DIGEST_LEN) == 0) {
		r = 0;
		goto out;
	}
	if ((r = kr_store_parse(buf, len, kr->path, &kr->mac, fresh, dg,
	    err, sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s (changed on disk since it was loaded); nothing was "
		    "written", err);
		goto out;
	}
	if (kr_set_generation(*fresh) <= kr_set_generation(kr->set)) {
		r = kr_fail(kr, KR_E_STORE, "keyring store %s went back from generation "
		    "%llu to %llu while it was being worked on (restored from an older "
		    "copy?); nothing was written", kr->path,
		    (unsigned long long)kr_set_generation(kr->set),
		    (unsigned long long)kr_set_generation(*fresh));
		kr_set_free(*fresh);
		*fresh = NULL;
		goto out;
	}
	*base = *fresh;
	r = 0;
 out:
	free(buf);
	return r;
}

/* kr->set := set, just written as generation gen with MAC input dg. */
static void
install_set_inlock(struct kr *kr, struct kr_set *set, uint64_t gen,
    const unsigned char dg[KR_STORE_DIGEST_LEN])
{
	kr_set_set_generation(set, gen);
	kr_set_free(kr->set);		/* wipes the cache */
	kr->set = set;
	kr->cached = 0;
	memcpy(kr->digest, dg, KR_STORE_DIGEST_LEN);
	kr->on_disk = 1;
}

int
kr_rewrap(struct kr *kr, const char *new_master, kr_progress_fn progress, void *ctx,
    struct kr_report *rep)
{
	struct kr_set *nset = NULL, *fresh = NULL, *final = NULL, *base;
	const struct kr_entry *e, *n, *o;
	struct kr_mkey to;
	unsigned char dg[KR_STORE_DIGEST_LEN], fdg[KR_STORE_DIGEST_LEN];
	char err[512];
	uint16_t ni, fi;
	uint64_t gen;
	size_t i, count;
	int r, lockfd = -1, gone = 0;

	return_val_if_fail(kr != NULL && new_master != NULL && rep != NULL, KR_E_INVALID);
	memset(rep, 0, sizeof(*rep));
	tl_error[0] = '\0';
	pthread_mutex_lock(&kr->lock);
	if (kr->read_only) {
		r = kr_fail(kr, KR_E_READ_ONLY, "keyring store %s is read-only", kr->path);
		goto out;
	}
	if ((r = kr_p11_find_mkey(kr->p11, new_master, &to, err, sizeof(err))) != 0) {
		r = kr_fail(kr, r, "cannot use the new master key: %s", err);
		goto out;
	}

	/* 1. the token work, without the store lock: the server keeps writing */
	count = kr_set_count(kr->set);
	if ((nset = kr_set_new()) == NULL || kr_set_reserve(nset, count) != 0 ||
	    kr_set_mkey(nset, to.label, to.id, to.id_len, &ni) != 0) {
		r = kr_fail(kr, KR_E_INTERNAL, "out of memory for %zu entries", count);
		goto out;
	}
	for (i = 0; i < count; i++) {
		e = kr_set_entry(kr->set, i);
		if (kr_mkey_eq(kr_set_mkey_get(kr->set, e->mkey), &to)) {
			rep->skipped++;
		} else {
			if ((r = rewrap_into_inlock(kr, kr->set, e, &to, nset, ni)) != 0)
				goto out;
			CRASH_POINT("rewrap-entry");
		}
		if (progress != NULL)
			progress(ctx, "rewrap", i + 1, count);
	}

	/* 2. under the lock: what another writer changed meanwhile, then one write */
	if ((r = kr_store_lock(kr->path, &lockfd, LOCK_TIMEOUT_MS, err, sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s; nothing was written", err);
		goto out;
	}
	CRASH_POINT("rewrap-locked");
	if ((r = current_inlock(kr, &base, &fresh, &gone, fdg)) != 0)
		goto out;
	if (gone) {
		r = kr_fail(kr, KR_E_STORE, "keyring store %s disappeared while it was "
		    "being re-wrapped; nothing was written: find out what removed it",
		    kr->path);
		goto out;
	}
	count = kr_set_count(base);
	rep->entries = count;
	rep->generation = kr_set_generation(base);
	if ((final = kr_set_new()) == NULL || kr_set_reserve(final, count) != 0 ||
	    kr_set_mkey(final, to.label, to.id, to.id_len, &fi) != 0) {
		r = kr_fail(kr, KR_E_INTERNAL, "out of memory for %zu entries", count);
		goto out;
	}
	rep->skipped = 0;
	for (i = 0; i < count; i++) {
		const struct kr_mkey *bm;

		e = kr_set_entry(base, i);
		bm = kr_set_mkey_get(base, e->mkey);
		if (kr_mkey_eq(bm, &to)) {
			rep->skipped++;
			r = copy_entry(final, e, NULL, fi);
		} else if ((n = kr_set_find(nset, e->data_id, e->auth_id)) != NULL &&
		    (o = kr_set_find(kr->set, e->data_id, e->auth_id)) != NULL &&
		    o->blob_len == e->blob_len && memcmp(o->blob, e->blob, e->blob_len) == 0 &&
		    kr_mkey_eq(kr_set_mkey_get(kr->set, o->mkey), bm)) {
			rep->ok++;
			r = copy_entry(final, e, n->blob, fi);
		} else {
			/* new or changed since phase 1: re-wrap it now */
			if ((r = rewrap_into_inlock(kr, base, e, &to, final, fi)) != 0)
				goto out;
			rep->ok++;
			rep->late++;
		}
		if (r != 0) {
			r = kr_fail(kr, r, "out of memory re-wrapping %zu entries", count);
			goto out;
		}
	}
	if (rep->ok == 0) {
		/* everything is under the new key already: nothing to write */
		if (fresh != NULL) {
			adopt_set_inlock(kr, fresh);
			fresh = NULL;
			memcpy(kr->digest, fdg, sizeof(fdg));
			kr->on_disk = 1;
		}
		r = 0;
		goto out;
	}
	gen = kr_set_generation(base) + 1;
	if ((r = kr_store_commit(kr->path, final, gen, NULL, NULL, &kr->mac, dg, err,
	    sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s", err);
		goto out;
	}
	CRASH_POINT("committed");
	install_set_inlock(kr, final, gen, dg);
	final = NULL;
	rep->generation = gen;
	r = 0;
 out:
	kr_store_unlock(lockfd);
	pthread_mutex_unlock(&kr->lock);
	kr_set_free(nset);
	kr_set_free(fresh);
	kr_set_free(final);
	return r;
}

/*
 * buf into a new file dest (never over an existing one): dest.tmp, fsync,
 * link to dest, unlink the temp, fsync the directory.
 */
static int
write_new_file(struct kr *kr, const char *dest, const unsigned char *buf, size_t len)
{
	char tmp[4200];
	int fd = -1, r = KR_E_STORE;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", dest) >= sizeof(tmp))
		return kr_fail(kr, KR_E_INVALID, "path %.200s... is too long", dest);
	if (access(dest, F_OK) == 0)
		return kr_fail(kr, KR_E_EXISTS, "%s exists: not overwriting it", dest);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		r = kr_fail(kr, KR_E_STORE, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (kr_write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
		r = kr_fail(kr, KR_E_STORE, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		r = kr_fail(kr, KR_E_STORE, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (link(tmp, dest) != 0) {
		r = kr_fail(kr, errno == EEXIST ? KR_E_EXISTS : KR_E_STORE, "cannot create "
		    "%s: %s", dest, strerror(errno));
		goto out;
	}
	if (kl_fsync_parent_dir(dest) != 0) {
		r = kr_fail(kr, KR_E_STORE, "wrote %s but cannot fsync its directory: %s",
		    dest, strerror(errno));
		goto out;
	}
	r = 0;
 out:
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp);
	return r;
}

int
kr_backup(struct kr *kr, const char *dest, struct kr_report *rep)
{
	struct kr_set *set = NULL, *again = NULL;
	unsigned char *buf = NULL, *back = NULL, dg[KR_STORE_DIGEST_LEN];
	char err[512];
	size_t len = 0, blen = 0;
	int r, exists = 0, lockfd = -1;

	return_val_if_fail(kr != NULL && dest != NULL && rep != NULL, KR_E_INVALID);
	memset(rep, 0, sizeof(*rep));
	tl_error[0] = '\0';
	pthread_mutex_lock(&kr->lock);
	if ((r = kr_store_lock(kr->path, &lockfd, LOCK_TIMEOUT_MS, err, sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s", err);
		goto out;
	}
	if ((r = kr_store_read(kr->path, &buf, &len, &exists, err, sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s", err);
		goto out;
	}
	if (!exists) {
		r = kr_fail(kr, KR_E_MISSING, "keyring store %s does not exist: nothing to "
		    "back up", kr->path);
		goto out;
	}
	if ((r = kr_store_parse(buf, len, kr->path, &kr->mac, &set, dg, err,
	    sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s; not backing up a store that does not verify", err);
		goto out;
	}
	if ((r = write_new_file(kr, dest, buf, len)) != 0)
		goto out;
	kr_store_unlock(lockfd);
	lockfd = -1;
	/* read back what is on disk now, and check it as a store */
	if ((r = kr_store_read(dest, &back, &blen, &exists, err, sizeof(err))) != 0 ||
	    !exists || blen != len || memcmp(back, buf, len) != 0 ||
	    (r = kr_store_parse(back, blen, dest, &kr->mac, &again, dg, err,
	    sizeof(err))) != 0) {
		r = kr_fail(kr, KR_E_STORE, "backup %s does not read back as written%s%s",
		    dest, r != 0 ? ": " : "", r != 0 ? err : "");
		goto out;
	}
	rep->generation = kr_set_generation(again);
	rep->entries = kr_set_count(again);
	r = 0;
 out:
	kr_store_unlock(lockfd);
	pthread_mutex_unlock(&kr->lock);
	kr_set_free(set);
	kr_set_free(again);
	free(buf);
	free(back);
	return r;
}

int
kr_restore(struct kr *kr, const char *src, int force, kr_progress_fn progress,
    kr_bad_fn bad, void *ctx, struct kr_report *rep)
{
	struct kr_set *bset = NULL, *cur = NULL;
	const struct kr_entry *c, *b;
	unsigned char *buf = NULL, *cbuf = NULL, dg[KR_STORE_DIGEST_LEN];
	char err[512], prev[4200], first[400] = "";
	size_t len = 0, clen = 0, i;
	uint64_t gen, pgen, cg = 0;
	int r, exists = 0, lockfd = -1;

	return_val_if_fail(kr != NULL && src != NULL && rep != NULL, KR_E_INVALID);
	memset(rep, 0, sizeof(*rep));
	tl_error[0] = '\0';
	pthread_mutex_lock(&kr->lock);
	if (kr->read_only) {
		r = kr_fail(kr, KR_E_READ_ONLY, "keyring store %s is read-only", kr->path);
		goto out;
	}
	/* 1. the backup: this token's MAC, and every entry unwraps here */
	if ((r = kr_store_read(src, &buf, &len, &exists, err, sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s", err);
		goto out;
	}
	if (!exists) {
		r = kr_fail(kr, KR_E_MISSING, "backup %s does not exist", src);
		goto out;
	}
	if ((r = kr_store_parse(buf, len, src, &kr->mac, &bset, dg, err,
	    sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s; a backup made for another token or MAC key, or a "
		    "modified one, is never installed", err);
		goto out;
	}
	rep->entries = kr_set_count(bset);
	verify_set_inlock(kr, bset, "restore-verify", progress, bad, ctx, rep);
	if (rep->failed > 0) {
		r = kr_fail(kr, KR_E_STORE, "%zu of the %zu entries of backup %s do not "
		    "unwrap with this token; nothing was installed", rep->failed,
		    rep->entries, src);
		goto out;
	}

	/* 2. under the lock: what the current store would lose */
	if ((r = kr_store_lock(kr->path, &lockfd, LOCK_TIMEOUT_MS, err, sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s", err);
		goto out;
	}
	if ((r = kr_store_read(kr->path, &cbuf, &clen, &exists, err, sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s", err);
		goto out;
	}
	gen = kr_set_generation(bset);
	if (exists && kr_store_peek_generation(kr->path, &cg) == 0 && cg > gen)
		gen = cg;
	snprintf(prev, sizeof(prev), "%s.prev", kr->path);
	if (kr_store_peek_generation(prev, &pgen) == 0 && pgen > gen)
		gen = pgen;
	if (kr_set_generation(kr->set) > gen)
		gen = kr_set_generation(kr->set);
	if (exists && kr_store_parse(cbuf, clen, kr->path, &kr->mac, &cur, dg, err,
	    sizeof(err)) == 0) {
		for (i = 0; i < kr_set_count(cur); i++) {
			c = kr_set_entry(cur, i);
			b = kr_set_find(bset, c->data_id, c->auth_id);
			if (b != NULL && b->blob_len == c->blob_len &&
			    memcmp(b->blob, c->blob, c->blob_len) == 0)
				continue;
			/*
			 * RFC 5649 is deterministic: under the same key another blob
			 * is another secret.  Under another key (a rewrap since) it
			 * cannot be told without the cleartext: counted as kept.
			 */
			if (b != NULL && b->data_len == c->data_len &&
			    !kr_mkey_eq(kr_set_mkey_get(bset, b->mkey), kr_set_mkey_get(cur, c->mkey)))
				continue;
			if (rep->lost++ == 0)
				entry_name(c->data_id, c->auth_id, first, sizeof(first));
		}
	} else if (exists) {
		kl_warn("the current keyring store does not verify (%s): replacing it", err);
	}
	if (rep->lost > 0 && !force) {
		r = kr_fail(kr, KR_E_EXISTS, "the current keyring store %s holds %zu "
		    "entr%s that backup %s lacks or holds differently (first: %s); "
		    "installing it would lose %s: nothing was installed (forcing it, "
		    "keylocker keyring restore --force, installs it anyway)", kr->path, rep->lost, rep->lost == 1 ? "y" : "ies", src, first,
		    rep->lost == 1 ? "that key" : "those keys");
		goto out;
	}
	/* 3. keep the current store where no later write recycles it */
	if (exists) {
		snprintf(rep->saved, sizeof(rep->saved), "%s.pre-restore-%llu", kr->path,
		    (unsigned long long)cg);
		if (access(rep->saved, F_OK) != 0 &&
		    (r = write_new_file(kr, rep->saved, cbuf, clen)) != 0)
			goto out;
	}
	/* 4. the backup's entries as the newest generation */
	gen++;
	if ((r = kr_store_commit(kr->path, bset, gen, NULL, NULL, &kr->mac, dg, err,
	    sizeof(err))) != 0) {
		r = kr_fail(kr, r, "%s", err);
		goto out;
	}
	install_set_inlock(kr, bset, gen, dg);
	bset = NULL;
	rep->generation = gen;
	r = 0;
 out:
	kr_store_unlock(lockfd);
	pthread_mutex_unlock(&kr->lock);
	kr_set_free(bset);
	kr_set_free(cur);
	free(buf);
	free(cbuf);
	return r;
}

void
kr_get_status(struct kr *kr, struct kr_status *st)
{
	return_if_fail(kr != NULL && st != NULL);
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&kr->lock);
	kl_strlcpy(st->module, kr->module, sizeof(st->module));
	kl_strlcpy(st->token, kr->token, sizeof(st->token));
	kl_strlcpy(st->master_key, kr->master_key, sizeof(st->master_key));
	kl_strlcpy(st->store_path, kr->path, sizeof(st->store_path));
	st->generation = kr_set_generation(kr->set);
	st->entries = kr_set_count(kr->set);
	st->read_only = kr->read_only;
	st->cache = kr->cache;
	st->cache_locked = kr->cache && kl_secure_locked();
	st->cached = kr->cached;
	pthread_mutex_unlock(&kr->lock);
	pthread_mutex_lock(&kr->err_lock);
	kl_strlcpy(st->last_error, kr->last_error, sizeof(st->last_error));
	pthread_mutex_unlock(&kr->err_lock);
}

static int
check_set(const char *s, const char *what, int *bad, char *err, size_t errlen)
{
	if (*bad == 0 && (s == NULL || *s == '\0')) {
		snprintf(err, errlen, "keyring configuration: %s is not set", what);
		*bad = KR_E_CONFIG;
	}
	return *bad;
}

/* Release everything; mutex_ok says whether kr->lock was initialised. */
static void
kr_destroy(struct kr *kr, int mutex_ok)
{
	if (kr == NULL)
		return;
	kr_set_free(kr->set);		/* wipes the cache */
	kr_p11_close(kr->p11);
	free(kr->path);
	free(kr->module);
	free(kr->token);
	free(kr->master_key);
	free(kr->source);
	if (mutex_ok) {
		pthread_mutex_destroy(&kr->lock);
		pthread_mutex_destroy(&kr->err_lock);
	}
	OPENSSL_cleanse(kr, sizeof(*kr));
	free(kr);
}

int
kr_open(const struct kr_config *cfg, struct kr **out, char *err, size_t errlen)
{
	struct kr_p11_config pc;
	struct kr *kr = NULL;
	char prev[4096];
	uint64_t pgen;
	int r = KR_E_INTERNAL, bad = 0, exists = 0, mutex_ok = 0;

	return_val_if_fail(cfg != NULL && out != NULL && err != NULL, KR_E_INVALID);
	*out = NULL;
	err[0] = '\0';
	if ((kr = calloc(1, sizeof(*kr))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	check_set(cfg->path, "path (the keyring store file)", &bad, err, errlen);
	check_set(cfg->module, "the PKCS#11 module", &bad, err, errlen);
	check_set(cfg->token, "the token label", &bad, err, errlen);
	check_set(cfg->master_key, "the master key label", &bad, err, errlen);
	check_set(cfg->mac_key, "the MAC key label", &bad, err, errlen);
	check_set(cfg->pin_file, "the PIN file", &bad, err, errlen);
	if (bad) {
		r = bad;
		goto out;
	}
	if ((kr->path = strdup(cfg->path)) == NULL ||
	    (kr->module = strdup(cfg->module)) == NULL ||
	    (kr->token = strdup(cfg->token)) == NULL ||
	    (kr->master_key = strdup(cfg->master_key)) == NULL ||
	    (cfg->source != NULL && (kr->source = strdup(cfg->source)) == NULL)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (strlen(kr->path) + sizeof(".prev") > sizeof(prev)) {
		snprintf(err, errlen, "keyring store path %.200s... is too long", kr->path);
		r = KR_E_CONFIG;
		goto out;
	}
	kr->read_only = cfg->read_only != 0;
	kr->cache = cfg->cache != 0;
	if (pthread_mutex_init(&kr->lock, NULL) != 0) {
		snprintf(err, errlen, "cannot create a mutex");
		goto out;
	}
	if (pthread_mutex_init(&kr->err_lock, NULL) != 0) {
		pthread_mutex_destroy(&kr->lock);
		snprintf(err, errlen, "cannot create a mutex");
		goto out;
	}
	mutex_ok = 1;

	pc.module = cfg->module;
	pc.token = cfg->token;
	pc.pin_file = cfg->pin_file;
	pc.master_key = cfg->master_key;
	pc.mac_key = cfg->mac_key;
	if ((r = kr_p11_open(&pc, &kr->p11, err, errlen)) != 0)
		goto out;
	kr->mac.sign = kr_p11_mac_sign;
	kr->mac.verify = kr_p11_mac_verify;
	kr->mac.ctx = kr->p11;
	kr->mac.what = kr_p11_mac_what(kr->p11);

	if ((r = kr_store_load(kr->path, &kr->mac, &kr->set, &exists, kr->digest,
	    err, errlen)) != 0)
		goto out;
	kr->on_disk = exists;
	snprintf(prev, sizeof(prev), "%s.prev", kr->path);
	if (!exists && kr_store_peek_generation(prev, &pgen) == 0) {
		/* keep generations moving forward across the deletion */
		kr_set_set_generation(kr->set, pgen);
		kl_warn("keyring store %s does not exist but %s (generation %llu) does: "
		    "starting with an empty keyring; if the store was removed by mistake, "
		    "restore it from %s", kr->path, prev, (unsigned long long)pgen, prev);
	} else if (exists && kr_store_peek_generation(prev, &pgen) == 0 &&
	    pgen >= kr_set_generation(kr->set))
		kl_warn("keyring store %s is generation %llu but %s is %llu: was the "
		    "store replaced by an older copy?", kr->path,
		    (unsigned long long)kr_set_generation(kr->set), prev,
		    (unsigned long long)pgen);
	*out = kr;
	kr = NULL;
	r = 0;
 out:
	kr_destroy(kr, mutex_ok);
	return r;
}

void
kr_close(struct kr *kr)
{
	kr_destroy(kr, 1);
}
