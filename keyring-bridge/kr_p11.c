#include "keyring-bridge/kr_p11.h"
#include "common/log.h"
#include "common/p11names.h"
#include "common/util.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#define TOKEN_LABEL_MAX	32
#define OTHER_KEYS_MAX	8

/*
 * One loaded module, shared by every instance in the process.  The library
 * stays mapped after the last instance goes: unloading modules that keep
 * atexit handlers or thread-local state (OpenSSL-based ones do) crashes the
 * host at exit, and a keyring reload would map it again anyway.
 */
struct p11_module {
	struct p11_module	*next;
	char			 path[PATH_MAX];	/* realpath() */
	void			*dl;
	CK_FUNCTION_LIST_PTR	 fl;
	unsigned		 refs;		/* instances using it now */
	int			 finalize;	/* we initialised it: finalise with the last ref */
};

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11_module *modules;		/* protected by modules_lock */

static atomic_uint_fast64_t unwrap_calls;

struct p11_key {
	struct kr_mkey		 id;
	CK_OBJECT_HANDLE	 h;
};

struct kr_p11 {
	struct p11_module	*mod;
	CK_FUNCTION_LIST_PTR	 fl;
	char			*module;	/* as configured, for messages */
	char			*token;
	char			*pin_file;
	char			*mac_label;
	CK_SLOT_ID		 slot;
	CK_SESSION_HANDLE	 session;
	int			 have_session;
	struct p11_key		 master;	/* wraps new entries */
	CK_OBJECT_HANDLE	 mac;
	struct p11_key		 others[OTHER_KEYS_MAX];	/* older master keys, found on use */
	size_t			 nothers;
	char			 mac_what[KR_MKEY_LABEL_MAX + 16];
};

/* kl_p11name's table, with this module's "CKR_0x..." for unknown values. */
const char *
kr_p11_rv_name(CK_RV rv, char buf[32])
{
	char hex[24];
	const char *name = kl_p11name(kl_p11names_ckr, rv, hex);

	if (name != hex)
		return name;
	snprintf(buf, 32, "CKR_%s", hex);
	return buf;
}

uint64_t
kr_p11_unwrap_count(void)
{
	return (uint64_t)atomic_load(&unwrap_calls);
}

const struct kr_mkey *
kr_p11_master(const struct kr_p11 *p)
{
	return &p->master.id;
}

const char *
kr_p11_mac_what(const struct kr_p11 *p)
{
	return p->mac_what;
}

/* A sentence prefixed with the module and token it is about. */
static void __attribute__((format(printf, 4, 5)))
p11_err(const struct kr_p11 *p, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(err, errlen, "PKCS#11 module %s, token '%s': ", p->module, p->token);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static int
needs_reopen(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	    rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT ||
	    rv == CKR_USER_NOT_LOGGED_IN;
}

/* ---- modules ---- */

static int
module_get(struct kr_p11 *p, char *err, size_t errlen)
{
	CK_C_GetFunctionList getfl;
	CK_C_INITIALIZE_ARGS args;
	struct p11_module *m = NULL;
	char real[PATH_MAX], rvb[32];
	struct stat st;
	void *sym;
	CK_RV rv;
	int r = KR_E_TOKEN, fresh = 0;

	if (p->module[0] != '/') {
		snprintf(err, errlen, "PKCS#11 module '%s' is not an absolute path",
		    p->module);
		return KR_E_CONFIG;
	}
	if (realpath(p->module, real) == NULL || stat(real, &st) != 0) {
		snprintf(err, errlen, "PKCS#11 module %s: %s", p->module, strerror(errno));
		return KR_E_CONFIG;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "PKCS#11 module %s is not a regular file", p->module);
		return KR_E_CONFIG;
	}
	pthread_mutex_lock(&modules_lock);
	for (m = modules; m != NULL; m = m->next) {
		if (strcmp(m->path, real) == 0)
			break;
	}
	if (m == NULL) {
		if ((m = calloc(1, sizeof(*m))) == NULL) {
			snprintf(err, errlen, "out of memory loading %s", p->module);
			r = KR_E_INTERNAL;
			goto out;
		}
		fresh = 1;
		kl_strlcpy(m->path, real, sizeof(m->path));
		if ((m->dl = dlopen(real, RTLD_NOW | RTLD_LOCAL)) == NULL) {
			snprintf(err, errlen, "cannot load PKCS#11 module %s: %s", p->module,
			    dlerror());
			goto out;
		}
		/* POSIX allows this cast; C does not speak of it */
		sym = dlsym(m->dl, "C_GetFunctionList");
		memcpy(&getfl, &sym, sizeof(getfl));
		if (sym == NULL) {
			snprintf(err, errlen, "PKCS#11 module %s has no C_GetFunctionList",
			    p->module);
			goto out;
		}
		if ((rv = getfl(&m->fl)) != CKR_OK || m->fl == NULL) {
			snprintf(err, errlen, "PKCS#11 module %s: C_GetFunctionList failed: %s",
			    p->module, kr_p11_rv_name(rv, rvb));
			goto out;
		}
	}
	if (m->refs == 0) {
		memset(&args, 0, sizeof(args));
		args.flags = CKF_OS_LOCKING_OK;
		rv = m->fl->C_Initialize(&args);
		if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			/* someone else in this process owns it: never finalise it */
			m->finalize = 0;
		} else if (rv != CKR_OK) {
			snprintf(err, errlen, "PKCS#11 module %s: C_Initialize failed: %s",
			    p->module, kr_p11_rv_name(rv, rvb));
			goto out;
		} else {
			m->finalize = 1;
		}
	}
	if (fresh) {
		m->next = modules;
		modules = m;
		fresh = 0;
	}
	m->refs++;
	p->mod = m;
	p->fl = m->fl;
	r = 0;
 out:
	if (fresh) {
		/* never initialised: safe to unload */
		if (m->dl != NULL)
			dlclose(m->dl);
		free(m);
	}
	pthread_mutex_unlock(&modules_lock);
	return r;
}

