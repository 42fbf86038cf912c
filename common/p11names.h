/* Names of PKCS#11 constants, both ways: one table per prefix, built from pkcs11.h. */
#ifndef KL_P11NAMES_H
#define KL_P11NAMES_H

#include <p11-kit/pkcs11.h>

struct kl_p11name {
	CK_ULONG	 value;
	const char	*name;	/* NULL ends a table */
};

extern const struct kl_p11name kl_p11names_ckr[], kl_p11names_ckm[],
    kl_p11names_cka[], kl_p11names_cko[], kl_p11names_ckk[];

/*
 * The name of v in table t, or a hex rendering ("0x8000000a") in buf.
 * Returns a pointer to a static name or to buf (buf must hold 24 bytes).
 */
const char *kl_p11name(const struct kl_p11name *t, CK_ULONG v, char buf[24]);
/* By name, with or without its prefix ("CKM_AES_KEY_WRAP_PAD", "AES_KEY_WRAP_PAD"). */
int	    kl_p11value(const struct kl_p11name *t, const char *name, CK_ULONG *out);

/* Convenience for log lines; thread-safe (per-thread buffer). */
const char *kl_ckr(CK_RV rv);
const char *kl_ckm(CK_MECHANISM_TYPE m);
const char *kl_cka(CK_ATTRIBUTE_TYPE a);

#endif
