/*
 * A TEST-ONLY implementation of keyring-bridge/kr.h: no token, no wrapping.
 * It exists so component.c can be unit-tested and run inside a real mysqld
 * before the real engine (kr_engine) is ready.  It is never installed.
 *
 * Entries live in memory and, unless the store path is empty, in a text
 * file at cfg->path: "KRMEM 1" then one line per entry with hex fields
 * "data_id auth_id type data".  THE KEYS ARE IN CLEAR in that file, as in
 * component_keyring_file's; that is acceptable only for tests.  Writes go
 * through <path>.tmp and rename(), so a killed mysqld leaves a whole file.
 * A missing file is an empty keyring, as with the real engine.
 *
 * Deviation from kr.h, on purpose: kr_store() accepts an empty secret
 * (len 0), because component_keyring_file does and MySQL's keyring_udf
 * tests expect it.  kr.h says data must be non-empty; see the request to
 * the engine in the component's report.
 *
 * Faults, for tests:
 *  - token "kr-mem-fail-open": kr_open fails with KR_E_TOKEN, as when the
 *    token is absent (usable from a .cnf inside mysqld);
 *  - kr_mem_fail_next(err): the next kr_* call that can fail returns err
 *    (lookups return KR_ERROR), once;
 *  - kr_mem_open_count(): number of struct kr currently open.
 */
#include "keyring-bridge/kr.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/secret.h"
#include "common/util.h"

#define MEM_MAGIC	"KRMEM 1"
#define MEM_LINE_MAX	(2 * (KR_DATA_ID_MAX + KR_AUTH_ID_MAX + KR_TYPE_MAX + \
			    KR_DATA_MAX) + 16)

void	kr_mem_fail_next(int err);
int	kr_mem_open_count(void);

struct mem_entry {
	char			*data_id;
	char			*auth_id;
	char			 type[KR_TYPE_MAX + 1];
	struct kl_secret	 data;
};

struct kr {
	pthread_mutex_t		 lock;
	struct mem_entry	*e;		/* protected by lock */
	size_t			 n;		/* protected by lock */
	uint64_t		 generation;	/* protected by lock */
	char			 last_error[512]; /* protected by lock */
	char			*path;
	int			 read_only;
	int			 cache;
	char			 module[4096];
	char			 token[64];
	char			 master_key[256];
};

static pthread_mutex_t mem_global = PTHREAD_MUTEX_INITIALIZER;
static int mem_fail;		/* protected by mem_global */
static int mem_open;		/* protected by mem_global */

void
kr_mem_fail_next(int err)
{
	pthread_mutex_lock(&mem_global);
	mem_fail = err;
	pthread_mutex_unlock(&mem_global);
}

int
kr_mem_open_count(void)
{
	int n;

	pthread_mutex_lock(&mem_global);
	n = mem_open;
	pthread_mutex_unlock(&mem_global);
	return n;
}

/* The injected fault, consumed. */
static int
mem_fault(void)
{
	int err;

	pthread_mutex_lock(&mem_global);
	err = mem_fail;
	mem_fail = 0;
	pthread_mutex_unlock(&mem_global);
	return err;
}

