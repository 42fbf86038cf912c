/*
 * A small PKCS#11 client for tests/integration/admin_tools.sh: what
 * pkcs11-tool cannot do in one run through keylocker.  A keyring client's
 * secrets are session objects that live only as long as its login, so a
 * wrap must make its secret and wrap it in one process; and pkcs11-tool
 * 0.23's --unwrap asks for a token object, which keylocker refuses.
 *
 *   attacks_tool PIN attrs LABEL            the key's class, type, length and flags
 *   attacks_tool PIN wrap LABEL BLOB VALUE  make a secret, wrap it with LABEL (KWP),
 *                                           write the blob and the secret's value
 *   attacks_tool PIN unwrap LABEL BLOB VALUE  unwrap BLOB with LABEL, compare with VALUE
 *
 * The module is $KEYLOCKER_MODULE, the token "keylocker".  Exit 0, or 1 with
 * the failing call and its CKR on stderr.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/p11names.h"

#define TOKEN_LABEL	"keylocker"
#define SECRET_LEN	32

static CK_FUNCTION_LIST_PTR fl;
static CK_SESSION_HANDLE s;

static int
fail(const char *call, CK_RV rv)
{
	fprintf(stderr, "attacks_tool: %s: %s\n", call, kl_ckr(rv));
	return 1;
}

static int
open_token(const char *pin)
{
	const char *path = getenv("KEYLOCKER_MODULE");
	CK_C_GetFunctionList getfl;
	CK_SLOT_ID slots[16];
	CK_TOKEN_INFO ti;
	CK_ULONG n = 16, i;
	char want[32];
	void *dl;
	CK_RV rv;

	if (path == NULL || (dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "attacks_tool: set KEYLOCKER_MODULE to a loadable module (%s)\n",
		    path != NULL ? dlerror() : "unset");
		return 1;
	}
	if ((getfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    getfl(&fl) != CKR_OK)
		return fail("C_GetFunctionList", CKR_GENERAL_ERROR);
	if ((rv = fl->C_Initialize(NULL)) != CKR_OK)
		return fail("C_Initialize", rv);
	if ((rv = fl->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		return fail("C_GetSlotList", rv);
	memset(want, ' ', sizeof(want));
	memcpy(want, TOKEN_LABEL, sizeof(TOKEN_LABEL) - 1);
	for (i = 0; i < n; i++) {
		if (fl->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    memcmp(ti.label, want, sizeof(want)) == 0)
			break;
	}
	if (i == n)
		return fail("no token " TOKEN_LABEL, CKR_TOKEN_NOT_PRESENT);
	if ((rv = fl->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
	    &s)) != CKR_OK)
		return fail("C_OpenSession", rv);
	if ((rv = fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin))) != CKR_OK)
		return fail("C_Login", rv);
	return 0;
}

static int
find_key(const char *label, CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE q[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = fl->C_FindObjectsInit(s, q, 2)) != CKR_OK)
		return fail("C_FindObjectsInit", rv);
	rv = fl->C_FindObjects(s, h, 1, &n);
	(void)fl->C_FindObjectsFinal(s);
	if (rv != CKR_OK || n != 1)
		return fail(label, rv != CKR_OK ? rv : CKR_OBJECT_HANDLE_INVALID);
	return 0;
}

static int
attrs(const char *label)
{
	static const CK_ATTRIBUTE_TYPE flags[] = {
		CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE,
		CKA_NEVER_EXTRACTABLE, CKA_LOCAL, CKA_MODIFIABLE, CKA_COPYABLE, CKA_ENCRYPT,
		CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP, CKA_DERIVE,
	};
	CK_OBJECT_HANDLE h;
	CK_KEY_TYPE kt = 0;
	CK_ULONG len = 0;
	CK_ATTRIBUTE a[] = {
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
	};
	size_t i;
	CK_RV rv;

	if (find_key(label, &h) != 0)
		return 1;
	if ((rv = fl->C_GetAttributeValue(s, h, a, 2)) != CKR_OK)
		return fail("C_GetAttributeValue(CKA_KEY_TYPE, CKA_VALUE_LEN)", rv);
	printf("CKA_KEY_TYPE=%s\nCKA_VALUE_LEN=%lu\n", kt == CKK_AES ? "CKK_AES" : "other",
	    (unsigned long)len);
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		CK_BBOOL b = CK_FALSE;
		CK_ATTRIBUTE one = { flags[i], &b, sizeof(b) };

		rv = fl->C_GetAttributeValue(s, h, &one, 1);
		printf("%s=%s\n", kl_cka(flags[i]), rv != CKR_OK ? kl_ckr(rv) :
		    b ? "TRUE" : "FALSE");
	}
	return 0;
}

static int
write_file(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(p, 1, len, f) != len) {
		if (f != NULL)
			fclose(f);
		return fail(path, CKR_FUNCTION_FAILED);
	}
	return fclose(f) == 0 ? 0 : fail(path, CKR_FUNCTION_FAILED);
}

static long
read_file(const char *path, void *p, size_t len)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(p, 1, len, f);
	fclose(f);
	return (long)n;
}

static int
wrap(const char *label, const char *blobpath, const char *valuepath)
{
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL no = CK_FALSE;
	unsigned char value[SECRET_LEN], blob[SECRET_LEN + 16];
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_VALUE, value, sizeof(value) },
	};
	CK_OBJECT_HANDLE mk, k;
	CK_ULONG blen = sizeof(blob);
	CK_RV rv;
	int r = 1;

	if (find_key(label, &mk) != 0 || RAND_bytes(value, sizeof(value)) != 1)
		return 1;
	if ((rv = fl->C_CreateObject(s, t, 4, &k)) != CKR_OK)
		r = fail("C_CreateObject(secret)", rv);
	else if ((rv = fl->C_WrapKey(s, &kwp, mk, k, blob, &blen)) != CKR_OK)
		r = fail("C_WrapKey", rv);
	else
		r = write_file(blobpath, blob, blen) != 0 ||
		    write_file(valuepath, value, sizeof(value)) != 0;
	OPENSSL_cleanse(value, sizeof(value));
	return r;
}

static int
unwrap(const char *label, const char *blobpath, const char *valuepath)
{
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
	unsigned char want[SECRET_LEN], got[SECRET_LEN], blob[SECRET_LEN + 16];
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_SENSITIVE, &no, sizeof(no) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
	};
	CK_ATTRIBUTE v = { CKA_VALUE, got, sizeof(got) };
	CK_OBJECT_HANDLE mk, k;
	long blen;
	CK_RV rv;
	int r = 1;

	if (find_key(label, &mk) != 0)
		return 1;
	if ((blen = read_file(blobpath, blob, sizeof(blob))) <= 0 ||
	    read_file(valuepath, want, sizeof(want)) != SECRET_LEN)
		return fail("reading the blob and value files", CKR_FUNCTION_FAILED);
	if ((rv = fl->C_UnwrapKey(s, &kwp, mk, blob, (CK_ULONG)blen, t, 5, &k)) != CKR_OK)
		r = fail("C_UnwrapKey", rv);
	else if ((rv = fl->C_GetAttributeValue(s, k, &v, 1)) != CKR_OK)
		r = fail("C_GetAttributeValue(CKA_VALUE)", rv);
	else if (v.ulValueLen != SECRET_LEN || CRYPTO_memcmp(got, want, SECRET_LEN) != 0)
		r = fail("the unwrapped secret differs from the one wrapped", CKR_OK);
	else
		r = 0;
	OPENSSL_cleanse(want, sizeof(want));
	OPENSSL_cleanse(got, sizeof(got));
	return r;
}

int
main(int argc, char **argv)
{
	int r;

	if (argc == 4 && strcmp(argv[2], "attrs") == 0) {
		r = open_token(argv[1]) != 0 || attrs(argv[3]) != 0;
	} else if (argc == 6 && strcmp(argv[2], "wrap") == 0) {
		r = open_token(argv[1]) != 0 || wrap(argv[3], argv[4], argv[5]) != 0;
	} else if (argc == 6 && strcmp(argv[2], "unwrap") == 0) {
		r = open_token(argv[1]) != 0 || unwrap(argv[3], argv[4], argv[5]) != 0;
	} else {
		fprintf(stderr, "usage: attacks_tool PIN attrs LABEL\n"
		    "       attacks_tool PIN wrap|unwrap LABEL BLOB VALUE\n");
		return 2;
	}
	if (fl != NULL)
		(void)fl->C_Finalize(NULL);
	return r;
}
