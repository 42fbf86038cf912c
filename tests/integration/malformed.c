/*
 * The malformed-call suite: a table of calls that break the PKCS#11 rules
 * (NULL pointers, absurd lengths and counts, the two-call convention,
 * unknown, zero and stale handles, bad templates, calls before
 * C_Initialize and after C_Finalize), each made once against
 * libkeylocker-pkcs11.so and once against bare SoftHSM2 on the same token.
 *
 * Every case runs in a child of its own: the child dlopen()s the target,
 * initialises it, opens a session and logs in where the case needs it
 * (keylocker: the admin client; SoftHSM2: the token's user PIN), announces
 * the one malformed call on a pipe, makes it and reports the CK_RV.  The
 * parent records "CKR_x", "crash (signal N)" or "hang" (killed after
 * MF_TIMEOUT_MS).  Through keylocker nothing may crash or hang and every
 * case must return the value in its row; SoftHSM2's results are recorded,
 * not asserted (docs/malformed-calls.md).
 *
 * Two programs are built from this file (tests/cmake/malformed.cmake):
 *   test_malformed           the CTest (CUnit), label integration
 *   malformed [--markdown] [CASE...]
 *                            the comparison table, as text or Markdown, of
 *                            every case or of the cases named
 *
 * Under ASan (KL_SANITIZE) a keylocker child ends with exit(), so
 * LeakSanitizer checks the module's heap, and any sanitizer report on its
 * stderr fails the row.  A bare SoftHSM2 child runs in the same
 * instrumented program: its crashes read "exit 1, AddressSanitizer: SEGV"
 * or "allocation-size-too-big" instead of a signal or exit(5), and leak
 * checking is off for it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "common/p11names.h"
#include "tests/integration/klsetup.h"
#ifndef MALFORMED_MAIN
#include "tests/unit/cutest.h"
#endif

#define MF_TIMEOUT_MS	10000	/* a child still running after this hangs */
#define MF_NOTE_MAX	112

/* A count or length no caller can mean: more than any buffer it could own. */
#if ULONG_MAX > 0xffffffffUL
#define MF_HUGE		((CK_ULONG)1 << 40)
#else
#define MF_HUGE		((CK_ULONG)0x7fffffffUL)
#endif

/* PKCS#11 3.0 interface calls; p11-kit's 0.24 header predates them. */
struct mf_interface {
	CK_UTF8CHAR	*pInterfaceName;
	CK_VOID_PTR	 pFunctionList;
	CK_FLAGS	 flags;
};
typedef CK_RV (*mf_get_interface_fn)(CK_UTF8CHAR_PTR, CK_VERSION_PTR,
				     struct mf_interface **, CK_FLAGS);
typedef CK_RV (*mf_get_interface_list_fn)(struct mf_interface *, CK_ULONG_PTR);

/* ---- what a child tells its parent ---------------------------------------- */

enum mf_msg_kind {
	MF_MSG_BEGIN = 1,	/* the malformed call (text: its name) starts now */
	MF_MSG_RESULT,		/* it returned rv */
	MF_MSG_SETUP,		/* a step before it failed (text: step and CKR) */
	MF_MSG_NA,		/* the target lacks the entry point */
};

enum mf_check { MF_CHECK_NONE = 0, MF_CHECK_OK = 1, MF_CHECK_FAILED = -1 };

/* One write of less than PIPE_BUF bytes: atomic, so a crash never tears it. */
struct mf_msg {
	int		 kind;
	int		 check;
	CK_RV		 rv;
	char		 text[MF_NOTE_MAX];
};

struct mf_target {
	const char	*name;
	const char	*module;
	const char	*pin;		/* CKU_USER PIN of the token */
	int		 sanitized;	/* keylocker: its children run exit() (LeakSanitizer) */
};

/* A child's state: what is set up, and the note on the result. */
struct mf_ctx {
	const struct mf_target	*tgt;
	int			 fd;		/* the pipe to the parent */
	void			*dl;
	CK_FUNCTION_LIST_PTR	 fl;
	int			 initialized;
	CK_SLOT_ID		 slot;
	int			 have_slot;
	CK_SESSION_HANDLE	 s;		/* 0: none */
	int			 logged_in;
	int			 check;
	char			 note[MF_NOTE_MAX];
};

typedef CK_RV (*mf_case_fn)(struct mf_ctx *c);

struct mf_case {
	const char	*id;
	const char	*call;		/* the call as made, for the table */
	CK_RV		 expect;	/* what keylocker must return */
	mf_case_fn	 run;
	const char	*known;		/* a reported keylocker bug makes it return otherwise */
};

enum mf_kind {
	MF_RV,			/* the call returned */
	MF_NA,			/* not exported by the target */
	MF_SETUP,		/* could not get to the call */
	MF_CRASH,
	MF_HANG,
	MF_LOST,		/* exited without a word */
};

struct mf_result {
	enum mf_kind	 kind;
	CK_RV		 rv;
	int		 check;
	int		 sig;		/* crash: the signal, 0 for a nonzero exit */
	int		 status;	/* crash: the exit status when sig is 0 */
	int		 sanitizer;	/* a sanitizer report on the child's stderr */
	char		 san[64];	/* its SUMMARY: "AddressSanitizer: SEGV", ... */
	enum mf_kind	 after;		/* MF_RV: the child was fine afterwards */
	int		 after_sig, after_status;
	char		 where[MF_NOTE_MAX];	/* the last call begun */
	char		 note[MF_NOTE_MAX];
};

/* ---- the child's side ------------------------------------------------------ */

static void
mf_send(struct mf_ctx *c, int kind, CK_RV rv, const char *text)
{
	struct mf_msg m;
	ssize_t n;

	memset(&m, 0, sizeof(m));
	m.kind = kind;
	m.rv = rv;
	m.check = c->check;
	if (text != NULL)
		snprintf(m.text, sizeof(m.text), "%s", text);
	do {
		n = write(c->fd, &m, sizeof(m));
	} while (n < 0 && errno == EINTR);
}

static void
mf_begin(struct mf_ctx *c, const char *fn)
{
	mf_send(c, MF_MSG_BEGIN, CKR_OK, fn);
}

/* The one malformed call: announced first, so a crash is pinned on it. */
#define CALL(c, fn, ...)	(mf_begin((c), #fn), (c)->fl->fn(__VA_ARGS__))

static void mf_note(struct mf_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
mf_note(struct mf_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->note, sizeof(c->note), fmt, ap);
	va_end(ap);
}

/* A step before the malformed call failed: say which, and stop. */
static void
mf_need(struct mf_ctx *c, const char *step, CK_RV rv)
{
	char text[MF_NOTE_MAX];

	if (rv == CKR_OK)
		return;
	snprintf(text, sizeof(text), "%s: %s", step, kl_ckr(rv));
	mf_send(c, MF_MSG_SETUP, rv, text);
	_exit(3);
}

static void
mf_load(struct mf_ctx *c)
{
	CK_C_GetFunctionList getfl;
	char text[MF_NOTE_MAX];

	if (c->fl != NULL)
		return;
	if ((c->dl = dlopen(c->tgt->module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(text, sizeof(text), "dlopen: %s", dlerror());
		mf_send(c, MF_MSG_SETUP, CKR_GENERAL_ERROR, text);
		_exit(3);
	}
	if ((getfl = (CK_C_GetFunctionList)dlsym(c->dl, "C_GetFunctionList")) == NULL)
		mf_need(c, "dlsym C_GetFunctionList", CKR_GENERAL_ERROR);
	mf_need(c, "C_GetFunctionList", getfl(&c->fl));
}

static void
mf_init(struct mf_ctx *c)
{
	mf_load(c);
	if (c->initialized)
		return;
	mf_need(c, "C_Initialize", c->fl->C_Initialize(NULL));
	c->initialized = 1;
}

static void
mf_finalize(struct mf_ctx *c)
{
	mf_need(c, "C_Finalize", c->fl->C_Finalize(NULL));
	c->initialized = 0;
	c->have_slot = 0;
	c->s = 0;
	c->logged_in = 0;
}

/* The slot holding the test token: keylocker's, or the backend's by label. */
static void
mf_slot(struct mf_ctx *c)
{
	CK_SLOT_ID ids[16];
	CK_TOKEN_INFO ti;
	CK_ULONG n = 16, i;
	char label[sizeof(ti.label) + 1];
	size_t len;

	mf_init(c);
	if (c->have_slot)
		return;
	mf_need(c, "C_GetSlotList", c->fl->C_GetSlotList(CK_TRUE, ids, &n));
	for (i = 0; i < n; i++) {
		if (c->fl->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		memcpy(label, ti.label, sizeof(ti.label));
		for (len = sizeof(ti.label); len > 0 && label[len - 1] == ' '; len--)
			;
		label[len] = '\0';
		if (strcmp(label, KL_TEST_TOKEN) == 0) {
			c->slot = ids[i];
			c->have_slot = 1;
			return;
		}
	}
	mf_need(c, "no slot with token " KL_TEST_TOKEN, CKR_TOKEN_NOT_PRESENT);
}

static void
mf_session(struct mf_ctx *c)
{
	mf_slot(c);
	if (c->s != 0)
		return;
	mf_need(c, "C_OpenSession", c->fl->C_OpenSession(c->slot,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &c->s));
}

static void
mf_login(struct mf_ctx *c)
{
	mf_session(c);
	if (c->logged_in)
		return;
	mf_need(c, "C_Login", c->fl->C_Login(c->s, CKU_USER, (CK_UTF8CHAR_PTR)c->tgt->pin,
	    strlen(c->tgt->pin)));
	c->logged_in = 1;
}

static CK_BBOOL mf_yes = CK_TRUE, mf_no = CK_FALSE;
static CK_OBJECT_CLASS mf_data_class = CKO_DATA, mf_secret_class = CKO_SECRET_KEY;
static CK_ULONG mf_zero = 0;
static unsigned char mf_bytes[64] = "sixteen bytes!!!sixteen bytes!!!sixteen bytes!!!sixteen bytes!!";

/* A session data object labelled label (logged in). */
static CK_OBJECT_HANDLE
mf_data(struct mf_ctx *c, const char *label)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &mf_data_class, sizeof(mf_data_class) },
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_VALUE, mf_bytes, 4 },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	mf_login(c);
	mf_need(c, "C_CreateObject (data object)",
	    c->fl->C_CreateObject(c->s, t, sizeof(t) / sizeof(t[0]), &h));
	return h;
}

/* An AES-128 session key for encrypt, decrypt and derive. */
static CK_OBJECT_HANDLE
mf_aes(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG len = 16;
	CK_ATTRIBUTE t[] = {
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_ENCRYPT, &mf_yes, sizeof(mf_yes) },
		{ CKA_DECRYPT, &mf_yes, sizeof(mf_yes) },
		{ CKA_DERIVE, &mf_yes, sizeof(mf_yes) },
		{ CKA_LABEL, "mf-aes", 6 },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	mf_login(c);
	mf_need(c, "C_GenerateKey (AES)",
	    c->fl->C_GenerateKey(c->s, &m, t, sizeof(t) / sizeof(t[0]), &h));
	return h;
}

/* A 32-byte generic secret session key for HMAC-SHA256 sign and verify. */
static CK_OBJECT_HANDLE
mf_hmac(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_ULONG len = 32;
	CK_ATTRIBUTE t[] = {
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_SIGN, &mf_yes, sizeof(mf_yes) },
		{ CKA_VERIFY, &mf_yes, sizeof(mf_yes) },
		{ CKA_LABEL, "mf-hmac", 7 },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	mf_login(c);
	mf_need(c, "C_GenerateKey (HMAC)",
	    c->fl->C_GenerateKey(c->s, &m, t, sizeof(t) / sizeof(t[0]), &h));
	return h;
}

static void
mf_encrypt_init(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_ECB, NULL, 0 };
	CK_OBJECT_HANDLE k = mf_aes(c);

	mf_need(c, "C_EncryptInit", c->fl->C_EncryptInit(c->s, &m, k));
}

static void
mf_sign_init(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_HANDLE k = mf_hmac(c);

	mf_need(c, "C_SignInit", c->fl->C_SignInit(c->s, &m, k));
}

static void
mf_digest_init(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };

	mf_login(c);
	mf_need(c, "C_DigestInit", c->fl->C_DigestInit(c->s, &m));
}

/* A length the call wrote back, against the one it had to write. */
static void
mf_check_len(struct mf_ctx *c, const char *what, CK_ULONG got, CK_ULONG want)
{
	c->check = got == want ? MF_CHECK_OK : MF_CHECK_FAILED;
	if (got == want && want == CK_UNAVAILABLE_INFORMATION)
		mf_note(c, "%s set to CK_UNAVAILABLE_INFORMATION", what);
	else if (got == want)
		mf_note(c, "%s %lu written back", what, (unsigned long)got);
	else if (want == CK_UNAVAILABLE_INFORMATION)
		mf_note(c, "%s %#lx, not CK_UNAVAILABLE_INFORMATION", what, (unsigned long)got);
	else
		mf_note(c, "%s %#lx written back, needs %lu", what, (unsigned long)got,
		    (unsigned long)want);
}

static void *
mf_sym(struct mf_ctx *c, const char *name)
{
	void *p;

	mf_load(c);
	if ((p = dlsym(c->dl, name)) == NULL) {
		mf_send(c, MF_MSG_NA, CKR_OK, name);
		_exit(0);
	}
	return p;
}

/* ---- the cases: before C_Initialize, C_Initialize and C_Finalize ----------- */