static void
module_put(struct p11_module *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&modules_lock);
	if (--m->refs == 0 && m->finalize) {
		(void)m->fl->C_Finalize(NULL);
		m->finalize = 0;
	}
	pthread_mutex_unlock(&modules_lock);
}

/* ---- slot, session, keys ---- */

static int
find_slot(struct kr_p11 *p, char *err, size_t errlen)
{
	CK_SLOT_ID *slots = NULL, *ns;
	CK_TOKEN_INFO ti;
	CK_ULONG n = 0, i, found = 0;
	char label[TOKEN_LABEL_MAX + 1], rvb[32];
	CK_RV rv;
	int r = KR_E_TOKEN;

	/* [PKCS#11 v2.40, 5.5] the list may grow between the two calls */
	for (;;) {
		if ((rv = p->fl->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK) {
			p11_err(p, err, errlen, "C_GetSlotList failed: %s",
			    kr_p11_rv_name(rv, rvb));
			goto out;
		}
		if (n == 0)
			break;
		if ((ns = realloc(slots, n * sizeof(*slots))) == NULL) {
			p11_err(p, err, errlen, "out of memory listing slots");
			r = KR_E_INTERNAL;
			goto out;
		}
		slots = ns;
		rv = p->fl->C_GetSlotList(CK_TRUE, slots, &n);
		if (rv == CKR_OK)
			break;
		if (rv != CKR_BUFFER_TOO_SMALL) {
			p11_err(p, err, errlen, "C_GetSlotList failed: %s",
			    kr_p11_rv_name(rv, rvb));
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (p->fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		kl_p11_strtrim(ti.label, sizeof(ti.label), label, sizeof(label));
		if (strcmp(label, p->token) != 0)
			continue;
		if (found++ > 0) {
			p11_err(p, err, errlen, "more than one token has this label; "
			    "give each token a unique label");
			goto out;
		}
		p->slot = slots[i];
	}
	if (found == 0) {
		p11_err(p, err, errlen, "no token with this label is present "
		    "(%lu token%s found)", (unsigned long)n, n == 1 ? "" : "s");
		goto out;
	}
	r = 0;
 out:
	free(slots);
	return r;
}

static int
login(struct kr_p11 *p, char *err, size_t errlen)
{
	struct kl_secret pin = { NULL, 0 };
	char rvb[32], perr[512];
	CK_RV rv;
	int r = KR_E_TOKEN;

	if ((rv = p->fl->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &p->session)) != CKR_OK) {
		p11_err(p, err, errlen, "C_OpenSession failed: %s", kr_p11_rv_name(rv, rvb));
		goto out;
	}
	p->have_session = 1;
	if (kl_read_secret_file(p->pin_file, &pin, perr, sizeof(perr)) != 0) {
		p11_err(p, err, errlen, "%s", perr);
		r = KR_E_CONFIG;
		goto out;
	}
	rv = p->fl->C_Login(p->session, CKU_USER, pin.p, pin.len);
	kl_secret_clear(&pin);
	/*
	 * Login state is per token and process: another instance may already
	 * be logged in, and then the module does not check this PIN at all.
	 */
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		p11_err(p, err, errlen, "C_Login with the PIN in %s failed: %s",
		    p->pin_file, kr_p11_rv_name(rv, rvb));
		goto out;
	}
	r = 0;
 out:
	kl_secret_clear(&pin);
	return r;
}

static void
close_session(struct kr_p11 *p)
{
	if (p->have_session)
		(void)p->fl->C_CloseSession(p->session);
	p->have_session = 0;
	p->session = CK_INVALID_HANDLE;
}

/*
 * The one secret key labelled label.  A label that names no object, or more
 * than one, is refused: a second key under a master key's label is how a
 * substituted key would get used.
 */
static CK_RV
find_key(struct kr_p11 *p, const char *label, CK_OBJECT_HANDLE *h, const char *role,
    char *err, size_t errlen)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0;
	char rvb[32];
	CK_RV rv, rv2;

	*h = CK_INVALID_HANDLE;
	if ((rv = p->fl->C_FindObjectsInit(p->session, tmpl, KL_ARRAY_SIZE(tmpl))) != CKR_OK) {
		p11_err(p, err, errlen, "C_FindObjectsInit for %s '%s' failed: %s", role,
		    label, kr_p11_rv_name(rv, rvb));
		return rv;
	}
	rv = p->fl->C_FindObjects(p->session, found, KL_ARRAY_SIZE(found), &n);
	rv2 = p->fl->C_FindObjectsFinal(p->session);
	if (rv == CKR_OK)
		rv = rv2;
	if (rv != CKR_OK) {
		p11_err(p, err, errlen, "C_FindObjects for %s '%s' failed: %s", role,
		    label, kr_p11_rv_name(rv, rvb));
		return rv;
	}
	if (n == 0) {
		p11_err(p, err, errlen, "no secret key labelled '%s' (the %s) is visible "
		    "to this user", label, role);
		return CKR_KEY_HANDLE_INVALID;
	}
	if (n > 1) {
		p11_err(p, err, errlen, "more than one secret key is labelled '%s' (the "
		    "%s); refusing to guess, since a second key under that label may be "
		    "a substitute", label, role);
		return CKR_KEY_HANDLE_INVALID;
	}
	*h = found[0];
	return CKR_OK;
}

