#include "common/p11client.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/p11names.h"
#include "common/secret.h"
#include "common/util.h"

struct kl_p11c {
	void			*dl;
	CK_FUNCTION_LIST_PTR	 fl;
	int			 finalize;
	CK_SLOT_ID		 slot;
	CK_SESSION_HANDLE	 session;
	int			 has_session;
};

CK_FUNCTION_LIST_PTR
kl_p11c_fl(const struct kl_p11c *c)
{
	return c->fl;
}

CK_SESSION_HANDLE
kl_p11c_session(const struct kl_p11c *c)
{
	return c->session;
}

CK_SLOT_ID
kl_p11c_slot(const struct kl_p11c *c)
{
	return c->slot;
}

static CK_RV
pick_slot(struct kl_p11c *c, const char *token, char *err, size_t errlen)
{
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	char label[33];
	CK_RV rv;

	if ((rv = c->fl->C_GetSlotList(CK_TRUE, ids, &n)) != CKR_OK) {
		snprintf(err, errlen, "C_GetSlotList: %s", kl_ckr(rv));
		return rv;
	}
	for (i = 0; i < n; i++) {
		if (c->fl->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		kl_p11_strtrim(ti.label, sizeof(ti.label), label, sizeof(label));
		if (token == NULL || strcmp(label, token) == 0) {
			c->slot = ids[i];
			return CKR_OK;
		}
	}
	snprintf(err, errlen, "no token labelled \"%s\" (%lu slots with a token)",
	    token != NULL ? token : "(any)", (unsigned long)n);
	return CKR_TOKEN_NOT_PRESENT;
}

int
kl_p11c_open(const char *module, const char *token, struct kl_p11c **out, char *err,
	     size_t errlen)
{
	CK_C_INITIALIZE_ARGS args;
	CK_C_GetFunctionList getfl;
	struct kl_p11c *c;
	char why[512];
	CK_RV rv;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((c->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(err, errlen, "cannot load %s: %s", module, dlerror());
		goto fail;
	}
	if ((getfl = (CK_C_GetFunctionList)dlsym(c->dl, "C_GetFunctionList")) == NULL ||
	    getfl(&c->fl) != CKR_OK || c->fl == NULL) {
		snprintf(err, errlen, "%s is not a PKCS#11 module", module);
		goto fail;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = c->fl->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		snprintf(err, errlen, "%s: C_Initialize: %s", module, kl_ckr(rv));
		goto fail;
	}
	c->finalize = rv == CKR_OK;
	if (pick_slot(c, token, why, sizeof(why)) != CKR_OK) {
		snprintf(err, errlen, "%s: %s", module, why);
		goto fail;
	}
	rv = c->fl->C_OpenSession(c->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
	    &c->session);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "%s: C_OpenSession: %s", module, kl_ckr(rv));
		goto fail;
	}
	c->has_session = 1;
	*out = c;
	return 0;
 fail:
	kl_p11c_close(c);
	return -1;
}

void
kl_p11c_close(struct kl_p11c *c)
{
	if (c == NULL)
		return;
	if (c->has_session)
		(void)c->fl->C_CloseSession(c->session);
	if (c->finalize)
		(void)c->fl->C_Finalize(NULL);
	if (c->dl != NULL)
		dlclose(c->dl);
	free(c);
}

CK_RV
kl_p11c_login(struct kl_p11c *c, CK_USER_TYPE who, const struct kl_secret *pin)
{
	CK_RV rv = c->fl->C_Login(c->session, who, pin->p, pin->len);

	return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

CK_RV
kl_p11c_find(struct kl_p11c *c, CK_OBJECT_CLASS cls, const char *label,
	     CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
	CK_ATTRIBUTE t[2];
	CK_ULONG nt = 0;
	CK_RV rv;

	*n = 0;
	if (cls != CK_UNAVAILABLE_INFORMATION) {
		t[nt].type = CKA_CLASS;
		t[nt].pValue = &cls;
		t[nt++].ulValueLen = sizeof(cls);
	}
	if (label != NULL) {
		t[nt].type = CKA_LABEL;
		t[nt].pValue = (void *)label;
		t[nt++].ulValueLen = strlen(label);
	}
	if ((rv = c->fl->C_FindObjectsInit(c->session, nt > 0 ? t : NULL, nt)) != CKR_OK)
		return rv;
	rv = c->fl->C_FindObjects(c->session, out, max, n);
	(void)c->fl->C_FindObjectsFinal(c->session);
	return rv;
}