/* Every entry point with zero arguments; returns the first CKR other than want. */
static CK_RV
mf_sweep(struct mf_ctx *c, CK_SESSION_HANDLE h, CK_RV want)
{
	CK_RV first = want;
	int bad = 0, total = 0;
	size_t used = 0;

	c->note[0] = '\0';
#define SWEEP(fn, ...) do {							\
	CK_RV r_ = CALL(c, fn, __VA_ARGS__);					\
	total++;								\
	if (r_ != want) {							\
		if (bad++ == 0)							\
			first = r_;						\
		if (used < sizeof(c->note) - 1)					\
			used += (size_t)snprintf(c->note + used,		\
			    sizeof(c->note) - used, "%s%s %s",			\
			    used > 0 ? ", " : "", #fn, kl_ckr(r_));		\
	}									\
} while (0)
	SWEEP(C_GetInfo, NULL);
	SWEEP(C_GetSlotList, CK_FALSE, NULL, NULL);
	SWEEP(C_GetSlotInfo, 0, NULL);
	SWEEP(C_GetTokenInfo, 0, NULL);
	SWEEP(C_GetMechanismList, 0, NULL, NULL);
	SWEEP(C_GetMechanismInfo, 0, 0, NULL);
	SWEEP(C_InitToken, 0, NULL, 0, NULL);
	SWEEP(C_InitPIN, h, NULL, 0);
	SWEEP(C_SetPIN, h, NULL, 0, NULL, 0);
	SWEEP(C_OpenSession, 0, 0, NULL, NULL, NULL);
	SWEEP(C_CloseSession, h);
	SWEEP(C_CloseAllSessions, 0);
	SWEEP(C_GetSessionInfo, h, NULL);
	SWEEP(C_GetOperationState, h, NULL, NULL);
	SWEEP(C_SetOperationState, h, NULL, 0, 0, 0);
	SWEEP(C_Login, h, CKU_USER, NULL, 0);
	SWEEP(C_Logout, h);
	SWEEP(C_CreateObject, h, NULL, 0, NULL);
	SWEEP(C_CopyObject, h, 0, NULL, 0, NULL);
	SWEEP(C_DestroyObject, h, 0);
	SWEEP(C_GetObjectSize, h, 0, NULL);
	SWEEP(C_GetAttributeValue, h, 0, NULL, 0);
	SWEEP(C_SetAttributeValue, h, 0, NULL, 0);
	SWEEP(C_FindObjectsInit, h, NULL, 0);
	SWEEP(C_FindObjects, h, NULL, 0, NULL);
	SWEEP(C_FindObjectsFinal, h);
	SWEEP(C_EncryptInit, h, NULL, 0);
	SWEEP(C_Encrypt, h, NULL, 0, NULL, NULL);
	SWEEP(C_EncryptUpdate, h, NULL, 0, NULL, NULL);
	SWEEP(C_EncryptFinal, h, NULL, NULL);
	SWEEP(C_DecryptInit, h, NULL, 0);
	SWEEP(C_Decrypt, h, NULL, 0, NULL, NULL);
	SWEEP(C_DecryptUpdate, h, NULL, 0, NULL, NULL);
	SWEEP(C_DecryptFinal, h, NULL, NULL);
	SWEEP(C_DigestInit, h, NULL);
	SWEEP(C_Digest, h, NULL, 0, NULL, NULL);
	SWEEP(C_DigestUpdate, h, NULL, 0);
	SWEEP(C_DigestKey, h, 0);
	SWEEP(C_DigestFinal, h, NULL, NULL);
	SWEEP(C_SignInit, h, NULL, 0);
	SWEEP(C_Sign, h, NULL, 0, NULL, NULL);
	SWEEP(C_SignUpdate, h, NULL, 0);
	SWEEP(C_SignFinal, h, NULL, NULL);
	SWEEP(C_SignRecoverInit, h, NULL, 0);
	SWEEP(C_SignRecover, h, NULL, 0, NULL, NULL);
	SWEEP(C_VerifyInit, h, NULL, 0);
	SWEEP(C_Verify, h, NULL, 0, NULL, 0);
	SWEEP(C_VerifyUpdate, h, NULL, 0);
	SWEEP(C_VerifyFinal, h, NULL, 0);
	SWEEP(C_VerifyRecoverInit, h, NULL, 0);
	SWEEP(C_VerifyRecover, h, NULL, 0, NULL, NULL);
	SWEEP(C_DigestEncryptUpdate, h, NULL, 0, NULL, NULL);
	SWEEP(C_DecryptDigestUpdate, h, NULL, 0, NULL, NULL);
	SWEEP(C_SignEncryptUpdate, h, NULL, 0, NULL, NULL);
	SWEEP(C_DecryptVerifyUpdate, h, NULL, 0, NULL, NULL);
	SWEEP(C_GenerateKey, h, NULL, NULL, 0, NULL);
	SWEEP(C_GenerateKeyPair, h, NULL, NULL, 0, NULL, 0, NULL, NULL);
	SWEEP(C_WrapKey, h, NULL, 0, 0, NULL, NULL);
	SWEEP(C_UnwrapKey, h, NULL, 0, NULL, 0, NULL, 0, NULL);
	SWEEP(C_DeriveKey, h, NULL, 0, NULL, 0, NULL);
	SWEEP(C_SeedRandom, h, NULL, 0);
	SWEEP(C_GenerateRandom, h, NULL, 0);
	SWEEP(C_GetFunctionStatus, h);
	SWEEP(C_CancelFunction, h);
	SWEEP(C_WaitForSlotEvent, CKF_DONT_BLOCK, NULL, NULL);
	SWEEP(C_Finalize, NULL);
#undef SWEEP
	if (bad == 0)
		mf_note(c, "all %d entry points", total);
	else
		c->check = MF_CHECK_FAILED;
	return first;
}

static CK_RV
c_before_init_all(struct mf_ctx *c)
{
	mf_load(c);
	return mf_sweep(c, 1, CKR_CRYPTOKI_NOT_INITIALIZED);
}

static CK_RV
c_before_init_slotlist(struct mf_ctx *c)
{
	CK_ULONG n = 0;

	mf_load(c);
	return CALL(c, C_GetSlotList, CK_TRUE, NULL, &n);
}

static CK_RV
c_before_init_getattr(struct mf_ctx *c)
{
	unsigned char buf[64];
	CK_ATTRIBUTE t = { CKA_LABEL, buf, sizeof(buf) };

	mf_load(c);
	return CALL(c, C_GetAttributeValue, 1, 1, &t, 1);
}

static CK_RV
c_init_reserved(struct mf_ctx *c)
{
	CK_C_INITIALIZE_ARGS a;

	memset(&a, 0, sizeof(a));
	a.pReserved = &a;
	mf_load(c);
	return CALL(c, C_Initialize, &a);
}

static CK_RV
mf_create_mutex(CK_VOID_PTR_PTR m)
{
	*m = NULL;
	return CKR_OK;
}

static CK_RV
c_init_partial_mutex(struct mf_ctx *c)
{
	CK_C_INITIALIZE_ARGS a;

	memset(&a, 0, sizeof(a));
	a.CreateMutex = mf_create_mutex;	/* and no Destroy/Lock/Unlock */
	mf_load(c);
	return CALL(c, C_Initialize, &a);
}

/* Mutex callbacks that do nothing: the child has one thread. */
static int mf_mutex;

static CK_RV
mf_mutex_create(CK_VOID_PTR_PTR m)
{
	*m = &mf_mutex;
	return CKR_OK;
}

static CK_RV
mf_mutex_op(CK_VOID_PTR m)
{
	return m == &mf_mutex ? CKR_OK : CKR_MUTEX_BAD;
}

static CK_RV
c_init_three_mutex(struct mf_ctx *c)
{
	CK_C_INITIALIZE_ARGS a;

	memset(&a, 0, sizeof(a));
	a.CreateMutex = mf_mutex_create;
	a.DestroyMutex = mf_mutex_op;
	a.LockMutex = mf_mutex_op;	/* and no UnlockMutex */
	a.flags = CKF_OS_LOCKING_OK;
	mf_load(c);
	return CALL(c, C_Initialize, &a);
}

/*
 * [PKCS#11 2.40, C_Initialize] all four callbacks and no CKF_OS_LOCKING_OK:
 * the library should lock with the application's mutexes or return
 * CKR_CANT_LOCK.  keylocker locks with pthreads whatever it is given (safe
 * in any program on OS threads) and accepts, as SoftHSM2 does.
 */
static CK_RV
c_init_app_mutex_only(struct mf_ctx *c)
{
	CK_C_INITIALIZE_ARGS a;

	memset(&a, 0, sizeof(a));
	a.CreateMutex = mf_mutex_create;
	a.DestroyMutex = mf_mutex_op;
	a.LockMutex = mf_mutex_op;
	a.UnlockMutex = mf_mutex_op;
	mf_load(c);
	return CALL(c, C_Initialize, &a);
}

/*
 * [PKCS#11 2.40, C_Initialize] a library that cannot work without threads
 * of its own should return CKR_NEED_TO_CREATE_THREADS.  keylocker's audit
 * writer is one, yet it accepts: p11-kit (p11tool, every p11-kit-managed
 * consumer) passes CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK
 * to every module (seen with OpenSC's pkcs11-spy), and refusing it would
 * lock those consumers out.
 */
static CK_RV
c_init_no_threads(struct mf_ctx *c)
{
	CK_C_INITIALIZE_ARGS a;

	memset(&a, 0, sizeof(a));
	a.flags = CKF_OS_LOCKING_OK | CKF_LIBRARY_CANT_CREATE_OS_THREADS;
	mf_load(c);
	return CALL(c, C_Initialize, &a);
}

static CK_RV
c_init_twice(struct mf_ctx *c)
{
	mf_init(c);
	return CALL(c, C_Initialize, NULL);
}

static CK_RV
c_finalize_reserved(struct mf_ctx *c)
{
	int x = 0;

	mf_init(c);
	return CALL(c, C_Finalize, &x);
}

static CK_RV
c_finalize_twice(struct mf_ctx *c)
{
	mf_init(c);
	mf_finalize(c);
	return CALL(c, C_Finalize, NULL);
}

static CK_RV
c_after_finalize_all(struct mf_ctx *c)
{
	CK_SESSION_HANDLE h;

	mf_login(c);
	h = c->s;
	mf_finalize(c);
	return mf_sweep(c, h, CKR_CRYPTOKI_NOT_INITIALIZED);
}

static CK_RV
c_after_finalize_session(struct mf_ctx *c)
{
	CK_SESSION_INFO si;
	CK_SESSION_HANDLE h;

	mf_session(c);
	h = c->s;
	mf_finalize(c);
	return CALL(c, C_GetSessionInfo, h, &si);
}

static CK_RV
c_getfunctionlist_null(struct mf_ctx *c)
{
	CK_C_GetFunctionList getfl = (CK_C_GetFunctionList)mf_sym(c, "C_GetFunctionList");

	mf_begin(c, "C_GetFunctionList");
	return getfl(NULL);
}

/* ---- general purpose, slots and tokens ------------------------------------------- */

static CK_RV
c_getinfo_null(struct mf_ctx *c)
{
	mf_init(c);
	return CALL(c, C_GetInfo, NULL);
}

static CK_RV
c_slotlist_null_count(struct mf_ctx *c)
{
	CK_SLOT_ID ids[4];

	mf_init(c);
	return CALL(c, C_GetSlotList, CK_TRUE, ids, NULL);
}

static CK_RV
c_slotlist_length(struct mf_ctx *c)
{
	CK_ULONG n = 0xdeadbeefUL;
	CK_RV rv;

	mf_init(c);
	rv = CALL(c, C_GetSlotList, CK_TRUE, NULL, &n);
	c->check = n >= 1 && n < 64 ? MF_CHECK_OK : MF_CHECK_FAILED;
	mf_note(c, "count %lu", (unsigned long)n);
	return rv;
}

static CK_RV
c_slotlist_short(struct mf_ctx *c)
{
	CK_SLOT_ID ids[1];
	CK_ULONG need = 0, n = 0;
	CK_RV rv;

	mf_init(c);
	mf_need(c, "C_GetSlotList (length)", c->fl->C_GetSlotList(CK_FALSE, NULL, &need));
	rv = CALL(c, C_GetSlotList, CK_FALSE, ids, &n);
	mf_check_len(c, "count", n, need);
	return rv;
}

static CK_RV
c_slotinfo_null(struct mf_ctx *c)
{
	mf_slot(c);
	return CALL(c, C_GetSlotInfo, c->slot, NULL);
}

static CK_RV
c_slotinfo_bad_slot(struct mf_ctx *c)
{
	CK_SLOT_INFO si;

	mf_init(c);
	return CALL(c, C_GetSlotInfo, 0x7eadbeefUL, &si);
}

static CK_RV
c_tokeninfo_null(struct mf_ctx *c)
{
	mf_slot(c);
	return CALL(c, C_GetTokenInfo, c->slot, NULL);
}

static CK_RV
c_mechlist_null_count(struct mf_ctx *c)
{
	CK_MECHANISM_TYPE m[4];

	mf_slot(c);
	return CALL(c, C_GetMechanismList, c->slot, m, NULL);
}

static CK_RV
c_mechlist_short(struct mf_ctx *c)
{
	CK_MECHANISM_TYPE m[1];
	CK_ULONG need = 0, n = 1;
	CK_RV rv;

	mf_slot(c);
	mf_need(c, "C_GetMechanismList (length)",
	    c->fl->C_GetMechanismList(c->slot, NULL, &need));
	rv = CALL(c, C_GetMechanismList, c->slot, m, &n);
	mf_check_len(c, "count", n, need);
	return rv;
}

static CK_RV
c_mechinfo_null(struct mf_ctx *c)
{
	mf_slot(c);
	return CALL(c, C_GetMechanismInfo, c->slot, CKM_AES_ECB, NULL);
}

static CK_RV
c_mechinfo_invalid(struct mf_ctx *c)
{
	CK_MECHANISM_INFO mi;

	mf_slot(c);
	return CALL(c, C_GetMechanismInfo, c->slot, 0x7eadbeefUL, &mi);
}

static CK_RV
c_waitforslot_null(struct mf_ctx *c)
{
	mf_init(c);
	return CALL(c, C_WaitForSlotEvent, CKF_DONT_BLOCK, NULL, NULL);
}

static CK_RV
c_inittoken_null(struct mf_ctx *c)
{
	/* the open session makes a token that accepted this refuse it (CKR_SESSION_EXISTS) */
	mf_session(c);
	return CALL(c, C_InitToken, c->slot, NULL, 8, NULL);
}

/* ---- PKCS#11 3.0 interfaces -------------------------------------------------------- */

static CK_RV
c_getinterface_name(struct mf_ctx *c)
{
	mf_get_interface_fn get = (mf_get_interface_fn)mf_sym(c, "C_GetInterface");
	struct mf_interface *out = NULL;

	mf_begin(c, "C_GetInterface");
	return get((CK_UTF8CHAR_PTR)"PKCS 12", NULL, &out, 0);
}

