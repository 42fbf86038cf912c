#include "tests/integration/attacks_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/p11names.h"

#define CHILD_TIMEOUT_S	300	/* one attack, all routes; SoftHSM2 RSA keygen is the slow part */

static const char *const outcome_names[] = {
	"REFUSED", "EXTRACTED", "REPLACED", "ALTERED", "DESTROYED", "ERROR",
};

const char *
atk_outcome_name(int outcome)
{
	return outcome >= 0 && outcome <= ATK_ERROR ? outcome_names[outcome] : "?";
}

/* ---- templates ---------------------------------------------------------- */

static const CK_ATTRIBUTE_TYPE flag_attrs[ATK_NFLAGS] = {
	CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP, CKA_SIGN, CKA_VERIFY, CKA_DERIVE,
	CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE,
	CKA_COPYABLE, CKA_DESTROYABLE,
};

static const char *const flag_names[ATK_NFLAGS] = {
	"ENCRYPT", "DECRYPT", "WRAP", "UNWRAP", "SIGN", "VERIFY", "DERIVE", "SENSITIVE",
	"EXTRACTABLE", "TOKEN", "PRIVATE", "MODIFIABLE", "COPYABLE", "DESTROYABLE",
};

static int
bit_index(unsigned bit)
{
	int i;

	for (i = 0; i < ATK_NFLAGS; i++) {
		if (bit == 1u << i)
			return i;
	}
	return -1;
}

CK_ATTRIBUTE_TYPE
atk_flag_attr(unsigned bit)
{
	int i = bit_index(bit);

	return i >= 0 ? flag_attrs[i] : CKA_VENDOR_DEFINED;
}

const char *
atk_flag_name(unsigned bit)
{
	int i = bit_index(bit);

	return i >= 0 ? flag_names[i] : "?";
}

void
atk_tmpl_init(struct atk_tmpl *tb)
{
	memset(tb, 0, sizeof(*tb));
}

static void
tmpl_put(struct atk_tmpl *tb, CK_ATTRIBUTE_TYPE type, void *p, CK_ULONG len)
{
	if (tb->n >= sizeof(tb->a) / sizeof(tb->a[0]))
		abort();	/* a test template that big is a bug in the test */
	tb->a[tb->n].type = type;
	tb->a[tb->n].pValue = p;
	tb->a[tb->n].ulValueLen = len;
	tb->n++;
}

void
atk_tmpl_flags(struct atk_tmpl *tb, unsigned on, unsigned off)
{
	int i;

	for (i = 0; i < ATK_NFLAGS; i++) {
		if (!((on | off) & (1u << i)))
			continue;
		tb->b[i] = (on & (1u << i)) ? CK_TRUE : CK_FALSE;
		tmpl_put(tb, flag_attrs[i], &tb->b[i], sizeof(CK_BBOOL));
	}
}

void
atk_tmpl_ulong(struct atk_tmpl *tb, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	if (tb->nul >= sizeof(tb->ul) / sizeof(tb->ul[0]))
		abort();
	tb->ul[tb->nul] = v;
	tmpl_put(tb, type, &tb->ul[tb->nul], sizeof(CK_ULONG));
	tb->nul++;
}

void
atk_tmpl_bytes(struct atk_tmpl *tb, CK_ATTRIBUTE_TYPE type, const void *p, size_t len)
{
	tmpl_put(tb, type, (void *)p, len);
}

void
atk_tmpl_secret(struct atk_tmpl *tb, CK_KEY_TYPE kt, CK_ULONG len)
{
	atk_tmpl_ulong(tb, CKA_CLASS, CKO_SECRET_KEY);
	atk_tmpl_ulong(tb, CKA_KEY_TYPE, kt);
	if (len != 0)
		atk_tmpl_ulong(tb, CKA_VALUE_LEN, len);
}

/* ---- routes ------------------------------------------------------------------ */

