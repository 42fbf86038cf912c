/*
 * libkeylocker-pkcs11.so over a real SoftHSM2 token made by `keylocker init`:
 * the keyring round trip, roles, retirement, lockout, fork, logout, the
 * audit records, and the PKCS#11 3.0 interface calls.
 */
#include "tests/unit/cutest.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "tests/integration/klsetup.h"

static struct kl_setup S;
static void *dl;
static CK_FUNCTION_LIST_PTR fl;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

typedef struct {
	CK_UTF8CHAR	*name;
	CK_VOID_PTR	 list;
	CK_FLAGS	 flags;
} interface_t;

static int
setup(void)
{
	CK_C_GetFunctionList getfl;
	int r;

	if ((r = kl_setup_init(&S, NULL)) != 0)
		return r;
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

static CK_SESSION_HANDLE
open_login(const char *pin)
{
	CK_SESSION_HANDLE s = 0;

	CU_ASSERT_EQUAL_FATAL(fl->C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(fl->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &s), CKR_OK);
	if (pin != NULL)
		CU_ASSERT_EQUAL_FATAL(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin,
		    strlen(pin)), CKR_OK);
	return s;
}

static void
finish(void)
{
	CU_ASSERT_EQUAL(fl->C_Finalize(NULL), CKR_OK);
}

static CK_ULONG
find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label, CK_OBJECT_HANDLE *h)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, label != NULL ? strlen(label) : 0 },
	};
	CK_ULONG n = 0;

	CU_ASSERT_EQUAL_FATAL(fl->C_FindObjectsInit(s, t, label != NULL ? 2 : 1), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_FindObjects(s, h, 1, &n), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_FindObjectsFinal(s), CKR_OK);
	return n;
}

/* A keyring secret with a known value, the template keylocker allows. */
static CK_RV
make_secret(CK_SESSION_HANDLE s, const char *label, const void *value, size_t len,
	    CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, 1 },
		{ CKA_EXTRACTABLE, &yes, 1 },
		{ CKA_SENSITIVE, &no, 1 },
		{ CKA_ENCRYPT, &no, 1 },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_VALUE, (void *)value, len },
	};

	return fl->C_CreateObject(s, t, sizeof(t) / sizeof(t[0]), h);
}

static CK_RV
wrap(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE mk, CK_OBJECT_HANDLE k, unsigned char *blob,
     CK_ULONG *len)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ULONG need = 0;
	CK_RV rv;

	if ((rv = fl->C_WrapKey(s, &m, mk, k, NULL, &need)) != CKR_OK)
		return rv;
	CU_ASSERT(need <= *len);
	return fl->C_WrapKey(s, &m, mk, k, blob, len);
}

static CK_RV
unwrap(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE mk, const unsigned char *blob, CK_ULONG len,
       const char *label, CK_OBJECT_HANDLE *h)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};

	return fl->C_UnwrapKey(s, &m, mk, (CK_BYTE_PTR)blob, len, t, 3, h);
}