static CK_RV
c_getinterface_version(struct mf_ctx *c)
{
	mf_get_interface_fn get = (mf_get_interface_fn)mf_sym(c, "C_GetInterface");
	struct mf_interface *out = NULL;
	CK_VERSION v = { 9, 99 };

	mf_begin(c, "C_GetInterface");
	return get((CK_UTF8CHAR_PTR)"PKCS 11", &v, &out, 0);
}

static CK_RV
c_getinterface_null_out(struct mf_ctx *c)
{
	mf_get_interface_fn get = (mf_get_interface_fn)mf_sym(c, "C_GetInterface");

	mf_begin(c, "C_GetInterface");
	return get(NULL, NULL, NULL, 0);
}

static CK_RV
c_getinterface_flags(struct mf_ctx *c)
{
	mf_get_interface_fn get = (mf_get_interface_fn)mf_sym(c, "C_GetInterface");
	struct mf_interface *out = NULL;

	/* CKF_INTERFACE_FORK_SAFE (PKCS#11 3.0): an interface nobody offered */
	mf_begin(c, "C_GetInterface");
	return get((CK_UTF8CHAR_PTR)"PKCS 11", NULL, &out, 0x1UL);
}

static CK_RV
c_getinterfacelist_null_count(struct mf_ctx *c)
{
	mf_get_interface_list_fn get =
	    (mf_get_interface_list_fn)mf_sym(c, "C_GetInterfaceList");
	struct mf_interface list[1];

	mf_begin(c, "C_GetInterfaceList");
	return get(list, NULL);
}

static CK_RV
c_getinterfacelist_short(struct mf_ctx *c)
{
	mf_get_interface_list_fn get =
	    (mf_get_interface_list_fn)mf_sym(c, "C_GetInterfaceList");
	struct mf_interface list[1];
	CK_ULONG need = 0, n = 0;
	CK_RV rv;

	mf_need(c, "C_GetInterfaceList (length)", get(NULL, &need));
	mf_begin(c, "C_GetInterfaceList");
	rv = get(list, &n);
	mf_check_len(c, "count", n, need);
	return rv;
}

/* ---- sessions and login --------------------------------------------------------------- */

static CK_RV
c_opensession_not_serial(struct mf_ctx *c)
{
	CK_SESSION_HANDLE h = 0;

	mf_slot(c);
	return CALL(c, C_OpenSession, c->slot, CKF_RW_SESSION, NULL, NULL, &h);
}

static CK_RV
c_opensession_null_out(struct mf_ctx *c)
{
	mf_slot(c);
	return CALL(c, C_OpenSession, c->slot, CKF_SERIAL_SESSION, NULL, NULL, NULL);
}

static CK_RV
c_opensession_bad_slot(struct mf_ctx *c)
{
	CK_SESSION_HANDLE h = 0;

	mf_init(c);
	return CALL(c, C_OpenSession, 0x7eadbeefUL, CKF_SERIAL_SESSION, NULL, NULL, &h);
}

static CK_RV
c_closesession_twice(struct mf_ctx *c)
{
	CK_SESSION_HANDLE h;

	mf_session(c);
	h = c->s;
	mf_need(c, "C_CloseSession", c->fl->C_CloseSession(h));
	c->s = 0;
	return CALL(c, C_CloseSession, h);
}

static CK_RV
c_closesession_zero(struct mf_ctx *c)
{
	mf_session(c);
	return CALL(c, C_CloseSession, CK_INVALID_HANDLE);
}

static CK_RV
c_sessioninfo_unknown(struct mf_ctx *c)
{
	CK_SESSION_INFO si;

	mf_session(c);
	return CALL(c, C_GetSessionInfo, c->s + 0x5eed, &si);
}

static CK_RV
c_sessioninfo_null(struct mf_ctx *c)
{
	mf_session(c);
	return CALL(c, C_GetSessionInfo, c->s, NULL);
}

static CK_RV
c_session_previous_init(struct mf_ctx *c)
{
	CK_SESSION_INFO si;
	CK_SESSION_HANDLE h;

	mf_session(c);
	h = c->s;
	mf_finalize(c);
	mf_init(c);
	return CALL(c, C_GetSessionInfo, h, &si);
}

static CK_RV
c_closeall_bad_slot(struct mf_ctx *c)
{
	mf_session(c);
	return CALL(c, C_CloseAllSessions, 0x7eadbeefUL);
}

static CK_RV
c_session_after_closeall(struct mf_ctx *c)
{
	CK_SESSION_INFO si;

	mf_session(c);
	mf_need(c, "C_CloseAllSessions", c->fl->C_CloseAllSessions(c->slot));
	return CALL(c, C_GetSessionInfo, c->s, &si);
}

static CK_RV
c_login_null_pin(struct mf_ctx *c)
{
	mf_session(c);
	return CALL(c, C_Login, c->s, CKU_USER, NULL, 8);
}

static CK_RV
c_login_huge_pin_len(struct mf_ctx *c)
{
	mf_session(c);
	return CALL(c, C_Login, c->s, CKU_USER, (CK_UTF8CHAR_PTR)c->tgt->pin, MF_HUGE);
}

static CK_RV
c_login_bad_user(struct mf_ctx *c)
{
	mf_session(c);
	return CALL(c, C_Login, c->s, 0x77, (CK_UTF8CHAR_PTR)c->tgt->pin,
	    strlen(c->tgt->pin));
}

static CK_RV
c_login_context_specific(struct mf_ctx *c)
{
	/* [PKCS#11 2.40, C_Login] CKU_CONTEXT_SPECIFIC with no operation begun */
	mf_login(c);
	return CALL(c, C_Login, c->s, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)c->tgt->pin,
	    strlen(c->tgt->pin));
}

static CK_RV
c_login_closed_session(struct mf_ctx *c)
{
	CK_SESSION_HANDLE h;

	mf_session(c);
	h = c->s;
	mf_need(c, "C_CloseSession", c->fl->C_CloseSession(h));
	c->s = 0;
	return CALL(c, C_Login, h, CKU_USER, (CK_UTF8CHAR_PTR)c->tgt->pin, strlen(c->tgt->pin));
}

static CK_RV
c_logout_unknown(struct mf_ctx *c)
{
	mf_login(c);
	return CALL(c, C_Logout, c->s + 0x5eed);
}

static CK_RV
c_logout_twice(struct mf_ctx *c)
{
	mf_login(c);
	mf_need(c, "C_Logout", c->fl->C_Logout(c->s));
	c->logged_in = 0;
	return CALL(c, C_Logout, c->s);
}

static CK_RV
c_setpin_null(struct mf_ctx *c)
{
	mf_session(c);
	return CALL(c, C_SetPIN, c->s, NULL, 8, NULL, 8);
}

static CK_RV
c_getopstate_null(struct mf_ctx *c)
{
	mf_login(c);
	return CALL(c, C_GetOperationState, c->s, NULL, NULL);
}

/* ---- objects ---------------------------------------------------------------------- */

static CK_RV
c_getattr_huge_count(struct mf_ctx *c)
{
	unsigned char buf[64];
	CK_ATTRIBUTE t[1] = { { CKA_LABEL, buf, sizeof(buf) } };
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");

	return CALL(c, C_GetAttributeValue, c->s, o, t, MF_HUGE);
}

static CK_RV
c_getattr_null_template(struct mf_ctx *c)
{
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");

	return CALL(c, C_GetAttributeValue, c->s, o, NULL, 3);
}

static CK_RV
c_getattr_length(struct mf_ctx *c)
{
	CK_ATTRIBUTE t = { CKA_LABEL, NULL, 0xdeadUL };
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");
	CK_RV rv;

	rv = CALL(c, C_GetAttributeValue, c->s, o, &t, 1);
	mf_check_len(c, "ulValueLen", t.ulValueLen, 7);
	return rv;
}

static CK_RV
c_getattr_short(struct mf_ctx *c)
{
	unsigned char buf[2];
	CK_ATTRIBUTE t = { CKA_LABEL, buf, sizeof(buf) };
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");
	CK_RV rv;

	rv = CALL(c, C_GetAttributeValue, c->s, o, &t, 1);
	/* [PKCS#11 2.40, C_GetAttributeValue] too small: CK_UNAVAILABLE_INFORMATION */
	mf_check_len(c, "ulValueLen", t.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	return rv;
}

/* The two-call convention over two attributes at once: one length query, one short buffer. */
static CK_RV
c_getattr_mixed(struct mf_ctx *c)
{
	unsigned char buf[1];
	CK_ATTRIBUTE t[] = {
		{ CKA_LABEL, NULL, 0 },
		{ CKA_VALUE, buf, sizeof(buf) },
	};
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");
	CK_RV rv;

	rv = CALL(c, C_GetAttributeValue, c->s, o, t, 2);
	c->check = t[0].ulValueLen == 7 && t[1].ulValueLen == CK_UNAVAILABLE_INFORMATION ?
	    MF_CHECK_OK : MF_CHECK_FAILED;
	mf_note(c, "lengths %lu and %s%s", (unsigned long)t[0].ulValueLen,
	    t[1].ulValueLen == CK_UNAVAILABLE_INFORMATION ? "CK_UNAVAILABLE_INFORMATION" : "",
	    t[1].ulValueLen == CK_UNAVAILABLE_INFORMATION ? "" : "not CK_UNAVAILABLE_INFORMATION");
	return rv;
}

/* A buffer of 64 bytes said to hold 2^40: only the value's 7 bytes may be written. */
static CK_RV
c_getattr_huge_len(struct mf_ctx *c)
{
	unsigned char buf[64];
	CK_ATTRIBUTE t = { CKA_LABEL, buf, MF_HUGE };
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");
	CK_RV rv;

	rv = CALL(c, C_GetAttributeValue, c->s, o, &t, 1);
	mf_check_len(c, "ulValueLen", t.ulValueLen, 7);
	if (rv == CKR_OK && c->check == MF_CHECK_OK && memcmp(buf, "mf-data", 7) != 0) {
		c->check = MF_CHECK_FAILED;
		mf_note(c, "ulValueLen 7, but not the label");
	}
	return rv;
}

/* A session object of a session since closed, asked for through another session. */
static CK_RV
c_getattr_owner_closed(struct mf_ctx *c)
{
	unsigned char buf[64];
	CK_ATTRIBUTE t = { CKA_LABEL, buf, sizeof(buf) };
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");
	CK_SESSION_HANDLE other = 0;

	mf_need(c, "C_OpenSession (a second)", c->fl->C_OpenSession(c->slot,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &other));
	mf_need(c, "C_CloseSession (the object's)", c->fl->C_CloseSession(c->s));
	c->s = other;
	return CALL(c, C_GetAttributeValue, other, o, &t, 1);
}

static CK_RV
c_getattr_unknown(struct mf_ctx *c)
{
	unsigned char buf[64];
	CK_ATTRIBUTE t = { CKA_LABEL, buf, sizeof(buf) };
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");

	/* the handle of the only object this session made, moved well past it */
	return CALL(c, C_GetAttributeValue, c->s, o + 0x10000, &t, 1);
}

static CK_RV
c_getattr_zero(struct mf_ctx *c)
{
	unsigned char buf[64];
	CK_ATTRIBUTE t = { CKA_LABEL, buf, sizeof(buf) };

	mf_login(c);
	return CALL(c, C_GetAttributeValue, c->s, CK_INVALID_HANDLE, &t, 1);
}

static CK_RV
c_getattr_destroyed(struct mf_ctx *c)
{
	unsigned char buf[64];
	CK_ATTRIBUTE t = { CKA_LABEL, buf, sizeof(buf) };
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");

	mf_need(c, "C_DestroyObject", c->fl->C_DestroyObject(c->s, o));
	return CALL(c, C_GetAttributeValue, c->s, o, &t, 1);
}

/*
 * A handle kept across C_Finalize/C_Initialize.  The same steps after the
 * restart make an object of the same kind: a module that hands out the same
 * handles again lets the stale one name the new object.
 */
static CK_RV
c_getattr_previous_init(struct mf_ctx *c)
{
	char buf[64];
	CK_ATTRIBUTE t = { CKA_LABEL, buf, sizeof(buf) - 1 };
	CK_OBJECT_HANDLE old, now;
	CK_RV rv;

	old = mf_data(c, "mf-before");
	mf_finalize(c);
	now = mf_data(c, "mf-after");
	rv = CALL(c, C_GetAttributeValue, c->s, old, &t, 1);
	if (rv == CKR_OK && t.ulValueLen < sizeof(buf)) {
		buf[t.ulValueLen] = '\0';
		mf_note(c, "the stale handle names \"%s\"%s", buf,
		    old == now ? " (the same number again)" : "");
	}
	return rv;
}

static CK_RV
c_setattr_zero(struct mf_ctx *c)
{
	CK_ATTRIBUTE t = { CKA_LABEL, "mf-renamed", 10 };

	mf_login(c);
	return CALL(c, C_SetAttributeValue, c->s, CK_INVALID_HANDLE, &t, 1);
}

static CK_RV
c_setattr_null_template(struct mf_ctx *c)
{
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");

	return CALL(c, C_SetAttributeValue, c->s, o, NULL, 2);
}

static CK_RV
c_setattr_duplicate(struct mf_ctx *c)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_LABEL, "mf-one", 6 },
		{ CKA_LABEL, "mf-two", 6 },
	};
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");

	return CALL(c, C_SetAttributeValue, c->s, o, t, 2);
}

static CK_RV
c_destroy_twice(struct mf_ctx *c)
{
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");

	mf_need(c, "C_DestroyObject", c->fl->C_DestroyObject(c->s, o));
	return CALL(c, C_DestroyObject, c->s, o);
}

static CK_RV
c_objsize_null(struct mf_ctx *c)
{
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");

	return CALL(c, C_GetObjectSize, c->s, o, NULL);
}

static CK_RV
c_copy_null_out(struct mf_ctx *c)
{
	CK_OBJECT_HANDLE o = mf_data(c, "mf-data");

	return CALL(c, C_CopyObject, c->s, o, NULL, 0, NULL);
}

static CK_RV
c_create_null_out(struct mf_ctx *c)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &mf_data_class, sizeof(mf_data_class) },
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
		{ CKA_LABEL, "mf-data", 7 },
	};

	mf_login(c);
	return CALL(c, C_CreateObject, c->s, t, 3, NULL);
}