static void vformat(char *buf, size_t len, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
vformat(char *buf, size_t len, const char *fmt, va_list ap)
{
	vsnprintf(buf, len, fmt, ap);
}

/* A route that returned without a verdict is a bug in the attack: say so. */
static void
close_route(struct atk_target *t)
{
	if (t->cur != NULL && t->cur->step[0] == '\0') {
		snprintf(t->cur->step, sizeof(t->cur->step), "(the route ended without a verdict)");
		t->cur->outcome = ATK_ERROR;
		if (t->rep->outcome == ATK_REFUSED)
			t->rep->outcome = ATK_ERROR;
	}
}

void
atk_route(struct atk_target *t, const char *fmt, ...)
{
	struct atk_report *r = t->rep;
	va_list ap;

	close_route(t);
	if (r->n_routes >= ATK_ROUTES_MAX)
		abort();	/* raise ATK_ROUTES_MAX */
	t->cur = &r->routes[r->n_routes++];
	memset(t->cur, 0, sizeof(*t->cur));
	va_start(ap, fmt);
	vformat(t->cur->what, sizeof(t->cur->what), fmt, ap);
	va_end(ap);
}

int
atk_stop(struct atk_target *t, CK_RV rv, const char *fmt, ...)
{
	va_list ap;

	if (t->cur == NULL || t->cur->step[0] != '\0')
		return 0;	/* the first stop of a route is the one that counts */
	va_start(ap, fmt);
	vformat(t->cur->step, sizeof(t->cur->step), fmt, ap);
	va_end(ap);
	t->cur->rv = rv;
	t->cur->outcome = ATK_REFUSED;
	return 0;
}

int
atk_win(struct atk_target *t, enum atk_outcome o, const char *fmt, ...)
{
	va_list ap;

	if (t->cur == NULL)
		return 1;
	va_start(ap, fmt);
	vformat(t->cur->step, sizeof(t->cur->step), fmt, ap);
	va_end(ap);
	t->cur->rv = CKR_OK;
	t->cur->outcome = o;
	if (t->rep->outcome == ATK_REFUSED)
		t->rep->outcome = o;
	return 1;
}

int
atk_check_victim(struct atk_target *t, const unsigned char *got, size_t len, const char *how)
{
	/* SoftHSM2 2.6.1 may hand back KWP's zero padding: compare the victim's bytes */
	if (len >= ATK_VICTIM_LEN && len < ATK_VICTIM_LEN + 8 &&
	    CRYPTO_memcmp(got, t->fx->victim, ATK_VICTIM_LEN) == 0)
		return atk_win(t, ATK_EXTRACTED, "%s: the %d bytes equal the victim secret",
		    how, ATK_VICTIM_LEN);
	return atk_stop(t, CKR_OK, "%s: %zu bytes that are not the victim secret", how, len);
}

int
atk_check_master_value(struct atk_target *t, const unsigned char *got, size_t len,
		       const char *how)
{
	struct atk_soft_key k;
	unsigned char out[ATK_BLOB_MAX];
	size_t outlen = 0;
	enum atk_kw_result r = ATK_KW_LENGTH;

	memset(&k, 0, sizeof(k));
	if (len == 32) {
		memcpy(k.k, got, 32);
		k.len = 32;
		r = atk_kw_unwrap(1, atk_aes_dec, &k, t->fx->blob, t->fx->blob_len, out, &outlen);
	}
	OPENSSL_cleanse(&k, sizeof(k));
	if (r == ATK_KW_OK && outlen == ATK_VICTIM_LEN &&
	    CRYPTO_memcmp(out, t->fx->victim, ATK_VICTIM_LEN) == 0)
		return atk_win(t, ATK_EXTRACTED, "%s: the 32 bytes are the master key "
		    "(they unwrap the victim blob in software)", how);
	return atk_stop(t, CKR_OK, "%s: %zu bytes that are not the master key", how, len);
}

/* ---- PKCS#11 steps ------------------------------------------------------------ */

CK_RV
atk_gen_aes(struct atk_target *t, unsigned on, unsigned off, const char *label,
	    CK_OBJECT_HANDLE *h)
{
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
	struct atk_tmpl tb;

	atk_tmpl_init(&tb);
	atk_tmpl_secret(&tb, CKK_AES, 32);
	atk_tmpl_flags(&tb, on, off);
	if (label != NULL)
		atk_tmpl_bytes(&tb, CKA_LABEL, label, strlen(label));
	*h = CK_INVALID_HANDLE;
	return t->fl->C_GenerateKey(t->s, &m, tb.a, tb.n, h);
}

CK_RV
atk_import_aes(struct atk_target *t, const unsigned char *value, size_t len, unsigned on,
	       unsigned off, const char *label, CK_OBJECT_HANDLE *h)
{
	struct atk_tmpl tb;

	atk_tmpl_init(&tb);
	atk_tmpl_secret(&tb, CKK_AES, 0);
	atk_tmpl_flags(&tb, on, off);
	if (label != NULL)
		atk_tmpl_bytes(&tb, CKA_LABEL, label, strlen(label));
	atk_tmpl_bytes(&tb, CKA_VALUE, value, len);
	*h = CK_INVALID_HANDLE;
	return t->fl->C_CreateObject(t->s, tb.a, tb.n, h);
}

CK_RV
atk_unwrap_victim(struct atk_target *t, unsigned on, unsigned off, CK_OBJECT_HANDLE *h)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	static const char label[] = "atk-victim";
	struct atk_tmpl tb;

	/* AES, not generic: the unwrapped victim may then serve as a wrapping key */
	atk_tmpl_init(&tb);
	atk_tmpl_secret(&tb, CKK_AES, 0);
	if (!((on | off) & ATK_TOKEN))
		off |= ATK_TOKEN;
	atk_tmpl_flags(&tb, on, off);
	atk_tmpl_bytes(&tb, CKA_LABEL, label, sizeof(label) - 1);
	*h = CK_INVALID_HANDLE;
	return t->fl->C_UnwrapKey(t->s, &m, t->master, (CK_BYTE_PTR)t->fx->blob,
	    t->fx->blob_len, tb.a, tb.n, h);
}