static int
audit_has(const char *needle)
{
	char path[400], line[8192];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "%s/audit/audit.log", S.dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

static void
test_interfaces(void)
{
	CK_RV (*getlist)(interface_t *, CK_ULONG_PTR);
	CK_RV (*get)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, interface_t **, CK_FLAGS);
	interface_t list[2], *one = NULL;
	CK_VERSION v240 = { 2, 40 }, v30 = { 3, 0 };
	CK_ULONG n = 0;

	getlist = (CK_RV (*)(interface_t *, CK_ULONG_PTR))dlsym(dl, "C_GetInterfaceList");
	get = (CK_RV (*)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, interface_t **, CK_FLAGS))
	    dlsym(dl, "C_GetInterface");
	CU_ASSERT_PTR_NOT_NULL_FATAL(getlist);
	CU_ASSERT_PTR_NOT_NULL_FATAL(get);
	CU_ASSERT_EQUAL(getlist(NULL, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 1);
	n = 0;
	CU_ASSERT_EQUAL(getlist(list, &n), CKR_BUFFER_TOO_SMALL);
	CU_ASSERT_EQUAL(n, 1);
	n = 2;
	CU_ASSERT_EQUAL_FATAL(getlist(list, &n), CKR_OK);
	CU_ASSERT_STRING_EQUAL((char *)list[0].name, "PKCS 11");
	CU_ASSERT_PTR_EQUAL(list[0].list, fl);
	CU_ASSERT_EQUAL(get(NULL, NULL, &one, 0), CKR_OK);
	CU_ASSERT_PTR_EQUAL(one != NULL ? one->list : NULL, fl);
	CU_ASSERT_EQUAL(get((CK_UTF8CHAR_PTR)"PKCS 11", &v240, &one, 0), CKR_OK);
	CU_ASSERT_EQUAL(get((CK_UTF8CHAR_PTR)"PKCS 11", &v30, &one, 0), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(get((CK_UTF8CHAR_PTR)"Vendor", NULL, &one, 0), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(get(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(((CK_FUNCTION_LIST_PTR)list[0].list)->version.minor, 40);
}

static void
test_keyring_roundtrip(void)
{
	static const unsigned char value[32] = "0123456789abcdef0123456789abcde";
	unsigned char blob[64], back[64];
	CK_OBJECT_HANDLE mk, k, u;
	CK_ATTRIBUTE get = { CKA_VALUE, back, sizeof(back) };
	CK_ULONG len = sizeof(blob);
	CK_SESSION_HANDLE s = open_login(KL_TEST_KEYRING_PIN);

	CU_ASSERT_EQUAL_FATAL(find(s, CKO_SECRET_KEY, KL_TEST_MASTER, &mk), 1);
	CU_ASSERT_EQUAL_FATAL(make_secret(s, "INNODBKey-test-1", value, 32, &k), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(wrap(s, mk, k, blob, &len), CKR_OK);
	CU_ASSERT_EQUAL(len, 40);
	CU_ASSERT(memcmp(blob, value, 8) != 0 && memcmp(blob + 8, value, 8) != 0);
	CU_ASSERT_EQUAL(fl->C_DestroyObject(s, k), CKR_OK);
	{ CK_RV urv = unwrap(s, mk, blob, len, "INNODBKey-test-1", &u); if (urv) fprintf(stderr, "unwrap rv 0x%lx\n", urv); CU_ASSERT_EQUAL_FATAL(urv, CKR_OK); }
	CU_ASSERT_EQUAL_FATAL(fl->C_GetAttributeValue(s, u, &get, 1), CKR_OK);
	CU_ASSERT_EQUAL(get.ulValueLen, 32);
	CU_ASSERT_EQUAL(memcmp(back, value, 32), 0);
	CU_ASSERT_EQUAL(fl->C_DestroyObject(s, u), CKR_OK);
	finish();
	CU_ASSERT(audit_has("\"op\":\"wrap\",\"token\":\"keylocker\",\"client\":\"mysql\","
	    "\"role\":\"keyring\",\"key\":\"keylocker-master\",\"object\":\"INNODBKey-test-1\","
	    "\"mech\":\"CKM_AES_KEY_WRAP_PAD\",\"result\":\"CKR_OK\""));
	CU_ASSERT(audit_has("\"op\":\"unwrap\",\"token\":\"keylocker\",\"client\":\"mysql\""));
}

/* C_GenerateKey makes a keyring secret the keyring client may read and wrap. */
static void
test_keyring_generate(void)
{
	CK_MECHANISM gen = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_ULONG vlen = 32, len = 64;
	CK_ATTRIBUTE t[] = {
		{ CKA_VALUE_LEN, &vlen, sizeof(vlen) },
		{ CKA_LABEL, "MySQLReplicationKey_x_1", 23 },
		{ CKA_TOKEN, &no, 1 },
	};
	unsigned char v1[32], v2[32], blob[64];
	CK_ATTRIBUTE g1 = { CKA_VALUE, v1, 32 }, g2 = { CKA_VALUE, v2, 32 };
	CK_OBJECT_HANDLE mk, k, u;
	CK_SESSION_HANDLE s = open_login(KL_TEST_KEYRING_PIN);

	CU_ASSERT_EQUAL_FATAL(find(s, CKO_SECRET_KEY, KL_TEST_MASTER, &mk), 1);
	CU_ASSERT_EQUAL_FATAL(fl->C_GenerateKey(s, &gen, t, 3, &k), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_GetAttributeValue(s, k, &g1, 1), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(wrap(s, mk, k, blob, &len), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(unwrap(s, mk, blob, len, "MySQLReplicationKey_x_1", &u), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_GetAttributeValue(s, u, &g2, 1), CKR_OK);
	CU_ASSERT_EQUAL(memcmp(v1, v2, 32), 0);
	finish();
}

static void
test_roles(void)
{
	static const unsigned char value[32] = "role test secret value 32 bytes";
	unsigned char blob[64];
	CK_ULONG len = sizeof(blob), n = 9;
	CK_OBJECT_HANDLE mk, k, u, any[4];
	CK_SESSION_INFO si;
	CK_SESSION_HANDLE s;

	/* a wrapped blob to try unwrapping as others */
	s = open_login(KL_TEST_KEYRING_PIN);
	CU_ASSERT_EQUAL_FATAL(find(s, CKO_SECRET_KEY, KL_TEST_MASTER, &mk), 1);
	CU_ASSERT_EQUAL_FATAL(make_secret(s, "roles", value, 32, &k), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(wrap(s, mk, k, blob, &len), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_GetSessionInfo(s, &si), CKR_OK);
	CU_ASSERT_EQUAL(si.state, CKS_RW_USER_FUNCTIONS);
	finish();

	/* the admin manages keys but does not use them */
	s = open_login(KL_TEST_ADMIN_PIN);
	CU_ASSERT_EQUAL_FATAL(find(s, CKO_SECRET_KEY, KL_TEST_MASTER, &mk), 1);
	CU_ASSERT_EQUAL(unwrap(s, mk, blob, len, "x", &u), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CU_ASSERT_EQUAL(make_secret(s, "admin-secret", value, 32, &k), CKR_OK);
	CU_ASSERT_EQUAL(wrap(s, mk, k, blob, &len), CKR_KEY_FUNCTION_NOT_PERMITTED);
	finish();

	/* the auditor only lists */
	s = open_login(KL_TEST_AUDITOR_PIN);
	CU_ASSERT_EQUAL_FATAL(find(s, CKO_SECRET_KEY, KL_TEST_MASTER, &mk), 1);
	CU_ASSERT_EQUAL(unwrap(s, mk, blob, len, "x", &u), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CU_ASSERT_EQUAL(make_secret(s, "auditor-secret", value, 32, &k), CKR_ACTION_PROHIBITED);
	finish();

	/* not logged in: private objects do not exist */
	s = open_login(NULL);
	CU_ASSERT_EQUAL(fl->C_GetSessionInfo(s, &si), CKR_OK);
	CU_ASSERT_EQUAL(si.state, CKS_RW_PUBLIC_SESSION);
	CU_ASSERT_EQUAL(fl->C_FindObjectsInit(s, NULL, 0), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_FindObjects(s, any, 4, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(fl->C_FindObjectsFinal(s), CKR_OK);
	CU_ASSERT_EQUAL(make_secret(s, "anon", value, 32, &k), CKR_USER_NOT_LOGGED_IN);
	finish();
	CU_ASSERT(audit_has("\"rule\":\"unwrap-keyring-only\""));
	CU_ASSERT(audit_has("\"rule\":\"wrap-keyring-only\""));
}

/* Logging out destroys the secrets the login unwrapped. */
static void
test_logout_destroys_secrets(void)
{
	static const unsigned char value[32] = "logout test secret value 32 byt";
	unsigned char got[32];
	CK_ATTRIBUTE get = { CKA_VALUE, got, 32 };
	CK_OBJECT_HANDLE k;
	CK_SESSION_HANDLE s = open_login(KL_TEST_KEYRING_PIN);

	CU_ASSERT_EQUAL_FATAL(make_secret(s, "logout", value, 32, &k), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_GetAttributeValue(s, k, &get, 1), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_Logout(s), CKR_OK);
	get.ulValueLen = 32;
	CU_ASSERT_NOT_EQUAL(fl->C_GetAttributeValue(s, k, &get, 1), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_Logout(s), CKR_USER_NOT_LOGGED_IN);
	finish();
}

static void
test_retire(void)
{
	static const unsigned char value[32] = "retire test secret value 32 byt";
	unsigned char blob[64], got[32];
	CK_ATTRIBUTE get = { CKA_VALUE, got, 32 };
	CK_ULONG len = sizeof(blob), len2 = sizeof(blob);
	CK_OBJECT_HANDLE mk, k, u;
	CK_SESSION_HANDLE s;
	char cmd[1200];

	s = open_login(KL_TEST_KEYRING_PIN);
	CU_ASSERT_EQUAL_FATAL(find(s, CKO_SECRET_KEY, KL_TEST_MASTER, &mk), 1);
	CU_ASSERT_EQUAL_FATAL(make_secret(s, "before-retire", value, 32, &k), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(wrap(s, mk, k, blob, &len), CKR_OK);
	finish();

	/* the CLI, another process, as the admin */
	snprintf(cmd, sizeof(cmd), "KEYLOCKER_PIN=%s %s retire %s >/dev/null",
	    KL_TEST_ADMIN_PIN, S.cli, KL_TEST_MASTER);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);

	s = open_login(KL_TEST_KEYRING_PIN);
	CU_ASSERT_EQUAL_FATAL(find(s, CKO_SECRET_KEY, KL_TEST_MASTER, &mk), 1);
	CU_ASSERT_EQUAL_FATAL(make_secret(s, "after-retire", value, 32, &k), CKR_OK);
	CU_ASSERT_EQUAL(wrap(s, mk, k, blob + 0, &len2), CKR_KEY_FUNCTION_NOT_PERMITTED);
	/* what it wrapped still unwraps */
	CU_ASSERT_EQUAL_FATAL(unwrap(s, mk, blob, len, "before-retire", &u), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_GetAttributeValue(s, u, &get, 1), CKR_OK);
	CU_ASSERT_EQUAL(memcmp(got, value, 32), 0);
	finish();
	CU_ASSERT(audit_has("\"op\":\"key_retired\""));
	CU_ASSERT(audit_has("\"rule\":\"master-key-retired\""));

	/* un-retire (the admin destroys the marker) so later tests can wrap */
	s = open_login(KL_TEST_ADMIN_PIN);
	CU_ASSERT_EQUAL_FATAL(find(s, CKO_DATA, "keylocker-retired:" KL_TEST_MASTER, &k), 1);
	CU_ASSERT_EQUAL(fl->C_DestroyObject(s, k), CKR_OK);
	finish();
	CU_ASSERT(audit_has("\"op\":\"key_unretired\""));
}

/* A child process: what it returns is the test's verdict. */
static int
child_login(const char *pin)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;

	if (fl->C_Initialize(NULL) != CKR_OK ||
	    fl->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
		return 100;
	rv = fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	fl->C_Finalize(NULL);
	return (int)(rv & 0xff);
}

static int
in_child(const char *pin)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(child_login(pin));
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Wrong PINs are counted across processes; past the limit even the right one is refused. */
static void
test_lockout_persists(void)
{
	CK_TOKEN_INFO ti;
	char cmd[600];
	int i;

	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(in_child("wrong-pin"), CKR_PIN_INCORRECT);
	CU_ASSERT_EQUAL(in_child(KL_TEST_AUDITOR_PIN), CKR_OK);	/* resets the count */
	for (i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(in_child("wrong-pin"), CKR_PIN_INCORRECT);
	CU_ASSERT_EQUAL(in_child(KL_TEST_AUDITOR_PIN), CKR_PIN_LOCKED & 0xff);
	CU_ASSERT_EQUAL(fl->C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_GetTokenInfo(0, &ti), CKR_OK);
	CU_ASSERT(ti.flags & CKF_USER_PIN_LOCKED);
	finish();
	CU_ASSERT(audit_has("\"op\":\"lockout\""));
	/* an operator clears it by removing the state file */
	snprintf(cmd, sizeof(cmd), "rm -f %s/state/lockout-keylocker", S.dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
	CU_ASSERT_EQUAL(in_child(KL_TEST_AUDITOR_PIN), CKR_OK);
}

/* After fork the child must call C_Initialize, then works on its own. */
static void
test_fork(void)
{
	static const unsigned char value[32] = "fork test secret value 32 bytes";
	unsigned char blob[64], got[32];
	CK_ULONG len = sizeof(blob);
	CK_OBJECT_HANDLE mk, k, u;
	CK_SESSION_HANDLE s = open_login(KL_TEST_KEYRING_PIN), cs;
	CK_ATTRIBUTE get = { CKA_VALUE, got, 32 };
	pid_t pid;
	int st;

	CU_ASSERT_EQUAL_FATAL(find(s, CKO_SECRET_KEY, KL_TEST_MASTER, &mk), 1);
	CU_ASSERT_EQUAL_FATAL(make_secret(s, "fork", value, 32, &k), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(wrap(s, mk, k, blob, &len), CKR_OK);
	if ((pid = fork()) == 0) {
		CK_OBJECT_HANDLE cmk, cu;
		CK_ULONG n = 0;
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
		    { CKA_LABEL, KL_TEST_MASTER, strlen(KL_TEST_MASTER) } };

		if (fl->C_GetSessionInfo(s, NULL) != CKR_CRYPTOKI_NOT_INITIALIZED)
			_exit(10);
		if (fl->C_Initialize(NULL) != CKR_OK ||
		    fl->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &cs) != CKR_OK ||
		    fl->C_Login(cs, CKU_USER, (CK_UTF8CHAR_PTR)KL_TEST_KEYRING_PIN,
		    strlen(KL_TEST_KEYRING_PIN)) != CKR_OK)
			_exit(11);
		if (fl->C_FindObjectsInit(cs, t, 2) != CKR_OK ||
		    fl->C_FindObjects(cs, &cmk, 1, &n) != CKR_OK || n != 1 ||
		    fl->C_FindObjectsFinal(cs) != CKR_OK)
			_exit(12);
		if (unwrap(cs, cmk, blob, len, "fork-child", &cu) != CKR_OK ||
		    fl->C_GetAttributeValue(cs, cu, &get, 1) != CKR_OK ||
		    memcmp(got, value, 32) != 0)
			_exit(13);
		_exit(fl->C_Finalize(NULL) == CKR_OK ? 0 : 14);
	}
	waitpid(pid, &st, 0);
	CU_ASSERT(WIFEXITED(st));
	CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
	/* the parent goes on */
	CU_ASSERT_EQUAL(unwrap(s, mk, blob, len, "fork-parent", &u), CKR_OK);
	CU_ASSERT_EQUAL(fl->C_GetAttributeValue(s, u, &get, 1), CKR_OK);
	finish();
}

/* No PIN ever reaches the audit trail. */
static void
test_no_pin_in_audit(void)
{
	CU_ASSERT(audit_has("\"op\":\"login\""));
	CU_ASSERT_FALSE(audit_has(KL_TEST_ADMIN_PIN));
	CU_ASSERT_FALSE(audit_has(KL_TEST_KEYRING_PIN));
	CU_ASSERT_FALSE(audit_has(KL_TEST_AUDITOR_PIN));
	CU_ASSERT_FALSE(audit_has("wrong-pin"));
	CU_ASSERT_FALSE(audit_has(S.backend_pin));
}

void
kl_test_register(void)
{
	kl_test_set_fixture(setup, teardown);
	kl_test_add("/gate/interfaces", test_interfaces);
	kl_test_add("/gate/keyring_roundtrip", test_keyring_roundtrip);
	kl_test_add("/gate/keyring_generate", test_keyring_generate);
	kl_test_add("/gate/roles", test_roles);
	kl_test_add("/gate/logout_destroys_secrets", test_logout_destroys_secrets);
	kl_test_add("/gate/retire", test_retire);
	kl_test_add("/gate/lockout_persists", test_lockout_persists);
	kl_test_add("/gate/fork", test_fork);
	kl_test_add("/gate/no_pin_in_audit", test_no_pin_in_audit);
}