static CK_RV
c_create_null_template(struct mf_ctx *c)
{
	CK_OBJECT_HANDLE h = 0;

	mf_login(c);
	return CALL(c, C_CreateObject, c->s, NULL, 3, &h);
}

static CK_RV
c_create_duplicate(struct mf_ctx *c)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &mf_data_class, sizeof(mf_data_class) },
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
		{ CKA_LABEL, "mf-one", 6 },
		{ CKA_LABEL, "mf-two", 6 },
	};
	CK_OBJECT_HANDLE h = 0;

	mf_login(c);
	return CALL(c, C_CreateObject, c->s, t, 4, &h);
}

static CK_RV
c_create_bool_len(struct mf_ctx *c)
{
	/* CKA_TOKEN as a CK_ULONG: eight bytes where one belongs (false either way) */
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &mf_data_class, sizeof(mf_data_class) },
		{ CKA_TOKEN, &mf_zero, sizeof(mf_zero) },
		{ CKA_LABEL, "mf-data", 7 },
	};
	CK_OBJECT_HANDLE h = 0;

	mf_login(c);
	return CALL(c, C_CreateObject, c->s, t, 3, &h);
}

static CK_RV
c_create_null_value(struct mf_ctx *c)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &mf_data_class, sizeof(mf_data_class) },
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
		{ CKA_LABEL, NULL, 16 },
	};
	CK_OBJECT_HANDLE h = 0;

	mf_login(c);
	return CALL(c, C_CreateObject, c->s, t, 3, &h);
}

static CK_RV
c_create_unavailable_len(struct mf_ctx *c)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &mf_data_class, sizeof(mf_data_class) },
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
		{ CKA_VALUE, mf_bytes, CK_UNAVAILABLE_INFORMATION },
	};
	CK_OBJECT_HANDLE h = 0;

	mf_login(c);
	return CALL(c, C_CreateObject, c->s, t, 3, &h);
}

static CK_RV
c_findinit_null_template(struct mf_ctx *c)
{
	mf_login(c);
	return CALL(c, C_FindObjectsInit, c->s, NULL, 2);
}

static CK_RV
c_findinit_huge_count(struct mf_ctx *c)
{
	CK_ATTRIBUTE t[1] = { { CKA_CLASS, &mf_secret_class, sizeof(mf_secret_class) } };

	mf_login(c);
	return CALL(c, C_FindObjectsInit, c->s, t, MF_HUGE);
}

static CK_RV
c_findinit_bool_len(struct mf_ctx *c)
{
	CK_ATTRIBUTE t = { CKA_TOKEN, &mf_zero, sizeof(mf_zero) };

	mf_login(c);
	return CALL(c, C_FindObjectsInit, c->s, &t, 1);
}

static CK_RV
c_findinit_unavailable_len(struct mf_ctx *c)
{
	CK_ATTRIBUTE t = { CKA_LABEL, mf_bytes, CK_UNAVAILABLE_INFORMATION };

	mf_login(c);
	return CALL(c, C_FindObjectsInit, c->s, &t, 1);
}

static CK_RV
c_findinit_null_value(struct mf_ctx *c)
{
	CK_ATTRIBUTE t = { CKA_LABEL, NULL, 16 };

	mf_login(c);
	return CALL(c, C_FindObjectsInit, c->s, &t, 1);
}

static CK_RV
c_findinit_duplicate(struct mf_ctx *c)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &mf_data_class, sizeof(mf_data_class) },
		{ CKA_CLASS, &mf_secret_class, sizeof(mf_secret_class) },
	};

	mf_login(c);
	return CALL(c, C_FindObjectsInit, c->s, t, 2);
}

static CK_RV
c_findinit_twice(struct mf_ctx *c)
{
	CK_ATTRIBUTE t = { CKA_LABEL, "mf-data", 7 };

	mf_login(c);
	mf_need(c, "C_FindObjectsInit", c->fl->C_FindObjectsInit(c->s, &t, 1));
	return CALL(c, C_FindObjectsInit, c->s, &t, 1);
}

static void
mf_find_init(struct mf_ctx *c)
{
	CK_ATTRIBUTE t = { CKA_LABEL, "mf-data", 7 };

	(void)mf_data(c, "mf-data");
	mf_need(c, "C_FindObjectsInit", c->fl->C_FindObjectsInit(c->s, &t, 1));
}

static CK_RV
c_find_null_out(struct mf_ctx *c)
{
	CK_ULONG n = 0;

	mf_find_init(c);
	return CALL(c, C_FindObjects, c->s, NULL, 5, &n);
}

static CK_RV
c_find_null_count(struct mf_ctx *c)
{
	CK_OBJECT_HANDLE h[4];

	mf_find_init(c);
	return CALL(c, C_FindObjects, c->s, h, 4, NULL);
}

static CK_RV
c_find_huge_max(struct mf_ctx *c)
{
	CK_OBJECT_HANDLE h[16];
	CK_ULONG n = 0;
	CK_RV rv;

	/* one object matches: the buffer is big enough, its stated size is absurd */
	mf_find_init(c);
	rv = CALL(c, C_FindObjects, c->s, h, MF_HUGE, &n);
	c->check = n == 1 ? MF_CHECK_OK : MF_CHECK_FAILED;
	mf_note(c, "%lu found", (unsigned long)n);
	return rv;
}

static CK_RV
c_findfinal_not_initialized(struct mf_ctx *c)
{
	mf_login(c);
	return CALL(c, C_FindObjectsFinal, c->s);
}

static CK_RV
c_find_after_final(struct mf_ctx *c)
{
	CK_OBJECT_HANDLE h[4];
	CK_ULONG n = 0;

	mf_find_init(c);
	mf_need(c, "C_FindObjectsFinal", c->fl->C_FindObjectsFinal(c->s));
	return CALL(c, C_FindObjects, c->s, h, 4, &n);
}

static CK_RV
c_find_not_initialized(struct mf_ctx *c)
{
	CK_OBJECT_HANDLE h[4];
	CK_ULONG n = 0;

	mf_login(c);
	return CALL(c, C_FindObjects, c->s, h, 4, &n);
}

/* ---- cryptographic operations ----------------------------------------------------- */

static CK_RV
c_encinit_null_mech(struct mf_ctx *c)
{
	CK_OBJECT_HANDLE k = mf_aes(c);

	return CALL(c, C_EncryptInit, c->s, NULL, k);
}

static CK_RV
c_encinit_param_null(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_CBC, NULL, 16 };
	CK_OBJECT_HANDLE k = mf_aes(c);

	return CALL(c, C_EncryptInit, c->s, &m, k);
}

static CK_RV
c_encinit_param_huge(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_CBC, mf_bytes, MF_HUGE };
	CK_OBJECT_HANDLE k = mf_aes(c);

	return CALL(c, C_EncryptInit, c->s, &m, k);
}

static CK_RV
c_encinit_unknown_key(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_ECB, NULL, 0 };
	CK_OBJECT_HANDLE k = mf_aes(c);

	return CALL(c, C_EncryptInit, c->s, &m, k + 0x10000);
}

static CK_RV
c_encinit_zero_key(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_ECB, NULL, 0 };

	mf_login(c);
	return CALL(c, C_EncryptInit, c->s, &m, CK_INVALID_HANDLE);
}

static CK_RV
c_encinit_zero_session(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_ECB, NULL, 0 };
	CK_OBJECT_HANDLE k = mf_aes(c);

	return CALL(c, C_EncryptInit, CK_INVALID_HANDLE, &m, k);
}

static CK_RV
c_encinit_twice(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_ECB, NULL, 0 };
	CK_OBJECT_HANDLE k;

	mf_encrypt_init(c);
	k = mf_aes(c);
	return CALL(c, C_EncryptInit, c->s, &m, k);
}

static CK_RV
c_encrypt_closed_session(struct mf_ctx *c)
{
	unsigned char out[64];
	CK_ULONG len = sizeof(out);
	CK_SESSION_HANDLE h;

	mf_encrypt_init(c);
	h = c->s;
	mf_need(c, "C_CloseSession", c->fl->C_CloseSession(h));
	c->s = 0;
	return CALL(c, C_Encrypt, h, mf_bytes, 16, out, &len);
}

static CK_RV
c_encrypt_null_outlen(struct mf_ctx *c)
{
	unsigned char out[64];

	mf_encrypt_init(c);
	return CALL(c, C_Encrypt, c->s, mf_bytes, 16, out, NULL);
}

static CK_RV
c_encrypt_null_in(struct mf_ctx *c)
{
	unsigned char out[64];
	CK_ULONG len = sizeof(out);

	mf_encrypt_init(c);
	return CALL(c, C_Encrypt, c->s, NULL, 16, out, &len);
}

static CK_RV
c_encrypt_huge_in(struct mf_ctx *c)
{
	unsigned char out[64];
	CK_ULONG len = sizeof(out);

	mf_encrypt_init(c);
	return CALL(c, C_Encrypt, c->s, mf_bytes, MF_HUGE, out, &len);
}

static CK_RV
c_encrypt_length(struct mf_ctx *c)
{
	CK_ULONG len = 0;
	CK_RV rv;

	mf_encrypt_init(c);
	rv = CALL(c, C_Encrypt, c->s, mf_bytes, 16, NULL, &len);
	mf_check_len(c, "length", len, 16);
	return rv;
}

static CK_RV
c_encrypt_short(struct mf_ctx *c)
{
	unsigned char out[4];
	CK_ULONG len = sizeof(out);
	CK_RV rv;

	mf_encrypt_init(c);
	rv = CALL(c, C_Encrypt, c->s, mf_bytes, 16, out, &len);
	mf_check_len(c, "length", len, 16);
	return rv;
}

static CK_RV
c_encrypt_not_initialized(struct mf_ctx *c)
{
	unsigned char out[64];
	CK_ULONG len = sizeof(out);

	mf_login(c);
	return CALL(c, C_Encrypt, c->s, mf_bytes, 16, out, &len);
}

/* Sixteen bytes of ciphertext to decrypt, then the two-call convention's second call, short. */
static CK_RV
c_decrypt_short(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_ECB, NULL, 0 };
	unsigned char ct[16], out[4];
	CK_ULONG ctlen = sizeof(ct), len = sizeof(out);
	CK_OBJECT_HANDLE k = mf_aes(c);
	CK_RV rv;

	mf_need(c, "C_EncryptInit", c->fl->C_EncryptInit(c->s, &m, k));
	mf_need(c, "C_Encrypt", c->fl->C_Encrypt(c->s, mf_bytes, 16, ct, &ctlen));
	mf_need(c, "C_DecryptInit", c->fl->C_DecryptInit(c->s, &m, k));
	rv = CALL(c, C_Decrypt, c->s, ct, ctlen, out, &len);
	mf_check_len(c, "length", len, 16);
	return rv;
}

static CK_RV
c_encryptupdate_null_outlen(struct mf_ctx *c)
{
	unsigned char out[64];

	mf_encrypt_init(c);
	return CALL(c, C_EncryptUpdate, c->s, mf_bytes, 16, out, NULL);
}

static CK_RV
c_encryptfinal_null_outlen(struct mf_ctx *c)
{
	unsigned char out[64];

	mf_encrypt_init(c);
	return CALL(c, C_EncryptFinal, c->s, out, NULL);
}

static CK_RV
c_signinit_null_mech(struct mf_ctx *c)
{
	CK_OBJECT_HANDLE k = mf_hmac(c);

	return CALL(c, C_SignInit, c->s, NULL, k);
}

static CK_RV
c_sign_null_outlen(struct mf_ctx *c)
{
	unsigned char sig[64];

	mf_sign_init(c);
	return CALL(c, C_Sign, c->s, mf_bytes, 5, sig, NULL);
}

static CK_RV
c_sign_length(struct mf_ctx *c)
{
	CK_ULONG len = 0;
	CK_RV rv;

	mf_sign_init(c);
	rv = CALL(c, C_Sign, c->s, mf_bytes, 5, NULL, &len);
	mf_check_len(c, "length", len, 32);
	return rv;
}

static CK_RV
c_sign_short(struct mf_ctx *c)
{
	unsigned char sig[4];
	CK_ULONG len = sizeof(sig);
	CK_RV rv;

	mf_sign_init(c);
	rv = CALL(c, C_Sign, c->s, mf_bytes, 5, sig, &len);
	mf_check_len(c, "length", len, 32);
	return rv;
}

static CK_RV
c_signfinal_length(struct mf_ctx *c)
{
	CK_ULONG len = 0;
	CK_RV rv;

	mf_sign_init(c);
	mf_need(c, "C_SignUpdate", c->fl->C_SignUpdate(c->s, mf_bytes, 5));
	rv = CALL(c, C_SignFinal, c->s, NULL, &len);
	mf_check_len(c, "length", len, 32);
	return rv;
}

static CK_RV
c_sign_huge_in(struct mf_ctx *c)
{
	unsigned char sig[64];
	CK_ULONG len = sizeof(sig);

	mf_sign_init(c);
	return CALL(c, C_Sign, c->s, mf_bytes, MF_HUGE, sig, &len);
}

static CK_RV
c_signupdate_null(struct mf_ctx *c)
{
	mf_sign_init(c);
	return CALL(c, C_SignUpdate, c->s, NULL, 8);
}

static CK_RV
c_verify_null_sig(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_HANDLE k = mf_hmac(c);

	mf_need(c, "C_VerifyInit", c->fl->C_VerifyInit(c->s, &m, k));
	return CALL(c, C_Verify, c->s, mf_bytes, 5, NULL, 32);
}

static CK_RV
c_verify_huge_sig(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_HANDLE k = mf_hmac(c);

	mf_need(c, "C_VerifyInit", c->fl->C_VerifyInit(c->s, &m, k));
	return CALL(c, C_Verify, c->s, mf_bytes, 5, mf_bytes, MF_HUGE);
}

static CK_RV
c_verifyfinal_null_sig(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_HANDLE k = mf_hmac(c);

	mf_need(c, "C_VerifyInit", c->fl->C_VerifyInit(c->s, &m, k));
	mf_need(c, "C_VerifyUpdate", c->fl->C_VerifyUpdate(c->s, mf_bytes, 5));
	return CALL(c, C_VerifyFinal, c->s, NULL, 32);
}

