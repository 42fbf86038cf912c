/*
 * A small PKCS#11 consumer for keylocker's own tools: load a module, pick
 * the token by label, open one R/W session, log in.  Used by the CLI and
 * the tests; the module is initialised with CKF_OS_LOCKING_OK and finalised
 * on close unless someone else in the process had initialised it.
 */
#ifndef KL_P11CLIENT_H
#define KL_P11CLIENT_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

struct kl_secret;
struct kl_p11c;

/* token may be NULL: the first slot with a token.  err gets a sentence. */
int	kl_p11c_open(const char *module, const char *token, struct kl_p11c **out,
		     char *err, size_t errlen) __attribute__((warn_unused_result));
void	kl_p11c_close(struct kl_p11c *c);		/* NULL-safe */

CK_FUNCTION_LIST_PTR kl_p11c_fl(const struct kl_p11c *c);
CK_SESSION_HANDLE kl_p11c_session(const struct kl_p11c *c);
CK_SLOT_ID kl_p11c_slot(const struct kl_p11c *c);

/* Log in with pin; returns the CKR (CKR_USER_ALREADY_LOGGED_IN counts as OK). */
CK_RV	kl_p11c_login(struct kl_p11c *c, CK_USER_TYPE who, const struct kl_secret *pin);
/* Objects of class cls (CK_UNAVAILABLE_INFORMATION: any) with this label (NULL: any). */
CK_RV	kl_p11c_find(struct kl_p11c *c, CK_OBJECT_CLASS cls, const char *label,
		     CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n);

#endif