static CK_RV
read_key_id(struct kr_p11 *p, CK_OBJECT_HANDLE h, struct kr_mkey *mk,
    char *err, size_t errlen)
{
	CK_ATTRIBUTE a = { CKA_ID, NULL, 0 };
	char rvb[32];
	CK_RV rv;

	rv = p->fl->C_GetAttributeValue(p->session, h, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID) {
		mk->id_len = 0;		/* no CKA_ID: the label alone names it */
		return CKR_OK;
	}
	if (rv == CKR_OK && a.ulValueLen == (CK_ULONG)-1)
		rv = CKR_ATTRIBUTE_SENSITIVE;
	if (rv == CKR_OK && a.ulValueLen > KR_MKEY_ID_MAX) {
		p11_err(p, err, errlen, "master key '%s' has a CKA_ID of %lu bytes, "
		    "more than %d", mk->label, (unsigned long)a.ulValueLen, KR_MKEY_ID_MAX);
		return CKR_ATTRIBUTE_VALUE_INVALID;
	}
	if (rv == CKR_OK && a.ulValueLen > 0) {
		a.pValue = mk->id;
		rv = p->fl->C_GetAttributeValue(p->session, h, &a, 1);
	}
	if (rv != CKR_OK) {
		p11_err(p, err, errlen, "C_GetAttributeValue(CKA_ID) of master key '%s' "
		    "failed: %s", mk->label, kr_p11_rv_name(rv, rvb));
		return rv;
	}
	mk->id_len = a.ulValueLen;
	return CKR_OK;
}

static CK_RV
find_keys(struct kr_p11 *p, char *err, size_t errlen)
{
	CK_RV rv;

	p->nothers = 0;		/* handles of older keys are found again on use */
	if ((rv = find_key(p, p->master.id.label, &p->master.h, "master key",
	    err, errlen)) != CKR_OK ||
	    (rv = read_key_id(p, p->master.h, &p->master.id, err, errlen)) != CKR_OK ||
	    (rv = find_key(p, p->mac_label, &p->mac, "MAC key", err, errlen)) != CKR_OK)
		return rv;
	return CKR_OK;
}

/* After a session or login was lost: everything again, once. */
static int
reopen(struct kr_p11 *p, char *err, size_t errlen)
{
	int r;

	close_session(p);
	if ((r = find_slot(p, err, errlen)) != 0 || (r = login(p, err, errlen)) != 0)
		return r;
	if (find_keys(p, err, errlen) != CKR_OK)
		return KR_E_TOKEN;
	kl_info("module %s, token '%s': session re-opened", p->module, p->token);
	return 0;
}

/*
 * Run op; when it failed because the session or login went away, re-open
 * and run it once more.  op writes its own message into err on failure.
 */
typedef CK_RV (*p11_op)(struct kr_p11 *p, void *ctx, char *err, size_t errlen);

static int
run(struct kr_p11 *p, p11_op op, void *ctx, char *err, size_t errlen)
{
	char rvb[32];
	CK_RV rv;
	int r;

	if (!p->have_session) {
		if ((r = reopen(p, err, errlen)) != 0)
			return r;
	}
	rv = op(p, ctx, err, errlen);
	if (needs_reopen(rv)) {
		kl_warn("module %s, token '%s': %s; re-opening the session", p->module,
		    p->token, kr_p11_rv_name(rv, rvb));
		if ((r = reopen(p, err, errlen)) != 0)
			return r;
		rv = op(p, ctx, err, errlen);
	}
	if (rv == CKR_OK)
		return 0;
	return rv == CKR_HOST_MEMORY ? KR_E_INTERNAL : KR_E_TOKEN;
}

/* ---- the operations ---- */

/*
 * The fixed template of a keyring secret, as the policy module demands:
 * every attribute set, no token default relied on.  Fills a[] and returns
 * SECRET_TMPL_LEN; the caller appends CKA_VALUE or CKA_VALUE_LEN.
 *
 * CKA_SIGN_RECOVER and CKA_VERIFY_RECOVER are left out on purpose: they are
 * not secret-key attributes ([PKCS#11 v2.40, 4.9] lists none), and SoftHSM2
 * 2.6 rejects a secret-key template holding either with
 * CKR_ATTRIBUTE_TYPE_INVALID (tests/unit/test_kr.c would fail).
 */