CK_RV
atk_wrap(struct atk_target *t, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE wrapping,
	 CK_OBJECT_HANDLE key, unsigned char *out, CK_ULONG *len)
{
	unsigned char iv[16] = { 0 };
	CK_MECHANISM m = { mech, NULL, 0 };

	if (mech == CKM_AES_CBC || mech == CKM_AES_CBC_PAD) {
		m.pParameter = iv;
		m.ulParameterLen = sizeof(iv);
	}
	return t->fl->C_WrapKey(t->s, &m, wrapping, key, out, len);
}

CK_RV
atk_read_value(struct atk_target *t, CK_OBJECT_HANDLE h, unsigned char *out, CK_ULONG *len)
{
	CK_ATTRIBUTE a = { CKA_VALUE, out, *len };
	CK_RV rv;

	rv = t->fl->C_GetAttributeValue(t->s, h, &a, 1);
	*len = rv == CKR_OK ? a.ulValueLen : 0;
	if (rv == CKR_OK && a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		rv = CKR_ATTRIBUTE_SENSITIVE;
	return rv;
}

int
atk_has(struct atk_target *t, CK_OBJECT_HANDLE h, unsigned want, const char *call)
{
	int i;

	for (i = 0; i < ATK_NFLAGS; i++) {
		CK_BBOOL b = CK_FALSE;
		CK_ATTRIBUTE a = { flag_attrs[i], &b, sizeof(b) };
		CK_RV rv;

		if (!(want & (1u << i)))
			continue;
		rv = t->fl->C_GetAttributeValue(t->s, h, &a, 1);
		if (rv != CKR_OK || b != CK_TRUE)
			return atk_stop(t, CKR_OK, "%s made the key with CKA_%s false "
			    "(template forced)", call, flag_names[i]);
	}
	return 1;
}

CK_ULONG
atk_count(struct atk_target *t, CK_OBJECT_CLASS cls, const char *label,
	  const unsigned char *id, size_t id_len)
{
	CK_ATTRIBUTE q[3];
	CK_OBJECT_HANDLE found[16];
	CK_ULONG n = 0, got = 0, nq = 0;

	if (cls != CK_UNAVAILABLE_INFORMATION) {
		q[nq].type = CKA_CLASS;
		q[nq].pValue = &cls;
		q[nq++].ulValueLen = sizeof(cls);
	}
	if (label != NULL) {
		q[nq].type = CKA_LABEL;
		q[nq].pValue = (void *)label;
		q[nq++].ulValueLen = strlen(label);
	}
	if (id != NULL) {
		q[nq].type = CKA_ID;
		q[nq].pValue = (void *)id;
		q[nq++].ulValueLen = id_len;
	}
	if (t->fl->C_FindObjectsInit(t->s, q, nq) != CKR_OK)
		return 0;
	while (t->fl->C_FindObjects(t->s, found, 16, &got) == CKR_OK && got > 0)
		n += got;
	(void)t->fl->C_FindObjectsFinal(t->s);
	return n;
}

CK_OBJECT_HANDLE
atk_find_master(struct atk_target *t)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE q[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)KL_TEST_MASTER, sizeof(KL_TEST_MASTER) - 1 },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	if (t->fl->C_FindObjectsInit(t->s, q, 2) != CKR_OK)
		return CK_INVALID_HANDLE;
	if (t->fl->C_FindObjects(t->s, &h, 1, &n) != CKR_OK || n != 1)
		h = CK_INVALID_HANDLE;
	(void)t->fl->C_FindObjectsFinal(t->s);
	return h;
}

