/*
 * The backend goes away and comes back (tests/mock/faulty.c in front of
 * SoftHSM2): the client's session and login survive, handles from before the
 * restart are refused rather than reused, the trail records the loss and the
 * recovery, and work goes on.
 */
#include "tests/unit/cutest.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "tests/integration/klsetup.h"

static struct kl_setup S;
static CK_FUNCTION_LIST_PTR fl;
static char control[400];
static CK_BBOOL no = CK_FALSE;

/* Point keylocker.yaml's backend at the fault injector, which forwards to SoftHSM2. */
static int
use_faulty_backend(void)
{
	char *text, *out, *p, line[1600];
	const char *build = getenv("KL_BUILD_DIR");
	FILE *f;
	long n;

	if ((f = fopen(S.conf, "r")) == NULL)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	out = calloc(1, (size_t)n + 4096);
	if (fread(text, 1, (size_t)n, f) != (size_t)n)
		return -1;
	fclose(f);
	p = strstr(text, "  module: ");
	memcpy(out, text, (size_t)(p - text));
	snprintf(line, sizeof(line), "  module: %s/tests/libkl_faulty.so\n", build);
	strcat(out, line);
	p = strchr(p, '\n') + 1;
	/* "  environment:" follows: add ours to it */
	p = strstr(p, "  environment:\n") + strlen("  environment:\n");
	strcat(out, "  environment:\n");
	snprintf(line, sizeof(line), "    KL_FAULTY_BACKEND: /usr/lib/softhsm/libsofthsm2.so\n"
	    "    KL_FAULTY_CONTROL: %s\n", control);
	strcat(out, line);
	strcat(out, p);
	if ((f = fopen(S.conf, "w")) == NULL)
		return -1;
	fputs(out, f);
	fclose(f);
	free(text);
	free(out);
	return 0;
}

static int
setup(void)
{
	CK_C_GetFunctionList getfl;
	void *dl;
	int r;

	if ((r = kl_setup_init(&S, NULL)) != 0)
		return r;
	snprintf(control, sizeof(control), "%s/faulty.control", S.dir);
	if (use_faulty_backend() != 0)
		return 1;
	if ((dl = dlopen(S.module, RTLD_NOW)) == NULL ||
	    (getfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    getfl(&fl) != CKR_OK)
		return 1;
	return 0;
}

static int
teardown(void)
{
	kl_setup_cleanup(&S);
	return 0;
}

static void
inject(const char *cmd)
{
	FILE *f = fopen(control, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(cmd, f);
	fclose(f);
}

static CK_OBJECT_HANDLE
master(CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, KL_TEST_MASTER, strlen(KL_TEST_MASTER) },
	};
	CK_OBJECT_HANDLE h = 0;
	CK_ULONG n = 0;

	CU_ASSERT_EQUAL(fl->C_FindObjectsInit(s, t, 2), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_FindObjects(s, &h, 1, &n), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_FindObjectsFinal(s), CKR_OK);
	CU_ASSERT_EQUAL(n, 1);
	return h;
}

static CK_RV
secret(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *h)
{
	static const unsigned char value[32] = "recovery test secret 32 bytes..";
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, 1 },
		{ CKA_VALUE, (void *)value, 32 },
	};

	return fl->C_CreateObject(s, t, 4, h);
}

static CK_RV
wrap(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE mk, CK_OBJECT_HANDLE k, unsigned char *blob,
     CK_ULONG *len)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };

	*len = 64;
	return fl->C_WrapKey(s, &m, mk, k, blob, len);
}

static int
audit_count(const char *needle)
{
	char path[400], line[8192];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/audit/audit.log", S.dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void
test_session_survives_restart(void)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE mk, k, old_mk;
	CK_SESSION_INFO si;
	unsigned char blob[64];
	CK_ULONG len;

	CU_ASSERT_EQUAL_FATAL(fl->C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(fl->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &s), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)KL_TEST_KEYRING_PIN,
	    strlen(KL_TEST_KEYRING_PIN)), CKR_OK);
	mk = master(s);
	CU_ASSERT_EQUAL_FATAL(secret(s, &k), CKR_OK);
	CU_ASSERT_EQUAL(wrap(s, mk, k, blob, &len), CKR_OK);

	inject("restart");
	/* the call that meets the restart fails; the session is back at once */
	CU_ASSERT_EQUAL(wrap(s, mk, k, blob, &len), CKR_DEVICE_REMOVED);
	CU_ASSERT_EQUAL(fl->C_GetSessionInfo(s, &si), CKR_OK);
	CU_ASSERT_EQUAL(si.state, CKS_RW_USER_FUNCTIONS);	/* still logged in */
	/* handles from before the restart are refused, never reused */
	old_mk = mk;
	CU_ASSERT_EQUAL(wrap(s, old_mk, k, blob, &len), CKR_WRAPPING_KEY_HANDLE_INVALID);
	/* found again, the master key works as before */
	mk = master(s);
	CU_ASSERT_NOT_EQUAL(mk, old_mk);
	CU_ASSERT_EQUAL_FATAL(secret(s, &k), CKR_OK);
	CU_ASSERT_EQUAL(wrap(s, mk, k, blob, &len), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_Finalize(NULL), CKR_OK);
	CU_ASSERT_EQUAL(audit_count("\"op\":\"backend_lost\""), 1);
	CU_ASSERT_EQUAL(audit_count("\"op\":\"backend_recovered\""), 1);
}

static void
test_backend_down_then_back(void)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE mk, k;
	unsigned char blob[64];
	CK_ULONG len;
	int tries;

	CU_ASSERT_EQUAL_FATAL(fl->C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(fl->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &s), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)KL_TEST_KEYRING_PIN,
	    strlen(KL_TEST_KEYRING_PIN)), CKR_OK);
	mk = master(s);
	CU_ASSERT_EQUAL_FATAL(secret(s, &k), CKR_OK);
	/* restart, then stay away for a few reconnection attempts */
	inject("restart\ndown 6\n");
	CU_ASSERT_EQUAL(wrap(s, mk, k, blob, &len), CKR_DEVICE_REMOVED);
	for (tries = 0; tries < 10; tries++) {
		CK_RV rv = secret(s, &k);

		if (rv == CKR_OK)
			break;
		CU_ASSERT(rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT);
	}
	CU_ASSERT(tries > 0 && tries < 10);	/* it failed while down, then came back */
	mk = master(s);
	CU_ASSERT_EQUAL(wrap(s, mk, k, blob, &len), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_Finalize(NULL), CKR_OK);
}

void
kl_test_register(void)
{
	kl_test_set_fixture(setup, teardown);
	kl_test_add("/recovery/session_survives_backend_restart", test_session_survives_restart);
	kl_test_add("/recovery/backend_down_then_back", test_backend_down_then_back);
}