static CK_RV
c_verifyfinal_huge_sig(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_HANDLE k = mf_hmac(c);

	mf_need(c, "C_VerifyInit", c->fl->C_VerifyInit(c->s, &m, k));
	mf_need(c, "C_VerifyUpdate", c->fl->C_VerifyUpdate(c->s, mf_bytes, 5));
	return CALL(c, C_VerifyFinal, c->s, mf_bytes, MF_HUGE);
}

static CK_RV
c_digestinit_null_mech(struct mf_ctx *c)
{
	mf_login(c);
	return CALL(c, C_DigestInit, c->s, NULL);
}

static CK_RV
c_digest_null_outlen(struct mf_ctx *c)
{
	unsigned char out[64];

	mf_digest_init(c);
	return CALL(c, C_Digest, c->s, mf_bytes, 5, out, NULL);
}

static CK_RV
c_digestupdate_huge(struct mf_ctx *c)
{
	mf_digest_init(c);
	return CALL(c, C_DigestUpdate, c->s, mf_bytes, MF_HUGE);
}

static CK_RV
c_digestfinal_short(struct mf_ctx *c)
{
	unsigned char out[4];
	CK_ULONG len = sizeof(out);
	CK_RV rv;

	mf_digest_init(c);
	mf_need(c, "C_DigestUpdate", c->fl->C_DigestUpdate(c->s, mf_bytes, 5));
	rv = CALL(c, C_DigestFinal, c->s, out, &len);
	mf_check_len(c, "length", len, 32);
	return rv;
}

static CK_RV
c_digestkey_zero(struct mf_ctx *c)
{
	mf_digest_init(c);
	return CALL(c, C_DigestKey, c->s, CK_INVALID_HANDLE);
}

static CK_RV
c_random_null(struct mf_ctx *c)
{
	mf_session(c);
	return CALL(c, C_GenerateRandom, c->s, NULL, 16);
}

static CK_RV
c_random_huge(struct mf_ctx *c)
{
	unsigned char buf[16];

	mf_session(c);
	return CALL(c, C_GenerateRandom, c->s, buf, MF_HUGE);
}

static CK_RV
c_seedrandom_null(struct mf_ctx *c)
{
	mf_login(c);
	return CALL(c, C_SeedRandom, c->s, NULL, 16);
}

/* ---- keys ----------------------------------------------------------------------------- */

static CK_RV
c_genkey_null_out(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG len = 16;
	CK_ATTRIBUTE t[] = {
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
	};

	mf_login(c);
	return CALL(c, C_GenerateKey, c->s, &m, t, 2, NULL);
}

static CK_RV
c_genkey_null_mech(struct mf_ctx *c)
{
	CK_ULONG len = 16;
	CK_ATTRIBUTE t[] = {
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
	};
	CK_OBJECT_HANDLE h = 0;

	mf_login(c);
	return CALL(c, C_GenerateKey, c->s, NULL, t, 2, &h);
}

static CK_RV
c_genkey_param_null(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 8 };
	CK_ULONG len = 16;
	CK_ATTRIBUTE t[] = {
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
	};
	CK_OBJECT_HANDLE h = 0;

	mf_login(c);
	return CALL(c, C_GenerateKey, c->s, &m, t, 2, &h);
}

static CK_RV
c_genkey_ulong_len(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
	uint32_t len = 16;	/* four bytes where a CK_ULONG belongs */
	CK_ATTRIBUTE t[] = {
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
	};
	CK_OBJECT_HANDLE h = 0;

	mf_login(c);
	return CALL(c, C_GenerateKey, c->s, &m, t, 2, &h);
}

static CK_RV
c_genkeypair_null_out(struct mf_ctx *c)
{
	/* DER of the OID of prime256v1 */
	static unsigned char p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub[] = {
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
		{ CKA_EC_PARAMS, p256, sizeof(p256) },
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
	};

	mf_login(c);
	return CALL(c, C_GenerateKeyPair, c->s, &m, pub, 2, priv, 1, NULL, NULL);
}

static CK_RV
c_wrap_null_outlen(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE k = mf_aes(c);
	unsigned char out[64];

	return CALL(c, C_WrapKey, c->s, &m, k, k, out, NULL);
}

static CK_RV
c_unwrap_null_out(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &mf_secret_class, sizeof(mf_secret_class) },
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
	};
	CK_OBJECT_HANDLE k = mf_aes(c);

	return CALL(c, C_UnwrapKey, c->s, &m, k, mf_bytes, 40, t, 2, NULL);
}

static CK_RV
c_unwrap_null_blob(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &mf_secret_class, sizeof(mf_secret_class) },
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
	};
	CK_OBJECT_HANDLE k = mf_aes(c), h = 0;

	return CALL(c, C_UnwrapKey, c->s, &m, k, NULL, 40, t, 2, &h);
}

static CK_RV
c_unwrap_huge_len(struct mf_ctx *c)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &mf_secret_class, sizeof(mf_secret_class) },
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
	};
	CK_OBJECT_HANDLE k = mf_aes(c), h = 0;

	return CALL(c, C_UnwrapKey, c->s, &m, k, mf_bytes, MF_HUGE, t, 2, &h);
}

static CK_RV
c_derive_null_out(struct mf_ctx *c)
{
	CK_KEY_DERIVATION_STRING_DATA p = { mf_bytes, 16 };
	CK_MECHANISM m = { CKM_AES_ECB_ENCRYPT_DATA, &p, sizeof(p) };
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ULONG len = 16;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &mf_secret_class, sizeof(mf_secret_class) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
	};
	CK_OBJECT_HANDLE k = mf_aes(c);

	return CALL(c, C_DeriveKey, c->s, &m, k, t, 4, NULL);
}

static CK_RV
c_derive_null_mech(struct mf_ctx *c)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &mf_secret_class, sizeof(mf_secret_class) },
		{ CKA_TOKEN, &mf_no, sizeof(mf_no) },
	};
	CK_OBJECT_HANDLE k = mf_aes(c), h = 0;

	return CALL(c, C_DeriveKey, c->s, NULL, k, t, 2, &h);
}

/* ---- the table ---------------------------------------------------------------------- */