static void mem_seterr(struct kr *kr, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
mem_seterr(struct kr *kr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(kr->last_error, sizeof(kr->last_error), fmt, ap);
	va_end(ap);
}

/*
 * Wipe and free() memory from malloc().  Never OPENSSL_clear_free() here:
 * mysqld points OpenSSL's allocator at its own my_malloc() (sql/mysqld.cc,
 * CRYPTO_set_mem_functions), which cannot free libc's blocks.
 */
static void
mem_wipe_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

static void
mem_entry_clear(struct mem_entry *e)
{
	free(e->data_id);
	free(e->auth_id);
	kl_secret_clear(&e->data);
	memset(e, 0, sizeof(*e));
}

static int
mem_ids_ok(const char *data_id, const char *auth_id)
{
	return data_id != NULL && *data_id != '\0' &&
	    strlen(data_id) <= KR_DATA_ID_MAX &&
	    (auth_id == NULL || strlen(auth_id) <= KR_AUTH_ID_MAX);
}

static struct mem_entry *
mem_find_inlock(struct kr *kr, const char *data_id, const char *auth_id)
{
	size_t i;

	if (auth_id == NULL)
		auth_id = "";
	for (i = 0; i < kr->n; i++) {
		if (strcmp(kr->e[i].data_id, data_id) == 0 &&
		    strcmp(kr->e[i].auth_id, auth_id) == 0)
			return &kr->e[i];
	}
	return NULL;
}

static int
mem_put_hex(FILE *f, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	if (len == 0)
		return fputc('-', f) == EOF ? -1 : 0;
	for (i = 0; i < len; i++) {
		if (fprintf(f, "%02x", b[i]) < 0)
			return -1;
	}
	return 0;
}

/* Rewrite the whole file: <path>.tmp, fsync, rename, fsync the directory. */
static int
mem_save_inlock(struct kr *kr)
{
	char tmp[4200];
	FILE *f = NULL;
	size_t i;
	int ok = 0;

	if (kr->path == NULL || *kr->path == '\0')
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", kr->path);
	if ((f = fopen(tmp, "we")) == NULL) {
		mem_seterr(kr, "cannot write %s: %s", tmp, strerror(errno));
		return KR_E_STORE;
	}
	if (fprintf(f, "%s\n", MEM_MAGIC) < 0)
		goto out;
	for (i = 0; i < kr->n; i++) {
		struct mem_entry *e = &kr->e[i];

		if (mem_put_hex(f, e->data_id, strlen(e->data_id)) != 0 ||
		    fputc(' ', f) == EOF ||
		    mem_put_hex(f, e->auth_id, strlen(e->auth_id)) != 0 ||
		    fputc(' ', f) == EOF ||
		    mem_put_hex(f, e->type, strlen(e->type)) != 0 ||
		    fputc(' ', f) == EOF ||
		    mem_put_hex(f, e->data.p, e->data.len) != 0 ||
		    fputc('\n', f) == EOF)
			goto out;
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		goto out;
	ok = 1;
 out:
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, kr->path) != 0) {
		mem_seterr(kr, "cannot write %s: %s", kr->path, strerror(errno));
		(void)unlink(tmp);
		return KR_E_STORE;
	}
	(void)kl_fsync_parent_dir(kr->path);
	kr->generation++;
	return 0;
}

/* One hex field into a fresh buffer (NUL-terminated); "-" is empty. */
static int
mem_get_hex(const char *s, size_t len, size_t max, unsigned char **out,
    size_t *outlen)
{
	unsigned char *b;
	long n;

	*out = NULL;
	*outlen = 0;
	if (len == 1 && s[0] == '-')
		len = 0;
	if (len % 2 != 0 || len / 2 > max || (b = calloc(1, len / 2 + 1)) == NULL)
		return -1;
	if ((n = kl_hex_decode(s, len, b, len / 2)) < 0) {
		free(b);
		return -1;
	}
	*out = b;
	*outlen = (size_t)n;
	return 0;
}