static const CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY;
static const CK_KEY_TYPE secret_type = CKK_GENERIC_SECRET;
static const CK_BBOOL ck_true = CK_TRUE, ck_false = CK_FALSE;

#define SECRET_TMPL_LEN 14

static CK_ULONG
secret_template(CK_ATTRIBUTE *a, const char *label)
{
	static const CK_ATTRIBUTE_TYPE off[] = {
		CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP,
		CKA_DERIVE,
	};
	CK_ULONG n = 0, i;

#define SET(t, v, l) do { a[n].type = (t); a[n].pValue = (void *)(v); \
	a[n].ulValueLen = (l); n++; } while (0)
	SET(CKA_CLASS, &secret_class, sizeof(secret_class));
	SET(CKA_KEY_TYPE, &secret_type, sizeof(secret_type));
	SET(CKA_TOKEN, &ck_false, sizeof(CK_BBOOL));
	SET(CKA_PRIVATE, &ck_true, sizeof(CK_BBOOL));
	SET(CKA_SENSITIVE, &ck_false, sizeof(CK_BBOOL));
	SET(CKA_EXTRACTABLE, &ck_true, sizeof(CK_BBOOL));
	for (i = 0; i < KL_ARRAY_SIZE(off); i++)
		SET(off[i], &ck_false, sizeof(CK_BBOOL));
	SET(CKA_LABEL, label, strlen(label));
#undef SET
	return n;
}

struct wrap_ctx {
	const char		*label;
	const void		*data;		/* NULL: generate */
	size_t			 len;
	unsigned char		*blob;
	size_t			 blob_len;
};

static void
destroy_object(struct kr_p11 *p, CK_OBJECT_HANDLE obj, const char *label)
{
	char rvb[32];
	CK_RV rv;

	if (obj == CK_INVALID_HANDLE)
		return;
	/* a session object also goes when the session does: only worth a warning */
	if ((rv = p->fl->C_DestroyObject(p->session, obj)) != CKR_OK)
		kl_warn("module %s, token '%s': C_DestroyObject of session secret "
		    "'%.200s' failed: %s", p->module, p->token, label,
		    kr_p11_rv_name(rv, rvb));
}