CK_RV
atk_relogin(struct atk_target *t, const char *pin)
{
	(void)t->fl->C_Logout(t->s);
	return t->fl->C_Login(t->s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
}

/* ---- the token as an AES oracle ---------------------------------------------- */

int
atk_p11_block(void *arg, const unsigned char in[16], unsigned char out[16])
{
	struct atk_p11_oracle *o = arg;
	CK_FUNCTION_LIST_PTR fl = o->t->fl;
	unsigned char iv[16] = { 0 }, zero[16] = { 0 };
	CK_AES_CTR_PARAMS ctr;
	CK_MECHANISM m = { o->mech, NULL, 0 };
	const unsigned char *data = in;
	CK_ULONG outlen = 16;
	CK_RV rv;

	if (o->mech == CKM_AES_CBC) {
		/* one block with a zero IV is one ECB block */
		m.pParameter = iv;
		m.ulParameterLen = sizeof(iv);
	} else if (o->mech == CKM_AES_CTR) {
		/* the keystream block for counter block in is AES(in): encrypt zeros */
		memset(&ctr, 0, sizeof(ctr));
		ctr.ulCounterBits = 128;
		memcpy(ctr.cb, in, 16);
		m.pParameter = &ctr;
		m.ulParameterLen = sizeof(ctr);
		data = zero;
	}
	if (o->decrypt) {
		o->call = "C_DecryptInit";
		if ((rv = fl->C_DecryptInit(o->t->s, &m, o->key)) == CKR_OK) {
			o->call = "C_Decrypt";
			rv = fl->C_Decrypt(o->t->s, (CK_BYTE_PTR)data, 16, out, &outlen);
		}
	} else {
		o->call = "C_EncryptInit";
		if ((rv = fl->C_EncryptInit(o->t->s, &m, o->key)) == CKR_OK) {
			o->call = "C_Encrypt";
			rv = fl->C_Encrypt(o->t->s, (CK_BYTE_PTR)data, 16, out, &outlen);
		}
	}
	if (rv == CKR_OK && outlen != 16)
		rv = CKR_DATA_LEN_RANGE;
	if (rv != CKR_OK) {
		o->rv = rv;
		return -1;
	}
	o->blocks++;
	return 0;
}

int
atk_decrypt_kwp(struct atk_target *t, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mech,
		const unsigned char *blob, size_t len, const char *keyname)
{
	struct atk_p11_oracle o;
	unsigned char out[ATK_BLOB_MAX];
	size_t outlen = 0;
	enum atk_kw_result r;
	char how[160];

	memset(&o, 0, sizeof(o));
	o.t = t;
	o.key = key;
	o.mech = mech;
	o.decrypt = mech != CKM_AES_CTR;
	r = atk_kw_unwrap(1, atk_p11_block, &o, blob, len, out, &outlen);
	if (r == ATK_KW_ORACLE)
		return atk_stop(t, o.rv, "%s(%s, %s) as an AES^-1 oracle", o.call,
		    kl_ckm(mech), keyname);
	if (r != ATK_KW_OK)
		return atk_stop(t, CKR_OK, "the %s oracle answered, but RFC 5649 integrity "
		    "failed (not AES^-1 of that key)", kl_ckm(mech));
	snprintf(how, sizeof(how), "RFC 5649 inverted with %lu %s(%s, %s) blocks",
	    o.blocks, o.decrypt ? "C_Decrypt" : "C_Encrypt", kl_ckm(mech), keyname);
	r = atk_check_victim(t, out, outlen, how);
	OPENSSL_cleanse(out, sizeof(out));
	return r;
}

/* ---- children ------------------------------------------------------------------- */

struct child_head {
	int	ok;
	char	note[200];
};

typedef void (*child_body)(struct atk_target *t, void *arg);

static void
child_fail(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

static void
child_fail(int fd, const char *fmt, ...)
{
	struct child_head h;
	va_list ap;

	memset(&h, 0, sizeof(h));
	va_start(ap, fmt);
	vsnprintf(h.note, sizeof(h.note), fmt, ap);
	va_end(ap);
	fprintf(stderr, "attack child: %s\n", h.note);
	if (write(fd, &h, sizeof(h)) < 0)
		_exit(2);	/* the parent reads "the child sent nothing" */
	_exit(1);
}

static CK_RV
open_slot(CK_FUNCTION_LIST_PTR fl, CK_SLOT_ID *out)
{
	CK_SLOT_ID slots[16];
	CK_TOKEN_INFO ti;
	CK_ULONG n = 16, i;
	char want[32];
	CK_RV rv;

	memset(want, ' ', sizeof(want));
	memcpy(want, KL_TEST_TOKEN, sizeof(KL_TEST_TOKEN) - 1);
	if ((rv = fl->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		return rv;
	for (i = 0; i < n; i++) {
		if (fl->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    memcmp(ti.label, want, sizeof(want)) == 0) {
			*out = slots[i];
			return CKR_OK;
		}
	}
	return CKR_TOKEN_NOT_PRESENT;
}

static int
write_all(int fd, const void *p, size_t len)
{
	const unsigned char *b = p;
	ssize_t w;

	while (len > 0) {
		if ((w = write(fd, b, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		len -= (size_t)w;
	}
	return 0;
}

static int
read_all(int fd, void *p, size_t len)
{
	unsigned char *b = p;
	ssize_t r;

	while (len > 0) {
		if ((r = read(fd, b, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return -1;
		b += r;
		len -= (size_t)r;
	}
	return 0;
}

static void __attribute__((noreturn))
child_main(int fd, const struct atk_fixture *fx, const struct atk_attacker *a,
	   child_body body, void *arg, size_t len, const char *errpath)
{
	struct atk_report dummy;
	struct child_head h;
	struct atk_target t;
	CK_C_GetFunctionList getfl;
	char conf[400];
	void *dl;
	int efd;
	CK_RV rv;

	alarm(CHILD_TIMEOUT_S);
	if ((efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0) {
		(void)dup2(efd, 2);
		close(efd);
	}
	/* the parent's environment names the last fixture made: name this one */
	setenv("KEYLOCKER_CONF", fx->ks.conf, 1);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", fx->ks.dir);
	setenv("SOFTHSM2_CONF", conf, 1);

	memset(&t, 0, sizeof(t));
	memset(&dummy, 0, sizeof(dummy));
	t.bare = a->bare;
	t.who = a->who;
	t.pin = a->pin != NULL ? a->pin : fx->ks.backend_pin;
	t.pin2 = a->pin2;
	t.fx = fx;
	t.rep = &dummy;
	if ((dl = dlopen(a->bare ? fx->ks.backend : fx->ks.module, RTLD_NOW | RTLD_LOCAL)) == NULL)
		child_fail(fd, "dlopen: %s", dlerror());
	if ((getfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    getfl(&t.fl) != CKR_OK)
		child_fail(fd, "no C_GetFunctionList");
	if ((rv = t.fl->C_Initialize(NULL)) != CKR_OK)
		child_fail(fd, "C_Initialize: %s", kl_ckr(rv));
	if ((rv = open_slot(t.fl, &t.slot)) != CKR_OK)
		child_fail(fd, "no token %s: %s", KL_TEST_TOKEN, kl_ckr(rv));
	if ((rv = t.fl->C_OpenSession(t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
	    &t.s)) != CKR_OK)
		child_fail(fd, "C_OpenSession: %s", kl_ckr(rv));
	if ((rv = t.fl->C_Login(t.s, CKU_USER, (CK_UTF8CHAR_PTR)t.pin, strlen(t.pin))) != CKR_OK)
		child_fail(fd, "C_Login as %s: %s", a->who, kl_ckr(rv));
	if ((t.master = atk_find_master(&t)) == CK_INVALID_HANDLE)
		child_fail(fd, "no single master key \"%s\" visible to %s", KL_TEST_MASTER, a->who);

	body(&t, arg);

	/* C_Finalize closes keylocker's audit trail: its records are on disk after this */
	(void)t.fl->C_Finalize(NULL);
	memset(&h, 0, sizeof(h));
	h.ok = 1;
	if (write_all(fd, &h, sizeof(h)) != 0 || write_all(fd, arg, len) != 0)
		_exit(1);
	_exit(0);
}

/*
 * Fork, run body(t, arg) in the child against fx as a, and copy len bytes of
 * arg back.  Returns 0, or -1 with note filled (arg is then untouched).
 */
static int
in_child(struct atk_fixture *fx, const struct atk_attacker *a, child_body body, void *arg,
	 size_t len, char *errpath, size_t errpathlen, char *note, size_t notelen)
{
	struct child_head h;
	unsigned char *buf = NULL;
	int p[2], status = 0, r = -1;
	pid_t pid;

	snprintf(errpath, errpathlen, "%s/attack-%03d-%s.err", fx->ks.dir, fx->serial++, a->who);
	note[0] = '\0';
	if (pipe(p) != 0 || (buf = malloc(len)) == NULL) {
		snprintf(note, notelen, "pipe: %s", strerror(errno));
		free(buf);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		snprintf(note, notelen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		free(buf);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		child_main(p[1], fx, a, body, arg, len, errpath);
	}
	close(p[1]);
	memset(&h, 0, sizeof(h));
	if (read_all(p[0], &h, sizeof(h)) != 0) {
		snprintf(note, notelen, "the child sent nothing");
	} else if (!h.ok) {
		snprintf(note, notelen, "%s", h.note);
	} else if (read_all(p[0], buf, len) != 0) {
		snprintf(note, notelen, "the child's report was cut short");
	} else {
		memcpy(arg, buf, len);
		r = 0;
	}
	close(p[0]);
	free(buf);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		snprintf(note, notelen, "the child died of signal %d (see %s)", WTERMSIG(status),
		    errpath);
		r = -1;
	}
	return r;
}

/* ---- what keylocker logged and audited during a child ----------------------------- */

/* Add each distinct "rule NAME:" of keylocker's refusal lines to rules. */
static void
collect_rules(const char *errpath, char *rules, size_t len)
{
	char line[2048], name[64];
	FILE *f;

	rules[0] = '\0';
	if ((f = fopen(errpath, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *p = strstr(line, ": rule ");
		size_t n;

		if (strstr(line, "refused ") == NULL || p == NULL)
			continue;
		p += strlen(": rule ");
		n = strcspn(p, ": \n");
		if (n == 0 || n >= sizeof(name))
			continue;
		memcpy(name, p, n);
		name[n] = '\0';
		if (strstr(rules, name) != NULL)
			continue;
		if (strlen(rules) + n + 3 < len) {
			if (rules[0] != '\0')
				strcat(rules, ", ");
			strcat(rules, name);
		}
	}
	fclose(f);
}

static long
audit_size(const struct atk_fixture *fx)
{
	char path[400];
	struct stat st;

	snprintf(path, sizeof(path), "%s/audit/audit.log", fx->ks.dir);
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Deny records appended to the audit trail since offset. */
static int
audit_denies_since(const struct atk_fixture *fx, long offset)
{
	char path[400], line[4096];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/audit/audit.log", fx->ks.dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fseek(f, offset, SEEK_SET) == 0) {
		while (fgets(line, sizeof(line), f) != NULL) {
			if (strstr(line, "\"op\":\"deny\"") != NULL &&
			    strstr(line, "\"rule\":\"") != NULL)
				n++;
		}
	}
	fclose(f);
	return n;
}

/* The child's argument and answer: the attack to run, and its report. */
struct run_arg {
	atk_fn			fn;
	struct atk_report	rep;
};

static void
attack_body(struct atk_target *t, void *arg)
{
	struct run_arg *ra = arg;

	t->rep = &ra->rep;
	ra->fn(t);
	close_route(t);
}

void
atk_run(struct atk_fixture *fx, const struct atk_attacker *a, atk_fn fn, struct atk_report *rep)
{
	struct run_arg ra;
	char errpath[400], note[200];
	long before;

	memset(&ra, 0, sizeof(ra));
	ra.fn = fn;
	before = audit_size(fx);
	if (in_child(fx, a, attack_body, &ra, sizeof(ra), errpath, sizeof(errpath),
	    note, sizeof(note)) != 0) {
		memset(&ra.rep, 0, sizeof(ra.rep));
		ra.rep.outcome = ATK_ERROR;
		snprintf(ra.rep.note, sizeof(ra.rep.note), "%s", note);
	}
	*rep = ra.rep;
	if (!a->bare) {
		collect_rules(errpath, rep->rules, sizeof(rep->rules));
		rep->denies = audit_denies_since(fx, before);
	}
}

/* ---- fixtures -------------------------------------------------------------------- */

struct victim_out {
	CK_RV		rv;
	char		step[64];
	unsigned char	blob[ATK_BLOB_MAX];
	CK_ULONG	blob_len;
	unsigned char	id[64];
	CK_ULONG	id_len;
};

/* The keyring client imports the known secret and wraps it: a real blob. */
static void
make_victim(struct atk_target *t, void *arg)
{
	struct victim_out *v = arg;
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE id = { CKA_ID, v->id, sizeof(v->id) };
	CK_OBJECT_HANDLE h;
	struct atk_tmpl tb;

	atk_tmpl_init(&tb);
	atk_tmpl_secret(&tb, CKK_GENERIC_SECRET, 0);
	atk_tmpl_flags(&tb, ATK_EXTRACT, ATK_TOKEN | ATK_SENSITIVE);
	atk_tmpl_bytes(&tb, CKA_LABEL, "atk-victim", 10);
	atk_tmpl_bytes(&tb, CKA_VALUE, t->fx->victim, ATK_VICTIM_LEN);
	snprintf(v->step, sizeof(v->step), "C_CreateObject");
	if ((v->rv = t->fl->C_CreateObject(t->s, tb.a, tb.n, &h)) != CKR_OK)
		return;
	snprintf(v->step, sizeof(v->step), "C_WrapKey");
	v->blob_len = sizeof(v->blob);
	if ((v->rv = t->fl->C_WrapKey(t->s, &kwp, t->master, h, v->blob, &v->blob_len)) != CKR_OK)
		return;
	snprintf(v->step, sizeof(v->step), "C_GetAttributeValue(CKA_ID)");
	if ((v->rv = t->fl->C_GetAttributeValue(t->s, t->master, &id, 1)) != CKR_OK)
		return;
	v->id_len = id.ulValueLen;
	(void)t->fl->C_DestroyObject(t->s, h);
}

int
atk_fixture_init(struct atk_fixture *fx)
{
	static const struct atk_attacker keyring = { "victim-maker", 0, KL_TEST_KEYRING_PIN, NULL };
	struct victim_out v;
	char errpath[400], note[200];
	int r;

	memset(fx, 0, sizeof(*fx));
	if ((r = kl_setup_init(&fx->ks, NULL)) != 0)
		return r;
	if (RAND_bytes(fx->victim, sizeof(fx->victim)) != 1)
		return -1;
	memset(&v, 0, sizeof(v));
	if (in_child(fx, &keyring, make_victim, &v, sizeof(v), errpath, sizeof(errpath),
	    note, sizeof(note)) != 0) {
		fprintf(stderr, "making the victim secret failed: %s\n", note);
		return -1;
	}
	if (v.rv != CKR_OK || v.blob_len != ATK_VICTIM_LEN + 8 || v.id_len > sizeof(v.id)) {
		fprintf(stderr, "making the victim secret failed at %s: %s (blob %lu bytes)\n",
		    v.step, kl_ckr(v.rv), (unsigned long)v.blob_len);
		return -1;
	}
	memcpy(fx->blob, v.blob, v.blob_len);
	fx->blob_len = v.blob_len;
	memcpy(fx->master_id, v.id, v.id_len);
	fx->master_id_len = v.id_len;
	return 0;
}

/* ---- the master key after an attack --------------------------------------------- */

struct master_check {
	int	ok;
	char	note[200];
};

static void
master_check(struct atk_target *t, void *arg)
{
	struct master_check *mc = arg;
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE, v = CK_INVALID_HANDLE;
	unsigned char blob[ATK_BLOB_MAX], val[ATK_BLOB_MAX];
	CK_ULONG blen = sizeof(blob), vlen = sizeof(val), n;
	struct atk_tmpl tb;
	CK_RV rv;

	if ((n = atk_count(t, CK_UNAVAILABLE_INFORMATION, KL_TEST_MASTER, NULL, 0)) != 1) {
		snprintf(mc->note, sizeof(mc->note), "%lu objects carry the master key's label",
		    (unsigned long)n);
		return;
	}
	if ((n = atk_count(t, CK_UNAVAILABLE_INFORMATION, NULL, t->fx->master_id,
	    t->fx->master_id_len)) != 1) {
		snprintf(mc->note, sizeof(mc->note), "%lu objects carry the master key's CKA_ID",
		    (unsigned long)n);
		return;
	}
	if (atk_count(t, CKO_SECRET_KEY, KL_TEST_MAC, NULL, 0) != 1 ||
	    atk_count(t, CKO_SECRET_KEY, KL_TEST_AUDIT_KEY, NULL, 0) != 1) {
		snprintf(mc->note, sizeof(mc->note), "the store MAC key or the audit key is gone");
		return;
	}
	atk_tmpl_init(&tb);
	atk_tmpl_secret(&tb, CKK_GENERIC_SECRET, 0);
	atk_tmpl_flags(&tb, ATK_EXTRACT, ATK_TOKEN | ATK_SENSITIVE);
	atk_tmpl_bytes(&tb, CKA_VALUE, "a fresh secret after the attack", 32);
	if ((rv = t->fl->C_CreateObject(t->s, tb.a, tb.n, &h)) != CKR_OK ||
	    (rv = t->fl->C_WrapKey(t->s, &kwp, t->master, h, blob, &blen)) != CKR_OK) {
		snprintf(mc->note, sizeof(mc->note), "the master key no longer wraps: %s",
		    kl_ckr(rv));
		return;
	}
	if ((rv = atk_unwrap_victim(t, ATK_EXTRACT, ATK_SENSITIVE, &v)) != CKR_OK ||
	    (rv = atk_read_value(t, v, val, &vlen)) != CKR_OK) {
		snprintf(mc->note, sizeof(mc->note), "the master key no longer unwraps: %s",
		    kl_ckr(rv));
		return;
	}
	if (vlen != ATK_VICTIM_LEN || CRYPTO_memcmp(val, t->fx->victim, ATK_VICTIM_LEN) != 0)
		snprintf(mc->note, sizeof(mc->note), "the victim blob unwraps to other bytes");
	else
		mc->ok = 1;
	OPENSSL_cleanse(val, sizeof(val));
}

int
atk_master_ok(struct atk_fixture *fx, char *note, size_t notelen)
{
	static const struct atk_attacker keyring = { "master-check", 0, KL_TEST_KEYRING_PIN, NULL };
	struct master_check mc;
	char errpath[400];

	memset(&mc, 0, sizeof(mc));
	if (in_child(fx, &keyring, master_check, &mc, sizeof(mc), errpath, sizeof(errpath),
	    note, notelen) != 0)
		return -1;
	if (!mc.ok) {
		snprintf(note, notelen, "%s", mc.note);
		return -1;
	}
	return 0;
}

void
atk_fixture_cleanup(struct atk_fixture *fx)
{
	kl_setup_cleanup(&fx->ks);
	OPENSSL_cleanse(fx->victim, sizeof(fx->victim));
}