static const struct mf_case mf_cases[] = {
	/* id				call as made						keylocker returns */

	/* before C_Initialize, C_Initialize and C_Finalize */
	{ "before-init-all",		"every C_* but C_Initialize, zero arguments, before C_Initialize",
					CKR_CRYPTOKI_NOT_INITIALIZED,	c_before_init_all, NULL },
	{ "before-init-slotlist",	"C_GetSlotList(TRUE, NULL, &n) before C_Initialize",
					CKR_CRYPTOKI_NOT_INITIALIZED,	c_before_init_slotlist, NULL },
	{ "before-init-getattr",	"C_GetAttributeValue(1, 1, tmpl, 1) before C_Initialize",
					CKR_CRYPTOKI_NOT_INITIALIZED,	c_before_init_getattr, NULL },
	{ "init-reserved",		"C_Initialize(args with pReserved != NULL)",
					CKR_ARGUMENTS_BAD,		c_init_reserved, NULL },
	{ "init-partial-mutex",		"C_Initialize(args with CreateMutex only)",
					CKR_ARGUMENTS_BAD,		c_init_partial_mutex, NULL },
	{ "init-three-mutex",		"C_Initialize(args with CKF_OS_LOCKING_OK, three of the four mutex callbacks)",
					CKR_ARGUMENTS_BAD,		c_init_three_mutex, NULL },
	{ "init-app-mutex-only",	"C_Initialize(args with all four mutex callbacks, flags 0)",
					CKR_OK,				c_init_app_mutex_only, NULL },
	{ "init-no-threads",		"C_Initialize(args with CKF_LIBRARY_CANT_CREATE_OS_THREADS)",
					CKR_OK,				c_init_no_threads, NULL },
	{ "init-twice",			"C_Initialize(NULL) twice",
					CKR_CRYPTOKI_ALREADY_INITIALIZED, c_init_twice, NULL },
	{ "finalize-reserved",		"C_Finalize(&x)",
					CKR_ARGUMENTS_BAD,		c_finalize_reserved, NULL },
	{ "finalize-twice",		"C_Finalize(NULL) twice",
					CKR_CRYPTOKI_NOT_INITIALIZED,	c_finalize_twice, NULL },
	{ "after-finalize-all",		"every C_* but C_Initialize, zero arguments, after C_Finalize",
					CKR_CRYPTOKI_NOT_INITIALIZED,	c_after_finalize_all, NULL },
	{ "after-finalize-session",	"C_GetSessionInfo(s, &info) with s from before C_Finalize",
					CKR_CRYPTOKI_NOT_INITIALIZED,	c_after_finalize_session, NULL },
	{ "getfunctionlist-null",	"C_GetFunctionList(NULL)",
					CKR_ARGUMENTS_BAD,		c_getfunctionlist_null, NULL },

	/* general purpose, slots and tokens */
	{ "getinfo-null",		"C_GetInfo(NULL)",
					CKR_ARGUMENTS_BAD,		c_getinfo_null, NULL },
	{ "slotlist-null-count",	"C_GetSlotList(TRUE, ids, NULL)",
					CKR_ARGUMENTS_BAD,		c_slotlist_null_count, NULL },
	{ "slotlist-length",		"C_GetSlotList(TRUE, NULL, &n), n = 0xdeadbeef",
					CKR_OK,				c_slotlist_length, NULL },
	{ "slotlist-short",		"C_GetSlotList(FALSE, ids, &n), n = 0",
					CKR_BUFFER_TOO_SMALL,		c_slotlist_short, NULL },
	{ "slotinfo-null",		"C_GetSlotInfo(slot, NULL)",
					CKR_ARGUMENTS_BAD,		c_slotinfo_null, NULL },
	{ "slotinfo-bad-slot",		"C_GetSlotInfo(0x7eadbeef, &info)",
					CKR_SLOT_ID_INVALID,		c_slotinfo_bad_slot, NULL },
	{ "tokeninfo-null",		"C_GetTokenInfo(slot, NULL)",
					CKR_ARGUMENTS_BAD,		c_tokeninfo_null, NULL },
	{ "mechlist-null-count",	"C_GetMechanismList(slot, list, NULL)",
					CKR_ARGUMENTS_BAD,		c_mechlist_null_count, NULL },
	{ "mechlist-short",		"C_GetMechanismList(slot, list, &n), n = 1",
					CKR_BUFFER_TOO_SMALL,		c_mechlist_short, NULL },
	{ "mechinfo-null",		"C_GetMechanismInfo(slot, CKM_AES_ECB, NULL)",
					CKR_ARGUMENTS_BAD,		c_mechinfo_null, NULL },
	{ "mechinfo-invalid",		"C_GetMechanismInfo(slot, 0x7eadbeef, &info)",
					CKR_MECHANISM_INVALID,		c_mechinfo_invalid, NULL },
	{ "waitforslot-null",		"C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL)",
					CKR_ARGUMENTS_BAD,		c_waitforslot_null, NULL },
	{ "inittoken-null",		"C_InitToken(slot, NULL, 8, NULL)",
					CKR_FUNCTION_NOT_SUPPORTED,	c_inittoken_null, NULL },

	/* PKCS#11 3.0 interfaces */
	{ "getinterface-name",		"C_GetInterface(\"PKCS 12\", NULL, &i, 0)",
					CKR_ARGUMENTS_BAD,		c_getinterface_name, NULL },
	{ "getinterface-version",	"C_GetInterface(\"PKCS 11\", {9, 99}, &i, 0)",
					CKR_ARGUMENTS_BAD,		c_getinterface_version, NULL },
	{ "getinterface-null-out",	"C_GetInterface(NULL, NULL, NULL, 0)",
					CKR_ARGUMENTS_BAD,		c_getinterface_null_out, NULL },
	{ "getinterface-flags",		"C_GetInterface(\"PKCS 11\", NULL, &i, CKF_INTERFACE_FORK_SAFE)",
					CKR_ARGUMENTS_BAD,		c_getinterface_flags, NULL },
	{ "getinterfacelist-null-count", "C_GetInterfaceList(list, NULL)",
					CKR_ARGUMENTS_BAD,		c_getinterfacelist_null_count, NULL },
	{ "getinterfacelist-short",	"C_GetInterfaceList(list, &n), n = 0",
					CKR_BUFFER_TOO_SMALL,		c_getinterfacelist_short, NULL },

	/* sessions and login */
	{ "opensession-not-serial",	"C_OpenSession(slot, CKF_RW_SESSION, ...)",
					CKR_SESSION_PARALLEL_NOT_SUPPORTED, c_opensession_not_serial, NULL },
	{ "opensession-null-out",	"C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, NULL)",
					CKR_ARGUMENTS_BAD,		c_opensession_null_out, NULL },
	{ "opensession-bad-slot",	"C_OpenSession(0x7eadbeef, CKF_SERIAL_SESSION, ...)",
					CKR_SLOT_ID_INVALID,		c_opensession_bad_slot, NULL },
	{ "closesession-twice",		"C_CloseSession(s) twice",
					CKR_SESSION_HANDLE_INVALID,	c_closesession_twice, NULL },
	{ "closesession-zero",		"C_CloseSession(CK_INVALID_HANDLE)",
					CKR_SESSION_HANDLE_INVALID,	c_closesession_zero, NULL },
	{ "sessioninfo-unknown",	"C_GetSessionInfo(s + 0x5eed, &info)",
					CKR_SESSION_HANDLE_INVALID,	c_sessioninfo_unknown, NULL },
	{ "sessioninfo-null",		"C_GetSessionInfo(s, NULL)",
					CKR_ARGUMENTS_BAD,		c_sessioninfo_null, NULL },
	{ "session-previous-init",	"C_GetSessionInfo(s, &info), s from before C_Finalize/C_Initialize",
					CKR_SESSION_HANDLE_INVALID,	c_session_previous_init, NULL },
	{ "closeall-bad-slot",		"C_CloseAllSessions(0x7eadbeef)",
					CKR_SLOT_ID_INVALID,		c_closeall_bad_slot, NULL },
	{ "session-after-closeall",	"C_GetSessionInfo(s, &info) after C_CloseAllSessions(slot)",
					CKR_SESSION_HANDLE_INVALID,	c_session_after_closeall, NULL },
	{ "login-null-pin",		"C_Login(s, CKU_USER, NULL, 8)",
					CKR_ARGUMENTS_BAD,		c_login_null_pin, NULL },
	{ "login-huge-pin-len",		"C_Login(s, CKU_USER, pin, 1<<40)",
					CKR_PIN_LEN_RANGE,		c_login_huge_pin_len, NULL },
	{ "login-bad-user",		"C_Login(s, 0x77, pin, len)",
					CKR_USER_TYPE_INVALID,		c_login_bad_user, NULL },
	{ "login-closed-session",	"C_Login(s, CKU_USER, pin, len) on a closed session",
					CKR_SESSION_HANDLE_INVALID,	c_login_closed_session, NULL },
	{ "login-context-specific",	"C_Login(s, CKU_CONTEXT_SPECIFIC, pin, len), no operation",
					CKR_OPERATION_NOT_INITIALIZED,	c_login_context_specific, NULL },
	{ "logout-unknown",		"C_Logout(s + 0x5eed)",
					CKR_SESSION_HANDLE_INVALID,	c_logout_unknown, NULL },
	{ "logout-twice",		"C_Logout(s) twice",
					CKR_USER_NOT_LOGGED_IN,		c_logout_twice, NULL },
	{ "setpin-null",		"C_SetPIN(s, NULL, 8, NULL, 8)",
					CKR_FUNCTION_NOT_SUPPORTED,	c_setpin_null, NULL },
	{ "getopstate-null",		"C_GetOperationState(s, NULL, NULL)",
					CKR_FUNCTION_NOT_SUPPORTED,	c_getopstate_null, NULL },

	/* objects */
	{ "getattr-huge-count",		"C_GetAttributeValue(s, obj, tmpl[1], 1<<40)",
					CKR_ARGUMENTS_BAD,		c_getattr_huge_count, NULL },
	{ "getattr-null-template",	"C_GetAttributeValue(s, obj, NULL, 3)",
					CKR_ARGUMENTS_BAD,		c_getattr_null_template, NULL },
	{ "getattr-length",		"C_GetAttributeValue(s, obj, {CKA_LABEL, NULL, 0xdead}, 1)",
					CKR_OK,				c_getattr_length, NULL },
	{ "getattr-short",		"C_GetAttributeValue(s, obj, {CKA_LABEL, buf, 2}, 1)",
					CKR_BUFFER_TOO_SMALL,		c_getattr_short, NULL },
	{ "getattr-mixed",		"C_GetAttributeValue(s, obj, {{CKA_LABEL, NULL}, {CKA_VALUE, buf, 1}}, 2)",
					CKR_BUFFER_TOO_SMALL,		c_getattr_mixed, NULL },
	{ "getattr-huge-len",		"C_GetAttributeValue(s, obj, {CKA_LABEL, buf[64], 1<<40}, 1)",
					CKR_OK,				c_getattr_huge_len, NULL },
	{ "getattr-unknown",		"C_GetAttributeValue(s, obj + 0x10000, ...)",
					CKR_OBJECT_HANDLE_INVALID,	c_getattr_unknown, NULL },
	{ "getattr-zero",		"C_GetAttributeValue(s, CK_INVALID_HANDLE, ...)",
					CKR_OBJECT_HANDLE_INVALID,	c_getattr_zero, NULL },
	{ "getattr-destroyed",		"C_GetAttributeValue(s, obj, ...) after C_DestroyObject(obj)",
					CKR_OBJECT_HANDLE_INVALID,	c_getattr_destroyed, NULL },
	{ "getattr-owner-closed",	"C_GetAttributeValue(s2, obj, ...), obj a session object of closed s1",
					CKR_OBJECT_HANDLE_INVALID,	c_getattr_owner_closed, NULL },
	{ "getattr-previous-init",	"C_GetAttributeValue(s, obj, ...), obj from before C_Finalize/C_Initialize",
					CKR_OBJECT_HANDLE_INVALID,	c_getattr_previous_init, NULL },
	{ "setattr-zero",		"C_SetAttributeValue(s, CK_INVALID_HANDLE, {CKA_LABEL}, 1)",
					CKR_OBJECT_HANDLE_INVALID,	c_setattr_zero, NULL },
	{ "setattr-null-template",	"C_SetAttributeValue(s, obj, NULL, 2)",
					CKR_ARGUMENTS_BAD,		c_setattr_null_template, NULL },
	{ "setattr-duplicate",		"C_SetAttributeValue(s, obj, {CKA_LABEL a, CKA_LABEL b}, 2)",
					CKR_TEMPLATE_INCONSISTENT,	c_setattr_duplicate, NULL },
	{ "destroy-twice",		"C_DestroyObject(s, obj) twice",
					CKR_OBJECT_HANDLE_INVALID,	c_destroy_twice, NULL },
	{ "objsize-null",		"C_GetObjectSize(s, obj, NULL)",
					CKR_ARGUMENTS_BAD,		c_objsize_null, NULL },
	{ "copy-null-out",		"C_CopyObject(s, obj, NULL, 0, NULL)",
					CKR_ARGUMENTS_BAD,		c_copy_null_out, NULL },
	{ "create-null-out",		"C_CreateObject(s, data tmpl, 3, NULL)",
					CKR_ARGUMENTS_BAD,		c_create_null_out, NULL },
	{ "create-null-template",	"C_CreateObject(s, NULL, 3, &h)",
					CKR_ARGUMENTS_BAD,		c_create_null_template, NULL },
	{ "create-duplicate",		"C_CreateObject(s, {.., CKA_LABEL a, CKA_LABEL b}, 4, &h)",
					CKR_TEMPLATE_INCONSISTENT,	c_create_duplicate, NULL },
	{ "create-bool-len",		"C_CreateObject(s, {.., CKA_TOKEN of 8 bytes, ..}, 3, &h)",
					CKR_ATTRIBUTE_VALUE_INVALID,	c_create_bool_len, NULL },
	{ "create-null-value",		"C_CreateObject(s, {.., CKA_LABEL NULL len 16}, 3, &h)",
					CKR_ATTRIBUTE_VALUE_INVALID,	c_create_null_value, NULL },
	{ "create-unavailable-len",	"C_CreateObject(s, {.., CKA_VALUE buf len CK_UNAVAILABLE_INFORMATION}, 3, &h)",
					CKR_ATTRIBUTE_VALUE_INVALID,	c_create_unavailable_len, NULL },
	{ "findinit-null-template",	"C_FindObjectsInit(s, NULL, 2)",
					CKR_ARGUMENTS_BAD,		c_findinit_null_template, NULL },
	{ "findinit-huge-count",	"C_FindObjectsInit(s, tmpl[1], 1<<40)",
					CKR_ARGUMENTS_BAD,		c_findinit_huge_count, NULL },
	{ "findinit-bool-len",		"C_FindObjectsInit(s, {CKA_TOKEN of 8 bytes}, 1)",
					CKR_ATTRIBUTE_VALUE_INVALID,	c_findinit_bool_len, NULL },
	{ "findinit-unavailable-len",	"C_FindObjectsInit(s, {CKA_LABEL buf len CK_UNAVAILABLE_INFORMATION}, 1)",
					CKR_ATTRIBUTE_VALUE_INVALID,	c_findinit_unavailable_len, NULL },
	{ "findinit-null-value",	"C_FindObjectsInit(s, {CKA_LABEL NULL len 16}, 1)",
					CKR_ATTRIBUTE_VALUE_INVALID,	c_findinit_null_value, NULL },
	{ "findinit-duplicate",		"C_FindObjectsInit(s, {CKA_CLASS data, CKA_CLASS secret}, 2)",
					CKR_TEMPLATE_INCONSISTENT,	c_findinit_duplicate, NULL },
	{ "findinit-twice",		"C_FindObjectsInit(s, tmpl, 1) twice",
					CKR_OPERATION_ACTIVE,		c_findinit_twice, NULL },
	{ "find-null-out",		"C_FindObjects(s, NULL, 5, &n)",
					CKR_ARGUMENTS_BAD,		c_find_null_out, NULL },
	{ "find-null-count",		"C_FindObjects(s, h[4], 4, NULL)",
					CKR_ARGUMENTS_BAD,		c_find_null_count, NULL },
	{ "find-huge-max",		"C_FindObjects(s, h[16], 1<<40, &n), one match",
					CKR_OK,				c_find_huge_max, NULL },
	{ "findfinal-not-initialized",	"C_FindObjectsFinal(s) without C_FindObjectsInit",
					CKR_OPERATION_NOT_INITIALIZED,	c_findfinal_not_initialized, NULL },
	{ "find-after-final",		"C_FindObjects(s, h, 4, &n) after C_FindObjectsFinal",
					CKR_OPERATION_NOT_INITIALIZED,	c_find_after_final, NULL },
	{ "find-not-initialized",	"C_FindObjects(s, h, 4, &n) without C_FindObjectsInit",
					CKR_OPERATION_NOT_INITIALIZED,	c_find_not_initialized, NULL },

	/* cryptographic operations */
	{ "encinit-null-mech",		"C_EncryptInit(s, NULL, key)",
					CKR_ARGUMENTS_BAD,		c_encinit_null_mech, NULL },
	{ "encinit-param-null",		"C_EncryptInit(s, {CKM_AES_CBC, NULL, 16}, key)",
					CKR_MECHANISM_PARAM_INVALID,	c_encinit_param_null, NULL },
	{ "encinit-param-huge",		"C_EncryptInit(s, {CKM_AES_CBC, iv, 1<<40}, key)",
					CKR_MECHANISM_PARAM_INVALID,	c_encinit_param_huge, NULL },
	{ "encinit-unknown-key",	"C_EncryptInit(s, {CKM_AES_ECB}, key + 0x10000)",
					CKR_KEY_HANDLE_INVALID,		c_encinit_unknown_key, NULL },
	{ "encinit-zero-key",		"C_EncryptInit(s, {CKM_AES_ECB}, CK_INVALID_HANDLE)",
					CKR_KEY_HANDLE_INVALID,		c_encinit_zero_key, NULL },
	{ "encinit-zero-session",	"C_EncryptInit(CK_INVALID_HANDLE, {CKM_AES_ECB}, key)",
					CKR_SESSION_HANDLE_INVALID,	c_encinit_zero_session, NULL },
	{ "encinit-twice",		"C_EncryptInit(s, {CKM_AES_ECB}, key) while one is active",
					CKR_OPERATION_ACTIVE,		c_encinit_twice, NULL },
	{ "encrypt-closed-session",	"C_Encrypt(s, in, 16, out, &len) after C_CloseSession(s)",
					CKR_SESSION_HANDLE_INVALID,	c_encrypt_closed_session, NULL },
	{ "encrypt-null-outlen",	"C_Encrypt(s, in, 16, out, NULL)",
					CKR_ARGUMENTS_BAD,		c_encrypt_null_outlen, NULL },
	{ "encrypt-null-in",		"C_Encrypt(s, NULL, 16, out, &len)",
					CKR_ARGUMENTS_BAD,		c_encrypt_null_in, NULL },
	{ "encrypt-huge-in",		"C_Encrypt(s, in[64], 1<<40, out, &len)",
					CKR_DATA_LEN_RANGE,		c_encrypt_huge_in, NULL },
	{ "encrypt-length",		"C_Encrypt(s, in, 16, NULL, &len)",
					CKR_OK,				c_encrypt_length, NULL },
	{ "encrypt-short",		"C_Encrypt(s, in, 16, out, &len), len = 4",
					CKR_BUFFER_TOO_SMALL,		c_encrypt_short, NULL },
	{ "encrypt-not-initialized",	"C_Encrypt(s, in, 16, out, &len) without C_EncryptInit",
					CKR_OPERATION_NOT_INITIALIZED,	c_encrypt_not_initialized, NULL },
	{ "decrypt-short",		"C_Decrypt(s, ct, 16, out, &len), len = 4",
					CKR_BUFFER_TOO_SMALL,		c_decrypt_short, NULL },
	{ "encryptupdate-null-outlen",	"C_EncryptUpdate(s, in, 16, out, NULL)",
					CKR_ARGUMENTS_BAD,		c_encryptupdate_null_outlen, NULL },
	{ "encryptfinal-null-outlen",	"C_EncryptFinal(s, out, NULL)",
					CKR_ARGUMENTS_BAD,		c_encryptfinal_null_outlen, NULL },
	{ "signinit-null-mech",		"C_SignInit(s, NULL, key)",
					CKR_ARGUMENTS_BAD,		c_signinit_null_mech, NULL },
	{ "sign-null-outlen",		"C_Sign(s, in, 5, sig, NULL)",
					CKR_ARGUMENTS_BAD,		c_sign_null_outlen, NULL },
	{ "sign-length",		"C_Sign(s, in, 5, NULL, &len)",
					CKR_OK,				c_sign_length, NULL },
	{ "sign-short",			"C_Sign(s, in, 5, sig, &len), len = 4",
					CKR_BUFFER_TOO_SMALL,		c_sign_short, NULL },
	{ "signfinal-length",		"C_SignFinal(s, NULL, &len)",
					CKR_OK,				c_signfinal_length, NULL },
	{ "sign-huge-in",		"C_Sign(s, in[64], 1<<40, sig, &len)",
					CKR_DATA_LEN_RANGE,		c_sign_huge_in, NULL },
	{ "signupdate-null",		"C_SignUpdate(s, NULL, 8)",
					CKR_ARGUMENTS_BAD,		c_signupdate_null, NULL },
	{ "verify-null-sig",		"C_Verify(s, in, 5, NULL, 32)",
					CKR_ARGUMENTS_BAD,		c_verify_null_sig, NULL },
	{ "verify-huge-sig",		"C_Verify(s, in, 5, sig[64], 1<<40)",
					CKR_SIGNATURE_LEN_RANGE,	c_verify_huge_sig, NULL },
	{ "verifyfinal-null-sig",	"C_VerifyFinal(s, NULL, 32)",
					CKR_ARGUMENTS_BAD,		c_verifyfinal_null_sig, NULL },
	{ "verifyfinal-huge-sig",	"C_VerifyFinal(s, sig[64], 1<<40)",
					CKR_SIGNATURE_LEN_RANGE,	c_verifyfinal_huge_sig, NULL },
	{ "digestinit-null-mech",	"C_DigestInit(s, NULL)",
					CKR_ARGUMENTS_BAD,		c_digestinit_null_mech, NULL },
	{ "digest-null-outlen",		"C_Digest(s, in, 5, out, NULL)",
					CKR_ARGUMENTS_BAD,		c_digest_null_outlen, NULL },
	{ "digestupdate-huge",		"C_DigestUpdate(s, in[64], 1<<40)",
					CKR_DATA_LEN_RANGE,		c_digestupdate_huge, NULL },
	{ "digestfinal-short",		"C_DigestFinal(s, out, &len), len = 4",
					CKR_BUFFER_TOO_SMALL,		c_digestfinal_short, NULL },
	{ "digestkey-zero",		"C_DigestKey(s, CK_INVALID_HANDLE)",
					CKR_KEY_HANDLE_INVALID,		c_digestkey_zero, NULL },
	{ "random-null",		"C_GenerateRandom(s, NULL, 16)",
					CKR_ARGUMENTS_BAD,		c_random_null, NULL },
	{ "random-huge",		"C_GenerateRandom(s, buf[16], 1<<40)",
					CKR_DATA_LEN_RANGE,		c_random_huge, NULL },
	{ "seedrandom-null",		"C_SeedRandom(s, NULL, 16)",
					CKR_ARGUMENTS_BAD,		c_seedrandom_null, NULL },

	/* keys */
	{ "genkey-null-out",		"C_GenerateKey(s, {CKM_AES_KEY_GEN}, tmpl, 2, NULL)",
					CKR_ARGUMENTS_BAD,		c_genkey_null_out, NULL },
	{ "genkey-null-mech",		"C_GenerateKey(s, NULL, tmpl, 2, &h)",
					CKR_ARGUMENTS_BAD,		c_genkey_null_mech, NULL },
	{ "genkey-param-null",		"C_GenerateKey(s, {CKM_AES_KEY_GEN, NULL, 8}, tmpl, 2, &h)",
					CKR_MECHANISM_PARAM_INVALID,	c_genkey_param_null, NULL },
	{ "genkey-ulong-len",		"C_GenerateKey(s, {CKM_AES_KEY_GEN}, {.., CKA_VALUE_LEN of 4 bytes}, 2, &h)",
					CKR_ATTRIBUTE_VALUE_INVALID,	c_genkey_ulong_len, NULL },
	{ "genkeypair-null-out",	"C_GenerateKeyPair(s, {CKM_EC_KEY_PAIR_GEN}, pub, 2, priv, 1, NULL, NULL)",
					CKR_ARGUMENTS_BAD,		c_genkeypair_null_out, NULL },
	{ "wrap-null-outlen",		"C_WrapKey(s, {CKM_AES_KEY_WRAP_PAD}, key, key, out, NULL)",
					CKR_ARGUMENTS_BAD,		c_wrap_null_outlen, NULL },
	{ "unwrap-null-out",		"C_UnwrapKey(s, {CKM_AES_KEY_WRAP_PAD}, key, blob, 40, tmpl, 2, NULL)",
					CKR_ARGUMENTS_BAD,		c_unwrap_null_out, NULL },
	{ "unwrap-null-blob",		"C_UnwrapKey(s, {CKM_AES_KEY_WRAP_PAD}, key, NULL, 40, tmpl, 2, &h)",
					CKR_ARGUMENTS_BAD,		c_unwrap_null_blob, NULL },
	{ "unwrap-huge-len",		"C_UnwrapKey(s, {CKM_AES_KEY_WRAP_PAD}, key, blob[64], 1<<40, tmpl, 2, &h)",
					CKR_WRAPPED_KEY_LEN_RANGE,	c_unwrap_huge_len, NULL },
	{ "derive-null-out",		"C_DeriveKey(s, {CKM_AES_ECB_ENCRYPT_DATA}, key, tmpl, 4, NULL)",
					CKR_ARGUMENTS_BAD,		c_derive_null_out, NULL },
	{ "derive-null-mech",		"C_DeriveKey(s, NULL, key, tmpl, 2, &h)",
					CKR_ARGUMENTS_BAD,		c_derive_null_mech, NULL },
};