static CK_RV
op_wrap(struct kr_p11 *p, void *vctx, char *err, size_t errlen)
{
	struct wrap_ctx *c = vctx;
	CK_ATTRIBUTE a[SECRET_TMPL_LEN + 1];
	CK_MECHANISM gen = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	CK_ULONG n, blen = 0, vlen = c->len;
	unsigned char *blob = NULL;
	char rvb[32];
	CK_RV rv;

	n = secret_template(a, c->label);
	if (c->data != NULL) {
		a[n].type = CKA_VALUE;
		a[n].pValue = (void *)c->data;
		a[n].ulValueLen = c->len;
		n++;
		rv = p->fl->C_CreateObject(p->session, a, n, &obj);
	} else {
		a[n].type = CKA_VALUE_LEN;
		a[n].pValue = &vlen;
		a[n].ulValueLen = sizeof(vlen);
		n++;
		rv = p->fl->C_GenerateKey(p->session, &gen, a, n, &obj);
	}
	if (rv != CKR_OK) {
		p11_err(p, err, errlen, "%s of session secret '%.200s' (%zu bytes) "
		    "failed: %s", c->data != NULL ? "C_CreateObject" : "C_GenerateKey",
		    c->label, c->len, kr_p11_rv_name(rv, rvb));
		obj = CK_INVALID_HANDLE;
		goto out;
	}
	/*
	 * RFC 5649 fixes the length, so one call with a buffer of that size: no
	 * length query first (SoftHSM2 does the whole wrap for it, which cost a
	 * quarter of a round trip; bench/, docs/performance.md).  A token that
	 * wants more answers CKR_BUFFER_TOO_SMALL with its length [PKCS#11
	 * v2.40, 5.2], reported below like any other length.
	 */
	blen = KR_BLOB_LEN(c->len);
	if ((blob = malloc(blen)) == NULL) {
		p11_err(p, err, errlen, "out of memory");
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = p->fl->C_WrapKey(p->session, &kwp, p->master.h, obj, blob, &blen);
	if (rv == CKR_BUFFER_TOO_SMALL) {
		p11_err(p, err, errlen, "C_WrapKey with master key '%s' wants %lu "
		    "bytes for a %zu-byte secret; RFC 5649 gives %zu", p->master.id.label,
		    (unsigned long)blen, c->len, KR_BLOB_LEN(c->len));
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	if (rv != CKR_OK) {
		p11_err(p, err, errlen, "C_WrapKey of '%.200s' with master key '%s' "
		    "(CKM_AES_KEY_WRAP_PAD) failed: %s", c->label, p->master.id.label,
		    kr_p11_rv_name(rv, rvb));
		goto out;
	}
	if (blen != KR_BLOB_LEN(c->len)) {
		p11_err(p, err, errlen, "C_WrapKey with master key '%s' returned %lu "
		    "bytes for a %zu-byte secret; RFC 5649 gives %zu", p->master.id.label,
		    (unsigned long)blen, c->len, KR_BLOB_LEN(c->len));
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	c->blob = blob;
	c->blob_len = blen;
	blob = NULL;
 out:
	free(blob);
	destroy_object(p, obj, c->label);
	return rv;
}

static int
wrap_common(struct kr_p11 *p, const char *label, const void *data, size_t len,
    unsigned char **blob, size_t *blob_len, char *err, size_t errlen)
{
	struct wrap_ctx c = { label, data, len, NULL, 0 };
	int r;

	*blob = NULL;
	*blob_len = 0;
	if ((r = run(p, op_wrap, &c, err, errlen)) != 0)
		return r;
	*blob = c.blob;
	*blob_len = c.blob_len;
	return 0;
}

int
kr_p11_wrap(struct kr_p11 *p, const char *label, const void *data, size_t len,
    unsigned char **blob, size_t *blob_len, char *err, size_t errlen)
{
	return_val_if_fail(data != NULL && len > 0 && len <= KR_DATA_MAX, KR_E_INVALID);
	return wrap_common(p, label, data, len, blob, blob_len, err, errlen);
}

int
kr_p11_generate(struct kr_p11 *p, const char *label, size_t len,
    unsigned char **blob, size_t *blob_len, char *err, size_t errlen)
{
	return_val_if_fail(len > 0 && len <= KR_DATA_MAX, KR_E_INVALID);
	return wrap_common(p, label, NULL, len, blob, blob_len, err, errlen);
}

static void
hex_id(const struct kr_mkey *mk, char *buf, size_t len)
{
	if (mk->id_len == 0)
		kl_strlcpy(buf, "(none)", len);
	else if (kl_hex_encode(mk->id, mk->id_len, buf, len) != 0)
		kl_strlcpy(buf, "(long)", len);
}

/* The handle of master key mk: the current one, or an older one by label. */
static CK_RV
unwrap_key_for(struct kr_p11 *p, const struct kr_mkey *mk, CK_OBJECT_HANDLE *h,
    char *err, size_t errlen)
{
	struct kr_mkey found;
	char want[2 * KR_MKEY_ID_MAX + 1], have[2 * KR_MKEY_ID_MAX + 1];
	size_t i;
	CK_RV rv;

	if (kr_mkey_eq(mk, &p->master.id)) {
		*h = p->master.h;
		return CKR_OK;
	}
	for (i = 0; i < p->nothers; i++) {
		if (kr_mkey_eq(mk, &p->others[i].id)) {
			*h = p->others[i].h;
			return CKR_OK;
		}
	}
	memset(&found, 0, sizeof(found));
	kl_strlcpy(found.label, mk->label, sizeof(found.label));
	if (strcmp(mk->label, p->master.id.label) == 0) {
		found = p->master.id;
		rv = CKR_OK;
	} else if ((rv = find_key(p, mk->label, h, "master key", err, errlen)) != CKR_OK ||
	    (rv = read_key_id(p, *h, &found, err, errlen)) != CKR_OK) {
		return rv;
	}
	if (!kr_mkey_eq(mk, &found)) {
		hex_id(mk, want, sizeof(want));
		hex_id(&found, have, sizeof(have));
		p11_err(p, err, errlen, "the entry was wrapped by master key '%s' with "
		    "CKA_ID %s, but the token's key '%s' has CKA_ID %s: the master key "
		    "was replaced or substituted", mk->label, want, found.label, have);
		return CKR_KEY_HANDLE_INVALID;
	}
	if (p->nothers < OTHER_KEYS_MAX) {
		p->others[p->nothers].id = found;
		p->others[p->nothers].h = *h;
		p->nothers++;
	}
	return CKR_OK;
}

struct unwrap_ctx {
	const struct kr_mkey	*mk;
	const char		*label;
	const unsigned char	*blob;
	size_t			 blob_len;
	size_t			 data_len;
	struct kl_secret	 out;
};

/*
 * SoftHSM2 (2.6.1 at least) zero-pads a secret to a multiple of 8 bytes
 * before its CKM_AES_KEY_WRAP_PAD wrap, so the RFC 5649 length indicator
 * says 8 for a 3-byte secret and the unwrap gives 8 bytes back (checked
 * against OpenSSL's EVP_aes_256_wrap_pad).  The length the store recorded
 * is authenticated by the store MAC, so accept exactly that padding: the
 * recorded length rounded up to 8, the extra bytes all zero.
 */
static int
strip_zero_padding(struct kl_secret *s, size_t data_len)
{
	struct kl_secret t = { NULL, 0 };
	unsigned char acc = 0;
	size_t i;

	if (s->len == data_len)
		return 0;
	if (s->len != (data_len + 7) / 8 * 8)
		return -1;
	for (i = data_len; i < s->len; i++)
		acc |= s->p[i];
	if (acc != 0 || kl_secret_dup(&t, s->p, data_len) != 0)
		return -1;
	kl_secret_clear(s);
	*s = t;
	return 0;
}

static CK_RV
op_unwrap(struct kr_p11 *p, void *vctx, char *err, size_t errlen)
{
	struct unwrap_ctx *c = vctx;
	CK_ATTRIBUTE a[SECRET_TMPL_LEN];
	CK_ATTRIBUTE v = { CKA_VALUE, NULL, 0 };
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE key, obj = CK_INVALID_HANDLE;
	CK_ULONG n;
	char rvb[32];
	CK_RV rv;

	kl_secret_clear(&c->out);
	if ((rv = unwrap_key_for(p, c->mk, &key, err, errlen)) != CKR_OK)
		return rv;
	n = secret_template(a, c->label);
	atomic_fetch_add(&unwrap_calls, 1);
	rv = p->fl->C_UnwrapKey(p->session, &kwp, key, (CK_BYTE_PTR)c->blob, c->blob_len,
	    a, n, &obj);
	if (rv != CKR_OK) {
		p11_err(p, err, errlen, "C_UnwrapKey of '%.200s' with master key '%s' "
		    "(CKM_AES_KEY_WRAP_PAD) failed: %s", c->label, c->mk->label,
		    kr_p11_rv_name(rv, rvb));
		obj = CK_INVALID_HANDLE;
		goto out;
	}
	/* two-call convention again, straight into secure memory */
	rv = p->fl->C_GetAttributeValue(p->session, obj, &v, 1);
	if (rv == CKR_OK && (v.ulValueLen == 0 || v.ulValueLen > KR_DATA_MAX)) {
		p11_err(p, err, errlen, "the unwrapped '%.200s' has a CKA_VALUE of %ld "
		    "bytes, outside 1..%d", c->label, (long)v.ulValueLen, KR_DATA_MAX);
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	if (rv == CKR_OK && kl_secret_alloc(&c->out, v.ulValueLen) != 0) {
		p11_err(p, err, errlen, "out of secure memory for '%.200s'", c->label);
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (rv == CKR_OK) {
		v.pValue = c->out.p;
		rv = p->fl->C_GetAttributeValue(p->session, obj, &v, 1);
	}
	if (rv == CKR_OK && v.ulValueLen != c->out.len)
		rv = CKR_GENERAL_ERROR;
	if (rv != CKR_OK) {
		p11_err(p, err, errlen, "C_GetAttributeValue(CKA_VALUE) of the unwrapped "
		    "'%.200s' failed: %s", c->label, kr_p11_rv_name(rv, rvb));
		goto out;
	}
	if (strip_zero_padding(&c->out, c->data_len) != 0) {
		p11_err(p, err, errlen, "'%.200s' unwrapped with master key '%s' to %zu "
		    "bytes, but the store recorded %zu", c->label, c->mk->label,
		    c->out.len, c->data_len);
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
 out:
	if (rv != CKR_OK)
		kl_secret_clear(&c->out);
	destroy_object(p, obj, c->label);
	return rv;
}

int
kr_p11_unwrap(struct kr_p11 *p, const struct kr_mkey *mk, const char *label,
    const unsigned char *blob, size_t blob_len, size_t data_len,
    struct kl_secret *out, char *err, size_t errlen)
{
	struct unwrap_ctx c = { mk, label, blob, blob_len, data_len, { NULL, 0 } };
	int r;

	out->p = NULL;
	out->len = 0;
	if ((r = run(p, op_unwrap, &c, err, errlen)) != 0) {
		kl_secret_clear(&c.out);
		return r;
	}
	*out = c.out;
	return 0;
}

/* ---- re-wrapping and checking inside the token (keylocker keyring) ---- */

struct find_ctx {
	const char		*label;
	struct kr_mkey		*out;
};

static CK_RV
op_find(struct kr_p11 *p, void *vctx, char *err, size_t errlen)
{
	struct find_ctx *c = vctx;
	struct kr_mkey mk;
	CK_OBJECT_HANDLE h;
	size_t i;
	CK_RV rv;

	if (strcmp(c->label, p->master.id.label) == 0) {
		*c->out = p->master.id;
		return CKR_OK;
	}
	memset(&mk, 0, sizeof(mk));
	kl_strlcpy(mk.label, c->label, sizeof(mk.label));
	if ((rv = find_key(p, c->label, &h, "new master key", err, errlen)) != CKR_OK ||
	    (rv = read_key_id(p, h, &mk, err, errlen)) != CKR_OK)
		return rv;
	*c->out = mk;
	for (i = 0; i < p->nothers; i++) {
		if (kr_mkey_eq(&mk, &p->others[i].id))
			return CKR_OK;
	}
	if (p->nothers < OTHER_KEYS_MAX) {
		p->others[p->nothers].id = mk;
		p->others[p->nothers].h = h;
		p->nothers++;
	}
	return CKR_OK;
}

int
kr_p11_find_mkey(struct kr_p11 *p, const char *label, struct kr_mkey *out,
    char *err, size_t errlen)
{
	struct find_ctx c = { label, out };

	if (strlen(label) == 0 || strlen(label) > KR_MKEY_LABEL_MAX) {
		snprintf(err, errlen, "master key label '%.64s' must be 1..%d bytes", label,
		    KR_MKEY_LABEL_MAX);
		return KR_E_INVALID;
	}
	return run(p, op_find, &c, err, errlen);
}

struct rewrap_ctx {
	const struct kr_mkey	*from;
	const struct kr_mkey	*to;		/* NULL: check only */
	const char		*label;
	const unsigned char	*blob;
	size_t			 blob_len;
	size_t			 data_len;
	unsigned char		*out;
};

/*
 * Unwrap into a session secret that is sensitive (its value cannot be read,
 * not even by this session) but extractable (it can be wrapped again), then
 * optionally wrap it under c->to.  The cleartext never leaves the token.
 */
static CK_RV
op_rewrap(struct kr_p11 *p, void *vctx, char *err, size_t errlen)
{
	struct rewrap_ctx *c = vctx;
	CK_ATTRIBUTE a[SECRET_TMPL_LEN];
	CK_ULONG vlen = 0, blen = 0, n, i;
	CK_ATTRIBUTE v = { CKA_VALUE_LEN, &vlen, sizeof(vlen) };
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE from, to = CK_INVALID_HANDLE, obj = CK_INVALID_HANDLE;
	unsigned char *nb = NULL;
	char rvb[32];
	CK_RV rv;

	free(c->out);
	c->out = NULL;
	if ((rv = unwrap_key_for(p, c->from, &from, err, errlen)) != CKR_OK)
		return rv;
	if (c->to != NULL && (rv = unwrap_key_for(p, c->to, &to, err, errlen)) != CKR_OK)
		return rv;
	n = secret_template(a, c->label);
	for (i = 0; i < n; i++) {
		if (a[i].type == CKA_SENSITIVE)
			a[i].pValue = (void *)&ck_true;
	}
	atomic_fetch_add(&unwrap_calls, 1);
	rv = p->fl->C_UnwrapKey(p->session, &kwp, from, (CK_BYTE_PTR)c->blob, c->blob_len,
	    a, n, &obj);
	if (rv != CKR_OK) {
		p11_err(p, err, errlen, "C_UnwrapKey of '%.200s' with master key '%s' "
		    "(CKM_AES_KEY_WRAP_PAD) failed: %s", c->label, c->from->label,
		    kr_p11_rv_name(rv, rvb));
		obj = CK_INVALID_HANDLE;
		goto out;
	}
	/*
	 * The length is not secret.  A token without CKA_VALUE_LEN skips this
	 * check, and so does 0: SoftHSM2 2.6.1 leaves CKA_VALUE_LEN 0 on an
	 * unwrapped generic secret.
	 */
	rv = p->fl->C_GetAttributeValue(p->session, obj, &v, 1);
	if (rv == CKR_OK && vlen != 0 && vlen != c->data_len &&
	    vlen != (c->data_len + 7) / 8 * 8) {
		p11_err(p, err, errlen, "'%.200s' unwrapped with master key '%s' to %lu "
		    "bytes, but the store recorded %zu", c->label, c->from->label,
		    (unsigned long)vlen, c->data_len);
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID) {
		p11_err(p, err, errlen, "C_GetAttributeValue(CKA_VALUE_LEN) of the "
		    "unwrapped '%.200s' failed: %s", c->label, kr_p11_rv_name(rv, rvb));
		goto out;
	}
	rv = CKR_OK;
	if (c->to == NULL)
		goto out;
	/* one call, the length known (see op_wrap) */
	blen = c->blob_len;
	if ((nb = malloc(blen)) == NULL) {
		p11_err(p, err, errlen, "out of memory");
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = p->fl->C_WrapKey(p->session, &kwp, to, obj, nb, &blen);
	if ((rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL) && blen != c->blob_len) {
		p11_err(p, err, errlen, "C_WrapKey with master key '%s' gives %lu "
		    "bytes for '%.200s'; the store's blob is %zu", c->to->label,
		    (unsigned long)blen, c->label, c->blob_len);
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	if (rv != CKR_OK) {
		p11_err(p, err, errlen, "C_WrapKey of '%.200s' with master key '%s' "
		    "(CKM_AES_KEY_WRAP_PAD) failed: %s", c->label, c->to->label,
		    kr_p11_rv_name(rv, rvb));
		goto out;
	}
	c->out = nb;
	nb = NULL;
 out:
	free(nb);
	destroy_object(p, obj, c->label);
	return rv;
}

int
kr_p11_rewrap(struct kr_p11 *p, const struct kr_mkey *from, const struct kr_mkey *to,
    const char *label, const unsigned char *blob, size_t blob_len, size_t data_len,
    unsigned char **out, char *err, size_t errlen)
{
	struct rewrap_ctx c = { from, to, label, blob, blob_len, data_len, NULL };
	int r;

	return_val_if_fail(to != NULL && out != NULL, KR_E_INVALID);
	*out = NULL;
	if ((r = run(p, op_rewrap, &c, err, errlen)) != 0) {
		free(c.out);
		return r;
	}
	*out = c.out;
	return 0;
}

int
kr_p11_check(struct kr_p11 *p, const struct kr_mkey *mk, const char *label,
    const unsigned char *blob, size_t blob_len, size_t data_len, char *err, size_t errlen)
{
	struct rewrap_ctx c = { mk, NULL, label, blob, blob_len, data_len, NULL };

	return run(p, op_rewrap, &c, err, errlen);
}

struct mac_ctx {
	const unsigned char	*digest;
	unsigned char		*mac;		/* sign: out; verify: in */
	int			 verify;
	int			 ok;		/* verify: the MAC matched */
};

static CK_RV
op_mac(struct kr_p11 *p, void *vctx, char *err, size_t errlen)
{
	struct mac_ctx *c = vctx;
	CK_MECHANISM hm = { CKM_SHA256_HMAC, NULL, 0 };
	CK_ULONG mlen = KR_STORE_MAC_LEN;
	const char *fn;
	char rvb[32];
	CK_RV rv;

	if (c->verify) {
		fn = "C_VerifyInit";
		if ((rv = p->fl->C_VerifyInit(p->session, &hm, p->mac)) == CKR_OK) {
			fn = "C_Verify";
			rv = p->fl->C_Verify(p->session, (CK_BYTE_PTR)c->digest,
			    KR_STORE_DIGEST_LEN, c->mac, KR_STORE_MAC_LEN);
		}
		if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE) {
			c->ok = 0;
			return CKR_OK;
		}
		c->ok = rv == CKR_OK;
	} else {
		fn = "C_SignInit";
		if ((rv = p->fl->C_SignInit(p->session, &hm, p->mac)) == CKR_OK) {
			fn = "C_Sign";
			rv = p->fl->C_Sign(p->session, (CK_BYTE_PTR)c->digest,
			    KR_STORE_DIGEST_LEN, c->mac, &mlen);
		}
		if (rv == CKR_OK && mlen != KR_STORE_MAC_LEN) {
			p11_err(p, err, errlen, "C_Sign with MAC key '%s' returned %lu bytes, "
			    "not %d", p->mac_label, (unsigned long)mlen, KR_STORE_MAC_LEN);
			return CKR_GENERAL_ERROR;
		}
	}
	if (rv != CKR_OK)
		p11_err(p, err, errlen, "%s with MAC key '%s' (CKM_SHA256_HMAC) failed: %s",
		    fn, p->mac_label, kr_p11_rv_name(rv, rvb));
	return rv;
}

int
kr_p11_mac_sign(void *vp, const unsigned char digest[KR_STORE_DIGEST_LEN],
    unsigned char mac[KR_STORE_MAC_LEN], char *err, size_t errlen)
{
	struct mac_ctx c = { digest, mac, 0, 0 };

	return run(vp, op_mac, &c, err, errlen);
}

int
kr_p11_mac_verify(void *vp, const unsigned char digest[KR_STORE_DIGEST_LEN],
    const unsigned char mac[KR_STORE_MAC_LEN], char *err, size_t errlen)
{
	unsigned char m[KR_STORE_MAC_LEN];
	struct mac_ctx c = { digest, m, 1, 0 };
	int r;

	memcpy(m, mac, sizeof(m));	/* C_Verify takes a non-const pointer */
	if ((r = run(vp, op_mac, &c, err, errlen)) != 0)
		return r;
	return c.ok ? 0 : 1;
}

/* ---- open, close ---- */

int
kr_p11_open(const struct kr_p11_config *cfg, struct kr_p11 **out, char *err,
    size_t errlen)
{
	struct kr_p11 *p = NULL;
	int r = KR_E_INTERNAL;

	*out = NULL;
	if (strlen(cfg->token) == 0 || strlen(cfg->token) > TOKEN_LABEL_MAX) {
		snprintf(err, errlen, "token label '%.64s' must be 1..%d bytes",
		    cfg->token, TOKEN_LABEL_MAX);
		return KR_E_CONFIG;
	}
	if (strlen(cfg->master_key) == 0 || strlen(cfg->master_key) > KR_MKEY_LABEL_MAX ||
	    strlen(cfg->mac_key) == 0 || strlen(cfg->mac_key) > KR_MKEY_LABEL_MAX) {
		snprintf(err, errlen, "master and MAC key labels must be 1..%d bytes",
		    KR_MKEY_LABEL_MAX);
		return KR_E_CONFIG;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->module = strdup(cfg->module)) == NULL ||
	    (p->token = strdup(cfg->token)) == NULL ||
	    (p->pin_file = strdup(cfg->pin_file)) == NULL ||
	    (p->mac_label = strdup(cfg->mac_key)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	p->session = CK_INVALID_HANDLE;
	kl_strlcpy(p->master.id.label, cfg->master_key, sizeof(p->master.id.label));
	snprintf(p->mac_what, sizeof(p->mac_what), "MAC key '%s'", cfg->mac_key);
	if ((r = module_get(p, err, errlen)) != 0 ||
	    (r = find_slot(p, err, errlen)) != 0 ||
	    (r = login(p, err, errlen)) != 0)
		goto out;
	if (find_keys(p, err, errlen) != CKR_OK) {
		r = KR_E_TOKEN;
		goto out;
	}
	*out = p;
	p = NULL;
	r = 0;
 out:
	kr_p11_close(p);
	return r;
}

void
kr_p11_close(struct kr_p11 *p)
{
	if (p == NULL)
		return;
	if (p->mod != NULL)
		close_session(p);
	module_put(p->mod);
	free(p->module);
	free(p->token);
	free(p->pin_file);
	free(p->mac_label);
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
}