static int
mem_load(struct kr *kr, char *err, size_t errlen)
{
	char *line = NULL, *f[4], *save;
	unsigned char *b[4] = { NULL, NULL, NULL, NULL };
	size_t blen[4], lineno = 0, cap = 0, k;
	struct mem_entry *ne;
	FILE *fp;
	ssize_t got;
	int r = KR_E_STORE;

	if (kr->path == NULL || *kr->path == '\0')
		return 0;
	if ((fp = fopen(kr->path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;	/* no store yet: an empty keyring */
		snprintf(err, errlen, "cannot read the store %s: %s", kr->path,
		    strerror(errno));
		return KR_E_STORE;
	}
	while ((got = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (got > 0 && line[got - 1] == '\n')
			line[--got] = '\0';
		if (lineno == 1) {
			if (strcmp(line, MEM_MAGIC) != 0) {
				snprintf(err, errlen, "the store %s is not a "
				    "kr_mem store", kr->path);
				goto out;
			}
			continue;
		}
		if ((f[0] = strtok_r(line, " ", &save)) == NULL ||
		    (f[1] = strtok_r(NULL, " ", &save)) == NULL ||
		    (f[2] = strtok_r(NULL, " ", &save)) == NULL ||
		    (f[3] = strtok_r(NULL, " ", &save)) == NULL ||
		    strtok_r(NULL, " ", &save) != NULL ||
		    mem_get_hex(f[0], strlen(f[0]), KR_DATA_ID_MAX, &b[0], &blen[0]) ||
		    mem_get_hex(f[1], strlen(f[1]), KR_AUTH_ID_MAX, &b[1], &blen[1]) ||
		    mem_get_hex(f[2], strlen(f[2]), KR_TYPE_MAX, &b[2], &blen[2]) ||
		    mem_get_hex(f[3], strlen(f[3]), KR_DATA_MAX, &b[3], &blen[3]) ||
		    blen[0] == 0 || blen[2] == 0) {
			snprintf(err, errlen, "the store %s is damaged at line %zu",
			    kr->path, lineno);
			goto out;
		}
		if ((ne = realloc(kr->e, (kr->n + 1) * sizeof(*ne))) == NULL) {
			r = KR_E_INTERNAL;
			goto out;
		}
		kr->e = ne;
		ne = &kr->e[kr->n];
		memset(ne, 0, sizeof(*ne));
		if (blen[3] > 0 && kl_secret_dup(&ne->data, b[3], blen[3]) != 0) {
			r = KR_E_INTERNAL;
			goto out;
		}
		ne->data_id = (char *)b[0];
		ne->auth_id = (char *)b[1];
		memcpy(ne->type, b[2], blen[2]);
		b[0] = b[1] = NULL;
		kr->n++;
		for (k = 0; k < 4; k++) {
			if (b[k] != NULL)
				mem_wipe_free(b[k], blen[k]);
			b[k] = NULL;
		}
	}
	r = 0;
 out:
	for (k = 0; k < 4; k++) {
		if (b[k] != NULL)
			mem_wipe_free(b[k], blen[k]);
	}
	mem_wipe_free(line, cap);
	fclose(fp);
	return r;
}

int
kr_open(const struct kr_config *cfg, struct kr **out, char *err, size_t errlen)
{
	struct kr *kr = NULL;
	int r = KR_E_INTERNAL;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (cfg == NULL || cfg->path == NULL) {
		snprintf(err, errlen, "no configuration");
		return KR_E_CONFIG;
	}
	if ((r = mem_fault()) != 0) {
		snprintf(err, errlen, "kr_mem: injected failure of kr_open");
		return r;
	}
	if (cfg->token != NULL && strcmp(cfg->token, "kr-mem-fail-open") == 0) {
		snprintf(err, errlen, "no token with label \"%s\" in module %s",
		    cfg->token, cfg->module != NULL ? cfg->module : "?");
		return KR_E_TOKEN;
	}
	if ((kr = calloc(1, sizeof(*kr))) == NULL ||
	    (kr->path = strdup(cfg->path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		r = KR_E_INTERNAL;
		goto out;
	}
	pthread_mutex_init(&kr->lock, NULL);
	kr->read_only = cfg->read_only;
	kr->cache = cfg->cache;
	kl_strlcpy(kr->module, cfg->module != NULL ? cfg->module : "", sizeof(kr->module));
	kl_strlcpy(kr->token, cfg->token != NULL ? cfg->token : "", sizeof(kr->token));
	kl_strlcpy(kr->master_key, cfg->master_key != NULL ? cfg->master_key : "",
	    sizeof(kr->master_key));
	if ((r = mem_load(kr, err, errlen)) != 0)
		goto out;
	pthread_mutex_lock(&mem_global);
	mem_open++;
	pthread_mutex_unlock(&mem_global);
	*out = kr;
	kr = NULL;
 out:
	if (kr != NULL) {
		size_t i;

		for (i = 0; i < kr->n; i++)
			mem_entry_clear(&kr->e[i]);
		free(kr->e);
		free(kr->path);
		free(kr);
	}
	return r;
}

void
kr_close(struct kr *kr)
{
	size_t i;

	if (kr == NULL)
		return;
	for (i = 0; i < kr->n; i++)
		mem_entry_clear(&kr->e[i]);
	free(kr->e);
	free(kr->path);
	pthread_mutex_destroy(&kr->lock);
	free(kr);
	pthread_mutex_lock(&mem_global);
	mem_open--;
	pthread_mutex_unlock(&mem_global);
}

enum kr_lookup
kr_fetch(struct kr *kr, const char *data_id, const char *auth_id,
    struct kl_secret *data, char type[KR_TYPE_MAX + 1])
{
	struct mem_entry *e;
	enum kr_lookup l = KR_ERROR;

	data->p = NULL;
	data->len = 0;
	if (!mem_ids_ok(data_id, auth_id))
		return KR_ERROR;
	pthread_mutex_lock(&kr->lock);
	if (mem_fault() != 0) {
		mem_seterr(kr, "kr_mem: injected failure of kr_fetch");
		goto out;
	}
	if ((e = mem_find_inlock(kr, data_id, auth_id)) == NULL) {
		l = KR_MISSING;
		goto out;
	}
	if (kl_secret_dup(data, e->data.p, e->data.len) != 0) {
		mem_seterr(kr, "out of secure memory");
		goto out;
	}
	memcpy(type, e->type, sizeof(e->type));
	l = KR_FOUND;
 out:
	pthread_mutex_unlock(&kr->lock);
	return l;
}

enum kr_lookup
kr_lookup_len(struct kr *kr, const char *data_id, const char *auth_id,
    size_t *data_len, size_t *type_len)
{
	struct mem_entry *e;
	enum kr_lookup l = KR_MISSING;

	if (!mem_ids_ok(data_id, auth_id))
		return KR_ERROR;
	pthread_mutex_lock(&kr->lock);
	if ((e = mem_find_inlock(kr, data_id, auth_id)) != NULL) {
		*data_len = e->data.len;
		*type_len = strlen(e->type);
		l = KR_FOUND;
	}
	pthread_mutex_unlock(&kr->lock);
	return l;
}

/* Add an entry; random: len random bytes, else data.  Rolls back on failure. */
static int
mem_add(struct kr *kr, const char *data_id, const char *auth_id,
    const char *type, const void *data, size_t len, int random)
{
	struct mem_entry *ne;
	int r;

	if (!mem_ids_ok(data_id, auth_id) || type == NULL || *type == '\0' ||
	    strlen(type) > KR_TYPE_MAX || (random && len == 0) ||
	    len > KR_DATA_MAX)
		return KR_E_INVALID;
	if (auth_id == NULL)
		auth_id = "";
	pthread_mutex_lock(&kr->lock);
	if ((r = mem_fault()) != 0) {
		mem_seterr(kr, "kr_mem: injected failure");
		goto out;
	}
	if (kr->read_only) {
		r = KR_E_READ_ONLY;
		goto out;
	}
	if (mem_find_inlock(kr, data_id, auth_id) != NULL) {
		r = KR_E_EXISTS;
		goto out;
	}
	r = KR_E_INTERNAL;
	if ((ne = realloc(kr->e, (kr->n + 1) * sizeof(*ne))) == NULL)
		goto out;
	kr->e = ne;
	ne = &kr->e[kr->n];
	memset(ne, 0, sizeof(*ne));
	if ((ne->data_id = strdup(data_id)) == NULL ||
	    (ne->auth_id = strdup(auth_id)) == NULL ||
	    kl_secret_alloc(&ne->data, len) != 0) {
		mem_entry_clear(ne);
		goto out;
	}
	if (!random) {
		if (len > 0)
			memcpy(ne->data.p, data, len);
	} else if (RAND_bytes(ne->data.p, (int)len) != 1) {
		mem_entry_clear(ne);
		mem_seterr(kr, "RAND_bytes failed");
		goto out;
	}
	kl_strlcpy(ne->type, type, sizeof(ne->type));
	kr->n++;
	if ((r = mem_save_inlock(kr)) != 0) {
		mem_entry_clear(&kr->e[--kr->n]);
		goto out;
	}
	r = KR_OK;
 out:
	pthread_mutex_unlock(&kr->lock);
	return r;
}

int
kr_store(struct kr *kr, const char *data_id, const char *auth_id,
    const char *type, const void *data, size_t len)
{
	if (data == NULL && len > 0)
		return KR_E_INVALID;
	return mem_add(kr, data_id, auth_id, type, data, len, 0);
}

int
kr_generate(struct kr *kr, const char *data_id, const char *auth_id,
    const char *type, size_t len)
{
	return mem_add(kr, data_id, auth_id, type, NULL, len, 1);
}

int
kr_create(struct kr *kr)
{
	int r = 0;

	pthread_mutex_lock(&kr->lock);
	if ((r = mem_fault()) != 0)
		mem_seterr(kr, "kr_mem: injected failure of kr_create");
	else if (kr->read_only)
		r = KR_E_READ_ONLY;
	else if (kr->path != NULL && kr->path[0] != '\0' && access(kr->path, F_OK) != 0 && errno == ENOENT)
		r = mem_save_inlock(kr);
	pthread_mutex_unlock(&kr->lock);
	return r;
}

int
kr_remove(struct kr *kr, const char *data_id, const char *auth_id)
{
	struct mem_entry *e, saved;
	size_t i;
	int r;

	if (!mem_ids_ok(data_id, auth_id))
		return KR_E_INVALID;
	pthread_mutex_lock(&kr->lock);
	if ((r = mem_fault()) != 0) {
		mem_seterr(kr, "kr_mem: injected failure of kr_remove");
		goto out;
	}
	if (kr->read_only) {
		r = KR_E_READ_ONLY;
		goto out;
	}
	if ((e = mem_find_inlock(kr, data_id, auth_id)) == NULL) {
		r = KR_E_MISSING;
		goto out;
	}
	i = (size_t)(e - kr->e);
	saved = *e;
	memmove(&kr->e[i], &kr->e[i + 1], (kr->n - i - 1) * sizeof(*e));
	kr->n--;
	if ((r = mem_save_inlock(kr)) != 0) {
		/* put it back where it was */
		memmove(&kr->e[i + 1], &kr->e[i], (kr->n - i) * sizeof(*e));
		kr->e[i] = saved;
		kr->n++;
		goto out;
	}
	mem_entry_clear(&saved);
 out:
	pthread_mutex_unlock(&kr->lock);
	return r;
}

int
kr_list(struct kr *kr, struct kr_meta **out, size_t *n)
{
	struct kr_meta *m = NULL;
	size_t i;
	int r;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&kr->lock);
	if ((r = mem_fault()) != 0) {
		mem_seterr(kr, "kr_mem: injected failure of kr_list");
		goto out;
	}
	r = KR_E_INTERNAL;
	if (kr->n > 0 && (m = calloc(kr->n, sizeof(*m))) == NULL)
		goto out;
	for (i = 0; i < kr->n; i++) {
		if ((m[i].data_id = strdup(kr->e[i].data_id)) == NULL ||
		    (m[i].auth_id = strdup(kr->e[i].auth_id)) == NULL) {
			kr_meta_free(m, kr->n);
			m = NULL;
			goto out;
		}
		memcpy(m[i].type, kr->e[i].type, sizeof(m[i].type));
		m[i].data_len = kr->e[i].data.len;
	}
	*out = m;
	*n = kr->n;
	r = KR_OK;
 out:
	pthread_mutex_unlock(&kr->lock);
	return r;
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
	}
	free(m);
}

void
kr_get_status(struct kr *kr, struct kr_status *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&kr->lock);
	kl_strlcpy(st->module, kr->module, sizeof(st->module));
	kl_strlcpy(st->token, kr->token, sizeof(st->token));
	kl_strlcpy(st->master_key, kr->master_key, sizeof(st->master_key));
	kl_strlcpy(st->store_path, kr->path, sizeof(st->store_path));
	st->generation = kr->generation;
	st->entries = kr->n;
	st->read_only = kr->read_only;
	st->cache = kr->cache;
	st->cache_locked = kl_secure_locked();
	st->cached = kr->cache ? kr->n : 0;
	kl_strlcpy(st->last_error, kr->last_error, sizeof(st->last_error));
	pthread_mutex_unlock(&kr->lock);
}

const char *
kr_last_error(struct kr *kr)
{
	return kr != NULL ? kr->last_error : "";
}

const char *
kr_strerror(int err)
{
	switch (err) {
	case KR_OK:		return "success";
	case KR_E_INTERNAL:	return "internal error";
	case KR_E_INVALID:	return "argument out of limits";
	case KR_E_EXISTS:	return "the key exists already";
	case KR_E_MISSING:	return "no such key";
	case KR_E_READ_ONLY:	return "the keyring is read-only";
	case KR_E_TOKEN:	return "token error";
	case KR_E_STORE:	return "store error";
	case KR_E_CONFIG:	return "configuration error";
	default:		return "unknown error";
	}
}