#define MF_N	(sizeof(mf_cases) / sizeof(mf_cases[0]))

/* ---- the parent's side ------------------------------------------------------------------ */

static struct kl_setup S;
static char mf_errlog[sizeof(S.dir) + 32];	/* a child's stderr */

/* In the child: load nothing before this; the parent never loads a module. */
/* LeakSanitizer's interface, present only in a sanitized build. */
void __lsan_disable(void) __attribute__((weak));

static void
mf_child(const struct mf_target *tgt, const struct mf_case *cs, int fd)
{
	struct mf_ctx c;
	CK_RV rv;
	int efd;

	/*
	 * Under ASan the bare SoftHSM2 child is not what is tested: where
	 * SoftHSM2 exit()s on its own, its heap is not ours to report.
	 */
	if (!tgt->sanitized && __lsan_disable != NULL)
		__lsan_disable();
	memset(&c, 0, sizeof(c));
	c.tgt = tgt;
	c.fd = fd;
	if ((efd = open(mf_errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0) {
		(void)dup2(efd, STDERR_FILENO);
		close(efd);
	}
	rv = cs->run(&c);
	mf_send(&c, MF_MSG_RESULT, rv, c.note);
	/* the module must still be usable: finalise it (a no-op when the case did) */
	if (c.fl != NULL)
		(void)c.fl->C_Finalize(NULL);
	if (tgt->sanitized)
		exit(0);	/* atexit: LeakSanitizer looks at the module's heap */
	_exit(0);
}

/*
 * Did the child's stderr carry a sanitizer report?  what (may be NULL) gets
 * the gist of its SUMMARY line.  print: copy the stderr to ours.
 */
static int
mf_errlog_sanitizer(int print, char *what, size_t whatlen)
{
	char line[1024];
	size_t n;
	FILE *f;
	int hit = 0, printed = 0;

	if (what != NULL && whatlen > 0)
		what[0] = '\0';
	if ((f = fopen(mf_errlog, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (print && printed++ == 0)
			fprintf(stderr, "---- the child's stderr ----\n");
		if (print)
			fputs(line, stderr);
		if (strstr(line, "Sanitizer") != NULL || strstr(line, "runtime error:") != NULL)
			hit = 1;
		if (what != NULL && strncmp(line, "SUMMARY: ", 9) == 0) {
			/*
			 * "SUMMARY: AddressSanitizer: SEGV (/lib/x.so+0x1) in f": the words
			 * before the first that starts with '(' or '.' or holds a '/'
			 */
			for (n = 9; line[n] != '\0' && line[n] != '\n'; ) {
				size_t w = strcspn(line + n, " \n");

				if (line[n] == '(' || line[n] == '.' ||
				    memchr(line + n, '/', w) != NULL)
					break;
				n += w;
				while (line[n] == ' ')
					n++;
			}
			while (n > 9 && (line[n - 1] == ' ' || line[n - 1] == '\n'))
				n--;
			snprintf(what, whatlen, "%.*s", (int)(n - 9), line + 9);
		}
	}
	if (printed)
		fprintf(stderr, "----\n");
	fclose(f);
	if (hit && what != NULL && whatlen > 0 && what[0] == '\0')
		snprintf(what, whatlen, "sanitizer report");
	return hit;
}

static long long
mf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
mf_take(struct mf_result *r, const struct mf_msg *m, int *got_result)
{
	switch (m->kind) {
	case MF_MSG_BEGIN:
		snprintf(r->where, sizeof(r->where), "%s", m->text);
		break;
	case MF_MSG_RESULT:
		r->kind = MF_RV;
		r->rv = m->rv;
		r->check = m->check;
		snprintf(r->note, sizeof(r->note), "%s", m->text);
		*got_result = 1;
		break;
	case MF_MSG_SETUP:
		r->kind = MF_SETUP;
		r->rv = m->rv;
		snprintf(r->note, sizeof(r->note), "%s", m->text);
		*got_result = 1;
		break;
	case MF_MSG_NA:
		r->kind = MF_NA;
		snprintf(r->note, sizeof(r->note), "%s", m->text);
		*got_result = 1;
		break;
	}
}

/* Run one case against one target in a child; timeout_ms bounds it. */
static void
mf_run(const struct mf_target *tgt, const struct mf_case *cs, int timeout_ms,
       struct mf_result *r)
{
	struct mf_msg m;
	struct pollfd pfd;
	long long deadline;
	size_t have = 0;
	int p[2], st = 0, got_result = 0, eof = 0, hung = 0, done = 0;
	ssize_t n;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->kind = MF_LOST;
	if (pipe(p) != 0) {
		snprintf(r->note, sizeof(r->note), "pipe: %s", strerror(errno));
		return;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		snprintf(r->note, sizeof(r->note), "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		mf_child(tgt, cs, p[1]);
		_exit(0);
	}
	close(p[1]);
	deadline = mf_now_ms() + timeout_ms;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (!done) {
		if (!eof && poll(&pfd, 1, 20) > 0) {
			n = read(p[0], (char *)&m + have, sizeof(m) - have);
			if (n > 0) {
				have += (size_t)n;
				if (have == sizeof(m)) {
					mf_take(r, &m, &got_result);
					have = 0;
				}
			} else if (n == 0 || errno != EINTR) {
				eof = 1;
			}
		} else if (eof) {
			usleep(10000);
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			/* drain what it wrote before it ended */
			while ((n = read(p[0], (char *)&m + have, sizeof(m) - have)) > 0) {
				have += (size_t)n;
				if (have == sizeof(m)) {
					mf_take(r, &m, &got_result);
					have = 0;
				}
			}
			done = 1;
		} else if (mf_now_ms() > deadline) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &st, 0);
			hung = 1;
			done = 1;
		}
	}
	close(p[0]);
	r->sanitizer = mf_errlog_sanitizer(0, r->san, sizeof(r->san));

	if (got_result) {
		/* the call returned: was the child fine afterwards (C_Finalize, exit)? */
		r->after = MF_RV;
		if (hung) {
			r->after = MF_HANG;
		} else if (WIFSIGNALED(st)) {
			r->after = MF_CRASH;
			r->after_sig = WTERMSIG(st);
		} else if (WEXITSTATUS(st) != 0 && r->kind != MF_SETUP) {
			r->after = MF_CRASH;
			r->after_status = WEXITSTATUS(st);
		}
		return;
	}
	if (hung) {
		r->kind = MF_HANG;
	} else if (WIFSIGNALED(st)) {
		r->kind = MF_CRASH;
		r->sig = WTERMSIG(st);
	} else if (r->where[0] != '\0' || r->sanitizer) {
		/* began the call and ended without a result: a sanitizer's exit */
		r->kind = MF_CRASH;
		r->status = WEXITSTATUS(st);
	} else {
		snprintf(r->note, sizeof(r->note), "exit %d before the call",
		    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
}

/* One table cell: "CKR_x (note)", "crash (signal 11)", "hang", ... */
static void
mf_format(const struct mf_case *cs, const struct mf_result *r, char *buf, size_t len)
{
	char sig[128] = "", tail[192] = "";
	const char *in = "";
	int o;

	/* name the entry point only when the case made more than one kind of call */
	if (r->where[0] != '\0' && strncmp(cs->call, r->where, strlen(r->where)) != 0)
		in = r->where;
	if (r->kind == MF_CRASH) {
		if (r->sig != 0)
			snprintf(sig, sizeof(sig), "signal %d%s", r->sig,
			    r->sig == SIGSEGV ? ", SIGSEGV" : r->sig == SIGABRT ? ", SIGABRT" :
			    r->sig == SIGBUS ? ", SIGBUS" : "");
		else if (r->sanitizer)
			snprintf(sig, sizeof(sig), "exit %d, %s", r->status, r->san);
		else
			snprintf(sig, sizeof(sig), "the process exit()ed with %d", r->status);
	}
	if (r->kind == MF_RV && r->after == MF_CRASH)
		snprintf(tail, sizeof(tail), "; then crash (%s %d%s%s) in C_Finalize or exit",
		    r->after_sig != 0 ? "signal" : "exit",
		    r->after_sig != 0 ? r->after_sig : r->after_status,
		    r->sanitizer ? ", " : "", r->sanitizer ? r->san : "");
	else if (r->kind == MF_RV && r->after == MF_HANG)
		snprintf(tail, sizeof(tail), "; then hang in C_Finalize");
	else if (r->kind == MF_RV && r->sanitizer)
		snprintf(tail, sizeof(tail), "; %s", r->san);

	switch (r->kind) {
	case MF_RV:
		o = snprintf(buf, len, "%s", kl_ckr(r->rv));
		if (r->note[0] != '\0' && o >= 0 && (size_t)o < len)
			o += snprintf(buf + o, len - (size_t)o, " (%s%s)", r->note,
			    r->check == MF_CHECK_FAILED ? ": wrong" : "");
		if (o >= 0 && (size_t)o < len)
			snprintf(buf + o, len - (size_t)o, "%s", tail);
		break;
	case MF_NA:
		snprintf(buf, len, "not exported (%s)", r->note);
		break;
	case MF_SETUP:
		snprintf(buf, len, "setup failed: %s", r->note);
		break;
	case MF_CRASH:
		snprintf(buf, len, "**crash** (%s)%s%s", sig, in[0] != '\0' ? " in " : "", in);
		break;
	case MF_HANG:
		snprintf(buf, len, "**hang** (killed after %d s)%s%s", MF_TIMEOUT_MS / 1000,
		    in[0] != '\0' ? " in " : "", in);
		break;
	case MF_LOST:
		snprintf(buf, len, "no result (%s)", r->note);
		break;
	}
}

/* What keylocker must do in every row: return, as listed, and end cleanly. */
static int
mf_keylocker_ok(const struct mf_case *cs, const struct mf_result *r)
{
	return r->kind == MF_RV && r->rv == cs->expect && r->check != MF_CHECK_FAILED &&
	    r->after == MF_RV && !r->sanitizer;
}

/* A row with a reported bug still may not crash, hang or upset a sanitizer. */
static int
mf_keylocker_known(const struct mf_case *cs, const struct mf_result *r)
{
	return cs->known != NULL && !mf_keylocker_ok(cs, r) && r->kind == MF_RV &&
	    r->after == MF_RV && !r->sanitizer;
}

static struct mf_target mf_keylocker, mf_bare;
static struct mf_result mf_kl_res[MF_N], mf_bare_res[MF_N];
static unsigned char mf_skip[MF_N];	/* malformed CASE...: the others are skipped */

static void
mf_targets(void)
{
	mf_keylocker.name = "keylocker";
	mf_keylocker.module = S.module;
	mf_keylocker.pin = KL_TEST_ADMIN_PIN;
	mf_keylocker.sanitized = 1;
	mf_bare.name = "SoftHSM2";
	mf_bare.module = S.backend;
	mf_bare.pin = S.backend_pin;
	snprintf(mf_errlog, sizeof(mf_errlog), "%s/malformed-child.err", S.dir);
}

static int
mf_differs(size_t i)
{
	const struct mf_result *a = &mf_kl_res[i], *b = &mf_bare_res[i];

	return a->kind != b->kind || (a->kind == MF_RV && a->rv != b->rv);
}

static void
mf_print_table(FILE *f, int markdown)
{
	char kl[256], bare[256];
	size_t i, n = 0, ok = 0, known = 0, differ = 0, kl_crash = 0, kl_hang = 0, crashes = 0,
	    hangs = 0;

	if (markdown) {
		fprintf(f, "| # | case | call | keylocker must return | keylocker | bare SoftHSM2 |\n");
		fprintf(f, "|---|---|---|---|---|---|\n");
	}
	for (i = 0; i < MF_N; i++) {
		const struct mf_case *cs = &mf_cases[i];
		int good = mf_keylocker_ok(cs, &mf_kl_res[i]);
		int bug = mf_keylocker_known(cs, &mf_kl_res[i]);

		if (mf_skip[i])
			continue;
		n++;
		mf_format(cs, &mf_kl_res[i], kl, sizeof(kl));
		mf_format(cs, &mf_bare_res[i], bare, sizeof(bare));
		ok += good != 0;
		known += bug != 0;
		differ += mf_differs(i);
		kl_crash += mf_kl_res[i].kind == MF_CRASH;
		kl_hang += mf_kl_res[i].kind == MF_HANG;
		crashes += mf_bare_res[i].kind == MF_CRASH;
		hangs += mf_bare_res[i].kind == MF_HANG;
		if (markdown)
			fprintf(f, "| %zu | `%s` | `%s` | `%s` | %s%s | %s |\n", i + 1, cs->id,
			    cs->call, kl_ckr(cs->expect), kl, good ? "" : bug ?
			    " **(known bug)**" : " **(unexpected)**", bare);
		else
			fprintf(f, "%3zu %-5s %-28s %s\n      keylocker: %s\n      SoftHSM2:  %s\n",
			    i + 1, good ? "ok" : bug ? "KNOWN" : "FAIL", cs->id, cs->call, kl, bare);
	}
	fprintf(f, "\n%zu cases.  keylocker: %zu as listed, %zu known bugs, %zu crashes, "
	    "%zu hangs.  Bare SoftHSM2: %zu crashes, %zu hangs.  Results differ in %zu rows.\n",
	    n, ok, known, kl_crash, kl_hang, crashes, hangs, differ);
	for (i = 0; i < MF_N; i++) {
		if (!mf_skip[i] && mf_keylocker_known(&mf_cases[i], &mf_kl_res[i]))
			fprintf(f, "%sKnown bug, %s: %s.\n", markdown ? "\n" : "", mf_cases[i].id,
			    mf_cases[i].known);
	}
}

static void
mf_run_all(const struct mf_target *tgt, struct mf_result *res, int is_keylocker)
{
	char cell[256];
	size_t i;

	for (i = 0; i < MF_N; i++) {
		if (mf_skip[i])
			continue;
		mf_run(tgt, &mf_cases[i], MF_TIMEOUT_MS, &res[i]);
		if (is_keylocker && mf_keylocker_known(&mf_cases[i], &res[i])) {
			fprintf(stderr, "keylocker, case %s: known bug, not asserted: %s\n",
			    mf_cases[i].id, mf_cases[i].known);
		} else if (is_keylocker && !mf_keylocker_ok(&mf_cases[i], &res[i])) {
			mf_format(&mf_cases[i], &res[i], cell, sizeof(cell));
			fprintf(stderr, "keylocker, case %s: %s: %s, must return %s\n",
			    mf_cases[i].id, mf_cases[i].call, cell, kl_ckr(mf_cases[i].expect));
			(void)mf_errlog_sanitizer(1, NULL, 0);
		}
	}
}

/* Not a malformed call: what the target says it is, for the table's header. */
static CK_RV
c_info(struct mf_ctx *c)
{
	CK_INFO info;
	char man[sizeof(info.manufacturerID) + 1];
	size_t n;
	CK_RV rv;

	mf_init(c);
	if ((rv = CALL(c, C_GetInfo, &info)) != CKR_OK)
		return rv;
	memcpy(man, info.manufacturerID, sizeof(info.manufacturerID));
	for (n = sizeof(info.manufacturerID); n > 0 && man[n - 1] == ' '; n--)
		;
	man[n] = '\0';
	mf_note(c, "%s, library %u.%u, PKCS#11 %u.%u", man,
	    info.libraryVersion.major, info.libraryVersion.minor,
	    info.cryptokiVersion.major, info.cryptokiVersion.minor);
	return rv;
}

static void
mf_describe(const struct mf_target *tgt, char *buf, size_t len)
{
	static const struct mf_case info = { "info", "C_GetInfo", CKR_OK, c_info, NULL };
	struct mf_result r;

	mf_run(tgt, &info, MF_TIMEOUT_MS, &r);
	if (r.kind == MF_RV && r.rv == CKR_OK)
		snprintf(buf, len, "%s (%s)", tgt->module, r.note);
	else
		snprintf(buf, len, "%s (C_GetInfo failed)", tgt->module);
}

static void
mf_header(FILE *f)
{
	struct utsname u;
	char when[64], kl[MF_NOTE_MAX + 600], bare[MF_NOTE_MAX + 600];
	time_t now = time(NULL);

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&now));
	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	mf_describe(&mf_keylocker, kl, sizeof(kl));
	mf_describe(&mf_bare, bare, sizeof(bare));
	fprintf(f, "Run on %s on %s %s %s %s (%ld CPUs).  keylocker: %s.  Bare SoftHSM2: %s.  "
	    "%s.\n\n", when, u.sysname, u.nodename, u.release, u.machine,
	    sysconf(_SC_NPROCESSORS_ONLN), kl, bare, MF_HUGE == ((CK_ULONG)1 << 40) ?
	    "1<<40 below is 2^40" : "1<<40 below is 0x7fffffff (32-bit CK_ULONG)");
}

#ifndef MALFORMED_MAIN

static int mf_kl_done, mf_bare_done;

/* The harness itself must see a crash and a hang for what they are. */
static CK_RV
c_self_crash(struct mf_ctx *c)
{
	mf_begin(c, "raise");
	raise(SIGSEGV);
	return CKR_OK;
}

static CK_RV
c_self_hang(struct mf_ctx *c)
{
	mf_begin(c, "pause");
	for (;;)
		pause();
	return CKR_OK;
}

#if defined(__SANITIZE_ADDRESS__)
#define MF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MF_ASAN 1
#endif
#endif

#ifdef MF_ASAN
/* Under ASan: a keylocker child's leak must reach the table too (LeakSanitizer at exit()). */
static __attribute__((noinline)) void
mf_leak_some(void)
{
	void *volatile p;
	int i;

	for (i = 0; i < 4; i++) {
		p = malloc(100);
		p = NULL;
	}
	(void)p;
}

static __attribute__((noinline)) void
mf_scrub_stack(void)
{
	volatile char junk[16384];
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = 0;
}

static CK_RV
c_self_leak(struct mf_ctx *c)
{
	mf_begin(c, "malloc");
	mf_leak_some();
	mf_scrub_stack();
	return CKR_OK;
}
#endif

static int
fixture_setup(void)
{
	int r;

	if ((r = kl_setup_init(&S, NULL)) != 0)
		return r;
	mf_targets();
	return 0;
}

static int
fixture_teardown(void)
{
	kl_setup_cleanup(&S);
	return 0;
}

static void
test_harness_sees_crash_and_hang(void)
{
	static const struct mf_case crash = { "self-crash", "raise(SIGSEGV)", CKR_OK, c_self_crash, NULL };
	static const struct mf_case hang = { "self-hang", "pause()", CKR_OK, c_self_hang, NULL };
	struct mf_result r;

	mf_run(&mf_bare, &crash, MF_TIMEOUT_MS, &r);
	CU_ASSERT_EQUAL(r.kind, MF_CRASH);
	CU_ASSERT_STRING_EQUAL(r.where, "raise");
	mf_run(&mf_bare, &hang, 1000, &r);
	CU_ASSERT_EQUAL(r.kind, MF_HANG);
	CU_ASSERT_STRING_EQUAL(r.where, "pause");
}

#ifdef MF_ASAN
static void
test_harness_sees_leak(void)
{
	static const struct mf_case leak = { "self-leak", "malloc(100) x4, lost", CKR_OK,
					     c_self_leak, NULL };
	struct mf_result r;

	/* as a keylocker child: exit(), so LeakSanitizer runs */
	mf_run(&mf_keylocker, &leak, MF_TIMEOUT_MS, &r);
	CU_ASSERT_EQUAL(r.kind, MF_RV);
	CU_ASSERT_EQUAL(r.after, MF_CRASH);
	CU_ASSERT_TRUE(r.sanitizer);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.san, "leaked"));
	CU_ASSERT_FALSE(mf_keylocker_ok(&leak, &r));
}
#endif

static void
mf_need_keylocker(void)
{
	if (!mf_kl_done) {
		mf_run_all(&mf_keylocker, mf_kl_res, 1);
		mf_kl_done = 1;
	}
}

static void
test_keylocker_never_crashes_or_hangs(void)
{
	size_t i;

	mf_need_keylocker();
	for (i = 0; i < MF_N; i++) {
		CU_ASSERT(mf_kl_res[i].kind != MF_CRASH);
		CU_ASSERT(mf_kl_res[i].kind != MF_HANG);
		CU_ASSERT(mf_kl_res[i].kind != MF_RV || mf_kl_res[i].after == MF_RV);
		CU_ASSERT_FALSE(mf_kl_res[i].sanitizer);
	}
}

static void
test_keylocker_returns_listed_value(void)
{
	size_t i;

	mf_need_keylocker();
	for (i = 0; i < MF_N; i++) {
		const struct mf_case *cs = &mf_cases[i];

		if (cs->known == NULL) {
			CU_ASSERT(mf_keylocker_ok(cs, &mf_kl_res[i]));
		} else if (mf_keylocker_ok(cs, &mf_kl_res[i])) {
			/* strict: a fixed bug must drop its note, so the row is asserted again */
			fprintf(stderr, "case %s returns what it must now: drop its known-bug "
			    "note\n", cs->id);
			CU_FAIL("a known bug is fixed: drop the row's known-bug note");
		} else {
			CU_ASSERT(mf_keylocker_known(cs, &mf_kl_res[i]));
		}
	}
}

/* Recorded, not asserted: the comparison for docs/malformed-calls.md. */
static void
test_softhsm2_recorded(void)
{
	mf_need_keylocker();
	if (!mf_bare_done) {
		mf_run_all(&mf_bare, mf_bare_res, 0);
		mf_bare_done = 1;
	}
	CU_ASSERT(MF_N >= 30);
	printf("\n");
	mf_header(stdout);
	mf_print_table(stdout, 0);
}

void
kl_test_register(void)
{
	kl_test_set_fixture(fixture_setup, fixture_teardown);
	kl_test_add("/malformed/harness/sees_crash_and_hang", test_harness_sees_crash_and_hang);
#ifdef MF_ASAN
	kl_test_add("/malformed/harness/sees_leak", test_harness_sees_leak);
#endif
	kl_test_add("/malformed/keylocker/never_crashes_or_hangs",
	    test_keylocker_never_crashes_or_hangs);
	kl_test_add("/malformed/keylocker/returns_listed_value",
	    test_keylocker_returns_listed_value);
	kl_test_add("/malformed/softhsm2/recorded", test_softhsm2_recorded);
}

#else /* MALFORMED_MAIN */

/* Select the cases named on the command line; 0, or -1 for a name no case has. */
static int
mf_select(int argc, char **argv)
{
	size_t i;
	int a, found;

	if (argc == 0)
		return 0;
	memset(mf_skip, 1, sizeof(mf_skip));
	for (a = 0; a < argc; a++) {
		found = 0;
		for (i = 0; i < MF_N; i++) {
			if (strcmp(argv[a], mf_cases[i].id) == 0) {
				mf_skip[i] = 0;
				found = 1;
			}
		}
		if (!found) {
			fprintf(stderr, "no case \"%s\" (the first column of the table)\n",
			    argv[a]);
			return -1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	size_t i, ok = 0, n = 0;
	int markdown = 0, r;

	if (argc > 1 && strcmp(argv[1], "--markdown") == 0) {
		markdown = 1;
		argc--;
		argv++;
	}
	if ((argc > 1 && argv[1][0] == '-') || mf_select(argc - 1, argv + 1) != 0) {
		fprintf(stderr, "usage: malformed [--markdown] [CASE...]\n");
		return 2;
	}
	/* outside ctest: the build this program belongs to, and the tests' strictness */
	setenv("KL_BUILD_DIR", MALFORMED_BUILD_DIR, 0);
	setenv("KEYLOCKER_STRICT", "1", 0);
	if ((r = kl_setup_init(&S, NULL)) != 0)
		return r == 77 ? 77 : 1;
	mf_targets();
	mf_run_all(&mf_keylocker, mf_kl_res, 1);
	mf_run_all(&mf_bare, mf_bare_res, 0);
	mf_header(stdout);
	mf_print_table(stdout, markdown);
	kl_setup_cleanup(&S);
	for (i = 0; i < MF_N; i++) {
		if (mf_skip[i])
			continue;
		n++;
		ok += mf_keylocker_ok(&mf_cases[i], &mf_kl_res[i]) ||
		    mf_keylocker_known(&mf_cases[i], &mf_kl_res[i]);
	}
	return ok == n ? 0 : 1;
}

#endif /* MALFORMED_MAIN */
