/*
 * The three symbols libkeylocker-pkcs11.so exports (pkcs11/exports.map):
 * C_GetFunctionList, and the PKCS#11 3.0 C_GetInterfaceList/C_GetInterface
 * pair offering one interface, "PKCS 11" version 2.40.
 */
#include <string.h>

#include <p11-kit/pkcs11.h>

#define KL_EXPORT __attribute__((visibility("default")))

/* p11-kit's 0.24 header predates PKCS#11 3.0: the interface type, as the spec defines it. */
#ifndef CKF_INTERFACE_FORK_SAFE
typedef struct CK_INTERFACE {
	CK_UTF8CHAR	*pInterfaceName;
	CK_VOID_PTR	 pFunctionList;
	CK_FLAGS	 flags;
} CK_INTERFACE;
#endif
typedef CK_INTERFACE *CK_INTERFACE_PTR;
typedef CK_INTERFACE_PTR *CK_INTERFACE_PTR_PTR;

extern const CK_FUNCTION_LIST gate_function_list;

static CK_INTERFACE interface = {
	(CK_UTF8CHAR *)"PKCS 11", (CK_VOID_PTR)&gate_function_list, 0
};

KL_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);
KL_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR list, CK_ULONG_PTR count);
KL_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version,
			       CK_INTERFACE_PTR_PTR out, CK_FLAGS flags);

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	*list = (CK_FUNCTION_LIST_PTR)&gate_function_list;
	return CKR_OK;
}

CK_RV
C_GetInterfaceList(CK_INTERFACE_PTR list, CK_ULONG_PTR count)
{
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	if (list == NULL) {
		*count = 1;
		return CKR_OK;
	}
	if (*count < 1) {
		*count = 1;
		return CKR_BUFFER_TOO_SMALL;
	}
	list[0] = interface;
	*count = 1;
	return CKR_OK;
}

CK_RV
C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, CK_INTERFACE_PTR_PTR out,
	       CK_FLAGS flags)
{
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	/* [PKCS#11 3.0, 5.2] NULL name and version select the default interface */
	if (name != NULL && strcmp((const char *)name, "PKCS 11") != 0)
		return CKR_ARGUMENTS_BAD;
	if (version != NULL && (version->major != 2 || version->minor != 40))
		return CKR_ARGUMENTS_BAD;
	if ((flags & ~interface.flags) != 0)
		return CKR_ARGUMENTS_BAD;
	*out = &interface;
	return CKR_OK;
}
